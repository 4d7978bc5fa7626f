//! What a job is and when it fires, as plain values: the spec with its
//! policies, schedules and cron expressions, the retry backoff, the wall
//! clock, conditions and priorities. Nothing here runs or sleeps, so all of
//! it is tested without a runtime.

pub(crate) mod abort;
pub(crate) mod backoff;
pub(crate) mod clock;
pub(crate) mod condition;
pub(crate) mod cron;
pub mod execution;
pub(crate) mod names;
pub(crate) mod priority;
pub(crate) mod resume;
pub(crate) mod schedule;
pub(crate) mod spec;

pub use backoff::RetryPolicy;
pub use clock::Clock;
pub use condition::{Condition, ConditionFuture, IntoCondition};
pub use cron::{CronError, CronSchedule, DurationError, ScheduleError, ZoneError};
pub use priority::Priority;
pub use schedule::Schedule;
pub use spec::{JobSpec, Location, Missed, MissedError, Overlap};
