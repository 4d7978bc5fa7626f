//! What a member prints on its standard output for the driver, one JSON
//! object a line: [`Started`] once its jobs run, then [`MemberReport`] once
//! it has stopped.

use std::future::Future;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::LevelFilter;

/// Printed once the member's jobs are started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Started {
    /// The member's instance name.
    pub instance: String,
    /// When its jobs were started, milliseconds since the Unix epoch.
    pub started_ms: i64,
}

impl Started {
    /// Prints that `instance`'s jobs started at `started_ms`.
    pub fn print(instance: &str, started_ms: i64) {
        let line = Started {
            instance: instance.to_owned(),
            started_ms,
        };
        println!(
            "{}",
            serde_json::to_string(&line).expect("a line serializes")
        );
    }
}

/// Printed once the member has stopped: what it ran and what it cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemberReport {
    /// The member's instance name.
    pub instance: String,
    /// How many jobs it registered.
    pub jobs: usize,
    /// When its jobs were started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// When its measuring window opened: the start plus the warm-up.
    pub window_start_ms: i64,
    /// When it began to stop, which closed its window.
    pub stopping_ms: i64,
    /// When it had stopped, or gave up waiting for its stop.
    pub stopped_ms: i64,
    /// Whether its stop did not end within its time limit: the process then
    /// ended without it, and what it had not written was lost.
    pub stop_timed_out: bool,
    /// CPU time of the whole process, user and system, from before its
    /// jobs were registered until it had stopped, in microseconds.
    pub cpu_total_us: u64,
    /// CPU time within its window, in microseconds.
    pub cpu_window_us: u64,
    /// Executions it ran, over its whole life.
    pub executions_total: u64,
    /// Executions it ran within its window (its stats' counts at the two
    /// ends).
    pub executions_window: u64,
    /// Fires it saw claimed by another instance, over its whole life.
    pub elsewhere_total: u64,
    /// Fires it skipped (overlap, or a claim the store could not answer).
    pub skipped_total: u64,
    /// Fires it counted as missed.
    pub missed_total: u64,
    /// Executions that ended in an error.
    pub errors_total: u64,
    /// The most memory it held resident, in KiB.
    pub max_resident_kib: u64,
    /// Lateness its job bodies measured for fires within its window: pairs
    /// of a bucket's lower bound in microseconds and its count.
    pub lateness_us: Vec<(u64, u64)>,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The name of a member's job number `index`: `jobs-00042` for this
/// runtime's members, `apalis-00042` for apalis's.
pub fn job_name(framework: &str, index: usize) -> String {
    format!("{framework}-{index:05}")
}

/// A member's `main` once its options are read: logs at `level` on
/// standard error, runs `run` on a multi-thread runtime and prints its
/// report, or its error named by `program` and `instance`.
pub fn serve(
    program: &str,
    instance: &str,
    level: LevelFilter,
    run: impl Future<Output = Result<MemberReport, String>>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(level)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    match runtime.block_on(run) {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string(&report).expect("a report serializes")
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{program} {instance}: {error}");
            ExitCode::FAILURE
        }
    }
}
