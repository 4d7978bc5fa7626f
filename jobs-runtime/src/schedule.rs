//! When a job fires: the [`Schedule`] value and the fire-time arithmetic.
//!
//! Everything here is pure: it computes instants and never sleeps, so it is
//! tested without a runtime.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// How often a job runs.
///
/// A schedule is plain data: it can be built, compared and printed without a
/// [`JobManager`](crate::JobManager).
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::Schedule;
///
/// let schedule = Schedule::every(Duration::from_secs(120));
/// assert_eq!(schedule.interval(), Duration::from_secs(120));
/// assert_eq!(schedule.to_string(), "every 2m");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Schedule {
    /// Fixed rate: fires on the grid `start + k · interval`, so a late fire
    /// never pushes the ones after it.
    Every(Duration),
}

impl Schedule {
    /// A fixed-rate schedule with the given interval.
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

    /// The time between two fires.
    pub const fn interval(&self) -> Duration {
        match self {
            Schedule::Every(interval) => *interval,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(interval) => {
                write!(f, "every {}", humantime::format_duration(*interval))
            }
        }
    }
}

/// The fire instants of one started job: `start + k · interval`, with `k`
/// starting at 0 when the job runs on start and at 1 otherwise.
#[derive(Debug, Clone)]
pub(crate) struct FireGrid {
    next: Instant,
    interval: Duration,
}

impl FireGrid {
    pub(crate) fn new(start: Instant, interval: Duration, run_on_start: bool) -> Self {
        let next = if run_on_start {
            start
        } else {
            start + interval
        };
        FireGrid { next, interval }
    }

    /// The next fire instant, not yet consumed.
    pub(crate) fn peek(&self) -> Instant {
        self.next
    }

    /// Consumes the next fire instant and returns it.
    pub(crate) fn advance(&mut self) -> Instant {
        let fire = self.next;
        self.next = fire + self.interval;
        fire
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
    fn grid_starts_at_start_when_running_on_start() {
        let start = Instant::now();
        let mut grid = FireGrid::new(start, Duration::from_secs(2), true);
        assert_eq!(grid.advance(), start);
        assert_eq!(grid.advance(), start + Duration::from_secs(2));
        assert_eq!(grid.peek(), start + Duration::from_secs(4));
    }

    #[test]
    fn grid_waits_one_interval_otherwise() {
        let start = Instant::now();
        let mut grid = FireGrid::new(start, Duration::from_secs(2), false);
        assert_eq!(grid.advance(), start + Duration::from_secs(2));
    }

    #[test]
    fn grid_never_drifts() {
        let start = Instant::now();
        let interval = Duration::from_millis(333);
        let mut grid = FireGrid::new(start, interval, true);
        let fire = (0..1000).map(|_| grid.advance()).last().unwrap();
        assert_eq!(fire, start + interval * 999);
    }

    #[test]
    fn short_format() {
        assert_eq!(format_duration_short(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration_short(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    #[should_panic(expected = "greater than zero")]
    fn zero_interval_is_refused() {
        let _ = Schedule::every(Duration::ZERO);
    }
}
