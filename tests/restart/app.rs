//! The service `tests/restart.rs` runs as a real process, kills and starts
//! again on one SQLite file (`JOBS_DATABASE_URL`). Each scenario switches
//! off the jobs it does not use (`JOBS_<NAME>_ENABLED=false`) and names the
//! process in the records (`JOBS_INSTANCE`).
//!
//! A fire missed at a restart is one later than 250 ms (the misfire
//! threshold here), so a downtime of a few seconds misses fires of a job
//! that runs every 2 s.

use std::time::Duration;

use jobs_runtime::{job, JobContext};

/// The misfire threshold of this service.
const MISFIRE_THRESHOLD: Duration = Duration::from_millis(250);

/// Its first attempt runs for ten minutes (long enough to be killed in the
/// middle); a later attempt, which continues an execution its process did
/// not finish, succeeds at once.
#[job(name = "long", every = "1h", retries = 1)]
async fn long(ctx: JobContext) {
    if ctx.attempt() == 1 {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
}

/// Every 2 s on its grid; fires missed while down are skipped.
#[job(name = "skipper", every = "2s", missed = "skip", run_on_start = false)]
async fn skipper() {}

/// Every 2 s on its grid; fires missed while down run once.
#[job(name = "once", every = "2s", missed = "run_once", run_on_start = false)]
async fn once() {}

/// Every 2 s on its grid; the latest two fires missed while down run one
/// after another.
#[job(
    name = "catchup",
    every = "2s",
    missed = "catch_up",
    catch_up_limit = 2,
    run_on_start = false
)]
async fn catchup() {}

/// Runs at start, then every hour.
#[job(name = "hourly", every = "1h")]
async fn hourly() {}

/// Runs at start, then every 2 s; fires missed while down are skipped.
#[job(name = "starter", every = "2s", missed = "skip")]
async fn starter() {}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let builder = jobs_runtime::builder().grace_period(Duration::from_secs(5));
    builder.manager().set_misfire_threshold(MISFIRE_THRESHOLD);
    builder.run().await
}
