//! Conditions: `when = path` (a sync or async predicate) or
//! `JobSpec::when(closure)` is checked before each run; when false, the fire
//! is skipped, logged with `reason = "condition"` and counted, and the job
//! keeps its schedule.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{job, JobManager, JobSpec};
use tokio::time::Instant;

use support::{next, recording, Logs};

const TEN: Duration = Duration::from_secs(10);

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|&s| Duration::from_secs(s)).collect()
}

/// The instants, relative to `start`, of a job's events of `operation`.
fn at(logs: &Logs, job: &str, operation: &str, start: Instant) -> Vec<Duration> {
    logs.job_operation(job, operation)
        .iter()
        .map(|event| event.at - start)
        .collect()
}

static SYNC_OPEN: AtomicBool = AtomicBool::new(true);
static SYNC_CHECKS: AtomicU64 = AtomicU64::new(0);
static SYNC_RUNS: AtomicU64 = AtomicU64::new(0);

fn sync_open() -> bool {
    SYNC_CHECKS.fetch_add(1, Ordering::SeqCst);
    SYNC_OPEN.load(Ordering::SeqCst)
}

#[job(name = "sync-gated", every = "10s", when = sync_open)]
async fn sync_gated() {
    SYNC_RUNS.fetch_add(1, Ordering::SeqCst);
}

static ASYNC_OPEN: AtomicBool = AtomicBool::new(true);
static ASYNC_RUNS: AtomicU64 = AtomicU64::new(0);

mod gates {
    use super::*;

    /// Takes 2 s to answer: the run starts once it has.
    pub async fn async_open() -> bool {
        tokio::time::sleep(Duration::from_secs(2)).await;
        ASYNC_OPEN.load(Ordering::SeqCst)
    }
}

#[job(name = "async-gated", every = "10s", when = gates::async_open)]
async fn async_gated() {
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn a_sync_predicate_gates_each_fire_and_the_schedule_goes_on() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let start = Instant::now();
    manager.start("sync-gated").unwrap();

    // Open at 0 and 10 s, closed at 20 and 30 s, open again from 40 s.
    tokio::time::sleep(Duration::from_secs(15)).await;
    SYNC_OPEN.store(false, Ordering::SeqCst);
    tokio::time::sleep(TEN * 2).await;
    SYNC_OPEN.store(true, Ordering::SeqCst);
    tokio::time::sleep(TEN * 2).await;
    manager.stop_all().await;

    assert_eq!(SYNC_CHECKS.load(Ordering::SeqCst), 6);
    assert_eq!(SYNC_RUNS.load(Ordering::SeqCst), 4);
    assert_eq!(
        at(&logs, "sync-gated", "job_execute_start", start),
        secs(&[0, 10, 40, 50])
    );
    let skipped = logs.job_operation("sync-gated", "job_execute_skipped");
    assert_eq!(
        at(&logs, "sync-gated", "job_execute_skipped", start),
        secs(&[20, 30])
    );
    for (k, event) in (1u64..).zip(&skipped) {
        assert_eq!(event.level, tracing::Level::WARN);
        assert_eq!(event.str("reason"), "condition");
        assert_eq!(event.u64("skipped_count"), k);
    }
    let stats = manager.stats("sync-gated").unwrap();
    assert_eq!(stats.skipped_count, 2);
    assert_eq!(stats.execution_count, 4);
    // A skipped fire is not an execution: numbers have no gaps.
    let numbers: Vec<u64> = logs
        .job_operation("sync-gated", "job_execute_start")
        .iter()
        .map(|event| event.u64("execution_number"))
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn an_async_predicate_is_awaited_before_each_run() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let start = Instant::now();
    manager.start("async-gated").unwrap();

    // Each answer takes 2 s. Closed for the fires at 10 and 20 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    ASYNC_OPEN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(20)).await;
    ASYNC_OPEN.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(20)).await;
    manager.stop_all().await;

    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(
        at(&logs, "async-gated", "job_execute_start", start),
        secs(&[2, 32, 42])
    );
    assert_eq!(
        at(&logs, "async-gated", "job_execute_skipped", start),
        secs(&[12, 22])
    );
    assert!(logs
        .job_operation("async-gated", "job_execute_skipped")
        .iter()
        .all(|event| event.str("reason") == "condition"));
    assert_eq!(manager.stats("async-gated").unwrap().skipped_count, 2);
}

#[tokio::test(start_paused = true)]
async fn a_closure_condition_from_the_spec() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let open = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&open);
    let (job, mut runs) = recording(
        JobSpec::every("closure-gated", TEN).when(move || gate.load(Ordering::SeqCst)),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(runs.try_recv().is_err());
    open.store(true, Ordering::SeqCst);
    let run = next(&mut runs).await;
    // The grid is kept: the first run is at 30 s, and it is number 1.
    assert_eq!(
        (run.number, run.scheduled_at, run.started_at),
        (1, start + TEN * 3, start + TEN * 3)
    );
    manager.stop_all().await;
    assert_eq!(
        at(&logs, "closure-gated", "job_execute_skipped", start),
        secs(&[0, 10, 20])
    );
    assert_eq!(manager.stats("closure-gated").unwrap().skipped_count, 3);
}

#[tokio::test(start_paused = true)]
async fn an_async_closure_condition_and_a_triggered_run() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let open = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&open);
    let (job, mut runs) = recording(
        JobSpec::every("async-closure", Duration::from_secs(3600))
            .run_on_start(false)
            .when(move || {
                let gate = Arc::clone(&gate);
                async move { gate.load(Ordering::SeqCst) }
            }),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    // A trigger is checked too.
    tokio::time::sleep(TEN).await;
    manager.trigger("async-closure").unwrap();
    support::settle().await;
    assert!(runs.try_recv().is_err());
    open.store(true, Ordering::SeqCst);
    manager.trigger("async-closure").unwrap();
    assert_eq!(next(&mut runs).await.started_at, start + TEN);
    manager.stop_all().await;
    let skipped = logs.job_operation("async-closure", "job_execute_skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].str("reason"), "condition");
    assert_eq!(skipped[0].at, start + TEN);
}
