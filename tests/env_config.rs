//! Configuration without code: `JOBS_<NAME>_EVERY`, `JOBS_<NAME>_CRON`,
//! `JOBS_<NAME>_TZ` and `JOBS_<NAME>_ENABLED` (the name upper-cased, `-` and
//! other non-alphanumerics as `_`), over the job's own `env` key; invalid
//! values stop start-up with an error naming the variable and the value.
//!
//! Environment variables are process-global and tests run in parallel, so
//! every test uses job names (and so variables) of its own.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jobs_runtime::{job, Clock, Error, JobContext, JobManager, JobSpec, Schedule};
use serde_json::json;
use tokio::time::Instant;

use support::{job_fn, next_soon as next, recording, rfc3339, settle, wall, wall_recording, Logs};

fn set(variable: &str, value: &str) {
    std::env::set_var(variable, value);
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn every_replaces_the_interval() {
    let (logs, _guard) = Logs::capture();
    set("JOBS_ENVCFG_EVERY_EVERY", "90s");
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("envcfg-every", HOUR), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for k in 0..3u32 {
        assert_eq!(
            next(&mut runs).await.started_at,
            start + Duration::from_secs(90) * k
        );
    }
    manager.stop_all().await;
    let job_start = &logs.job_operation("envcfg-every", "job_start")[0];
    assert_eq!(job_start.field("interval_ms"), &json!(90_000));
    assert_eq!(
        manager.stats("envcfg-every").unwrap().schedule,
        Some(Schedule::Every(Duration::from_secs(90)))
    );
}

#[tokio::test(start_paused = true)]
async fn the_name_is_upper_cased_with_underscores() {
    set("JOBS_ENVCFG_MIXED_CASE_V2_EVERY", "250");
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("envcfg-Mixed.case-v2", HOUR), Duration::ZERO);
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for k in 0..3u32 {
        assert_eq!(
            next(&mut runs).await.started_at,
            start + Duration::from_millis(250) * k
        );
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn cron_turns_an_interval_job_into_a_cron_job() {
    let (logs, _guard) = Logs::capture();
    set("JOBS_ENVCFG_TO_CRON_CRON", "0 */15 * * * *");
    let manager = JobManager::new();
    let t0 = "2026-02-02T08:05:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(JobSpec::every("envcfg-to-cron", HOUR));
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    // A cron job fires at its matching times only, not on start.
    for (k, expected) in ["2026-02-02T08:15:00Z", "2026-02-02T08:30:00Z"]
        .into_iter()
        .enumerate()
    {
        let run = next(&mut runs).await;
        assert_eq!(run.number, k as u64 + 1);
        assert_eq!(rfc3339(run.wall), expected);
        assert_eq!(
            run.started_at,
            start + wall(expected).duration_since(wall(t0)).unwrap()
        );
    }
    manager.stop_all().await;
    let job_start = &logs.job_operation("envcfg-to-cron", "job_start")[0];
    assert_eq!(job_start.str("cron"), "0 */15 * * * *");
    assert_eq!(job_start.str("tz"), "UTC");
}

#[tokio::test(start_paused = true)]
async fn every_turns_a_cron_job_into_an_interval_job() {
    set("JOBS_ENVCFG_TO_EVERY_EVERY", "10m");
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(wall("2026-02-02T08:05:00Z")));
    let (job, mut runs) = recording(
        JobSpec::new(
            "envcfg-to-every",
            Schedule::cron("0 0 1 1 *", "UTC").unwrap(),
        ),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    // An interval job runs on start, then on its grid.
    for k in 0..3u32 {
        assert_eq!(
            next(&mut runs).await.started_at,
            start + Duration::from_secs(600) * k
        );
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn tz_sets_the_zone_of_the_cron_variable() {
    set("JOBS_ENVCFG_CRON_TZ_CRON", "30 2 * * *");
    set("JOBS_ENVCFG_CRON_TZ_TZ", "Europe/Berlin");
    let manager = JobManager::new();
    let t0 = "2026-03-28T12:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(JobSpec::every("envcfg-cron-tz", HOUR));
    manager.register(job);
    manager.start_all().unwrap();
    // Berlin's spring forward: 02:30 runs at 03:00 CEST (01:00 UTC).
    assert_eq!(rfc3339(next(&mut runs).await.wall), "2026-03-29T01:00:00Z");
    assert_eq!(rfc3339(next(&mut runs).await.wall), "2026-03-30T00:30:00Z");
    manager.stop_all().await;
    assert_eq!(
        manager.stats("envcfg-cron-tz").unwrap().schedule,
        Some(Schedule::cron("30 2 * * *", "Europe/Berlin").unwrap())
    );
}

#[tokio::test(start_paused = true)]
async fn tz_alone_moves_a_cron_job_to_another_zone() {
    set("JOBS_ENVCFG_TZ_ONLY_TZ", "Asia/Tokyo");
    let manager = JobManager::new();
    let t0 = "2026-06-01T12:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(JobSpec::new(
        "envcfg-tz-only",
        Schedule::cron("0 9 * * *", "Europe/London").unwrap(),
    ));
    manager.register(job);
    manager.start_all().unwrap();
    // 09:00 in Tokyo is 00:00 UTC (in London it would be 08:00 UTC).
    assert_eq!(rfc3339(next(&mut runs).await.wall), "2026-06-02T00:00:00Z");
    manager.stop_all().await;
    assert_eq!(
        manager.stats("envcfg-tz-only").unwrap().schedule,
        Some(Schedule::cron("0 9 * * *", "Asia/Tokyo").unwrap())
    );
}

#[tokio::test(start_paused = true)]
async fn enabled_false_keeps_the_job_from_starting() {
    let (logs, _guard) = Logs::capture();
    set("JOBS_ENVCFG_OFF_ENABLED", "false");
    let manager = JobManager::new();
    let (off, mut off_runs) = recording(
        JobSpec::every("envcfg-off", Duration::from_secs(10)),
        Duration::ZERO,
    );
    let (on, mut on_runs) = recording(
        JobSpec::every("envcfg-on", Duration::from_secs(10)),
        Duration::ZERO,
    );
    manager.register(off);
    manager.register(on);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut on_runs).await.started_at, start);
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    assert!(off_runs.try_recv().is_err(), "the disabled job ran");
    let stats = manager.stats("envcfg-off").unwrap();
    assert!(!stats.is_started);
    assert_eq!(stats.execution_count, 0);
    assert!(manager.stats("envcfg-on").unwrap().is_started);

    let disabled = logs.job_operation("envcfg-off", "job_disabled");
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].str("variable"), "JOBS_ENVCFG_OFF_ENABLED");
    assert_eq!(disabled[0].at, start);
    assert!(logs.job_operation("envcfg-off", "job_start").is_empty());
    assert!(matches!(
        manager.next_runs("envcfg-off", 1),
        Err(Error::NotStarted { .. })
    ));
    manager.stop_all().await;
    assert!(logs.job_operation("envcfg-off", "job_stop").is_empty());
}

#[tokio::test(start_paused = true)]
async fn enabled_true_and_its_synonyms_start_the_job() {
    for (name, variable, value) in [
        ("envcfg-true", "JOBS_ENVCFG_TRUE_ENABLED", "true"),
        ("envcfg-one", "JOBS_ENVCFG_ONE_ENABLED", "1"),
        ("envcfg-yes", "JOBS_ENVCFG_YES_ENABLED", "YES"),
    ] {
        set(variable, value);
        let manager = JobManager::new();
        let (job, mut runs) = recording(JobSpec::every(name, HOUR), Duration::ZERO);
        manager.register(job);
        manager.start(name).unwrap();
        assert_eq!(next(&mut runs).await.number, 1, "{name}");
        manager.stop_all().await;
    }
    for (name, variable, value) in [
        ("envcfg-zero", "JOBS_ENVCFG_ZERO_ENABLED", "0"),
        ("envcfg-no", "JOBS_ENVCFG_NO_ENABLED", "no"),
        ("envcfg-off-word", "JOBS_ENVCFG_OFF_WORD_ENABLED", "Off"),
    ] {
        set(variable, value);
        let manager = JobManager::new();
        let (job, _runs) = recording(JobSpec::every(name, HOUR), Duration::ZERO);
        manager.register(job);
        manager.start(name).unwrap();
        assert!(!manager.stats(name).unwrap().is_started, "{name}");
    }
}

/// Runs of [`disabled_attr`].
static DISABLED_ATTR_RUNS: AtomicU64 = AtomicU64::new(0);

#[job(name = "envcfg-attr-off", every = "1s")]
async fn disabled_attr() {
    DISABLED_ATTR_RUNS.fetch_add(1, Ordering::SeqCst);
}

/// Runs of [`every_attr`].
static EVERY_ATTR_RUNS: AtomicU64 = AtomicU64::new(0);

#[job(name = "envcfg-attr-every", every = "1h", env = "ENVCFG_ATTR_OWN")]
async fn every_attr() {
    EVERY_ATTR_RUNS.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(start_paused = true)]
async fn attributed_jobs_obey_the_variables_too() {
    let (logs, _guard) = Logs::capture();
    set("JOBS_ENVCFG_ATTR_OFF_ENABLED", "false");
    set("ENVCFG_ATTR_OWN", "10s");
    set("JOBS_ENVCFG_ATTR_EVERY_EVERY", "2s");
    let manager = JobManager::discover();
    manager.start("envcfg-attr-off").unwrap();
    manager.start("envcfg-attr-every").unwrap();
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    manager.stop_all().await;
    assert_eq!(DISABLED_ATTR_RUNS.load(Ordering::SeqCst), 0);
    // JOBS_..._EVERY wins over the job's own env key: 0, 2 and 4 s.
    assert_eq!(EVERY_ATTR_RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(
        logs.job_operation("envcfg-attr-off", "job_disabled").len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_jobs_variables_win_over_its_own_env_key() {
    set("ENVCFG_PRECEDENCE_OWN", "30s");
    set("JOBS_ENVCFG_PRECEDENCE_EVERY", "45s");
    set("ENVCFG_OWN_ONLY", "30s");
    let manager = JobManager::new();
    let (first, mut first_runs) = recording(
        JobSpec::every("envcfg-precedence", HOUR).env("ENVCFG_PRECEDENCE_OWN"),
        Duration::ZERO,
    );
    let (second, mut second_runs) = recording(
        JobSpec::every("envcfg-own-only", HOUR).env("ENVCFG_OWN_ONLY"),
        Duration::ZERO,
    );
    manager.register(first);
    manager.register(second);
    let start = Instant::now();
    manager.start_all().unwrap();
    for k in 0..3u32 {
        assert_eq!(
            next(&mut first_runs).await.started_at,
            start + Duration::from_secs(45) * k
        );
        assert_eq!(
            next(&mut second_runs).await.started_at,
            start + Duration::from_secs(30) * k
        );
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn cron_wins_over_a_cron_jobs_own_env_key() {
    set("ENVCFG_CRON_PRECEDENCE_OWN", "0 0 * * *");
    set("JOBS_ENVCFG_CRON_PRECEDENCE_CRON", "0 12 * * *");
    let manager = JobManager::new();
    let t0 = "2026-01-05T06:00:00Z";
    manager.set_clock(Clock::starting_at(wall(t0)));
    let (job, mut runs) = wall_recording(
        JobSpec::new(
            "envcfg-cron-precedence",
            Schedule::cron("0 6 * * *", "UTC").unwrap(),
        )
        .env("ENVCFG_CRON_PRECEDENCE_OWN"),
    );
    manager.register(job);
    manager.start_all().unwrap();
    assert_eq!(rfc3339(next(&mut runs).await.wall), "2026-01-05T12:00:00Z");
    assert_eq!(rfc3339(next(&mut runs).await.wall), "2026-01-06T12:00:00Z");
    manager.stop_all().await;
}

/// Registers a job named `name` next to an innocent one, expects
/// `start_all` to fail with an error naming `variable` and `value`, and
/// checks that nothing started or logged.
async fn check_refused(name: &'static str, spec: JobSpec, variable: &str, value: &str) {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(job_fn(spec, |_ctx: JobContext| async move { Ok(()) }));
    manager.register(job_fn(
        JobSpec::every(format!("{name}-innocent"), Duration::from_secs(1)),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&format!("`{name}`")), "{message}");
    assert!(message.contains(variable), "{message}");
    assert!(message.contains(&format!("{value:?}")), "{message}");
    let Error::InvalidEnv {
        job,
        variable: var,
        value: val,
        ..
    } = error
    else {
        panic!("unexpected error: {error:?}");
    };
    assert_eq!(
        (job.as_str(), var.as_str(), val.as_str()),
        (name, variable, value)
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(logs.events().is_empty(), "{:?}", logs.events());
    for stats in manager.all_stats() {
        assert!(!stats.is_started, "{}", stats.name);
        assert_eq!(stats.execution_count, 0, "{}", stats.name);
    }
}

#[tokio::test(start_paused = true)]
async fn an_invalid_every_stops_start_up() {
    set("JOBS_ENVCFG_BAD_EVERY_EVERY", "fast");
    check_refused(
        "envcfg-bad-every",
        JobSpec::every("envcfg-bad-every", HOUR),
        "JOBS_ENVCFG_BAD_EVERY_EVERY",
        "fast",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_zero_every_stops_start_up() {
    set("JOBS_ENVCFG_ZERO_EVERY_EVERY", "0s");
    check_refused(
        "envcfg-zero-every",
        JobSpec::every("envcfg-zero-every", HOUR),
        "JOBS_ENVCFG_ZERO_EVERY_EVERY",
        "0s",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_cron_stops_start_up() {
    set("JOBS_ENVCFG_BAD_CRON_CRON", "61 * * * *");
    check_refused(
        "envcfg-bad-cron",
        JobSpec::every("envcfg-bad-cron", HOUR),
        "JOBS_ENVCFG_BAD_CRON_CRON",
        "61 * * * *",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_zone_stops_start_up() {
    set("JOBS_ENVCFG_BAD_TZ_TZ", "Mars/Olympus_Mons");
    check_refused(
        "envcfg-bad-tz",
        JobSpec::new("envcfg-bad-tz", Schedule::cron("@hourly", "UTC").unwrap()),
        "JOBS_ENVCFG_BAD_TZ_TZ",
        "Mars/Olympus_Mons",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_zone_for_an_interval_job_stops_start_up() {
    set("JOBS_ENVCFG_TZ_ON_EVERY_TZ", "Europe/Berlin");
    check_refused(
        "envcfg-tz-on-every",
        JobSpec::every("envcfg-tz-on-every", HOUR),
        "JOBS_ENVCFG_TZ_ON_EVERY_TZ",
        "Europe/Berlin",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn an_invalid_enabled_stops_start_up() {
    set("JOBS_ENVCFG_BAD_ENABLED_ENABLED", "maybe");
    check_refused(
        "envcfg-bad-enabled",
        JobSpec::every("envcfg-bad-enabled", HOUR),
        "JOBS_ENVCFG_BAD_ENABLED_ENABLED",
        "maybe",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn every_and_cron_together_stop_start_up() {
    set("JOBS_ENVCFG_BOTH_EVERY", "1m");
    set("JOBS_ENVCFG_BOTH_CRON", "@hourly");
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("envcfg-both", HOUR),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    for needle in [
        "`envcfg-both`",
        "JOBS_ENVCFG_BOTH_EVERY",
        "JOBS_ENVCFG_BOTH_CRON",
        "\"@hourly\"",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
    assert!(logs.events().is_empty());
    assert!(!manager.stats("envcfg-both").unwrap().is_started);
}

#[tokio::test(start_paused = true)]
async fn a_disabled_job_with_an_invalid_value_is_still_refused() {
    // Switching a job off does not hide a mistake in its other variables.
    set("JOBS_ENVCFG_OFF_BAD_ENABLED", "false");
    set("JOBS_ENVCFG_OFF_BAD_EVERY", "often");
    check_refused(
        "envcfg-off-bad",
        JobSpec::every("envcfg-off-bad", HOUR),
        "JOBS_ENVCFG_OFF_BAD_EVERY",
        "often",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn every_invalid_variable_is_reported_at_once() {
    set("JOBS_ENVCFG_MANY_EVERY", "soon");
    set("JOBS_ENVCFG_MANY_ENABLED", "perhaps");
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("envcfg-many", HOUR),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    let error = manager.start_all().unwrap_err();
    let Error::Many(problems) = &error else {
        panic!("unexpected error: {error:?}");
    };
    assert_eq!(problems.len(), 2);
    let message = error.to_string();
    for needle in [
        "JOBS_ENVCFG_MANY_EVERY",
        "\"soon\"",
        "JOBS_ENVCFG_MANY_ENABLED",
        "\"perhaps\"",
    ] {
        assert!(message.contains(needle), "{needle} not in {message}");
    }
}

#[tokio::test(start_paused = true)]
async fn intervals_outside_the_bounds_stop_start_up() {
    for (name, variable, value, expected) in [
        (
            "envcfg-huge-every",
            "JOBS_ENVCFG_HUGE_EVERY_EVERY",
            "300000000000y",
            "longer than the maximum of 100y",
        ),
        (
            "envcfg-max-every",
            "JOBS_ENVCFG_MAX_EVERY_EVERY",
            "18446744073709551615s",
            "longer than the maximum of 100y",
        ),
        (
            "envcfg-tiny-every",
            "JOBS_ENVCFG_TINY_EVERY_EVERY",
            "1ns",
            "shorter than the minimum of 1ms",
        ),
    ] {
        set(variable, value);
        let manager = JobManager::new();
        manager.register(job_fn(
            JobSpec::every(name, HOUR),
            |_ctx: JobContext| async move { Ok(()) },
        ));
        let message = manager.start_all().unwrap_err().to_string();
        assert!(message.contains(expected), "{message}");
        check_refused(name, JobSpec::every(name, HOUR), variable, value).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_huge_interval_in_the_jobs_own_env_stops_start_up() {
    set("ENVCFG_OWN_HUGE", "300000000000y");
    check_refused(
        "envcfg-own-huge",
        JobSpec::every("envcfg-own-huge", HOUR).env("ENVCFG_OWN_HUGE"),
        "ENVCFG_OWN_HUGE",
        "300000000000y",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_cron_with_an_empty_list_item_stops_start_up() {
    set("JOBS_ENVCFG_COMMA_CRON_CRON", "0 , * * MON-FRI");
    check_refused(
        "envcfg-comma-cron",
        JobSpec::every("envcfg-comma-cron", HOUR),
        "JOBS_ENVCFG_COMMA_CRON_CRON",
        "0 , * * MON-FRI",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_cron_that_never_fires_stops_start_up() {
    set("JOBS_ENVCFG_NEVER_CRON_CRON", "0 0 31 2 *");
    check_refused(
        "envcfg-never-cron",
        JobSpec::every("envcfg-never-cron", HOUR),
        "JOBS_ENVCFG_NEVER_CRON_CRON",
        "0 0 31 2 *",
    )
    .await;
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("envcfg-never-cron", HOUR),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    let message = manager.start_all().unwrap_err().to_string();
    assert_eq!(
        message,
        "job `envcfg-never-cron`: environment variable JOBS_ENVCFG_NEVER_CRON_CRON=\"0 0 31 2 *\" is invalid: cron expression \"0 0 31 2 *\" never fires: no date matches its day-of-month, month and day-of-week fields"
    );
}

#[tokio::test(start_paused = true)]
async fn variables_that_configure_no_job_are_warned_about() {
    let (logs, _guard) = Logs::capture();
    set("JOBS_ENVCFG_MISPELLED_EVERY", "1s");
    set("JOBS_ENVCFG_MISSPELLED_EVRY", "1s");
    set("JOBS_ENVCFG_MISSPELLED_ENABLED", "true");
    set("JOBS_ENVCFG_ZZZZZZZZZZZZZZZZZZ_EVERY", "1s");
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("envcfg-misspelled", HOUR),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    manager.start_all().unwrap();
    manager.stop_all().await;

    let mut warnings: Vec<(String, String)> = logs
        .operation("env_unknown_variable")
        .iter()
        // Other tests' variables are in the environment too.
        .filter(|event| {
            let variable = event.str("variable");
            variable.starts_with("JOBS_ENVCFG_MIS") || variable.starts_with("JOBS_ENVCFG_ZZZ")
        })
        .map(|event| {
            assert_eq!(event.level, tracing::Level::WARN);
            (
                event.str("variable").to_owned(),
                event.str("problem").to_owned(),
            )
        })
        .collect();
    warnings.sort();
    assert_eq!(
        warnings,
        [
            (
                "JOBS_ENVCFG_MISPELLED_EVERY".to_owned(),
                "no job has the name ENVCFG_MISPELLED (upper-cased, with `_` for `-`); did you mean job `envcfg-misspelled`, whose variable is JOBS_ENVCFG_MISSPELLED_EVERY?".to_owned()
            ),
            (
                "JOBS_ENVCFG_MISSPELLED_EVRY".to_owned(),
                "job `envcfg-misspelled` has no setting EVRY; did you mean JOBS_ENVCFG_MISSPELLED_EVERY? (the settings are EVERY, CRON, TZ, ENABLED)".to_owned()
            ),
            (
                "JOBS_ENVCFG_ZZZZZZZZZZZZZZZZZZ_EVERY".to_owned(),
                "no job has the name ENVCFG_ZZZZZZZZZZZZZZZZZZ (upper-cased, with `_` for `-`)".to_owned()
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_runtimes_own_variables_are_not_warned_about() {
    let (logs, _guard) = Logs::capture();
    // This test binary reads neither: no test here opens a store by the
    // environment or checks an execution's instance.
    set("JOBS_INSTANCE", "envcfg-host");
    set("JOBS_DATABASE_URL", "memory:");
    set("JOBS_HEARTBEAT", "5s");
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("envcfg-runtime-vars", HOUR),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    manager.start_all().unwrap();
    manager.stop_all().await;
    let warned: Vec<String> = logs
        .operation("env_unknown_variable")
        .iter()
        .map(|event| event.str("variable").to_owned())
        .filter(|variable| variable.starts_with("JOBS_") && !variable.starts_with("JOBS_ENVCFG"))
        .collect();
    assert!(warned.is_empty(), "{warned:?}");
}
