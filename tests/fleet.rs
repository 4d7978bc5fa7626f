//! Several instances on one real PostgreSQL database (a database of the
//! test's own), in one process: each manager has its own store handle, as
//! a process of its own would. Every scheduled fire runs once across them,
//! on the grid they share. Real time, with generous bounds: the database is
//! the point.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use jobs_runtime::execution::{Cause, ExecutionFilter, ExecutionState};
use jobs_runtime::store::{PostgresStore, Store};
use jobs_runtime::{JobContext, JobManager, JobSpec, Schedule};
use jobs_test_postgres::Database;

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
    let mut managers = Vec::new();
    for name in ["fleet-a", "fleet-b", "fleet-c"] {
        let manager = JobManager::new();
        manager.set_instance(name).unwrap();
        jobs(&manager);
        let store = PostgresStore::open(database.url())
            .await
            .expect("the store opens");
        assert!(store.shared());
        manager.set_store(store).await.expect("the store is set");
        managers.push(manager);
    }
    for manager in &managers {
        manager.start_all().expect("the jobs start");
    }
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    let instances = managers[1].instances().await.expect("the instances read");
    let names: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(names, ["fleet-a", "fleet-b", "fleet-c"]);
    assert!(instances
        .iter()
        .all(|i| i.alive && i.pid == std::process::id() && i.heartbeat_at >= i.started_at));
    for manager in &managers {
        manager.stop_all().await;
    }

    let executions = managers[0]
        .executions(ExecutionFilter::new().unlimited().oldest_first())
        .await
        .expect("the history reads");
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
    assert!(executions
        .iter()
        .all(|e| e.state == ExecutionState::Succeeded));
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
    assert_eq!(ran, executions.len() as u64);
    let skipped: u64 = managers
        .iter()
        .flat_map(|manager| manager.all_stats())
        .map(|stats| stats.skipped_count)
        .sum();
    assert_eq!(skipped, 0, "no fire was left unclaimed");
}

/// Two managers on one database, started together.
async fn pair(database: &Database, spec: impl Fn() -> JobSpec) -> Vec<JobManager> {
    let mut managers = Vec::new();
    for name in ["pair-a", "pair-b"] {
        let manager = JobManager::new();
        manager.set_instance(name).unwrap();
        manager.register(job_fn(spec(), |_ctx: JobContext| async { Ok(()) }));
        let store = PostgresStore::open(database.url())
            .await
            .expect("the store opens");
        manager.set_store(store).await.expect("the store is set");
        managers.push(manager);
    }
    for manager in &managers {
        manager.start_all().expect("the jobs start");
    }
    managers
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
    assert!(fires.len() >= 6, "{fires:?}");
    for pair in fires.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]).unwrap(),
            Duration::from_secs(1),
            "{fires:?}"
        );
    }
}
