//! The log events, their names and fields, in one place.
//!
//! Every event carries `operation` (its name). The events about one job also
//! carry `job_name`; the shutdown events (`shutdown_start`, `shutdown_abort`,
//! `shutdown_complete`) are about the whole manager and carry no job name.
//! The names and fields are part of the public interface and are listed in
//! the README.

use std::time::{Duration, SystemTime};

use tracing::Span;

use crate::model::execution::Outcome;
use crate::Schedule;

/// The target of every event and span this crate emits.
pub const TARGET: &str = "jobs_runtime";

/// The span around one execution; the job's own events inherit its fields.
pub(crate) fn execution_span(job_name: &str, execution_number: u64, execution_id: i64) -> Span {
    tracing::info_span!(
        target: TARGET,
        "job_execution",
        job_name,
        execution_number,
        execution_id
    )
}

pub(crate) fn job_start(job_name: &str, schedule: Option<&Schedule>) {
    match schedule {
        Some(Schedule::Every(interval)) => tracing::info!(
            target: TARGET,
            operation = "job_start",
            job_name,
            interval_ms = interval.as_millis() as u64,
            interval_seconds = interval.as_secs_f64(),
            "job started"
        ),
        Some(Schedule::Cron(cron)) => tracing::info!(
            target: TARGET,
            operation = "job_start",
            job_name,
            cron = cron.expression(),
            tz = cron.time_zone(),
            "job started"
        ),
        None => tracing::info!(
            target: TARGET,
            operation = "job_start",
            job_name,
            "job started (no schedule of its own)"
        ),
    }
}

pub(crate) fn job_disabled(job_name: &str, variable: &str) {
    tracing::info!(
        target: TARGET,
        operation = "job_disabled",
        job_name,
        variable,
        "job disabled by the environment; not started"
    );
}

pub(crate) fn env_unknown_variable(variable: &str, problem: &str) {
    tracing::warn!(
        target: TARGET,
        operation = "env_unknown_variable",
        variable,
        problem,
        "environment variable configures no job; it is ignored"
    );
}

pub(crate) fn job_paused(job_name: &str, paused: bool) {
    if paused {
        tracing::info!(target: TARGET, operation = "job_paused", job_name, "job paused: its fires are skipped");
    } else {
        tracing::info!(target: TARGET, operation = "job_resumed", job_name, "job resumed");
    }
}

pub(crate) fn schedule_changed(job_name: &str, schedule: &Schedule) {
    tracing::info!(
        target: TARGET,
        operation = "job_schedule_changed",
        job_name,
        schedule = %schedule,
        "job schedule changed; it takes effect from the next fire"
    );
}

pub(crate) fn job_stop(job_name: &str) {
    tracing::info!(target: TARGET, operation = "job_stop", job_name, "job stopped");
}

pub(crate) fn execute_start(job_name: &str, execution_number: u64, queue_time: Duration) {
    tracing::info!(
        target: TARGET,
        operation = "job_execute_start",
        job_name,
        execution_number,
        queue_time_ms = queue_time.as_millis() as u64,
        "job execution started"
    );
}

pub(crate) fn execute_retry(
    job_name: &str,
    execution_number: u64,
    attempt: u32,
    delay: Duration,
    outcome: &Outcome,
) {
    tracing::warn!(
        target: TARGET,
        operation = "job_execute_retry",
        job_name,
        execution_number,
        attempt,
        delay_ms = delay.as_millis() as u64,
        outcome = outcome.kind(),
        error = outcome.error().as_deref(),
        "job attempt failed; retrying after the delay"
    );
}

pub(crate) fn execute_missed(job_name: &str, missed: u64, missed_count: u64, policy: &'static str) {
    tracing::warn!(
        target: TARGET,
        operation = "job_execute_missed",
        job_name,
        missed,
        missed_count,
        policy,
        "job fires missed"
    );
}

pub(crate) fn store_prune_failed(job_name: &str, error: &str) {
    tracing::warn!(
        target: TARGET,
        operation = "store_prune_failed",
        job_name,
        error,
        "pruning the job's ended executions failed; tried again at the next round"
    );
}

pub(crate) fn execute_success(job_name: &str, execution_number: u64, elapsed: Duration) {
    tracing::info!(
        target: TARGET,
        operation = "job_execute_success",
        job_name,
        execution_number,
        execution_time_ms = elapsed.as_millis() as u64,
        "job execution succeeded"
    );
}

pub(crate) fn execute_error(
    job_name: &str,
    execution_number: u64,
    error_count: u64,
    outcome: &Outcome,
    error: &str,
) {
    tracing::error!(
        target: TARGET,
        operation = "job_execute_error",
        job_name,
        execution_number,
        error_count,
        outcome = outcome.kind(),
        error,
        "job execution failed"
    );
}

/// Why a fire did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// The previous run was still going.
    Overlap,
    /// The job was paused.
    Paused,
    /// Its condition was false.
    Condition,
    /// The run's token fired (the job stopped, or a newer run replaced it)
    /// before its execution started: while it waited for its condition or
    /// for slots.
    Cancelled,
    /// The store that decides which instance runs it could not be asked.
    Unclaimed,
}

impl SkipReason {
    fn as_str(self) -> &'static str {
        match self {
            SkipReason::Overlap => "overlap",
            SkipReason::Paused => "paused",
            SkipReason::Condition => "condition",
            SkipReason::Cancelled => "cancelled",
            SkipReason::Unclaimed => "unclaimed",
        }
    }
}

pub(crate) fn execute_skipped(job_name: &str, reason: SkipReason, skipped_count: u64) {
    tracing::warn!(
        target: TARGET,
        operation = "job_execute_skipped",
        job_name,
        reason = reason.as_str(),
        skipped_count,
        "job fire skipped"
    );
}

/// Where the scheduler's own code panicked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PanicStage {
    /// While the timers handed out a fire of the job.
    Scheduling,
    /// While one of the job's runs was polled, outside its attempts.
    Run,
}

/// The scheduler's own code panicked for `job_name` (a job's panics are
/// caught at its attempts, and logged as errors); the panic was contained,
/// and `recovered` says whether the job fires again.
pub(crate) fn internal_panic(job_name: &str, stage: PanicStage, error: &str, recovered: bool) {
    let stage = match stage {
        PanicStage::Scheduling => "scheduling",
        PanicStage::Run => "run",
    };
    tracing::error!(
        target: TARGET,
        operation = "job_internal_panic",
        job_name,
        stage,
        error,
        recovered,
        "the scheduler panicked while handling a job; the other jobs go on"
    );
}

pub(crate) fn execute_slow(
    job_name: &str,
    execution_number: u64,
    elapsed: Duration,
    interval: Duration,
) {
    let percent = elapsed.as_secs_f64() / interval.as_secs_f64() * 100.0;
    tracing::warn!(
        target: TARGET,
        operation = "job_execute_slow",
        job_name,
        execution_number,
        execution_time_ms = elapsed.as_millis() as u64,
        interval_ms = interval.as_millis() as u64,
        "job execution took {percent:.0}% of its interval (over 80%); raise the interval or make the job faster"
    );
}

pub(crate) fn execute_aborted(
    job_name: &str,
    execution_number: u64,
    error_count: u64,
    error: &str,
) {
    tracing::warn!(
        target: TARGET,
        operation = "job_execute_aborted",
        job_name,
        execution_number,
        error_count,
        error,
        "job execution aborted"
    );
}

/// Another instance sharing the store claimed the fire due at `fire_at`
/// first, and runs it.
pub(crate) fn execute_elsewhere(job_name: &str, fire_at: SystemTime, elsewhere_count: u64) {
    tracing::debug!(
        target: TARGET,
        operation = "job_execute_elsewhere",
        job_name,
        fire_at = %crate::model::cron::to_utc(fire_at)
            .map_or_else(|| format!("{fire_at:?}"), |at| at.to_rfc3339()),
        elsewhere_count,
        "job fire claimed by another instance"
    );
}

/// The store could not be asked which instance runs a fire of `job_name`:
/// no instance may run it.
pub(crate) fn claim_failed(job_name: &str, error: &crate::store::StoreError) {
    tracing::error!(
        target: TARGET,
        operation = "job_claim_failed",
        job_name,
        error = %error,
        "job fire could not be claimed in the store; it does not run here"
    );
}

/// This instance took over execution `execution_id` of `job_name`, which
/// the instance `from` left running when it died; `attempt` is the attempt
/// that continues it, or `None` when its retries are spent.
pub(crate) fn execution_rescued(
    job_name: &str,
    execution_id: i64,
    from: &str,
    attempt: Option<u32>,
) {
    tracing::warn!(
        target: TARGET,
        operation = "execution_rescued",
        job_name,
        execution_id,
        from,
        attempt,
        "an execution of an instance that died was taken over"
    );
}

/// Execution `execution_id` of `job_name`, running here, was cancelled: a
/// newer execution of its job claimed on another instance replaces it
/// (overlap `replace`).
pub(crate) fn execution_replaced(job_name: &str, execution_id: i64) {
    tracing::info!(
        target: TARGET,
        operation = "execution_replaced",
        job_name,
        execution_id,
        "a newer execution claimed on another instance replaces this one; its token fired"
    );
}

/// Late changes to `executions` executions that another instance took
/// over (their instance was taken for dead) were discarded.
#[cfg(feature = "postgres")]
pub(crate) fn execution_fenced(executions: usize) {
    tracing::warn!(
        target: TARGET,
        operation = "execution_fenced",
        executions,
        "late changes to executions another instance took over were discarded"
    );
}

/// The schedule another instance set for `job_name` cannot be read by
/// this one (a newer version wrote it, say): this instance keeps its own.
pub(crate) fn schedule_not_followed(job_name: &str, error: &crate::Error) {
    tracing::warn!(
        target: TARGET,
        operation = "job_schedule_not_followed",
        job_name,
        error = %error,
        "a schedule set on another instance cannot be taken; this one keeps its own"
    );
}

/// Asking the shared store for `reading` (the executions of dead
/// instances, or the schedule rows) failed; it is asked again at the next
/// round.
pub(crate) fn store_fleet_failed(reading: &'static str, error: &crate::store::StoreError) {
    tracing::warn!(
        target: TARGET,
        operation = "store_fleet_failed",
        reading,
        error = %error,
        "the job store could not be read to keep in step with the other instances"
    );
}

/// This process's wall clock is `offset_ms` milliseconds ahead of the
/// database's at `url` (negative: behind), more than a second: fires stay
/// on the database's time, but its records' times are off by as much.
#[cfg(feature = "postgres")]
pub(crate) fn clock_offset_large(url: &str, offset_ms: i64) {
    tracing::warn!(
        target: TARGET,
        operation = "instance_clock_offset",
        url,
        offset_ms,
        "this process's clock is far from the database's; scheduled fires wait for the database's time"
    );
}

/// This instance could not write its heartbeat for `age` (its self-fence
/// deadline is `deadline`): it aborted its `runs` runs in flight, before
/// the other instances may take its executions over.
pub(crate) fn instance_fenced(
    age: std::time::Duration,
    deadline: std::time::Duration,
    runs: usize,
) {
    tracing::error!(
        target: TARGET,
        operation = "instance_fenced",
        heartbeat_age_ms = age.as_millis() as u64,
        self_fence_ms = deadline.as_millis() as u64,
        runs,
        "this instance lost the job store for its self-fence deadline and aborted its runs; the other instances may take them over"
    );
}

/// This instance writes its heartbeat again after it fenced itself.
pub(crate) fn instance_unfenced() {
    tracing::info!(
        target: TARGET,
        operation = "instance_unfenced",
        "this instance reaches the job store again and claims fires again"
    );
}

pub(crate) fn store_failed(error: &crate::store::StoreError) {
    tracing::error!(
        target: TARGET,
        operation = "store_failed",
        error = %error,
        "the job store failed to write what was recorded"
    );
}

pub(crate) fn start_failed(error: &crate::Error) {
    tracing::error!(
        target: TARGET,
        operation = "start_failed",
        error = %error,
        "jobs could not start; nothing runs"
    );
}

pub(crate) fn shutdown_start(signal: &str, grace_period: Duration) {
    tracing::info!(
        target: TARGET,
        operation = "shutdown_start",
        signal,
        grace_period_ms = grace_period.as_millis() as u64,
        "shutdown requested: stopping jobs; send the signal again to abort in-flight executions"
    );
}

pub(crate) fn shutdown_abort(signal: &str) {
    tracing::warn!(
        target: TARGET,
        operation = "shutdown_abort",
        signal,
        "second shutdown signal: aborting in-flight executions and ending the process"
    );
}

pub(crate) fn shutdown_complete() {
    tracing::info!(target: TARGET, operation = "shutdown_complete", "all jobs stopped");
}
