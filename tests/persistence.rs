//! Executions and schedules kept in a real SQLite file, on tokio's paused
//! clock: what is recorded, and what a restart (a new manager on the same
//! file) does with it.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jobs_runtime::execution::{Cause, ExecutionFilter, ExecutionState, Outcome};
use jobs_runtime::store::{Change, MemoryStore, NewExecution, SqliteStore, Store};
use jobs_runtime::{Clock, JobContext, JobManager, JobSpec, Missed, Schedule};
use support::job_fn;

const SECOND: Duration = Duration::from_secs(1);

/// A SQLite file in a folder of its own, removed with it.
struct Database {
    _folder: tempfile::TempDir,
    url: String,
}

fn database() -> Database {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", folder.path().join("jobs.db").display());
    Database {
        _folder: folder,
        url,
    }
}

/// Wall-clock time at the test's start; the clock moves with tokio's.
fn clock() -> Clock {
    Clock::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

async fn manager(db: &Database, clock: Clock, jobs: impl FnOnce(&JobManager)) -> JobManager {
    let manager = JobManager::new();
    manager.set_clock(clock);
    jobs(&manager);
    manager.connect(&db.url).await.expect("the store opens");
    manager
}

/// A job with `spec` that succeeds and records what its context says.
fn noting(spec: JobSpec, seen: &Arc<Mutex<Vec<Seen>>>) -> impl jobs_runtime::Job {
    let seen = Arc::clone(seen);
    job_fn(spec, move |ctx: JobContext| {
        seen.lock().unwrap().push(Seen::of(&ctx));
        async { Ok(()) }
    })
}

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    id: i64,
    attempt: u32,
    fire_at: SystemTime,
    last_completed_at: Option<SystemTime>,
}

impl Seen {
    fn of(ctx: &JobContext) -> Self {
        Seen {
            id: ctx.execution_id().get(),
            attempt: ctx.attempt(),
            fire_at: ctx.fire_at(),
            last_completed_at: ctx.last_completed_at(),
        }
    }
}

async fn history(manager: &JobManager, job: &str) -> Vec<jobs_runtime::execution::Execution> {
    manager
        .executions(ExecutionFilter::new().job(job).oldest_first())
        .await
        .expect("the history reads")
}

#[tokio::test(start_paused = true)]
async fn every_execution_is_recorded_with_its_attempts_and_typed_outcomes() {
    let db = database();
    let clock = clock();
    let start = clock.now();
    let tries = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&tries);
    let manager = manager(&db, clock, |manager| {
        manager.register(job_fn(
            JobSpec::every("flaky", 10 * SECOND)
                .run_on_start(false)
                .retries(1)
                .backoff(SECOND),
            move |_| {
                let attempt = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt == 0 {
                        Err("disk full".into())
                    } else {
                        Ok(())
                    }
                }
            },
        ));
    })
    .await;
    manager.start_all().unwrap();
    tokio::time::sleep(15 * SECOND).await;
    manager.trigger("flaky").unwrap();
    tokio::task::yield_now().await;
    manager.stop_all().await;

    let executions = history(&manager, "flaky").await;
    assert_eq!(executions.len(), 2, "{executions:#?}");
    let scheduled = &executions[0];
    assert_eq!(scheduled.cause, Cause::Schedule);
    assert_eq!(scheduled.fire_at, start + 10 * SECOND);
    assert_eq!(scheduled.state, ExecutionState::Succeeded);
    let outcomes: Vec<_> = scheduled
        .attempts
        .iter()
        .map(|attempt| attempt.outcome.clone())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            Some(Outcome::failed_with("disk full")),
            Some(Outcome::Succeeded)
        ]
    );
    // The retry starts after its backoff.
    assert!(scheduled.attempts[1].started_at > scheduled.attempts[0].started_at);
    assert_eq!(executions[1].cause, Cause::Trigger);
    let one = manager.execution(scheduled.id).await.unwrap();
    assert_eq!(one.as_ref(), Some(scheduled));
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_the_grid_and_the_last_completion() {
    let db = database();
    let clock = clock();
    let start = clock.now();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = || JobSpec::every("grid", 10 * SECOND).run_on_start(false);
    let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    first.start_all().unwrap();
    tokio::time::sleep(25 * SECOND).await;
    first.stop_all().await;
    // Down for 3 s; then the grid continues at 30 s, not 10 s after the
    // new start.
    tokio::time::sleep(3 * SECOND).await;
    let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    second.start_all().unwrap();
    tokio::time::sleep(5 * SECOND).await;
    second.stop_all().await;

    let seen = seen.lock().unwrap().clone();
    let fires: Vec<_> = seen.iter().map(|seen| seen.fire_at).collect();
    assert_eq!(
        fires,
        vec![
            start + 10 * SECOND,
            start + 20 * SECOND,
            start + 30 * SECOND
        ]
    );
    // The first run after the restart knows when the last one before it
    // completed.
    assert_eq!(seen[0].last_completed_at, None);
    assert_eq!(seen[2].last_completed_at, Some(start + 20 * SECOND));
    // Ids go on across the restart.
    assert!(seen[2].id > seen[1].id);
}

#[tokio::test(start_paused = true)]
async fn fires_missed_while_down_follow_the_missed_policy() {
    for (missed, expected_runs) in [(Missed::Skip, 0), (Missed::RunOnce, 1)] {
        let db = database();
        let clock = clock();
        let start = clock.now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let spec = || {
            JobSpec::every("missing", 10 * SECOND)
                .run_on_start(false)
                .missed(missed)
        };
        let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
        first.start_all().unwrap();
        tokio::time::sleep(15 * SECOND).await;
        first.stop_all().await;
        // Down from 15 s to 95 s: the fires at 20, 30, ... 90 s are missed
        // (with a misfire threshold of 2 s, 90 s is 5 s late: missed too).
        tokio::time::sleep(80 * SECOND).await;
        seen.lock().unwrap().clear();
        let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
        second.set_misfire_threshold(Duration::from_secs(2));
        second.start_all().unwrap();
        tokio::task::yield_now().await;
        tokio::time::sleep(SECOND).await;
        let stats = second.stats("missing").unwrap();
        second.stop_all().await;
        let runs: Vec<_> = seen.lock().unwrap().iter().map(|s| s.fire_at).collect();
        assert_eq!(stats.missed_count, 8, "{missed:?}");
        assert_eq!(runs.len(), expected_runs, "{missed:?}: {runs:?}");
        if expected_runs == 1 {
            assert_eq!(runs[0], start + 90 * SECOND, "the latest missed fire runs");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn run_on_start_runs_only_if_the_last_fire_was_missed_or_never_came() {
    let db = database();
    let clock = clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = || JobSpec::every("eager", Duration::from_secs(3600)).run_on_start(true);
    // Never fired: runs at start.
    let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    first.start_all().unwrap();
    tokio::time::sleep(10 * SECOND).await;
    first.stop_all().await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Fired 10 s ago with an hourly schedule: no run at this start.
    let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    second.start_all().unwrap();
    tokio::time::sleep(10 * SECOND).await;
    second.stop_all().await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Down past the next fire: it was missed, so the job runs at start.
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let third = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    third.start_all().unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(SECOND).await;
    third.stop_all().await;
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_run_on_start_between_two_fires_keeps_the_grid() {
    let db = database();
    let clock = clock();
    let start = clock.now();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = || JobSpec::every("eager-grid", 10 * SECOND).run_on_start(true);
    let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    first.start_all().unwrap();
    tokio::time::sleep(15 * SECOND).await;
    first.stop_all().await;
    // Down from 15 s to 47 s: the fires at 20, 30 and 40 s are missed, so
    // the job runs at the start (47 s), standing in for the latest missed
    // fire (40 s), and then at 50 s on its grid, not at 57 s.
    tokio::time::sleep(32 * SECOND).await;
    let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    second.set_misfire_threshold(2 * SECOND);
    second.start_all().unwrap();
    tokio::time::sleep(14 * SECOND).await;
    second.stop_all().await;

    let fires: Vec<_> = seen.lock().unwrap().iter().map(|s| s.fire_at).collect();
    assert_eq!(
        fires,
        vec![
            start,
            start + 10 * SECOND,
            start + 40 * SECOND,
            start + 50 * SECOND,
            start + 60 * SECOND,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn pause_and_a_schedule_set_at_run_time_survive_a_restart() {
    let db = database();
    let clock = clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = || JobSpec::every("tuned", 10 * SECOND).run_on_start(false);
    let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    first.start_all().unwrap();
    first
        .set_schedule("tuned", Schedule::Every(Duration::from_secs(90)))
        .unwrap();
    first.pause("tuned").unwrap();
    first.stop_all().await;

    let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    second.start_all().unwrap();
    let stats = second.stats("tuned").unwrap();
    assert!(stats.is_paused);
    assert_eq!(
        stats.schedule,
        Some(Schedule::Every(Duration::from_secs(90)))
    );
    second.resume("tuned").unwrap();
    second.stop_all().await;
    let third = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    assert!(!third.stats("tuned").unwrap().is_paused);
}

#[tokio::test(start_paused = true)]
async fn a_schedule_set_at_run_time_counts_from_then_across_a_restart() {
    let db = database();
    let clock = clock();
    let start = clock.now();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = || JobSpec::every("regridded", 10 * SECOND).run_on_start(false);
    let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    first.start_all().unwrap();
    tokio::time::sleep(15 * SECOND).await;
    // From 15 s on, every 90 s: the next fire is at 105 s.
    first
        .set_schedule("regridded", Schedule::Every(90 * SECOND))
        .unwrap();
    first.stop_all().await;
    tokio::time::sleep(15 * SECOND).await;
    let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    second.start_all().unwrap();
    tokio::time::sleep(80 * SECOND).await;
    second.stop_all().await;
    let fires: Vec<_> = seen.lock().unwrap().iter().map(|s| s.fire_at).collect();
    assert_eq!(fires, [start + 10 * SECOND, start + 105 * SECOND]);
}

#[tokio::test(start_paused = true)]
async fn a_jobs_ended_executions_are_pruned_to_its_keep_last_in_the_background() {
    // A memory store: its prunes end at once, while a file's take real
    // time, which the paused clock does not wait for.
    let clock = clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = JobSpec::every("trimmed", 3 * 60 * SECOND)
        .run_on_start(false)
        .keep_last(2);
    let manager = JobManager::new();
    manager.set_clock(clock);
    manager.register(noting(spec, &seen));
    manager.set_store(MemoryStore::new()).await.unwrap();
    manager.start_all().unwrap();
    // Fires every 3 minutes; the pruner's rounds come at 0, 10 and 20
    // minutes. At 20 minutes the six executions so far are cut to the
    // newest two; the ones at 21, 24 and 27 minutes follow.
    tokio::time::sleep(28 * 60 * SECOND).await;
    manager.stop_all().await;
    assert_eq!(seen.lock().unwrap().len(), 9);
    let kept: Vec<_> = history(&manager, "trimmed")
        .await
        .iter()
        .map(|execution| execution.fire_at)
        .collect();
    let start = clock.now() - 28 * 60 * SECOND;
    let expected: Vec<_> = [15, 18, 21, 24, 27]
        .map(|minutes| start + minutes * 60 * SECOND)
        .to_vec();
    assert_eq!(kept, expected);
}

#[tokio::test(start_paused = true)]
async fn stats_start_from_what_earlier_processes_recorded() {
    let db = database();
    let clock = clock();
    let start = clock.now();
    let job = || {
        let tries = AtomicU32::new(0);
        job_fn(
            JobSpec::every("counted", 10 * SECOND).run_on_start(false),
            move |_| {
                let failing = tries.fetch_add(1, Ordering::SeqCst) % 2 == 1;
                async move {
                    if failing {
                        Err("upstream answered 503".into())
                    } else {
                        Ok(())
                    }
                }
            },
        )
    };
    let first = manager(&db, clock, |m| m.register(job())).await;
    first.start_all().unwrap();
    // Fires at 10 s (succeeds) and 20 s (fails).
    tokio::time::sleep(25 * SECOND).await;
    first.stop_all().await;

    let second = manager(&db, clock, |m| m.register(job())).await;
    let stats = second.stats("counted").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (2, 1));
    assert_eq!(stats.last_error.as_deref(), Some("upstream answered 503"));
    assert_eq!(stats.last_started_at, Some(start + 20 * SECOND));
    assert_eq!(stats.last_finished_at, Some(start + 20 * SECOND));
    // Times cover this process: none has run yet.
    assert_eq!(stats.average_execution_time, Duration::ZERO);
    second.start_all().unwrap();
    tokio::time::sleep(10 * SECOND).await;
    second.stop_all().await;
    let stats = second.stats("counted").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (3, 1));
}

#[tokio::test(start_paused = true)]
async fn a_paused_job_runs_none_of_its_missed_fires_at_a_restart() {
    let db = database();
    let clock = clock();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let spec = || {
        JobSpec::every("resting", 10 * SECOND)
            .run_on_start(false)
            .missed(Missed::CatchUp { limit: 3 })
    };
    let first = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    first.start_all().unwrap();
    tokio::time::sleep(15 * SECOND).await;
    first.pause("resting").unwrap();
    first.stop_all().await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Down past five fires: still paused at the restart, so the catch-up
    // runs none of them; each is skipped as a paused job's fires are.
    tokio::time::sleep(60 * SECOND).await;
    let second = manager(&db, clock, |m| m.register(noting(spec(), &seen))).await;
    second.start_all().unwrap();
    tokio::task::yield_now().await;
    let stats = second.stats("resting").unwrap();
    second.stop_all().await;
    assert_eq!(seen.lock().unwrap().len(), 1, "a paused job ran");
    assert!(stats.is_paused);
    assert_eq!(stats.skipped_count, 3);
}

/// What a process that died mid-execution leaves in the file: an
/// execution of `job`, due and started at `fire_at`, still running.
async fn left_running(db: &Database, job: &str, fire_at: SystemTime) {
    let store = SqliteStore::open(&db.url).await.unwrap();
    store
        .recorder(job, "dead-1")
        .record(Change::Started(NewExecution {
            id: store.next_id(),
            fire_at,
            cause: Cause::Trigger,
            started_at: Some(fire_at),
        }));
    store.flush().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_execution_a_dead_process_left_running_is_abandoned_and_retried() {
    let db = database();
    let clock = clock();
    let fire_at = clock.now();
    left_running(&db, "import", fire_at).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let manager = manager(&db, clock, |m| {
        m.register(noting(JobSpec::unscheduled("import").retries(2), &seen));
    })
    .await;
    manager.start_all().unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(SECOND).await;
    manager.stop_all().await;

    let executions = history(&manager, "import").await;
    assert_eq!(executions.len(), 2, "{executions:#?}");
    assert_eq!(executions[0].state, ExecutionState::Abandoned);
    assert_eq!(executions[0].attempts[0].outcome, Some(Outcome::Abandoned));
    assert_eq!(executions[1].cause, Cause::Recovery);
    assert_eq!(executions[1].state, ExecutionState::Succeeded);
    assert_eq!(executions[1].fire_at, fire_at);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].attempt, 2, "the recovery continues at attempt 2");
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_execution_with_no_retry_left_stays_abandoned() {
    let db = database();
    let clock = clock();
    left_running(&db, "once", clock.now()).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let manager = manager(&db, clock, |m| {
        m.register(noting(JobSpec::unscheduled("once"), &seen));
    })
    .await;
    manager.start_all().unwrap();
    tokio::time::sleep(SECOND).await;
    manager.stop_all().await;
    assert!(seen.lock().unwrap().is_empty());
    let executions = history(&manager, "once").await;
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].state, ExecutionState::Abandoned);
}

#[tokio::test]
async fn a_bad_database_url_is_an_error_naming_it() {
    let manager = JobManager::new();
    let error = manager.connect("mysql://db/jobs").await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("mysql://db/jobs"), "{message}");
    assert!(message.contains("sqlite://"), "{message}");
    let folder = tempfile::tempdir().unwrap();
    let missing = format!(
        "sqlite://{}/no/such/folder/jobs.db",
        folder.path().display()
    );
    let message = manager.connect(&missing).await.unwrap_err().to_string();
    assert!(message.contains(&missing), "{message}");
}

#[tokio::test]
async fn the_store_cannot_change_while_jobs_run() {
    let manager = JobManager::new();
    manager.register(job_fn(JobSpec::every("busy", SECOND), |_| async { Ok(()) }));
    manager.start_all().unwrap();
    let error = manager.connect("memory:").await.unwrap_err();
    assert!(error.to_string().contains("`busy`"), "{error}");
    manager.stop_all().await;
}

/// Two processes that meet a job in the store agree on its grid: the first
/// row registered is kept, and the other process, whose clock is ahead,
/// takes its anchor instead of anchoring the grid at its own start. Each
/// names every fire alike, the run on start included. (Which of two
/// processes registering at once is first is the store's to decide: the
/// conformance suite tests that.)
#[tokio::test(start_paused = true)]
async fn processes_meeting_a_job_name_its_fires_alike() {
    let db = database();
    let store = Arc::new(SqliteStore::open(&db.url).await.expect("the store opens"));
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let process = |late_by: Duration, seen: &Arc<Mutex<Vec<Seen>>>| {
        let manager = JobManager::new();
        manager.set_clock(Clock::starting_at(base + late_by));
        manager.register(noting(JobSpec::every("sync", 60 * SECOND), seen));
        manager
    };
    let (seen_first, seen_second) = Default::default();
    let first = process(Duration::ZERO, &seen_first);
    // Its clock is 7.3 s ahead: alone, it would anchor the grid then.
    let second = process(Duration::from_millis(7_300), &seen_second);
    first.set_store(Arc::clone(&store)).await.unwrap();
    second.set_store(Arc::clone(&store)).await.unwrap();
    first.start_all().unwrap();
    second.start_all().unwrap();
    tokio::time::sleep(61 * SECOND).await;
    // Read before stopping: a stop awaits the file, while tokio's paused
    // clock runs on for the other manager's timers.
    let fires = |seen: &Arc<Mutex<Vec<Seen>>>| -> Vec<SystemTime> {
        seen.lock().unwrap().iter().map(|s| s.fire_at).collect()
    };
    let (fires_first, fires_second) = (fires(&seen_first), fires(&seen_second));
    first.stop_all().await;
    second.stop_all().await;
    let expected = vec![base, base + 60 * SECOND];
    assert_eq!(fires_first, expected);
    assert_eq!(fires_second, expected);
}

/// A process that starts just after a grid point, which it runs late,
/// runs the grid's later fires at their own times, not late by as much.
#[tokio::test(start_paused = true)]
async fn a_late_first_fire_does_not_shift_the_grid() {
    let db = database();
    let store = Arc::new(SqliteStore::open(&db.url).await.expect("the store opens"));
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let ran = Arc::new(Mutex::new(Vec::new()));
    let process = |ahead: Duration| {
        let manager = JobManager::new();
        let clock = Clock::starting_at(base + ahead);
        manager.set_clock(clock);
        let ran = Arc::clone(&ran);
        manager.register(job_fn(
            JobSpec::every("sync", 60 * SECOND).run_on_start(true),
            move |ctx: JobContext| {
                ran.lock().unwrap().push((ctx.fire_at(), clock.now()));
                async { Ok(()) }
            },
        ));
        manager
    };
    let first = process(Duration::ZERO);
    first.set_store(Arc::clone(&store)).await.unwrap();
    first.start_all().unwrap();
    tokio::time::sleep(SECOND).await;
    first.stop_all().await;
    // It starts 300 ms after the grid's next point.
    let second = process(Duration::from_millis(60_300));
    second.set_store(Arc::clone(&store)).await.unwrap();
    second.start_all().unwrap();
    tokio::time::sleep(60 * SECOND).await;
    let ran = ran.lock().unwrap().clone();
    second.stop_all().await;
    let late = Duration::from_millis(300);
    let expected = [
        (base, base),
        (base + 60 * SECOND, base + 60 * SECOND + late),
        (base + 120 * SECOND, base + 120 * SECOND),
    ];
    assert_eq!(ran, expected, "the fire after the late one runs on time");
}
