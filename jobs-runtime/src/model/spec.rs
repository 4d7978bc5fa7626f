//! What a job *is*: its name, schedule and options, as plain data.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::model::backoff::RetryPolicy;
use crate::model::condition::{Condition, IntoCondition};
use crate::model::execution::Retention;
use crate::model::Priority;
use crate::Schedule;

/// A job's definition: name, schedule and options, as plain data.
///
/// Attributed functions get theirs from `#[job(...)]`; hand-written
/// [`Job`](crate::Job)s return one from [`Job::spec`](crate::Job::spec). Every
/// option has the same meaning as the attribute key of the same name.
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::{JobSpec, Overlap, Priority};
///
/// let spec = JobSpec::every("cleanup", Duration::from_secs(300))
///     .env("CLEANUP_INTERVAL")
///     .run_on_start(false)
///     .timeout(Duration::from_secs(60))
///     .overlap(Overlap::Queue)
///     .retries(3)
///     .backoff(Duration::from_secs(1))
///     .priority(Priority::Low);
/// assert_eq!(spec.name(), "cleanup");
/// assert_eq!(spec.schedule().and_then(|s| s.interval()), Some(Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Shared with the job's registration, which names it by the same
    /// allocation.
    name: Arc<str>,
    schedule: Option<Schedule>,
    env: Option<Cow<'static, str>>,
    run_on_start: Option<bool>,
    timeout: Option<Duration>,
    fixed_delay: bool,
    jitter: Option<Duration>,
    overlap: Overlap,
    missed: Missed,
    retry: RetryPolicy,
    after: Option<Cow<'static, str>>,
    condition: Option<Condition>,
    slots: u32,
    priority: Priority,
    /// Its `keep` and `keep_last`, boxed once either is set: most jobs keep
    /// the default, and pay 8 bytes for it.
    retention: Option<Box<Retention>>,
}

/// What happens to a fire that comes while the job's previous run is still
/// going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// The fire is skipped, logged (`job_execute_skipped`) and counted.
    #[default]
    Skip,
    /// The fire runs right after the current run ends; at most one waits,
    /// further fires are skipped.
    Queue,
    /// Runs go concurrently, at most `max_concurrency` at once; a fire past
    /// that is skipped.
    Allow {
        /// The most runs at once.
        max_concurrency: u32,
    },
    /// The running execution is cancelled through its token; once it has
    /// ended, the new one starts.
    Replace,
}

/// What happens to fires that were missed: the process was suspended, the
/// clock jumped, or the run waited for slots past its fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missed {
    /// Missed fires are counted and logged; the job continues at its next
    /// fire time.
    #[default]
    Skip,
    /// Missed fires are counted and logged, and the job runs once at once.
    RunOnce,
    /// Missed fires are counted and logged, and the latest `limit` of them
    /// run one after another, oldest first (older ones are skipped); never
    /// at once. This holds for fires missed while no process ran the job
    /// (found at start from the schedule row the store kept) and for fires
    /// a running process missed (it was suspended, or its clock jumped); a
    /// run that waited for slots past its fire time is the one run of its
    /// fire.
    ///
    /// `limit` is from 1 to [`Missed::MAX_CATCH_UP_LIMIT`]; another value
    /// makes [`JobManager::start_all`](crate::JobManager::start_all) fail
    /// with an error naming the job. The attribute's `missed = "catch_up"`
    /// uses [`Missed::DEFAULT_CATCH_UP_LIMIT`] unless `catch_up_limit` says
    /// otherwise.
    CatchUp {
        /// The most missed fires that are run.
        limit: u32,
    },
}

impl Missed {
    /// The catch-up limit of `missed = "catch_up"` without
    /// `catch_up_limit`: 10.
    pub const DEFAULT_CATCH_UP_LIMIT: u32 = 10;

    /// The largest catch-up limit: 1,000.
    pub const MAX_CATCH_UP_LIMIT: u32 = 1_000;

    /// [`Missed::CatchUp`] with `limit`, checked: a limit of 0 or above
    /// [`Missed::MAX_CATCH_UP_LIMIT`] is an error saying what is allowed.
    ///
    /// ```
    /// use jobs_runtime::Missed;
    ///
    /// assert_eq!(Missed::catch_up(5), Ok(Missed::CatchUp { limit: 5 }));
    /// assert!(Missed::catch_up(0).is_err());
    /// ```
    pub fn catch_up(limit: u32) -> Result<Missed, MissedError> {
        if (1..=Missed::MAX_CATCH_UP_LIMIT).contains(&limit) {
            Ok(Missed::CatchUp { limit })
        } else {
            Err(MissedError { limit })
        }
    }

    /// The policy's name, as logs show it: `skip`, `run_once` or
    /// `catch_up`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Missed::Skip => "skip",
            Missed::RunOnce => "run_once",
            Missed::CatchUp { .. } => "catch_up",
        }
    }

    /// Checks the policy's values: a [`CatchUp`](Missed::CatchUp) limit
    /// must be from 1 to [`Missed::MAX_CATCH_UP_LIMIT`].
    pub fn validate(self) -> Result<(), MissedError> {
        match self {
            Missed::CatchUp { limit } => Missed::catch_up(limit).map(|_| ()),
            Missed::Skip | Missed::RunOnce => Ok(()),
        }
    }
}

/// A catch-up limit outside 1 to [`Missed::MAX_CATCH_UP_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`catch_up_limit` {limit} is out of range; it must be from 1 to {max}", max = Missed::MAX_CATCH_UP_LIMIT)]
pub struct MissedError {
    /// The limit given.
    pub limit: u32,
}

impl JobSpec {
    /// A job named `name` that runs every `interval`, on start and then on the
    /// interval (fixed rate), with no timeout and no environment override.
    ///
    /// The interval is checked with the job's other options when it starts:
    /// one outside [`Schedule::MIN_INTERVAL`] ..= [`Schedule::MAX_INTERVAL`]
    /// makes [`JobManager::start_all`](crate::JobManager::start_all) fail
    /// with an error naming the job.
    pub fn every(name: impl Into<Cow<'static, str>>, interval: Duration) -> Self {
        JobSpec::new(name, Schedule::Every(interval))
    }

    /// A job named `name` on the given schedule, checked with
    /// [`Schedule::validate`] when the job starts.
    pub fn new(name: impl Into<Cow<'static, str>>, schedule: Schedule) -> Self {
        JobSpec {
            schedule: Some(schedule),
            ..JobSpec::unscheduled(name)
        }
    }

    /// A job with no schedule of its own: it runs when triggered, or after
    /// the job named with [`after`](Self::after).
    pub fn unscheduled(name: impl Into<Cow<'static, str>>) -> Self {
        JobSpec {
            name: Arc::from(&*name.into()),
            schedule: None,
            env: None,
            run_on_start: None,
            timeout: None,
            fixed_delay: false,
            jitter: None,
            overlap: Overlap::Skip,
            missed: Missed::Skip,
            retry: RetryPolicy::NONE,
            after: None,
            condition: None,
            slots: 1,
            priority: Priority::Normal,
            retention: None,
        }
    }

    /// Names an environment variable whose value, when set, replaces the
    /// schedule: for an interval job a humantime duration (`"90s"`) or a
    /// whole number of milliseconds (`"300000"`), from 1 ms to 100 years;
    /// for a cron job a cron expression.
    pub fn env(mut self, variable: impl Into<Cow<'static, str>>) -> Self {
        self.env = Some(variable.into());
        self
    }

    /// Whether the job runs once as soon as it starts. The default is `true`
    /// for interval jobs and `false` for cron jobs.
    pub fn run_on_start(mut self, run_on_start: bool) -> Self {
        self.run_on_start = Some(run_on_start);
        self
    }

    /// The longest one attempt may take. Past it the attempt's cancellation
    /// token fires, its future is dropped, and it counts as a failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fixed delay: the next run starts one interval after the previous one
    /// ended (interval jobs only; the default is fixed rate).
    pub fn fixed_delay(mut self) -> Self {
        self.fixed_delay = true;
        self
    }

    /// Offsets each scheduled fire by a uniform random amount in
    /// `[0, jitter)`, to spread load.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// What happens to a fire that comes while a run is going.
    pub fn overlap(mut self, overlap: Overlap) -> Self {
        self.overlap = overlap;
        self
    }

    /// What happens to missed fires.
    pub fn missed(mut self, missed: Missed) -> Self {
        self.missed = missed;
        self
    }

    /// Retries after a failed attempt (default 0), with exponential backoff
    /// and full jitter.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retry.retries = retries;
        self
    }

    /// The base retry delay (default 1 s): before retry `k` the job waits a
    /// random time in `[0, backoff · 2^(k-1)]`, capped by
    /// [`backoff_max`](Self::backoff_max).
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.retry.backoff = backoff;
        self
    }

    /// The cap on a retry delay (default 1 h).
    pub fn backoff_max(mut self, backoff_max: Duration) -> Self {
        self.retry.backoff_max = backoff_max;
        self
    }

    /// Runs this job after each successful completion of the job named
    /// `upstream`, in addition to its own schedule if it has one.
    pub fn after(mut self, upstream: impl Into<Cow<'static, str>>) -> Self {
        self.after = Some(upstream.into());
        self
    }

    /// A predicate checked before each run; when it is false the run is
    /// skipped and logged with `reason = "condition"`.
    pub fn when<M, F: IntoCondition<M>>(mut self, predicate: F) -> Self {
        self.condition = Some(predicate.into_condition());
        self
    }

    /// The slots one run takes from the manager's
    /// [available slots](crate::JobManager::set_available_slots) (default 1).
    pub fn slots(mut self, slots: u32) -> Self {
        self.slots = slots;
        self
    }

    /// The order among runs waiting for slots (default normal).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// How long the store keeps this job's ended executions, counted from
    /// their fire time (default [`Retention::DEFAULT_KEEP_FOR`], 7 days);
    /// from 1 ms to 100 years, checked when the job starts.
    pub fn keep(mut self, keep: Duration) -> Self {
        self.retention.get_or_insert_with(Box::default).keep_for = keep;
        self
    }

    /// How many of this job's ended executions the store keeps at most, the
    /// newest (default [`Retention::DEFAULT_KEEP_LAST`], 1,000); at least 1,
    /// checked when the job starts.
    pub fn keep_last(mut self, keep_last: usize) -> Self {
        self.retention.get_or_insert_with(Box::default).keep_last = keep_last;
        self
    }

    /// What the store keeps of this job's ended executions: its
    /// [`keep`](Self::keep) and [`keep_last`](Self::keep_last), each
    /// [`Retention`]'s default where unset.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobs_runtime::execution::Retention;
    /// use jobs_runtime::JobSpec;
    ///
    /// let spec = JobSpec::every("digest", Duration::from_secs(60)).keep_last(100);
    /// assert_eq!(
    ///     spec.retention(),
    ///     Retention { keep_for: Retention::DEFAULT_KEEP_FOR, keep_last: 100 }
    /// );
    /// ```
    pub fn retention(&self) -> Retention {
        self.retention.as_deref().copied().unwrap_or_default()
    }

    /// What is wrong with the values of the missed-run policy and the
    /// retention; each problem names the key and says what is allowed.
    pub(crate) fn value_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(error) = self.missed.validate() {
            problems.push(error.to_string());
        }
        let retention = self.retention();
        if let Err(error) = jobs_grammar::check_duration(retention.keep_for) {
            problems.push(format!("`keep`: {error}"));
        }
        if retention.keep_last == 0 {
            problems.push("`keep_last` must be at least 1, not 0".to_owned());
        }
        problems
    }

    /// The job's name, unique within a [`JobManager`](crate::JobManager).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The job's name, as a shared string.
    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The schedule written in the job's definition, before any environment
    /// override; `None` for a job that only runs after another or when
    /// triggered.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.schedule.as_ref()
    }

    /// The environment variable that overrides the schedule, if any.
    pub fn env_var(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// Whether the job runs as soon as it starts.
    pub fn runs_on_start(&self) -> bool {
        self.runs_on_start_with(self.schedule.as_ref())
    }

    /// Whether the job runs as soon as it starts on `schedule`, the one in
    /// effect (after the environment): unless set, an interval job does and
    /// a cron job does not.
    pub(crate) fn runs_on_start_with(&self, schedule: Option<&Schedule>) -> bool {
        self.run_on_start
            .unwrap_or(matches!(schedule, Some(Schedule::Every(_))))
    }

    /// The timeout of one attempt, if any.
    pub fn timeout_duration(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether the job runs with a fixed delay rather than a fixed rate.
    pub fn is_fixed_delay(&self) -> bool {
        self.fixed_delay
    }

    /// The jitter, if any.
    pub fn jitter_duration(&self) -> Option<Duration> {
        self.jitter
    }

    /// The overlap policy.
    pub fn overlap_policy(&self) -> Overlap {
        self.overlap
    }

    /// The missed-run policy.
    pub fn missed_policy(&self) -> Missed {
        self.missed
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The job this one runs after, if any.
    pub fn upstream(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The condition checked before each run, if any.
    pub fn condition(&self) -> Option<&Condition> {
        self.condition.as_ref()
    }

    /// The slots one run takes.
    pub fn slot_count(&self) -> u32 {
        self.slots
    }

    /// The priority among runs waiting for slots.
    pub fn priority_level(&self) -> Priority {
        self.priority
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
