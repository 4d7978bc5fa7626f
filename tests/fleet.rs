//! Several instances on one real PostgreSQL database (a database of the
//! test's own), in one process: each manager has its own store handle, as
//! a process of its own would. Every scheduled fire runs once across them,
//! on the grid they share. Real time, with generous bounds: the database is
//! the point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use jobs_runtime::execution::{
    Cause, Execution, ExecutionFilter, ExecutionId, ExecutionState, Outcome,
};
use jobs_runtime::store::{FleetTimings, PostgresStore, Store};
use jobs_runtime::{JobContext, JobManager, JobSpec, Missed, Overlap, Schedule};
use jobs_test_postgres::{Database, Proxy};

mod support;
use support::job_fn;

const INTERVAL: Duration = Duration::from_millis(200);

/// The jobs each instance runs: interval jobs and cron jobs.
fn jobs(manager: &JobManager) {
    for index in 0..20 {
        let spec = JobSpec::every(format!("every-{index}"), INTERVAL).run_on_start(false);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    }
    for index in 0..5 {
        let cron = Schedule::cron("* * * * * *", "UTC").expect("a valid expression");
        let spec = JobSpec::new(format!("cron-{index}"), cron);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_run_each_fire_once_on_one_grid() {
    let database = Database::create().await;
    let managers = fleet(&database, &["fleet-a", "fleet-b", "fleet-c"], jobs).await;
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let instances = managers[1].instances().await.expect("the instances read");
    let names: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(names, ["fleet-a", "fleet-b", "fleet-c"]);
    assert!(instances
        .iter()
        .all(|i| i.alive && i.pid == std::process::id() && i.heartbeat_at >= i.started_at));
    // Each measured its clock against the database's when it registered:
    // the same clock here.
    assert!(instances
        .iter()
        .all(|i| i.clock_offset_ms.is_some_and(|offset| offset.abs() < 1_000)));
    for manager in &managers {
        let offset = manager.clock_offset_ms().expect("an offset measured");
        assert!(offset.abs() < 1_000, "{offset} ms");
    }
    // While they all run, no fire goes unclaimed.
    let skipped: u64 = managers
        .iter()
        .flat_map(|manager| manager.all_stats())
        .map(|stats| stats.skipped_count)
        .sum();
    assert_eq!(skipped, 0, "no fire was left unclaimed");
    let executions = stop_and_read(&managers).await;
    let mut by_fire: HashMap<(&str, SystemTime), usize> = HashMap::new();
    let mut by_instance: HashMap<&str, usize> = HashMap::new();
    for execution in &executions {
        assert_eq!(execution.cause, Cause::Schedule, "{execution:?}");
        *by_fire
            .entry((&execution.job, execution.fire_at))
            .or_default() += 1;
        *by_instance.entry(&execution.instance).or_default() += 1;
    }
    assert!(
        by_fire.values().all(|count| *count == 1),
        "a fire ran twice: {by_fire:?}"
    );
    // Every fire of the window ran: each job's fires are consecutive
    // points of its grid, which every instance shares.
    for index in 0..20 {
        let job = format!("every-{index}");
        let mut fires: Vec<SystemTime> = executions
            .iter()
            .filter(|e| *e.job == job)
            .map(|e| e.fire_at)
            .collect();
        fires.sort();
        assert!(fires.len() >= 12, "{job}: only {} fires", fires.len());
        for pair in fires.windows(2) {
            assert_eq!(
                pair[1].duration_since(pair[0]).unwrap(),
                INTERVAL,
                "{job}: {fires:?}"
            );
        }
    }
    for index in 0..5 {
        let job = format!("cron-{index}");
        let count = executions.iter().filter(|e| *e.job == job).count();
        assert!(count >= 2, "{job}: {count} fires");
    }
    // A fire an instance won as it stopped did not start there (a stop
    // starts nothing new): it is recorded cancelled, without an attempt,
    // and counted as skipped (as is a fire that came during the stop).
    // Every other execution succeeded.
    let stopped = executions
        .iter()
        .filter(|e| e.state == ExecutionState::Cancelled && e.attempts.is_empty())
        .count() as u64;
    assert!(
        executions
            .iter()
            .all(|e| e.state == ExecutionState::Succeeded
                || (e.state == ExecutionState::Cancelled && e.attempts.is_empty())),
        "{executions:?}"
    );
    assert!(
        by_instance.values().all(|count| *count > 0),
        "each instance ran some: {by_instance:?}"
    );
    // The instances that did not run a fire saw it claimed elsewhere.
    let elsewhere: u64 = managers
        .iter()
        .flat_map(|manager| manager.all_stats())
        .map(|stats| stats.elsewhere_count)
        .sum();
    assert!(
        elsewhere >= executions.len() as u64,
        "{elsewhere} fires claimed elsewhere, {} run",
        executions.len()
    );
    let ran: u64 = managers
        .iter()
        .flat_map(|manager| manager.all_stats())
        .map(|stats| stats.execution_count)
        .sum();
    assert_eq!(ran, executions.len() as u64 - stopped);
    let skipped: u64 = managers
        .iter()
        .flat_map(|manager| manager.all_stats())
        .map(|stats| stats.skipped_count)
        .sum();
    assert!(
        skipped >= stopped,
        "each fire won at a stop counts as skipped"
    );
}

/// Each job's scheduled fires are claimed first by one instance, the same
/// on every instance, and the jobs are spread over the instances: so each
/// job's fires run on that one (while it claims them in time), and a job
/// that only one instance has runs every fire there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_claims_its_share_of_the_jobs_first() {
    let database = Database::create().await;
    let second = Duration::from_secs(1);
    let names = ["share-a", "share-b", "share-c"];
    let managers = fleet_with(&database, &names, quick_timings(), |name, manager| {
        for index in 0..12 {
            let spec = JobSpec::every(format!("shared-{index}"), second).run_on_start(false);
            manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
        }
        if name == "share-b" {
            let spec = JobSpec::every("only-b", second).run_on_start(false);
            manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
        }
    })
    .await;
    // Each instance has read the others' heartbeats after a second.
    let window = SystemTime::now() + Duration::from_secs(2);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let executions = stop_and_read(&managers).await;
    let ran: Vec<_> = executions
        .iter()
        .filter(|e| e.fire_at >= window && e.state == ExecutionState::Succeeded)
        .collect();
    let mut by_job: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    for execution in &ran {
        *by_job
            .entry(&execution.job)
            .or_default()
            .entry(&execution.instance)
            .or_default() += 1;
    }
    // Nearly every fire ran on its job's first claimer: a claim made late
    // under load may let another instance win a fire now and then.
    let on_first: usize = by_job
        .values()
        .map(|instances| instances.values().max().copied().unwrap_or(0))
        .sum();
    assert!(
        on_first * 10 >= ran.len() * 9,
        "{on_first} of {} fires on their job's first claimer: {by_job:?}",
        ran.len()
    );
    let firsts: std::collections::HashSet<&str> = by_job
        .iter()
        .filter(|(job, _)| job.starts_with("shared-"))
        .filter_map(|(_, instances)| instances.iter().max_by_key(|(_, count)| **count))
        .map(|(instance, _)| *instance)
        .collect();
    assert!(firsts.len() >= 2, "the jobs are spread: {by_job:?}");
    // The job only b has ran every fire of the window, on b.
    let mut only_b: Vec<SystemTime> = ran
        .iter()
        .filter(|e| *e.job == *"only-b")
        .map(|e| e.fire_at)
        .collect();
    only_b.sort();
    assert!(only_b.len() >= 4, "{only_b:?}");
    assert!(only_b
        .windows(2)
        .all(|pair| pair[1].duration_since(pair[0]).unwrap() == second));
    assert_eq!(
        by_job["only-b"].keys().copied().collect::<Vec<_>>(),
        ["share-b"]
    );
}

/// Stops every instance of `managers`, then reads the fleet's whole
/// history, oldest first.
async fn stop_and_read(managers: &[JobManager]) -> Vec<Execution> {
    for manager in managers {
        manager.stop_all().await;
    }
    managers[0]
        .executions(ExecutionFilter::new().unlimited().oldest_first())
        .await
        .expect("the history reads")
}

/// Two managers on one database, started together.
async fn pair(database: &Database, spec: impl Fn() -> JobSpec) -> Vec<JobManager> {
    fleet(database, &["pair-a", "pair-b"], |manager| {
        manager.register(job_fn(spec(), |_ctx: JobContext| async { Ok(()) }));
    })
    .await
}

/// Pauses `job` across the fleet and waits until every instance follows
/// and its runs in flight have had `settle` to end: so that the stops that
/// follow interrupt nothing (a fire claimed as its instance stops does not
/// run there).
async fn quiesce(managers: &[JobManager], job: &str, settle: Duration) {
    managers[0].pause(job).unwrap();
    eventually("every instance follows the pause", || {
        managers
            .iter()
            .all(|manager| manager.stats(job).unwrap().is_paused)
    })
    .await;
    tokio::time::sleep(settle).await;
}

/// Waits until `done` holds, for at most 15 s (the instances look every
/// 5 s).
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_a_new_schedule_hold_on_every_instance() {
    let database = Database::create().await;
    let managers = pair(&database, || {
        JobSpec::every("report", Duration::from_secs(3600)).run_on_start(false)
    })
    .await;
    let (a, b) = (&managers[0], &managers[1]);
    let paused = |manager: &JobManager| manager.stats("report").unwrap().is_paused;

    a.pause("report").unwrap();
    eventually("b follows the pause", || paused(b)).await;
    b.resume("report").unwrap();
    eventually("a follows the resume", || !paused(a)).await;

    let every_second = Schedule::every(Duration::from_secs(1)).unwrap();
    b.set_schedule("report", every_second.clone()).unwrap();
    eventually("a follows the new schedule", || {
        a.stats("report").unwrap().schedule == Some(every_second.clone())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    for manager in &managers {
        manager.stop_all().await;
    }
    // Both fire on the grid b set, from b's anchor: each fire ran once, a
    // second after the one before, wherever it ran.
    let mut fires: Vec<SystemTime> = a
        .executions(ExecutionFilter::new().job("report").unlimited())
        .await
        .unwrap()
        .iter()
        .map(|execution| execution.fire_at)
        .collect();
    fires.sort();
    assert!(fires.len() >= 3, "{fires:?}");
    for pair in fires.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]).unwrap(),
            Duration::from_secs(1),
            "{fires:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_calls_made_at_once_on_two_instances_all_hold() {
    let database = Database::create().await;
    let managers = pair(&database, || {
        JobSpec::every("report", Duration::from_secs(3600)).run_on_start(false)
    })
    .await;
    let (a, b) = (&managers[0], &managers[1]);
    // Neither has seen the other's call when it makes its own.
    let every_minute = Schedule::every(Duration::from_secs(60)).unwrap();
    a.pause("report").unwrap();
    b.set_schedule("report", every_minute.clone()).unwrap();
    let holds = |manager: &JobManager| {
        let stats = manager.stats("report").unwrap();
        stats.is_paused && stats.schedule == Some(every_minute.clone())
    };
    eventually("both instances have the pause and the new schedule", || {
        holds(a) && holds(b)
    })
    .await;
    for manager in &managers {
        manager.stop_all().await;
    }
    let store = PostgresStore::open(database.url()).await.unwrap();
    let rows = store.schedules().await.unwrap();
    assert!(rows[0].paused, "{rows:?}");
    assert_eq!(rows[0].schedule_override.as_deref(), Some("every 1m"));
}

/// A manager named `name` on the database at `url`, with the fleet's
/// `timings` and the jobs `register` gives it, not started.
async fn member(
    url: &str,
    name: &str,
    timings: FleetTimings,
    register: impl FnOnce(&JobManager),
) -> JobManager {
    let manager = JobManager::new();
    manager.set_instance(name).unwrap();
    register(&manager);
    let store = PostgresStore::open_with(url, timings)
        .await
        .expect("the store opens");
    assert!(store.shared());
    manager.set_store(store).await.expect("the store is set");
    manager
}

/// Managers named `names` on one database, with the fleet's `timings`,
/// each with the jobs `register` gives it, started together.
async fn fleet_with(
    database: &Database,
    names: &[&'static str],
    timings: FleetTimings,
    register: impl Fn(&'static str, &JobManager),
) -> Vec<JobManager> {
    let mut managers = Vec::new();
    for &name in names {
        let manager = member(database.url(), name, timings, |m| register(name, m)).await;
        managers.push(manager);
    }
    for manager in &managers {
        manager.start_all().expect("the jobs start");
    }
    managers
}

/// [`fleet_with`] the default timings, the same jobs on each.
async fn fleet(
    database: &Database,
    names: &[&'static str],
    register: impl Fn(&JobManager),
) -> Vec<JobManager> {
    fleet_with(database, names, FleetTimings::default(), |_, m| register(m)).await
}

/// What each run of a job saw: its fire time and lease token.
type Seen = Arc<Mutex<Vec<(SystemTime, Option<u64>)>>>;

/// A job that records what it sees, then sleeps `busy`.
fn recording(spec: JobSpec, seen: &Seen, busy: Duration) -> impl jobs_runtime::Job {
    let seen = Arc::clone(seen);
    job_fn(spec, move |ctx: JobContext| {
        seen.lock()
            .unwrap()
            .push((ctx.fire_at(), ctx.lease_token()));
        async move {
            tokio::time::sleep(busy).await;
            Ok(())
        }
    })
}

/// The most executions of `job` that ran at once, by their recorded start
/// and end. A fire won just before the job was paused, and recorded
/// `cancelled` without starting, did not run.
async fn most_at_once(manager: &JobManager, job: &str) -> usize {
    let executions = manager
        .executions(ExecutionFilter::new().job(job).unlimited())
        .await
        .unwrap();
    let ran = executions.iter().filter(|execution| {
        execution.state != ExecutionState::Cancelled || execution.started_at.is_some()
    });
    let spans = ran.map(|execution| {
        assert_eq!(execution.state, ExecutionState::Succeeded, "{execution:?}");
        (
            execution.started_at.unwrap(),
            execution.finished_at.unwrap(),
        )
    });
    support::most_at_once(spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_skip_holds_across_instances_under_increasing_lease_tokens() {
    let database = Database::create().await;
    let seen: Seen = Arc::default();
    // Every 200 ms, each run 500 ms: the next fires come while it runs,
    // and another instance would run them.
    let managers = fleet(&database, &["skip-a", "skip-b", "skip-c"], |manager| {
        let spec = JobSpec::every("slow", INTERVAL).run_on_start(false);
        manager.register(recording(spec, &seen, Duration::from_millis(500)));
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    quiesce(&managers, "slow", Duration::from_millis(700)).await;
    for manager in &managers {
        manager.stop_all().await;
    }
    assert_eq!(most_at_once(&managers[0], "slow").await, 1, "one at a time");
    let mut seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "{seen:?}");
    seen.sort();
    let tokens: Vec<u64> = seen
        .iter()
        .map(|(_, token)| token.expect("a lease token"))
        .collect();
    assert!(
        tokens.windows(2).all(|pair| pair[0] < pair[1]),
        "a later fire holds a greater token: {seen:?}"
    );
    let skipped: u64 = managers
        .iter()
        .map(|manager| manager.stats("slow").unwrap().skipped_count)
        .sum();
    assert!(skipped > 0, "the fires that came while it ran were skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_holds_across_instances() {
    let database = Database::create().await;
    let seen: Seen = Arc::default();
    let managers = fleet(&database, &["cap-a", "cap-b", "cap-c"], |manager| {
        let spec = JobSpec::every("wide", Duration::from_millis(100))
            .run_on_start(false)
            .overlap(Overlap::Allow { max_concurrency: 2 });
        manager.register(recording(spec, &seen, Duration::from_millis(700)));
    })
    .await;
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    quiesce(&managers, "wide", Duration::from_millis(900)).await;
    for manager in &managers {
        manager.stop_all().await;
    }
    assert_eq!(most_at_once(&managers[0], "wide").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_runs_once_in_the_fleet_and_a_downstream_job_once_per_upstream_success() {
    let database = Database::create().await;
    let managers = fleet(&database, &["dep-a", "dep-b", "dep-c"], |manager| {
        let upstream = JobSpec::every("upstream", Duration::from_millis(300)).run_on_start(false);
        manager.register(job_fn(upstream, |_ctx: JobContext| async { Ok(()) }));
        let downstream = JobSpec::unscheduled("downstream").after("upstream");
        manager.register(job_fn(downstream, |_ctx: JobContext| async { Ok(()) }));
        let manual = JobSpec::unscheduled("manual");
        manager.register(job_fn(manual, |_ctx: JobContext| async { Ok(()) }));
    })
    .await;
    managers[1].trigger("manual").unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    quiesce(&managers, "upstream", Duration::from_millis(300)).await;
    for manager in &managers {
        manager.stop_all().await;
    }
    let first = &managers[0];
    let history = |job: &'static str| async move {
        first
            .executions(ExecutionFilter::new().job(job).unlimited())
            .await
            .unwrap()
    };
    let manual = history("manual").await;
    assert_eq!(manual.len(), 1, "{manual:?}");
    assert_eq!(manual[0].cause, Cause::Trigger);
    assert_eq!(&*manual[0].instance, "dep-b");
    let upstream = history("upstream").await;
    let downstream = history("downstream").await;
    let succeeded = upstream
        .iter()
        .filter(|execution| execution.state == ExecutionState::Succeeded)
        .count();
    assert!(succeeded >= 5, "{upstream:?}");
    assert_eq!(downstream.len(), succeeded, "{downstream:?}");
    assert!(downstream
        .iter()
        .all(|execution| execution.cause == Cause::Upstream
            && execution.state == ExecutionState::Succeeded));
}

/// When a moment came, if it has.
type Moment = Arc<Mutex<Option<std::time::Instant>>>;

/// Sets `at` to now when dropped: when a run's future is dropped.
struct Dropped(Moment);

impl Drop for Dropped {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(std::time::Instant::now());
    }
}

/// Waits up to `bound` for `at` to be set, and returns it.
async fn set_within(
    at: &Mutex<Option<std::time::Instant>>,
    bound: Duration,
) -> Option<std::time::Instant> {
    let deadline = std::time::Instant::now() + bound;
    while std::time::Instant::now() < deadline {
        if let Some(at) = *at.lock().unwrap() {
            return Some(at);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Heartbeats every second: an instance fences itself 4 s after its last
/// one, and is dead for the others after 5 s.
fn quick_timings() -> FleetTimings {
    FleetTimings::new(
        Duration::from_secs(1),
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .unwrap()
}

/// What happens to the job `long` of [`register_long`].
#[derive(Default, Clone)]
struct Long {
    started: Moment,
    aborted: Moment,
    continued: Moment,
}

/// Registers `long`, run by triggers, with one retry: its first attempt
/// would run for a minute, a second one succeeds; `long` records when.
fn register_long(manager: &JobManager, long: &Long) {
    let spec = JobSpec::every("long", Duration::from_secs(3_600))
        .run_on_start(false)
        .retries(1);
    let long = long.clone();
    manager.register(job_fn(spec, move |ctx: JobContext| {
        let long = long.clone();
        async move {
            if ctx.attempt() > 1 {
                *long.continued.lock().unwrap() = Some(std::time::Instant::now());
                return Ok(());
            }
            let _dropped = Dropped(long.aborted);
            *long.started.lock().unwrap() = Some(std::time::Instant::now());
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
    }));
}

/// Waits until `manager` reads `long` as running in the store.
async fn until_written_running(manager: &JobManager) {
    let running = |e: &Execution| e.state == ExecutionState::Running;
    executions_once(manager, "long", |e| e.iter().any(running)).await;
}

/// Leaves a started run of `job`, as an instance that never registered
/// (so it is dead): a rescue round takes it over.
async fn leave_run(database: &Database, job: &str) {
    use jobs_runtime::store::{Change, Claim, Claimed, NewExecution};
    let ghost = PostgresStore::open(database.url()).await.unwrap();
    let recorder = ghost.recorder(job, "ghost");
    let (id, fire_at) = (ghost.next_id(), SystemTime::now());
    let cause = Cause::Trigger;
    let claim = Claim {
        id,
        fire_at,
        cause,
        limit: None,
        replace: false,
    };
    let won = recorder.claim(claim).await.unwrap();
    assert!(matches!(won, Claimed::Won { .. }));
    let started_at = Some(fire_at);
    recorder.record(Change::Started(NewExecution {
        id,
        fire_at,
        cause,
        started_at,
    }));
    ghost.flush().await.unwrap();
}

/// The executions of `job` once `done` holds for them, within 15 s.
async fn executions_once(
    manager: &JobManager,
    job: &str,
    done: impl Fn(&[Execution]) -> bool,
) -> Vec<Execution> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let executions = manager
            .executions(ExecutionFilter::new().job(job).oldest_first())
            .await
            .unwrap();
        if done(&executions) {
            return executions;
        }
        assert!(std::time::Instant::now() < deadline, "{executions:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each execution's instance, cause, state and number of attempts, by
/// instance.
fn summary(executions: &[Execution]) -> Vec<(&str, Cause, ExecutionState, usize)> {
    let mut summary: Vec<_> = executions
        .iter()
        .map(|e| (&*e.instance, e.cause, e.state, e.attempts.len()))
        .collect();
    summary.sort_unstable_by_key(|(instance, ..)| *instance);
    summary
}

/// A continuation claimed with its rescue that still waits for the run
/// before it when its job stops ends cancelled, rather than staying
/// pending and holding its job's limit across the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_waiting_at_a_stop_ends_cancelled() {
    let database = Database::create().await;
    let manager = member(database.url(), "host", quick_timings(), |manager| {
        let spec = JobSpec::every("busy", Duration::from_secs(3600))
            .run_on_start(false)
            .retries(1);
        manager.register(job_fn(spec, |ctx: JobContext| async move {
            ctx.cancelled().await;
            Ok(())
        }));
    })
    .await;
    manager.start_all().unwrap();
    manager.trigger("busy").unwrap();
    leave_run(&database, "busy").await;
    let recovery = |e: &Execution| e.cause == Cause::Recovery;
    executions_once(&manager, "busy", |e| e.iter().any(recovery)).await;
    manager.stop_all().await;
    let ended = |e: &Execution| e.state != ExecutionState::Pending;
    let executions = executions_once(&manager, "busy", |e| e.iter().all(ended)).await;
    let continuation: Vec<_> = summary(&executions)
        .into_iter()
        .filter(|(_, cause, ..)| *cause == Cause::Recovery)
        .collect();
    assert_eq!(
        continuation,
        [("host", Cause::Recovery, ExecutionState::Cancelled, 0)]
    );
}

/// An instance that starts takes over what a dead one left and claims the
/// continuation with it; for a job it never starts, a stop ends that
/// continuation cancelled, so it does not hold the job's limit afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_of_a_job_never_started_ends_cancelled_at_a_stop() {
    let database = Database::create().await;
    leave_run(&database, "idle").await;
    let manager = member(database.url(), "host", quick_timings(), |manager| {
        let spec = JobSpec::every("idle", Duration::from_secs(3600))
            .run_on_start(false)
            .retries(1);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    })
    .await;
    let pending = |e: &Execution| e.cause == Cause::Recovery && e.state == ExecutionState::Pending;
    executions_once(&manager, "idle", |e| e.iter().any(pending)).await;
    manager.stop_all().await;
    let ended = |e: &Execution| e.state != ExecutionState::Pending;
    let executions = executions_once(&manager, "idle", |e| e.iter().all(ended)).await;
    assert_eq!(
        summary(&executions),
        [
            ("ghost", Cause::Trigger, ExecutionState::Abandoned, 1),
            ("host", Cause::Recovery, ExecutionState::Cancelled, 0),
        ]
    );
}

/// A continuation claimed with its rescue that gives up before it runs
/// (its job's condition does not hold) ends cancelled, rather than staying
/// pending and holding its job's limit across the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_that_does_not_run_ends_cancelled() {
    let database = Database::create().await;
    let manager = member(database.url(), "gate", quick_timings(), |manager| {
        let spec = JobSpec::every("gated", Duration::from_secs(3600))
            .run_on_start(false)
            .retries(1)
            .when(|| false);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    })
    .await;
    manager.start_all().unwrap();
    // Then an instance that never registered (so it is dead) leaves a run,
    // which the next rescue round takes over.
    leave_run(&database, "gated").await;
    let ended = |e: &Execution| e.state != ExecutionState::Pending;
    let executions =
        executions_once(&manager, "gated", |e| e.len() == 2 && e.iter().all(ended)).await;
    manager.stop_all().await;
    assert_eq!(
        summary(&executions),
        [
            ("gate", Cause::Recovery, ExecutionState::Cancelled, 0),
            ("ghost", Cause::Trigger, ExecutionState::Abandoned, 1),
        ]
    );
    assert_eq!(manager.stats("gated").unwrap().skipped_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_instance_fences_itself_before_another_takes_its_execution_over() {
    let database = Database::create().await;
    let proxy = Proxy::start(&database).await;
    let timings = quick_timings();
    let long = Long::default();
    let mut managers = Vec::new();
    for (name, url) in [("isolated", proxy.url()), ("other", database.url())] {
        let manager = member(url, name, timings, |m| register_long(m, &long)).await;
        manager.start_all().unwrap();
        managers.push(manager);
    }
    managers[0].trigger("long").unwrap();
    set_within(&long.started, Duration::from_secs(10))
        .await
        .expect("the first attempt starts on the isolated instance");
    // Cut once its start is written.
    until_written_running(&managers[1]).await;
    proxy.cut();
    let continued_at = set_within(&long.continued, Duration::from_secs(30))
        .await
        .expect("the other instance continues the execution");
    let aborted_at = long
        .aborted
        .lock()
        .unwrap()
        .expect("the isolated instance aborted its run");
    assert!(
        aborted_at < continued_at,
        "the isolated instance fenced itself before the other took over"
    );
    proxy.restore();
    // Long enough for the isolated instance to write its heartbeat and run
    // a rescue round (heartbeats every second).
    tokio::time::sleep(Duration::from_secs(4)).await;
    for manager in &managers {
        manager.stop_all().await;
    }
    let executions = managers[1]
        .executions(ExecutionFilter::new().job("long").oldest_first())
        .await
        .unwrap();
    let summary: Vec<(Cause, ExecutionState, &str)> = executions
        .iter()
        .map(|e| (e.cause, e.state, &*e.instance))
        .collect();
    assert_eq!(
        summary,
        [
            (Cause::Trigger, ExecutionState::Abandoned, "isolated"),
            (Cause::Recovery, ExecutionState::Succeeded, "other"),
        ],
        "the isolated instance wrote nothing over the takeover: {executions:#?}"
    );
    assert_eq!(managers[1].stats("long").unwrap().rescued_count, 1);
    // Back in reach, it found what it released taken over: it took
    // nothing back, and had no late end to write.
    assert_eq!(managers[0].stats("long").unwrap().rescued_count, 0);
    assert_eq!(managers[0].stats("long").unwrap().execution_count, 1);
    assert_eq!(managers[0].fenced_count(), 0);
    assert_eq!(managers[1].fenced_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_self_fence_aborted_is_continued_when_its_instance_is_back() {
    let database = Database::create().await;
    let proxy = Proxy::start(&database).await;
    // No other instance takes it over.
    let long = Long::default();
    let manager = member(proxy.url(), "alone", quick_timings(), |m| {
        register_long(m, &long)
    })
    .await;
    manager.start_all().unwrap();
    manager.trigger("long").unwrap();
    until_written_running(&manager).await;
    proxy.cut();
    set_within(&long.aborted, Duration::from_secs(15))
        .await
        .expect("the instance fences itself and aborts its run");
    proxy.restore();
    set_within(&long.continued, Duration::from_secs(15))
        .await
        .expect("back in reach of the store, the instance continues its run");
    manager.stop_all().await;
    let filter = ExecutionFilter::new().job("long").oldest_first();
    let executions = manager.executions(filter).await.unwrap();
    let summary: Vec<(Cause, ExecutionState, Vec<_>)> = executions
        .iter()
        .map(|e| {
            let outcomes = e.attempts.iter().map(|a| a.outcome.clone()).collect();
            (e.cause, e.state, outcomes)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                Cause::Trigger,
                ExecutionState::Abandoned,
                vec![Some(Outcome::Abandoned)]
            ),
            (
                Cause::Recovery,
                ExecutionState::Succeeded,
                vec![Some(Outcome::Succeeded)]
            ),
        ],
        "{executions:#?}"
    );
    assert_eq!(manager.stats("long").unwrap().rescued_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_missed_while_the_fleet_was_down_go_through_the_missed_policy_once() {
    let database = Database::create().await;
    let register = |manager: &JobManager| {
        manager.set_misfire_threshold(Duration::from_millis(100));
        let every = |name: &str| JobSpec::every(name.to_owned(), INTERVAL).run_on_start(false);
        let quiet = |_ctx: JobContext| async { Ok(()) };
        manager.register(job_fn(
            every("catching").missed(Missed::CatchUp { limit: 3 }),
            quiet,
        ));
        manager.register(job_fn(every("once").missed(Missed::RunOnce), quiet));
        manager.register(job_fn(every("skipping").missed(Missed::Skip), quiet));
    };
    let first = fleet(&database, &["missed-first"], register).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    first[0].stop_all().await;
    let stopped = SystemTime::now();
    drop(first);
    // Down for ten fires or so.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let mut managers = Vec::new();
    for name in ["missed-a", "missed-b", "missed-c"] {
        let timings = FleetTimings::default();
        managers.push(member(database.url(), name, timings, register).await);
    }
    let restarted = SystemTime::now();
    for manager in &managers {
        manager.start_all().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    for manager in &managers {
        manager.stop_all().await;
    }
    for (job, expected) in [("catching", 3), ("once", 1), ("skipping", 0)] {
        let executions = managers[0]
            .executions(ExecutionFilter::new().job(job).unlimited())
            .await
            .unwrap();
        let missed: Vec<SystemTime> = executions
            .iter()
            .map(|execution| execution.fire_at)
            .filter(|fire_at| *fire_at > stopped && *fire_at < restarted)
            .collect();
        // Besides the policy's, the fire that came due within the misfire
        // threshold before the start, if one did: it is late, not missed.
        assert!(
            missed.len() == expected || missed.len() == expected + 1,
            "{job}: of the ten fires due while down, {expected} ran by its policy, \
             once across the instances: {missed:?}"
        );
    }
}

/// Each run: the instance it ran on, and, once it ended, whether its token
/// fired while it waited (for up to 20 s).
type Runs = Arc<Mutex<Vec<(&'static str, Option<bool>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_on_one_instance_cancels_the_run_on_another() {
    let database = Database::create().await;
    let timings = FleetTimings::new(
        Duration::from_millis(200),
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .unwrap();
    let runs: Runs = Arc::default();
    let names = ["replace-a", "replace-b"];
    let managers = fleet_with(&database, &names, timings, |name, manager| {
        let runs = Arc::clone(&runs);
        let spec = JobSpec::every("latest", Duration::from_secs(3_600))
            .run_on_start(false)
            .overlap(Overlap::Replace);
        manager.register(job_fn(spec, move |ctx: JobContext| {
            let runs = Arc::clone(&runs);
            async move {
                let at = {
                    let mut runs = runs.lock().unwrap();
                    runs.push((name, None));
                    runs.len() - 1
                };
                let token = ctx.cancellation_token().clone();
                let cancelled = tokio::time::timeout(Duration::from_secs(20), token.cancelled())
                    .await
                    .is_ok();
                runs.lock().unwrap()[at].1 = Some(cancelled);
                Ok(())
            }
        }));
    })
    .await;
    let runs_now = || runs.lock().unwrap().clone();
    managers[0].trigger("latest").unwrap();
    for _ in 0..100 {
        if !runs_now().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(runs_now(), [("replace-a", None)]);
    managers[1].trigger("latest").unwrap();
    // Cancelled within a few heartbeats of the other's claim.
    for _ in 0..100 {
        if runs_now().first().is_some_and(|run| run.1.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        runs_now(),
        [("replace-a", Some(true)), ("replace-b", None)],
        "the run on replace-a was replaced by the one on replace-b"
    );
    for manager in &managers {
        manager.stop_all().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_reaches_the_other_instances_before_their_next_heartbeat() {
    let database = Database::create().await;
    // Heartbeats every 30 s: a poll would follow the pause only then.
    let timings = FleetTimings::new(
        Duration::from_secs(30),
        Duration::from_secs(90),
        Duration::from_secs(60),
    )
    .unwrap();
    let managers = fleet_with(&database, &["pause-a", "pause-b"], timings, |_, manager| {
        let spec = JobSpec::every("paused", INTERVAL).run_on_start(false);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    })
    .await;
    // Both listen once they have started.
    tokio::time::sleep(Duration::from_millis(500)).await;
    managers[0].pause("paused").unwrap();
    let mut followed = false;
    for _ in 0..100 {
        if managers[1].stats("paused").unwrap().is_paused {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(followed, "the other instance paused the job within 5 s");
    for manager in &managers {
        manager.stop_all().await;
    }
}

/// The longest claim lead: fires are claimed 250 ms before they are due.
fn ahead_timings() -> FleetTimings {
    quick_timings()
        .with_claim_lead(FleetTimings::MAX_CLAIM_LEAD)
        .unwrap()
}

/// Instances named `names` with the longest claim lead, each with the
/// no-op job `job` every second.
async fn ahead(database: &Database, names: &[&'static str], job: &'static str) -> Vec<JobManager> {
    fleet_with(database, names, ahead_timings(), |_, manager| {
        let spec = JobSpec::every(job, Duration::from_secs(1)).run_on_start(false);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    })
    .await
}

/// Polls `manager`'s history until it holds a pending scheduled execution
/// of `job` at least 50 ms before its fire time: a fire claimed ahead.
async fn claimed_ahead(manager: &JobManager, job: &str) -> Execution {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let executions = manager
            .executions(ExecutionFilter::new().job(job))
            .await
            .unwrap();
        let soon = SystemTime::now() + Duration::from_millis(50);
        let ahead = executions.into_iter().find(|e| {
            e.state == ExecutionState::Pending && e.cause == Cause::Schedule && e.fire_at > soon
        });
        if let Some(execution) = ahead {
            return execution;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no fire of {job} was claimed ahead"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A scheduled fire is claimed the claim lead before it is due, and its
/// run waits for its time: no execution starts before its fire time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_is_claimed_ahead_and_starts_at_its_time() {
    let database = Database::create().await;
    let managers = ahead(&database, &["ahead-a"], "ahead").await;
    let pending = claimed_ahead(&managers[0], "ahead").await;
    executions_once(&managers[0], "ahead", |executions| {
        executions
            .iter()
            .any(|e| e.id == pending.id && e.state == ExecutionState::Succeeded)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let executions = stop_and_read(&managers).await;
    let ran = ran_on_time(&executions, "ahead");
    assert!(ran.len() >= 3, "{executions:#?}");
}

/// The executions of `job` that succeeded, each checked to have started
/// no earlier than its fire time.
fn ran_on_time<'a>(executions: &'a [Execution], job: &str) -> Vec<&'a Execution> {
    let ran: Vec<&Execution> = executions
        .iter()
        .filter(|e| *e.job == *job && e.state == ExecutionState::Succeeded)
        .collect();
    for execution in &ran {
        assert!(
            execution.started_at.unwrap() >= execution.fire_at,
            "started before its fire time: {execution:#?}"
        );
    }
    ran
}

/// Under the claim lead, two instances run every fire of a cron job, a
/// fixed-delay job and a jittered job once, and none starts before its
/// fire time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fixed_delay_and_jittered_jobs_run_once_and_never_early_under_the_lead() {
    let database = Database::create().await;
    let second = Duration::from_secs(1);
    let names = ["kinds-a", "kinds-b"];
    let managers = fleet_with(&database, &names, ahead_timings(), |_, manager| {
        let cron = Schedule::cron("* * * * * *", "UTC").expect("a valid expression");
        let specs = [
            JobSpec::new("kinds-cron", cron),
            JobSpec::every("kinds-delay", second)
                .run_on_start(false)
                .fixed_delay(),
            JobSpec::every("kinds-jitter", second)
                .run_on_start(false)
                .jitter(Duration::from_millis(300)),
        ];
        for spec in specs {
            manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let executions = stop_and_read(&managers).await;
    for job in ["kinds-cron", "kinds-delay", "kinds-jitter"] {
        let ran = ran_on_time(&executions, job);
        assert!(ran.len() >= 3, "{job}: {executions:#?}");
        let mut fires: Vec<SystemTime> = ran.iter().map(|e| e.fire_at).collect();
        fires.sort();
        fires.dedup();
        assert_eq!(fires.len(), ran.len(), "{job} ran a fire twice: {ran:#?}");
    }
}

/// A fire claimed ahead on an instance that begins to stop before it is
/// due runs at its time there: its claim made it the fleet's execution of
/// the fire, which a stop lets finish as a run in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_claimed_ahead_runs_at_its_time_on_an_instance_that_stops() {
    let database = Database::create().await;
    let managers = ahead(&database, &["stopping-a"], "stopping").await;
    let pending = claimed_ahead(&managers[0], "stopping").await;
    let executions = stop_and_read(&managers).await;
    let of_fire: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.fire_at >= pending.fire_at)
        .collect();
    assert!(
        matches!(&of_fire[..], [ran] if ran.id == pending.id
            && ran.state == ExecutionState::Succeeded
            && ran.started_at.unwrap() >= ran.fire_at),
        "the fire claimed ahead ran at its time: {of_fire:#?}"
    );
}

/// A job under `overlap = "replace"` is claimed at its fires' times, not
/// ahead: its claim cuts short the runs it replaces, which must not happen
/// before the fire is due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_job_is_claimed_at_its_time() {
    let database = Database::create().await;
    let managers = fleet_with(&database, &["replace-a"], ahead_timings(), |_, manager| {
        let spec = JobSpec::every("replacing", Duration::from_secs(1))
            .run_on_start(false)
            .overlap(Overlap::Replace);
        manager.register(job_fn(spec, |_ctx: JobContext| async { Ok(()) }));
    })
    .await;
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < until {
        let executions = managers[0]
            .executions(ExecutionFilter::new().job("replacing"))
            .await
            .unwrap();
        let soon = SystemTime::now() + Duration::from_millis(50);
        let ahead: Vec<&Execution> = executions.iter().filter(|e| e.fire_at > soon).collect();
        assert!(ahead.is_empty(), "claimed ahead: {ahead:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let executions = stop_and_read(&managers).await;
    assert!(executions.len() >= 2, "{executions:#?}");
}

/// A fire won ahead whose job is paused before it is due runs nowhere: it
/// is recorded `cancelled` where it was won, and the other instances find
/// it taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_claimed_ahead_of_a_pause_runs_nowhere() {
    let database = Database::create().await;
    let names = ["pause-a", "pause-b"];
    let managers = ahead(&database, &names, "paused").await;
    // Each instance has read the other's heartbeat: one claims first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pending = claimed_ahead(&managers[0], "paused").await;
    let first = if *pending.instance == *names[0] {
        &managers[0]
    } else {
        &managers[1]
    };
    first.pause("paused").unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    only_cancelled_from(&managers, &pending).await;
}

/// A fire won ahead whose job is aborted before it is due is recorded
/// `cancelled`: no `pending` row is left holding the job's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_claimed_ahead_and_aborted_is_recorded_cancelled() {
    let database = Database::create().await;
    let managers = ahead(&database, &["abort-a"], "aborted").await;
    let pending = claimed_ahead(&managers[0], "aborted").await;
    managers[0].abort_all().await;
    only_cancelled_from(&managers, &pending).await;
}

/// Stops `managers` and checks that of the fire of `pending`, claimed
/// ahead, and of the fires after it, nothing is recorded but that
/// execution, `cancelled`.
async fn only_cancelled_from(managers: &[JobManager], pending: &Execution) {
    let executions = stop_and_read(managers).await;
    let left: Vec<(ExecutionId, ExecutionState)> = executions
        .iter()
        .filter(|e| e.fire_at >= pending.fire_at)
        .map(|e| (e.id, e.state))
        .collect();
    assert_eq!(
        left,
        [(pending.id, ExecutionState::Cancelled)],
        "{executions:#?}"
    );
}

/// A claim won for a run that is gone before it hears the answer (its job
/// was aborted while the claim was made) is recorded `cancelled`: no
/// `pending` row is left holding the job's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_run_is_gone_is_recorded_cancelled() {
    use jobs_runtime::store::Claim;
    let database = Database::create().await;
    let store = PostgresStore::open(database.url()).await.unwrap();
    store
        .recover(SystemTime::now(), "gone-a", &[])
        .await
        .unwrap();
    let id = store.next_id();
    let claim = Claim {
        id,
        fire_at: SystemTime::now(),
        cause: Cause::Trigger,
        limit: None,
        replace: false,
    };
    // Polled once, so the claim is made, then dropped.
    let claimed = store.recorder("gone", "gone-a").claim(claim);
    assert!(tokio::time::timeout(Duration::ZERO, claimed).await.is_err());
    tokio::time::sleep(Duration::from_secs(1)).await;
    store.flush().await.unwrap();
    let execution = store
        .execution(id)
        .await
        .unwrap()
        .expect("the claim's execution");
    assert_eq!(execution.state, ExecutionState::Cancelled);
}

/// Whether every fire of `executions` (one job's, on a grid of `interval`)
/// ran whose previous run had ended 20 ms before it was due; and how many
/// fires were such.
fn ran_when_free(executions: &[Execution], interval: Duration) -> (bool, usize) {
    let mut ran: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.state == ExecutionState::Succeeded)
        .collect();
    ran.sort_by_key(|e| e.fire_at);
    let mut free = 0;
    for pair in ran.windows(2) {
        let next = pair[0].fire_at + interval;
        if pair[0].finished_at.unwrap() + Duration::from_millis(20) < next {
            free += 1;
            if pair[1].fire_at != next {
                return (false, free);
            }
        }
    }
    (true, free)
}

/// A fire due while its job's run is in flight here is handed out when it
/// is due, not ahead: the run may end before, and then the fire runs
/// under `overlap = "skip"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_due_while_its_job_runs_here_is_decided_at_its_time() {
    let database = Database::create().await;
    let interval = Duration::from_secs(1);
    let managers = fleet_with(&database, &["busy-a"], ahead_timings(), |_, manager| {
        let spec = JobSpec::every("busy", interval)
            .run_on_start(false)
            .overlap(Overlap::Skip);
        manager.register(job_fn(spec, |_ctx: JobContext| async {
            tokio::time::sleep(Duration::from_millis(850)).await;
            Ok(())
        }));
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let executions = stop_and_read(&managers).await;
    let (all, free) = ran_when_free(&executions, interval);
    assert!(free >= 2, "too few fires to tell: {executions:#?}");
    assert!(
        all,
        "a fire skipped though the run before it had ended: {executions:#?}"
    );
}

/// A fire claimed ahead while its job runs on another instance is claimed
/// again when it is due: the other run may have ended by then, and the
/// fire runs on time on its first claimer (not later, where another
/// instance claims it after the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_claimed_ahead_while_its_job_runs_elsewhere_is_claimed_again_when_due() {
    let database = Database::create().await;
    let interval = Duration::from_secs(1);
    let names = ["elsewhere-a", "elsewhere-b"];
    let managers = fleet_with(&database, &names, ahead_timings(), |_, manager| {
        let spec = JobSpec::every("elsewhere", interval)
            .run_on_start(false)
            .overlap(Overlap::Skip);
        // A triggered run is long, a scheduled one quick.
        manager.register(job_fn(spec, |ctx: JobContext| async move {
            if ctx.cause() == Cause::Trigger {
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            Ok(())
        }));
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Which instance claims the job's fires first: a trigger on the other
    // one makes the job run there as the next fire is claimed.
    let pending = claimed_ahead(&managers[0], "elsewhere").await;
    let first = pending.instance.clone();
    let other = if *first == *names[0] {
        &managers[1]
    } else {
        &managers[0]
    };
    for _ in 0..4 {
        // Right after a scheduled run: the triggered one ends before the
        // next fire is due, but after it is claimed ahead.
        executions_once(other, "elsewhere", |executions| {
            executions.iter().any(|e| {
                e.cause == Cause::Schedule
                    && e.state == ExecutionState::Succeeded
                    && e.fire_at > SystemTime::now() - Duration::from_millis(150)
            })
        })
        .await;
        // Refused while this instance's claim of the fire just past waits
        // behind the first claimer's.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while other.trigger("elsewhere").is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the trigger was refused"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    let executions = stop_and_read(&managers).await;
    let scheduled: Vec<Execution> = executions
        .iter()
        .filter(|e| e.cause == Cause::Schedule)
        .cloned()
        .collect();
    // Each trigger's run that ended 20 ms before the next fire left that
    // fire to run.
    let triggered: Vec<&Execution> = executions
        .iter()
        .filter(|e| e.cause == Cause::Trigger && e.state == ExecutionState::Succeeded)
        .collect();
    let mut free = 0;
    for run in &triggered {
        let ended = run.finished_at.unwrap();
        let Some(next) = scheduled
            .iter()
            .filter(|e| e.fire_at > run.started_at.unwrap())
            .min_by_key(|e| e.fire_at)
        else {
            continue;
        };
        let due = scheduled
            .iter()
            .filter(|e| e.fire_at < run.started_at.unwrap())
            .map(|e| e.fire_at)
            .max()
            .map(|before| before + interval);
        if let Some(due) = due.filter(|due| ended + Duration::from_millis(20) < *due) {
            free += 1;
            assert_eq!(
                (next.fire_at, &next.instance),
                (due, &first),
                "the fire after a trigger's run did not run on time on its first claimer: {executions:#?}"
            );
        }
    }
    assert!(free >= 2, "too few fires to tell: {executions:#?}");
}
