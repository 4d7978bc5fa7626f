//! [`Builder`]: discover, configure and run the jobs of a binary.

use std::time::Duration;

use crate::manager::{env, shutdown};
use crate::{Error, Job, JobManager};

/// Configures the jobs of a binary, then runs them until a shutdown signal.
///
/// Made by [`builder()`](crate::builder), which discovers every `#[job]`.
///
/// ```no_run
/// use std::time::Duration;
///
/// struct Database;
///
/// #[tokio::main]
/// async fn main() -> Result<(), jobs_runtime::Error> {
///     jobs_runtime::builder()
///         .state(Database)
///         .grace_period(Duration::from_secs(10))
///         .run()
///         .await
/// }
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `run` is awaited"]
pub struct Builder {
    manager: JobManager,
    database_url: Option<String>,
}

impl Builder {
    pub(crate) fn new(manager: JobManager) -> Self {
        Builder {
            manager,
            database_url: None,
        }
    }

    /// Keeps executions and schedules in the database `url` names
    /// (`sqlite://jobs.db`; see [`store::open`](crate::store::open)), opened
    /// by [`run`](Self::run). Without it, `run` reads the
    /// `JOBS_DATABASE_URL` environment variable, and without that keeps
    /// them in memory.
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> Result<(), jobs_runtime::Error> {
    ///     jobs_runtime::builder()
    ///         .database_url("sqlite://jobs.db")
    ///         .run()
    ///         .await
    /// }
    /// ```
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Provides the value that `State<T>` parameters receive (see
    /// [`JobManager::provide`]).
    pub fn state<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.manager.provide(value);
        self
    }

    /// Adds a hand-written job (see [`JobManager::register`]).
    #[track_caller]
    pub fn register<J: Job>(self, job: J) -> Self {
        self.manager.register(job);
        self
    }

    /// How long shutdown waits for in-flight executions before aborting them
    /// (30 s unless set).
    pub fn grace_period(self, grace_period: Duration) -> Self {
        self.manager.set_grace_period(grace_period);
        self
    }

    /// Limits the slots runs may hold at once (see
    /// [`JobManager::set_available_slots`]).
    pub fn available_slots(self, slots: u32) -> Self {
        self.manager.set_available_slots(slots);
        self
    }

    /// How the instances that share a PostgreSQL store watch each other
    /// (see [`JobManager::set_fleet_timings`]); `JOBS_HEARTBEAT`,
    /// `JOBS_DEAD_AFTER`, `JOBS_STUCK_GRACE` and `JOBS_CLAIM_LEAD` override
    /// them.
    pub fn fleet_timings(self, timings: crate::store::FleetTimings) -> Self {
        self.manager.set_fleet_timings(timings);
        self
    }

    /// Sets the wall clock cron schedules use (see [`JobManager::set_clock`]).
    pub fn clock(self, clock: crate::Clock) -> Self {
        self.manager.set_clock(clock);
        self
    }

    /// A handle on the manager, to read stats or trigger jobs while
    /// [`run`](Self::run) runs.
    pub fn manager(&self) -> JobManager {
        self.manager.clone()
    }

    /// Starts every job, waits for SIGINT or SIGTERM, then stops gracefully:
    /// no new execution starts, in-flight executions' cancellation tokens
    /// fire, and they get the grace period to finish before being aborted.
    /// Returns `Ok(())` once everything has stopped, so `main` exits with
    /// status 0.
    ///
    /// A second signal aborts the in-flight executions at once and ends the
    /// process with status 0 (this call does not return then): the blocking
    /// threads aborted runs may have left behind (`spawn_blocking` work goes
    /// on until its closure returns) are not waited for.
    ///
    /// Fails before running anything if a job is misconfigured (see
    /// [`JobManager::start_all`]), or if the store cannot be opened: the
    /// error names the URL and what went wrong.
    pub async fn run(self) -> Result<(), Error> {
        let url = match self.database_url {
            Some(url) => Some(url),
            None => env::database_url().inspect_err(crate::events::start_failed)?,
        };
        if let Some(url) = url {
            self.manager
                .connect(&url)
                .await
                .inspect_err(crate::events::start_failed)?;
        }
        shutdown::run_until_signal(&self.manager).await
    }
}
