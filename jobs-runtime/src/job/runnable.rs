//! The [`Job`] trait, and the object-safe form the runtime runs.

use std::error::Error as StdError;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use futures_util::FutureExt as _;

use crate::job::panic_hook;
use crate::model::execution::Outcome;
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

/// The future of one execution, as the executor runs it: it borrows the
/// job, which its run holds.
pub(crate) type ExecutionFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A job in the form the executor runs: object-safe, returning a future
/// whose result is already an [`Outcome`].
pub(crate) trait Runnable: Send + Sync + 'static {
    /// The job's future borrows it: a run touches no reference count of
    /// the job's to start an execution.
    fn execute(&self, ctx: JobContext) -> ExecutionFuture<'_>;
}

/// Runs a hand-written [`Job`].
pub(crate) struct HandWritten<J>(pub(crate) J);

impl<J: Job> Runnable for HandWritten<J> {
    fn execute(&self, ctx: JobContext) -> ExecutionFuture<'_> {
        // The job's code runs as code whose panics the executor catches.
        // Mapped, not awaited in a block, so the future is kept once.
        let future = panic_hook::in_job(|| self.0.execute(ctx));
        Box::pin(panic_hook::in_job_future(future.map(
            |result| match result {
                Ok(()) => Outcome::Succeeded,
                Err(error) => Outcome::failed(&*error),
            },
        )))
    }
}

/// Runs a `#[job]` function: `call` extracts the parameters and calls it,
/// `render` turns its result into the outcome.
pub(crate) struct FnJob<F, K> {
    pub(crate) call: F,
    pub(crate) render: K,
}

impl<F, Fut, R, K> Runnable for FnJob<F, K>
where
    F: Fn(&JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoJobResult,
    K: Render<R>,
{
    fn execute(&self, ctx: JobContext) -> ExecutionFuture<'_> {
        // The job's code (its parameters' extraction, the function, the
        // error's rendering) runs as code whose panics the executor catches.
        let call = panic_hook::in_job(|| (self.call)(&ctx));
        let render = self.render;
        Box::pin(panic_hook::in_job_future(
            call.map(move |result| render.render(result)),
        ))
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
    /// The outcome: a success, or a failure with the error as a message.
    fn into_outcome(self) -> Outcome;
}

impl IntoJobResult for () {
    fn into_outcome(self) -> Outcome {
        Outcome::Succeeded
    }
}

impl<E: std::fmt::Display> IntoJobResult for Result<(), E> {
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(()) => Outcome::Succeeded,
            // `{:#}` renders an `anyhow::Error` with its chain of causes.
            Err(error) => Outcome::failed_with(format!("{error:#}")),
        }
    }
}

/// How a `#[job]` function's error becomes its message: the code `#[job]`
/// generates picks one per function with [`Probe`], so a type that
/// implements [`std::error::Error`] is rendered with its chain of causes
/// (`outer: cause: root`), and any other [`Display`](std::fmt::Display)
/// type as `{:#}` renders it (which lists an `anyhow::Error`'s causes).
pub trait Render<R>: Copy + Send + Sync + 'static {
    /// The outcome, with the error and its causes.
    fn render(self, outcome: R) -> Outcome
    where
        R: IntoJobResult;
}

/// Renders an error that implements [`std::error::Error`] with its causes.
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain;

impl<E: StdError + 'static> Render<Result<(), E>> for ErrorChain {
    fn render(self, outcome: Result<(), E>) -> Outcome {
        match outcome {
            Ok(()) => Outcome::Succeeded,
            Err(error) => Outcome::failed(&error),
        }
    }
}

/// Renders a boxed `dyn Error` with its causes.
#[derive(Debug, Clone, Copy)]
pub struct BoxedErrorChain;

impl<B: DynError + ?Sized> Render<Result<(), Box<B>>> for BoxedErrorChain {
    fn render(self, outcome: Result<(), Box<B>>) -> Outcome {
        match outcome {
            Ok(()) => Outcome::Succeeded,
            Err(error) => Outcome::failed(error.as_error()),
        }
    }
}

/// Renders any other result with [`IntoJobResult`].
#[derive(Debug, Clone, Copy)]
pub struct Displayed;

impl<R> Render<R> for Displayed {
    fn render(self, outcome: R) -> Outcome
    where
        R: IntoJobResult,
    {
        outcome.into_outcome()
    }
}

/// The `dyn Error` types a boxed error holds.
pub trait DynError {
    /// The error, as a plain `dyn Error`.
    fn as_error(&self) -> &(dyn StdError + 'static);
}

impl DynError for dyn StdError + 'static {
    fn as_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl DynError for dyn StdError + Send + 'static {
    fn as_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

impl DynError for dyn StdError + Send + Sync + 'static {
    fn as_error(&self) -> &(dyn StdError + 'static) {
        self
    }
}

/// Picks the `Render` of a `#[job]` function's result type `R` by method
/// resolution on `(&&&Probe::of(&call)).kind()`, which tries the traits
/// below from the most specific: [`ViaError`] (`Result<(), E>` with
/// `E: Error`), then [`ViaBoxedError`] (`Result<(), Box<dyn Error ...>>`),
/// then [`ViaDisplay`] (anything else).
pub struct Probe<R>(PhantomData<fn() -> R>);

impl<R> Probe<R> {
    /// The probe of the result of `call`'s future.
    pub fn of<F, Fut>(_call: &F) -> Self
    where
        F: Fn(&JobContext) -> Fut,
        Fut: Future<Output = R>,
    {
        Probe(PhantomData)
    }
}

/// The first choice of [`Probe`]: an error that implements `Error`.
pub trait ViaError {
    /// The render for this result type.
    fn kind(&self) -> ErrorChain;
}

impl<E: StdError + 'static> ViaError for &&Probe<Result<(), E>> {
    fn kind(&self) -> ErrorChain {
        ErrorChain
    }
}

/// The second choice of [`Probe`]: a boxed `dyn Error`.
pub trait ViaBoxedError {
    /// The render for this result type.
    fn kind(&self) -> BoxedErrorChain;
}

impl<B: DynError + ?Sized> ViaBoxedError for &Probe<Result<(), Box<B>>> {
    fn kind(&self) -> BoxedErrorChain {
        BoxedErrorChain
    }
}

/// The last choice of [`Probe`]: any other result.
pub trait ViaDisplay {
    /// The render for this result type.
    fn kind(&self) -> Displayed;
}

impl<R> ViaDisplay for Probe<R> {
    fn kind(&self) -> Displayed {
        Displayed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_causes() {
        let io = std::io::Error::other("disk full");
        let error: BoxError = Box::new(Wrapped(io));
        assert_eq!(
            Outcome::failed(&*error).error().as_deref(),
            Some("writing report: disk full")
        );
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
        assert_eq!(().into_outcome(), Outcome::Succeeded);
        let failed: Result<(), &str> = Err("boom");
        assert_eq!(failed.into_outcome(), Outcome::failed_with("boom"));
    }
}
