//! Runtime control on `JobManager`: `pause`/`resume` (a paused job keeps its
//! grid and skips its fires), `set_schedule` (from the next fire on, on a
//! started or a stopped job), and `next_runs` (a preview of the next fire
//! instants, wall clock).

mod support;

use std::time::{Duration, SystemTime};

use jobs_runtime::chrono::{DateTime, Utc};
use jobs_runtime::{Clock, Error, JobManager, JobSpec, Schedule};
use tokio::time::Instant;

use support::{next, recording, Logs};

const TEN: Duration = Duration::from_secs(10);
const HOUR: Duration = Duration::from_secs(3600);

/// A wall-clock time from RFC 3339 text.
fn wall(text: &str) -> SystemTime {
    text.parse::<DateTime<Utc>>().unwrap().into()
}

/// RFC 3339 texts of wall-clock times, for readable assertions.
fn texts(times: &[DateTime<Utc>]) -> Vec<String> {
    times
        .iter()
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}

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

// ---------------------------------------------------------------- pause

#[tokio::test(start_paused = true)]
async fn a_paused_job_keeps_its_grid_and_skips_its_fires() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(wall("2026-01-01T00:00:00Z")));
    let (job, mut runs) = recording(JobSpec::every("pausable", TEN), Duration::from_secs(1));
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert!(!manager.stats("pausable").unwrap().is_paused);

    tokio::time::sleep(Duration::from_secs(15)).await;
    manager.pause("pausable").unwrap();
    // Pausing twice changes nothing and logs once.
    manager.pause("pausable").unwrap();
    let stats = manager.stats("pausable").unwrap();
    assert!(stats.is_paused && stats.is_started);
    // The grid is kept while paused.
    assert_eq!(
        texts(&manager.next_runs("pausable", 2).unwrap()),
        ["2026-01-01T00:00:20Z", "2026-01-01T00:00:30Z"]
    );

    tokio::time::sleep(Duration::from_secs(20)).await;
    manager.resume("pausable").unwrap();
    manager.resume("pausable").unwrap();
    assert!(!manager.stats("pausable").unwrap().is_paused);
    tokio::time::sleep(Duration::from_secs(20)).await;
    manager.stop_all().await;

    let mut started = Vec::new();
    while let Ok(run) = runs.try_recv() {
        assert_eq!(run.scheduled_at, run.started_at);
        started.push((run.number, run.started_at - start));
    }
    assert_eq!(
        started,
        [(1, Duration::ZERO), (2, TEN), (3, TEN * 4), (4, TEN * 5)]
    );
    let skipped = logs.job_operation("pausable", "job_execute_skipped");
    assert_eq!(
        at(&logs, "pausable", "job_execute_skipped", start),
        secs(&[20, 30])
    );
    for (k, event) in (1u64..).zip(&skipped) {
        assert_eq!(event.str("reason"), "paused");
        assert_eq!(event.u64("skipped_count"), k);
    }
    assert_eq!(manager.stats("pausable").unwrap().skipped_count, 2);
    assert_eq!(at(&logs, "pausable", "job_paused", start), secs(&[15]));
    assert_eq!(at(&logs, "pausable", "job_resumed", start), secs(&[35]));
    let paused = &logs.job_operation("pausable", "job_paused")[0];
    assert_eq!(paused.field_names(), ["job_name", "message", "operation"]);
}

#[tokio::test(start_paused = true)]
async fn trigger_runs_a_paused_job() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("paused-trigger", HOUR).run_on_start(false),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    manager.pause("paused-trigger").unwrap();

    tokio::time::sleep(TEN).await;
    manager.trigger("paused-trigger").unwrap();
    let run = next(&mut runs).await;
    assert_eq!((run.number, run.started_at), (1, start + TEN));
    // The scheduled fire at 1 h is still skipped.
    tokio::time::sleep(HOUR).await;
    assert!(runs.try_recv().is_err());
    assert_eq!(
        at(&logs, "paused-trigger", "job_execute_skipped", start),
        [HOUR]
    );
    assert!(manager.stats("paused-trigger").unwrap().is_paused);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_paused_before_it_starts_starts_paused() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("paused-early", TEN), Duration::ZERO);
    manager.register(job);
    manager.pause("paused-early").unwrap();
    assert!(manager.stats("paused-early").unwrap().is_paused);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(runs.try_recv().is_err());
    manager.resume("paused-early").unwrap();
    assert_eq!(next(&mut runs).await.started_at, start + TEN * 2);
    manager.stop_all().await;
    assert_eq!(
        at(&logs, "paused-early", "job_execute_skipped", start),
        secs(&[0, 10])
    );

    assert!(matches!(
        manager.pause("ghost").unwrap_err(),
        Error::UnknownJob { name, .. } if name == "ghost"
    ));
    assert!(matches!(
        manager.resume("ghost").unwrap_err(),
        Error::UnknownJob { .. }
    ));
}

// ---------------------------------------------------------------- set_schedule

#[tokio::test(start_paused = true)]
async fn set_schedule_takes_effect_from_the_next_fire() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(wall("2026-01-01T00:00:00Z")));
    let (job, mut runs) = recording(JobSpec::every("retimed", TEN), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for _ in 0..3 {
        next(&mut runs).await;
    }

    tokio::time::sleep(Duration::from_secs(5)).await;
    // At 25 s: the fire at 30 s is replaced by one at 25 + 30 = 55 s.
    let slower = Schedule::Every(Duration::from_secs(30));
    manager.set_schedule("retimed", slower.clone()).unwrap();
    assert_eq!(
        manager.stats("retimed").unwrap().schedule,
        Some(slower.clone())
    );
    assert_eq!(
        texts(&manager.next_runs("retimed", 3).unwrap()),
        [
            "2026-01-01T00:00:55Z",
            "2026-01-01T00:01:25Z",
            "2026-01-01T00:01:55Z"
        ]
    );
    for expected in [55, 85, 115] {
        let run = next(&mut runs).await;
        assert_eq!(run.scheduled_at, start + Duration::from_secs(expected));
        assert_eq!(run.started_at, run.scheduled_at);
    }
    manager.stop_all().await;
    assert_eq!(
        at(&logs, "retimed", "job_execute_start", start),
        secs(&[0, 10, 20, 55, 85, 115])
    );
    let changed = logs.job_operation("retimed", "job_schedule_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].at, start + Duration::from_secs(25));
    assert_eq!(changed[0].str("schedule"), "every 30s");
}

#[tokio::test(start_paused = true)]
async fn set_schedule_to_a_shorter_interval_fires_before_the_old_fire() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("hurried", HOUR).run_on_start(false),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(TEN).await;

    // The timer sleeps towards the fire at one hour; the new one is due
    // a minute from now, long before.
    manager
        .set_schedule("hurried", Schedule::Every(Duration::from_secs(60)))
        .unwrap();
    let run = next(&mut runs).await;
    // The new grid counts from the wall clock's millisecond when it was
    // set, which a store keeps exactly.
    let due = start + Duration::from_secs(70);
    assert!(
        run.scheduled_at <= due && due - run.scheduled_at < Duration::from_millis(1),
        "{:?} for {due:?}",
        run.scheduled_at
    );
    // Tokio's timer, which drives a paused clock, wakes on whole
    // milliseconds.
    assert!(run.started_at - run.scheduled_at < Duration::from_millis(1));
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn set_schedule_to_cron_on_a_started_job() {
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(wall("2026-01-01T00:00:30Z")));
    let (job, mut runs) = recording(JobSpec::every("to-cron", HOUR), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut runs).await;

    let cron = Schedule::cron("0 * * * * *", "UTC").unwrap();
    manager.set_schedule("to-cron", cron).unwrap();
    assert_eq!(
        texts(&manager.next_runs("to-cron", 2).unwrap()),
        ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]
    );
    assert_eq!(
        next(&mut runs).await.started_at,
        start + Duration::from_secs(30)
    );
    assert_eq!(
        next(&mut runs).await.started_at,
        start + Duration::from_secs(90)
    );
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn set_schedule_on_a_stopped_job_is_used_at_its_next_start() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("later", HOUR), Duration::ZERO);
    manager.register(job);
    // Never started yet.
    manager
        .set_schedule("later", Schedule::Every(Duration::from_secs(5)))
        .unwrap();
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(
        manager.stats("later").unwrap().schedule,
        Some(Schedule::Every(Duration::from_secs(5)))
    );
    for expected in [0, 5, 10] {
        assert_eq!(
            next(&mut runs).await.started_at,
            start + Duration::from_secs(expected)
        );
    }
    manager.stop("later").await.unwrap();

    // Stopped: the new schedule waits for the restart, which it outlives.
    manager
        .set_schedule("later", Schedule::Every(Duration::from_secs(7)))
        .unwrap();
    tokio::time::sleep(HOUR).await;
    assert!(runs.try_recv().is_err());
    let restart = Instant::now();
    manager.start("later").unwrap();
    for expected in [0, 7, 14] {
        assert_eq!(
            next(&mut runs).await.started_at,
            restart + Duration::from_secs(expected)
        );
    }
    manager.stop_all().await;
    assert!(matches!(
        manager
            .set_schedule("ghost", Schedule::Every(TEN))
            .unwrap_err(),
        Error::UnknownJob { .. }
    ));
}

// ---------------------------------------------------------------- next_runs

#[tokio::test(start_paused = true)]
async fn next_runs_previews_the_exact_fire_instants() {
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(wall("2026-01-01T00:01:30Z")));
    let (interval, mut interval_runs) = recording(
        JobSpec::every("interval", TEN).run_on_start(false),
        Duration::ZERO,
    );
    let (cron, _) = recording(
        JobSpec::new(
            "five-minutes",
            Schedule::cron("0 */5 * * * *", "UTC").unwrap(),
        ),
        Duration::ZERO,
    );
    let (unscheduled, _) = recording(JobSpec::unscheduled("manual"), Duration::ZERO);
    manager.register(interval);
    manager.register(cron);
    manager.register(unscheduled);

    assert!(matches!(
        manager.next_runs("interval", 3).unwrap_err(),
        Error::NotStarted { name } if name == "interval"
    ));
    assert!(matches!(
        manager.next_runs("ghost", 3).unwrap_err(),
        Error::UnknownJob { .. }
    ));
    manager.start_all().unwrap();

    assert_eq!(
        texts(&manager.next_runs("interval", 3).unwrap()),
        [
            "2026-01-01T00:01:40Z",
            "2026-01-01T00:01:50Z",
            "2026-01-01T00:02:00Z"
        ]
    );
    assert_eq!(
        texts(&manager.next_runs("five-minutes", 3).unwrap()),
        [
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:15:00Z"
        ]
    );
    assert!(manager.next_runs("interval", 0).unwrap().is_empty());
    assert!(manager.next_runs("manual", 3).unwrap().is_empty());

    // After a fire, the preview moves on along the grid.
    next(&mut interval_runs).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        texts(&manager.next_runs("interval", 2).unwrap()),
        ["2026-01-01T00:01:50Z", "2026-01-01T00:02:00Z"]
    );
    manager.stop_all().await;
}
