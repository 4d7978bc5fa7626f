//! Background jobs as annotated async functions.
//!
//! A job is one `async fn` with `#[job(...)]`: the attribute registers it,
//! [`run`] discovers every job linked into the binary, runs each on its
//! schedule, and stops them gracefully on SIGINT or SIGTERM.
//!
//! ```no_run
//! use jobs_runtime::{job, JobContext, State};
//!
//! struct ProcessManager;
//! impl ProcessManager {
//!     fn error_counts(&self) -> Vec<(u32, u32)> { vec![] }
//! }
//!
//! /// Warns about processes with a high error count.
//! #[job(name = "process-health", every = "2m", env = "PH_INTERVAL")]
//! async fn process_health(pm: State<ProcessManager>, ctx: JobContext) -> anyhow::Result<()> {
//!     for (process_id, errors) in pm.error_counts() {
//!         if errors > 10 {
//!             tracing::warn!(process_id, errors, "high error count");
//!         }
//!     }
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), jobs_runtime::Error> {
//!     jobs_runtime::builder().state(ProcessManager).run().await
//! }
//! ```
//!
//! The attribute's keys are described at [`job`](macro@job); jobs built at run time
//! implement [`Job`] instead.
//!
//! The parts, in the order one execution travels through them:
//! [`JobSpec`] (what a job is), [`Schedule`] (when it fires), [`JobManager`]
//! (registry and lifecycle), the timers (for each runtime worker, the
//! wake-up instants of its started jobs and one driver task, woken at the
//! instant by an alarm thread), the scheduler (each started job's timing,
//! missed fires, pause and overlap policy), the runs (the runs that come due
//! together are polled in batches of up to 16, each batch one task; a run
//! that has to wait moves to a task of its own) and the executor (condition,
//! slots, attempts with timeout, panic capture and retries, stats and log
//! events for one execution). A started job has no task of its own between
//! runs, and a run that ends without waiting costs no task.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod engine;
mod error;
mod job;
mod manager;
mod model;
mod observe;
pub mod store;

#[doc(hidden)]
pub mod __private;

pub use error::Error;
pub use job::{BoxError, Job, JobContext, JobParam, MissingType, State, StateMap};
pub use manager::builder::Builder;
pub use manager::{JobManager, DEFAULT_GRACE_PERIOD, DEFAULT_MISFIRE_THRESHOLD};
pub use model::execution;
pub use model::{
    Clock, Condition, ConditionFuture, CronError, CronSchedule, DurationError, IntoCondition,
    JobSpec, Location, Missed, MissedError, Overlap, Priority, RetryPolicy, Schedule,
    ScheduleError, ZoneError,
};
pub use observe::{events, JobStats};

/// Re-exported so job code can take a [`JobContext`]'s token by type.
pub use tokio_util::sync::CancellationToken;

/// Re-exported: [`Schedule::upcoming`] and
/// [`JobManager::next_runs`] speak `chrono::DateTime<Utc>`.
pub use chrono;

/// The attribute that makes an `async fn` a job. Examples come first; the
/// reference (the keys, their rules, the parameters and the return type)
/// follows them.
///
/// ```
/// use jobs_runtime::{job, JobContext, State};
///
/// struct Feeds;
///
/// #[job(name = "poll-feeds", every = "2m", env = "POLL_INTERVAL", timeout = "30s")]
/// async fn poll_feeds(feeds: State<Feeds>, ctx: JobContext) -> anyhow::Result<()> {
///     tracing::info!(run = ctx.execution_number(), "polling");
///     Ok(())
/// }
///
/// #[job(cron = "0 9 * * MON-FRI", tz = "Europe/Berlin", retries = 3, backoff = "1s")]
/// async fn morning_report() {}
///
/// #[job(after = "poll-feeds", overlap = "queue")]
/// async fn index_feeds() {}
/// ```
///
/// Without the attribute, the same job is a hand-written [`Job`] added with
/// [`JobManager::register`]:
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::{BoxError, Job, JobContext, JobSpec};
///
/// struct PollFeeds;
///
/// impl Job for PollFeeds {
///     fn spec(&self) -> JobSpec {
///         JobSpec::every("poll-feeds", Duration::from_secs(120))
///             .env("POLL_INTERVAL")
///             .timeout(Duration::from_secs(30))
///     }
///
///     async fn execute(&self, _ctx: JobContext) -> Result<(), BoxError> {
///         Ok(())
///     }
/// }
/// ```
///
/// A bad literal is a compile error that points at it:
///
/// ```compile_fail
/// #[jobs_runtime::job(every = "2x")]
/// async fn tick() {}
/// ```
///
/// ---
///
#[doc(inline)]
pub use jobs_macros::job;

/// A [`Builder`] holding every `#[job]` linked into the binary.
pub fn builder() -> Builder {
    Builder::new(JobManager::discover())
}

/// Discovers every `#[job]`, runs them until SIGINT or SIGTERM, then stops
/// gracefully. The same as `builder().run()`, for jobs with no `State`.
///
/// ```no_run
/// #[jobs_runtime::job(every = "30s")]
/// async fn heartbeat() {
///     tracing::info!("alive");
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), jobs_runtime::Error> {
///     jobs_runtime::run().await
/// }
/// ```
pub async fn run() -> Result<(), Error> {
    builder().run().await
}
