//! How one execution is run: slots, condition, attempts with timeout, panic
//! capture and retries, then stats, log events and the jobs that follow it.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::engine::active::{ActiveJob, Fire};
use crate::job::context::RunToken;
use crate::model::schedule::format_duration_short;
use crate::model::spec::Missed;
use crate::observe::events::{self, SkipReason};
use crate::observe::stats::Ending;
use crate::JobContext;

/// Runs one fire of `job` to its end. `token` is the run's token: it fires
/// on stop, or when a newer run replaces this one; an attempt with a timeout
/// gets a child of it.
///
/// If the returned future is dropped before it ends (the job was aborted),
/// the execution is recorded and logged as aborted.
pub(crate) async fn run(job: &ActiveJob, fire: &Fire, token: &RunToken) {
    let spec = job.spec();
    if let Some(condition) = spec.condition() {
        if !condition.holds().await {
            let skipped = job.stats().skip();
            events::execute_skipped(job.name(), SkipReason::Condition, skipped);
            return;
        }
    }
    let mut queue_time = Duration::ZERO;
    let _permit = match &job.settings.pool {
        Some(pool) => {
            let asked = Instant::now();
            // Boxed: the wait is the uncommon path, and the run's task stays
            // small without it.
            let permit =
                Box::pin(pool.acquire(spec.slot_count(), spec.priority_level(), fire.due)).await;
            queue_time = asked.elapsed();
            job.stats().queued(queue_time);
            if fire.scheduled
                && spec.missed_policy() == Missed::Skip
                && fire.due.elapsed() > job.settings.misfire_threshold
            {
                let missed = job.stats().missed(1);
                events::execute_missed(job.name(), 1, missed, "skip");
                return;
            }
            Some(permit)
        }
        None => None,
    };
    execute(job, fire, queue_time, token).await;
}

/// Runs the attempts of one execution and records how it ended, inside the
/// execution's span.
async fn execute(job: &ActiveJob, fire: &Fire, queue_time: Duration, token: &RunToken) {
    let started_at = job.clock().now();
    let started = Instant::now();
    let number = job.stats().begin(started_at);
    let span = events::execution_span(job.name(), number);
    span.in_scope(|| events::execute_start(job.name(), number, queue_time));
    // Inside the instrumented future, so an abort is logged in the span.
    let abort_guard = AbortGuard {
        job,
        number,
        started,
    };
    let mut attempts = pin!(attempts(abort_guard, fire, started_at, token).instrument(span));
    let (outcome, abandoned, elapsed) = attempts.as_mut().await;
    let finished_at = job.clock().now();
    let _entered = attempts.span().enter();
    match outcome {
        Ok(()) => {
            job.stats().finish(elapsed, finished_at, Ending::Success);
            events::execute_success(job.name(), number, elapsed);
            for dependent in &job.dependents {
                dependent.upstream_completed(finished_at);
            }
        }
        Err(message) => {
            let ending = if abandoned {
                Ending::Abandoned(&message)
            } else {
                Ending::Failure(&message)
            };
            let errors = job.stats().finish(elapsed, finished_at, ending);
            events::execute_error(job.name(), number, errors, &message);
        }
    }
    if let Some(interval) = fire.interval {
        if elapsed * 5 > interval * 4 {
            events::execute_slow(job.name(), number, elapsed, interval);
        }
    }
}

/// Runs the attempts of one execution, with retries: the outcome (an
/// `Err` is the failure's message), whether a stop ended the wait for a
/// retry (the execution fails, but no further attempt failed), and the
/// execution's time. The guard records the execution as aborted if this
/// future is dropped first.
async fn attempts(
    guard: AbortGuard<'_>,
    fire: &Fire,
    started_at: SystemTime,
    token: &RunToken,
) -> (Result<(), String>, bool, Duration) {
    let (job, number) = (guard.job, guard.number);
    let mut attempt = 1;
    let (outcome, abandoned) = loop {
        let Err(message) = run_attempt(job, fire, number, attempt, started_at, token).await else {
            break (Ok(()), false);
        };
        let retry = job.spec().retry_policy();
        if attempt > retry.retries || token.is_cancelled() {
            break (Err(message), false);
        }
        let delay = retry.delay(attempt);
        job.stats().retry();
        events::execute_retry(job.name(), number, attempt, delay, &message);
        // Boxed, as is every uncommon wait: the run's task stays small.
        if !Box::pin(wait_to_retry(delay, token.get())).await {
            let message = format!("{message} (retry abandoned: the run was cancelled: the job stopped, or a newer run replaced it)");
            break (Err(message), true);
        }
        attempt += 1;
    };
    let elapsed = guard.started.elapsed();
    std::mem::forget(guard);
    (outcome, abandoned, elapsed)
}

/// Waits `delay` before a retry; `false` if the run was cancelled first.
async fn wait_to_retry(delay: Duration, token: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = token.cancelled() => false,
    }
}

/// Runs one attempt with panic capture and the timeout; an `Err` is the
/// failure's message.
async fn run_attempt(
    job: &ActiveJob,
    fire: &Fire,
    number: u64,
    attempt: u32,
    started_at: SystemTime,
    token: &RunToken,
) -> Result<(), String> {
    // A timeout cancels the attempt alone, so it needs a token of its own;
    // otherwise the run's token serves.
    let timeout = job
        .spec()
        .timeout_duration()
        .map(|limit| (limit, Arc::new(token.get().child_token())));
    let token = match &timeout {
        Some((_, own)) => token.with_own(Arc::clone(own)),
        None => token.clone(),
    };
    let ctx = JobContext::new(
        number,
        attempt,
        fire.due,
        started_at,
        fire.upstream_completed_at,
        token,
    );
    // Building the future runs the parameter extractors, which may panic too.
    let future =
        match std::panic::catch_unwind(AssertUnwindSafe(|| Arc::clone(&job.runnable).execute(ctx)))
        {
            Ok(future) => AssertUnwindSafe(future).catch_unwind(),
            Err(panic) => return Err(panic_message(panic)),
        };
    let outcome = match timeout {
        Some((limit, own)) => {
            let Ok(outcome) = Box::pin(tokio::time::timeout(limit, future)).await else {
                own.cancel();
                return Err(format!("timed out after {}", format_duration_short(limit)));
            };
            outcome
        }
        None => future.await,
    };
    outcome.unwrap_or_else(|panic| Err(panic_message(panic)))
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a value that is not a string");
    match crate::job::panic_hook::take_location() {
        Some(location) => format!("panicked at {location}: {text}"),
        None => format!("panicked: {text}"),
    }
}

/// Records an execution as aborted if its future is dropped before it ends.
struct AbortGuard<'a> {
    job: &'a ActiveJob,
    number: u64,
    started: Instant,
}

impl Drop for AbortGuard<'_> {
    fn drop(&mut self) {
        let message = self.job.slot.abort_cause().message();
        let errors = self.job.stats().finish(
            self.started.elapsed(),
            self.job.clock().now(),
            Ending::Failure(&message),
        );
        events::execute_aborted(self.job.name(), self.number, errors, &message);
    }
}
