//! Slots: a manager's capacity units, shared by its runs in priority order,
//! with aging: a waiting run rises one priority level for every
//! [`AGING_STEP`] it has waited, so no priority starves.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use crate::model::Priority;

/// How long a run waits for slots before it counts as one priority level
/// higher: a run is served before every run of a higher priority that became
/// due more than this many steps (one per level) after it.
pub(crate) const AGING_STEP: Duration = Duration::from_secs(30);

/// A fixed number of slots; runs take some and give them back when done.
#[derive(Debug)]
pub(crate) struct SlotPool {
    capacity: u32,
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    free: u32,
    waiting: BinaryHeap<Waiter>,
    arrivals: u64,
}

#[derive(Debug)]
struct Waiter {
    priority: Priority,
    /// The due instant, moved later by one [`AGING_STEP`] for each level
    /// below high: the order of two waiters is that of their aged instants.
    aged: Instant,
    arrival: u64,
    need: u32,
    wake: oneshot::Sender<()>,
}

impl Ord for Waiter {
    /// The greatest waiter is served first: earliest aged instant, then
    /// highest priority, then first arrived. Comparing aged instants is
    /// comparing effective priorities, each raised one level per
    /// [`AGING_STEP`] of waiting, at any moment: the order never changes
    /// while the waiters wait.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .aged
            .cmp(&self.aged)
            .then_with(|| self.priority.cmp(&other.priority))
            .then_with(|| other.arrival.cmp(&self.arrival))
    }
}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

/// Slots held by one run; given back when dropped.
#[derive(Debug)]
pub(crate) struct SlotPermit {
    pool: Arc<SlotPool>,
    held: u32,
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        self.pool.release(self.held);
    }
}

impl SlotPool {
    pub(crate) fn new(capacity: u32) -> Arc<Self> {
        Arc::new(SlotPool {
            capacity,
            state: Mutex::new(PoolState {
                free: capacity,
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
        })
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Takes `need` slots at once, if they are free and no run waits.
    pub(crate) fn try_acquire(self: &Arc<Self>, need: u32) -> Option<SlotPermit> {
        let mut state = self.lock();
        if state.waiting.is_empty() && state.free >= need {
            state.free -= need;
            return Some(SlotPermit {
                pool: Arc::clone(self),
                held: need,
            });
        }
        None
    }

    /// Takes `need` slots, waiting in line: the line is ordered by
    /// effective priority, which rises one level per [`AGING_STEP`] a run
    /// has waited since `due`, then by priority, then by arrival.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        need: u32,
        priority: Priority,
        due: Instant,
    ) -> SlotPermit {
        let receiver = {
            let mut state = self.lock();
            if state.waiting.is_empty() && state.free >= need {
                state.free -= need;
                return SlotPermit {
                    pool: Arc::clone(self),
                    held: need,
                };
            }
            let (wake, receiver) = oneshot::channel();
            state.arrivals += 1;
            let arrival = state.arrivals;
            let levels_below_high = match priority {
                Priority::High => 0,
                Priority::Normal => 1,
                Priority::Low => 2,
            };
            // A due instant is within a lifetime of now: the sum cannot
            // overflow, and the fallback only keeps this free of panics.
            let aged = due
                .checked_add(AGING_STEP * levels_below_high)
                .unwrap_or(due);
            state.waiting.push(Waiter {
                priority,
                aged,
                arrival,
                need,
                wake,
            });
            receiver
        };
        let mut wait = PendingGrant {
            pool: self,
            need,
            receiver: Some(receiver),
        };
        if let Some(receiver) = wait.receiver.as_mut() {
            // The sender is only dropped after sending: the pool never drops
            // a waiter without granting it.
            let _ = receiver.await;
        }
        wait.receiver = None;
        SlotPermit {
            pool: Arc::clone(self),
            held: need,
        }
    }

    /// Gives `count` slots back and grants them to waiters, in order, while
    /// the first in line fits.
    fn release(&self, count: u32) {
        let mut state = self.lock();
        state.free += count;
        while state
            .waiting
            .peek()
            .is_some_and(|head| head.need <= state.free)
        {
            let Some(head) = state.waiting.pop() else {
                break;
            };
            state.free -= head.need;
            if head.wake.send(()).is_err() {
                // The waiter gave up; its slots stay free.
                state.free += head.need;
            }
        }
    }
}

/// A grant being waited for; if the wait is abandoned after the grant was
/// sent, the slots go back to the pool.
struct PendingGrant<'a> {
    pool: &'a Arc<SlotPool>,
    need: u32,
    receiver: Option<oneshot::Receiver<()>>,
}

impl Drop for PendingGrant<'_> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if receiver.try_recv().is_ok() {
                self.pool.release(self.need);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The order in which `waiters` (name, priority, seconds after now they
    /// were due), arriving in that order while the pool's one slot is held,
    /// get the slot once it is given back.
    async fn grant_order(waiters: Vec<(&'static str, Priority, u64)>) -> Vec<&'static str> {
        let pool = SlotPool::new(1);
        let held = pool.acquire(1, Priority::Normal, Instant::now()).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let now = Instant::now();
        let mut tasks = Vec::new();
        for (name, priority, due) in waiters {
            let pool = Arc::clone(&pool);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let _permit = pool
                    .acquire(1, priority, now + Duration::from_secs(due))
                    .await;
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }));
            tokio::task::yield_now().await;
        }
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        order
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_by_priority_then_due_time() {
        let order = grant_order(vec![
            ("low", Priority::Low, 0),
            ("normal-late", Priority::Normal, 2),
            ("high", Priority::High, 3),
            ("normal-early", Priority::Normal, 1),
        ])
        .await;
        assert_eq!(order, ["high", "normal-early", "normal-late", "low"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_run_rises_one_level_per_aging_step() {
        let step = AGING_STEP.as_secs();
        let order = grant_order(vec![
            // Two steps below high: ahead of high runs due later than that.
            ("low", Priority::Low, 0),
            ("high-after-two-steps", Priority::High, 2 * step + 1),
            ("high-within-two-steps", Priority::High, 2 * step - 1),
            ("normal-after-one-step", Priority::Normal, step + 1),
        ])
        .await;
        assert_eq!(
            order,
            [
                "high-within-two-steps",
                "low",
                "high-after-two-steps",
                "normal-after-one-step"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_waits_give_their_slots_back() {
        let pool = SlotPool::new(2);
        let held = pool.acquire(2, Priority::Normal, Instant::now()).await;
        let waiting = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.acquire(2, Priority::Normal, Instant::now()).await }
        });
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        drop(held);
        let again = pool.acquire(2, Priority::Normal, Instant::now()).await;
        assert_eq!(again.held, 2);
    }
}
