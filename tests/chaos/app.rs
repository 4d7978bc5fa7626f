//! The service `tests/chaos.rs` runs as three real processes on one
//! PostgreSQL database (`JOBS_DATABASE_URL`), each named by
//! `JOBS_INSTANCE`, with short fleet timings from the environment
//! (`JOBS_HEARTBEAT`, `JOBS_DEAD_AFTER`), while the test kills and restarts
//! them, cuts the database off and skews one's clock.
//!
//! Every run of every job reports itself on standard output, one line when
//! its body starts and one when it ends (or is dropped), so that the test
//! sees what ran, where and when by its own clock, whatever clock the
//! process has:
//!
//! ```text
//! start <job> <execution id> <fire_at, ms since the epoch> <attempt>
//! end <execution id> <attempt>     the body returned
//! drop <execution id> <attempt>    the body was dropped before (aborted)
//! ```
//!
//! A process killed with SIGKILL says nothing more about its runs.
//!
//! The log goes to standard error.

use std::borrow::Cow;
use std::future::Future;
use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use jobs_runtime::{job, BoxError, Job, JobContext, JobSpec, Missed};

/// How many `tick-NN` jobs the service has.
const TICKS: usize = 40;

/// The grace period of a stop: longer than the longest run.
const GRACE: Duration = Duration::from_secs(10);

/// Writes one line to standard output, at once.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A run in progress, which reports its start when made, and when dropped
/// whether its body returned ([`Running::end`]) or was dropped before.
struct Running {
    id: i64,
    attempt: u32,
    ended: bool,
}

impl Running {
    /// Reports the start of the run `ctx` describes.
    fn start(ctx: &JobContext) -> Running {
        let fire_at = ctx
            .fire_at()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let (id, attempt) = (ctx.execution_id().get(), ctx.attempt());
        say(&format!(
            "start {} {id} {fire_at} {attempt}",
            ctx.job_name()
        ));
        Running {
            id,
            attempt,
            ended: false,
        }
    }

    /// Marks the body returned.
    fn end(mut self) {
        self.ended = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let word = if self.ended { "end" } else { "drop" };
        say(&format!("{word} {} {}", self.id, self.attempt));
    }
}

/// One of the `tick-NN` jobs: every second on its grid, fires missed while
/// no instance could claim them skipped; the body does nothing but report.
struct Tick {
    name: String,
}

impl Job for Tick {
    fn spec(&self) -> JobSpec {
        JobSpec::every(Cow::Owned(self.name.clone()), Duration::from_secs(1))
            .run_on_start(false)
            .missed(Missed::Skip)
    }

    fn execute(&self, ctx: JobContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        let running = Running::start(&ctx);
        async move {
            running.end();
            Ok(())
        }
    }
}

/// Runs 1.5 s every second: one run at a time across the fleet, the fires
/// that come while it runs skipped.
async fn slow(ctx: JobContext) {
    let running = Running::start(&ctx);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    running.end();
}

/// The first of three slow jobs.
#[job(
    name = "slow-0",
    every = "1s",
    overlap = "skip",
    missed = "skip",
    run_on_start = false
)]
async fn slow_0(ctx: JobContext) {
    slow(ctx).await;
}

/// The second of three slow jobs.
#[job(
    name = "slow-1",
    every = "1s",
    overlap = "skip",
    missed = "skip",
    run_on_start = false
)]
async fn slow_1(ctx: JobContext) {
    slow(ctx).await;
}

/// The third of three slow jobs.
#[job(
    name = "slow-2",
    every = "1s",
    overlap = "skip",
    missed = "skip",
    run_on_start = false
)]
async fn slow_2(ctx: JobContext) {
    slow(ctx).await;
}

/// Runs 4 s (every attempt), one at a time across the fleet, so a kill is
/// likely to find it running; one retry, so a run killed once is continued
/// elsewhere, and one killed twice is not.
async fn long(ctx: JobContext) {
    let running = Running::start(&ctx);
    tokio::time::sleep(Duration::from_secs(4)).await;
    running.end();
}

/// The first of two long jobs.
#[job(
    name = "long-0",
    every = "1s",
    retries = 1,
    missed = "skip",
    run_on_start = false
)]
async fn long_0(ctx: JobContext) {
    long(ctx).await;
}

/// The second of two long jobs.
#[job(
    name = "long-1",
    every = "1s",
    retries = 1,
    missed = "skip",
    run_on_start = false
)]
async fn long_1(ctx: JobContext) {
    long(ctx).await;
}

/// Every second of the wall clock, by a cron expression with seconds.
#[job(name = "cron", cron = "* * * * * *", missed = "skip")]
async fn cron(ctx: JobContext) {
    Running::start(&ctx).end();
}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let mut builder = jobs_runtime::builder().grace_period(GRACE);
    for index in 0..TICKS {
        builder = builder.register(Tick {
            name: format!("tick-{index:02}"),
        });
    }
    builder.run().await
}
