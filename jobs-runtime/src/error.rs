//! The runtime's one error type.

use std::fmt;

use crate::model::spec::Location;

/// An error from the job runtime.
///
/// Start-up errors name the job, the variable or type at fault, the value, and
/// what is allowed, so the message alone is enough to fix the problem.
///
/// Its `Debug` form is that message too (as `anyhow::Error`'s is), so a
/// `main` returning `Result<(), jobs_runtime::Error>` prints the message
/// when start-up fails.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two jobs share one name.
    #[error("two jobs are named `{name}`: one defined at {first}, one at {second}; job names must be unique")]
    DuplicateName {
        /// The shared name.
        name: String,
        /// Where the first job was defined.
        first: Location,
        /// Where the second job was defined.
        second: Location,
    },

    /// A job takes `State<T>`, but no `T` was provided.
    #[error("job `{job}` (defined at {location}) takes `State<{type_name}>`, but no value of type `{type_name}` was provided; add it with `JobManager::provide` or `builder().state(...)`")]
    MissingState {
        /// The job's name.
        job: String,
        /// Where the job was defined.
        location: Location,
        /// The type that was not provided.
        type_name: &'static str,
    },

    /// A variable in the environment that configures a job holds an invalid
    /// value.
    #[error("job `{job}`: environment variable {variable}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The job's name.
        job: String,
        /// The environment variable.
        variable: String,
        /// The value it holds.
        value: String,
        /// Why the value was refused.
        reason: String,
    },

    /// The job store failed: it could not be opened or read, or a
    /// database URL is invalid.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),

    /// A schedule the store kept for a job (set with
    /// [`set_schedule`](crate::JobManager::set_schedule)) can no longer be
    /// read.
    #[error("job `{job}`: the schedule the job store keeps for it, {value:?}, is invalid: {reason}; set a new one with `JobManager::set_schedule`, or clear it in the store's jobs_schedules table")]
    StoredSchedule {
        /// The job's name.
        job: String,
        /// The stored schedule.
        value: String,
        /// Why it cannot be read.
        reason: String,
    },

    /// The store was changed while jobs were started.
    #[error("the job store cannot change while jobs are started (job `{name}` is); set it before `start_all`")]
    StoreInUse {
        /// A started job.
        name: String,
    },

    /// A timing of the fleet (see
    /// [`FleetTimings`](crate::store::FleetTimings)) is out of range, given
    /// in code or in its environment variable.
    #[error("fleet timing {setting} = {value:?} is invalid: {reason}")]
    InvalidFleetTimings {
        /// The timing: `heartbeat`, `dead_after` or `grace`, or the
        /// environment variable that set it.
        setting: String,
        /// The value given.
        value: String,
        /// What is allowed.
        reason: String,
    },

    /// An instance name that names nothing.
    #[error("invalid instance name {value:?}: an instance needs a name that is not empty or only whitespace")]
    InvalidInstance {
        /// The name as given.
        value: String,
    },

    /// A job runs `after` a job that does not exist.
    #[error("job `{job}` runs after `{upstream}`, but no job has that name; {}registered jobs: {registered}", Suggestion(.closest.as_deref()))]
    UnknownUpstream {
        /// The job.
        job: String,
        /// The name it follows.
        upstream: String,
        /// The registered name closest to `upstream`, when one is close
        /// enough to be what was meant.
        closest: Option<String>,
        /// The names that exist, comma-separated.
        registered: String,
    },

    /// Jobs follow each other in a circle.
    #[error("jobs {} form a dependency cycle through `after`; a job cannot run after itself", .jobs.join(" -> "))]
    DependencyCycle {
        /// The jobs in the cycle, the first repeated at the end.
        jobs: Vec<String>,
    },

    /// A job needs more slots than the manager has.
    #[error("job `{job}` needs {needed} slots per run, but the manager has {available}; raise `available_slots` or lower the job's `slots`")]
    NotEnoughSlots {
        /// The job.
        job: String,
        /// The slots one run takes.
        needed: u32,
        /// The manager's available slots.
        available: u32,
    },

    /// A spec option has a value that cannot work.
    #[error("job `{job}`: {problem}")]
    InvalidSpec {
        /// The job.
        job: String,
        /// What is wrong and what is allowed.
        problem: String,
    },

    /// No job has this name.
    #[error("no job is named `{name}`; registered jobs: {registered}")]
    UnknownJob {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        registered: String,
    },

    /// The job is already started.
    #[error("job `{name}` is already started")]
    AlreadyStarted {
        /// The job's name.
        name: String,
    },

    /// The job is not started, so it cannot be triggered or stopped.
    #[error("job `{name}` is not started")]
    NotStarted {
        /// The job's name.
        name: String,
    },

    /// The job is running, so a triggered run would overlap it.
    #[error("job `{name}` is running; a triggered run would overlap it, so it was not started")]
    AlreadyRunning {
        /// The job's name.
        name: String,
    },

    /// Jobs can only start inside a tokio runtime.
    #[error("jobs can only be started inside a tokio runtime; call this from `#[tokio::main]` or a task")]
    NoRuntime,

    /// Installing the shutdown signal handlers failed.
    #[error("could not listen for shutdown signals: {0}")]
    Signal(#[source] std::io::Error),

    /// Several problems were found at once; every one is listed.
    #[error("{}", Problems(.0))]
    Many(Vec<Error>),
}

impl Error {
    /// Turns a list of problems into one error: the problem itself when there
    /// is one, [`Error::Many`] when there are several, and `Ok` when there are
    /// none.
    pub(crate) fn from_problems(mut problems: Vec<Error>) -> Result<(), Error> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(Error::Many(problems)),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `did you mean `name`? `, or nothing.
struct Suggestion<'a>(Option<&'a str>);

impl fmt::Display for Suggestion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, "did you mean `{name}`? "),
            None => Ok(()),
        }
    }
}

struct Problems<'a>(&'a [Error]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problems:", self.0.len())?;
        for problem in self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}
