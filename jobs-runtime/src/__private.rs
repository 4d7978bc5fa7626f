//! Not public API. Used by code that `#[job]` generates; may change in any
//! release.

#[doc(hidden)]
pub use ::inventory;

#[doc(hidden)]
pub use crate::job::extract::JobParam;
#[doc(hidden)]
pub use crate::job::registry::{Binder, BoundJob, Registration};
#[doc(hidden)]
pub use crate::job::runnable::IntoJobResult;
#[doc(hidden)]
pub use crate::job::runnable::{Probe, ViaBoxedError, ViaDisplay, ViaError};
#[doc(hidden)]
pub use crate::model::spec::Location;
#[doc(hidden)]
pub use crate::JobContext;
#[doc(hidden)]
pub use crate::{JobSpec, Missed, Overlap, Priority, Schedule};
#[doc(hidden)]
pub use ::core::option::Option;
#[doc(hidden)]
pub use ::core::time::Duration;

/// A cron schedule from a `#[job(cron = ..., tz = ...)]` literal, which the
/// attribute has already checked.
#[doc(hidden)]
pub fn cron_literal(expression: &str, tz: &str) -> Schedule {
    match Schedule::cron(expression, tz) {
        Ok(schedule) => schedule,
        Err(error) => panic!("#[job] checked this cron literal at compile time, yet: {error}"),
    }
}
