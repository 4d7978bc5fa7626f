//! Helpers shared by the behaviour tests: a `tracing` layer that captures
//! every event with its fields and its spans' fields, and a hand-written
//! [`Job`] built from a closure.
//!
//! The capture layer is the process's global subscriber, and each test
//! collects the events of its own thread. A global subscriber, rather than
//! one `set_default` per test, keeps `tracing`'s callsite cache right while
//! tests run in parallel: with only thread-local subscribers, a callsite
//! first reached on a thread without one can be cached as disabled for every
//! thread.

// Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod examples;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use jobs_runtime::{BoxError, Job, JobContext, JobSpec};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The fields of an event or a span, by name.
pub type Fields = BTreeMap<String, Value>;

/// One captured event.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The event's target.
    pub target: String,
    /// The event's level.
    pub level: tracing::Level,
    /// The event's own fields, `message` included.
    pub fields: Fields,
    /// The spans the event happened in, outermost first: name and fields.
    pub spans: Vec<(String, Fields)>,
    /// When it was emitted, on tokio's clock.
    pub at: Instant,
}

impl Captured {
    /// The event's `operation` field, if it has one.
    pub fn operation(&self) -> Option<&str> {
        self.fields.get("operation").and_then(Value::as_str)
    }

    /// A field of the event; panics if it is missing.
    pub fn field(&self, name: &str) -> &Value {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("event has no field `{name}`: {self:?}"))
    }

    /// A string field of the event.
    pub fn str(&self, name: &str) -> &str {
        self.field(name)
            .as_str()
            .unwrap_or_else(|| panic!("field `{name}` is not a string: {self:?}"))
    }

    /// An unsigned integer field of the event.
    pub fn u64(&self, name: &str) -> u64 {
        self.field(name)
            .as_u64()
            .unwrap_or_else(|| panic!("field `{name}` is not a u64: {self:?}"))
    }

    /// The names of the event's fields, sorted.
    pub fn field_names(&self) -> Vec<&str> {
        self.fields.keys().map(String::as_str).collect()
    }

    /// The fields of the innermost span named `name` around the event.
    pub fn span(&self, name: &str) -> Option<&Fields> {
        self.spans
            .iter()
            .rev()
            .find(|(span, _)| span == name)
            .map(|(_, fields)| fields)
    }
}

type Sink = Arc<Mutex<Vec<Captured>>>;

thread_local! {
    /// Where the events of this thread go, while a [`Logs`] captures them.
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Installs the capture layer as the global subscriber, once per process.
///
/// Call it before `tracing::subscriber::set_default`, so the global
/// subscriber is known when the scoped one is added.
pub fn install_capture() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CaptureLayer))
            .expect("another global subscriber was installed");
    });
}

/// The events captured while a [`Logs`] guard is alive on this thread.
#[derive(Clone, Default)]
pub struct Logs {
    events: Sink,
}

/// Captures the current thread's events while it lives.
#[must_use = "events are captured only while the guard lives"]
pub struct CaptureGuard {
    previous: Option<Sink>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SINK.with(|sink| *sink.borrow_mut() = previous);
    }
}

impl Logs {
    /// Captures every event on the current thread (and so in every task of a
    /// current-thread runtime) until the returned guard is dropped.
    pub fn capture() -> (Logs, CaptureGuard) {
        install_capture();
        let logs = Logs::default();
        let previous = SINK.with(|sink| sink.borrow_mut().replace(Arc::clone(&logs.events)));
        (logs, CaptureGuard { previous })
    }

    /// Every captured event, in order.
    pub fn events(&self) -> Vec<Captured> {
        self.events.lock().unwrap().clone()
    }

    /// The events whose `operation` is `operation`, in order.
    pub fn operation(&self, operation: &str) -> Vec<Captured> {
        self.events()
            .into_iter()
            .filter(|event| event.operation() == Some(operation))
            .collect()
    }

    /// The events of job `job` whose `operation` is `operation`, in order.
    pub fn job_operation(&self, job: &str, operation: &str) -> Vec<Captured> {
        self.operation(operation)
            .into_iter()
            .filter(|event| event.fields.get("job_name").and_then(Value::as_str) == Some(job))
            .collect()
    }

    /// The `operation` of every event that has one, in order.
    pub fn operations(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|event| event.operation().map(str::to_owned))
            .collect()
    }
}

struct CaptureLayer;

/// A span's recorded fields, kept in its extensions.
struct SpanFields(Fields);

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>() {
                values.record(&mut FieldVisitor(fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(events) = SINK.with(|sink| sink.borrow().clone()) else {
            return;
        };
        let mut fields = Fields::new();
        event.record(&mut FieldVisitor(&mut fields));
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<SpanFields>()
                            .map(|SpanFields(fields)| fields.clone())
                            .unwrap_or_default();
                        (span.name().to_owned(), fields)
                    })
                    .collect()
            })
            .unwrap_or_default();
        events.lock().unwrap().push(Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
            spans,
            at: Instant::now(),
        });
    }
}

struct FieldVisitor<'a>(&'a mut Fields);

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// A hand-written [`Job`] whose executions call a closure.
pub struct FnJob<F> {
    spec: JobSpec,
    run: F,
}

/// A [`Job`] with `spec` whose every execution is `run(ctx)`.
pub fn job_fn<F, Fut>(spec: JobSpec, run: F) -> FnJob<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    FnJob { spec, run }
}

impl<F, Fut> Job for FnJob<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn spec(&self) -> JobSpec {
        self.spec.clone()
    }

    fn execute(&self, ctx: JobContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        (self.run)(ctx)
    }
}

/// What a [`recording`] job reports about one of its executions.
#[derive(Debug, Clone)]
pub struct Run {
    /// The execution's number.
    pub number: u64,
    /// When it was due.
    pub scheduled_at: Instant,
    /// When its body started, on tokio's clock.
    pub started_at: Instant,
}

/// A job with `spec` that reports each execution on the returned channel,
/// then works for `work` (on tokio's clock) and succeeds.
pub fn recording(
    spec: JobSpec,
    work: Duration,
) -> (
    FnJob<impl Fn(JobContext) -> RunFuture>,
    mpsc::UnboundedReceiver<Run>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let job = job_fn(spec, move |ctx: JobContext| -> RunFuture {
        let tx = tx.clone();
        Box::pin(async move {
            let _ = tx.send(Run {
                number: ctx.execution_number(),
                scheduled_at: ctx.scheduled_at(),
                started_at: Instant::now(),
            });
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            Ok(())
        })
    });
    (job, rx)
}

/// The future of one execution of a [`recording`] job.
pub type RunFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// Receives the next value, failing the test if the channel closed.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    rx.recv().await.expect("the job's channel closed")
}

/// Lets every task that can make progress without time passing do so.
pub async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Sets a drop flag when dropped: shows that a job's future was dropped.
pub struct DropFlag(pub Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What a [`wall_recording`] job reports about one of its executions.
#[derive(Debug, Clone)]
pub struct WallRun {
    /// The execution's number.
    pub number: u64,
    /// The attempt within the execution (1 for the first try).
    pub attempt: u32,
    /// When it was due, on tokio's clock.
    pub scheduled_at: Instant,
    /// When its body started, on tokio's clock.
    pub started_at: Instant,
    /// When the execution started, on the manager's wall clock.
    pub wall: std::time::SystemTime,
}

/// A job with `spec` that reports each execution, with its wall-clock start,
/// on the returned channel and succeeds at once.
pub fn wall_recording(
    spec: JobSpec,
) -> (
    FnJob<impl Fn(JobContext) -> RunFuture>,
    mpsc::UnboundedReceiver<WallRun>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let job = job_fn(spec, move |ctx: JobContext| -> RunFuture {
        let _ = tx.send(WallRun {
            number: ctx.execution_number(),
            attempt: ctx.attempt(),
            scheduled_at: ctx.scheduled_at(),
            started_at: Instant::now(),
            wall: ctx.started_at(),
        });
        Box::pin(async { Ok(()) })
    });
    (job, rx)
}

/// A wall-clock time from RFC 3339 text, such as `"2026-03-29T01:00:00Z"`.
pub fn wall(text: &str) -> std::time::SystemTime {
    text.parse::<jobs_runtime::chrono::DateTime<jobs_runtime::chrono::Utc>>()
        .unwrap_or_else(|error| panic!("bad time {text:?}: {error}"))
        .into()
}

/// A wall-clock time as RFC 3339 text in UTC, for readable assertions.
pub fn rfc3339(time: std::time::SystemTime) -> String {
    jobs_runtime::chrono::DateTime::<jobs_runtime::chrono::Utc>::from(time)
        .to_rfc3339_opts(jobs_runtime::chrono::SecondsFormat::Secs, true)
}

/// Receives the next value within `limit` of tokio's (paused) clock, failing
/// the test if none comes: a job that stopped firing fails the test instead
/// of hanging it.
pub async fn next_within<T>(rx: &mut mpsc::UnboundedReceiver<T>, limit: Duration) -> T {
    tokio::time::timeout(limit, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no run within {limit:?} of tokio's clock"))
        .expect("the job's channel closed")
}

/// [`next_within`] thirty days: for tests that assert exact instants and
/// must not hang when a job stops firing.
pub async fn next_soon<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    next_within(rx, Duration::from_secs(30 * 86_400)).await
}

/// The most of `spans` (start, end) that overlap at one instant; a span
/// that ends at the instant another starts does not overlap it.
pub fn most_at_once<T: Ord>(spans: impl IntoIterator<Item = (T, T)>) -> usize {
    let mut edges: Vec<(T, i32)> = spans
        .into_iter()
        .flat_map(|(start, end)| [(start, 1), (end, -1)])
        .collect();
    // An end before a start at the same instant.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}
