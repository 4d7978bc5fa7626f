//! How one execution is run: slots, condition, attempts with timeout, panic
//! capture and retries, then stats, log events and the jobs that follow it.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::engine::active::{ActiveJob, Fire};
use crate::engine::slots::{SlotPermit, SlotPool};
use crate::job::context::RunToken;
use crate::model::schedule::format_duration_short;
use crate::model::spec::Missed;
use crate::observe::events::{self, SkipReason};
use crate::observe::stats::Ending;
use crate::JobContext;

/// Runs one fire of `job` to its end: run `id` of its scheduler. `token`
/// is the run's token: it fires on stop, or when a newer run replaces this
/// one; an attempt with a timeout gets a child of it.
///
/// From the moment the token fires no execution starts: a run still
/// waiting for its condition or for slots gives up, and is recorded and
/// logged as a skipped fire (`reason = "cancelled"`).
///
/// If the returned future is dropped before it ends (the job was aborted),
/// the execution is recorded and logged as aborted.
pub(crate) async fn run(job: &ActiveJob, fire: &Fire, run: RunOf<'_>) {
    let token = run.token;
    let spec = job.spec();
    if let Some(condition) = spec.condition() {
        let mut holds = pin!(condition.holds());
        // Most conditions answer at once; only a real wait is marked, and
        // ends when the run's token fires.
        let holds = match holds.as_mut().now_or_never() {
            Some(holds) => Some(holds),
            None => Box::pin(wait(holds, run, Instant::now())).await,
        };
        match holds {
            Some(true) => {}
            Some(false) => return skip(job, SkipReason::Condition),
            None => return skip(job, SkipReason::Cancelled),
        }
    }
    let mut queue_time = Duration::ZERO;
    let permit = match &job.settings.pool {
        Some(pool) => {
            let Some((permit, waited)) = take_slots(job, pool, fire.due, run).await else {
                return skip(job, SkipReason::Cancelled);
            };
            queue_time = waited;
            job.stats().queued(queue_time);
            // Only a wait for slots can make a fire late here: the
            // scheduler handled the lateness it found at the fire.
            if !waited.is_zero()
                && fire.scheduled
                && fire.due.elapsed() > job.settings.misfire_threshold
            {
                let missed = job.stats().missed(1);
                match spec.missed_policy() {
                    Missed::Skip => {
                        events::execute_missed(job.name(), 1, missed, "skip");
                        return;
                    }
                    // This run is the one run `run_once` makes.
                    Missed::RunOnce => events::execute_missed(job.name(), 1, missed, "run_once"),
                }
            }
            Some(permit)
        }
        None => None,
    };
    // A stop that came while the run was handed out, before its first poll.
    if token.is_cancelled() {
        return skip(job, SkipReason::Cancelled);
    }
    execute(job, fire, queue_time, permit, run).await;
}

/// Records and logs a fire that starts no execution.
fn skip(job: &ActiveJob, reason: SkipReason) {
    let skipped = job.stats().skip();
    events::execute_skipped(job.name(), reason, skipped);
}

/// Takes the job's slots from `pool` for a run due at `due`: at once when
/// they are free and no run waits, else in line (see
/// [`SlotPool::acquire`]). Returns the slots and the time waited for them;
/// `None` if the run's token fired first.
async fn take_slots(
    job: &ActiveJob,
    pool: &Arc<SlotPool>,
    due: Instant,
    run: RunOf<'_>,
) -> Option<(SlotPermit, Duration)> {
    let spec = job.spec();
    if let Some(permit) = pool.try_acquire(spec.slot_count()) {
        return Some((permit, Duration::ZERO));
    }
    let asked = Instant::now();
    // Boxed: the wait is the uncommon path, and the run's task stays small
    // without it.
    let acquire = pool.acquire(spec.slot_count(), spec.priority_level(), due);
    let permit = Box::pin(wait(acquire, run, asked)).await?;
    Some((permit, asked.elapsed()))
}

/// Waits for `future` as run `id`, shown in the job's stats as waiting
/// since `since`; `None` if the run's token fires first.
async fn wait<F: Future>(future: F, run: RunOf<'_>, since: Instant) -> Option<F::Output> {
    run.waits.mark_waiting(run.id, Some(since));
    let outcome = tokio::select! {
        biased;
        () = run.token.get().cancelled() => None,
        outcome = future => Some(outcome),
    };
    run.waits.mark_waiting(run.id, None);
    outcome
}

/// Runs the attempts of one execution and records how it ended, inside the
/// execution's span.
async fn execute(
    job: &ActiveJob,
    fire: &Fire,
    queue_time: Duration,
    permit: Option<SlotPermit>,
    run: RunOf<'_>,
) {
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
    let mut attempts = pin!(attempts(abort_guard, fire, started_at, run, permit).instrument(span));
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
        // In nanoseconds, as `u128`: no product of two durations overflows.
        if elapsed.as_nanos() * 5 > interval.as_nanos() * 4 {
            events::execute_slow(job.name(), number, elapsed, interval);
        }
    }
}

/// The run an execution belongs to: its token, its id in its job's
/// scheduler, and where it reports its waits.
#[derive(Clone, Copy)]
pub(crate) struct RunOf<'a> {
    pub(crate) token: &'a RunToken,
    pub(crate) id: u32,
    pub(crate) waits: &'a dyn Waits,
}

/// Where a run reports the waits it makes for its condition or for slots,
/// which the job's stats show while they last: its started job.
pub(crate) trait Waits: Send + Sync {
    /// Run `id` waits since `since`; `None`: it waits no more.
    fn mark_waiting(&self, id: u32, since: Option<Instant>);
}

/// Runs the attempts of one execution, with retries: the outcome (an
/// `Err` is the failure's message), whether a stop ended the wait for a
/// retry (the execution fails, but no further attempt failed), and the
/// execution's time. The guard records the execution as aborted if this
/// future is dropped first.
///
/// The run's slots are given back while it waits to retry, and taken again
/// (in line with other runs) before the next attempt.
async fn attempts(
    guard: AbortGuard<'_>,
    fire: &Fire,
    started_at: SystemTime,
    run: RunOf<'_>,
    mut permit: Option<SlotPermit>,
) -> (Result<(), String>, bool, Duration) {
    let (job, number, token) = (guard.job, guard.number, run.token);
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
        if !Box::pin(wait_to_retry(job, delay, run, &mut permit)).await {
            let message = format!("{message} (retry abandoned: the run was cancelled: the job stopped, or a newer run replaced it)");
            break (Err(message), true);
        }
        attempt += 1;
    };
    let elapsed = guard.started.elapsed();
    std::mem::forget(guard);
    (outcome, abandoned, elapsed)
}

/// Waits `delay` before a retry without holding slots, then takes them
/// again, as a run due now; `false` if the run was cancelled first.
async fn wait_to_retry(
    job: &ActiveJob,
    delay: Duration,
    run: RunOf<'_>,
    permit: &mut Option<SlotPermit>,
) -> bool {
    let held = permit.take();
    let slots = held.is_some();
    drop(held);
    let token = run.token.get();
    let waited = tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = token.cancelled() => false,
    };
    if !waited {
        return false;
    }
    if let (true, Some(pool)) = (slots, &job.settings.pool) {
        match take_slots(job, pool, Instant::now(), run).await {
            Some((again, _)) => *permit = Some(again),
            None => return false,
        }
    }
    true
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

pub(crate) fn panic_message(panic: Box<dyn Any + Send>) -> String {
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
