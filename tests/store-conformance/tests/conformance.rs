//! The conformance suite: every store keeps and answers the same way. Each
//! case is written once, against `dyn Store`, and run against every store
//! (a module per store at the end of this file).
//!
//! A "reopen" is a process restart as each store sees it: the SQLite store
//! is dropped (after a flush) and opened again on the same file; the memory
//! store is handed, unchanged, to the next engine in the same process.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jobs_runtime::execution::{
    Attempt, Cause, Execution, ExecutionFilter, ExecutionId, ExecutionState, Outcome, Retention,
};
use jobs_runtime::store::{
    Change, Claim, Claimed, Continuation, Field, JobTotals, MemoryStore, NewExecution,
    PostgresStore, Recorder, Rescue, ScheduleRow, SqliteStore, Store,
};
use jobs_test_postgres::Database;

/// Opens the store under test, the first time or again after a restart.
trait Harness {
    async fn open(&mut self) -> Arc<dyn Store>;
}

#[derive(Default)]
struct MemoryHarness {
    store: Option<Arc<MemoryStore>>,
}

impl Harness for MemoryHarness {
    async fn open(&mut self) -> Arc<dyn Store> {
        // Large enough that the memory store's own bound (the newest
        // `keep_last` per job, kept as they end) stays out of the cases.
        let retention = Retention {
            keep_last: 1_000_000,
            ..Retention::default()
        };
        let store = self
            .store
            .get_or_insert_with(|| Arc::new(MemoryStore::with_retention(retention)));
        store.clone()
    }
}

struct SqliteHarness {
    _folder: tempfile::TempDir,
    url: String,
}

impl SqliteHarness {
    fn new() -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", folder.path().join("jobs.db").display());
        SqliteHarness {
            _folder: folder,
            url,
        }
    }
}

impl Harness for SqliteHarness {
    async fn open(&mut self) -> Arc<dyn Store> {
        Arc::new(
            SqliteStore::open(&self.url)
                .await
                .expect("opening the store"),
        )
    }
}

/// A PostgreSQL database of the test's own, dropped with it.
struct PostgresHarness {
    database: Option<Database>,
}

impl PostgresHarness {
    fn new() -> Self {
        PostgresHarness { database: None }
    }
}

impl Harness for PostgresHarness {
    async fn open(&mut self) -> Arc<dyn Store> {
        if self.database.is_none() {
            self.database = Some(Database::create().await);
        }
        let url = self.database.as_ref().expect("made above").url();
        Arc::new(PostgresStore::open(url).await.expect("opening the store"))
    }
}

/// `millis` after the epoch.
fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// A large time, so that the tests' times read like real ones.
const T: u64 = 1_700_000_000_000;

fn started(store: &dyn Store, job: &str, fire_at: SystemTime, running: bool) -> ExecutionId {
    let id = store.next_id();
    store
        .recorder(job, "host-1")
        .record(Change::Started(NewExecution {
            id,
            fire_at,
            cause: Cause::Schedule,
            started_at: running.then_some(fire_at + Duration::from_millis(1)),
        }));
    id
}

fn ended(
    store: &dyn Store,
    job: &str,
    id: ExecutionId,
    number: u32,
    started_at: SystemTime,
    outcome: Outcome,
    retrying: bool,
) {
    store.recorder(job, "host-1").record(Change::AttemptEnded {
        id,
        attempt: Attempt {
            number,
            started_at,
            finished_at: Some(started_at + Duration::from_millis(10)),
            outcome: Some(outcome),
        },
        retrying,
    });
}

fn finished(
    store: &dyn Store,
    id: ExecutionId,
    job: &str,
    state: ExecutionState,
    when: SystemTime,
) {
    store.recorder(job, "host-1").record(Change::Finished {
        id,
        state,
        at: when,
    });
}

/// Records one complete execution of `job` due at `fire_at` that ended with
/// `outcome`.
fn complete(store: &dyn Store, job: &str, fire_at: SystemTime, outcome: Outcome) -> ExecutionId {
    let id = started(store, job, fire_at, true);
    let state = outcome.final_state();
    let begun = fire_at + Duration::from_millis(1);
    ended(store, job, id, 1, begun, outcome, false);
    finished(store, id, job, state, begun + Duration::from_millis(10));
    id
}

/// A claim of the scheduled fire at `fire_at`, without a limit.
fn scheduled(id: ExecutionId, fire_at: SystemTime) -> Claim {
    Claim {
        id,
        fire_at,
        cause: Cause::Schedule,
        limit: None,
        replace: false,
    }
}

/// Whether `recorder` wins the scheduled fire at `fire_at` as `id`.
async fn won(recorder: &dyn Recorder, id: ExecutionId, fire_at: SystemTime) -> bool {
    let answer = recorder.claim(scheduled(id, fire_at)).await.unwrap();
    matches!(answer, Claimed::Won { .. })
}

/// Claims for `recorder` the scheduled fire at `fire_at` and starts it a
/// millisecond later; returns its id.
async fn won_and_started(
    store: &dyn Store,
    recorder: &dyn Recorder,
    fire_at: SystemTime,
) -> ExecutionId {
    let id = store.next_id();
    assert!(won(recorder, id, fire_at).await);
    recorder.record(Change::Started(NewExecution {
        id,
        fire_at,
        cause: Cause::Schedule,
        started_at: Some(fire_at + Duration::from_millis(1)),
    }));
    id
}

async fn get(store: &dyn Store, id: ExecutionId) -> Execution {
    store.flush().await.expect("flush");
    store
        .execution(id)
        .await
        .expect("query")
        .expect("the execution is kept")
}

/// Prunes each of `jobs` by `retention`, one after another, and returns
/// how many executions went in all.
async fn prune_each(
    store: &dyn Store,
    jobs: &[&str],
    retention: Retention,
    now: SystemTime,
) -> u64 {
    let mut removed = 0;
    for job in jobs {
        removed += store.prune(job, retention, now).await.unwrap();
    }
    removed
}

async fn ids(store: &dyn Store, filter: ExecutionFilter) -> Vec<ExecutionId> {
    store.flush().await.expect("flush");
    let found = store.executions(filter).await.expect("query");
    found.iter().map(|execution| execution.id).collect()
}

async fn record_and_read_back(mut harness: impl Harness) {
    let store = harness.open().await;
    let store = &*store;
    let fire_at = at(T);
    let id = complete(store, "digest", fire_at, Outcome::Succeeded);
    let expected = Execution {
        id,
        job: "digest".into(),
        fire_at,
        cause: Cause::Schedule,
        state: ExecutionState::Succeeded,
        instance: "host-1".into(),
        attempts: vec![Attempt {
            number: 1,
            started_at: at(T + 1),
            finished_at: Some(at(T + 11)),
            outcome: Some(Outcome::Succeeded),
        }],
        started_at: Some(at(T + 1)),
        finished_at: Some(at(T + 11)),
    };
    assert_eq!(get(store, id).await, expected);
    assert_eq!(expected.outcome(), Some(&Outcome::Succeeded));

    let pending = store.next_id();
    store
        .recorder("index", "host-2")
        .record(Change::Started(NewExecution {
            id: pending,
            fire_at: at(T + 500),
            cause: Cause::Upstream,
            started_at: None,
        }));
    let execution = get(store, pending).await;
    assert_eq!(execution.state, ExecutionState::Pending);
    assert_eq!(execution.cause, Cause::Upstream);
    assert_eq!(&*execution.instance, "host-2");
    assert!(execution.attempts.is_empty());
    assert_eq!(execution.started_at, None);
    assert_eq!(store.execution(ExecutionId(999_999)).await.unwrap(), None);

    // Times are kept to the millisecond.
    let id = started(store, "digest", at(T) + Duration::from_micros(2_500), false);
    assert_eq!(get(store, id).await.fire_at, at(T + 2));
}

async fn filters_limits_and_order(mut harness: impl Harness) {
    let store = harness.open().await;
    let store = &*store;
    let a1 = complete(store, "a", at(T), Outcome::Succeeded);
    let b1 = complete(store, "b", at(T + 1_000), Outcome::Cancelled);
    let a2 = complete(
        store,
        "a",
        at(T + 2_000),
        Outcome::TimedOut {
            limit: Duration::from_secs(1),
        },
    );
    let a3 = started(store, "a", at(T + 3_000), true);

    assert_eq!(ids(store, ExecutionFilter::new()).await, [a3, a2, b1, a1]);
    assert_eq!(
        ids(store, ExecutionFilter::new().oldest_first()).await,
        [a1, b1, a2, a3]
    );
    assert_eq!(
        ids(store, ExecutionFilter::new().job("a")).await,
        [a3, a2, a1]
    );
    assert_eq!(ids(store, ExecutionFilter::new().job("b")).await, [b1]);
    assert_eq!(ids(store, ExecutionFilter::new().job("c")).await, []);
    assert_eq!(
        ids(store, ExecutionFilter::new().state(ExecutionState::Failed)).await,
        [a2]
    );
    assert_eq!(
        ids(store, ExecutionFilter::new().state(ExecutionState::Running)).await,
        [a3]
    );
    assert_eq!(
        ids(
            store,
            ExecutionFilter::new().fired_between(at(T + 1_000), at(T + 3_000))
        )
        .await,
        [a2, b1],
        "the range includes its start and excludes its end"
    );
    assert_eq!(ids(store, ExecutionFilter::new().limit(2)).await, [a3, a2]);
    assert_eq!(
        ids(
            store,
            ExecutionFilter::new().job("a").oldest_first().limit(2)
        )
        .await,
        [a1, a2]
    );
    assert_eq!(
        ids(
            store,
            ExecutionFilter::new()
                .job("a")
                .state(ExecutionState::Succeeded)
                .fired_between(at(T), at(T + 1))
        )
        .await,
        [a1]
    );
    assert_eq!(ids(store, ExecutionFilter::new().limit(0)).await, []);

    for index in 0..150 {
        complete(store, "many", at(T + 10_000 + index), Outcome::Succeeded);
    }
    let many = ExecutionFilter::new().job("many");
    assert_eq!(
        ids(store, many.clone()).await.len(),
        ExecutionFilter::DEFAULT_LIMIT
    );
    assert_eq!(ids(store, many.unlimited()).await.len(), 150);
}

async fn states_through_pending_retries_and_failure(mut harness: impl Harness) {
    let store = harness.open().await;
    let store = &*store;
    let id = started(store, "sync", at(T), false);
    assert_eq!(get(store, id).await.state, ExecutionState::Pending);

    store
        .recorder("sync", "host-1")
        .record(Change::AttemptStarted {
            id,
            number: 1,
            at: at(T + 5),
        });
    let execution = get(store, id).await;
    assert_eq!(execution.state, ExecutionState::Running);
    assert_eq!(execution.started_at, Some(at(T + 5)));
    assert_eq!(
        execution.attempts,
        [Attempt {
            number: 1,
            started_at: at(T + 5),
            finished_at: None,
            outcome: None,
        }],
        "the running attempt has no end yet"
    );

    let failure = Outcome::Failed {
        error: "connection refused".into(),
        causes: Vec::new(),
    };
    ended(store, "sync", id, 1, at(T + 5), failure.clone(), true);
    let execution = get(store, id).await;
    assert_eq!(execution.state, ExecutionState::Retrying);
    assert_eq!(execution.attempts.len(), 1);
    assert_eq!(execution.outcome(), Some(&failure));

    store
        .recorder("sync", "host-1")
        .record(Change::AttemptStarted {
            id,
            number: 2,
            at: at(T + 1_000),
        });
    let execution = get(store, id).await;
    assert_eq!(execution.state, ExecutionState::Running);
    assert_eq!(
        execution.started_at,
        Some(at(T + 5)),
        "the first start stays"
    );
    assert_eq!(execution.attempts.len(), 2);
    assert_eq!(execution.attempts[1].outcome, None);
    assert_eq!(execution.outcome(), Some(&failure));

    let panic = Outcome::Panicked {
        message: "index out of bounds".into(),
        location: Some("src/sync.rs:10:5".into()),
    };
    ended(store, "sync", id, 2, at(T + 1_000), panic.clone(), false);
    finished(store, id, "sync", ExecutionState::Failed, at(T + 1_020));
    let execution = get(store, id).await;
    assert_eq!(execution.state, ExecutionState::Failed);
    assert_eq!(execution.finished_at, Some(at(T + 1_020)));
    assert_eq!(execution.attempts.len(), 2);
    assert_eq!(execution.attempts[1].finished_at, Some(at(T + 1_010)));
    assert_eq!(execution.outcome(), Some(&panic));

    let cancelled = started(store, "sync", at(T + 2_000), false);
    finished(
        store,
        cancelled,
        "sync",
        ExecutionState::Cancelled,
        at(T + 2_001),
    );
    let execution = get(store, cancelled).await;
    assert_eq!(execution.state, ExecutionState::Cancelled);
    assert!(execution.attempts.is_empty(), "it never started");
}

async fn every_outcome_round_trips(mut harness: impl Harness) {
    let outcomes = [
        Outcome::Succeeded,
        Outcome::Failed {
            error: "could not send the digest".into(),
            causes: vec!["smtp: connection reset".into(), "os error 104".into()],
        },
        Outcome::Failed {
            error: "no causes".into(),
            causes: Vec::new(),
        },
        Outcome::Panicked {
            message: "attempt to divide by zero".into(),
            location: Some("src/report.rs:42:17".into()),
        },
        Outcome::Panicked {
            message: "Box<dyn Any>".into(),
            location: None,
        },
        Outcome::TimedOut {
            limit: Duration::from_millis(1_500),
        },
        Outcome::Cancelled,
        Outcome::Abandoned,
    ];
    let mut kept = Vec::new();
    {
        let store = harness.open().await;
        for (index, outcome) in (0..).zip(&outcomes) {
            let id = complete(&*store, "report", at(T + index), outcome.clone());
            kept.push(id);
        }
        store.flush().await.unwrap();
    }
    let store = harness.open().await;
    for (id, outcome) in kept.into_iter().zip(outcomes) {
        let execution = get(&*store, id).await;
        assert_eq!(execution.outcome(), Some(&outcome));
        assert_eq!(execution.state, outcome.final_state());
    }
}

async fn a_restart_abandons_what_was_running(mut harness: impl Harness) {
    let (running, retrying, pending, done);
    {
        let store = harness.open().await;
        let store = &*store;
        let recovered = store.recover(at(T), "host-1", &[]).await.unwrap();
        assert!(recovered.abandoned.is_empty());
        running = started(store, "a", at(T + 100), true);
        retrying = started(store, "b", at(T + 200), true);
        let failure = Outcome::Failed {
            error: "timeout talking to the API".into(),
            causes: vec!["deadline exceeded".into()],
        };
        ended(store, "b", retrying, 1, at(T + 201), failure, true);
        pending = started(store, "c", at(T + 300), false);
        done = complete(store, "d", at(T + 400), Outcome::Succeeded);
        store.flush().await.unwrap();
    }
    let store = harness.open().await;
    let store = &*store;
    let now = at(T + 60_000);
    let recovered = store.recover(now, "host-1", &[]).await.unwrap();
    let executions: Vec<&Execution> = recovered.abandoned.iter().map(|r| &r.execution).collect();
    let abandoned: Vec<ExecutionId> = executions.iter().map(|e| e.id).collect();
    // A shared store's pending executions are claims, which hold their
    // job's limit across the fleet: they are abandoned too.
    if store.shared() {
        assert_eq!(abandoned, [running, retrying, pending]);
    } else {
        assert_eq!(abandoned, [running, retrying]);
    }
    for execution in &executions {
        assert_eq!(execution.state, ExecutionState::Abandoned);
        assert_eq!(execution.finished_at, Some(now));
    }
    let killed = executions[0];
    assert_eq!(
        killed.attempts,
        [Attempt {
            number: 1,
            started_at: at(T + 101),
            finished_at: Some(now),
            outcome: Some(Outcome::Abandoned),
        }],
        "the running attempt ends abandoned"
    );
    let waiting = executions[1];
    assert_eq!(waiting.attempts.len(), 1, "no attempt was running");
    assert!(matches!(
        waiting.outcome(),
        Some(Outcome::Failed { causes, .. }) if causes == &["deadline exceeded"]
    ));
    assert_eq!(&get(store, running).await, executions[0]);
    let left = if store.shared() {
        ExecutionState::Abandoned
    } else {
        ExecutionState::Pending
    };
    assert_eq!(get(store, pending).await.state, left);
    assert_eq!(get(store, done).await.state, ExecutionState::Succeeded);
    let again = store.recover(at(T + 70_000), "host-1", &[]).await.unwrap();
    assert!(again.abandoned.is_empty(), "abandoned once only");
}

async fn schedule_rows_round_trip_and_survive_a_restart(mut harness: impl Harness) {
    let hourly = ScheduleRow {
        job: "hourly".into(),
        anchor: at(T),
        last_fire: Some(at(T + 3_600_000)),
        last_success: Some(at(T + 3_600_000)),
        paused: false,
        schedule_override: None,
    };
    let mut digest = ScheduleRow {
        job: "digest".into(),
        anchor: at(T + 5),
        last_fire: None,
        last_success: None,
        paused: false,
        schedule_override: None,
    };
    {
        let store = harness.open().await;
        assert!(store.schedules().await.unwrap().is_empty());
        store
            .recorder("hourly", "host-1")
            .record(Change::Schedule(hourly.clone()));
        store
            .recorder("digest", "host-1")
            .record(Change::Schedule(digest.clone()));
        digest.paused = true;
        digest.last_fire = Some(at(T + 60_000));
        digest.schedule_override = Some("every 5m".into());
        store
            .recorder("digest", "host-1")
            .record(Change::Schedule(digest.clone()));
        store.flush().await.unwrap();
        let rows = store.schedules().await.unwrap();
        assert_eq!(rows, [digest.clone(), hourly.clone()], "by job name");
    }
    let store = harness.open().await;
    let recovered = store
        .recover(at(T + 7_200_000), "host-1", &[])
        .await
        .unwrap();
    assert_eq!(recovered.schedules, [digest.clone(), hourly.clone()]);
    assert_eq!(store.schedules().await.unwrap(), [digest, hourly]);
}

/// A control call writes only the part of the row it changed: a pause and
/// a new schedule recorded at once by two instances, each from its own view
/// of the row, both hold; a control call on a job with no row writes it
/// whole.
async fn a_control_change_writes_only_its_part(mut harness: impl Harness) {
    let row = ScheduleRow {
        job: "report".into(),
        anchor: at(T),
        last_fire: Some(at(T + 60_000)),
        last_success: Some(at(T + 60_000)),
        paused: false,
        schedule_override: None,
    };
    let store = harness.open().await;
    store
        .recorder("report", "host-1")
        .record(Change::Schedule(row.clone()));
    store.flush().await.unwrap();
    // host-1 pauses, host-2 sets a schedule, neither seeing the other's.
    let paused = ScheduleRow {
        paused: true,
        ..row.clone()
    };
    let rescheduled = ScheduleRow {
        anchor: at(T + 90_000),
        last_fire: None,
        last_success: None,
        schedule_override: Some("every 5s".into()),
        ..row.clone()
    };
    store.recorder("report", "host-1").record(Change::Control {
        row: paused,
        changed: Field::Paused,
    });
    store.flush().await.unwrap();
    store.recorder("report", "host-2").record(Change::Control {
        row: rescheduled,
        changed: Field::Schedule,
    });
    store.flush().await.unwrap();
    let both = ScheduleRow {
        anchor: at(T + 90_000),
        paused: true,
        schedule_override: Some("every 5s".into()),
        ..row.clone()
    };
    assert_eq!(
        store.schedules().await.unwrap(),
        std::slice::from_ref(&both)
    );
    // host-2 resumes from its view, which still has no pause: the schedule
    // host-2 set stays.
    store.recorder("report", "host-2").record(Change::Control {
        row: row.clone(),
        changed: Field::Paused,
    });
    let fresh = ScheduleRow {
        job: "fresh".into(),
        anchor: at(T + 5),
        last_fire: None,
        last_success: None,
        paused: true,
        schedule_override: Some("every 1m".into()),
    };
    store.recorder("fresh", "host-1").record(Change::Control {
        row: fresh.clone(),
        changed: Field::Paused,
    });
    store.flush().await.unwrap();
    let resumed = ScheduleRow {
        paused: false,
        ..both
    };
    assert_eq!(store.schedules().await.unwrap(), [fresh, resumed]);
}

/// Registering inserts only the rows whose jobs have none, and answers with
/// the rows the store already had: two processes registering a job at once
/// agree on the first row, and so on its grid's anchor.
async fn registering_keeps_the_first_row_of_each_job(mut harness: impl Harness) {
    let row = |job: &str, anchor: u64| ScheduleRow {
        job: job.into(),
        anchor: at(anchor),
        last_fire: None,
        last_success: None,
        paused: false,
        schedule_override: None,
    };
    {
        let store = harness.open().await;
        let kept = store.register(vec![row("hourly", T)]).await.unwrap();
        assert!(kept.is_empty(), "a new row is inserted: {kept:?}");
        // A second process, a moment later, with an anchor of its own.
        let kept = store
            .register(vec![row("hourly", T + 40), row("digest", T + 40)])
            .await
            .unwrap();
        assert_eq!(kept, [row("hourly", T)], "the first row is kept");
        store.flush().await.unwrap();
        assert_eq!(
            store.schedules().await.unwrap(),
            [row("digest", T + 40), row("hourly", T)]
        );
    }
    let store = harness.open().await;
    store.recover(at(T + 60_000), "host-1", &[]).await.unwrap();
    let mut kept = store
        .register(vec![row("hourly", T + 60_000), row("digest", T + 60_000)])
        .await
        .unwrap();
    kept.sort_by(|a, b| a.job.cmp(&b.job));
    assert_eq!(kept, [row("digest", T + 40), row("hourly", T)]);
}

/// A store that processes share gives each scheduled fire to one claim,
/// whichever process makes it, and refuses a fire older than one claimed;
/// the winner's claim records the execution, pending. A store of one
/// process wins every claim and records nothing for it.
async fn each_fire_is_claimed_once(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let mine = store.recorder("sync", "host-1");
    if !store.shared() {
        let id = store.next_id();
        assert!(won(&*mine, id, at(T + 1_000)).await);
        store.flush().await.unwrap();
        assert_eq!(store.execution(id).await.unwrap(), None);
        return;
    }
    // Another process on the same database.
    let other = harness.open().await;
    other.recover(at(T), "host-2", &[]).await.unwrap();
    let theirs = other.recorder("sync", "host-2");
    let (first, second) = (store.next_id(), other.next_id());
    assert_ne!(first, second, "ids are unique across processes");
    let (won_first, won_second) = tokio::join!(
        won(&*mine, first, at(T + 1_000)),
        won(&*theirs, second, at(T + 1_000))
    );
    assert!(
        won_first != won_second,
        "one claim wins: {won_first} {won_second}"
    );
    let (winner, instance) = if won_first {
        (first, "host-1")
    } else {
        (second, "host-2")
    };
    let claimed = get(&*store, winner).await;
    assert_eq!(claimed.state, ExecutionState::Pending);
    assert_eq!(claimed.cause, Cause::Schedule);
    assert_eq!(claimed.fire_at, at(T + 1_000));
    assert_eq!(&*claimed.instance, instance);
    // Once a later fire is claimed, an earlier one no longer can be.
    assert!(won(&*mine, store.next_id(), at(T + 3_000)).await);
    assert!(!won(&*theirs, other.next_id(), at(T + 2_000)).await);
    // The winner runs it: its start moves the claimed execution on.
    let recorder = if won_first { &mine } else { &theirs };
    recorder.record(Change::Started(NewExecution {
        id: winner,
        fire_at: at(T + 1_000),
        cause: Cause::Schedule,
        started_at: Some(at(T + 1_001)),
    }));
    let ended_at = at(T + 1_002);
    recorder.record(Change::AttemptEnded {
        id: winner,
        attempt: Attempt {
            number: 1,
            started_at: at(T + 1_001),
            finished_at: Some(ended_at),
            outcome: Some(Outcome::Succeeded),
        },
        retrying: false,
    });
    recorder.record(Change::Finished {
        id: winner,
        state: ExecutionState::Succeeded,
        at: ended_at,
    });
    store.flush().await.unwrap();
    other.flush().await.unwrap();
    let ran = get(&*store, winner).await;
    assert_eq!(ran.state, ExecutionState::Succeeded);
    // A burst: 300 jobs' fires, claimed by both processes at once.
    let claims = (0..300).flat_map(|job| {
        let name = format!("burst-{job}");
        [
            (store.recorder(&name, "host-1"), store.next_id()),
            (other.recorder(&name, "host-2"), other.next_id()),
        ]
    });
    let answers = futures::future::join_all(
        claims.map(|(recorder, id)| async move { won(&*recorder, id, at(T + 5_000)).await }),
    )
    .await;
    let winners = answers.into_iter().filter(|won| *won).count();
    assert_eq!(winners, 300, "one claim of each job's fire wins");
}

/// In a store that processes share, the executions an instance without a
/// heartbeat left running are rescued once, by one caller, and a late
/// result from that instance is discarded (fenced). A store of one process
/// rescues nothing while it runs.
async fn a_dead_instances_executions_are_rescued_once_and_fenced(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let jobs = [Rescue::new("long")];
    // An instance that never registered: it has no heartbeat, as a dead one.
    let ghost = store.recorder("long", "ghost");
    let id = won_and_started(&*store, &*ghost, at(T + 1_000)).await;
    store.flush().await.unwrap();
    let rescued = store.rescue(at(T + 60_000), "host-1", &jobs).await.unwrap();
    if !store.shared() {
        assert!(rescued.is_empty());
        return;
    }
    let ids: Vec<ExecutionId> = rescued.iter().map(|r| r.execution.id).collect();
    assert_eq!(ids, [id]);
    assert_eq!(rescued[0].execution.state, ExecutionState::Abandoned);
    assert_eq!(
        rescued[0].execution.attempts[0].outcome,
        Some(Outcome::Abandoned)
    );
    let other = harness.open().await;
    other.recover(at(T + 60_000), "host-2", &[]).await.unwrap();
    assert!(other
        .rescue(at(T + 61_000), "host-2", &jobs)
        .await
        .unwrap()
        .is_empty());
    // The instance was not dead after all: its result comes late.
    ghost.record(Change::AttemptEnded {
        id,
        attempt: Attempt {
            number: 1,
            started_at: at(T + 1_001),
            finished_at: Some(at(T + 70_000)),
            outcome: Some(Outcome::Succeeded),
        },
        retrying: false,
    });
    ghost.record(Change::Finished {
        id,
        state: ExecutionState::Succeeded,
        at: at(T + 70_000),
    });
    store.flush().await.unwrap();
    let fenced = get(&*store, id).await;
    assert_eq!(fenced.state, ExecutionState::Abandoned);
    assert_eq!(fenced.attempts[0].outcome, Some(Outcome::Abandoned));
}

/// A rescue claims, in its own transaction, the continuation of each
/// execution whose job's retries allow another attempt: pending, for the
/// rescuing instance, with a greater lease token, and counted against the
/// job's limit at once, so no scheduled fire of the job is claimed beside
/// it. One whose retries are spent gets none.
async fn a_rescue_claims_the_continuation_with_it(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    for (job, fire) in [("long", 1_000), ("spent", 1_000)] {
        won_and_started(&*store, &*store.recorder(job, "ghost"), at(T + fire)).await;
    }
    store.flush().await.unwrap();
    let jobs = [
        Rescue::new("long").retries(1),
        Rescue::new("spent").retries(0),
    ];
    let rescued = store.rescue(at(T + 60_000), "host-1", &jobs).await.unwrap();
    if !store.shared() {
        assert!(rescued.is_empty());
        return;
    }
    let by_job = |job: &str| {
        rescued
            .iter()
            .find(|r| *r.execution.job == *job)
            .expect("rescued")
            .clone()
    };
    assert_eq!(by_job("spent").continuation, None);
    let long = by_job("long");
    let continuation = long.continuation.expect("a continuation");
    assert_eq!(continuation.attempt, 2);
    let continued = get(&*store, continuation.id).await;
    assert_eq!(
        (continued.cause, continued.state, &*continued.instance),
        (Cause::Recovery, ExecutionState::Pending, "host-1")
    );
    assert_eq!(continued.fire_at, long.execution.fire_at);
    // Its lease token is later than any before it.
    let later = store.recorder("long", "host-1");
    let fire = Claim {
        limit: Some(1),
        ..scheduled(store.next_id(), at(T + 2_000))
    };
    assert_eq!(later.claim(fire).await.unwrap(), Claimed::Busy);
}

/// A shared store that abandons, as an instance starts, what a dead one
/// left claims in the same transaction the continuation of each execution
/// of the jobs it is told of whose retries allow another attempt, counted
/// against the job's limit at once. A store of one process claims none.
async fn a_start_claims_the_continuations_with_what_it_abandons(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-0", &[]).await.unwrap();
    let ghost = store.recorder("long", "ghost");
    let id = won_and_started(&*store, &*ghost, at(T + 1_000)).await;
    won_and_started(&*store, &*store.recorder("other", "ghost"), at(T + 1_000)).await;
    store.flush().await.unwrap();
    let jobs = [Rescue::new("long").retries(1)];
    let recovered = store
        .recover(at(T + 60_000), "host-1", &jobs)
        .await
        .unwrap();
    let continuations: Vec<(ExecutionId, Continuation)> = recovered
        .abandoned
        .iter()
        .filter_map(|r| Some((r.execution.id, r.continuation?)))
        .collect();
    if !store.shared() {
        assert!(continuations.is_empty());
        return;
    }
    // Both are abandoned; only the job asked about is continued.
    assert_eq!(recovered.abandoned.len(), 2);
    let [(continued, continuation)] = continuations[..] else {
        panic!("one continuation: {continuations:?}");
    };
    assert_eq!(continued, id);
    assert_eq!(continuation.attempt, 2);
    let row = get(&*store, continuation.id).await;
    assert_eq!(
        (row.cause, row.state, &*row.instance, row.fire_at),
        (
            Cause::Recovery,
            ExecutionState::Pending,
            "host-1",
            at(T + 1_000)
        )
    );
    let later = Claim {
        limit: Some(1),
        ..scheduled(store.next_id(), at(T + 2_000))
    };
    let recorder = store.recorder("long", "host-1");
    assert_eq!(recorder.claim(later).await.unwrap(), Claimed::Busy);
}

/// A continuation whose instance died before it started is continued in
/// turn from the attempt it was to make: the job's retries are not given
/// again by a failover that came too soon.
async fn a_continuation_that_never_started_goes_on_from_its_attempt(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let ghost = store.recorder("long", "ghost");
    won_and_started(&*store, &*ghost, at(T + 1_000)).await;
    store.flush().await.unwrap();
    let jobs = [Rescue::new("long").retries(3)];
    // An instance that never registered takes it over, and dies with its
    // continuation pending.
    let first = store
        .rescue(at(T + 60_000), "ghost-2", &jobs)
        .await
        .unwrap();
    if !store.shared() {
        assert!(first.is_empty());
        return;
    }
    let pending = first[0].continuation.expect("a continuation");
    assert_eq!(pending.attempt, 2);
    let again = store
        .rescue(at(T + 120_000), "host-1", &jobs)
        .await
        .unwrap();
    let rescued: Vec<(ExecutionId, Option<u32>)> = again
        .iter()
        .map(|r| (r.execution.id, r.continuation.map(|c| c.attempt)))
        .collect();
    assert_eq!(rescued, [(pending.id, Some(2))]);
}

/// A live instance's own executions are rescued only when it released them
/// (its self-fence aborted them), and only while they are still its own:
/// one another instance took over first stays with that one.
async fn an_instance_takes_back_what_it_released(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let recorder = store.recorder("long", "host-1");
    let mut ids = Vec::new();
    for fire in [1_000, 2_000] {
        ids.push(won_and_started(&*store, &*recorder, at(T + fire)).await);
    }
    store.flush().await.unwrap();
    async fn rescued(
        store: &dyn Store,
        millis: u64,
        instance: &str,
        released: &[ExecutionId],
    ) -> Vec<(ExecutionId, ExecutionState)> {
        let jobs = [Rescue::new("long").released(released.to_vec())];
        let rescued = store.rescue(at(T + millis), instance, &jobs).await.unwrap();
        rescued
            .iter()
            .map(|r| (r.execution.id, r.execution.state))
            .collect()
    }
    let none = rescued(&*store, 5_000, "host-1", &[]).await;
    assert!(none.is_empty(), "its own, not released");
    let taken = rescued(&*store, 6_000, "host-1", &ids[..1]).await;
    if !store.shared() {
        assert!(taken.is_empty());
        return;
    }
    assert_eq!(taken, [(ids[0], ExecutionState::Abandoned)]);
    // Released again, or by another instance: nothing more to take.
    assert!(rescued(&*store, 7_000, "host-1", &ids[..1])
        .await
        .is_empty());
    let other = harness.open().await;
    other.recover(at(T + 7_000), "host-2", &[]).await.unwrap();
    let foreign = rescued(&*other, 7_000, "host-2", &ids[1..]).await;
    assert!(foreign.is_empty(), "host-1 is alive");
    assert_eq!(get(&*store, ids[1]).await.state, ExecutionState::Running);
}

/// A shared store gives each won claim a lease token, greater than every
/// earlier one; refuses a claim with a limit while the job has that many
/// unfinished executions in the fleet (busy), but not a fire another
/// instance took (taken), nor a continued execution; refuses a fire ahead
/// of its clock (early); and rescues a dead instance's claimed executions
/// that never started. A store of one process wins every claim, without
/// a token.
async fn claims_give_lease_tokens_and_hold_limits(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let mine = store.recorder("exclusive", "host-1");
    let limited = |id, cause, fire_at| Claim {
        id,
        fire_at,
        cause,
        limit: Some(1),
        replace: false,
    };
    if !store.shared() {
        for _ in 0..2 {
            let answer = mine
                .claim(limited(store.next_id(), Cause::Trigger, at(T)))
                .await
                .unwrap();
            assert_eq!(
                answer,
                Claimed::Won {
                    lease_token: None,
                    due_in: Duration::ZERO
                }
            );
        }
        return;
    }
    let other = harness.open().await;
    other.recover(at(T), "host-2", &[]).await.unwrap();
    let theirs = other.recorder("exclusive", "host-2");
    let token = |answer: Claimed| match answer {
        Claimed::Won {
            lease_token: Some(token),
            ..
        } => token,
        answer => panic!("won with a token: {answer:?}"),
    };
    let first = store.next_id();
    let first_token = token(
        mine.claim(limited(first, Cause::Schedule, at(T + 1_000)))
            .await
            .unwrap(),
    );
    // The same fire elsewhere: taken; a trigger elsewhere: busy.
    let answer = theirs
        .claim(limited(other.next_id(), Cause::Schedule, at(T + 1_000)))
        .await
        .unwrap();
    assert_eq!(answer, Claimed::Taken);
    let answer = theirs
        .claim(limited(other.next_id(), Cause::Trigger, at(T + 1_500)))
        .await
        .unwrap();
    assert_eq!(answer, Claimed::Busy);
    let answer = theirs
        .claim(limited(other.next_id(), Cause::Schedule, at(T + 2_000)))
        .await
        .unwrap();
    assert_eq!(answer, Claimed::Busy);
    // A continued execution has no limit.
    let recovery = Claim {
        limit: None,
        ..limited(other.next_id(), Cause::Recovery, at(T + 500))
    };
    let recovery_token = token(theirs.claim(recovery).await.unwrap());
    assert!(recovery_token > first_token);
    finished(
        &*other,
        recovery.id,
        "exclusive",
        ExecutionState::Succeeded,
        at(T + 2_100),
    );
    other.flush().await.unwrap();
    // Once the first ends, the job is free again.
    finished(
        &*store,
        first,
        "exclusive",
        ExecutionState::Succeeded,
        at(T + 2_200),
    );
    store.flush().await.unwrap();
    let later = token(
        theirs
            .claim(limited(other.next_id(), Cause::Schedule, at(T + 3_000)))
            .await
            .unwrap(),
    );
    assert!(later > recovery_token, "{later} > {recovery_token}");
    // A fire a minute ahead of the store's clock is early.
    let ahead = SystemTime::now() + Duration::from_secs(60);
    match mine.claim(scheduled(store.next_id(), ahead)).await.unwrap() {
        Claimed::Early { by } => assert!(
            by > Duration::from_secs(50) && by <= Duration::from_secs(61),
            "{by:?}"
        ),
        answer => panic!("early: {answer:?}"),
    }
    // A fire within the claim lead (100 ms by default) is won, with the
    // time until it is due by the store's clock.
    let soon = SystemTime::now() + Duration::from_millis(60);
    match mine.claim(scheduled(store.next_id(), soon)).await.unwrap() {
        Claimed::Won { due_in, .. } => assert!(
            due_in > Duration::ZERO && due_in <= Duration::from_millis(60),
            "{due_in:?}"
        ),
        answer => panic!("won ahead: {answer:?}"),
    }
    // A dead instance's claim that never started is rescued too.
    let ghost = store.recorder("orphan", "ghost");
    let orphan = store.next_id();
    assert!(won(&*ghost, orphan, at(T + 4_000)).await);
    let rescued = store
        .rescue(at(T + 60_000), "host-1", &[Rescue::new("orphan")])
        .await
        .unwrap();
    let ids: Vec<ExecutionId> = rescued.iter().map(|r| r.execution.id).collect();
    assert_eq!(ids, [orphan]);
    assert_eq!(rescued[0].execution.state, ExecutionState::Abandoned);
}

/// In a store that processes share, an attempt that has run longer than
/// its job's `stuck_after` on a live instance is rescued by another, as a
/// dead instance's would be; one that has not, or of a job without it, or
/// on the asking instance itself, is left. The instances show the slots
/// they offer.
async fn a_stuck_execution_is_rescued_from_a_live_instance(mut harness: impl Harness) {
    let store = harness.open().await;
    store.set_slots(Some(4));
    store.recover(at(T), "host-1", &[]).await.unwrap();
    if !store.shared() {
        let stuck = [Rescue::new("stuck").stuck_after(Duration::ZERO)];
        assert!(store
            .rescue(at(T), "host-1", &stuck)
            .await
            .unwrap()
            .is_empty());
        return;
    }
    let other = harness.open().await;
    other.recover(at(T), "host-2", &[]).await.unwrap();
    let instances = store.instances().await.unwrap();
    let slots: Vec<(&str, Option<u32>)> = instances
        .iter()
        .map(|instance| (instance.id.as_str(), instance.slots))
        .collect();
    assert_eq!(slots, [("host-1", Some(4)), ("host-2", None)]);
    assert!(instances.iter().all(|instance| instance.alive));
    // Running on the live host-2: one since long ago, one since now.
    let running = |job: &str, started_at: SystemTime| {
        let recorder = other.recorder(job, "host-2");
        let id = other.next_id();
        async move {
            assert!(won(&*recorder, id, started_at).await);
            recorder.record(Change::Started(NewExecution {
                id,
                fire_at: started_at,
                cause: Cause::Schedule,
                started_at: Some(started_at),
            }));
            id
        }
    };
    let old = running("stuck", at(T + 1_000)).await;
    let new = running("busy", SystemTime::now()).await;
    let mine = store.recorder("mine", "host-1");
    let own = store.next_id();
    assert!(won(&*mine, own, at(T + 2_000)).await);
    mine.record(Change::Started(NewExecution {
        id: own,
        fire_at: at(T + 2_000),
        cause: Cause::Schedule,
        started_at: Some(at(T + 2_000)),
    }));
    other.flush().await.unwrap();
    store.flush().await.unwrap();
    let hour = Duration::from_secs(3_600);
    let without = [
        Rescue::new("stuck"),
        Rescue::new("busy"),
        Rescue::new("mine"),
    ];
    assert!(store
        .rescue(at(T), "host-1", &without)
        .await
        .unwrap()
        .is_empty());
    let with = [
        Rescue::new("stuck").stuck_after(hour),
        Rescue::new("busy").stuck_after(hour),
        Rescue::new("mine").stuck_after(hour),
    ];
    let rescued = store.rescue(at(T), "host-1", &with).await.unwrap();
    let ids: Vec<ExecutionId> = rescued.iter().map(|r| r.execution.id).collect();
    assert_eq!(ids, [old]);
    assert_eq!(
        rescued[0].execution.attempts[0].outcome,
        Some(Outcome::Abandoned)
    );
    assert!(store
        .rescue(at(T), "host-1", &with)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(get(&*store, new).await.state, ExecutionState::Running);
    assert_eq!(get(&*store, own).await.state, ExecutionState::Running);
}

/// An execution that ended on an instance no longer counts against its
/// job's limit there, at once: the next fire's claim wins without waiting
/// for the end to be written.
async fn an_ended_execution_frees_its_limit_at_once(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let recorder = store.recorder("one-at-a-time", "host-1");
    for fire in 0..20 {
        let id = store.next_id();
        let fire_at = at(T + fire * 1_000);
        let answer = recorder
            .claim(Claim {
                id,
                fire_at,
                cause: Cause::Schedule,
                limit: Some(1),
                replace: false,
            })
            .await
            .unwrap();
        assert!(
            matches!(answer, Claimed::Won { .. }),
            "fire {fire}: {answer:?}"
        );
        recorder.record(Change::Started(NewExecution {
            id,
            fire_at,
            cause: Cause::Schedule,
            started_at: Some(fire_at),
        }));
        recorder.record(Change::Finished {
            id,
            state: ExecutionState::Succeeded,
            at: fire_at,
        });
    }
}

/// In a store that processes share, a won claim with `replace` marks its
/// job's older unfinished executions on other instances as replaced, for
/// their instance to cancel; not newer ones, nor ended ones. A store of
/// one process has none.
async fn a_claim_with_replace_marks_the_older_executions_elsewhere(mut harness: impl Harness) {
    let store = harness.open().await;
    store.recover(at(T), "host-1", &[]).await.unwrap();
    let mine = store.recorder("latest-wins", "host-1");
    let claim = |id, replace| Claim {
        id,
        fire_at: at(T),
        cause: Cause::Trigger,
        limit: None,
        replace,
    };
    if !store.shared() {
        let won = mine.claim(claim(store.next_id(), true)).await.unwrap();
        assert!(matches!(won, Claimed::Won { .. }));
        assert!(store.replaced("host-1").await.unwrap().is_empty());
        return;
    }
    let other = harness.open().await;
    other.recover(at(T), "host-2", &[]).await.unwrap();
    let theirs = other.recorder("latest-wins", "host-2");
    let (old, ended) = (other.next_id(), other.next_id());
    for id in [old, ended] {
        let won = theirs.claim(claim(id, false)).await.unwrap();
        assert!(matches!(won, Claimed::Won { .. }));
        theirs.record(Change::Started(NewExecution {
            id,
            fire_at: at(T),
            cause: Cause::Trigger,
            started_at: Some(at(T)),
        }));
    }
    theirs.record(Change::Finished {
        id: ended,
        state: ExecutionState::Succeeded,
        at: at(T + 1),
    });
    other.flush().await.unwrap();
    assert!(other.replaced("host-2").await.unwrap().is_empty());
    let won = mine.claim(claim(store.next_id(), true)).await.unwrap();
    assert!(matches!(won, Claimed::Won { .. }));
    // A newer one on host-2, claimed after the replacing one.
    let newer = other.next_id();
    let won = theirs.claim(claim(newer, false)).await.unwrap();
    assert!(matches!(won, Claimed::Won { .. }));
    let replaced = other.replaced("host-2").await.unwrap();
    assert_eq!(replaced, [("latest-wins".to_owned(), old)]);
    assert!(store.replaced("host-1").await.unwrap().is_empty());
}

async fn a_rows_last_fire_and_last_success_only_move_forward(mut harness: impl Harness) {
    let row = ScheduleRow {
        job: "hourly".into(),
        anchor: at(T),
        last_fire: Some(at(T + 3_600_000)),
        last_success: None,
        paused: false,
        schedule_override: None,
    };
    let store = harness.open().await;
    let recorder = store.recorder("hourly", "host-1");
    recorder.record(Change::Schedule(row.clone()));
    // A fire moves the last fire on; an older one does not move it back.
    recorder.record(Change::Fired {
        at: at(T + 7_200_000),
    });
    recorder.record(Change::Fired {
        at: at(T + 3_600_000),
    });
    // A success sets the row's last success.
    let id = started(&*store, "hourly", at(T + 7_200_000), true);
    finished(
        &*store,
        id,
        "hourly",
        ExecutionState::Succeeded,
        at(T + 7_200_500),
    );
    // A row written again with what its writer knew earlier (a pause, say)
    // keeps the newer last fire and last success.
    recorder.record(Change::Schedule(ScheduleRow {
        paused: true,
        ..row.clone()
    }));
    store.flush().await.unwrap();
    let rows = store.schedules().await.unwrap();
    assert_eq!(
        rows,
        [ScheduleRow {
            last_fire: Some(at(T + 7_200_000)),
            last_success: Some(at(T + 7_200_500)),
            paused: true,
            ..row
        }]
    );
}

/// The last fire of a job whose fire was claimed (here or on another
/// instance) is that fire, and stays so once pruning has removed its
/// execution, and across a restart.
async fn a_claimed_fire_stays_the_last_fire_after_pruning(mut harness: impl Harness) {
    let row = ScheduleRow {
        job: "hourly".into(),
        anchor: at(T),
        last_fire: None,
        last_success: None,
        paused: false,
        schedule_override: None,
    };
    let fire_at = at(T + 3_600_000);
    {
        let store = harness.open().await;
        let recorder = store.recorder("hourly", "host-1");
        recorder.record(Change::Schedule(row.clone()));
        let id = store.next_id();
        assert!(won(&*recorder, id, fire_at).await);
        recorder.record(Change::Fired { at: fire_at });
        recorder.record(Change::Started(NewExecution {
            id,
            fire_at,
            cause: Cause::Schedule,
            started_at: Some(fire_at),
        }));
        finished(&*store, id, "hourly", ExecutionState::Succeeded, fire_at);
        store.flush().await.unwrap();
        let everything = Retention {
            keep_for: Duration::ZERO,
            keep_last: 0,
        };
        prune_each(
            &*store,
            &["hourly"],
            everything,
            fire_at + Duration::from_secs(60),
        )
        .await;
        assert_eq!(ids(&*store, ExecutionFilter::new()).await, []);
        let rows = store.schedules().await.unwrap();
        assert_eq!(rows[0].last_fire, Some(fire_at), "after pruning");
    }
    let store = harness.open().await;
    let rows = store.schedules().await.unwrap();
    assert_eq!(rows[0].last_fire, Some(fire_at), "after a restart");
}

async fn totals_add_up_every_ended_execution_and_outlive_pruning(mut harness: impl Harness) {
    {
        let store = harness.open().await;
        let store = &*store;
        assert_eq!(store.totals("sync").await.unwrap(), JobTotals::default());
        complete(store, "sync", at(T), Outcome::Succeeded);
        let failure = Outcome::failed_with("connection refused");
        complete(store, "sync", at(T + 1_000), failure.clone());
        complete(store, "sync", at(T + 2_000), Outcome::Succeeded);
        complete(store, "other", at(T + 3_000), Outcome::Succeeded);
        started(store, "sync", at(T + 4_000), true);
        store.flush().await.unwrap();
        assert_eq!(
            store.totals("sync").await.unwrap(),
            JobTotals {
                executions: 3,
                failures: 1,
                last_started_at: Some(at(T + 4_001)),
                last_finished_at: Some(at(T + 2_011)),
                last_error: Some("connection refused".into()),
            }
        );
        prune_each(
            store,
            &["sync"],
            Retention {
                keep_for: Retention::DEFAULT_KEEP_FOR,
                keep_last: 1,
            },
            at(T + 5_000),
        )
        .await;
    }
    // A restart abandons the running one: an ended execution, a failure.
    let store = harness.open().await;
    store.recover(at(T + 9_000), "host-1", &[]).await.unwrap();
    assert_eq!(
        store.totals("sync").await.unwrap(),
        JobTotals {
            executions: 4,
            failures: 2,
            last_started_at: Some(at(T + 4_001)),
            last_finished_at: Some(at(T + 9_000)),
            last_error: Outcome::Abandoned.error(),
        }
    );
    assert_eq!(store.totals("other").await.unwrap().executions, 1);
}

async fn last_completion_is_the_latest_success_and_outlives_pruning(mut harness: impl Harness) {
    {
        let store = harness.open().await;
        let store = &*store;
        store.flush().await.unwrap();
        assert_eq!(store.last_completed_at("digest").await.unwrap(), None);
        complete(store, "digest", at(T), Outcome::Succeeded);
        complete(
            store,
            "digest",
            at(T + 1_000),
            Outcome::Failed {
                error: "down".into(),
                causes: Vec::new(),
            },
        );
        complete(store, "other", at(T + 2_000), Outcome::Succeeded);
        store.flush().await.unwrap();
        assert_eq!(
            store.last_completed_at("digest").await.unwrap(),
            Some(at(T + 11)),
            "a failure is not a completion"
        );
        // A success that finished earlier than the one kept does not replace it.
        let late = started(store, "digest", at(T - 10_000), true);
        finished(
            store,
            late,
            "digest",
            ExecutionState::Succeeded,
            at(T - 9_000),
        );
        store.flush().await.unwrap();
        assert_eq!(
            store.last_completed_at("digest").await.unwrap(),
            Some(at(T + 11))
        );
        let everything = Retention {
            keep_for: Duration::ZERO,
            keep_last: 0,
        };
        prune_each(store, &["digest", "other"], everything, at(T + 100_000)).await;
        assert_eq!(ids(store, ExecutionFilter::new()).await, []);
        assert_eq!(
            store.last_completed_at("digest").await.unwrap(),
            Some(at(T + 11))
        );
    }
    let store = harness.open().await;
    assert_eq!(
        store.last_completed_at("digest").await.unwrap(),
        Some(at(T + 11))
    );
    assert_eq!(
        store.last_completed_at("other").await.unwrap(),
        Some(at(T + 2_011))
    );
}

async fn pruning_by_age_keeps_the_recent_and_the_unfinished(mut harness: impl Harness) {
    let store = harness.open().await;
    let store = &*store;
    let hour = 3_600_000;
    let old = complete(store, "a", at(T), Outcome::Succeeded);
    let old_failed = complete(store, "b", at(T + 1), Outcome::Cancelled);
    let old_running = started(store, "a", at(T + 2), true);
    let old_pending = started(store, "b", at(T + 3), false);
    let recent = complete(store, "a", at(T + 2 * hour), Outcome::Succeeded);
    store.flush().await.unwrap();
    let retention = Retention {
        keep_for: Duration::from_millis(hour),
        keep_last: 1_000,
    };
    let now = at(T + 2 * hour + 1);
    let removed = prune_each(store, &["a", "b"], retention, now).await;
    assert_eq!(removed, 2);
    let left = ids(store, ExecutionFilter::new().oldest_first()).await;
    assert_eq!(left, [old_running, old_pending, recent]);
    assert_eq!(store.execution(old).await.unwrap(), None);
    assert_eq!(store.execution(old_failed).await.unwrap(), None);
    assert_eq!(prune_each(store, &["a", "b"], retention, now).await, 0);
    assert_eq!(
        store.prune("no-such-job", retention, now).await.unwrap(),
        0,
        "a job with no executions"
    );
}

async fn pruning_by_count_keeps_the_newest_of_each_job(mut harness: impl Harness) {
    let store = harness.open().await;
    let store = &*store;
    let a: Vec<ExecutionId> = (0..5)
        .map(|index| complete(store, "a", at(T + index), Outcome::Succeeded))
        .collect();
    let a_running = started(store, "a", at(T + 10), true);
    let b: Vec<ExecutionId> = (0..2)
        .map(|index| complete(store, "b", at(T + 20 + index), Outcome::Succeeded))
        .collect();
    // More than one batch of one job.
    for index in 0..1_210 {
        complete(store, "c", at(T + 100 + index), Outcome::Succeeded);
    }
    store.flush().await.unwrap();
    let retention = Retention {
        keep_for: Duration::from_secs(365 * 24 * 3600),
        keep_last: 3,
    };
    let removed = prune_each(store, &["a", "b", "c"], retention, at(T + 10_000)).await;
    assert_eq!(removed, 2 + 1_207);
    assert_eq!(
        ids(store, ExecutionFilter::new().job("a").oldest_first()).await,
        [a[2], a[3], a[4], a_running],
        "the running execution is neither counted nor removed"
    );
    assert_eq!(
        ids(store, ExecutionFilter::new().job("b").oldest_first()).await,
        b
    );
    assert_eq!(ids(store, ExecutionFilter::new().job("c")).await.len(), 3);
}

async fn each_job_is_pruned_by_its_own_retention_and_no_other(mut harness: impl Harness) {
    let store = harness.open().await;
    let store = &*store;
    let hour = 3_600_000;
    let now = at(T + 10 * hour);
    // `aged` keeps an hour, however many: three recent ones and an old one.
    let aged_old = complete(store, "aged", at(T), Outcome::Succeeded);
    // More than one batch of old ones.
    for index in 0..1_100 {
        complete(store, "aged", at(T + 100 + index), Outcome::Succeeded);
    }
    let aged_recent: Vec<ExecutionId> = (0..3)
        .map(|index| complete(store, "aged", at(T + 9 * hour + index), Outcome::Succeeded))
        .collect();
    // `counted` keeps its newest two, however old: four old ones and one
    // still running.
    let counted: Vec<ExecutionId> = (0..4)
        .map(|index| complete(store, "counted", at(T + index), Outcome::Succeeded))
        .collect();
    let counted_running = started(store, "counted", at(T + 10), true);
    store.flush().await.unwrap();
    let aged = Retention {
        keep_for: Duration::from_millis(hour),
        keep_last: 1_000,
    };
    let by_count = Retention {
        keep_for: Duration::from_secs(365 * 24 * 3600),
        keep_last: 2,
    };
    let counted_before = ids(store, ExecutionFilter::new().job("counted").oldest_first()).await;

    assert_eq!(store.prune("aged", aged, now).await.unwrap(), 1 + 1_100);
    assert_eq!(
        ids(store, ExecutionFilter::new().job("aged").oldest_first()).await,
        aged_recent
    );
    assert_eq!(store.execution(aged_old).await.unwrap(), None);
    assert_eq!(
        ids(store, ExecutionFilter::new().job("counted").oldest_first()).await,
        counted_before,
        "the other job is untouched, old as its executions are"
    );

    assert_eq!(store.prune("counted", by_count, now).await.unwrap(), 2);
    assert_eq!(
        ids(store, ExecutionFilter::new().job("counted").oldest_first()).await,
        [counted[2], counted[3], counted_running]
    );
    assert_eq!(
        ids(store, ExecutionFilter::new().job("aged").oldest_first()).await,
        aged_recent,
        "the other job is untouched, more as it has than two"
    );
}

async fn ids_are_unique_across_restarts(mut harness: impl Harness) {
    let mut given = Vec::new();
    {
        let store = harness.open().await;
        for index in 0..10 {
            given.push(complete(&*store, "a", at(T + index), Outcome::Succeeded));
        }
        // An id taken but never recorded is not given again either way.
        given.push(store.next_id());
        given.push(complete(&*store, "a", at(T + 20), Outcome::Succeeded));
        store.flush().await.unwrap();
        let everything = Retention {
            keep_for: Duration::ZERO,
            keep_last: 0,
        };
        store.prune("a", everything, at(T + 100_000)).await.unwrap();
        assert_eq!(ids(&*store, ExecutionFilter::new()).await, []);
    }
    let store = harness.open().await;
    store.recover(at(T + 200_000), "host-1", &[]).await.unwrap();
    let next = store.next_id();
    assert!(given.iter().all(|id| *id < next), "{next} after {given:?}");
    assert!(given.windows(2).all(|pair| pair[0] < pair[1]), "increasing");
}

async fn a_flush_makes_everything_recorded_durable(mut harness: impl Harness) {
    let count = 3_000;
    {
        let store = harness.open().await;
        for index in 0..count {
            complete(&*store, "burst", at(T + index), Outcome::Succeeded);
        }
        store.flush().await.unwrap();
    }
    let store = harness.open().await;
    let found = store
        .executions(
            ExecutionFilter::new()
                .job("burst")
                .unlimited()
                .oldest_first(),
        )
        .await
        .unwrap();
    assert_eq!(found.len() as u64, count);
    assert!(found
        .iter()
        .all(|execution| execution.state == ExecutionState::Succeeded
            && execution.attempts.len() == 1));
    assert!(found
        .windows(2)
        .all(|pair| pair[0].fire_at < pair[1].fire_at));
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        /// The suite against the memory store.
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::MemoryHarness::default()).await;
                }
            )*
        }

        /// The suite against the SQLite store, on a file in a temporary
        /// folder.
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::SqliteHarness::new()).await;
                }
            )*
        }

        /// The suite against the PostgreSQL store, on a database of each
        /// test's own on the local server.
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::PostgresHarness::new()).await;
                }
            )*
        }
    };
}

suite!(
    record_and_read_back,
    filters_limits_and_order,
    states_through_pending_retries_and_failure,
    every_outcome_round_trips,
    a_restart_abandons_what_was_running,
    schedule_rows_round_trip_and_survive_a_restart,
    a_control_change_writes_only_its_part,
    registering_keeps_the_first_row_of_each_job,
    each_fire_is_claimed_once,
    claims_give_lease_tokens_and_hold_limits,
    a_dead_instances_executions_are_rescued_once_and_fenced,
    an_instance_takes_back_what_it_released,
    a_rescue_claims_the_continuation_with_it,
    a_continuation_that_never_started_goes_on_from_its_attempt,
    a_start_claims_the_continuations_with_what_it_abandons,
    a_stuck_execution_is_rescued_from_a_live_instance,
    an_ended_execution_frees_its_limit_at_once,
    a_claim_with_replace_marks_the_older_executions_elsewhere,
    a_rows_last_fire_and_last_success_only_move_forward,
    a_claimed_fire_stays_the_last_fire_after_pruning,
    last_completion_is_the_latest_success_and_outlives_pruning,
    totals_add_up_every_ended_execution_and_outlive_pruning,
    pruning_by_age_keeps_the_recent_and_the_unfinished,
    pruning_by_count_keeps_the_newest_of_each_job,
    each_job_is_pruned_by_its_own_retention_and_no_other,
    ids_are_unique_across_restarts,
    a_flush_makes_everything_recorded_durable,
);
