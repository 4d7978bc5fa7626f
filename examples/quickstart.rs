//! Three recurring jobs, discovered and run with no wiring: a heartbeat, a
//! cleanup and a process health check that uses shared state.
//!
//! Run with `cargo run --example quickstart`; stop with Ctrl-C (a second
//! Ctrl-C aborts whatever still runs). `PH_INTERVAL=10s` makes the health
//! check run every 10 seconds instead of every 2 minutes.

use std::time::Duration;

use jobs_runtime::{job, JobContext, State};

/// The processes this service supervises (a stand-in for a real supervisor).
struct ProcessManager {
    processes: Vec<Process>,
}

struct Process {
    id: u32,
    errors: u32,
}

impl ProcessManager {
    fn new() -> Self {
        let errors = [0, 3, 14];
        let processes = (1..)
            .zip(errors)
            .map(|(id, errors)| Process { id, errors })
            .collect();
        ProcessManager { processes }
    }
}

/// Tells the backend this instance is alive.
#[job(name = "heartbeat", every = "30s", env = "HEARTBEAT_INTERVAL")]
async fn heartbeat(ctx: JobContext) {
    tracing::info!(beat = ctx.execution_number(), "status sent to backend");
}

/// Removes expired sessions; the first run waits one interval.
#[job(
    name = "cleanup",
    every = "5m",
    env = "CLEANUP_INTERVAL",
    run_on_start = false
)]
async fn cleanup() -> anyhow::Result<()> {
    tracing::info!(removed = 0, "expired sessions removed");
    Ok(())
}

/// Warns about processes with a high error count; probing each takes a moment.
#[job(
    name = "process-health",
    every = "2m",
    env = "PH_INTERVAL",
    timeout = "30s"
)]
async fn process_health(pm: State<ProcessManager>) -> anyhow::Result<()> {
    for process in &pm.processes {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if process.errors > 10 {
            tracing::warn!(
                process_id = process.id,
                error_count = process.errors,
                "high error count"
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    tracing_subscriber::fmt().init();
    jobs_runtime::builder()
        .state(ProcessManager::new())
        .run()
        .await
}
