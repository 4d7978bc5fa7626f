//! [`set`]: wakes timer drivers at their instants, without the rounding to
//! whole milliseconds of tokio's timer.
//!
//! Tokio's timer counts whole milliseconds and rounds a deadline up to the
//! next one, and its worker may check its timers later still: a fire waits
//! up to about 2 ms for its wake-up. The alarm is one thread for the
//! process that waits on the operating system's clock and notifies the
//! driver when its instant comes. The driver keeps its tokio sleep too, so
//! tokio's paused clock (where instants are not real time) drives it alone,
//! and a wake-up the alarm gives early or late only makes the driver look
//! at its entries once more.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, Weak};
use std::time::Instant;

use tokio::sync::Notify;

/// The alarms waiting, one per driver at most.
struct Alarms {
    pending: Mutex<Vec<Pending>>,
    changed: Condvar,
}

struct Pending {
    at: Instant,
    wake: Weak<Notify>,
}

/// The process's alarms; their thread starts with the first one.
fn alarms() -> &'static Alarms {
    static ALARMS: Alarms = Alarms {
        pending: Mutex::new(Vec::new()),
        changed: Condvar::new(),
    };
    static THREAD: Once = Once::new();
    THREAD.call_once(|| {
        std::thread::Builder::new()
            .name("jobs-alarm".into())
            .spawn(|| ALARMS.run())
            .expect("starting the alarm thread");
    });
    &ALARMS
}

/// Notifies `wake` at `at`, instead of any alarm it had.
pub(crate) fn set(wake: &Arc<Notify>, at: Instant) {
    let alarms = alarms();
    let mut pending = alarms.lock();
    let wake = Arc::downgrade(wake);
    pending.retain(|alarm| !alarm.wake.ptr_eq(&wake));
    let earliest = pending.iter().all(|alarm| at < alarm.at);
    pending.push(Pending { at, wake });
    drop(pending);
    if earliest {
        alarms.changed.notify_one();
    }
}

impl Alarms {
    fn lock(&self) -> MutexGuard<'_, Vec<Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn run(&self) {
        let mut due = Vec::new();
        let mut pending = self.lock();
        loop {
            let now = Instant::now();
            pending.retain(|alarm| {
                let is_due = alarm.at <= now;
                if is_due {
                    due.push(alarm.wake.clone());
                }
                !is_due && alarm.wake.strong_count() > 0
            });
            if !due.is_empty() {
                drop(pending);
                for wake in due.drain(..).filter_map(|wake| wake.upgrade()) {
                    wake.notify_one();
                }
                pending = self.lock();
                continue;
            }
            pending = match pending.iter().map(|alarm| alarm.at).min() {
                Some(at) => {
                    self.changed
                        .wait_timeout(pending, at.saturating_duration_since(now))
                        .unwrap_or_else(|poison| poison.into_inner())
                        .0
                }
                None => self
                    .changed
                    .wait(pending)
                    .unwrap_or_else(|poison| poison.into_inner()),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Real time: what is tested is the operating system's clock.

    #[tokio::test]
    async fn an_alarm_rings_at_its_instant() {
        let wake = Arc::new(Notify::new());
        let at = Instant::now() + Duration::from_millis(30);
        set(&wake, at);
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("the alarm never rang");
        assert!(Instant::now() >= at);
    }

    #[tokio::test]
    async fn a_new_alarm_replaces_the_one_before() {
        let wake = Arc::new(Notify::new());
        set(&wake, Instant::now() + Duration::from_millis(20));
        set(&wake, Instant::now() + Duration::from_secs(3600));
        let early = tokio::time::timeout(Duration::from_millis(300), wake.notified()).await;
        assert!(early.is_err(), "the replaced alarm rang");
        set(&wake, Instant::now() + Duration::from_millis(20));
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("the alarm never rang");
    }

    #[tokio::test]
    async fn alarms_of_several_drivers_ring_each_at_its_own_instant() {
        let late = Arc::new(Notify::new());
        let soon = Arc::new(Notify::new());
        let start = Instant::now();
        set(&late, start + Duration::from_secs(1));
        // Lets the alarm thread start waiting for the later alarm.
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Earlier than the alarm the thread waits for: it has to wake.
        set(&soon, Instant::now() + Duration::from_millis(20));
        tokio::time::timeout(Duration::from_secs(10), soon.notified())
            .await
            .expect("the earlier alarm never rang");
        assert!(
            Instant::now() < start + Duration::from_secs(1),
            "the earlier alarm rang with the later one"
        );
        tokio::time::timeout(Duration::from_secs(10), late.notified())
            .await
            .expect("the later alarm never rang");
        assert!(Instant::now() >= start + Duration::from_secs(1));
    }
}
