//! When a job fires: the [`Schedule`] value and the fire-time arithmetic.
//!
//! Everything here is pure: it computes instants and never sleeps, so it is
//! tested without a runtime.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

pub use crate::model::cron::{CronSchedule, ScheduleError};

/// When a job runs: a fixed interval or a cron expression in a time zone.
///
/// A schedule is a plain value: build it, compare it, print it, and preview
/// its fires without a [`JobManager`](crate::JobManager), so expressions can
/// be checked in a unit test:
///
/// ```
/// use jobs_runtime::chrono::{DateTime, Utc};
/// use jobs_runtime::Schedule;
///
/// let weekdays = Schedule::cron("0 9 * * MON-FRI", "Europe/Berlin")?;
/// let after = "2026-11-20T12:00:00Z".parse::<DateTime<Utc>>()?;
/// let next: Vec<String> = weekdays.upcoming(after, 2).iter().map(|t| t.to_rfc3339()).collect();
/// // Friday's 09:00 has passed; Monday and Tuesday at 09:00 Berlin time (UTC+1).
/// assert_eq!(next, ["2026-11-23T08:00:00+00:00", "2026-11-24T08:00:00+00:00"]);
///
/// let every: Schedule = "2m".parse()?;
/// assert_eq!(every, Schedule::every(std::time::Duration::from_secs(120))?);
/// // Printing and parsing back give the same schedule.
/// assert_eq!(weekdays.to_string(), "cron \"0 9 * * MON-FRI\" in Europe/Berlin");
/// assert_eq!(weekdays.to_string().parse::<Schedule>()?, weekdays);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// A fixed interval (fixed rate unless the job asks for a fixed delay),
    /// from [`Schedule::MIN_INTERVAL`] to [`Schedule::MAX_INTERVAL`]; a job
    /// given one outside that range is refused when it starts, and
    /// [`JobManager::set_schedule`](crate::JobManager::set_schedule) refuses
    /// it too.
    Every(Duration),
    /// A cron expression in a time zone.
    Cron(CronSchedule),
}

impl Schedule {
    /// The shortest interval: 1 ms, the resolution of tokio's timer.
    pub const MIN_INTERVAL: Duration = jobs_grammar::MIN_DURATION;

    /// The longest interval: 100 years of 365.25 days (`"100y"`).
    pub const MAX_INTERVAL: Duration = jobs_grammar::MAX_DURATION;

    /// A schedule with the given interval, from [`Schedule::MIN_INTERVAL`]
    /// to [`Schedule::MAX_INTERVAL`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobs_runtime::Schedule;
    ///
    /// assert!(Schedule::every(Duration::from_secs(90)).is_ok());
    /// let zero = Schedule::every(Duration::ZERO).unwrap_err();
    /// assert_eq!(zero.to_string(), "duration \"0s\" is shorter than the minimum of 1ms (the timer's resolution)");
    /// ```
    pub fn every(interval: Duration) -> Result<Self, ScheduleError> {
        jobs_grammar::check_duration(interval)
            .map(Schedule::Every)
            .map_err(ScheduleError::Interval)
    }

    /// A cron schedule: `expression` has 5 fields (minute hour day-of-month
    /// month day-of-week), 6 with seconds first, or is an alias (`@hourly`,
    /// `@daily` or `@midnight`, `@weekly`, `@monthly`, `@yearly` or
    /// `@annually`); `L`, `W` and `#` are supported. An expression that no
    /// date matches (`"0 0 31 2 *"`) is refused. `tz` is an IANA name as the
    /// tz database spells it (`"Europe/Berlin"`), `"UTC"` or `"local"`.
    pub fn cron(expression: &str, tz: &str) -> Result<Self, ScheduleError> {
        CronSchedule::new(expression, tz).map(Schedule::Cron)
    }

    /// Checks a schedule however it was built: an interval must lie within
    /// [`Schedule::MIN_INTERVAL`] ..= [`Schedule::MAX_INTERVAL`] (a cron
    /// schedule was checked when it was parsed). Starting a job and
    /// [`JobManager::set_schedule`](crate::JobManager::set_schedule) refuse
    /// a schedule this refuses.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Every(interval) => Schedule::every(*interval).map(drop),
            Schedule::Cron(_) => Ok(()),
        }
    }

    /// The interval of an `Every` schedule.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Schedule::Every(interval) => Some(*interval),
            Schedule::Cron(_) => None,
        }
    }

    /// The next `n` fires strictly after `after`, fewer if the schedule ends
    /// within the range of dates `chrono` can represent (or, for cron,
    /// before year 5000). For an interval the fires are
    /// `after + k · interval`; a started job's own grid is given by
    /// [`JobManager::next_runs`](crate::JobManager::next_runs).
    pub fn upcoming(&self, after: impl Into<DateTime<Utc>>, n: usize) -> Vec<DateTime<Utc>> {
        let mut cursor: SystemTime = after.into().into();
        let mut fires = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            let Some(fire) = crate::model::cron::to_utc(next) else {
                break;
            };
            fires.push(fire);
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

    /// Reads what [`Display`](fmt::Display) prints, and shorter forms:
    ///
    /// - an interval: a duration (`"90s"`, `"1h 30m"`, `"300000"` for
    ///   milliseconds), optionally after `every` (`"every 1h 30m"`);
    /// - a cron expression (`"*/5 * * * *"`, `"@daily"`), optionally after
    ///   `cron` and in double quotes, optionally followed by `in` and a time
    ///   zone (`cron "0 9 * * MON-FRI" in Europe/Berlin`); UTC when no zone
    ///   is given.
    ///
    /// Text that is not a duration is read as a cron expression when it
    /// starts with `@` or `cron`, or contains `*` or a space between at
    /// least five fields.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(interval) = text.strip_prefix("every ") {
            return jobs_grammar::parse_duration(interval)
                .map(Schedule::Every)
                .map_err(ScheduleError::Interval);
        }
        let cron = text.strip_prefix("cron ").map(str::trim);
        let duration = match cron {
            Some(_) => None,
            None => Some(jobs_grammar::parse_duration(text)),
        };
        let looks_like_cron = cron.is_some()
            || text.starts_with('@')
            || text.contains('*')
            || text.split_whitespace().count() >= 5;
        match duration {
            Some(Ok(interval)) => return Ok(Schedule::Every(interval)),
            Some(Err(error)) if !looks_like_cron => return Err(ScheduleError::Interval(error)),
            _ => {}
        }
        let cron = cron.unwrap_or(text);
        let (expression, zone) = match cron.rsplit_once(" in ") {
            Some((expression, zone)) => (expression.trim(), zone.trim()),
            None => (cron, "UTC"),
        };
        let expression = expression
            .strip_prefix('"')
            .and_then(|quoted| quoted.strip_suffix('"'))
            .unwrap_or(expression);
        Schedule::cron(expression, zone)
    }
}

/// `every <duration>` (`every 1h 30m`) or `cron "<expression>" in <zone>`;
/// [`FromStr`] reads either back to an equal schedule.
impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(interval) => {
                write!(f, "every {}", jobs_grammar::format_duration(*interval))
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

    fn every(seconds: u64) -> Schedule {
        Schedule::Every(Duration::from_secs(seconds))
    }

    #[test]
    fn short_format() {
        assert_eq!(format_duration_short(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration_short(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn parses_durations_and_cron() {
        assert_eq!("90s".parse::<Schedule>(), Ok(every(90)));
        assert_eq!("1h 30m".parse::<Schedule>(), Ok(every(5400)));
        assert_eq!("every 1h 30m".parse::<Schedule>(), Ok(every(5400)));
        assert_eq!("300000".parse::<Schedule>(), Ok(every(300)));
        assert_eq!(
            "@daily".parse::<Schedule>(),
            Schedule::cron("@daily", "UTC")
        );
        assert_eq!(
            "@midnight".parse::<Schedule>(),
            Schedule::cron("@midnight", "UTC")
        );
        assert_eq!(
            "*/5 * * * *".parse::<Schedule>(),
            Schedule::cron("*/5 * * * *", "UTC")
        );
        assert_eq!(
            "0 9 * * * in Europe/Berlin".parse::<Schedule>(),
            Schedule::cron("0 9 * * *", "Europe/Berlin")
        );
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let message = |text: &str| text.parse::<Schedule>().unwrap_err().to_string();
        assert_eq!(
            message("0s"),
            "duration \"0s\" is shorter than the minimum of 1ms (the timer's resolution)"
        );
        assert!(message("1ns").contains("shorter than the minimum of 1ms"));
        assert!(message("300000000000y").contains("longer than the maximum of 100y"));
        assert!(message("18446744073709551615s").contains("longer than the maximum of 100y"));
        assert!(message("2x").starts_with("invalid duration \"2x\""));
        assert!(message("1h 30x").starts_with("invalid duration \"1h 30x\""));
        assert!(message("* * *").starts_with("invalid cron expression \"* * *\": 3 fields"));
        assert!(message(", * * * *").contains("(an empty item in a list)"));
        assert!(message("0 0 31 2 *").contains("never fires"));
        assert!(message("@hourly in utc").contains("did you mean \"UTC\"?"));
    }

    #[test]
    fn display_round_trips() {
        let schedules = [
            every(90),
            every(5400),
            Schedule::Every(Duration::from_millis(1500)),
            Schedule::Every(Schedule::MIN_INTERVAL),
            Schedule::Every(Schedule::MAX_INTERVAL),
            Schedule::Every(Duration::new(86_400 * 400 + 7, 3_000_000)),
            Schedule::cron("*/5 * * * *", "UTC").unwrap(),
            Schedule::cron("0 9 * * MON-FRI", "Europe/Berlin").unwrap(),
            Schedule::cron("0 */20 1-3 * * *", "America/New_York").unwrap(),
            Schedule::cron("@midnight", "local").unwrap(),
            Schedule::cron("@annually", "Australia/Lord_Howe").unwrap(),
            Schedule::cron("@hourly", "Etc/UTC").unwrap(),
        ];
        for schedule in schedules {
            let text = schedule.to_string();
            assert_eq!(text.parse::<Schedule>(), Ok(schedule), "{text}");
        }
    }

    #[test]
    fn intervals_are_bounded() {
        assert_eq!(Schedule::every(Duration::from_secs(60)), Ok(every(60)));
        for out_of_range in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(999),
            Schedule::MAX_INTERVAL + Duration::from_nanos(1),
            Duration::MAX,
        ] {
            assert!(matches!(
                Schedule::every(out_of_range),
                Err(ScheduleError::Interval(_))
            ));
            assert!(Schedule::Every(out_of_range).validate().is_err());
        }
        assert_eq!(every(60).validate(), Ok(()));
    }

    #[test]
    fn upcoming_intervals() {
        let after = SystemTime::UNIX_EPOCH;
        let fires = every(60).upcoming(after, 2);
        assert_eq!(fires[1].timestamp(), 120);
    }

    #[test]
    fn upcoming_stops_at_the_end_of_time() {
        // Unchecked values through the public variant: fewer fires, no panic.
        let huge = Schedule::Every(Duration::from_secs(u64::MAX / 4));
        assert!(huge.upcoming(SystemTime::UNIX_EPOCH, 3).is_empty());
        let big = Schedule::Every(Duration::from_secs(86_400 * 365 * 100_000));
        assert_eq!(big.upcoming(SystemTime::UNIX_EPOCH, 5).len(), 2);
    }
}
