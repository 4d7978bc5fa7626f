//! [`JobContext`]: what one execution knows about itself.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one execution knows about itself: its job, its number, when it was
/// due, and a token that fires when it should stop.
///
/// Take it as a parameter of a `#[job]` function, or from
/// [`Job::execute`](crate::Job::execute). Cloning is cheap.
///
/// ```
/// use jobs_runtime::{job, JobContext};
///
/// #[job(every = "1m")]
/// async fn sync_accounts(ctx: JobContext) {
///     for page in 0..100 {
///         if ctx.is_cancelled() {
///             tracing::info!(page, "stopping early");
///             return;
///         }
///         // ... one page of work ...
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct JobContext {
    execution_number: u64,
    attempt: u32,
    scheduled_at: Instant,
    started_at: SystemTime,
    upstream_completed_at: Option<SystemTime>,
    token: RunToken,
}

/// The started job an execution belongs to, as its context sees it: its
/// name, and its token, which fires when the job stops.
pub(crate) trait StartedJob: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// The job's token, made the first time it is asked for, as most jobs
    /// never look at it.
    fn stop_token(&self) -> &CancellationToken;
    /// Whether the job's token has fired, without making it.
    fn is_stopped(&self) -> bool;
}

/// An execution's hold on its job: the job's name, and where its
/// cancellation token comes from. Cloning takes no lock (cloning a
/// `CancellationToken` would).
#[derive(Clone)]
pub(crate) struct RunToken {
    /// The started job.
    job: Arc<dyn StartedJob>,
    /// A token of the execution's own, used instead: a run that a newer one
    /// can replace, or an attempt with a timeout.
    own: Option<Arc<CancellationToken>>,
}

impl RunToken {
    /// The job's own token.
    pub(crate) fn job(job: Arc<dyn StartedJob>) -> Self {
        RunToken { job, own: None }
    }

    /// The same job with a token of its own.
    pub(crate) fn with_own(&self, token: Arc<CancellationToken>) -> Self {
        RunToken {
            job: Arc::clone(&self.job),
            own: Some(token),
        }
    }

    pub(crate) fn get(&self) -> &CancellationToken {
        match &self.own {
            Some(token) => token,
            None => self.job.stop_token(),
        }
    }

    /// Whether the token has fired, without making the job's token.
    pub(crate) fn is_cancelled(&self) -> bool {
        match &self.own {
            Some(token) => token.is_cancelled(),
            None => self.job.is_stopped(),
        }
    }
}

impl fmt::Debug for RunToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunToken")
            .field("job", &self.job.name())
            .field("is_cancelled", &self.is_cancelled())
            .finish()
    }
}

impl JobContext {
    pub(crate) fn new(
        execution_number: u64,
        attempt: u32,
        scheduled_at: Instant,
        started_at: SystemTime,
        upstream_completed_at: Option<SystemTime>,
        token: RunToken,
    ) -> Self {
        JobContext {
            execution_number,
            attempt,
            scheduled_at,
            started_at,
            upstream_completed_at,
            token,
        }
    }

    /// The attempt within this execution: 1 for the first try, 2 for the
    /// first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the upstream run that caused this execution completed (wall
    /// clock), for a job that runs `after` another; `None` otherwise.
    pub fn upstream_completed_at(&self) -> Option<SystemTime> {
        self.upstream_completed_at
    }

    /// The job's name.
    pub fn job_name(&self) -> &str {
        self.token.job.name()
    }

    /// This execution's number: 1 for the job's first execution since the
    /// manager was created, then 2, 3, ...
    pub fn execution_number(&self) -> u64 {
        self.execution_number
    }

    /// The instant this execution was due, on tokio's clock, jitter
    /// included. For a triggered run it is the instant of the trigger.
    pub fn scheduled_at(&self) -> Instant {
        self.scheduled_at
    }

    /// The wall-clock time this execution started.
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// The token that fires when this attempt should stop: at shutdown, when
    /// the job is stopped, when a newer run replaces it (`overlap =
    /// "replace"`), or when the job's timeout passes.
    pub fn cancellation_token(&self) -> &CancellationToken {
        self.token.get()
    }

    /// Whether the cancellation token has fired.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the cancellation token fires; use it in `select!`.
    pub async fn cancelled(&self) {
        self.token.get().cancelled().await
    }
}
