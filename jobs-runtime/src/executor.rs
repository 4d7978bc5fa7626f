//! How one execution is run: cancellation token, timeout, panic capture,
//! stats and log events.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::events;
use crate::job::Runnable;
use crate::schedule::format_duration_short;
use crate::stats::{Ending, StatsCell};
use crate::JobContext;

/// Everything the executor needs to run one job, resolved at start.
pub(crate) struct ActiveJob {
    pub(crate) name: Arc<str>,
    pub(crate) runnable: Arc<dyn Runnable>,
    pub(crate) stats: Arc<StatsCell>,
    pub(crate) interval: Duration,
    pub(crate) timeout: Option<Duration>,
}

/// Runs one execution of `job`, due at `scheduled_at`, to its end: success,
/// error, panic or timeout, each recorded and logged. `stop` is the job's
/// token; the execution's own token is its child.
///
/// If the returned future is dropped before it ends (the job was aborted),
/// the execution is recorded and logged as aborted.
pub(crate) async fn execute(job: &ActiveJob, scheduled_at: Instant, stop: &CancellationToken) {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let number = job.stats.begin(started_at);
    let span = events::execution_span(&job.name, number);
    let abort_guard = AbortGuard {
        job,
        number,
        started,
    };
    async {
        events::execute_start(&job.name, number);
        let token = stop.child_token();
        let ctx = JobContext::new(
            Arc::clone(&job.name),
            number,
            scheduled_at,
            started_at,
            token.clone(),
        );
        let outcome = run_guarded(job, ctx, &token).await;
        let elapsed = started.elapsed();
        std::mem::forget(abort_guard);
        match outcome {
            Ok(()) => {
                job.stats
                    .finish(elapsed, SystemTime::now(), Ending::Success);
                events::execute_success(&job.name, number, elapsed);
            }
            Err(message) => {
                let errors =
                    job.stats
                        .finish(elapsed, SystemTime::now(), Ending::Failure(&message));
                events::execute_error(&job.name, number, errors, &message);
            }
        }
        if elapsed * 5 > job.interval * 4 {
            events::execute_slow(&job.name, number, elapsed, job.interval);
        }
    }
    .instrument(span)
    .await
}

/// Runs the job's future with panic capture and the timeout; an `Err` is the
/// failure's message.
async fn run_guarded(
    job: &ActiveJob,
    ctx: JobContext,
    token: &CancellationToken,
) -> Result<(), String> {
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
            SystemTime::now(),
            Ending::Failure(message),
        );
        events::execute_aborted(&self.job.name, self.number, errors);
    }
}
