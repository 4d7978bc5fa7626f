//! A run still going when its next fire comes: the fire is skipped, counted
//! and logged; a run that takes most of its interval is warned about.

mod support;

use std::time::Duration;

use jobs_runtime::{JobContext, JobManager, JobSpec};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next, Logs};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_fire_during_a_run_is_skipped_counted_and_logged() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (tx, mut runs) = mpsc::unbounded_channel();
    // The first run takes 2.5 intervals, the others are instant.
    manager.register(job_fn(
        JobSpec::every("long-run", MINUTE),
        move |ctx: JobContext| {
            let tx = tx.clone();
            async move {
                tx.send((ctx.execution_number(), ctx.scheduled_at(), Instant::now()))
                    .unwrap();
                if ctx.execution_number() == 1 {
                    tokio::time::sleep(MINUTE * 5 / 2).await;
                }
                Ok(())
            }
        },
    ));
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut runs).await, (1, start, start));
    // The fires at 1m and 2m come while run 1 runs; the next run is at 3m,
    // on the grid.
    assert_eq!(
        next(&mut runs).await,
        (2, start + MINUTE * 3, start + MINUTE * 3)
    );
    let stats = manager.stats("long-run").unwrap();
    assert_eq!(stats.skipped_count, 2);
    assert_eq!(stats.execution_count, 2);
    assert_eq!(stats.max_execution_time, MINUTE * 5 / 2);

    let skipped = logs.job_operation("long-run", "job_execute_skipped");
    assert_eq!(skipped.len(), 2);
    for (k, event) in (1u32..).zip(&skipped) {
        assert_eq!(event.at, start + MINUTE * k);
        assert_eq!(event.level, tracing::Level::WARN);
        assert_eq!(
            event.field_names(),
            [
                "job_name",
                "message",
                "operation",
                "reason",
                "skipped_count"
            ]
        );
        assert_eq!(event.str("reason"), "overlap");
        assert_eq!(event.u64("skipped_count"), u64::from(k));
    }
    // Run 1 was started once, and never twice at once.
    assert_eq!(logs.job_operation("long-run", "job_execute_start").len(), 2);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn runs_shorter_than_the_interval_are_never_skipped() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) =
        support::recording(JobSpec::every("fits", MINUTE), Duration::from_secs(59));
    manager.register(job);
    manager.start_all().unwrap();
    for _ in 0..5 {
        next(&mut runs).await;
    }
    manager.stop_all().await;
    assert_eq!(manager.stats("fits").unwrap().skipped_count, 0);
    assert!(logs.operation("job_execute_skipped").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_run_over_80_percent_of_its_interval_is_warned_about() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let interval = Duration::from_secs(10);
    let (slow, mut slow_runs) =
        support::recording(JobSpec::every("slow", interval), Duration::from_secs(9));
    let (at_limit, mut at_limit_runs) =
        support::recording(JobSpec::every("at-limit", interval), Duration::from_secs(8));
    manager.register(slow);
    manager.register(at_limit);
    let start = Instant::now();
    manager.start_all().unwrap();
    for _ in 0..3 {
        next(&mut slow_runs).await;
        next(&mut at_limit_runs).await;
    }
    manager.stop_all().await;

    // Exactly 80% is not over 80%.
    assert!(logs
        .job_operation("at-limit", "job_execute_slow")
        .is_empty());
    let warnings = logs.job_operation("slow", "job_execute_slow");
    // The stop let run 3 finish within the grace period.
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    for (k, warning) in (0u32..).zip(&warnings) {
        assert_eq!(warning.level, tracing::Level::WARN);
        assert_eq!(warning.at, start + interval * k + Duration::from_secs(9));
        assert_eq!(
            warning.field_names(),
            [
                "execution_number",
                "execution_time_ms",
                "interval_ms",
                "job_name",
                "message",
                "operation"
            ]
        );
        assert_eq!(warning.u64("execution_number"), u64::from(k) + 1);
        assert_eq!(warning.field("execution_time_ms"), &json!(9000));
        assert_eq!(warning.field("interval_ms"), &json!(10000));
        let message = warning.str("message");
        assert!(message.contains("90%"), "{message}");
        assert!(message.contains("80%"), "{message}");
        // The warning is part of the execution: it carries the span.
        let span = warning.span("job_execution").unwrap();
        assert_eq!(span["execution_number"], json!(u64::from(k) + 1));
    }
    // A slow run is still a successful one, and is not skipped.
    let stats = manager.stats("slow").unwrap();
    assert_eq!(stats.error_count, 0);
    assert_eq!(stats.skipped_count, 0);
}

#[tokio::test(start_paused = true)]
async fn the_slow_run_warning_follows_a_new_schedule() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    // Runs take 9 s: not slow against a minute, slow against 10 s.
    let (job, mut runs) = support::recording(
        JobSpec::every("rescheduled", MINUTE).run_on_start(false),
        Duration::from_secs(9),
    );
    manager.register(job);
    manager.start_all().unwrap();
    manager
        .set_schedule(
            "rescheduled",
            jobs_runtime::Schedule::Every(Duration::from_secs(10)),
        )
        .unwrap();
    next(&mut runs).await;
    tokio::time::sleep(Duration::from_millis(9_500)).await;
    let warnings = logs.job_operation("rescheduled", "job_execute_slow");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].u64("interval_ms"), 10_000);
    manager.stop_all().await;
}
