//! What a failed start shows: `Error`'s `Debug` is its message, which is
//! what `main` returning `Result<(), jobs_runtime::Error>` prints, and
//! `run` logs the failure as an event too.

mod support;

use std::time::Duration;

use jobs_runtime::{JobContext, JobManager, JobSpec};

use support::{job_fn, Logs};

const MINUTE: Duration = Duration::from_secs(60);

fn job(spec: JobSpec) -> impl jobs_runtime::Job {
    job_fn(spec, |_ctx: JobContext| async move { Ok(()) })
}

#[tokio::test(start_paused = true)]
async fn an_errors_debug_form_is_its_message() {
    let manager = JobManager::new();
    manager.register(job(JobSpec::every("report", MINUTE).after("fetch")));
    let error = manager.start_all().unwrap_err();
    assert_eq!(
        format!("{error:?}"),
        "job `report` runs after `fetch`, but no job has that name; registered jobs: report"
    );
    assert_eq!(format!("{error:?}"), error.to_string());

    // Several problems: the list, as `Display` shows it.
    manager.register(job(JobSpec::every("report", MINUTE)));
    let error = manager.start_all().unwrap_err();
    let debug = format!("{error:?}");
    assert!(debug.starts_with("2 problems:\n  - "), "{debug}");
    assert_eq!(debug, error.to_string());
}

#[tokio::test(start_paused = true)]
async fn run_logs_why_a_start_failed() {
    let (logs, _guard) = Logs::capture();
    let error = jobs_runtime::builder()
        .register(job(JobSpec::every("report", MINUTE).after("fetch")))
        .run()
        .await
        .unwrap_err();
    let failed = logs.operation("start_failed");
    assert_eq!(failed.len(), 1, "{:?}", logs.operations());
    assert_eq!(failed[0].level, tracing::Level::ERROR);
    assert_eq!(failed[0].str("error"), error.to_string());
    assert_eq!(failed[0].field_names(), ["error", "message", "operation"]);
}
