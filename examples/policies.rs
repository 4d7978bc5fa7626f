//! Schedules and execution policies, one job each: cron in a time zone,
//! fixed delay, jitter, overlap, missed runs, retries, dependencies,
//! conditions, slots and priorities, and runtime control.
//!
//! Run with `cargo run --example policies`; stop with Ctrl-C.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use jobs_runtime::{job, JobContext};

static MAINTENANCE: AtomicBool = AtomicBool::new(false);
static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// Every weekday at 09:00 Berlin time; catches up once if the process was
/// down at 09:00.
#[job(cron = "0 9 * * MON-FRI", tz = "Europe/Berlin", missed = "run_once")]
async fn morning_report() {
    tracing::info!("morning report sent");
}

/// Every 10 seconds on the clock (6 fields, seconds first), spread by up to 2 s.
#[job(cron = "*/10 * * * * *", jitter = "2s")]
async fn poll_feeds() {
    tracing::info!("feeds polled");
}

/// Starts 5 s after the previous run ended, however long that run took.
#[job(every = "5s", delay = "fixed")]
async fn compact_index() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// Fails twice, then succeeds: retried with exponential backoff and jitter.
#[job(every = "30s", retries = 3, backoff = "500ms", backoff_max = "5s")]
async fn flaky_upload(ctx: JobContext) -> anyhow::Result<()> {
    if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) % 3 < 2 {
        anyhow::bail!("upload refused (attempt {})", ctx.attempt());
    }
    tracing::info!(attempt = ctx.attempt(), "upload accepted");
    Ok(())
}

/// Runs after each successful upload, with no schedule of its own.
#[job(after = "flaky-upload")]
async fn notify_upload(ctx: JobContext) {
    tracing::info!(upstream_completed_at = ?ctx.upstream_completed_at(), "upload announced");
}

/// Skipped while maintenance is on.
#[job(every = "4s", when = not_in_maintenance)]
async fn sync_accounts() {
    tracing::info!("accounts synced");
}

fn not_in_maintenance() -> bool {
    !MAINTENANCE.load(Ordering::SeqCst)
}

/// Takes 3 of the manager's 4 slots; high priority when runs wait for slots.
#[job(every = "6s", slots = 3, priority = "high", overlap = "queue")]
async fn render_video() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Takes 2 slots, low priority: it waits while the render holds its slots.
#[job(every = "3s", slots = 2, priority = "low")]
async fn compress_images() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    tracing_subscriber::fmt().init();
    let builder = jobs_runtime::builder().available_slots(4);
    let manager = builder.manager();
    tokio::spawn(async move {
        // Runtime control while the jobs run.
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok(next) = manager.next_runs("morning-report", 3) {
            tracing::info!(?next, "next morning reports");
        }
        tokio::time::sleep(Duration::from_secs(8)).await;
        MAINTENANCE.store(true, Ordering::SeqCst);
        let _ = manager.pause("poll-feeds");
        tokio::time::sleep(Duration::from_secs(10)).await;
        MAINTENANCE.store(false, Ordering::SeqCst);
        let _ = manager.resume("poll-feeds");
        if let Ok(faster) = jobs_runtime::Schedule::every(Duration::from_secs(2)) {
            let _ = manager.set_schedule("sync-accounts", faster);
        }
    });
    builder.run().await
}
