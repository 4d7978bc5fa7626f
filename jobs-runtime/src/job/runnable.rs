//! The [`Job`] trait, and the object-safe form the runtime runs.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{JobContext, JobSpec};

/// The error a hand-written [`Job`] returns. Anything that converts into it
/// works with `?`: `anyhow::Error`, `std::io::Error`, `String`, `&str`, ...
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A job written by hand: a spec and an async `execute`.
///
/// Use it when a job's dependencies are built at run time, or when one type
/// defines several jobs; add it with
/// [`JobManager::register`](crate::JobManager::register). For everything
/// else, `#[job]` on an `async fn` is shorter.
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::{BoxError, Job, JobContext, JobManager, JobSpec};
///
/// struct Ping { url: String }
///
/// impl Job for Ping {
///     fn spec(&self) -> JobSpec {
///         JobSpec::every("ping", Duration::from_secs(30)).timeout(Duration::from_secs(5))
///     }
///
///     async fn execute(&self, ctx: JobContext) -> Result<(), BoxError> {
///         tracing::info!(url = %self.url, n = ctx.execution_number(), "ping");
///         Ok(())
///     }
/// }
///
/// let manager = JobManager::new();
/// manager.register(Ping { url: "http://localhost".into() });
/// assert_eq!(manager.registered_jobs(), ["ping"]);
/// ```
pub trait Job: Send + Sync + 'static {
    /// The job's name, schedule and options. Called once, at registration.
    fn spec(&self) -> JobSpec;

    /// One execution. An `Err` is logged and counted; the job runs again on
    /// its next tick.
    fn execute(&self, ctx: JobContext) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// The future of one execution, as the executor runs it.
pub(crate) type ExecutionFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A job in the form the executor runs: object-safe, returning a `'static`
/// future whose error is already a message.
pub(crate) trait Runnable: Send + Sync + 'static {
    /// Takes the job's handle, so a job's future can own it: a hand-written
    /// job is then one allocation.
    fn execute(self: Arc<Self>, ctx: JobContext) -> ExecutionFuture;
}

/// Runs a hand-written [`Job`].
pub(crate) struct HandWritten<J>(pub(crate) J);

impl<J: Job> Runnable for HandWritten<J> {
    fn execute(self: Arc<Self>, ctx: JobContext) -> ExecutionFuture {
        Box::pin(async move {
            self.0
                .execute(ctx)
                .await
                .map_err(|error| error_chain(&*error))
        })
    }
}

/// Runs a `#[job]` function: `call` extracts the parameters and calls it.
pub(crate) struct FnJob<F>(pub(crate) F);

impl<F, Fut, R> Runnable for FnJob<F>
where
    F: Fn(&JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoJobResult,
{
    fn execute(self: Arc<Self>, ctx: JobContext) -> ExecutionFuture {
        let call = (self.0)(&ctx);
        Box::pin(async move { call.await.into_job_result() })
    }
}

/// What a `#[job]` function may return: `()` or `Result<(), E>` with
/// `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a `#[job]` function",
    label = "return `()` or `Result<(), E>` where `E: Display`",
    note = "`anyhow::Result<()>`, `Result<(), Box<dyn std::error::Error + Send + Sync>>` and `Result<(), YourError>` all work"
)]
pub trait IntoJobResult {
    /// The outcome, with the error rendered as a message.
    fn into_job_result(self) -> Result<(), String>;
}

impl IntoJobResult for () {
    fn into_job_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display> IntoJobResult for Result<(), E> {
    fn into_job_result(self) -> Result<(), String> {
        // `{:#}` renders an `anyhow::Error` with its chain of causes.
        self.map_err(|error| format!("{error:#}"))
    }
}

/// `error: cause: cause ...`, the way `anyhow` prints a chain.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message; say it once.
        if !message.ends_with(&cause_text) {
            let _ = write!(message, ": {cause_text}");
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_causes() {
        let io = std::io::Error::other("disk full");
        let error: BoxError = Box::new(Wrapped(io));
        assert_eq!(error_chain(&*error), "writing report: disk full");
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("writing report")
        }
    }
    impl StdError for Wrapped {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn results_render_their_errors() {
        assert_eq!(().into_job_result(), Ok(()));
        let failed: Result<(), &str> = Err("boom");
        assert_eq!(failed.into_job_result(), Err("boom".to_owned()));
    }
}
