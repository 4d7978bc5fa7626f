//! Cron schedules on tokio's paused clock: a manager's wall clock starts at a
//! chosen time with `Clock::starting_at`, so each fire is asserted at its
//! exact wall time and tokio instant, through daylight-saving changes of
//! real zones.

mod support;

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use jobs_runtime::chrono::{DateTime, Utc};
use jobs_runtime::{job, Clock, Error, JobContext, JobManager, JobSpec, Schedule, ScheduleError};
use tokio::time::Instant;

use support::{next_soon as next, rfc3339, settle, wall, wall_recording, Logs, WallRun};

/// Starts a hand-written cron job on a manager whose wall clock reads
/// `clock_start` now; returns the manager, the job's runs and the tokio
/// instant of `clock_start`.
fn start_cron(
    name: &'static str,
    expression: &str,
    tz: &str,
    clock_start: &str,
) -> (
    JobManager,
    tokio::sync::mpsc::UnboundedReceiver<WallRun>,
    Instant,
) {
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(wall(clock_start)));
    let start = Instant::now();
    let schedule = Schedule::cron(expression, tz).unwrap();
    let (job, runs) = wall_recording(JobSpec::new(name, schedule));
    manager.register(job);
    manager.start_all().unwrap();
    (manager, runs, start)
}

/// Waits for the next run and checks its wall time, and that it started at
/// the tokio instant `start + (wall - clock_start)`, on time.
async fn expect_run(
    runs: &mut tokio::sync::mpsc::UnboundedReceiver<WallRun>,
    start: Instant,
    clock_start: &str,
    expected: &str,
) -> WallRun {
    let run = next(runs).await;
    assert_eq!(rfc3339(run.wall), expected);
    let offset = wall(expected).duration_since(wall(clock_start)).unwrap();
    assert_eq!(run.started_at, start + offset, "run at {expected}");
    assert_eq!(run.scheduled_at, run.started_at, "run at {expected}");
    run
}

#[tokio::test(start_paused = true)]
async fn a_six_field_expression_fires_on_its_seconds() {
    let t0 = "2026-01-01T00:00:07Z";
    let (manager, mut runs, start) = start_cron("six-fields", "*/10 * * * * *", "UTC", t0);
    for expected in [
        "2026-01-01T00:00:10Z",
        "2026-01-01T00:00:20Z",
        "2026-01-01T00:00:30Z",
    ] {
        expect_run(&mut runs, start, t0, expected).await;
    }
    manager.stop_all().await;
    assert_eq!(manager.stats("six-fields").unwrap().execution_count, 3);
}

#[tokio::test(start_paused = true)]
async fn a_five_field_expression_fires_on_whole_minutes_and_not_on_start() {
    let t0 = "2026-01-01T00:02:30Z";
    let (manager, mut runs, start) = start_cron("five-fields", "*/5 * * * *", "UTC", t0);
    let first = expect_run(&mut runs, start, t0, "2026-01-01T00:05:00Z").await;
    assert_eq!(first.number, 1, "a cron job does not run on start");
    expect_run(&mut runs, start, t0, "2026-01-01T00:10:00Z").await;
    expect_run(&mut runs, start, t0, "2026-01-01T00:15:00Z").await;
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn the_hourly_alias_fires_at_the_top_of_each_hour() {
    let t0 = "2026-06-01T10:59:59Z";
    let (manager, mut runs, start) = start_cron("hourly", "@hourly", "UTC", t0);
    expect_run(&mut runs, start, t0, "2026-06-01T11:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-06-01T12:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-06-01T13:00:00Z").await;
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_time_zone_shifts_the_fires() {
    // 09:00 in Tokyo (UTC+9, no daylight saving) is 00:00 UTC.
    let t0 = "2026-05-01T12:00:00Z";
    let (manager, mut runs, start) = start_cron("tokyo", "0 9 * * *", "Asia/Tokyo", t0);
    expect_run(&mut runs, start, t0, "2026-05-02T00:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-05-03T00:00:00Z").await;
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn berlin_spring_forward_runs_the_missing_time_once_at_three() {
    // On 2026-03-29 Berlin's clocks go from 02:00 CET straight to 03:00 CEST:
    // 02:30 does not exist that day, so the job runs once at 03:00 local
    // (01:00 UTC), then at 02:30 CEST (00:30 UTC) on the following days.
    let t0 = "2026-03-28T12:00:00Z";
    let (manager, mut runs, start) = start_cron("berlin-spring", "30 2 * * *", "Europe/Berlin", t0);
    // The day before, 02:30 CET is 01:30 UTC, already past at t0.
    expect_run(&mut runs, start, t0, "2026-03-29T01:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-03-30T00:30:00Z").await;
    expect_run(&mut runs, start, t0, "2026-03-31T00:30:00Z").await;
    manager.stop_all().await;
    let stats = manager.stats("berlin-spring").unwrap();
    assert_eq!(stats.execution_count, 3);
    assert_eq!(stats.missed_count, 0);
}

#[tokio::test(start_paused = true)]
async fn berlin_fall_back_runs_the_repeated_time_once() {
    // On 2026-10-25 Berlin's clocks go from 03:00 CEST back to 02:00 CET:
    // 02:30 happens twice (00:30 and 01:30 UTC); the job runs at the first.
    let t0 = "2026-10-24T12:00:00Z";
    let (manager, mut runs, start) = start_cron("berlin-fall", "30 2 * * *", "Europe/Berlin", t0);
    expect_run(&mut runs, start, t0, "2026-10-25T00:30:00Z").await;
    // Past the second 02:30 (01:30 UTC): no second run.
    tokio::time::sleep_until(start + Duration::from_secs(14 * 3600)).await;
    settle().await;
    assert!(runs.try_recv().is_err(), "the repeated 02:30 ran twice");
    assert_eq!(manager.stats("berlin-fall").unwrap().execution_count, 1);
    // The next day, 02:30 CET is 01:30 UTC.
    expect_run(&mut runs, start, t0, "2026-10-26T01:30:00Z").await;
    manager.stop_all().await;
    assert_eq!(manager.stats("berlin-fall").unwrap().execution_count, 2);
}

#[tokio::test(start_paused = true)]
async fn new_york_spring_forward_and_fall_back() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 runs at 03:00 EDT
    // (07:00 UTC); the next day 02:30 EDT is 06:30 UTC.
    let t0 = "2026-03-07T12:00:00Z";
    let (manager, mut runs, start) = start_cron("ny-spring", "30 2 * * *", "America/New_York", t0);
    expect_run(&mut runs, start, t0, "2026-03-08T07:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-03-09T06:30:00Z").await;
    manager.stop_all().await;

    // 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens at
    // 05:30 and 06:30 UTC; the job runs at the first only.
    let t0 = "2026-10-31T12:00:00Z";
    let (manager, mut runs, start) = start_cron("ny-fall", "30 1 * * *", "America/New_York", t0);
    expect_run(&mut runs, start, t0, "2026-11-01T05:30:00Z").await;
    expect_run(&mut runs, start, t0, "2026-11-02T06:30:00Z").await;
    manager.stop_all().await;
    assert_eq!(manager.stats("ny-fall").unwrap().execution_count, 2);
}

/// The wall times of [`kolkata_half_hours`]'s runs.
static KOLKATA_RUNS: Mutex<Vec<SystemTime>> = Mutex::new(Vec::new());

#[job(name = "kolkata-hours", cron = "0 0 * * * *", tz = "Asia/Kolkata")]
async fn kolkata_half_hours(ctx: JobContext) {
    KOLKATA_RUNS.lock().unwrap().push(ctx.started_at());
}

#[tokio::test(start_paused = true)]
async fn the_attribute_runs_a_cron_job_in_its_time_zone() {
    // Kolkata is UTC+5:30: the top of each local hour is half past in UTC.
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    manager.set_clock(Clock::starting_at(wall("2026-02-01T00:00:00Z")));
    let start = Instant::now();
    manager.start("kolkata-hours").unwrap();
    tokio::time::sleep_until(start + Duration::from_secs(2 * 3600 + 1)).await;
    manager.stop_all().await;
    let runs: Vec<String> = KOLKATA_RUNS
        .lock()
        .unwrap()
        .iter()
        .copied()
        .map(rfc3339)
        .collect();
    assert_eq!(runs, ["2026-02-01T00:30:00Z", "2026-02-01T01:30:00Z"]);

    let job_start = &logs.job_operation("kolkata-hours", "job_start")[0];
    assert_eq!(job_start.str("cron"), "0 0 * * * *");
    assert_eq!(job_start.str("tz"), "Asia/Kolkata");
    let stats = manager.stats("kolkata-hours").unwrap();
    assert_eq!(
        stats.schedule,
        Some(Schedule::cron("0 0 * * * *", "Asia/Kolkata").unwrap())
    );
}

#[test]
fn upcoming_previews_fires_without_a_manager() {
    let after: DateTime<Utc> = "2026-03-28T12:00:00Z".parse().unwrap();
    let berlin = Schedule::cron("30 2 * * *", "Europe/Berlin").unwrap();
    let fires: Vec<String> = berlin
        .upcoming(after, 3)
        .into_iter()
        .map(|t| rfc3339(t.into()))
        .collect();
    assert_eq!(
        fires,
        [
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z"
        ]
    );

    let fall_after: DateTime<Utc> = "2026-10-24T12:00:00Z".parse().unwrap();
    let fires: Vec<String> = berlin
        .upcoming(fall_after, 2)
        .into_iter()
        .map(|t| rfc3339(t.into()))
        .collect();
    assert_eq!(fires, ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]);

    // Strictly after: a fire at `after` itself is not included.
    let hourly = Schedule::cron("@hourly", "UTC").unwrap();
    let on_the_hour: DateTime<Utc> = "2026-01-01T05:00:00Z".parse().unwrap();
    let fires: Vec<String> = hourly
        .upcoming(on_the_hour, 2)
        .into_iter()
        .map(|t| rfc3339(t.into()))
        .collect();
    assert_eq!(fires, ["2026-01-01T06:00:00Z", "2026-01-01T07:00:00Z"]);
    assert!(hourly.upcoming(on_the_hour, 0).is_empty());

    let every = Schedule::Every(Duration::from_secs(90));
    let fires: Vec<String> = every
        .upcoming(on_the_hour, 2)
        .into_iter()
        .map(|t| rfc3339(t.into()))
        .collect();
    assert_eq!(fires, ["2026-01-01T05:01:30Z", "2026-01-01T05:03:00Z"]);
}

#[test]
fn schedules_parse_from_text() {
    assert_eq!(
        "*/15 * * * *".parse::<Schedule>().unwrap(),
        Schedule::cron("*/15 * * * *", "UTC").unwrap()
    );
    assert_eq!(
        "0 */5 * * * *".parse::<Schedule>().unwrap(),
        Schedule::cron("0 */5 * * * *", "UTC").unwrap()
    );
    assert_eq!(
        "@daily".parse::<Schedule>().unwrap(),
        Schedule::cron("@daily", "UTC").unwrap()
    );
    assert_eq!(
        "5m".parse::<Schedule>().unwrap(),
        Schedule::Every(Duration::from_secs(300))
    );
    let weekly: Schedule = "@weekly".parse().unwrap();
    let after: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap(); // a Thursday
    assert_eq!(
        rfc3339(weekly.upcoming(after, 1)[0].into()),
        "2026-01-04T00:00:00Z"
    );
    let Schedule::Cron(cron) = Schedule::cron("0 9 * * MON-FRI", "Europe/Berlin").unwrap() else {
        panic!("not a cron schedule");
    };
    assert_eq!(cron.expression(), "0 9 * * MON-FRI");
    assert_eq!(cron.time_zone(), "Europe/Berlin");

    assert!(matches!(
        "61 * * * *".parse::<Schedule>(),
        Err(ScheduleError::Cron(_))
    ));
    assert!(matches!(
        "* * *".parse::<Schedule>(),
        Err(ScheduleError::Cron(_))
    ));
    assert!(matches!(
        Schedule::cron("@hourly", "Europe/Atlantis"),
        Err(ScheduleError::TimeZone(_))
    ));
    assert!(matches!(
        "soon".parse::<Schedule>(),
        Err(ScheduleError::Interval(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn next_runs_previews_a_started_cron_job() {
    let t0 = "2026-03-28T12:00:00Z";
    let (manager, mut runs, start) = start_cron("preview", "30 2 * * *", "Europe/Berlin", t0);
    settle().await;
    let preview: Vec<String> = manager
        .next_runs("preview", 3)
        .unwrap()
        .into_iter()
        .map(|t| rfc3339(t.into()))
        .collect();
    assert_eq!(
        preview,
        [
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z"
        ]
    );
    assert!(manager.next_runs("preview", 0).unwrap().is_empty());
    let stats = manager.stats("preview").unwrap();
    assert_eq!(
        stats.next_run_at.map(rfc3339).as_deref(),
        Some("2026-03-29T01:00:00Z"),
        "next_run_at reads the manager's clock"
    );

    expect_run(&mut runs, start, t0, "2026-03-29T01:00:00Z").await;
    settle().await;
    let preview: Vec<String> = manager
        .next_runs("preview", 2)
        .unwrap()
        .into_iter()
        .map(|t| rfc3339(t.into()))
        .collect();
    assert_eq!(preview, ["2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"]);
    manager.stop_all().await;
    assert!(matches!(
        manager.next_runs("preview", 2),
        Err(Error::NotStarted { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn the_env_key_of_a_cron_job_takes_a_cron_expression_in_its_zone() {
    std::env::set_var("JOBS_TEST_CRON_ENV_OVERRIDE", "0 6 * * *");
    let manager = JobManager::new();
    let t0 = "2026-01-10T00:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let start = Instant::now();
    let (job, mut runs) = wall_recording(
        JobSpec::new(
            "cron-env",
            Schedule::cron("0 0 1 1 *", "Europe/Berlin").unwrap(),
        )
        .env("JOBS_TEST_CRON_ENV_OVERRIDE"),
    );
    manager.register(job);
    manager.start_all().unwrap();
    // 06:00 in Berlin (CET, UTC+1) each day, not once a year.
    expect_run(&mut runs, start, t0, "2026-01-10T05:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-01-11T05:00:00Z").await;
    manager.stop_all().await;
    assert_eq!(
        manager.stats("cron-env").unwrap().schedule,
        Some(Schedule::cron("0 6 * * *", "Europe/Berlin").unwrap())
    );
}

/// Runs of [`cron_env_attr`].
static CRON_ENV_ATTR_RUNS: Mutex<Vec<SystemTime>> = Mutex::new(Vec::new());

#[job(
    name = "cron-env-attr",
    cron = "0 0 1 1 *",
    tz = "America/New_York",
    env = "JOBS_TEST_CRON_ENV_ATTR"
)]
async fn cron_env_attr(ctx: JobContext) {
    CRON_ENV_ATTR_RUNS.lock().unwrap().push(ctx.started_at());
}

#[tokio::test(start_paused = true)]
async fn the_attributes_env_key_overrides_its_cron() {
    std::env::set_var("JOBS_TEST_CRON_ENV_ATTR", "0 */30 * * * *");
    let manager = JobManager::discover();
    manager.set_clock(Clock::starting_at(wall("2026-07-04T10:10:00Z")));
    let start = Instant::now();
    manager.start("cron-env-attr").unwrap();
    tokio::time::sleep_until(start + Duration::from_secs(3600)).await;
    manager.stop_all().await;
    let runs: Vec<String> = CRON_ENV_ATTR_RUNS
        .lock()
        .unwrap()
        .iter()
        .copied()
        .map(rfc3339)
        .collect();
    assert_eq!(runs, ["2026-07-04T10:30:00Z", "2026-07-04T11:00:00Z"]);
}

#[tokio::test(start_paused = true)]
async fn an_interval_in_a_cron_jobs_env_key_stops_start_up() {
    let (logs, _guard) = Logs::capture();
    std::env::set_var("JOBS_TEST_CRON_ENV_BAD", "5m");
    let manager = JobManager::new();
    let (job, _runs) = wall_recording(
        JobSpec::new("cron-env-bad", Schedule::cron("@hourly", "UTC").unwrap())
            .env("JOBS_TEST_CRON_ENV_BAD"),
    );
    manager.register(job);
    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("JOBS_TEST_CRON_ENV_BAD"), "{message}");
    assert!(message.contains("\"5m\""), "{message}");
    let Error::InvalidEnv {
        job,
        variable,
        value,
        ..
    } = error
    else {
        panic!("unexpected error: {error:?}");
    };
    assert_eq!(
        (job.as_str(), variable.as_str(), value.as_str()),
        ("cron-env-bad", "JOBS_TEST_CRON_ENV_BAD", "5m")
    );
    assert!(logs.events().is_empty(), "{:?}", logs.events());
    assert!(!manager.stats("cron-env-bad").unwrap().is_started);
}

#[tokio::test(start_paused = true)]
async fn a_list_of_times_in_the_spring_gap_runs_once_after_it() {
    // 02:00 and 02:30 do not exist in Berlin on 2026-03-29: one run at
    // 03:00 CEST (01:00 UTC), then both times on the next day.
    let t0 = "2026-03-28T23:00:00Z";
    let (manager, mut runs, start) = start_cron("berlin-list", "0,30 2 * * *", "Europe/Berlin", t0);
    expect_run(&mut runs, start, t0, "2026-03-29T01:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-03-30T00:00:00Z").await;
    expect_run(&mut runs, start, t0, "2026-03-30T00:30:00Z").await;
    manager.stop_all().await;
    assert_eq!(manager.stats("berlin-list").unwrap().execution_count, 3);
}

#[tokio::test(start_paused = true)]
async fn a_range_of_hours_runs_the_repeated_hour_once() {
    // Berlin repeats 02:00-03:00 on 2026-10-25: 02:00 runs at its first
    // occurrence (00:00 UTC) only, then 03:00 CET (02:00 UTC).
    let t0 = "2026-10-24T21:30:00Z";
    let (manager, mut runs, start) = start_cron("berlin-range", "0 0-3 * * *", "Europe/Berlin", t0);
    for expected in [
        "2026-10-24T22:00:00Z",
        "2026-10-24T23:00:00Z",
        "2026-10-25T00:00:00Z",
        "2026-10-25T02:00:00Z",
        "2026-10-25T23:00:00Z",
    ] {
        expect_run(&mut runs, start, t0, expected).await;
    }
    manager.stop_all().await;
    assert_eq!(manager.stats("berlin-range").unwrap().execution_count, 5);
}
