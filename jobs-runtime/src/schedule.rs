//! When a job fires: the [`Schedule`] value and the fire-time arithmetic.
//!
//! Everything here is pure: it computes instants and never sleeps, so it is
//! tested without a runtime.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

pub use crate::cron::{CronSchedule, ScheduleError};

/// When a job runs: a fixed interval or a cron expression in a time zone.
///
/// A schedule is a plain value: build it, compare it, print it, and preview
/// its fires without a [`JobManager`](crate::JobManager), so expressions can
/// be checked in a unit test:
///
/// ```
/// use jobs_runtime::Schedule;
///
/// let weekdays = Schedule::cron("0 9 * * MON-FRI", "Europe/Berlin")?;
/// let after = "2026-11-20T12:00:00Z".parse::<jobs_runtime::chrono::DateTime<jobs_runtime::chrono::Utc>>()?;
/// let next: Vec<String> = weekdays.upcoming(after, 2).iter().map(|t| t.to_rfc3339()).collect();
/// // Friday's 09:00 has passed; Monday and Tuesday at 09:00 Berlin time (UTC+1).
/// assert_eq!(next, ["2026-11-23T08:00:00+00:00", "2026-11-24T08:00:00+00:00"]);
///
/// let every: Schedule = "2m".parse()?;
/// assert_eq!(every, Schedule::every(std::time::Duration::from_secs(120)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// A fixed interval (fixed rate unless the job asks for a fixed delay).
    Every(Duration),
    /// A cron expression in a time zone.
    Cron(CronSchedule),
}

impl Schedule {
    /// A schedule with the given interval.
    ///
    /// # Panics
    ///
    /// Panics if `interval` is zero; a zero interval would fire without end.
    #[track_caller]
    pub const fn every(interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "a job's interval must be greater than zero"
        );
        Schedule::Every(interval)
    }

    /// A cron schedule: `expression` has 5 fields (minute hour day-of-month
    /// month day-of-week), 6 with seconds first, or is an alias (`@hourly`,
    /// `@daily`, `@weekly`, `@monthly`, `@yearly`); `L`, `W` and `#` are
    /// supported. `tz` is an IANA name (`"Europe/Berlin"`), `"UTC"` or
    /// `"local"`.
    pub fn cron(expression: &str, tz: &str) -> Result<Self, ScheduleError> {
        CronSchedule::new(expression, tz).map(Schedule::Cron)
    }

    /// The interval of an `Every` schedule.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Schedule::Every(interval) => Some(*interval),
            Schedule::Cron(_) => None,
        }
    }

    /// The next `n` fires strictly after `after`. For an interval the fires
    /// are `after + k · interval`; a started job's own grid is given by
    /// [`JobManager::next_runs`](crate::JobManager::next_runs).
    pub fn upcoming(&self, after: impl Into<DateTime<Utc>>, n: usize) -> Vec<DateTime<Utc>> {
        let mut cursor: SystemTime = after.into().into();
        let mut fires = Vec::with_capacity(n);
        for _ in 0..n {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            fires.push(next.into());
            cursor = next;
        }
        fires
    }

    /// The first fire strictly after `after`.
    pub(crate) fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        match self {
            Schedule::Every(interval) => after.checked_add(*interval),
            Schedule::Cron(cron) => cron.next_after(after),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    /// A duration (`"90s"`, `"5m"`) is an interval; anything with a space or
    /// starting with `@` is a cron expression in UTC.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.starts_with('@') || text.contains(' ') {
            return Schedule::cron(text, "UTC");
        }
        match humantime::parse_duration(text) {
            Ok(interval) if interval.is_zero() => Err(ScheduleError::ZeroInterval),
            Ok(interval) => Ok(Schedule::Every(interval)),
            Err(error) => Err(ScheduleError::Text {
                text: text.to_owned(),
                reason: error.to_string(),
            }),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(interval) => {
                write!(f, "every {}", humantime::format_duration(*interval))
            }
            Schedule::Cron(cron) => cron.fmt(f),
        }
    }
}

/// Formats a duration the way errors and docs speak of it: whole seconds as
/// `60s`, anything finer as milliseconds (`1500ms`).
pub(crate) fn format_duration_short(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_format() {
        assert_eq!(format_duration_short(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration_short(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn parses_durations_and_cron() {
        assert_eq!(
            "90s".parse::<Schedule>(),
            Ok(Schedule::every(Duration::from_secs(90)))
        );
        assert!(matches!(
            "@daily".parse::<Schedule>(),
            Ok(Schedule::Cron(_))
        ));
        assert!(matches!(
            "*/5 * * * *".parse::<Schedule>(),
            Ok(Schedule::Cron(_))
        ));
        assert_eq!("0s".parse::<Schedule>(), Err(ScheduleError::ZeroInterval));
        assert!(matches!(
            "2x".parse::<Schedule>(),
            Err(ScheduleError::Text { .. })
        ));
    }

    #[test]
    fn upcoming_intervals() {
        let after = SystemTime::UNIX_EPOCH;
        let fires = Schedule::every(Duration::from_secs(60)).upcoming(after, 2);
        assert_eq!(fires[1].timestamp(), 120);
    }

    #[test]
    #[should_panic(expected = "greater than zero")]
    fn zero_interval_is_refused() {
        let _ = Schedule::every(Duration::ZERO);
    }
}
