//! `missed = "catch_up"` across a restart, on tokio's paused clock: the
//! fires missed while no process ran the job run one after another, oldest
//! first, at most `limit` of them; the older ones are counted as missed. The
//! restart is a second manager on the same (memory) store, as a new process
//! on the same database.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jobs_runtime::execution::ExecutionFilter;
use jobs_runtime::store::{MemoryStore, Store};
use jobs_runtime::{Clock, JobManager, JobSpec, Missed};
use serde_json::json;
use tokio::time::Instant;

use support::{next_soon as next, recording, settle, wall, Logs};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn catch_up_runs_the_latest_missed_fires_one_after_another_after_a_restart() {
    let (logs, _guard) = Logs::capture();
    let store = Arc::new(MemoryStore::new());
    let start = wall("2026-11-20T12:00:00Z");
    let spec = || JobSpec::every("ledger", MINUTE).missed(Missed::CatchUp { limit: 3 });
    let work = Duration::from_secs(5);

    let first = JobManager::new();
    first.set_clock(Clock::starting_at(start));
    let (job, mut runs) = recording(spec(), work);
    first.register(job);
    first.set_store(Arc::clone(&store)).await.unwrap();
    first.start_all().unwrap();
    assert_eq!(next(&mut runs).await.number, 1);
    settle().await;
    first.stop_all().await;

    // Down for 10.5 minutes: the fires due at 1 to 10 minutes came while no
    // process ran the job; the one at 10 minutes is 30 s late, within the
    // misfire threshold.
    tokio::time::advance(10 * MINUTE + Duration::from_secs(30)).await;
    let restart = Instant::now();
    let second = JobManager::new();
    second.set_clock(Clock::starting_at(
        start + 10 * MINUTE + Duration::from_secs(30),
    ));
    let (job, mut runs) = recording(spec(), work);
    second.register(job);
    // After the job is registered, so that its schedule row is read back.
    second.set_store(Arc::clone(&store)).await.unwrap();
    second.start_all().unwrap();

    // The latest three, oldest first, each once the one before it ended.
    for index in 0..3 {
        let run = next(&mut runs).await;
        assert_eq!(run.started_at, restart + work * index, "run {index}");
    }
    // Then the grid goes on: the fire due at 11 minutes.
    let run = next(&mut runs).await;
    assert_eq!(run.started_at, restart + Duration::from_secs(30));
    second.stop_all().await;

    // The executions record the fires they ran, by their wall-clock times.
    let filter = ExecutionFilter::new().job("ledger").oldest_first();
    let executions = store.executions(filter).await.unwrap();
    let fired: Vec<SystemTime> = executions
        .iter()
        .map(|execution| execution.fire_at)
        .collect();
    assert_eq!(
        fired,
        [0, 8, 9, 10, 11].map(|minutes| start + minutes * MINUTE)
    );

    let stats = second.stats("ledger").unwrap();
    // Every fire that did not run on time: 1 to 9 minutes (the one at 10
    // minutes is late within the threshold); 8 and 9 ran late.
    assert_eq!(stats.missed_count, 9, "the fires at 1 to 9 minutes");
    let missed = logs.job_operation("ledger", "job_execute_missed");
    assert_eq!(missed.len(), 1, "{:?}", logs.operations());
    assert_eq!(missed[0].field("missed"), &json!(9));
    assert_eq!(missed[0].str("policy"), "catch_up");
}
