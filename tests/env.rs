//! The environment override of a job's interval: humantime or bare
//! milliseconds when valid; a start-up error, and nothing run, otherwise.
//!
//! Tests run in parallel threads of one process, so each uses its own
//! variable.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jobs_runtime::{job, Error, JobContext, JobManager, JobSpec};
use serde_json::json;
use tokio::time::Instant;

use support::{job_fn, next, recording, Logs};

/// Runs of [`env_attr`].
static ENV_ATTR_RUNS: AtomicU64 = AtomicU64::new(0);

#[job(name = "env-attr", every = "1h", env = "JOBS_TEST_ENV_ATTR")]
async fn env_attr() {
    ENV_ATTR_RUNS.fetch_add(1, Ordering::SeqCst);
}

fn set(variable: &str, value: &str) {
    std::env::set_var(variable, value);
}

/// Starts a recording job every 2 minutes, overridden by `variable`, and
/// checks that it runs on the grid of `expected` and that `job_start` logs it.
async fn check_override(variable: &'static str, expected: Duration) {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("overridden", Duration::from_secs(120)).env(variable),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for k in 0..3u32 {
        assert_eq!(next(&mut runs).await.started_at, start + expected * k);
    }
    manager.stop_all().await;

    let job_start = &logs.operation("job_start")[0];
    assert_eq!(
        job_start.field("interval_ms"),
        &json!(expected.as_millis() as u64)
    );
    assert_eq!(
        job_start.field("interval_seconds"),
        &json!(expected.as_secs_f64())
    );
    assert_eq!(
        manager.stats("overridden").unwrap().schedule,
        Some(jobs_runtime::Schedule::Every(expected))
    );
}

#[tokio::test(start_paused = true)]
async fn a_humantime_value_replaces_the_interval() {
    set("JOBS_TEST_ENV_HUMANTIME", "90s");
    check_override("JOBS_TEST_ENV_HUMANTIME", Duration::from_secs(90)).await;
}

#[tokio::test(start_paused = true)]
async fn a_compound_humantime_value_replaces_the_interval() {
    set("JOBS_TEST_ENV_COMPOUND", "1h 30m");
    check_override("JOBS_TEST_ENV_COMPOUND", Duration::from_secs(5400)).await;
}

#[tokio::test(start_paused = true)]
async fn a_bare_number_is_milliseconds() {
    set("JOBS_TEST_ENV_MILLIS", "300000");
    check_override("JOBS_TEST_ENV_MILLIS", Duration::from_secs(300)).await;
}

#[tokio::test(start_paused = true)]
async fn a_sub_second_bare_number_is_milliseconds_too() {
    set("JOBS_TEST_ENV_SMALL_MILLIS", "250");
    check_override("JOBS_TEST_ENV_SMALL_MILLIS", Duration::from_millis(250)).await;
}

#[tokio::test(start_paused = true)]
async fn an_unset_variable_leaves_the_interval_alone() {
    std::env::remove_var("JOBS_TEST_ENV_UNSET");
    check_override("JOBS_TEST_ENV_UNSET", Duration::from_secs(120)).await;
}

#[tokio::test(start_paused = true)]
async fn the_attributes_env_key_overrides_its_every() {
    let (logs, _guard) = Logs::capture();
    set("JOBS_TEST_ENV_ATTR", "2s");
    let manager = JobManager::discover();
    manager.start("env-attr").unwrap();
    // Fires at 0, 2 s, 4 s and 6 s, not once an hour.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    manager.stop_all().await;
    assert_eq!(ENV_ATTR_RUNS.load(Ordering::SeqCst), 4);
    let job_start = &logs.job_operation("env-attr", "job_start")[0];
    assert_eq!(job_start.field("interval_ms"), &json!(2000));
}

/// Registers a job overridden by `variable` next to a valid job, and checks
/// that `start_all` refuses to start with an error naming the job, the
/// variable and the value, and that nothing ran.
async fn check_refused(variable: &'static str, value: &str) {
    let (logs, _guard) = Logs::capture();
    set(variable, value);
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("misconfigured", Duration::from_secs(60)).env(variable),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    manager.register(job_fn(
        JobSpec::every("innocent", Duration::from_secs(60)),
        |_ctx: JobContext| async move { Ok(()) },
    ));

    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`misconfigured`"), "{message}");
    assert!(message.contains(variable), "{message}");
    assert!(message.contains(&format!("{value:?}")), "{message}");
    match error {
        Error::InvalidEnv {
            job,
            variable: var,
            value: val,
            ..
        } => {
            assert_eq!(job, "misconfigured");
            assert_eq!(var, variable);
            assert_eq!(val, value);
        }
        other => panic!("unexpected error: {other:?}"),
    }

    // Nothing started, so nothing runs, however long we wait.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(logs.events().is_empty(), "{:?}", logs.events());
    for stats in manager.all_stats() {
        assert!(!stats.is_started, "{}", stats.name);
        assert_eq!(stats.execution_count, 0, "{}", stats.name);
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_value_stops_start_up() {
    check_refused("JOBS_TEST_ENV_INVALID", "2x").await;
}

#[tokio::test(start_paused = true)]
async fn a_zero_value_stops_start_up() {
    check_refused("JOBS_TEST_ENV_ZERO", "0").await;
}

#[tokio::test(start_paused = true)]
async fn a_zero_duration_stops_start_up() {
    check_refused("JOBS_TEST_ENV_ZERO_SECONDS", "0s").await;
}

#[tokio::test(start_paused = true)]
async fn an_empty_value_stops_start_up() {
    check_refused("JOBS_TEST_ENV_EMPTY", "").await;
}

#[tokio::test(start_paused = true)]
async fn a_negative_value_stops_start_up() {
    check_refused("JOBS_TEST_ENV_NEGATIVE", "-5").await;
}

#[tokio::test(start_paused = true)]
async fn every_invalid_override_is_reported_at_once() {
    set("JOBS_TEST_ENV_MANY_A", "soon");
    set("JOBS_TEST_ENV_MANY_B", "0");
    let manager = JobManager::new();
    for (name, variable) in [
        ("first", "JOBS_TEST_ENV_MANY_A"),
        ("second", "JOBS_TEST_ENV_MANY_B"),
    ] {
        manager.register(job_fn(
            JobSpec::every(name, Duration::from_secs(60)).env(variable),
            |_ctx: JobContext| async move { Ok(()) },
        ));
    }
    let error = manager.start_all().unwrap_err();
    let Error::Many(problems) = &error else {
        panic!("unexpected error: {error:?}");
    };
    assert_eq!(problems.len(), 2);
    let message = error.to_string();
    for needle in [
        "2 problems",
        "`first`",
        "JOBS_TEST_ENV_MANY_A",
        "\"soon\"",
        "`second`",
        "JOBS_TEST_ENV_MANY_B",
        "\"0\"",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_value_stops_a_single_start_too() {
    set("JOBS_TEST_ENV_SINGLE", "fast");
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("single", Duration::from_secs(60)).env("JOBS_TEST_ENV_SINGLE"),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    let error = manager.start("single").unwrap_err();
    assert!(matches!(error, Error::InvalidEnv { .. }), "{error:?}");
    assert!(!manager.stats("single").unwrap().is_started);
}
