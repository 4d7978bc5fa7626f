//! [`JobContext`]: what one execution knows about itself.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::model::execution::{Cause, ExecutionId};

/// What one execution knows about itself: its job, its id and number, when
/// it was due, when the job last succeeded, and a token that fires when it
/// should stop.
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
    execution_id: ExecutionId,
    lease_token: Option<u64>,
    execution_number: u64,
    attempt: u32,
    scheduled_at: Instant,
    fire_at: SystemTime,
    cause: Cause,
    started_at: SystemTime,
    upstream_completed_at: Option<SystemTime>,
    last_completed_at: Option<SystemTime>,
    token: RunToken,
}

/// What an execution's context is made of, from the executor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextParts {
    pub(crate) execution_id: ExecutionId,
    pub(crate) lease_token: Option<u64>,
    pub(crate) execution_number: u64,
    pub(crate) attempt: u32,
    pub(crate) scheduled_at: Instant,
    pub(crate) fire_at: SystemTime,
    pub(crate) cause: Cause,
    pub(crate) started_at: SystemTime,
    pub(crate) upstream_completed_at: Option<SystemTime>,
    pub(crate) last_completed_at: Option<SystemTime>,
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

    /// Whether the job's own token has fired: the job stopped, rather than
    /// this run alone being replaced or timed out.
    pub(crate) fn job_stopped(&self) -> bool {
        self.job.is_stopped()
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
    pub(crate) fn new(parts: ContextParts, token: RunToken) -> Self {
        JobContext {
            execution_id: parts.execution_id,
            lease_token: parts.lease_token,
            execution_number: parts.execution_number,
            attempt: parts.attempt,
            scheduled_at: parts.scheduled_at,
            fire_at: parts.fire_at,
            cause: parts.cause,
            started_at: parts.started_at,
            upstream_completed_at: parts.upstream_completed_at,
            last_completed_at: parts.last_completed_at,
            token,
        }
    }

    /// This execution's id in the job store: unique across restarts (with
    /// a database store) and shown in logs, history and the store's rows.
    pub fn execution_id(&self) -> ExecutionId {
        self.execution_id
    }

    /// This execution's lease token, with a store that processes share
    /// (PostgreSQL): tokens increase across the fleet, and an execution
    /// claimed later holds a greater one, so a job can fence its own side
    /// effects with it: write it with a result, and refuse a write whose
    /// token is smaller than the one already there (a stale instance's,
    /// whose execution was taken over and run again). `None` with a store
    /// of one process (memory, SQLite).
    ///
    /// ```
    /// use jobs_runtime::{job, JobContext};
    ///
    /// #[job(every = "1m")]
    /// async fn export(ctx: JobContext) {
    ///     if let Some(token) = ctx.lease_token() {
    ///         // UPDATE exports SET ..., token = $1 WHERE token < $1
    ///         tracing::info!(token, "exporting");
    ///     }
    /// }
    /// ```
    pub fn lease_token(&self) -> Option<u64> {
        self.lease_token
    }

    /// The wall-clock time this execution was due: a point of the job's
    /// schedule (jitter not included), or, for a triggered or upstream run,
    /// the moment it was started. Stored with the execution, in UTC.
    pub fn fire_at(&self) -> SystemTime {
        self.fire_at
    }

    /// What caused this execution: its schedule, a trigger, an upstream
    /// job's success, or the recovery of an execution its process left
    /// (see [`Cause`]); as its record in the store says.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// When this job's previous successful execution finished, kept across
    /// restarts by a database store: a job can resume its work from there
    /// (for instance, process the rows changed since then). `None` if the
    /// job has never succeeded. The same for every attempt of one
    /// execution.
    pub fn last_completed_at(&self) -> Option<SystemTime> {
        self.last_completed_at
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
