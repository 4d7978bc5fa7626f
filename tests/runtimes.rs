//! The runtime flavours: jobs run on the current-thread and the multi-thread
//! tokio runtime, and a manager can be built and started from inside a
//! spawned task. Starting outside a runtime is an error.

mod support;

use std::time::Duration;

use jobs_runtime::{Error, JobManager, JobSpec, Overlap, Schedule};
use tokio::time::Instant;

use support::{next, recording};

/// Starts a job every `interval` on a fresh manager, checks that its first
/// three runs fall on the grid, and stops it.
async fn three_runs_on_the_grid(interval: Duration) {
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("flavour", interval), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    let mut first = None;
    for k in 0..3u32 {
        let run = tokio::time::timeout(interval * 2 + Duration::from_secs(30), next(&mut runs))
            .await
            .expect("the job did not run");
        assert_eq!(run.number, u64::from(k) + 1);
        // The grid starts when `start_all` runs: at `start` on a paused clock,
        // a moment later on a real one.
        let first = *first.get_or_insert(run.scheduled_at);
        assert!(first >= start && first - start < Duration::from_secs(5));
        assert_eq!(run.scheduled_at, first + interval * k);
        assert!(run.started_at >= run.scheduled_at);
    }
    manager.stop_all().await;
    let stats = manager.stats("flavour").unwrap();
    assert!(!stats.is_started && !stats.is_running);
    assert_eq!(stats.execution_count, 3);
}

#[test]
fn a_hand_built_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(three_runs_on_the_grid(Duration::from_secs(120)));
}

#[tokio::test(start_paused = true)]
async fn built_and_started_inside_a_spawned_task_on_the_current_thread_runtime() {
    tokio::spawn(three_runs_on_the_grid(Duration::from_secs(120)))
        .await
        .unwrap();
}

// The multi-thread runtime cannot pause its clock: these use real time, with
// short intervals and generous bounds.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_thread_runtime() {
    three_runs_on_the_grid(Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_and_started_inside_a_spawned_task_on_the_multi_thread_runtime() {
    tokio::spawn(three_runs_on_the_grid(Duration::from_millis(50)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_from_another_task_on_the_multi_thread_runtime() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("long", Duration::from_secs(3600)),
        Duration::from_millis(200),
    );
    manager.register(job);
    tokio::spawn({
        let manager = manager.clone();
        async move { manager.start_all() }
    })
    .await
    .unwrap()
    .unwrap();
    tokio::time::timeout(Duration::from_secs(30), next(&mut runs))
        .await
        .unwrap();
    let stopper = tokio::spawn({
        let manager = manager.clone();
        async move { manager.stop_all().await }
    });
    tokio::time::timeout(Duration::from_secs(30), stopper)
        .await
        .unwrap()
        .unwrap();
    let stats = manager.stats("long").unwrap();
    assert!(!stats.is_running && !stats.is_started);
    assert_eq!((stats.execution_count, stats.error_count), (1, 0));
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let manager = JobManager::new();
    let (job, _runs) = recording(
        JobSpec::every("nowhere", Duration::from_secs(1)),
        Duration::ZERO,
    );
    manager.register(job);
    assert!(matches!(manager.start_all(), Err(Error::NoRuntime)));
    assert!(matches!(manager.start("nowhere"), Err(Error::NoRuntime)));
    assert!(!manager.stats("nowhere").unwrap().is_started);
}

#[test]
fn a_manager_built_outside_a_runtime_starts_inside_one() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("later", Duration::from_secs(60)),
        Duration::ZERO,
    );
    manager.register(job);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        manager.start_all().unwrap();
        assert_eq!(next(&mut runs).await.number, 1);
        manager.stop_all().await;
    });
}

/// A current-thread runtime on a paused clock, for tests that outlive one.
fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn jobs_started_on_a_second_runtime_run_after_the_first_was_dropped_with_jobs_started() {
    let manager = JobManager::new();
    let (first, mut first_runs) = recording(
        JobSpec::every("first", Duration::from_secs(60)),
        Duration::ZERO,
    );
    manager.register(first);
    let (second, mut second_runs) = recording(
        JobSpec::every("second", Duration::from_secs(60)),
        Duration::ZERO,
    );
    manager.register(second);

    let runtime = paused();
    runtime.block_on(async {
        manager.start("first").unwrap();
        assert_eq!(next(&mut first_runs).await.number, 1);
    });
    // Dropped while "first" is still started: its timer goes with it.
    drop(runtime);

    paused().block_on(async {
        manager.start("second").unwrap();
        let run = tokio::time::timeout(Duration::from_secs(600), next(&mut second_runs))
            .await
            .expect("a job started on the second runtime never ran");
        assert_eq!(run.number, 1);
    });
}

#[test]
fn a_run_started_after_its_runtime_was_dropped_does_not_hold_up_the_stop() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("orphaned", Duration::from_secs(60)),
        Duration::ZERO,
    );
    manager.register(job);
    let runtime = paused();
    runtime.block_on(async {
        manager.start_all().unwrap();
        assert_eq!(next(&mut runs).await.number, 1);
    });
    // Its runs were spawned on this runtime: the next one never runs.
    drop(runtime);

    paused().block_on(async {
        manager.trigger("orphaned").unwrap();
        tokio::time::timeout(Duration::from_secs(600), manager.stop_all())
            .await
            .expect("a run that never ran held up the stop");
        assert!(!manager.stats("orphaned").unwrap().is_running);
    });
}

// Real time: what is tested is that concurrent requests, fires and run ends
// on two worker threads neither deadlock nor lose a run's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_many_tasks_while_jobs_fire_on_the_multi_thread_runtime() {
    const JOBS: usize = 60;
    let manager = JobManager::new();
    let policies = [
        Overlap::Skip,
        Overlap::Queue,
        Overlap::Allow { max_concurrency: 3 },
        Overlap::Replace,
    ];
    let names: Vec<String> = (0..JOBS).map(|index| format!("busy-{index}")).collect();
    for (index, name) in names.iter().enumerate() {
        let spec = JobSpec::every(name.clone(), Duration::from_millis(5 + index as u64 % 7))
            .overlap(policies[index % policies.len()]);
        // Some runs outlast their interval, so every overlap policy acts.
        let (job, _runs) = recording(spec, Duration::from_millis(index as u64 % 11));
        manager.register(job);
    }
    manager.start_all().unwrap();

    let mut requesters = Vec::new();
    for worker in 0..4usize {
        let manager = manager.clone();
        let names = names.clone();
        requesters.push(tokio::spawn(async move {
            for round in 0..150usize {
                let name = &names[(worker * 31 + round * 7) % names.len()];
                match round % 6 {
                    // A skipping job refuses a trigger while it runs.
                    0 => drop(manager.trigger(name)),
                    1 => manager.pause(name).unwrap(),
                    2 => manager.resume(name).unwrap(),
                    3 => manager
                        .set_schedule(
                            name,
                            Schedule::Every(Duration::from_millis(3 + round as u64 % 5)),
                        )
                        .unwrap(),
                    4 => {
                        // Another requester may be stopping or starting it.
                        drop(manager.stop(name).await);
                        drop(manager.start(name));
                    }
                    _ => drop(manager.next_runs(name, 3)),
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    for requester in requesters {
        tokio::time::timeout(Duration::from_secs(60), requester)
            .await
            .expect("the requests hung")
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), manager.stop_all())
        .await
        .expect("stop_all hung");

    let mut executions = 0;
    for stats in manager.all_stats() {
        assert!(!stats.is_started && !stats.is_running, "{stats:?}");
        assert_eq!(stats.next_run_at, None);
        // Replaced runs end as failures only if they ignore their token;
        // these finish on time, so every execution succeeded.
        assert_eq!(stats.error_count, 0, "{stats:?}");
        executions += stats.execution_count;
    }
    assert!(executions > JOBS as u64, "only {executions} executions");
}
