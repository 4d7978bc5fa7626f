//! Real processes on one real PostgreSQL database: two instances of the
//! `restart-app` service share its `long` job (its first attempt runs ten
//! minutes, a later one succeeds at once, one retry). The instance running
//! it is killed with SIGKILL; the other takes the execution over and
//! continues it within the failover bound. Real time: the processes, the
//! heartbeats and the kill are the point.

#![cfg(unix)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jobs_runtime::execution::{Cause, Execution, ExecutionFilter, ExecutionState, Outcome};
use jobs_runtime::store::{PostgresStore, Store};
use jobs_test_postgres::Database;

/// The jobs of the service other than `long`, switched off here.
const OTHERS: [&str; 5] = ["skipper", "once", "catchup", "hourly", "starter"];

/// How long failover may take with the default timings: a dead instance's
/// heartbeat is 20 s old at most once it is found dead, and the others look
/// every 5 s.
const BOUND: Duration = Duration::from_secs(30);

/// An instance of the service, killed when dropped.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(url: &str, instance: &str) -> App {
    let mut command = Command::new(env!("CARGO_BIN_EXE_restart-app"));
    command
        .env("JOBS_DATABASE_URL", url)
        .env("JOBS_INSTANCE", instance)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for job in OTHERS {
        command.env(format!("JOBS_{}_ENABLED", job.to_uppercase()), "false");
    }
    App(command.spawn().expect("the service starts"))
}

async fn long(store: &PostgresStore) -> Vec<Execution> {
    store
        .executions(
            ExecutionFilter::new()
                .job("long")
                .unlimited()
                .oldest_first(),
        )
        .await
        .expect("the history reads")
}

/// Waits until `done` holds for `long`'s executions, for at most `patience`.
async fn wait_for(
    store: &PostgresStore,
    patience: Duration,
    what: &str,
    done: impl Fn(&[Execution]) -> bool,
) -> Vec<Execution> {
    let deadline = Instant::now() + patience;
    loop {
        let executions = long(store).await;
        if done(&executions) {
            return executions;
        }
        assert!(Instant::now() < deadline, "{what}: {executions:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_instances_execution_is_continued_by_another_within_30_s() {
    let database = Database::create().await;
    let url = database.url().to_owned();
    let mut apps = vec![start(&url, "fleet-1"), start(&url, "fleet-2")];
    let store = PostgresStore::open(&url).await.expect("the store opens");
    let running = wait_for(&store, Duration::from_secs(30), "the run on start", |all| {
        all.iter().any(|e| e.state == ExecutionState::Running)
    })
    .await;
    assert_eq!(running.len(), 1, "the run on start ran once: {running:#?}");
    let killed = running[0].clone();
    let index = if &*killed.instance == "fleet-1" { 0 } else { 1 };
    let survivor = if index == 0 { "fleet-2" } else { "fleet-1" };
    let mut victim = apps.remove(index);
    victim.0.kill().expect("SIGKILL");
    let killed_at = Instant::now();
    victim.0.wait().expect("the killed process is reaped");

    let all = wait_for(
        &store,
        BOUND + Duration::from_secs(30),
        "the takeover",
        |all| {
            all.iter()
                .any(|e| e.cause == Cause::Recovery && e.state == ExecutionState::Succeeded)
        },
    )
    .await;
    let failover = killed_at.elapsed();
    eprintln!("failover after SIGKILL: {failover:?}");
    assert!(failover <= BOUND, "failover took {failover:?}");

    let abandoned = all
        .iter()
        .find(|e| e.id == killed.id)
        .expect("the killed one");
    assert_eq!(abandoned.state, ExecutionState::Abandoned);
    assert_eq!(abandoned.attempts.len(), 1);
    assert_eq!(abandoned.attempts[0].outcome, Some(Outcome::Abandoned));
    let rescued = all
        .iter()
        .find(|e| e.cause == Cause::Recovery)
        .expect("the continuation");
    assert_eq!(&*rescued.instance, survivor);
    assert_eq!(rescued.fire_at, killed.fire_at);
    assert_eq!(rescued.attempts.len(), 1);
    assert_eq!(rescued.attempts[0].number, 2);
    assert_eq!(all.len(), 2, "nothing else ran: {all:#?}");
    drop(apps);
}
