//! Jobs on a SQLite file: the history survives the process, a job reads
//! its last successful completion, and fires missed while the process was
//! stopped follow each job's `missed` policy at the next start.
//!
//! Run with `cargo run --example persistent --features sqlite` (the file is
//! `persistent.db` in the working directory; pass another path as the
//! argument). Stop it with Ctrl-C after a few runs, wait ten seconds or so,
//! and run it again: it prints the executions it finds, `report` runs the
//! latest fire it missed once, `sweep` skips the ones it missed, and
//! `digest` runs at start since its last fire was missed. Each run prints
//! its fire and when its job last completed, in this process or an earlier
//! one.

use std::time::{Duration, SystemTime};

use jobs_runtime::chrono::{DateTime, Utc};
use jobs_runtime::execution::ExecutionFilter;
use jobs_runtime::{job, JobContext};

/// Every 10 s, and at start only if it never ran or its last fire was
/// missed.
#[job(every = "10s")]
async fn digest(ctx: JobContext) {
    say(&ctx);
}

/// Every 5 s; after a stop, the latest fire it missed runs once.
#[job(every = "5s", missed = "run_once", run_on_start = false)]
async fn report(ctx: JobContext) {
    say(&ctx);
}

/// Every 5 s; after a stop, the fires it missed are skipped.
#[job(every = "5s", missed = "skip", run_on_start = false)]
async fn sweep(ctx: JobContext) {
    say(&ctx);
}

/// Prints what a run knows from the store: the fire it runs, and when the
/// job last completed, even in an earlier process.
fn say(ctx: &JobContext) {
    let fire_at = ctx.fire_at();
    let late = match SystemTime::now().duration_since(fire_at) {
        Ok(late) if late > Duration::from_secs(1) => format!(" ({} s late)", late.as_secs()),
        _ => String::new(),
    };
    let last = ctx.last_completed_at().map_or_else(|| "never".into(), time);
    println!(
        "{:<6} fire {}{late}, last completed {last}",
        ctx.job_name(),
        time(fire_at)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Warnings only: a missed fire is one (`job_execute_missed`).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .init();
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "persistent.db".into());
    let url = format!("sqlite://{path}");

    let builder = jobs_runtime::builder();
    let manager = builder.manager();
    // A fire more than 1 s late at start is missed (60 s by default), so a
    // short stop shows the missed policies.
    manager.set_misfire_threshold(Duration::from_secs(1));
    // Opened here rather than by `run`, to read the history before the
    // jobs start.
    manager.connect(&url).await?;
    let history = manager.executions(ExecutionFilter::new().limit(10)).await?;
    if history.is_empty() {
        println!("{url}: no executions yet");
    } else {
        println!(
            "{url}: the last {} executions, newest first:",
            history.len()
        );
        for execution in &history {
            println!(
                "  #{:<4} {:<7} fire {}  {:<9} {}",
                execution.id.get(),
                execution.job,
                time(execution.fire_at),
                execution.cause.as_str(),
                execution.state.as_str(),
            );
        }
    }
    println!("running; Ctrl-C stops");
    builder.run().await?;
    Ok(())
}

/// A wall-clock time as `HH:MM:SS` (UTC).
fn time(at: SystemTime) -> String {
    DateTime::<Utc>::from(at).format("%H:%M:%S").to_string()
}
