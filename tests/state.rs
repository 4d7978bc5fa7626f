//! `State<T>` parameters: the provided value is injected into every
//! execution; a value never provided stops start-up before anything runs.
//!
//! Every test discovers all the `#[job]`s of this file.

mod support;

use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{job, Error, JobContext, JobManager, State};
use tokio::sync::mpsc;

use support::{next, Logs};

/// What a job saw of its states in one execution.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    job: &'static str,
    execution_number: u64,
    label: String,
    limit: u32,
    /// The address of the `Alpha` behind the `State`.
    alpha: usize,
}

struct Alpha {
    label: String,
    seen: mpsc::UnboundedSender<Seen>,
}

struct Beta {
    limit: u32,
}

#[job(name = "uses-alpha", every = "1m")]
async fn uses_alpha(alpha: State<Alpha>) {
    let seen = Seen {
        job: "uses-alpha",
        execution_number: 0,
        label: alpha.label.clone(),
        limit: 0,
        alpha: Arc::as_ptr(alpha.arc()) as usize,
    };
    alpha.seen.send(seen).unwrap();
}

/// Parameters in any order, the context among them.
#[job(name = "two-states", every = "1m")]
async fn two_states(beta: State<Beta>, ctx: JobContext, alpha: State<Alpha>) -> anyhow::Result<()> {
    let copy = State::clone(&alpha);
    alpha.seen.send(Seen {
        job: "two-states",
        execution_number: ctx.execution_number(),
        label: copy.label.clone(),
        limit: beta.limit,
        alpha: Arc::as_ptr(copy.arc()) as usize,
    })?;
    Ok(())
}

#[job(name = "plain", every = "1m")]
async fn plain() {}

fn alpha(label: &str) -> (Alpha, mpsc::UnboundedReceiver<Seen>) {
    let (seen, rx) = mpsc::unbounded_channel();
    let alpha = Alpha {
        label: label.to_owned(),
        seen,
    };
    (alpha, rx)
}

#[tokio::test(start_paused = true)]
async fn provided_states_are_injected_into_every_execution() {
    let manager = JobManager::discover();
    let (alpha, mut seen) = alpha("shared");
    manager.provide(alpha);
    manager.provide(Beta { limit: 10 });
    manager.start_all().unwrap();

    let mut by_job = std::collections::BTreeMap::<&str, Vec<Seen>>::new();
    for _ in 0..6 {
        let run = next(&mut seen).await;
        by_job.entry(run.job).or_default().push(run);
    }
    manager.stop_all().await;

    let two = &by_job["two-states"];
    let one = &by_job["uses-alpha"];
    assert_eq!((two.len(), one.len()), (3, 3));
    let numbers: Vec<_> = two.iter().map(|seen| seen.execution_number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(two
        .iter()
        .all(|seen| seen.label == "shared" && seen.limit == 10));
    // One value, shared by every execution of every job.
    let address = two[0].alpha;
    assert!(two.iter().chain(one).all(|seen| seen.alpha == address));
}

#[tokio::test(start_paused = true)]
async fn the_builders_state_provides_too() {
    let (alpha, mut seen) = alpha("from the builder");
    let manager = jobs_runtime::builder()
        .state(alpha)
        .state(Beta { limit: 7 })
        .manager();
    manager.start_all().unwrap();
    let run = next(&mut seen).await;
    assert_eq!(run.label, "from the builder");
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_later_value_replaces_the_earlier_one() {
    let manager = JobManager::discover();
    let (first, _first_seen) = alpha("first");
    let (second, mut second_seen) = alpha("second");
    manager.provide(first);
    manager.provide(second);
    manager.provide(Beta { limit: 1 });
    manager.start("uses-alpha").unwrap();
    assert_eq!(next(&mut second_seen).await.label, "second");
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_missing_state_stops_start_up_before_anything_runs() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let (alpha, _seen) = alpha("only alpha");
    manager.provide(alpha);

    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    assert!(message.contains("`two-states`"), "{message}");
    assert!(message.contains("State<state::Beta>"), "{message}");
    assert!(message.contains("tests/state.rs:"), "{message}");
    match error {
        Error::MissingState {
            job,
            type_name,
            location,
        } => {
            assert_eq!(job, "two-states");
            assert_eq!(type_name, "state::Beta");
            assert_eq!(location.file, "tests/state.rs");
        }
        other => panic!("unexpected error: {other:?}"),
    }

    // Neither the job at fault nor the ones that could have run started.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(logs.events().is_empty(), "{:?}", logs.events());
    assert!(manager.all_stats().iter().all(|stats| !stats.is_started));
}

#[tokio::test(start_paused = true)]
async fn every_missing_state_is_reported() {
    let manager = JobManager::discover();
    let error = manager.start_all().unwrap_err();
    let Error::Many(problems) = &error else {
        panic!("unexpected error: {error:?}");
    };
    // two-states misses Beta and Alpha; uses-alpha misses Alpha.
    assert_eq!(problems.len(), 3, "{error}");
    let message = error.to_string();
    assert!(message.contains("`uses-alpha`"), "{message}");
    assert!(message.contains("State<state::Alpha>"), "{message}");
    assert!(message.contains("State<state::Beta>"), "{message}");
}

#[tokio::test(start_paused = true)]
async fn a_job_whose_states_are_provided_starts_alone() {
    let manager = JobManager::discover();
    manager.start("plain").unwrap();
    let error = manager.start("uses-alpha").unwrap_err();
    assert!(matches!(error, Error::MissingState { .. }), "{error:?}");
    support::settle().await;
    assert_eq!(manager.stats("plain").unwrap().execution_count, 1);
    assert!(!manager.stats("uses-alpha").unwrap().is_started);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_function_stays_callable_with_its_states() {
    let (alpha, mut seen) = alpha("direct");
    uses_alpha(State(Arc::new(alpha))).await;
    assert_eq!(seen.recv().await.unwrap().label, "direct");
}
