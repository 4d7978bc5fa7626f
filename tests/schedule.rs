//! Fixed-rate scheduling on tokio's paused clock: exact fire instants, no
//! drift, `run_on_start`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs_runtime::{JobContext, JobManager, JobSpec};
use tokio::time::Instant;

use support::{job_fn, next, recording};

const TWO_MINUTES: Duration = Duration::from_secs(120);

#[tokio::test(start_paused = true)]
async fn ten_ticks_of_a_two_minute_job_fall_on_the_grid() {
    let real_start = std::time::Instant::now();
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("grid", TWO_MINUTES), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    for k in 0..10u32 {
        let run = next(&mut runs).await;
        assert_eq!(run.number, u64::from(k) + 1);
        assert_eq!(run.scheduled_at, start + TWO_MINUTES * k, "tick {k}");
        assert_eq!(run.started_at, run.scheduled_at, "tick {k} started late");
    }
    assert_eq!(Instant::now() - start, TWO_MINUTES * 9);
    manager.stop_all().await;

    assert_eq!(manager.stats("grid").unwrap().execution_count, 10);
    // Eighteen minutes of schedule, in (much) less than a few seconds.
    assert!(real_start.elapsed() < Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn runs_that_take_time_do_not_shift_the_grid() {
    let manager = JobManager::new();
    // Each run takes 50 s of a 2 min interval: a fixed-delay schedule would
    // fire at 0, 2m50s, 5m40s, ...
    let (job, mut runs) = recording(JobSpec::every("busy", TWO_MINUTES), Duration::from_secs(50));
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    for k in 0..10u32 {
        let run = next(&mut runs).await;
        assert_eq!(run.scheduled_at, start + TWO_MINUTES * k, "tick {k}");
        assert_eq!(run.started_at, start + TWO_MINUTES * k, "tick {k}");
    }
    manager.stop_all().await;
    let stats = manager.stats("busy").unwrap();
    assert_eq!(stats.skipped_count, 0);
    assert_eq!(stats.max_execution_time, Duration::from_secs(50));
}

#[tokio::test(start_paused = true)]
async fn a_late_wake_up_skips_the_missed_fires_and_keeps_the_grid() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("late", TWO_MINUTES), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.scheduled_at, start);

    // The clock jumps 5 minutes at once: the fire due at 2m is superseded by
    // the one due at 4m, so it is missed (the default policy skips it); the
    // one at 4m is a minute late, within the misfire threshold, so it runs
    // now; the grid goes on.
    tokio::time::advance(Duration::from_secs(300)).await;
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + TWO_MINUTES * 2);
    assert_eq!(run.started_at, start + Duration::from_secs(300));
    let stats = manager.stats("late").unwrap();
    assert_eq!(stats.missed_count, 1);
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + TWO_MINUTES * 3);
    assert_eq!(run.started_at, run.scheduled_at);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn run_on_start_false_waits_one_interval() {
    let manager = JobManager::new();
    let interval = Duration::from_secs(300);
    let (job, mut runs) = recording(
        JobSpec::every("waits", interval).run_on_start(false),
        Duration::ZERO,
    );
    manager.register(job);
    let (eager, mut eager_runs) = recording(JobSpec::every("eager", interval), Duration::ZERO);
    manager.register(eager);
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut eager_runs).await.started_at, start);
    let first = next(&mut runs).await;
    assert_eq!(first.number, 1);
    assert_eq!(first.scheduled_at, start + interval);
    assert_eq!(first.started_at, start + interval);
    let second = next(&mut runs).await;
    assert_eq!(second.scheduled_at, start + interval * 2);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn jobs_with_different_intervals_each_keep_their_own_grid() {
    let manager = JobManager::new();
    let (fast, mut fast_runs) = recording(
        JobSpec::every("fast", Duration::from_secs(7)),
        Duration::from_secs(3),
    );
    let (slow, mut slow_runs) = recording(
        JobSpec::every("slow", Duration::from_secs(60)),
        Duration::from_secs(45),
    );
    manager.register(fast);
    manager.register(slow);
    let start = Instant::now();
    manager.start_all().unwrap();

    for k in 0..20u32 {
        let run = next(&mut fast_runs).await;
        assert_eq!(run.started_at, start + Duration::from_secs(7) * k);
    }
    for k in 0..3u32 {
        let run = next(&mut slow_runs).await;
        assert_eq!(run.started_at, start + Duration::from_secs(60) * k);
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn jobs_due_at_the_same_instant_start_in_the_order_they_were_started() {
    let manager = JobManager::new();
    let order = Arc::new(Mutex::new(Vec::new()));
    let names: Vec<String> = (0..8).map(|index| format!("same-{index}")).collect();
    for name in &names {
        let order = Arc::clone(&order);
        // On the paused clock every grid starts at the same instant.
        manager.register(job_fn(
            JobSpec::every(name.clone(), TWO_MINUTES),
            move |ctx: JobContext| {
                order.lock().unwrap().push(ctx.job_name().to_owned());
                async { Ok(()) }
            },
        ));
    }
    manager.start_all().unwrap();
    tokio::time::sleep(TWO_MINUTES * 3 + Duration::from_secs(1)).await;
    manager.stop_all().await;

    let order = order.lock().unwrap();
    let rounds: Vec<&[String]> = order.chunks(names.len()).collect();
    assert_eq!(rounds.len(), 4);
    for round in rounds {
        assert_eq!(round, names.as_slice());
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_that_waits_does_not_hold_up_the_runs_due_with_it() {
    let manager = JobManager::new();
    // Started first, so it is handed out first among the jobs due together.
    let (slow, mut slow_runs) = recording(
        JobSpec::every("slow", TWO_MINUTES),
        Duration::from_secs(3600),
    );
    manager.register(slow);
    let mut quick_runs = Vec::new();
    for index in 0..40 {
        let (quick, runs) = recording(
            JobSpec::every(format!("quick-{index}"), TWO_MINUTES),
            Duration::ZERO,
        );
        manager.register(quick);
        quick_runs.push(runs);
    }
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut slow_runs).await.started_at, start);
    for runs in &mut quick_runs {
        assert_eq!(next(runs).await.started_at, start);
    }
    manager.abort_all().await;
}
