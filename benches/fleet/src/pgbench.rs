//! `pgbench`, PostgreSQL's own benchmark, as the scale the fleet's figures
//! are set against: its transactions per second on the same server.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// `pgbench` on `PATH`, or the newest under `/usr/lib/postgresql/*/bin`.
pub fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pgbench"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("bin/pgbench"))
            .filter(|candidate| candidate.is_file())
            .collect();
        found.sort_by_key(|path| {
            path.components()
                .nth(4)
                .and_then(|version| version.as_os_str().to_str()?.parse::<u32>().ok())
        });
        found.pop()
    })
}

/// What one `pgbench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// What it ran: `select-only` (`-S`) or `tpc-b` (the default script).
    pub script: &'static str,
    /// Its clients (`-c`) and threads (`-j`).
    pub clients: u32,
    /// How long it ran, in seconds (`-T`).
    pub seconds: u64,
    /// Transactions per second, without the initial connection time.
    pub tps: f64,
    /// Mean latency of a transaction, in milliseconds.
    pub latency_ms: Option<f64>,
}

/// Fills database `url` with pgbench's tables at `scale` (`pgbench -i`).
pub fn initialize(pgbench: &Path, url: &str, scale: u32) -> Result<(), String> {
    output(
        Command::new(pgbench)
            .args(["-i", "-q", "-s", &scale.to_string()])
            .arg(url),
    )
    .map(|_| ())
}

/// Runs `script` on database `url` (initialized) with `clients` clients
/// and threads for `seconds`.
pub fn run(
    pgbench: &Path,
    url: &str,
    select_only: bool,
    clients: u32,
    seconds: u64,
) -> Result<Run, String> {
    let mut command = Command::new(pgbench);
    command.args([
        "-n",
        "-c",
        &clients.to_string(),
        "-j",
        &clients.to_string(),
        "-T",
        &seconds.to_string(),
    ]);
    if select_only {
        command.arg("-S");
    }
    let text = output(command.arg(url))?;
    let tps = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no `tps = ` line in pgbench's output:\n{text}"))?;
    let latency_ms = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("latency average = "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
    Ok(Run {
        script: if select_only { "select-only" } else { "tpc-b" },
        clients,
        seconds,
        tps,
        latency_ms,
    })
}

/// Runs `command`, answering its standard output, or an error with its
/// standard error if it failed.
fn output(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|error| format!("running {command:?}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
