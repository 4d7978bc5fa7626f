//! The execution record: one fire of a job, with its attempts and how it
//! ended, as a [`Store`](crate::store::Store) keeps it and as users read it.
//!
//! An [`Execution`] has an [`ExecutionId`], the job, the wall-clock time it
//! was due (`fire_at`), its [`Cause`], its [`ExecutionState`], the instance
//! that ran it, and its [`Attempt`]s, each with a typed [`Outcome`]. Wall-clock
//! times are [`SystemTime`]s kept to the millisecond (stores keep integer
//! milliseconds since the Unix epoch, UTC); a tokio `Instant` never leaves
//! the process.
//!
//! States: `pending -> running -> succeeded | failed | cancelled`, or
//! `running -> retrying -> running ...` between attempts; `abandoned` for an
//! execution whose process died while it was `running` or `retrying`, found
//! when a store is next opened.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The identity of one execution: unique within a store, across restarts,
/// and increasing in the order executions were created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutionId(pub i64);

impl ExecutionId {
    /// The number inside.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why an execution exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The job's schedule came due.
    Schedule,
    /// Someone triggered the job (`JobManager::trigger`).
    Trigger,
    /// A job this one runs `after` completed.
    Upstream,
    /// The job was enqueued as a one-off.
    Enqueue,
    /// An execution of the job was abandoned when its process died, and
    /// the job's retry policy allowed another attempt: this execution
    /// continues it, from the next attempt number.
    Recovery,
}

impl Cause {
    /// Every cause, in declaration order.
    pub const ALL: [Cause; 5] = [
        Cause::Schedule,
        Cause::Trigger,
        Cause::Upstream,
        Cause::Enqueue,
        Cause::Recovery,
    ];

    /// The lowercase name stores keep and logs show: `schedule`, `trigger`,
    /// `upstream`, `enqueue` or `recovery`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::Schedule => "schedule",
            Cause::Trigger => "trigger",
            Cause::Upstream => "upstream",
            Cause::Enqueue => "enqueue",
            Cause::Recovery => "recovery",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cause {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        Cause::ALL
            .into_iter()
            .find(|cause| cause.as_str() == text)
            .ok_or_else(|| ParseError::new("cause", text, &Cause::ALL.map(Cause::as_str)))
    }
}

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionState {
    /// Created, waiting to start (for slots, or behind a running execution).
    Pending,
    /// An attempt is running.
    Running,
    /// An attempt failed and the next one waits for its backoff.
    Retrying,
    /// An attempt succeeded.
    Succeeded,
    /// The last attempt failed, panicked or timed out.
    Failed,
    /// The execution was cancelled (the job or the manager stopped).
    Cancelled,
    /// The process died while the execution was running or retrying.
    Abandoned,
}

impl ExecutionState {
    /// Every state, in declaration order.
    pub const ALL: [ExecutionState; 7] = [
        ExecutionState::Pending,
        ExecutionState::Running,
        ExecutionState::Retrying,
        ExecutionState::Succeeded,
        ExecutionState::Failed,
        ExecutionState::Cancelled,
        ExecutionState::Abandoned,
    ];

    /// The lowercase name stores keep and logs show, for example `running`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Pending => "pending",
            ExecutionState::Running => "running",
            ExecutionState::Retrying => "retrying",
            ExecutionState::Succeeded => "succeeded",
            ExecutionState::Failed => "failed",
            ExecutionState::Cancelled => "cancelled",
            ExecutionState::Abandoned => "abandoned",
        }
    }

    /// Whether the execution has ended: `succeeded`, `failed`, `cancelled`
    /// or `abandoned`. Only ended executions are pruned.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            ExecutionState::Succeeded
                | ExecutionState::Failed
                | ExecutionState::Cancelled
                | ExecutionState::Abandoned
        )
    }
}

impl fmt::Display for ExecutionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionState {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        ExecutionState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                ParseError::new(
                    "state",
                    text,
                    &ExecutionState::ALL.map(ExecutionState::as_str),
                )
            })
    }
}

/// A name that is not one of the allowed ones, from the `FromStr` of
/// [`Cause`] or [`ExecutionState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {what}; allowed: {allowed}")]
pub struct ParseError {
    what: &'static str,
    value: String,
    allowed: String,
}

impl ParseError {
    fn new(what: &'static str, value: &str, allowed: &[&str]) -> Self {
        ParseError {
            what,
            value: value.to_owned(),
            allowed: allowed.join(", "),
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job returned `Ok`.
    Succeeded,
    /// The job returned an error.
    Failed {
        /// The error's message (its `Display`).
        error: String,
        /// The messages of its chain of sources, outermost first.
        causes: Vec<String>,
    },
    /// The job panicked.
    Panicked {
        /// The panic's message.
        message: String,
        /// Where it panicked (`file:line:column`), when known.
        location: Option<String>,
    },
    /// The attempt ran past its timeout and was stopped.
    TimedOut {
        /// The timeout it ran past.
        limit: Duration,
    },
    /// The attempt was cancelled (the job or the manager stopped).
    Cancelled,
    /// The process died during the attempt.
    Abandoned,
}

impl Outcome {
    /// A [`Failed`](Outcome::Failed) outcome from an error and its chain of
    /// [`source`](std::error::Error::source)s. A cause that the message
    /// before it already ends with (some errors repeat their cause in their
    /// own message) is left out.
    pub fn failed(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut causes: Vec<String> = Vec::new();
        let mut said = error.to_string();
        let message = said.clone();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !said.ends_with(&text) {
                said = text.clone();
                causes.push(text);
            }
            source = cause.source();
        }
        Outcome::Failed {
            error: message,
            causes,
        }
    }

    /// A [`Failed`](Outcome::Failed) outcome from a message alone.
    pub fn failed_with(message: impl Into<String>) -> Self {
        Outcome::Failed {
            error: message.into(),
            causes: Vec::new(),
        }
    }

    /// What went wrong, as stats and logs show it: the error and its causes
    /// (`writing report: disk full`), `panicked at src/lib.rs:3:5: boom`,
    /// `timed out after 2s`; `None` for a success.
    pub fn error(&self) -> Option<String> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed { error, causes } => {
                let mut text = error.clone();
                for cause in causes {
                    text.push_str(": ");
                    text.push_str(cause);
                }
                Some(text)
            }
            Outcome::Panicked {
                message,
                location: Some(location),
            } => Some(format!("panicked at {location}: {message}")),
            Outcome::Panicked {
                message,
                location: None,
            } => Some(format!("panicked: {message}")),
            Outcome::TimedOut { limit } => Some(format!(
                "timed out after {}",
                crate::model::schedule::format_duration_short(*limit)
            )),
            Outcome::Cancelled => Some("cancelled".to_owned()),
            Outcome::Abandoned => Some("abandoned: its process died".to_owned()),
        }
    }

    /// The kind's lowercase name stores keep: `succeeded`, `failed`,
    /// `panicked`, `timed_out`, `cancelled` or `abandoned`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::Panicked { .. } => "panicked",
            Outcome::TimedOut { .. } => "timed_out",
            Outcome::Cancelled => "cancelled",
            Outcome::Abandoned => "abandoned",
        }
    }

    /// Whether the attempt succeeded.
    pub const fn is_success(&self) -> bool {
        matches!(self, Outcome::Succeeded)
    }

    /// The state an execution ends in when this is its last attempt's
    /// outcome: failed, panicked and timed out all end `failed`.
    pub const fn final_state(&self) -> ExecutionState {
        match self {
            Outcome::Succeeded => ExecutionState::Succeeded,
            Outcome::Failed { .. } | Outcome::Panicked { .. } | Outcome::TimedOut { .. } => {
                ExecutionState::Failed
            }
            Outcome::Cancelled => ExecutionState::Cancelled,
            Outcome::Abandoned => ExecutionState::Abandoned,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Succeeded => f.write_str("succeeded"),
            Outcome::Failed { error, causes } => {
                write!(f, "failed: {error}")?;
                for cause in causes {
                    write!(f, ": {cause}")?;
                }
                Ok(())
            }
            Outcome::Panicked {
                message,
                location: Some(location),
            } => write!(f, "panicked at {location}: {message}"),
            Outcome::Panicked {
                message,
                location: None,
            } => write!(f, "panicked: {message}"),
            Outcome::TimedOut { limit } => {
                write!(
                    f,
                    "timed out after {}",
                    jobs_grammar::format_duration(*limit)
                )
            }
            Outcome::Cancelled => f.write_str("cancelled"),
            Outcome::Abandoned => f.write_str("abandoned: its process died"),
        }
    }
}

/// One attempt of an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub number: u32,
    /// When the attempt started.
    pub started_at: SystemTime,
    /// When it ended; `None` while it runs.
    pub finished_at: Option<SystemTime>,
    /// How it ended; `None` while it runs.
    pub outcome: Option<Outcome>,
}

/// One execution of a job, as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Its identity.
    pub id: ExecutionId,
    /// The job's name.
    pub job: Arc<str>,
    /// The wall-clock time it was due.
    pub fire_at: SystemTime,
    /// Why it exists.
    pub cause: Cause,
    /// Where it stands.
    pub state: ExecutionState,
    /// The instance (process) that ran it.
    pub instance: Arc<str>,
    /// Its attempts, oldest first; the last one has no outcome while it runs.
    pub attempts: Vec<Attempt>,
    /// When its first attempt started; `None` while pending.
    pub started_at: Option<SystemTime>,
    /// When it ended; `None` until its state is terminal.
    pub finished_at: Option<SystemTime>,
}

impl Execution {
    /// The outcome of its last ended attempt, if any.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.attempts
            .iter()
            .rev()
            .find_map(|attempt| attempt.outcome.as_ref())
    }

    /// The attempt that continues this execution, abandoned by its
    /// process, if a job with `retries` allows another: the one after its
    /// last, or after `before` if that is later (the attempts made before
    /// this execution began, for a continuation that never started).
    pub(crate) fn continued_attempt(&self, retries: u32, before: u32) -> Option<u32> {
        let tried = self.attempts.iter().map(|attempt| attempt.number).max();
        let tried = tried.unwrap_or(0).max(before);
        (tried <= retries).then(|| tried.saturating_add(1))
    }
}

/// Which executions a query returns: every condition set must hold.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use jobs_runtime::execution::{ExecutionFilter, ExecutionState};
///
/// let now = SystemTime::now();
/// let filter = ExecutionFilter::new()
///     .job("send-digest")
///     .state(ExecutionState::Failed)
///     .fired_between(now - Duration::from_secs(3600), now)
///     .limit(20);
/// assert_eq!(filter.limit, Some(20));
/// assert!(filter.newest_first);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Only this job's executions.
    pub job: Option<String>,
    /// Only executions in this state.
    pub state: Option<ExecutionState>,
    /// Only executions due at or after this time.
    pub fired_from: Option<SystemTime>,
    /// Only executions due before this time.
    pub fired_until: Option<SystemTime>,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
    /// Newest first (by id, which is creation order) when true, the default;
    /// oldest first when false.
    pub newest_first: bool,
}

impl Default for ExecutionFilter {
    fn default() -> Self {
        ExecutionFilter {
            job: None,
            state: None,
            fired_from: None,
            fired_until: None,
            limit: Some(ExecutionFilter::DEFAULT_LIMIT),
            newest_first: true,
        }
    }
}

impl ExecutionFilter {
    /// The limit of a filter that sets none: 100.
    pub const DEFAULT_LIMIT: usize = 100;

    /// Every job, every state, any time, newest first, at most
    /// [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT).
    pub fn new() -> Self {
        ExecutionFilter::default()
    }

    /// Only `job`'s executions.
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job = Some(job.into());
        self
    }

    /// Only executions in `state`.
    pub fn state(mut self, state: ExecutionState) -> Self {
        self.state = Some(state);
        self
    }

    /// Only executions due in `[from, until)`.
    pub fn fired_between(mut self, from: SystemTime, until: SystemTime) -> Self {
        self.fired_from = Some(from);
        self.fired_until = Some(until);
        self
    }

    /// At most `limit` executions.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Every matching execution, however many.
    pub fn unlimited(mut self) -> Self {
        self.limit = None;
        self
    }

    /// Oldest first instead of newest first.
    pub fn oldest_first(mut self) -> Self {
        self.newest_first = false;
        self
    }

    /// Whether `execution` passes every condition (the limit and order
    /// aside).
    pub fn matches(&self, execution: &Execution) -> bool {
        self.job
            .as_deref()
            .map_or(true, |job| *execution.job == *job)
            && self.state.map_or(true, |state| execution.state == state)
            && self
                .fired_from
                .map_or(true, |from| execution.fire_at >= from)
            && self
                .fired_until
                .map_or(true, |until| execution.fire_at < until)
    }
}

/// How long and how many of one job's ended executions are kept:
/// [`Store::prune`](crate::store::Store::prune) removes the job's ended
/// executions due more than `keep_for` ago, and all but its newest
/// `keep_last`. Running, retrying and pending executions are never pruned.
/// Each job has its own, from its `keep` and `keep_last`
/// ([`JobSpec::retention`](crate::JobSpec::retention)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep ended executions due within this long before now.
    pub keep_for: Duration,
    /// Keep at most this many ended executions per job (the newest).
    pub keep_last: usize,
}

impl Retention {
    /// The default age: 7 days.
    pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 60 * 60);
    /// The default count per job: 1,000.
    pub const DEFAULT_KEEP_LAST: usize = 1_000;
}

impl Default for Retention {
    /// 7 days, at most 1,000 executions per job.
    fn default() -> Self {
        Retention {
            keep_for: Retention::DEFAULT_KEEP_FOR,
            keep_last: Retention::DEFAULT_KEEP_LAST,
        }
    }
}

/// `time` as integer milliseconds since the Unix epoch (negative before it),
/// the form stores keep.
pub fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            // Round towards the past, so that from_millis(to_millis(t)) <= t.
            let millis = before.as_millis() + u128::from(before.subsec_nanos() % 1_000_000 != 0);
            i64::try_from(millis).map_or(i64::MIN, |millis| -millis)
        }
    }
}

/// The time `millis` milliseconds after the Unix epoch (before it when
/// negative).
pub fn from_millis(millis: i64) -> SystemTime {
    let offset = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        UNIX_EPOCH + offset
    } else {
        UNIX_EPOCH - offset
    }
}

/// `time` cut to the millisecond, as a store gives it back.
pub fn truncate_millis(time: SystemTime) -> SystemTime {
    from_millis(to_millis(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_list_the_allowed() {
        for state in ExecutionState::ALL {
            assert_eq!(state.as_str().parse::<ExecutionState>(), Ok(state));
        }
        for cause in Cause::ALL {
            assert_eq!(cause.as_str().parse::<Cause>(), Ok(cause));
        }
        let error = "done".parse::<ExecutionState>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"done\" is not a valid state; allowed: pending, running, retrying, succeeded, failed, cancelled, abandoned"
        );
        let error = "cron".parse::<Cause>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"cron\" is not a valid cause; allowed: schedule, trigger, upstream, enqueue, recovery"
        );
    }

    #[test]
    fn millis_round_trip_on_both_sides_of_the_epoch() {
        for millis in [0, 1, 1_700_000_000_123, -1, -86_400_000] {
            assert_eq!(to_millis(from_millis(millis)), millis);
        }
        let time = UNIX_EPOCH + Duration::new(5, 1_500_000);
        assert_eq!(
            truncate_millis(time),
            UNIX_EPOCH + Duration::from_millis(5_001)
        );
        let before = UNIX_EPOCH - Duration::new(0, 1_500_000);
        assert_eq!(to_millis(before), -2);
        assert!(truncate_millis(before) <= before);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not send the digest")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Inner;

    #[test]
    fn a_failed_outcome_keeps_the_chain_of_causes() {
        let outcome = Outcome::failed(&Outer(Inner));
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "could not send the digest".into(),
                causes: vec!["connection refused".into()],
            }
        );
        assert_eq!(
            outcome.to_string(),
            "failed: could not send the digest: connection refused"
        );
        assert_eq!(outcome.final_state(), ExecutionState::Failed);
        let timed_out = Outcome::TimedOut {
            limit: Duration::from_secs(30),
        };
        assert_eq!(timed_out.to_string(), "timed out after 30s");
        assert_eq!(timed_out.kind(), "timed_out");
    }

    #[test]
    fn a_filter_checks_job_state_and_the_half_open_range() {
        let at = from_millis(10_000);
        let execution = Execution {
            id: ExecutionId(1),
            job: "a".into(),
            fire_at: at,
            cause: Cause::Schedule,
            state: ExecutionState::Succeeded,
            instance: "host".into(),
            attempts: Vec::new(),
            started_at: None,
            finished_at: None,
        };
        assert!(ExecutionFilter::new().job("a").matches(&execution));
        assert!(!ExecutionFilter::new().job("b").matches(&execution));
        assert!(!ExecutionFilter::new()
            .state(ExecutionState::Failed)
            .matches(&execution));
        assert!(ExecutionFilter::new()
            .fired_between(at, from_millis(10_001))
            .matches(&execution));
        assert!(!ExecutionFilter::new()
            .fired_between(from_millis(0), at)
            .matches(&execution));
    }
}
