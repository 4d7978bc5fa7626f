//! Cron schedules in a time zone, on top of `croner` and `chrono-tz`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Local, TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A cron expression together with the time zone it is read in.
#[derive(Clone)]
pub struct CronSchedule {
    /// Shared, so cloning a schedule allocates nothing.
    expression: Arc<str>,
    /// Shared: a parsed expression is large, and schedules are cloned.
    cron: Arc<Cron>,
    zone: Zone,
}

/// The time zone a cron expression is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Utc,
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    /// An IANA name, `"UTC"` or `"local"`.
    fn parse(tz: &str) -> Result<Self, ScheduleError> {
        match tz {
            "UTC" | "utc" | "Etc/UTC" => Ok(Zone::Utc),
            "local" => Ok(Zone::Local),
            name => chrono_tz::Tz::from_str(name).map(Zone::Named).map_err(|_| {
                ScheduleError::TimeZone {
                    zone: name.to_owned(),
                }
            }),
        }
    }
}

/// Checks a time zone name as [`CronSchedule::new`] reads it.
pub(crate) fn check_time_zone(tz: &str) -> Result<(), ScheduleError> {
    Zone::parse(tz).map(|_| ())
}

/// Why a cron expression or time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("invalid cron expression {expression:?}: {reason}; expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or an alias such as @hourly, @daily, @weekly")]
    Cron {
        /// The expression.
        expression: String,
        /// The parser's reason.
        reason: String,
    },
    /// The time zone is unknown.
    #[error("unknown time zone {zone:?}; expected an IANA name such as \"Europe/Berlin\", \"UTC\" or \"local\"")]
    TimeZone {
        /// The zone as given.
        zone: String,
    },
    /// The text is neither a duration nor a cron expression.
    #[error("invalid schedule {text:?}: {reason}; expected a duration such as \"5m\" or a cron expression such as \"0 */5 * * * *\"")]
    Text {
        /// The text.
        text: String,
        /// Why it was refused.
        reason: String,
    },
    /// A zero interval.
    #[error("an interval must be greater than zero")]
    ZeroInterval,
}

/// The cron dialect: seconds optional (6 fields with seconds first), no year field.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

impl CronSchedule {
    /// Parses `expression`, read in time zone `tz` (an IANA name, `"UTC"` or
    /// `"local"`).
    pub fn new(expression: &str, tz: &str) -> Result<Self, ScheduleError> {
        let cron = parser()
            .parse(expression)
            .map_err(|error| ScheduleError::Cron {
                expression: expression.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(CronSchedule {
            expression: Arc::from(expression),
            cron: Arc::new(cron),
            zone: Zone::parse(tz)?,
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone's name: `"UTC"`, `"local"` or an IANA name.
    pub fn time_zone(&self) -> &str {
        match self.zone {
            Zone::Utc => "UTC",
            Zone::Local => "local",
            Zone::Named(tz) => tz.name(),
        }
    }

    /// The first fire strictly after `after`, or `None` if there is none.
    ///
    /// Daylight saving: a local time that does not exist (spring forward)
    /// fires once, at the first instant after the gap; a local time that
    /// occurs twice (fall back) fires once, at its first occurrence.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        let after: DateTime<Utc> = after.into();
        match self.zone {
            Zone::Utc => self.next_in(&after),
            Zone::Local => self.next_in(&after.with_timezone(&Local)),
            Zone::Named(tz) => self.next_in(&after.with_timezone(&tz)),
        }
    }

    fn next_in<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<SystemTime>
    where
        DateTime<Tz>: croner::CronDateTime,
    {
        self.cron
            .find_next_occurrence(after, false)
            .ok()
            .map(|next| SystemTime::from(next.with_timezone(&Utc)))
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.zone == other.zone
    }
}

impl Eq for CronSchedule {}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSchedule")
            .field("expression", &self.expression)
            .field("time_zone", &self.time_zone())
            .finish()
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cron {:?} in {}", self.expression, self.time_zone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    fn next(schedule: &CronSchedule, after: &str, n: usize) -> Vec<String> {
        let mut times = Vec::new();
        let mut cursor = at(after);
        for _ in 0..n {
            cursor = schedule.next_after(cursor).unwrap();
            times.push(humantime::format_rfc3339(cursor).to_string());
        }
        times
    }

    #[test]
    fn five_and_six_fields() {
        let every_five_minutes = CronSchedule::new("*/5 * * * *", "UTC").unwrap();
        assert_eq!(
            next(&every_five_minutes, "2026-01-01T00:02:00Z", 2),
            ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]
        );
        let every_ten_seconds = CronSchedule::new("*/10 * * * * *", "UTC").unwrap();
        assert_eq!(
            next(&every_ten_seconds, "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z"]
        );
    }

    #[test]
    fn aliases_and_specials() {
        let hourly = CronSchedule::new("@hourly", "UTC").unwrap();
        assert_eq!(
            next(&hourly, "2026-01-01T00:30:00Z", 1),
            ["2026-01-01T01:00:00Z"]
        );
        let last_day = CronSchedule::new("0 0 L * *", "UTC").unwrap();
        assert_eq!(
            next(&last_day, "2026-02-01T00:00:00Z", 1),
            ["2026-02-28T00:00:00Z"]
        );
    }

    #[test]
    fn spring_forward_runs_once_after_the_gap() {
        // Europe/Berlin skips 02:00-03:00 local on 2026-03-29.
        let schedule = CronSchedule::new("30 2 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            next(&schedule, "2026-03-28T12:00:00Z", 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z"
            ]
        );
    }

    #[test]
    fn fall_back_runs_once() {
        // Europe/Berlin repeats 02:00-03:00 local on 2026-10-25.
        let schedule = CronSchedule::new("30 2 * * *", "Europe/Berlin").unwrap();
        assert_eq!(
            next(&schedule, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            CronSchedule::new("* * *", "UTC"),
            Err(ScheduleError::Cron { .. })
        ));
        assert!(matches!(
            CronSchedule::new("@hourly", "Mars/Base"),
            Err(ScheduleError::TimeZone { .. })
        ));
    }
}
