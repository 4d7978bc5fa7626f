//! Runs that wait for slots or for their condition: they are in flight
//! (`trigger` and `is_running` agree with the scheduler), show in stats as
//! waiting, give up when the job stops, give their slots back while they
//! wait to retry, count as missed when slots made them late, and age in
//! the line for slots so no priority starves.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{Error, JobContext, JobManager, JobSpec, Missed, Priority};
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next, recording, settle, Logs, RunFuture};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A job that holds its slot until its token fires.
fn token_holder(name: &'static str) -> impl jobs_runtime::Job {
    job_fn(JobSpec::every(name, HOUR), |ctx: JobContext| -> RunFuture {
        Box::pin(async move {
            ctx.cancelled().await;
            Ok(())
        })
    })
}

/// A manager with one slot, held by `holder` until its token fires, and a
/// triggered run of `waiter` waiting for it; and the waiter's runs.
async fn waiting_behind_holder() -> (JobManager, mpsc::UnboundedReceiver<support::Run>) {
    let manager = JobManager::new();
    manager.set_available_slots(1);
    manager.register(token_holder("holder"));
    let (waiter, waiter_runs) = recording(JobSpec::unscheduled("waiter"), Duration::ZERO);
    manager.register(waiter);
    manager.start_all().unwrap();
    settle().await;
    manager.trigger("waiter").unwrap();
    settle().await;
    (manager, waiter_runs)
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_for_slots_never_starts_after_stop_all() {
    let (logs, _guard) = Logs::capture();
    let (manager, mut waiter_runs) = waiting_behind_holder().await;
    assert_eq!(manager.stats("waiter").unwrap().waiting_runs, 1);

    manager.stop_all().await;
    settle().await;
    assert!(
        waiter_runs.try_recv().is_err(),
        "the waiter's body ran after stop_all"
    );
    let stats = manager.stats("waiter").unwrap();
    assert_eq!(stats.execution_count, 0);
    assert_eq!(stats.skipped_count, 1);
    assert!(!stats.is_running);
    let skipped = logs.job_operation("waiter", "job_execute_skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].str("reason"), "cancelled");
    assert!(logs.job_operation("waiter", "job_execute_start").is_empty());
}

#[tokio::test(start_paused = true)]
async fn stopping_a_job_ends_its_wait_for_slots_at_once() {
    let (logs, _guard) = Logs::capture();
    let (manager, mut waiter_runs) = waiting_behind_holder().await;

    let stopped_at = Instant::now();
    manager.stop("waiter").await.unwrap();
    assert_eq!(Instant::now(), stopped_at, "the stop waited for the slot");
    settle().await;
    assert!(waiter_runs.try_recv().is_err());
    assert_eq!(
        logs.job_operation("waiter", "job_execute_skipped")[0].str("reason"),
        "cancelled"
    );
    assert!(manager.stats("holder").unwrap().is_running);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn trigger_is_refused_while_a_run_waits_for_slots_and_stats_show_the_wait() {
    let manager = JobManager::new();
    manager.set_available_slots(1);
    let (holder, _holder_runs) = recording(JobSpec::every("holder", HOUR), MINUTE);
    let (waiter, mut waiter_runs) = recording(JobSpec::unscheduled("waiter"), Duration::ZERO);
    manager.register(holder);
    manager.register(waiter);
    let start = Instant::now();
    manager.start_all().unwrap();
    settle().await;
    manager.trigger("waiter").unwrap();
    settle().await;
    assert!(matches!(
        manager.trigger("waiter"),
        Err(Error::AlreadyRunning { .. })
    ));
    tokio::time::sleep(10 * SECOND).await;
    let stats = manager.stats("waiter").unwrap();
    assert!(stats.is_running);
    assert_eq!(stats.waiting_runs, 1);
    assert_eq!(stats.current_wait, 10 * SECOND);

    let run = next(&mut waiter_runs).await;
    assert_eq!(run.started_at, start + MINUTE);
    settle().await;
    let stats = manager.stats("waiter").unwrap();
    assert!(!stats.is_running);
    assert_eq!(stats.waiting_runs, 0);
    assert_eq!(stats.current_wait, Duration::ZERO);
    assert_eq!(
        stats.skipped_count, 0,
        "the refused trigger is no skipped fire"
    );
    manager.trigger("waiter").unwrap();
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn trigger_is_refused_while_a_run_waits_for_its_condition() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::unscheduled("gated").when(|| async {
            tokio::time::sleep(MINUTE).await;
            true
        }),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    manager.trigger("gated").unwrap();
    settle().await;
    assert!(matches!(
        manager.trigger("gated"),
        Err(Error::AlreadyRunning { .. })
    ));
    tokio::time::sleep(20 * SECOND).await;
    let stats = manager.stats("gated").unwrap();
    assert!(stats.is_running);
    assert_eq!(stats.waiting_runs, 1);
    assert_eq!(stats.current_wait, 20 * SECOND);

    assert_eq!(next(&mut runs).await.started_at, start + MINUTE);
    settle().await;
    assert!(!manager.stats("gated").unwrap().is_running);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_waiting_to_retry_gives_its_slot_to_other_jobs() {
    let manager = JobManager::new();
    manager.set_available_slots(1);
    let (failed_tx, mut failed) = mpsc::unbounded_channel();
    let attempts = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&attempts);
    let flaky = job_fn(
        JobSpec::every("flaky", 24 * HOUR).retries(1).backoff(HOUR),
        move |ctx: JobContext| -> RunFuture {
            seen.fetch_add(1, Ordering::SeqCst);
            let failed_tx = failed_tx.clone();
            Box::pin(async move {
                if ctx.attempt() == 1 {
                    let _ = failed_tx.send(Instant::now());
                    return Err("first attempt fails".into());
                }
                Ok(())
            })
        },
    );
    let (other, mut other_runs) = recording(JobSpec::unscheduled("other"), MINUTE);
    manager.register(flaky);
    manager.register(other);
    manager.start_all().unwrap();
    let failed_at = next(&mut failed).await;
    settle().await;
    assert!(
        manager.stats("flaky").unwrap().is_running,
        "it waits to retry"
    );

    // The slot is free during the backoff.
    manager.trigger("other").unwrap();
    let run = next(&mut other_runs).await;
    assert_eq!(run.started_at, failed_at);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);

    // The retry takes the slot again, once the other run gave it back.
    while manager.stats("flaky").unwrap().is_running {
        tokio::time::sleep(SECOND).await;
    }
    let stats = manager.stats("flaky").unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.error_count, 0);
    assert!(stats.last_finished_at.is_some());
    let other = manager.stats("other").unwrap();
    assert_eq!(other.execution_count, 1);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn run_once_counts_and_logs_a_fire_made_late_by_busy_slots() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(1);
    let (holder, _holder_runs) = recording(
        JobSpec::every("holder", 58 * MINUTE).run_on_start(false),
        7 * MINUTE,
    );
    let (late, mut late_runs) = recording(
        JobSpec::every("late", HOUR)
            .run_on_start(false)
            .missed(Missed::RunOnce),
        Duration::ZERO,
    );
    manager.register(holder);
    manager.register(late);
    let start = Instant::now();
    manager.start_all().unwrap();

    // Due at 1 h, the slot is busy from 58 min to 1 h 5 min: 5 minutes late.
    tokio::time::sleep(HOUR - SECOND).await;
    let run = next(&mut late_runs).await;
    assert_eq!(run.scheduled_at, start + HOUR);
    assert_eq!(run.started_at, start + HOUR + 5 * MINUTE);
    let stats = manager.stats("late").unwrap();
    assert_eq!(stats.missed_count, 1);
    assert_eq!(stats.execution_count, 1);
    let missed = logs.job_operation("late", "job_execute_missed");
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].str("policy"), "run_once");
    assert_eq!(missed[0].u64("missed"), 1);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn low_priority_runs_are_served_under_sustained_high_priority_demand() {
    let manager = JobManager::new();
    manager.set_available_slots(1);
    // Late runs still run: this test is about the order of the line.
    manager.set_misfire_threshold(24 * HOUR);
    // Two high-priority jobs that each want the slot all the time.
    for name in ["high-a", "high-b"] {
        let (job, _runs) = recording(
            JobSpec::every(name, 2 * SECOND).priority(Priority::High),
            2 * SECOND,
        );
        manager.register(job);
    }
    let (low, mut low_runs) = recording(
        JobSpec::every("low", 10 * SECOND)
            .run_on_start(false)
            .priority(Priority::Low),
        SECOND,
    );
    manager.register(low);
    let start = Instant::now();
    manager.start_all().unwrap();

    // Waiting since its fire at 10 s, and shown in stats meanwhile.
    tokio::time::sleep(40 * SECOND).await;
    let stats = manager.stats("low").unwrap();
    assert_eq!(stats.waiting_runs, 1);
    assert_eq!(stats.current_wait, 30 * SECOND);
    assert!(stats.is_running);

    // A low run is served before every high run due more than 60 s (two
    // aging steps) after it: it waits at most those 60 s and the runs
    // already in line before it.
    let first = tokio::time::timeout(10 * MINUTE, next(&mut low_runs))
        .await
        .expect("the low-priority job never ran under high-priority demand");
    assert_eq!(first.scheduled_at, start + 10 * SECOND);
    let waited = first.started_at - first.scheduled_at;
    assert!(waited <= 60 * SECOND + 2 * 2 * SECOND, "waited {waited:?}");
    // And it keeps being served.
    for _ in 0..3 {
        let run = tokio::time::timeout(2 * MINUTE, next(&mut low_runs))
            .await
            .expect("the low-priority job starved");
        assert!(run.started_at - run.scheduled_at <= 64 * SECOND);
    }
    manager.stop_all().await;
}
