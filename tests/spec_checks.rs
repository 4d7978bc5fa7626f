//! Hand-written specs are checked at start-up as the attribute checks its
//! literals at compile time: every impossible value is an error naming the
//! job and what is allowed, and nothing starts.

mod support;

use std::time::Duration;

use jobs_runtime::execution::Retention;
use jobs_runtime::{Error, JobContext, JobManager, JobSpec, Missed, Overlap, Schedule};

use support::job_fn;

const MINUTE: Duration = Duration::from_secs(60);

fn register(manager: &JobManager, spec: JobSpec) {
    manager.register(job_fn(spec, |_ctx: JobContext| async move { Ok(()) }));
}

/// Starts `spec` next to a valid job and returns the one problem reported.
fn refused(spec: JobSpec) -> (String, String) {
    let manager = JobManager::new();
    register(&manager, spec);
    register(&manager, JobSpec::every("valid", MINUTE));
    let error = manager.start_all().unwrap_err();
    assert!(
        manager.all_stats().iter().all(|stats| !stats.is_started),
        "nothing starts"
    );
    match error {
        Error::InvalidSpec { job, problem } => (job, problem),
        other => panic!("unexpected error: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn zero_max_concurrency_is_refused() {
    let (job, problem) =
        refused(JobSpec::every("no-room", MINUTE).overlap(Overlap::Allow { max_concurrency: 0 }));
    assert_eq!(job, "no-room");
    assert_eq!(problem, "`max_concurrency` must be greater than zero");
}

#[tokio::test(start_paused = true)]
async fn zero_slots_are_refused() {
    let (job, problem) = refused(JobSpec::every("weightless", MINUTE).slots(0));
    assert_eq!(job, "weightless");
    assert_eq!(problem, "`slots` must be greater than zero");
}

#[tokio::test(start_paused = true)]
async fn a_cap_below_the_backoff_is_refused() {
    let (job, problem) = refused(
        JobSpec::every("capped", MINUTE)
            .retries(2)
            .backoff(MINUTE)
            .backoff_max(Duration::from_secs(1)),
    );
    assert_eq!(job, "capped");
    assert_eq!(problem, "`backoff_max` must not be shorter than `backoff`");
}

#[tokio::test(start_paused = true)]
async fn a_fixed_delay_cron_job_is_refused() {
    let cron = Schedule::cron("@hourly", "UTC").unwrap();
    let (job, problem) = refused(JobSpec::new("fixed-cron", cron).fixed_delay());
    assert_eq!(job, "fixed-cron");
    assert_eq!(
        problem,
        "`delay = \"fixed\"` needs an interval schedule (`every`)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fixed_delay_job_cannot_be_rescheduled_to_cron() {
    let manager = JobManager::new();
    register(&manager, JobSpec::every("delayed", MINUTE).fixed_delay());
    manager.start_all().unwrap();
    let cron = Schedule::cron("@hourly", "UTC").unwrap();
    let error = manager.set_schedule("delayed", cron).unwrap_err();
    assert_eq!(
        error.to_string(),
        "job `delayed`: a fixed-delay job needs an interval, not cron \"@hourly\" in UTC"
    );
    let stats = manager.stats("delayed").unwrap();
    assert_eq!(stats.schedule, Some(Schedule::Every(MINUTE)));
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn intervals_outside_the_bounds_are_refused_whichever_way_they_come() {
    let out_of_range = [
        (
            Duration::ZERO,
            "duration \"0s\" is shorter than the minimum of 1ms (the timer's resolution)",
        ),
        (
            Duration::from_nanos(1),
            "duration \"1ns\" is shorter than the minimum of 1ms (the timer's resolution)",
        ),
        (
            Duration::MAX,
            "is longer than the maximum of 100y (100 years)",
        ),
    ];
    for (interval, expected) in out_of_range {
        for spec in [
            JobSpec::every("out-of-range", interval),
            JobSpec::new("out-of-range", Schedule::Every(interval)),
        ] {
            let (job, problem) = refused(spec);
            assert_eq!(job, "out-of-range");
            assert!(problem.starts_with("invalid schedule: "), "{problem}");
            assert!(problem.contains(expected), "{problem}");
        }
        assert!(Schedule::every(interval).is_err());
    }
}

#[tokio::test(start_paused = true)]
async fn set_schedule_refuses_an_interval_outside_the_bounds() {
    let manager = JobManager::new();
    register(&manager, JobSpec::every("steady", MINUTE));
    manager.start_all().unwrap();
    for interval in [Duration::ZERO, Duration::from_micros(10), Duration::MAX] {
        let error = manager
            .set_schedule("steady", Schedule::Every(interval))
            .unwrap_err();
        let Error::InvalidSpec { job, problem } = &error else {
            panic!("unexpected error: {error:?}");
        };
        assert_eq!(job, "steady");
        assert!(
            problem.starts_with("invalid schedule: duration "),
            "{problem}"
        );
    }
    // The job keeps its schedule, and for a stopped job the refusal is the
    // same: nothing is kept for its next start.
    let stats = manager.stats("steady").unwrap();
    assert_eq!(stats.schedule, Some(Schedule::Every(MINUTE)));
    manager.stop_all().await;
    assert!(manager
        .set_schedule("steady", Schedule::Every(Duration::ZERO))
        .is_err());
    manager.start("steady").unwrap();
    assert_eq!(
        manager.stats("steady").unwrap().schedule,
        Some(Schedule::Every(MINUTE))
    );
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_name_with_whitespace_is_refused() {
    let (job, problem) = refused(JobSpec::every("nightly report", MINUTE));
    assert_eq!(job, "nightly report");
    assert_eq!(
        problem,
        "job name \"nightly report\" in `name` must not contain whitespace; use `-` or `_` between words"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_name_is_refused() {
    let (job, problem) = refused(JobSpec::every("", MINUTE));
    assert_eq!(job, "");
    assert_eq!(problem, "`name` must not be empty; give the job a name");
}

#[tokio::test(start_paused = true)]
async fn an_upstream_name_with_whitespace_is_refused() {
    let (job, problem) = refused(JobSpec::unscheduled("report").after("fetch rates"));
    assert_eq!(job, "report");
    assert_eq!(
        problem,
        "job name \"fetch rates\" in `after` must not contain whitespace; use `-` or `_` between words"
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_env_variable_name_is_refused() {
    let (job, problem) = refused(JobSpec::every("report", MINUTE).env("REPORT INTERVAL"));
    assert_eq!(job, "report");
    assert_eq!(
        problem,
        "invalid environment variable name \"REPORT INTERVAL\" for `env`: it must be non-empty, without `=`, NUL or whitespace"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unknown_upstream_suggests_the_closest_name_and_lists_each_name_once() {
    let manager = JobManager::new();
    register(&manager, JobSpec::every("fetch-rates", MINUTE));
    register(&manager, JobSpec::unscheduled("report").after("fetch-rate"));
    register(
        &manager,
        JobSpec::unscheduled("archive").after("fetch-rate"),
    );
    let error = manager.start_all().unwrap_err();
    let Error::Many(problems) = &error else {
        panic!("unexpected error: {error}");
    };
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "job `report` runs after `fetch-rate`, but no job has that name; did you mean `fetch-rates`? registered jobs: fetch-rates, report, archive",
            "job `archive` runs after `fetch-rate`, but no job has that name; did you mean `fetch-rates`? registered jobs: fetch-rates, report, archive",
        ]
    );
    // Nothing close: no suggestion.
    let manager = JobManager::new();
    register(&manager, JobSpec::every("report", MINUTE));
    register(&manager, JobSpec::every("report", MINUTE));
    register(&manager, JobSpec::unscheduled("archive").after("zzz"));
    let error = manager.start_all().unwrap_err();
    let Error::Many(problems) = &error else {
        panic!("unexpected error: {error}");
    };
    let unknown = problems
        .iter()
        .find(|problem| matches!(problem, Error::UnknownUpstream { .. }))
        .unwrap();
    assert_eq!(
        unknown.to_string(),
        "job `archive` runs after `zzz`, but no job has that name; registered jobs: report, archive"
    );
}

#[tokio::test(start_paused = true)]
async fn a_catch_up_limit_outside_1_to_1000_is_refused() {
    for limit in [0, 1_001, u32::MAX] {
        let (job, problem) =
            refused(JobSpec::every("backlog", MINUTE).missed(Missed::CatchUp { limit }));
        assert_eq!(job, "backlog");
        assert_eq!(
            problem,
            format!("`catch_up_limit` {limit} is out of range; it must be from 1 to 1000")
        );
    }
    assert_eq!(Missed::catch_up(1_001).unwrap_err().limit, 1_001);
    for limit in [
        1,
        Missed::DEFAULT_CATCH_UP_LIMIT,
        Missed::MAX_CATCH_UP_LIMIT,
    ] {
        let manager = JobManager::new();
        let missed = Missed::catch_up(limit).unwrap();
        register(&manager, JobSpec::every("backlog", MINUTE).missed(missed));
        manager.start_all().unwrap();
        manager.stop_all().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_keep_outside_the_duration_bounds_is_refused() {
    let (job, problem) = refused(JobSpec::every("history", MINUTE).keep(Duration::ZERO));
    assert_eq!(job, "history");
    assert_eq!(
        problem,
        "`keep`: duration \"0s\" is shorter than the minimum of 1ms (the timer's resolution)"
    );
    let (_, problem) = refused(JobSpec::every("history", MINUTE).keep(Duration::MAX));
    assert!(problem.starts_with("`keep`: duration \""), "{problem}");
    assert!(
        problem.ends_with("is longer than the maximum of 100y (100 years)"),
        "{problem}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_keep_last_of_zero_is_refused() {
    let (job, problem) = refused(JobSpec::every("history", MINUTE).keep_last(0));
    assert_eq!(job, "history");
    assert_eq!(problem, "`keep_last` must be at least 1, not 0");
}

#[test]
fn retention_falls_back_to_the_default_key_by_key() {
    let day = Duration::from_secs(24 * 3600);
    let spec = JobSpec::every("history", MINUTE);
    assert_eq!(spec.retention(), Retention::default());
    assert_eq!(
        spec.clone().keep(30 * day).retention(),
        Retention {
            keep_for: 30 * day,
            keep_last: Retention::DEFAULT_KEEP_LAST
        }
    );
    assert_eq!(
        spec.keep(day).keep_last(100).retention(),
        Retention {
            keep_for: day,
            keep_last: 100
        }
    );
}
