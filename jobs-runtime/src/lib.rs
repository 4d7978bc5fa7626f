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
//! The parts, in the order one execution travels through them:
//! [`JobSpec`] (what a job is), [`Schedule`] (when it fires), [`JobManager`]
//! (registry and lifecycle), the scheduler (one timing loop per started job)
//! and the executor (timeout, panic capture, stats and log events for one
//! execution).

#![warn(missing_docs)]

mod backoff;
mod builder;
mod clock;
mod condition;
mod context;
mod control;
mod cron;
mod env;
mod error;
pub mod events;
mod executor;
mod extract;
mod job;
mod manager;
mod registry;
mod schedule;
mod scheduler;
mod shutdown;
mod slots;
mod spec;
mod stats;

#[doc(hidden)]
pub mod __private;

pub use backoff::RetryPolicy;
pub use builder::Builder;
pub use clock::Clock;
pub use condition::{Condition, ConditionFuture, IntoCondition};
pub use context::JobContext;
pub use error::Error;
pub use extract::{JobParam, MissingType, State, StateMap};
pub use job::{BoxError, Job};
pub use manager::{JobManager, DEFAULT_GRACE_PERIOD, DEFAULT_MISFIRE_THRESHOLD};
pub use schedule::{CronSchedule, Schedule, ScheduleError};
pub use slots::Priority;
pub use spec::{JobSpec, Location, Missed, Overlap};
pub use stats::JobStats;

/// Re-exported so job code can take a [`JobContext`]'s token by type.
pub use tokio_util::sync::CancellationToken;

/// Re-exported: [`Schedule::upcoming`] and
/// [`JobManager::next_runs`] speak `chrono::DateTime<Utc>`.
pub use chrono;

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
