//! Missed fires on tokio's paused clock: `tokio::time::advance` jumps over
//! several fires at once, as when the process was suspended. The default
//! `missed = "skip"` continues at the next grid point; `"run_once"` runs once
//! at once; both count (`missed_count`) and log (`job_execute_missed`) the
//! missed fires. A fire reached late, but within the misfire threshold, runs.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use jobs_runtime::{
    job, Clock, JobContext, JobManager, JobSpec, Missed, Schedule, DEFAULT_MISFIRE_THRESHOLD,
};
use serde_json::json;
use tokio::time::Instant;

use support::{next_soon as next, recording, rfc3339, settle, wall, wall_recording, Logs};

const TWO_MINUTES: Duration = Duration::from_secs(120);

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

#[tokio::test(start_paused = true)]
async fn skip_continues_at_the_next_grid_point() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("skipper", TWO_MINUTES), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.started_at, start);
    settle().await;

    // Suspended for 11.5 minutes: the fires due at 2, 4, 6, 8 and 10 minutes
    // are all past (the last by 90 s, over the threshold), so all five are
    // missed; the job goes on at 12 minutes.
    tokio::time::advance(secs(690)).await;
    settle().await;
    let stats = manager.stats("skipper").unwrap();
    assert_eq!(stats.missed_count, 5);
    assert_eq!(stats.execution_count, 1);
    let run = next(&mut runs).await;
    assert_eq!(run.number, 2);
    assert_eq!(run.scheduled_at, start + secs(720));
    assert_eq!(run.started_at, start + secs(720));
    let run = next(&mut runs).await;
    assert_eq!(run.started_at, start + secs(840));
    manager.stop_all().await;

    let missed = logs.job_operation("skipper", "job_execute_missed");
    assert_eq!(missed.len(), 1);
    let event = &missed[0];
    assert_eq!(event.at, start + secs(690));
    assert_eq!(event.level, tracing::Level::WARN);
    assert_eq!(event.str("job_name"), "skipper");
    assert_eq!(event.field("missed"), &json!(5));
    assert_eq!(event.field("missed_count"), &json!(5));
    assert_eq!(event.str("policy"), "skip");
    assert_eq!(manager.stats("skipper").unwrap().missed_count, 5);
}

#[tokio::test(start_paused = true)]
async fn run_once_runs_once_at_once_then_keeps_the_grid() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("catch-up", TWO_MINUTES).missed(Missed::RunOnce),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.started_at, start);
    settle().await;

    tokio::time::advance(secs(690)).await;
    // One run for the five missed fires, right away; it was due at the last
    // of them.
    let run = next(&mut runs).await;
    assert_eq!(run.number, 2);
    assert_eq!(run.started_at, start + secs(690));
    assert_eq!(run.scheduled_at, start + secs(600));
    let run = next(&mut runs).await;
    assert_eq!(run.number, 3);
    assert_eq!(run.started_at, start + secs(720));
    manager.stop_all().await;

    let stats = manager.stats("catch-up").unwrap();
    assert_eq!(stats.missed_count, 5);
    assert_eq!(stats.execution_count, 3);
    let missed = logs.job_operation("catch-up", "job_execute_missed");
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].field("missed"), &json!(5));
    assert_eq!(missed[0].field("missed_count"), &json!(5));
    assert_eq!(missed[0].str("policy"), "run_once");
}

#[tokio::test(start_paused = true)]
async fn catch_up_runs_the_latest_missed_fires_one_after_another_then_keeps_the_grid() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let work = secs(5);
    let (job, mut runs) = recording(
        JobSpec::every("catching", TWO_MINUTES).missed(Missed::CatchUp { limit: 3 }),
        work,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.started_at, start);
    settle().await;

    // Suspended for 11.5 minutes: the fires due at 2 to 10 minutes are
    // missed; the latest three run, oldest first, each once the one before
    // it has ended.
    tokio::time::advance(secs(690)).await;
    for (k, due) in [(0, 360), (1, 480), (2, 600)] {
        let run = next(&mut runs).await;
        assert_eq!(run.number, 2 + k);
        assert_eq!(run.scheduled_at, start + secs(due), "run {k}");
        assert_eq!(run.started_at, start + secs(690) + work * k as u32);
    }
    // Then the grid goes on.
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + secs(720));
    assert_eq!(run.started_at, start + secs(720));
    manager.stop_all().await;

    let stats = manager.stats("catching").unwrap();
    assert_eq!(stats.missed_count, 5);
    let missed = logs.job_operation("catching", "job_execute_missed");
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].field("missed"), &json!(5));
    assert_eq!(missed[0].str("policy"), "catch_up");
}

#[tokio::test(start_paused = true)]
async fn missed_fires_add_up_over_several_jumps() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("jumpy", secs(60)), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut runs).await;
    settle().await;
    // At 370 s, the fires at 60..=300 s are superseded by the one at 360 s,
    // which is 10 s late (within the threshold) and runs now.
    tokio::time::advance(secs(370)).await;
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + secs(360));
    assert_eq!(run.started_at, start + secs(370));
    assert_eq!(manager.stats("jumpy").unwrap().missed_count, 5);
    assert_eq!(next(&mut runs).await.started_at, start + secs(420));
    settle().await;
    // Fires at 480, 540 and 600 s are superseded by the one at 660 s, which
    // is 10 s late (within the threshold) and runs now.
    tokio::time::advance(secs(250)).await;
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + secs(660));
    assert_eq!(run.started_at, start + secs(670));
    manager.stop_all().await;
    assert_eq!(manager.stats("jumpy").unwrap().missed_count, 8);
}

#[tokio::test(start_paused = true)]
async fn a_fire_late_within_the_threshold_runs_late() {
    let manager = JobManager::new();
    manager.set_misfire_threshold(secs(5));
    let (job, mut runs) = recording(JobSpec::every("threshold", secs(60)), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut runs).await;
    settle().await;

    // The fire due at 60 s is reached 3 s late: within 5 s, so it runs now.
    tokio::time::advance(secs(63)).await;
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + secs(60));
    assert_eq!(run.started_at, start + secs(63));
    settle().await;
    assert_eq!(manager.stats("threshold").unwrap().missed_count, 0);

    // Exactly at the threshold still runs.
    tokio::time::advance(secs(62)).await;
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + secs(120));
    assert_eq!(run.started_at, start + secs(125));
    settle().await;
    assert_eq!(manager.stats("threshold").unwrap().missed_count, 0);

    // The fire due at 180 s is reached 6 s late: missed; the grid goes on.
    tokio::time::advance(secs(61)).await;
    settle().await;
    assert_eq!(manager.stats("threshold").unwrap().missed_count, 1);
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + secs(240));
    assert_eq!(run.started_at, start + secs(240));
    manager.stop_all().await;
    assert_eq!(manager.stats("threshold").unwrap().execution_count, 4);
}

#[tokio::test(start_paused = true)]
async fn the_default_threshold_applies_when_none_is_set() {
    let manager = JobManager::new();
    let interval = DEFAULT_MISFIRE_THRESHOLD * 10;
    let (job, mut runs) = recording(
        JobSpec::every("default-threshold", interval),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut runs).await;
    settle().await;
    tokio::time::advance(interval + DEFAULT_MISFIRE_THRESHOLD).await;
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + interval);
    assert_eq!(run.started_at, start + interval + DEFAULT_MISFIRE_THRESHOLD);
    settle().await;
    tokio::time::advance(interval - secs(1)).await;
    settle().await;
    // Now at 2·interval + threshold - 1 s: within the threshold.
    assert_eq!(next(&mut runs).await.scheduled_at, start + interval * 2);
    settle().await;
    tokio::time::advance(interval + secs(2)).await;
    settle().await;
    // The fire due at 3·interval is reached threshold + 1 s late: missed.
    let stats = manager.stats("default-threshold").unwrap();
    assert_eq!(stats.missed_count, 1);
    assert_eq!(stats.execution_count, 3);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn missed_cron_fires_are_counted_and_skipped() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let t0 = "2026-05-01T00:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(JobSpec::new(
        "cron-missed",
        Schedule::cron("@hourly", "UTC").unwrap(),
    ));
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    settle().await;
    // Suspended from 00:00 to 03:30: the fires at 01:00, 02:00 and 03:00
    // are missed; the next run is at 04:00.
    tokio::time::advance(secs(3 * 3600 + 1800)).await;
    settle().await;
    assert_eq!(manager.stats("cron-missed").unwrap().missed_count, 3);
    let run = next(&mut runs).await;
    assert_eq!(run.number, 1);
    assert_eq!(rfc3339(run.wall), "2026-05-01T04:00:00Z");
    assert_eq!(run.started_at, start + secs(4 * 3600));
    manager.stop_all().await;
    let missed = logs.job_operation("cron-missed", "job_execute_missed");
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].field("missed"), &json!(3));
    assert_eq!(missed[0].str("policy"), "skip");
}

#[tokio::test(start_paused = true)]
async fn missed_cron_fires_run_once_with_run_once() {
    let manager = JobManager::new();
    let t0 = "2026-05-01T00:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(
        JobSpec::new("cron-run-once", Schedule::cron("@hourly", "UTC").unwrap())
            .missed(Missed::RunOnce),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    settle().await;
    tokio::time::advance(secs(3 * 3600 + 1800)).await;
    let run = next(&mut runs).await;
    assert_eq!(rfc3339(run.wall), "2026-05-01T03:30:00Z");
    assert_eq!(run.started_at, start + secs(3 * 3600 + 1800));
    assert_eq!(run.scheduled_at, start + secs(3 * 3600));
    let run = next(&mut runs).await;
    assert_eq!(rfc3339(run.wall), "2026-05-01T04:00:00Z");
    manager.stop_all().await;
    let stats = manager.stats("cron-run-once").unwrap();
    assert_eq!(stats.missed_count, 3);
    assert_eq!(stats.execution_count, 2);
}

/// Start instants of [`catch_up_attr`].
static ATTR_RUNS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());

#[job(name = "missed-attr", every = "1m", missed = "run_once")]
async fn catch_up_attr(ctx: JobContext) {
    ATTR_RUNS
        .lock()
        .unwrap()
        .push((ctx.scheduled_at(), Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn the_attributes_missed_key_chooses_run_once() {
    let manager = JobManager::discover();
    manager.set_misfire_threshold(secs(1));
    let start = Instant::now();
    manager.start("missed-attr").unwrap();
    settle().await;
    tokio::time::advance(secs(200)).await;
    settle().await;
    tokio::time::sleep_until(start + secs(241)).await;
    manager.stop_all().await;
    let runs: Vec<(u64, u64)> = ATTR_RUNS
        .lock()
        .unwrap()
        .iter()
        .map(|(due, at)| ((*due - start).as_secs(), (*at - start).as_secs()))
        .collect();
    // At 0; the fires at 60, 120 and 180 s are missed and run once at 200 s
    // (due at 180 s); then 240 s.
    assert_eq!(runs, [(0, 0), (180, 200), (240, 240)]);
    assert_eq!(manager.stats("missed-attr").unwrap().missed_count, 3);
}
