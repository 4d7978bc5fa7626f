//! A panic in the scheduler's own code (here, a log subscriber that panics
//! on one job's events) is contained: it is logged as
//! `job_internal_panic`, and the other jobs keep firing.
//!
//! Each test installs its own subscriber for its thread (the paused
//! runtime's only thread), so this file does not use the shared capture.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs_runtime::{JobManager, JobSpec};
use tokio::time::Instant;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::Layer;

use support::{next_within, recording};

const SECOND: Duration = Duration::from_secs(1);

/// The string fields of one event.
#[derive(Debug, Default, Clone)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

/// Panics on `operation` events of job `bad`; records every
/// `job_internal_panic` event.
struct Panicking {
    operation: &'static str,
    internal: Arc<Mutex<Vec<Fields>>>,
}

impl<S: Subscriber> Layer<S> for Panicking {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        match fields.get("operation") {
            Some("job_internal_panic") => self.internal.lock().unwrap().push(fields),
            Some(operation)
                if operation == self.operation && fields.get("job_name") == Some("bad") =>
            {
                panic!("the subscriber failed on {operation}")
            }
            _ => {}
        }
    }
}

fn panicking_on(
    operation: &'static str,
) -> (Arc<Mutex<Vec<Fields>>>, tracing::subscriber::DefaultGuard) {
    let internal = Arc::new(Mutex::new(Vec::new()));
    let layer = Panicking {
        operation,
        internal: Arc::clone(&internal),
    };
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (internal, guard)
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_a_fire_is_handed_out_is_logged_and_other_jobs_keep_firing() {
    // A paused job's fires are skipped and logged while they are handed out.
    let (internal, _guard) = panicking_on("job_execute_skipped");
    let manager = JobManager::new();
    let (bad, _bad_runs) = recording(JobSpec::every("bad", SECOND), Duration::ZERO);
    let (good, mut good_runs) = recording(JobSpec::every("good", SECOND), Duration::ZERO);
    manager.register(bad);
    manager.register(good);
    manager.pause("bad").unwrap();
    let start = Instant::now();
    manager.start_all().unwrap();

    for k in 0..5 {
        let run = next_within(&mut good_runs, 2 * SECOND).await;
        assert_eq!(run.scheduled_at, start + SECOND * k);
    }
    let internal = internal.lock().unwrap().clone();
    assert!(internal.len() >= 4, "each fire of bad panics: {internal:?}");
    for event in &internal {
        assert_eq!(event.get("job_name"), Some("bad"));
        assert_eq!(event.get("stage"), Some("scheduling"));
        assert_eq!(event.get("recovered"), Some("true"));
        assert!(event
            .get("error")
            .unwrap()
            .contains("the subscriber failed"));
    }
    // The panicking job is still armed for its next fire.
    assert!(manager.stats("bad").unwrap().next_run_at.is_some());
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_a_run_is_polled_ends_that_run_alone() {
    let (internal, _guard) = panicking_on("job_execute_start");
    let manager = JobManager::new();
    // Due together, in one batch, `bad` first.
    let (bad, _bad_runs) = recording(JobSpec::every("bad", SECOND), Duration::ZERO);
    let (good, mut good_runs) = recording(JobSpec::every("good", SECOND), Duration::ZERO);
    manager.register(bad);
    manager.register(good);
    let start = Instant::now();
    manager.start_all().unwrap();

    for k in 0..5 {
        let run = next_within(&mut good_runs, 2 * SECOND).await;
        assert_eq!(run.scheduled_at, start + SECOND * k);
    }
    let internal = internal.lock().unwrap().clone();
    assert!(internal.len() >= 4, "each run of bad panics: {internal:?}");
    assert!(internal
        .iter()
        .all(|event| event.get("job_name") == Some("bad") && event.get("stage") == Some("run")));
    let stats = manager.stats("bad").unwrap();
    assert!(!stats.is_running, "the panicked runs ended");
    manager.stop_all().await;
}
