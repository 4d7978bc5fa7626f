//! How one execution is run: slots, condition, attempts with timeout, panic
//! capture and retries, then stats, log events and the jobs that follow it.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::backoff::RetryPolicy;
use crate::clock::Clock;
use crate::condition::Condition;
use crate::control::Control;
use crate::events::{self, SkipReason};
use crate::job::Runnable;
use crate::schedule::format_duration_short;
use crate::slots::{Priority, SlotPool};
use crate::spec::Missed;
use crate::stats::{Ending, StatsCell};
use crate::JobContext;

/// Everything the executor needs to run one job, resolved at start.
pub(crate) struct ActiveJob {
    pub(crate) name: Arc<str>,
    pub(crate) runnable: Arc<dyn Runnable>,
    pub(crate) stats: Arc<StatsCell>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) slots: Option<SlotClaim>,
    pub(crate) condition: Option<Condition>,
    pub(crate) missed: Missed,
    pub(crate) misfire_threshold: Duration,
    /// The jobs that run after each success of this one.
    pub(crate) dependents: Vec<Arc<Control>>,
    pub(crate) clock: Clock,
}

/// The slots one run of a job takes.
pub(crate) struct SlotClaim {
    pub(crate) pool: Arc<SlotPool>,
    pub(crate) need: u32,
    pub(crate) priority: Priority,
}

/// One fire handed to the executor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fire {
    /// The instant the fire was due.
    pub(crate) due: Instant,
    /// Whether it comes from the job's schedule (and so can be missed while
    /// waiting for slots).
    pub(crate) scheduled: bool,
    /// The completion time of the upstream run that caused it, if any.
    pub(crate) upstream_completed_at: Option<SystemTime>,
    /// The job's interval when it fired, which the run is compared with for
    /// the slow-run warning; `None` for cron and unscheduled jobs.
    pub(crate) interval: Option<Duration>,
}

/// Runs one fire of `job` to its end. `token` is the run's own token: it
/// fires on stop or when the run is replaced; each attempt's token is its
/// child.
///
/// If the returned future is dropped before it ends (the job was aborted),
/// the execution is recorded and logged as aborted.
pub(crate) async fn run(job: Arc<ActiveJob>, fire: Fire, token: Arc<CancellationToken>) {
    if let Some(condition) = &job.condition {
        if !condition.holds().await {
            let skipped = job.stats.skip();
            events::execute_skipped(&job.name, SkipReason::Condition, skipped);
            return;
        }
    }
    let mut queue_time = Duration::ZERO;
    let _permit = match &job.slots {
        Some(claim) => {
            let asked = Instant::now();
            let permit = claim
                .pool
                .acquire(claim.need, claim.priority, fire.due)
                .await;
            queue_time = asked.elapsed();
            job.stats.queued(queue_time);
            if fire.scheduled
                && job.missed == Missed::Skip
                && fire.due.elapsed() > job.misfire_threshold
            {
                let missed = job.stats.missed(1);
                events::execute_missed(&job.name, 1, missed, "skip");
                return;
            }
            Some(permit)
        }
        None => None,
    };
    execute(&job, fire, queue_time, &token).await;
}

/// Runs the attempts of one execution and records how it ended.
async fn execute(
    job: &ActiveJob,
    fire: Fire,
    queue_time: Duration,
    token: &Arc<CancellationToken>,
) {
    let started_at = job.clock.now();
    let started = Instant::now();
    let number = job.stats.begin(started_at);
    let span = events::execution_span(&job.name, number);
    let abort_guard = AbortGuard {
        job,
        number,
        started,
    };
    async {
        events::execute_start(&job.name, number, queue_time);
        let mut attempt = 1;
        // Whether a stop ended the wait for a retry: the execution fails,
        // but no further attempt failed.
        let mut abandoned = false;
        let outcome = loop {
            let ctx = JobContext::new(
                Arc::clone(&job.name),
                number,
                attempt,
                fire.due,
                started_at,
                fire.upstream_completed_at,
                // A timeout cancels the attempt alone, so it needs a token of
                // its own; otherwise the run's token serves.
                if job.timeout.is_some() {
                    Arc::new(token.child_token())
                } else {
                    Arc::clone(token)
                },
            );
            let Err(message) = run_attempt(job, ctx).await else {
                break Ok(());
            };
            if attempt > job.retry.retries || token.is_cancelled() {
                break Err(message);
            }
            let delay = job.retry.delay(attempt);
            job.stats.retry();
            events::execute_retry(&job.name, number, attempt, delay, &message);
            tokio::select! {
                () = tokio::time::sleep(delay) => attempt += 1,
                () = token.cancelled() => {
                    abandoned = true;
                    break Err(format!("{message} (retry abandoned: the run was cancelled: the job stopped, or a newer run replaced it)"));
                }
            }
        };
        let elapsed = started.elapsed();
        std::mem::forget(abort_guard);
        let finished_at = job.clock.now();
        match outcome {
            Ok(()) => {
                job.stats.finish(elapsed, finished_at, Ending::Success);
                events::execute_success(&job.name, number, elapsed);
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
                let errors = job.stats.finish(elapsed, finished_at, ending);
                events::execute_error(&job.name, number, errors, &message);
            }
        }
        if let Some(interval) = fire.interval {
            if elapsed * 5 > interval * 4 {
                events::execute_slow(&job.name, number, elapsed, interval);
            }
        }
    }
    .instrument(span)
    .await
}

/// Runs one attempt with panic capture and the timeout; an `Err` is the
/// failure's message.
async fn run_attempt(job: &ActiveJob, ctx: JobContext) -> Result<(), String> {
    let token = Arc::clone(ctx.token_handle());
    // Building the future runs the parameter extractors, which may panic too.
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| job.runnable.execute(ctx))) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(panic) => return Err(panic_message(panic)),
    };
    let Some(limit) = job.timeout else {
        return future
            .await
            .unwrap_or_else(|panic| Err(panic_message(panic)));
    };
    tokio::pin!(future);
    tokio::select! {
        biased;
        outcome = &mut future => outcome.unwrap_or_else(|panic| Err(panic_message(panic))),
        () = tokio::time::sleep(limit) => {
            token.cancel();
            Err(format!("timed out after {}", format_duration_short(limit)))
        }
    }
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a value that is not a string");
    format!("panicked: {text}")
}

/// Records an execution as aborted if its future is dropped before it ends.
struct AbortGuard<'a> {
    job: &'a ActiveJob,
    number: u64,
    started: Instant,
}

impl Drop for AbortGuard<'_> {
    fn drop(&mut self) {
        let message = "aborted: did not finish within the shutdown grace period";
        let errors = self.job.stats.finish(
            self.started.elapsed(),
            self.job.clock.now(),
            Ending::Failure(message),
        );
        events::execute_aborted(&self.job.name, self.number, errors);
    }
}
