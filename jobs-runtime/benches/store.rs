//! (d) Executions recorded per second through `Store::record`: each
//! execution is the three changes of a no-op job that succeeds (started,
//! attempt ended, finished), recorded from one task as fast as it can, then
//! one flush; the time runs from the first record to the end of the flush.
//! Measured for the memory store (the baseline) and the SQLite store on a
//! file in a temporary folder (WAL, `synchronous = FULL`), in the same run.
//!
//! Also measured: the same SQLite load recorded in bursts of 1,000
//! executions with a flush after each, as fires that come due together are,
//! which shows the cost of one commit.
//!
//! Then each store is pruned job by job (`Store::prune` for each of the 100
//! jobs, keeping each job's newest 100 ended executions), as the background
//! pruner does; the time is for the whole round.
//!
//! `cargo bench -p jobs-runtime --features sqlite --bench store`;
//! `JOBS_BENCH_QUICK=1` records 20,000 executions instead of 200,000.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use jobs_runtime::execution::{Attempt, Cause, ExecutionState, Outcome, Retention};
use jobs_runtime::store::{Change, MemoryStore, NewExecution, Recorder, SqliteStore, Store};

fn main() {
    support::print_machine("d");
    let executions = if support::quick() { 20_000 } else { 200_000 };
    let runtime = support::runtime();
    runtime.block_on(async {
        let memory = MemoryStore::new();
        report(
            "memory store",
            executions,
            &measure(&memory, executions, None).await,
        );
        prune_round("memory store", &memory).await;

        let folder = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", folder.path().join("bench.db").display());
        let sqlite = SqliteStore::open(&url)
            .await
            .expect("opening the SQLite store");
        report(
            "SQLite store",
            executions,
            &measure(&sqlite, executions, None).await,
        );
        report(
            "SQLite store, a flush every 1,000",
            executions,
            &measure(&sqlite, executions, Some(1_000)).await,
        );
        prune_round("SQLite store", &sqlite).await;
    });
}

/// How long recording `executions` took, how long the records alone
/// (without the final flush) took, and what the rest of the machine used
/// meanwhile.
struct Timing {
    recording: Duration,
    total: Duration,
    other_load: String,
}

async fn measure(store: &dyn Store, executions: u64, flush_every: Option<u64>) -> Timing {
    // Each job's recorder, asked for once, as the engine does at a start.
    let recorders: Vec<Arc<dyn Recorder>> = (0..100)
        .map(|job| store.recorder(&format!("job-{job}"), "bench"))
        .collect();
    let load = support::OtherLoad::start();
    let started = Instant::now();
    for index in 0..executions {
        let recorder = &recorders[usize::try_from(index % 100).expect("a small index")];
        let now = SystemTime::now();
        let id = store.next_id();
        recorder.record(Change::Started(NewExecution {
            id,
            fire_at: now,
            cause: Cause::Schedule,
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
        if flush_every.is_some_and(|every| (index + 1) % every == 0) {
            store.flush().await.expect("flush");
        }
    }
    let recording = started.elapsed();
    store.flush().await.expect("flush");
    Timing {
        recording,
        total: started.elapsed(),
        other_load: load.describe(),
    }
}

/// Prunes each of the 100 jobs to its newest 100 ended executions, one job
/// after another, and prints how long the round took.
async fn prune_round(what: &str, store: &dyn Store) {
    let retention = Retention {
        keep_last: 100,
        ..Retention::default()
    };
    let now = SystemTime::now();
    let started = Instant::now();
    let mut removed = 0;
    for job in 0..100 {
        removed += store
            .prune(&format!("job-{job}"), retention, now)
            .await
            .expect("prune");
    }
    let elapsed = started.elapsed();
    println!(
        "(d) {what}: pruning 100 jobs to their newest 100 removed {removed} executions in {:.0} ms ({:.2} µs each)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / removed.max(1) as f64,
    );
}

fn report(what: &str, executions: u64, timing: &Timing) {
    let per_second = executions as f64 / timing.total.as_secs_f64();
    println!(
        "(d) {what}: {executions} executions in {:.0} ms = {per_second:.0} executions/s \
         ({:.2} µs each; recording alone {:.2} µs each; the rest of the machine used {})",
        timing.total.as_secs_f64() * 1e3,
        timing.total.as_secs_f64() * 1e6 / executions as f64,
        timing.recording.as_secs_f64() * 1e6 / executions as f64,
        timing.other_load,
    );
}
