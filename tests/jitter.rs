//! Jitter on tokio's paused clock: each fire is offset by a uniform random
//! amount in `[0, jitter)` from its grid point, and the grid itself does not
//! drift.

mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use jobs_runtime::{job, Clock, JobContext, JobManager, JobSpec, Schedule};
use tokio::time::Instant;

use support::{next_soon as next, recording, wall, wall_recording};

const MINUTE: Duration = Duration::from_secs(60);
const JITTER: Duration = Duration::from_secs(10);

/// Checks that each of `fires` (tokio instants) is within
/// `[grid(k), grid(k) + jitter)` and that the offsets are not all equal.
fn check_offsets(fires: &[Instant], grid: impl Fn(u32) -> Instant, jitter: Duration) {
    let mut offsets = BTreeSet::new();
    for (k, fire) in fires.iter().enumerate() {
        let point = grid(k as u32);
        assert!(
            *fire >= point && *fire < point + jitter,
            "fire {k} at {:?} is outside [{point:?}, +{jitter:?})",
            fire
        );
        offsets.insert(*fire - point);
    }
    assert!(
        offsets.len() > 1,
        "every fire had the same offset: {offsets:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_fire_is_within_its_grid_point_and_the_jitter() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("jittered", MINUTE).jitter(JITTER),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    let mut fires = Vec::new();
    for k in 0..20u64 {
        let run = next(&mut runs).await;
        assert_eq!(run.number, k + 1);
        // The job is due at its jittered instant and starts then (tokio's
        // timers have a resolution of one millisecond).
        assert!(
            run.started_at - run.scheduled_at < Duration::from_millis(1),
            "fire {k}"
        );
        fires.push(run.scheduled_at);
    }
    manager.stop_all().await;
    check_offsets(&fires, |k| start + MINUTE * k, JITTER);
    let stats = manager.stats("jittered").unwrap();
    assert_eq!(stats.missed_count, 0);
    assert_eq!(stats.skipped_count, 0);
}

#[tokio::test(start_paused = true)]
async fn jitter_never_accumulates_into_drift() {
    let manager = JobManager::new();
    // A jitter of almost the whole interval: still, fire k stays in
    // [k·interval, k·interval + jitter), even after 200 fires.
    let interval = Duration::from_secs(5);
    let jitter = Duration::from_millis(4_900);
    let (job, mut runs) = recording(
        JobSpec::every("no-drift", interval)
            .jitter(jitter)
            .run_on_start(false),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    let mut fires = Vec::new();
    for _ in 0..200 {
        fires.push(next(&mut runs).await.scheduled_at);
    }
    manager.stop_all().await;
    check_offsets(&fires, |k| start + interval * (k + 1), jitter);
}

#[tokio::test(start_paused = true)]
async fn next_run_at_shows_the_jittered_fire() {
    let manager = JobManager::new();
    let t0 = wall("2026-01-01T00:00:00Z");
    manager.set_clock(Clock::starting_at(t0));
    let (job, mut runs) = recording(
        JobSpec::every("jitter-next", MINUTE)
            .jitter(JITTER)
            .run_on_start(false),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    support::settle().await;
    let announced = manager.stats("jitter-next").unwrap().next_run_at.unwrap();
    let announced = announced.duration_since(t0).unwrap();
    assert!(
        announced >= MINUTE && announced < MINUTE + JITTER,
        "{announced:?}"
    );
    let run = next(&mut runs).await;
    assert_eq!(run.scheduled_at, start + announced);
    assert!(run.started_at - run.scheduled_at < Duration::from_millis(1));
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_cron_job_fires_within_the_jitter_after_each_match() {
    let manager = JobManager::new();
    let t0 = "2026-04-01T00:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(
        JobSpec::new(
            "cron-jitter",
            Schedule::cron("*/5 * * * *", "Europe/Berlin").unwrap(),
        )
        .jitter(Duration::from_secs(30)),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    let mut fires = Vec::new();
    for k in 1..=12u32 {
        let run = next(&mut runs).await;
        let grid = wall(t0) + Duration::from_secs(300) * k;
        let offset = run
            .wall
            .duration_since(grid)
            .unwrap_or_else(|_| panic!("fire {k} came before its grid point"));
        assert!(offset < Duration::from_secs(30), "fire {k}: {offset:?}");
        assert!(run.started_at - run.scheduled_at < Duration::from_millis(1));
        fires.push(run.scheduled_at);
    }
    manager.stop_all().await;
    check_offsets(
        &fires,
        |k| start + Duration::from_secs(300) * (k + 1),
        Duration::from_secs(30),
    );
}

/// Start instants of [`jittered_attr`].
static ATTR_RUNS: Mutex<Vec<(Instant, SystemTime)>> = Mutex::new(Vec::new());

#[job(name = "jitter-attr", every = "1m", jitter = "10s")]
async fn jittered_attr(ctx: JobContext) {
    ATTR_RUNS
        .lock()
        .unwrap()
        .push((ctx.scheduled_at(), ctx.started_at()));
}

#[tokio::test(start_paused = true)]
async fn the_attributes_jitter_offsets_each_fire() {
    let manager = JobManager::discover();
    let start = Instant::now();
    manager.start("jitter-attr").unwrap();
    tokio::time::sleep(MINUTE * 10 - Duration::from_secs(1)).await;
    manager.stop_all().await;
    let fires: Vec<Instant> = ATTR_RUNS.lock().unwrap().iter().map(|run| run.0).collect();
    assert_eq!(fires.len(), 10, "{fires:?}");
    check_offsets(&fires, |k| start + MINUTE * k, JITTER);
}
