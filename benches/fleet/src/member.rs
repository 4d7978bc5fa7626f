//! A member process as the driver runs it: started beside the driver's own
//! binary with `JOBS_INSTANCE` set, its standard error written to a log
//! file, its standard output read as the lines of [`crate::report`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::report::{MemberReport, Started};

/// The binary `name` beside the running one (both are built into the same
/// target folder by `cargo build --release -p jobs-bench-fleet`).
pub fn binary(name: &str, build: &str) -> Result<PathBuf, String> {
    let own = std::env::current_exe().map_err(|error| format!("finding this binary: {error}"))?;
    let path = own.with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing; build it with `{build}`",
            path.display()
        ))
    }
}

/// A running member.
pub struct Member {
    instance: String,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    log: PathBuf,
}

impl Member {
    /// Starts `binary` with `args` as instance `instance`, its standard
    /// error going to `log`.
    pub fn spawn(
        binary: &Path,
        args: &[String],
        instance: &str,
        log: &Path,
    ) -> Result<Member, String> {
        let stderr = std::fs::File::create(log)
            .map_err(|error| format!("creating {}: {error}", log.display()))?;
        let mut child = Command::new(binary)
            .args(args)
            .env("JOBS_INSTANCE", instance)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("starting {}: {error}", binary.display()))?;
        let stdout = child.stdout.take().expect("its standard output is piped");
        Ok(Member {
            instance: instance.to_owned(),
            child,
            lines: BufReader::new(stdout).lines(),
            log: log.to_owned(),
        })
    }

    /// The member's instance name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The log file of its standard error.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits, at most `timeout`, for the line that says its jobs started.
    pub async fn started(&mut self, timeout: Duration) -> Result<Started, String> {
        let line = tokio::time::timeout(timeout, self.lines.next_line())
            .await
            .map_err(|_| format!("{} did not start within {timeout:?}", self.instance))?
            .map_err(|error| format!("reading {}: {error}", self.instance))?
            .ok_or_else(|| self.failed("ended before it started its jobs"))?;
        serde_json::from_str(&line).map_err(|error| format!("{}: `{line}`: {error}", self.instance))
    }

    /// Waits for it to end and reads its report, its last line.
    pub async fn finish(mut self) -> Result<MemberReport, String> {
        let mut last = None;
        while let Some(line) = self
            .lines
            .next_line()
            .await
            .map_err(|error| format!("reading {}: {error}", self.instance))?
        {
            last = Some(line);
        }
        let status = self
            .child
            .wait()
            .await
            .map_err(|error| format!("waiting for {}: {error}", self.instance))?;
        if !status.success() {
            return Err(self.failed(&format!("ended with {status}")));
        }
        let line = last.ok_or_else(|| self.failed("printed no report"))?;
        serde_json::from_str(&line).map_err(|error| format!("{}: `{line}`: {error}", self.instance))
    }

    fn failed(&self, what: &str) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{} {what}; the end of {}:\n{}",
            self.instance,
            self.log.display(),
            tail.join("\n")
        )
    }
}

/// What a member's log holds: its warnings, its errors, and the first few
/// of either.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogSummary {
    /// Lines at level WARN.
    pub warnings: usize,
    /// Lines at level ERROR.
    pub errors: usize,
    /// Other lines (a panic's message, for instance).
    pub other: usize,
    /// The first few lines that are not blank.
    pub first: Vec<String>,
}

/// Reads the log at `path`.
pub fn summarize(path: &Path) -> LogSummary {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut summary = LogSummary::default();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        if line.contains(" WARN ") {
            summary.warnings += 1;
        } else if line.contains(" ERROR ") {
            summary.errors += 1;
        } else {
            summary.other += 1;
        }
        if summary.first.len() < 5 {
            summary.first.push(line.chars().take(400).collect());
        }
    }
    summary
}
