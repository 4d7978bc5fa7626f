//! What a job *is*: its name, schedule and options, as plain data.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::Schedule;

/// A job's definition: name, schedule and options.
///
/// Attributed functions get theirs from `#[job(...)]`; hand-written
/// [`Job`](crate::Job)s return one from [`Job::spec`](crate::Job::spec).
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::JobSpec;
///
/// let spec = JobSpec::every("cleanup", Duration::from_secs(300))
///     .env("CLEANUP_INTERVAL")
///     .run_on_start(false)
///     .timeout(Duration::from_secs(60));
/// assert_eq!(spec.name(), "cleanup");
/// assert_eq!(spec.schedule().interval(), Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    name: Cow<'static, str>,
    schedule: Schedule,
    env: Option<Cow<'static, str>>,
    run_on_start: bool,
    timeout: Option<Duration>,
}

impl JobSpec {
    /// A job named `name` that runs every `interval`, on start and then on the
    /// interval, with no timeout and no environment override.
    ///
    /// # Panics
    ///
    /// Panics if `interval` is zero.
    #[track_caller]
    pub fn every(name: impl Into<Cow<'static, str>>, interval: Duration) -> Self {
        JobSpec::new(name, Schedule::every(interval))
    }

    /// A job named `name` on the given schedule.
    pub fn new(name: impl Into<Cow<'static, str>>, schedule: Schedule) -> Self {
        JobSpec {
            name: name.into(),
            schedule,
            env: None,
            run_on_start: true,
            timeout: None,
        }
    }

    /// Names an environment variable whose value, when set, replaces the
    /// interval: a humantime duration (`"90s"`, `"5m"`) or a whole number of
    /// milliseconds (`"300000"`).
    pub fn env(mut self, variable: impl Into<Cow<'static, str>>) -> Self {
        self.env = Some(variable.into());
        self
    }

    /// Whether the job runs once as soon as it starts (the default), or waits
    /// one interval first.
    pub fn run_on_start(mut self, run_on_start: bool) -> Self {
        self.run_on_start = run_on_start;
        self
    }

    /// The longest one execution may take. Past it the execution's
    /// cancellation token fires, its future is dropped, and the execution
    /// counts as an error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The job's name, unique within a [`JobManager`](crate::JobManager).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schedule written in the job's definition, before any environment
    /// override.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// The environment variable that overrides the interval, if any.
    pub fn env_var(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// Whether the job runs as soon as it starts.
    pub fn runs_on_start(&self) -> bool {
        self.run_on_start
    }

    /// The execution timeout, if any.
    pub fn timeout_duration(&self) -> Option<Duration> {
        self.timeout
    }
}

/// Where a job was defined: the `#[job]` attribute's position, or the call to
/// [`JobManager::register`](crate::JobManager::register).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The source file.
    pub file: &'static str,
    /// The line in that file.
    pub line: u32,
}

impl Location {
    pub(crate) fn caller(location: &'static std::panic::Location<'static>) -> Self {
        Location {
            file: location.file(),
            line: location.line(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}
