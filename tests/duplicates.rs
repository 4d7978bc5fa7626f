//! Two jobs with one name: start-up fails with an error naming both
//! definitions, file and line, and nothing runs.
//!
//! This file defines two `#[job]`s named `twin`, so every discovering
//! manager here holds a duplicate.

mod support;

use std::time::Duration;

use jobs_runtime::{job, Error, JobContext, JobManager, JobSpec};

use support::{job_fn, Logs};

const FIRST_TWIN_LINE: u32 = line!() + 1;
#[job(name = "twin", every = "1m")]
async fn first_twin() {}

const SECOND_TWIN_LINE: u32 = line!() + 1;
#[job(name = "twin", every = "2m")]
async fn second_twin() {}

#[job(name = "single", every = "1m")]
async fn single() {}

fn noop(name: &'static str) -> impl jobs_runtime::Job {
    job_fn(
        JobSpec::every(name, Duration::from_secs(60)),
        |_ctx: JobContext| async move { Ok(()) },
    )
}

#[tokio::test(start_paused = true)]
async fn two_discovered_jobs_with_one_name_stop_start_up() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    assert_eq!(manager.registered_jobs(), ["single", "twin", "twin"]);

    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    let first = format!("tests/duplicates.rs:{FIRST_TWIN_LINE}");
    let second = format!("tests/duplicates.rs:{SECOND_TWIN_LINE}");
    assert!(message.contains("`twin`"), "{message}");
    assert!(message.contains(&first), "{first} not in {message}");
    assert!(message.contains(&second), "{second} not in {message}");
    match error {
        Error::DuplicateName {
            name,
            first,
            second,
        } => {
            assert_eq!(name, "twin");
            assert_eq!(
                (first.file, first.line),
                ("tests/duplicates.rs", FIRST_TWIN_LINE)
            );
            assert_eq!(
                (second.file, second.line),
                ("tests/duplicates.rs", SECOND_TWIN_LINE)
            );
        }
        other => panic!("unexpected error: {other:?}"),
    }

    // Starting one of them by name is refused too; the other job may start.
    assert!(matches!(
        manager.start("twin").unwrap_err(),
        Error::DuplicateName { .. }
    ));
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(logs.events().is_empty(), "{:?}", logs.events());
    manager.start("single").unwrap();
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn two_registered_jobs_with_one_name_stop_start_up() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let first_line = line!() + 1;
    manager.register(noop("copy"));
    manager.register(noop("other"));
    let second_line = line!() + 1;
    manager.register(noop("copy"));

    let error = manager.start_all().unwrap_err();
    let message = error.to_string();
    for line in [first_line, second_line] {
        let location = format!("tests/duplicates.rs:{line}");
        assert!(message.contains(&location), "{location} not in {message}");
    }
    assert!(matches!(error, Error::DuplicateName { name, .. } if name == "copy"));
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(logs.events().is_empty(), "{:?}", logs.events());
    assert!(manager.all_stats().iter().all(|stats| !stats.is_started));
}

#[tokio::test(start_paused = true)]
async fn a_registered_job_may_not_take_a_discovered_name() {
    let manager = JobManager::discover();
    let line = line!() + 1;
    manager.register(noop("single"));
    let error = manager.start_all().unwrap_err();
    let Error::Many(problems) = &error else {
        panic!("unexpected error: {error:?}");
    };
    // `twin` twice, and `single` twice.
    assert_eq!(problems.len(), 2, "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("tests/duplicates.rs:{line}")),
        "{message}"
    );
    assert!(message.contains("`single`"), "{message}");
    assert!(message.contains("`twin`"), "{message}");
}
