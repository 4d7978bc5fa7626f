//! The log events: their names, their exact fields, and the execution span
//! that gives a job's own log lines its name and execution number.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs_runtime::{JobContext, JobManager, JobSpec};
use serde_json::{json, Value};
use tokio::time::Instant;

use support::{job_fn, Fields, Logs};

fn fields(pairs: &[(&str, Value)]) -> Fields {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

/// A job named `report`, every 2 minutes, whose runs log one line of their
/// own and take 1.5 s.
fn report_job() -> impl jobs_runtime::Job {
    job_fn(
        JobSpec::every("report", Duration::from_secs(120)),
        |ctx: JobContext| async move {
            tracing::info!(rows = 3_u64, "report written");
            assert_eq!(ctx.job_name(), "report");
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(())
        },
    )
}

#[tokio::test(start_paused = true)]
async fn every_lifecycle_event_has_exactly_its_fields() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(report_job());
    let start = Instant::now();
    manager.start_all().unwrap();
    // Runs 1 and 2, at 0 and 2m.
    tokio::time::sleep(Duration::from_secs(130)).await;
    manager.stop_all().await;

    let events = logs.events();
    let operations: Vec<_> = events.iter().map(|e| e.operation()).collect();
    assert_eq!(
        operations,
        [
            Some("job_start"),
            Some("job_execute_start"),
            None,
            Some("job_execute_success"),
            Some("job_execute_start"),
            None,
            Some("job_execute_success"),
            Some("job_stop"),
        ]
    );
    for event in &events {
        if event.operation().is_some() {
            assert_eq!(event.target, "jobs_runtime");
            assert_eq!(event.level, tracing::Level::INFO);
        }
    }

    assert_eq!(
        events[0].fields,
        fields(&[
            ("operation", json!("job_start")),
            ("job_name", json!("report")),
            ("interval_ms", json!(120_000)),
            ("interval_seconds", json!(120.0)),
            ("message", json!("job started")),
        ])
    );
    assert_eq!(events[0].at, start);
    assert!(events[0].spans.is_empty());

    for (k, run) in [(1_u64, &events[1..4]), (2, &events[4..7])] {
        let offset = Duration::from_secs(120) * (k as u32 - 1);
        assert_eq!(
            run[0].fields,
            fields(&[
                ("operation", json!("job_execute_start")),
                ("job_name", json!("report")),
                ("execution_number", json!(k)),
                ("queue_time_ms", json!(0)),
                ("message", json!("job execution started")),
            ])
        );
        assert_eq!(run[0].at, start + offset);
        assert_eq!(
            run[2].fields,
            fields(&[
                ("operation", json!("job_execute_success")),
                ("job_name", json!("report")),
                ("execution_number", json!(k)),
                ("execution_time_ms", json!(1500)),
                ("message", json!("job execution succeeded")),
            ])
        );
        assert_eq!(run[2].at, start + offset + Duration::from_millis(1500));
        // Every event of the run, the job's own included, is inside the
        // execution span.
        let span = vec![(
            "job_execution".to_owned(),
            fields(&[
                ("job_name", json!("report")),
                ("execution_number", json!(k)),
                ("execution_id", json!(k)),
            ]),
        )];
        for event in run {
            assert_eq!(event.spans, span, "{event:?}");
        }
    }

    assert_eq!(
        events[7].fields,
        fields(&[
            ("operation", json!("job_stop")),
            ("job_name", json!("report")),
            ("message", json!("job stopped")),
        ])
    );
    assert!(events[7].spans.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_jobs_own_log_lines_carry_its_name_and_execution_number() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(report_job());
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(250)).await;
    manager.stop_all().await;

    let own: Vec<_> = logs
        .events()
        .into_iter()
        .filter(|event| event.operation().is_none())
        .collect();
    assert_eq!(own.len(), 3);
    for (k, event) in (1_u64..).zip(&own) {
        assert_eq!(
            event.fields,
            fields(&[("rows", json!(3)), ("message", json!("report written"))])
        );
        let span = event.span("job_execution").expect("no execution span");
        assert_eq!(span["job_name"], json!("report"));
        assert_eq!(span["execution_number"], json!(k));
    }
}

#[tokio::test(start_paused = true)]
async fn job_start_logs_sub_second_intervals_exactly() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("brisk", Duration::from_millis(1500)),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    manager.start_all().unwrap();
    manager.stop_all().await;
    let start = &logs.operation("job_start")[0];
    assert_eq!(start.field("interval_ms"), &json!(1500));
    assert_eq!(start.field("interval_seconds"), &json!(1.5));
}

/// Bytes written by a `fmt` subscriber.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_json_subscriber_shows_the_fields_and_the_span() {
    support::install_capture();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let manager = JobManager::new();
    manager.register(report_job());
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    manager.stop_all().await;

    let output = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let operations: Vec<_> = lines
        .iter()
        .map(|line| line["fields"]["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        [
            Some("job_start"),
            Some("job_execute_start"),
            None,
            Some("job_execute_success"),
            Some("job_stop")
        ]
    );
    assert_eq!(lines[0]["fields"]["interval_ms"], json!(120_000));
    let own = &lines[2];
    assert_eq!(own["fields"]["message"], json!("report written"));
    assert_eq!(own["fields"]["rows"], json!(3));
    assert_eq!(own["span"]["name"], json!("job_execution"));
    assert_eq!(own["span"]["job_name"], json!("report"));
    assert_eq!(own["span"]["execution_number"], json!(1));
    assert_eq!(lines[3]["fields"]["execution_time_ms"], json!(1500));
}
