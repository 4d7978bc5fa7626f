//! Errors, panics and timeouts: each is logged and counted, and neither the
//! failing job nor any other stops.
//!
//! The jobs here are `#[job]` functions, so every test discovers all of them
//! and starts only the ones it is about, by name.

mod support;

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jobs_runtime::{job, BoxError, CancellationToken, JobContext, JobManager, JobSpec, State};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next, DropFlag, Logs};

const MINUTE: Duration = Duration::from_secs(60);

#[job(name = "fails-anyhow", every = "1m")]
async fn fails_anyhow(ctx: JobContext) -> anyhow::Result<()> {
    Err(anyhow::anyhow!("disk full"))
        .with_context(|| format!("writing report {}", ctx.execution_number()))
}

#[job(name = "fails-boxed", every = "1m")]
async fn fails_boxed() -> Result<(), Box<dyn StdError + Send + Sync>> {
    Err("connection refused".into())
}

#[derive(Debug)]
enum SyncError {
    Upstream { status: u16 },
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Upstream { status } => write!(f, "upstream answered {status}"),
        }
    }
}

#[job(name = "fails-enum", every = "1m")]
async fn fails_enum() -> Result<(), SyncError> {
    Err(SyncError::Upstream { status: 503 })
}

/// Fails on odd executions, succeeds on even ones.
#[job(name = "fails-sometimes", every = "1m")]
async fn fails_sometimes(ctx: JobContext) -> Result<(), String> {
    if ctx.execution_number() % 2 == 1 {
        Err(format!("odd execution {}", ctx.execution_number()))
    } else {
        Ok(())
    }
}

/// Panics on its first execution only.
#[job(name = "panics-once", every = "1m")]
async fn panics_once(ctx: JobContext) {
    if ctx.execution_number() == 1 {
        panic!("boom in execution {}", ctx.execution_number());
    }
}

#[job(name = "panics-static", every = "1m")]
async fn panics_static() {
    panic!("static boom");
}

#[job(name = "panics-any", every = "1m")]
async fn panics_any() {
    std::panic::panic_any(42_u32);
}

#[job(name = "steady", every = "30s")]
async fn steady() {}

/// What the `times-out` job shows the test.
struct TimeoutProbe {
    tokens: mpsc::UnboundedSender<CancellationToken>,
    dropped: Arc<AtomicBool>,
}

#[job(name = "times-out", every = "5m", timeout = "60s")]
async fn times_out(ctx: JobContext, probe: State<TimeoutProbe>) {
    let _flag = DropFlag(Arc::clone(&probe.dropped));
    probe.tokens.send(ctx.cancellation_token().clone()).unwrap();
    // Ignores its token: only dropping the future stops it.
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[job(name = "within-timeout", every = "5m", timeout = "60s")]
async fn within_timeout() {
    tokio::time::sleep(Duration::from_secs(59)).await;
}

/// A panic's message without its location (`panicked at file:line:col: x`
/// becomes `panicked: x`), after checking the location is in this file.
fn unlocated(message: &str) -> String {
    let Some(rest) = message.strip_prefix(concat!("panicked at ", file!(), ":")) else {
        panic!("no location in this file: {message:?}");
    };
    let mut parts = rest.splitn(3, ':');
    let (line, column, text) = (parts.next(), parts.next(), parts.next());
    assert!(
        [line, column]
            .iter()
            .all(|n| n.is_some_and(|n| n.parse::<u32>().is_ok())),
        "{message:?}"
    );
    format!("panicked:{}", text.unwrap_or_default())
}

fn start(manager: &JobManager, names: &[&str]) {
    for name in names {
        manager.start(name).unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn errors_of_every_kind_are_logged_and_the_jobs_keep_running() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let jobs = [
        ("fails-anyhow", "writing report {n}: disk full"),
        ("fails-boxed", "connection refused"),
        ("fails-enum", "upstream answered 503"),
    ];
    start(&manager, &jobs.map(|(name, _)| name));
    let start = Instant::now();
    // Fires at 0, 1m and 2m.
    tokio::time::sleep(Duration::from_secs(150)).await;

    for (name, error) in jobs {
        let events = logs.job_operation(name, "job_execute_error");
        assert_eq!(events.len(), 3, "{name}");
        for (k, event) in (1u64..).zip(&events) {
            assert_eq!(event.level, tracing::Level::ERROR);
            assert_eq!(event.target, "jobs_runtime");
            assert_eq!(event.at, start + MINUTE * (k as u32 - 1));
            let expected = error.replace("{n}", &k.to_string());
            assert_eq!(
                event.fields,
                support::Fields::from_iter([
                    ("operation".to_owned(), json!("job_execute_error")),
                    ("job_name".to_owned(), json!(name)),
                    ("execution_number".to_owned(), json!(k)),
                    ("error_count".to_owned(), json!(k)),
                    ("outcome".to_owned(), json!("failed")),
                    ("error".to_owned(), json!(expected)),
                    ("message".to_owned(), json!("job execution failed")),
                ]),
            );
        }
        assert!(logs.job_operation(name, "job_execute_success").is_empty());
        let stats = manager.stats(name).unwrap();
        assert_eq!(stats.execution_count, 3, "{name}");
        assert_eq!(stats.error_count, 3, "{name}");
        assert!(stats.is_started, "{name}");
        assert_eq!(
            stats.last_error.as_deref(),
            Some(&*error.replace("{n}", "3"))
        );
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_that_failed_runs_again_and_can_succeed() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    start(&manager, &["fails-sometimes"]);
    tokio::time::sleep(Duration::from_secs(210)).await;
    manager.stop_all().await;

    let errors = logs.job_operation("fails-sometimes", "job_execute_error");
    let successes = logs.job_operation("fails-sometimes", "job_execute_success");
    let numbers = |events: &[support::Captured]| {
        events
            .iter()
            .map(|event| event.u64("execution_number"))
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&errors), [1, 3]);
    assert_eq!(numbers(&successes), [2, 4]);
    // `error_count` counts the job's errors so far.
    assert_eq!(errors[1].u64("error_count"), 2);
    let stats = manager.stats("fails-sometimes").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (4, 2));
    assert_eq!(stats.last_error.as_deref(), Some("odd execution 3"));
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_caught_logged_counted_and_the_job_runs_again() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    start(
        &manager,
        &["panics-once", "panics-static", "panics-any", "steady"],
    );
    // panics-* fire at 0, 1m and 2m; steady at 0, 30s, ..., 2m.
    tokio::time::sleep(Duration::from_secs(140)).await;

    let panics = logs.job_operation("panics-once", "job_execute_error");
    assert_eq!(panics.len(), 1);
    assert_eq!(
        unlocated(panics[0].str("error")),
        "panicked: boom in execution 1"
    );
    assert_eq!(panics[0].u64("execution_number"), 1);
    assert_eq!(panics[0].u64("error_count"), 1);
    // The job ran again on each of its next ticks.
    let successes = logs.job_operation("panics-once", "job_execute_success");
    assert_eq!(successes.len(), 2);
    let stats = manager.stats("panics-once").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (3, 1));
    assert_eq!(
        stats.last_error.as_deref().map(unlocated),
        Some("panicked: boom in execution 1".to_owned())
    );
    assert!(!stats.is_running);

    let errors = |name| {
        logs.job_operation(name, "job_execute_error")
            .iter()
            .map(|event| unlocated(event.str("error")))
            .collect::<Vec<_>>()
    };
    assert_eq!(errors("panics-static"), ["panicked: static boom"; 3]);
    assert_eq!(
        errors("panics-any"),
        ["panicked: a value that is not a string"; 3]
    );

    // The other job was not disturbed.
    let steady = manager.stats("steady").unwrap();
    assert_eq!((steady.execution_count, steady.error_count), (5, 0));
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hand_written_job_is_caught_too() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("hand-panic", MINUTE),
        |ctx: JobContext| async move {
            if ctx.execution_number() == 1 {
                panic!("hand-written boom");
            }
            Ok(())
        },
    ));
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(90)).await;
    manager.stop_all().await;
    let errors = logs.job_operation("hand-panic", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        unlocated(errors[0].str("error")),
        "panicked: hand-written boom"
    );
    assert_eq!(
        logs.job_operation("hand-panic", "job_execute_success")
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_hand_written_job_error_is_logged_with_its_causes() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("hand-error", MINUTE),
        |_ctx: JobContext| async move {
            let error = anyhow::anyhow!("disk full").context("writing report");
            Err::<(), BoxError>(error.into())
        },
    ));
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(90)).await;
    manager.stop_all().await;
    let errors = logs.job_operation("hand-error", "job_execute_error");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].str("error"), "writing report: disk full");
    assert_eq!(errors[1].u64("error_count"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fires_the_token_drops_the_future_and_counts_an_error() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    let (tokens_tx, mut tokens) = mpsc::unbounded_channel();
    let dropped = Arc::new(AtomicBool::new(false));
    manager.provide(TimeoutProbe {
        tokens: tokens_tx,
        dropped: Arc::clone(&dropped),
    });
    start(&manager, &["times-out", "within-timeout"]);
    let start = Instant::now();

    let token = next(&mut tokens).await;
    assert!(!token.is_cancelled());
    token.cancelled().await;
    assert_eq!(Instant::now(), start + MINUTE);
    tokio::task::yield_now().await;
    assert!(dropped.load(Ordering::SeqCst), "the future was not dropped");

    let errors = logs.job_operation("times-out", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].at, start + MINUTE);
    assert_eq!(errors[0].str("error"), "timed out after 60s");
    assert_eq!(errors[0].u64("execution_number"), 1);
    let stats = manager.stats("times-out").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (1, 1));
    assert_eq!(stats.last_execution_time, MINUTE);
    assert_eq!(stats.last_error.as_deref(), Some("timed out after 60s"));
    assert!(!stats.is_running);

    // The job runs again on its next tick, and times out again.
    let token = next(&mut tokens).await;
    assert_eq!(Instant::now(), start + MINUTE * 5);
    token.cancelled().await;
    assert_eq!(Instant::now(), start + MINUTE * 6);

    // A run that ends within its timeout is not affected.
    let within = manager.stats("within-timeout").unwrap();
    assert_eq!((within.execution_count, within.error_count), (2, 0));
    assert!(logs
        .job_operation("within-timeout", "job_execute_error")
        .is_empty());
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_sub_second_timeout_is_reported_in_milliseconds() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(job_fn(
        JobSpec::every("quick-timeout", MINUTE).timeout(Duration::from_millis(1500)),
        |_ctx: JobContext| async move {
            tokio::time::sleep(MINUTE).await;
            Ok(())
        },
    ));
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let errors = logs.job_operation("quick-timeout", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].str("error"), "timed out after 1500ms");
    manager.stop_all().await;
}

/// An error enum as `thiserror` derives it, with its cause as `#[source]`.
#[derive(Debug, thiserror::Error)]
enum AccountError {
    #[error("sync of account {account} failed")]
    Sync {
        account: u32,
        #[source]
        cause: std::io::Error,
    },
}

#[job(name = "fails-thiserror", every = "1m")]
async fn fails_thiserror() -> Result<(), AccountError> {
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    Err(AccountError::Sync {
        account: 42,
        cause: std::io::Error::other(Wrapped("socket closed", refused)),
    })
}

/// An error with a cause, for a boxed error's chain.
#[derive(Debug)]
struct Wrapped(&'static str, std::io::Error);

impl fmt::Display for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for Wrapped {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.1)
    }
}

#[job(name = "fails-boxed-chain", every = "1m")]
async fn fails_boxed_chain() -> Result<(), Box<dyn StdError + Send + Sync>> {
    let cause = std::io::Error::other("disk full");
    Err(Box::new(Wrapped("writing report", cause)))
}

#[tokio::test(start_paused = true)]
async fn a_job_fn_error_is_logged_and_recorded_with_its_causes() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    start(
        &manager,
        &["fails-thiserror", "fails-boxed-chain", "fails-enum"],
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    manager.stop_all().await;

    let expected = [
        (
            "fails-thiserror",
            "sync of account 42 failed: socket closed: connection refused",
        ),
        ("fails-boxed-chain", "writing report: disk full"),
        // Display only, not `std::error::Error`: its message as it is.
        ("fails-enum", "upstream answered 503"),
    ];
    for (job, message) in expected {
        let errors = logs.job_operation(job, "job_execute_error");
        assert_eq!(errors.len(), 1, "{job}");
        assert_eq!(errors[0].str("error"), message, "{job}");
        let stats = manager.stats(job).unwrap();
        assert_eq!(stats.last_error.as_deref(), Some(message), "{job}");
    }
}
