//! Several instances of one service on one PostgreSQL database: start this
//! example three times, in three terminals, against the same database, and
//! each fire runs on one of them.
//!
//! ```sh
//! export JOBS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
//! JOBS_INSTANCE=a cargo run --example fleet --features postgres
//! JOBS_INSTANCE=b cargo run --example fleet --features postgres
//! JOBS_INSTANCE=c cargo run --example fleet --features postgres
//! ```
//!
//! Each instance prints the fires it runs, with their lease tokens: `tick`
//! every 2 s and `minute` at each minute run once across the fleet, on
//! whichever instance claims them first. Every 10 s each prints the
//! instances it sees. `export` takes 20 s and may retry once: kill the
//! instance running it with `kill -9`, and within 30 s another one takes
//! the execution over and runs it again (attempt 2, cause `recovery`).
//! Pass the database's URL as the first argument instead of
//! `JOBS_DATABASE_URL` if you like.

use std::time::{Duration, SystemTime};

use jobs_runtime::chrono::{DateTime, Utc};
use jobs_runtime::{job, JobContext};

/// Every 2 s, once across the fleet.
#[job(every = "2s", run_on_start = false)]
async fn tick(ctx: JobContext) {
    say(&ctx, "");
}

/// At the start of every minute, once across the fleet.
#[job(cron = "0 * * * * *")]
async fn minute(ctx: JobContext) {
    say(&ctx, "");
}

/// Every 45 s, a 20 s export; killed midway, it is run again elsewhere.
#[job(every = "45s", retries = 1, timeout = "1m")]
async fn export(ctx: JobContext) {
    say(&ctx, "started, 20 s to go");
    tokio::time::sleep(Duration::from_secs(20)).await;
    say(&ctx, "done");
}

/// Prints a run: its job, fire time, attempt and lease token. A job would
/// hand the token to the systems it writes to, which refuse a token lower
/// than one they have seen.
fn say(ctx: &JobContext, what: &str) {
    let token = ctx
        .lease_token()
        .map_or_else(|| "-".to_owned(), |token| token.to_string());
    println!(
        "{:<7} fire {}  attempt {}  lease {token:<6} {what}",
        ctx.job_name(),
        time(ctx.fire_at()),
        ctx.attempt(),
    );
}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    // Warnings only: an instance fenced, a clock far off, a rescue.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .without_time()
        .with_target(false)
        .init();
    let mut builder = jobs_runtime::builder();
    if let Some(url) = std::env::args().nth(1) {
        builder = builder.database_url(url);
    } else if std::env::var_os("JOBS_DATABASE_URL").is_none() {
        eprintln!("set JOBS_DATABASE_URL=postgres://user@host/database, or pass the URL");
        std::process::exit(2);
    }
    let manager = builder.manager();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let Ok(instances) = manager.instances().await else {
                continue;
            };
            let offset = manager.clock_offset_ms().unwrap_or(0);
            println!("instances (this clock {offset:+} ms from the database's):");
            for instance in instances {
                println!(
                    "  {:<20} pid {:<7} heartbeat {}  {}",
                    instance.id,
                    instance.pid,
                    time(instance.heartbeat_at),
                    if instance.alive { "alive" } else { "dead" },
                );
            }
        }
    });
    builder.run().await
}

/// A wall-clock time as `HH:MM:SS` (UTC).
fn time(at: SystemTime) -> String {
    DateTime::<Utc>::from(at).format("%H:%M:%S").to_string()
}
