//! A real process gets a real signal: the `quickstart` example, stopped with
//! SIGTERM, finishes its in-flight run and exits with status 0; a second
//! signal aborts the run at once.
//!
//! These run in real time: the process and the signals are the point.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod support;

/// How long any one step may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// Builds the `quickstart` example once per test binary and returns its path.
fn quickstart() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| support::examples::build("quickstart", &[]))
}

/// The running example: its lines of output, as they come.
struct Example {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Example {
    fn start() -> Example {
        Example::spawn(Command::new(quickstart()))
    }

    /// This test binary again, running [`scenario`] with `name`.
    fn scenario(name: &str) -> Example {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "scenario", "--nocapture", "--test-threads=1"])
            .env(SCENARIO, name);
        Example::spawn(command)
    }

    fn spawn(mut command: Command) -> Example {
        for variable in [
            "PH_INTERVAL",
            "HEARTBEAT_INTERVAL",
            "CLEANUP_INTERVAL",
            "RUST_LOG",
        ] {
            command.env_remove(variable);
        }
        let mut child = command
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not start the example");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(strip_ansi(&line)).is_err() {
                    break;
                }
            }
        });
        Example {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `wanted`; returns its index in
    /// [`seen`](Self::seen).
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> usize {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = wanted(&line);
                    self.seen.push(line);
                    if found {
                        return self.seen.len() - 1;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {what} in the output:\n{}\nstderr:\n{}",
                        self.seen.join("\n"),
                        self.stderr()
                    );
                }
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our
        // own child, which has not been waited for yet.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill failed");
    }

    /// Reads the rest of the output and waits for the process to exit.
    fn finish(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("the example did not exit:\n{}", self.seen.join("\n"));
                }
            }
        }
        self.child.wait().unwrap()
    }

    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }

    /// The index of the first line seen after `after` that satisfies
    /// `wanted`.
    fn find_after(&self, after: usize, wanted: impl Fn(&str) -> bool) -> Option<usize> {
        (after + 1..self.seen.len()).find(|&index| wanted(&self.seen[index]))
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes terminal escape sequences, in case colours are on anyway.
fn strip_ansi(line: &str) -> String {
    let mut text = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

/// Whether `line` is the event `operation` of job `job`.
fn is_event(line: &str, operation: &str, job: &str) -> bool {
    line.contains(&format!("operation=\"{operation}\""))
        && line.contains(&format!("job_name=\"{job}\""))
}

fn is_operation(line: &str, operation: &str) -> bool {
    line.contains(&format!("operation=\"{operation}\""))
}

#[test]
fn sigterm_lets_the_in_flight_run_finish_and_exits_0() {
    let mut example = Example::start();
    example.wait_for("process-health start", |line| {
        is_event(line, "job_execute_start", "process-health")
    });
    // process-health takes about 900 ms: it is in flight now.
    example.signal(libc::SIGTERM);
    let status = example.finish();
    let output = example.seen.join("\n");

    assert!(status.success(), "exit status {status:?}:\n{output}");
    assert_eq!(status.code(), Some(0));
    let shutdown = example
        .seen
        .iter()
        .position(|line| is_operation(line, "shutdown_start"))
        .unwrap_or_else(|| panic!("no shutdown_start:\n{output}"));
    assert!(
        example.seen[shutdown].contains("signal=\"SIGTERM\""),
        "{output}"
    );
    let success = example
        .find_after(shutdown, |line| {
            is_event(line, "job_execute_success", "process-health")
        })
        .unwrap_or_else(|| panic!("process-health did not finish after the signal:\n{output}"));
    let stop = example
        .find_after(success, |line| is_event(line, "job_stop", "process-health"))
        .unwrap_or_else(|| panic!("no job_stop after the run:\n{output}"));
    assert!(
        example
            .find_after(stop, |line| is_operation(line, "shutdown_complete"))
            .is_some(),
        "{output}"
    );
    assert!(
        !output.contains("job_execute_aborted"),
        "a run was aborted:\n{output}"
    );
    // The warning from inside the job carries the execution's span.
    assert!(
        example
            .seen
            .iter()
            .any(|line| line.contains("high error count")
                && line.contains("job_name=\"process-health\"")
                && line.contains("execution_number=1")),
        "{output}"
    );
}

#[test]
fn a_second_signal_aborts_the_in_flight_run_and_still_exits_0() {
    let mut example = Example::start();
    example.wait_for("process-health start", |line| {
        is_event(line, "job_execute_start", "process-health")
    });
    example.signal(libc::SIGTERM);
    example.wait_for("shutdown_start", |line| {
        is_operation(line, "shutdown_start")
    });
    example.signal(libc::SIGINT);
    let status = example.finish();
    let output = example.seen.join("\n");

    assert!(status.success(), "exit status {status:?}:\n{output}");
    let abort = example
        .seen
        .iter()
        .position(|line| is_operation(line, "shutdown_abort"))
        .unwrap_or_else(|| panic!("no shutdown_abort:\n{output}"));
    assert!(
        example.seen[abort].contains("signal=\"SIGINT\""),
        "{output}"
    );
    let aborted = example
        .find_after(abort, |line| {
            is_event(line, "job_execute_aborted", "process-health")
        })
        .unwrap_or_else(|| panic!("process-health was not aborted:\n{output}"));
    assert!(
        example.seen[aborted].contains(
            "error=\"aborted: a second shutdown signal (SIGINT) arrived during the grace period\""
        ),
        "{output}"
    );
    assert!(
        !example
            .seen
            .iter()
            .any(|line| is_event(line, "job_execute_success", "process-health")),
        "process-health finished although it was aborted:\n{output}"
    );
    assert!(
        output.contains("operation=\"shutdown_complete\""),
        "{output}"
    );
}

/// The variable that makes [`scenario`] run one scenario.
const SCENARIO: &str = "SIGTERM_TEST_SCENARIO";

/// A job whose run sleeps for a minute on a blocking thread, ignoring its
/// token.
struct Blocking;

impl jobs_runtime::Job for Blocking {
    fn spec(&self) -> jobs_runtime::JobSpec {
        jobs_runtime::JobSpec::every("blocking", Duration::from_secs(3600))
    }

    async fn execute(&self, _ctx: jobs_runtime::JobContext) -> Result<(), jobs_runtime::BoxError> {
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(60))).await?;
        Ok(())
    }
}

#[test]
fn a_second_signal_ends_the_process_without_waiting_for_a_blocking_thread() {
    let mut example = Example::scenario("blocking");
    example.wait_for("blocking start", |line| {
        is_event(line, "job_execute_start", "blocking")
    });
    example.signal(libc::SIGTERM);
    example.wait_for("shutdown_start", |line| {
        is_operation(line, "shutdown_start")
    });
    let second = Instant::now();
    example.signal(libc::SIGINT);
    let status = example.finish();
    let exited_after = second.elapsed();
    let output = example.seen.join("\n");

    assert!(status.success(), "exit status {status:?}:\n{output}");
    // The blocking thread sleeps for 60 s; the process did not wait for it.
    assert!(
        exited_after < Duration::from_secs(10),
        "exited {exited_after:?} after the second signal:\n{output}"
    );
    let aborted = example
        .seen
        .iter()
        .find(|line| is_event(line, "job_execute_aborted", "blocking"))
        .unwrap_or_else(|| panic!("the run was not aborted:\n{output}"));
    assert!(
        aborted.contains("a second shutdown signal (SIGINT) arrived"),
        "{output}"
    );
    assert!(
        output.contains("operation=\"shutdown_complete\""),
        "{output}"
    );
}

/// One scenario of a child process, chosen by [`SCENARIO`]; does nothing
/// in a normal test run.
#[test]
fn scenario() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    assert_eq!(scenario, "blocking");
    tracing_subscriber::fmt().with_ansi(false).init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(jobs_runtime::builder().register(Blocking).run())
        .unwrap();
}
