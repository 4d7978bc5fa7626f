//! [`Clock`]: the wall clock the scheduler reads, tied to tokio's clock.

use std::cell::OnceCell;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The wall clock a [`JobManager`](crate::JobManager) schedules cron jobs by
/// and reports times in.
///
/// [`Clock::system`] (the default) is the machine's clock. A clock made with
/// [`Clock::starting_at`] starts at a chosen time and then moves with
/// tokio's clock, so tests on a paused tokio clock can run a cron schedule
/// through a daylight-saving change in milliseconds:
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use jobs_runtime::Clock;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let clock = Clock::starting_at(start);
/// tokio::time::advance(Duration::from_secs(90)).await;
/// assert_eq!(clock.now(), start + Duration::from_secs(90));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    anchor: Option<(SystemTime, Instant)>,
}

impl Clock {
    /// The machine's wall clock.
    pub const fn system() -> Self {
        Clock { anchor: None }
    }

    /// A clock that reads `start` now and then advances with tokio's clock.
    pub fn starting_at(start: SystemTime) -> Self {
        Clock {
            anchor: Some((start, Instant::now())),
        }
    }

    /// The current wall-clock time.
    pub fn now(&self) -> SystemTime {
        match self.anchor {
            None => SystemTime::now(),
            Some((wall, instant)) => wall + instant.elapsed(),
        }
    }

    /// The tokio instant at which this clock will read (or read) `wall`.
    /// A past `wall` maps to a past instant, so a fire that is overdue stays
    /// overdue by its lateness; only a time before tokio's clock can express
    /// maps to now.
    pub(crate) fn instant_at(&self, wall: SystemTime) -> Instant {
        self.instant_by(wall, &Reading::default())
    }

    /// The wall-clock time at tokio instant `at`.
    pub(crate) fn wall_at(&self, at: Instant) -> SystemTime {
        self.wall_by(at, &Reading::default())
    }

    /// [`instant_at`](Self::instant_at), by the clocks as `reading` read
    /// them.
    pub(crate) fn instant_by(&self, wall: SystemTime, reading: &Reading) -> Instant {
        let (now, wall_now) = self.read(reading);
        match wall.duration_since(wall_now) {
            Ok(ahead) => now + ahead,
            Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
        }
    }

    /// [`wall_at`](Self::wall_at), by the clocks as `reading` read them.
    pub(crate) fn wall_by(&self, at: Instant, reading: &Reading) -> SystemTime {
        let (now, wall) = self.read(reading);
        if at >= now {
            wall + (at - now)
        } else {
            wall - (now - at)
        }
    }

    /// Tokio's clock and this clock at one moment, as `reading` read them.
    fn read(&self, reading: &Reading) -> (Instant, SystemTime) {
        let (now, system) = reading.get();
        match self.anchor {
            None => (now, system),
            Some((wall, instant)) => (now, wall + now.saturating_duration_since(instant)),
        }
    }
}

/// Tokio's clock and the machine's wall clock, read together the first time
/// they are needed and not again: every time mapped by one reading is
/// mapped by the same moment, and a burst of cron fires reads the clocks
/// once.
#[derive(Debug, Default)]
pub(crate) struct Reading(OnceCell<(Instant, SystemTime)>);

impl Reading {
    /// Whether the clocks were read more than `lifetime` before `now`.
    pub(crate) fn older_than(&self, now: Instant, lifetime: Duration) -> bool {
        self.0
            .get()
            .is_some_and(|(read, _)| now.saturating_duration_since(*read) > lifetime)
    }

    fn get(&self) -> (Instant, SystemTime) {
        *self.0.get_or_init(|| (Instant::now(), SystemTime::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_reading_maps_every_time_by_the_same_moment() {
        // Tokio's clock stands still while the machine's moves on: read
        // again, the clocks would map one wall time to another instant.
        let (clock, reading) = (Clock::system(), Reading::default());
        let wall = SystemTime::now() + Duration::from_secs(1);
        let first = clock.instant_by(wall, &reading);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.instant_by(wall, &reading), first);
        assert_eq!(clock.wall_by(first, &reading), wall);
        assert!(!reading.older_than(Instant::now(), Duration::from_secs(1)));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(reading.older_than(Instant::now(), Duration::from_millis(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn simulated_clock_follows_tokio_time() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = Clock::starting_at(start);
        let target = start + Duration::from_secs(60);
        let at = clock.instant_at(target);
        tokio::time::sleep_until(at).await;
        assert_eq!(clock.now(), target);
        assert_eq!(clock.wall_at(at), target);
        assert_eq!(
            clock.instant_at(start),
            Instant::now() - Duration::from_secs(60)
        );
    }
}
