//! Jobs at the longest interval a schedule may have (100 years): the
//! arithmetic on instants never panics, the far fire waits, and the other
//! jobs keep firing. Longer intervals are refused (see `spec_checks.rs`).

mod support;

use std::time::Duration;

use jobs_runtime::{JobManager, JobSpec, Schedule};
use tokio::time::Instant;

use support::{next_within, recording};

const SECOND: Duration = Duration::from_secs(1);
const YEAR: Duration = Duration::from_secs(365 * 86_400);
const LONGEST: Duration = Schedule::MAX_INTERVAL;

#[tokio::test(start_paused = true)]
async fn the_longest_interval_with_run_on_start_runs_once_and_other_jobs_keep_firing() {
    let manager = JobManager::new();
    let (huge, mut huge_runs) = recording(JobSpec::every("huge", LONGEST), Duration::ZERO);
    let (steady, mut steady_runs) = recording(JobSpec::every("steady", SECOND), Duration::ZERO);
    manager.register(huge);
    manager.register(steady);
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next_within(&mut huge_runs, SECOND).await.started_at, start);
    for k in 0..5 {
        let run = next_within(&mut steady_runs, 2 * SECOND).await;
        assert_eq!(run.scheduled_at, start + SECOND * k);
    }
    assert!(huge_runs.try_recv().is_err());
    let stats = manager.stats("huge").unwrap();
    assert_eq!(stats.execution_count, 1);
    let next = stats.next_run_at.expect("the next fire is 100 years ahead");
    assert!(next > std::time::SystemTime::now() + 99 * YEAR);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn the_longest_interval_without_run_on_start_waits_its_interval() {
    let manager = JobManager::new();
    let (huge, mut huge_runs) = recording(
        JobSpec::new("huge", Schedule::Every(LONGEST)).run_on_start(false),
        Duration::ZERO,
    );
    let (steady, mut steady_runs) = recording(JobSpec::every("steady", SECOND), Duration::ZERO);
    manager.register(huge);
    manager.register(steady);
    manager.start_all().unwrap();
    for _ in 0..3 {
        next_within(&mut steady_runs, 2 * SECOND).await;
    }
    tokio::time::advance(99 * YEAR).await;
    next_within(&mut steady_runs, 2 * SECOND).await;
    assert!(huge_runs.try_recv().is_err());

    // Rescheduling to it again is no panic either.
    manager
        .set_schedule("huge", Schedule::Every(LONGEST))
        .unwrap();
    next_within(&mut steady_runs, 2 * SECOND).await;
    assert!(huge_runs.try_recv().is_err());
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn the_longest_fixed_delay_runs_once_and_the_runs_polled_with_it_run_too() {
    let manager = JobManager::new();
    let (huge, mut huge_runs) = recording(
        JobSpec::every("huge", LONGEST).fixed_delay(),
        Duration::ZERO,
    );
    let (steady, mut steady_runs) = recording(JobSpec::every("steady", SECOND), Duration::ZERO);
    manager.register(huge);
    manager.register(steady);
    let start = Instant::now();
    manager.start_all().unwrap();

    // Both are due at the start and polled in one batch; the slow-run check
    // compares the run with the huge interval.
    assert_eq!(next_within(&mut huge_runs, SECOND).await.started_at, start);
    for k in 0..3 {
        let run = next_within(&mut steady_runs, 2 * SECOND).await;
        assert_eq!(run.scheduled_at, start + SECOND * k);
    }
    let stats = manager.stats("huge").unwrap();
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.error_count, 0);
    assert!(!stats.is_running);
    manager.stop_all().await;
}
