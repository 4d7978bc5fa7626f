//! `JobStats`: counts, execution times, wall-clock times, the next run and the
//! last error.

mod support;

use std::time::{Duration, SystemTime};

use jobs_runtime::{JobContext, JobManager, JobSpec};
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_registered_job_starts_with_empty_stats() {
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("idle", MINUTE),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    let stats = manager.stats("idle").unwrap();
    assert_eq!(stats.name, "idle");
    assert_eq!(stats.execution_count, 0);
    assert_eq!(stats.error_count, 0);
    assert_eq!(stats.skipped_count, 0);
    assert_eq!(stats.average_execution_time, Duration::ZERO);
    assert_eq!(stats.last_execution_time, Duration::ZERO);
    assert_eq!(stats.min_execution_time, Duration::ZERO);
    assert_eq!(stats.max_execution_time, Duration::ZERO);
    assert!(!stats.is_started);
    assert!(!stats.is_running);
    assert_eq!(stats.last_started_at, None);
    assert_eq!(stats.last_finished_at, None);
    assert_eq!(stats.next_run_at, None);
    assert_eq!(stats.last_error, None);
    assert!(manager.stats("nope").is_none());
}

/// A job whose runs take 10 s, 30 s, 20 s, 20 s, ... and fail on run 2; it
/// reports each start on a channel.
fn timed_job() -> (impl jobs_runtime::Job, mpsc::UnboundedReceiver<u64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let job = job_fn(JobSpec::every("timed", MINUTE), move |ctx: JobContext| {
        let tx = tx.clone();
        async move {
            let number = ctx.execution_number();
            tx.send(number).unwrap();
            let seconds = match number {
                1 => 10,
                2 => 30,
                _ => 20,
            };
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            if number == 2 {
                return Err("run 2 failed".into());
            }
            Ok(())
        }
    });
    (job, rx)
}

#[tokio::test(start_paused = true)]
async fn counts_and_execution_times() {
    let manager = JobManager::new();
    let (job, mut starts) = timed_job();
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for _ in 0..3 {
        next(&mut starts).await;
    }
    // Run 3 ends at 2m20s.
    tokio::time::sleep_until(start + MINUTE * 2 + Duration::from_secs(25)).await;

    let stats = manager.stats("timed").unwrap();
    assert_eq!(stats.schedule, Some(jobs_runtime::Schedule::Every(MINUTE)));
    assert_eq!(stats.execution_count, 3);
    assert_eq!(stats.error_count, 1);
    assert_eq!(stats.skipped_count, 0);
    assert_eq!(stats.average_execution_time, Duration::from_secs(20));
    assert_eq!(stats.min_execution_time, Duration::from_secs(10));
    assert_eq!(stats.max_execution_time, Duration::from_secs(30));
    assert_eq!(stats.last_execution_time, Duration::from_secs(20));
    // The last failure stays, even after a success.
    assert_eq!(stats.last_error.as_deref(), Some("run 2 failed"));
    assert!(stats.is_started);
    assert!(!stats.is_running);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn is_running_and_wall_clock_times() {
    let manager = JobManager::new();
    let (job, mut starts) = timed_job();
    manager.register(job);
    let before_start = SystemTime::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut starts).await, 1);
    let running = manager.stats("timed").unwrap();
    assert!(running.is_running);
    assert!(running.is_started);
    let started_at = running.last_started_at.unwrap();
    assert!(before_start <= started_at && started_at <= SystemTime::now());
    assert_eq!(running.last_finished_at, None);
    assert_eq!(running.execution_count, 0);

    // Run 1 takes 10 s.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let finished = manager.stats("timed").unwrap();
    assert!(!finished.is_running);
    assert_eq!(finished.execution_count, 1);
    let finished_at = finished.last_finished_at.unwrap();
    assert!(started_at <= finished_at && finished_at <= SystemTime::now());
    assert_eq!(finished.last_started_at, Some(started_at));

    // Run 2 is running: last_started_at moves, last_finished_at does not.
    assert_eq!(next(&mut starts).await, 2);
    let second = manager.stats("timed").unwrap();
    assert!(second.is_running);
    assert!(second.last_started_at.unwrap() >= finished_at);
    assert_eq!(second.last_finished_at, Some(finished_at));
    manager.stop_all().await;
    assert!(!manager.stats("timed").unwrap().is_running);
}

#[tokio::test(start_paused = true)]
async fn next_run_at_is_the_next_fire_in_wall_clock_time() {
    let manager = JobManager::new();
    let interval = Duration::from_secs(600);
    let (job, mut runs) = support::recording(
        JobSpec::every("planned", interval).run_on_start(false),
        Duration::from_secs(30),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    support::settle().await;

    // Checks that next_run_at is `due`, converted to wall-clock time.
    let check = |due: Instant| {
        let remaining = due - Instant::now();
        let before = SystemTime::now();
        let next_run_at = manager.stats("planned").unwrap().next_run_at.unwrap();
        let after = SystemTime::now();
        assert!(
            before + remaining <= next_run_at && next_run_at <= after + remaining,
            "next_run_at is not {remaining:?} from now"
        );
    };
    check(start + interval);
    tokio::time::sleep(Duration::from_secs(100)).await;
    check(start + interval);

    next(&mut runs).await;
    // During run 1, the next fire is the one after it.
    tokio::time::sleep(Duration::from_secs(10)).await;
    check(start + interval * 2);
    next(&mut runs).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    check(start + interval * 3);

    manager.stop_all().await;
    let stopped = manager.stats("planned").unwrap();
    assert_eq!(stopped.next_run_at, None);
    assert!(!stopped.is_started);
}

#[tokio::test(start_paused = true)]
async fn all_stats_lists_every_job_in_registration_order() {
    let manager = JobManager::new();
    for name in ["zeta", "alpha", "mid"] {
        manager.register(job_fn(
            JobSpec::every(name, MINUTE),
            |_ctx: JobContext| async move { Ok(()) },
        ));
    }
    manager.start_all().unwrap();
    support::settle().await;
    let all = manager.all_stats();
    let names: Vec<_> = all.iter().map(|stats| stats.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    assert!(all.iter().all(|stats| stats.execution_count == 1));
    let alpha = manager.stats("alpha").unwrap();
    assert_eq!((alpha.name.as_str(), alpha.execution_count), ("alpha", 1));
    manager.stop_all().await;
}
