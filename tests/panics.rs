//! A panic inside a job is caught and logged with its location, and the
//! standard hook stays quiet about it; a panic anywhere else still reaches
//! the hook that was installed before.
//!
//! The stderr checks run this test binary again as a child process, in one
//! of the scenarios of [`scenario`], so that what reaches its stderr can be
//! read.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use jobs_runtime::{BoxError, JobContext, JobManager, JobSpec};

use support::{job_fn, Logs};

const HOUR: Duration = Duration::from_secs(3600);

/// The variable that makes [`scenario`] run one scenario.
const SCENARIO: &str = "PANICS_TEST_SCENARIO";

fn located_boom() -> Result<(), BoxError> {
    panic!("located boom")
}
const LOCATED_BOOM_LINE: u32 = line!() - 2;

/// `panicked at <file>:<line>:<column>: located boom`.
fn located_boom_message() -> String {
    format!(
        "panicked at {}:{LOCATED_BOOM_LINE}:5: located boom",
        file!()
    )
}

fn panicking_job() -> impl jobs_runtime::Job {
    job_fn(
        JobSpec::every("panics", HOUR),
        |_ctx: JobContext| async move {
            tokio::task::yield_now().await;
            located_boom()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn a_caught_panic_is_logged_and_recorded_with_its_location() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(panicking_job());
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    manager.stop_all().await;

    let errors = logs.job_operation("panics", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].str("error"), located_boom_message());
    let stats = manager.stats("panics").unwrap();
    assert_eq!(stats.last_error.as_deref(), Some(&*located_boom_message()));
}

/// Runs this binary again, in `scenario`, with a backtrace asked for.
fn run_scenario(scenario: &str) -> Output {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "scenario", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the scenario failed: {output:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn a_caught_panic_writes_nothing_to_stderr() {
    let output = run_scenario("job");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("located boom"), "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "stderr:\n{stderr}");
    assert!(!stderr.contains("backtrace"), "stderr:\n{stderr}");
    // The JSON log has the panic with its location.
    let event = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["operation"] == "job_execute_error")
        .unwrap_or_else(|| panic!("no job_execute_error in the log:\n{stdout}"));
    assert_eq!(
        event["fields"]["error"].as_str(),
        Some(&*located_boom_message())
    );
}

#[test]
fn a_panic_outside_a_job_still_reaches_the_previous_hook() {
    let output = run_scenario("outside");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("outside boom"), "stderr:\n{stderr}");
    assert!(stderr.contains("panicked at"), "stderr:\n{stderr}");
    assert!(!stderr.contains("located boom"), "stderr:\n{stderr}");
}

/// One scenario of a child process, chosen by [`SCENARIO`]; does nothing
/// in a normal test run.
#[test]
fn scenario() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    tracing_subscriber::fmt().json().init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let manager = JobManager::new();
        manager.register(panicking_job());
        manager.start_all().unwrap();
        while manager.stats("panics").unwrap().execution_count == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        manager.stop_all().await;
    });
    if scenario == "outside" {
        // After the runtime caught a panic, and so installed its hook.
        let joined = std::thread::spawn(|| panic!("outside boom")).join();
        assert!(joined.is_err());
    }
}
