//! What the PostgreSQL store does while its database is away: the changes
//! recorded meanwhile are kept and written once it is back, claims fail
//! rather than wait, and nothing is lost.

use std::time::{Duration, Instant, SystemTime};

use jobs_runtime::execution::{Attempt, Cause, ExecutionState, Outcome};
use jobs_runtime::store::{
    Change, Claim, FleetTimings, NewExecution, PostgresStore, Rescue, Store,
};
use jobs_test_postgres::Database;

/// Records one whole execution of `job`, succeeded.
fn record_execution(store: &PostgresStore, job: &str) -> jobs_runtime::execution::ExecutionId {
    let recorder = store.recorder(job, "host-1");
    let id = store.next_id();
    let now = SystemTime::now();
    recorder.record(Change::Started(NewExecution {
        id,
        fire_at: now,
        cause: Cause::Trigger,
        started_at: Some(now),
    }));
    recorder.record(Change::AttemptEnded {
        id,
        attempt: Attempt {
            number: 1,
            started_at: now,
            finished_at: Some(now),
            outcome: Some(Outcome::Succeeded),
        },
        retrying: false,
    });
    recorder.record(Change::Finished {
        id,
        state: ExecutionState::Succeeded,
        at: now,
    });
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_recorded_during_an_outage_are_written_when_it_ends() {
    let database = Database::create().await;
    let store = PostgresStore::open(database.url()).await.expect("opens");
    let before = record_execution(&store, "before");
    store.flush().await.expect("written");

    database.cut().await;
    let during = record_execution(&store, "during");
    let claim = store
        .recorder("claimed", "host-1")
        .claim(Claim {
            id: store.next_id(),
            fire_at: SystemTime::now(),
            cause: Cause::Schedule,
            limit: None,
            replace: false,
        })
        .await;
    assert!(
        claim.is_err(),
        "a claim fails while the database is away: {claim:?}"
    );
    // Long enough for the writer to fail several times.
    tokio::time::sleep(Duration::from_secs(2)).await;
    database.restore().await;

    let asked = Instant::now();
    store.flush().await.expect("the kept changes are written");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "{:?}",
        asked.elapsed()
    );
    for id in [before, during] {
        let execution = store.execution(id).await.expect("reads").expect("recorded");
        assert_eq!(execution.state, ExecutionState::Succeeded, "{execution:?}");
        assert_eq!(execution.attempts.len(), 1, "{execution:?}");
    }
    let totals = store.totals("during").await.expect("reads");
    assert_eq!(totals.executions, 1, "{totals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_back_from_an_outage_is_alive_before_its_first_claim_lands() {
    let database = Database::create().await;
    let timings = FleetTimings::new(
        Duration::from_secs(1),
        Duration::from_secs(3),
        Duration::from_secs(60),
    )
    .unwrap();
    let back = PostgresStore::open_with(database.url(), timings)
        .await
        .expect("opens");
    back.recover(SystemTime::now(), "back", &[])
        .await
        .expect("registers");
    // Past the dead-after bound: the others would take it for dead.
    database.cut().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    database.restore().await;
    let other = PostgresStore::open_with(database.url(), timings)
        .await
        .expect("opens");
    other
        .recover(SystemTime::now(), "other", &[])
        .await
        .expect("registers");
    let recorder = back.recorder("fresh", "back");
    let id = back.next_id();
    let claim = Claim {
        id,
        fire_at: SystemTime::now(),
        cause: Cause::Trigger,
        limit: Some(1),
        replace: false,
    };
    // Made again until the pool has reconnected.
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorder.claim(claim).await.is_err() {
        assert!(Instant::now() < deadline, "the claim goes through again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rescued = other
        .rescue(SystemTime::now(), "other", &[Rescue::new("fresh")])
        .await
        .expect("reads");
    assert!(
        rescued.is_empty(),
        "an instance that claims again is alive: {rescued:?}"
    );
}
