//! The one grammar of the `jobs` framework.
//!
//! The `#[job]` attribute checks its literals at compile time with this
//! crate, and the runtime parses the environment, `Schedule::from_str` and
//! its constructors with it, so every spelling is accepted or refused the
//! same way everywhere, with the same message:
//!
//! - [`duration`]: durations such as `"90s"`, `"1h 30m"` or a whole number
//!   of milliseconds, from [`MIN_DURATION`] to [`MAX_DURATION`];
//! - [`cron`]: the cron dialect (5 fields, or 6 with seconds first, and the
//!   `@` aliases), with errors that name the field at fault, and a refusal
//!   of expressions that never fire;
//! - [`zone`]: time zone names: IANA names, `"UTC"` and `"local"`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cron;
pub mod duration;
pub mod zone;

pub use cron::{CronError, CronExpr};
pub use duration::{
    check_duration, format_duration, parse_duration, parse_duration_or_zero, DurationError,
    MAX_DURATION, MIN_DURATION,
};
pub use zone::{Zone, ZoneError};
