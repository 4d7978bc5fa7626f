//! Discovery: `JobManager::discover()` finds every `#[job]` linked into the
//! binary, this file's and those of the `jobs-extra-jobs` crate.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jobs_runtime::{job, JobContext, JobManager, JobSpec, Schedule};
use tokio::time::Instant;

// Links the crate, and with it the job it defines.
use jobs_extra_jobs as _;

use support::{job_fn, Logs};

/// Runs of [`local_job`].
static LOCAL_RUNS: AtomicU64 = AtomicU64::new(0);

#[job(name = "local-job", every = "30s")]
async fn local_job() {
    LOCAL_RUNS.fetch_add(1, Ordering::SeqCst);
}

/// Named after the function: `nightly-report`.
#[job(every = "24h", run_on_start = false)]
async fn nightly_report(ctx: JobContext) -> anyhow::Result<()> {
    tracing::info!(n = ctx.execution_number(), "report");
    Ok(())
}

#[test]
fn discover_finds_the_jobs_of_every_crate_in_the_binary() {
    let manager = JobManager::discover();
    // Sorted by name.
    assert_eq!(
        manager.registered_jobs(),
        ["extra-crate-job", "local-job", "nightly-report"]
    );
}

#[test]
fn the_builder_discovers_the_same_jobs() {
    let manager = jobs_runtime::builder().manager();
    assert_eq!(
        manager.registered_jobs(),
        ["extra-crate-job", "local-job", "nightly-report"]
    );
}

#[test]
fn a_job_without_a_name_is_named_after_its_function() {
    let manager = JobManager::discover();
    assert!(manager
        .registered_jobs()
        .contains(&"nightly-report".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn the_other_crates_job_runs_on_its_schedule() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let start = Instant::now();
    manager.start("extra-crate-job").unwrap();
    // Fires at 0, 1m and 2m.
    tokio::time::sleep(Duration::from_secs(150)).await;
    manager.stop_all().await;

    // Other tests here run the job too, so its own counter is at least 3.
    assert!(jobs_extra_jobs::RUNS.load(Ordering::SeqCst) >= 3);
    let stats = manager.stats("extra-crate-job").unwrap();
    assert_eq!(stats.execution_count, 3);
    assert_eq!(
        stats.schedule,
        Some(Schedule::Every(Duration::from_secs(60)))
    );
    let starts = logs.job_operation("extra-crate-job", "job_execute_start");
    let at: Vec<_> = starts.iter().map(|event| event.at - start).collect();
    assert_eq!(
        at,
        [
            Duration::ZERO,
            Duration::from_secs(60),
            Duration::from_secs(120)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn discovered_jobs_keep_the_options_of_their_attribute() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(45)).await;

    // local-job runs on start and every 30 s; nightly-report waits a day.
    assert_eq!(manager.stats("local-job").unwrap().execution_count, 2);
    let nightly = manager.stats("nightly-report").unwrap();
    assert_eq!(nightly.execution_count, 0);
    assert_eq!(
        nightly.schedule,
        Some(Schedule::Every(Duration::from_secs(86_400)))
    );
    tokio::time::sleep_until(start + Duration::from_secs(86_400)).await;
    support::settle().await;
    assert_eq!(manager.stats("nightly-report").unwrap().execution_count, 1);
    manager.stop_all().await;

    let job_starts: Vec<_> = logs
        .operation("job_start")
        .iter()
        .map(|event| (event.str("job_name").to_owned(), event.u64("interval_ms")))
        .collect();
    assert_eq!(
        job_starts,
        [
            ("extra-crate-job".to_owned(), 60_000),
            ("local-job".to_owned(), 30_000),
            ("nightly-report".to_owned(), 86_400_000),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn hand_written_jobs_sit_next_to_discovered_ones() {
    let manager = JobManager::discover();
    manager.register(job_fn(
        JobSpec::every("by-hand", Duration::from_secs(10)),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    assert_eq!(
        manager.registered_jobs(),
        ["extra-crate-job", "local-job", "nightly-report", "by-hand"]
    );
    manager.start("by-hand").unwrap();
    support::settle().await;
    assert_eq!(manager.stats("by-hand").unwrap().execution_count, 1);
    manager.stop_all().await;
}

#[tokio::test]
async fn job_functions_stay_callable() {
    let before = LOCAL_RUNS.load(Ordering::SeqCst);
    local_job().await;
    assert!(LOCAL_RUNS.load(Ordering::SeqCst) > before);
    let before = jobs_extra_jobs::RUNS.load(Ordering::SeqCst);
    jobs_extra_jobs::extra_job().await;
    assert!(jobs_extra_jobs::RUNS.load(Ordering::SeqCst) > before);
}
