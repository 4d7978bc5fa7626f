//! A shard's driver: the task that hands each due entry of its
//! [shard](super::timer::Shard) to its started job, which starts the runs,
//! polls those runs in batches, and sleeps until the next entry.
//!
//! A driver sleeps on tokio's timer, which counts whole milliseconds, and
//! also sets an [alarm](super::alarm::set) that wakes it at its instant more
//! precisely.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};

use crate::engine::scheduler::Started;
use crate::engine::timer::{Next, Shard, Sleep};
use crate::engine::{alarm, run};
use crate::model::clock::Reading;

/// How long a driver that never sleeps maps cron times by one reading of
/// the clocks.
const READING_LIFETIME: Duration = Duration::from_secs(1);

/// Marks the shard as having no driver when the driver is dropped before it
/// ends (its runtime shut down).
struct Driving<'a>(&'a Shard<Arc<Started>>);

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        self.0.driver_dropped();
    }
}

/// A shard's driver: hands each due entry to its job, then sleeps until the
/// next one. Ends once the shard has no job.
pub(crate) async fn drive(own: Arc<Shard<Arc<Started>>>) {
    // Dropped with the driver, also when its runtime shuts down first: a
    // job started later then starts a new driver.
    let driving = Driving(&own);
    let mut due = Vec::new();
    let mut runs = Vec::new();
    let sleep = sleep_until(Instant::now());
    tokio::pin!(sleep);
    let mut sleeping_until = None;
    let mut alarm_at = None;
    // One reading of the clocks maps the cron times of every round of a
    // burst: the jobs due at one wall time are then due at one instant, and
    // their entries stay in order. It is renewed when the driver sleeps, and
    // at least every second.
    let mut reading = Reading::default();
    loop {
        let now = Instant::now();
        let wait = match own.next(now, &mut due) {
            Next::End => {
                std::mem::forget(driving);
                return;
            }
            Next::Sleep(wait) => wait,
            Next::Due => {
                if reading.older_than(now, READING_LIFETIME) {
                    reading = Reading::default();
                }
                for entry in due.drain(..) {
                    entry
                        .owner
                        .timer_fired(entry.generation, now, &reading, &mut runs);
                    // Each batch goes as soon as it is full, so another
                    // worker can take it while the rest are handed out.
                    if runs.len() >= run::BATCH {
                        run::poll_in_batches(&mut runs);
                    }
                }
                run::poll_in_batches(&mut runs);
                // Let the worker run the batches (and its other tasks)
                // before looking for more: in a burst, fires keep coming
                // due, and the driver would otherwise hand them out for as
                // long as it lasts while the runs wait behind it.
                tokio::task::yield_now().await;
                continue;
            }
        };
        reading = Reading::default();
        // An entry added after the entries were read notifies `wake`; a
        // notification given before this wait starts is kept for it.
        match wait {
            Sleep::Until(at) => {
                // Resetting the timer takes the timer driver's lock: only do
                // it when the deadline moved.
                if sleeping_until != Some(at) {
                    sleep.as_mut().reset(at);
                    sleeping_until = Some(at);
                }
                if alarm_at != Some(at) {
                    alarm::set(own.wake(), at.into_std());
                    alarm_at = Some(at);
                }
                tokio::select! {
                    biased;
                    () = own.wake().notified() => {}
                    () = &mut sleep => {}
                }
            }
            Sleep::Forever => own.wake().notified().await,
        }
        own.woke();
    }
}
