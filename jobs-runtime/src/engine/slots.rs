//! Slots: a manager's capacity units, shared by its runs in priority order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::model::Priority;

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
    due: Instant,
    arrival: u64,
    need: u32,
    wake: oneshot::Sender<()>,
}

impl Ord for Waiter {
    /// The greatest waiter is served first: highest priority, then earliest
    /// due, then first arrived.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.due.cmp(&self.due))
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

    /// Takes `need` slots, waiting behind every run that asked earlier with
    /// the same or a higher priority (first by priority, then by `due`).
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
            state.waiting.push(Waiter {
                priority,
                due,
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

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_by_priority_then_due_time() {
        let pool = SlotPool::new(1);
        let held = pool.acquire(1, Priority::Normal, Instant::now()).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let now = Instant::now();
        let mut tasks = Vec::new();
        for (name, priority, due) in [
            ("low", Priority::Low, 0),
            ("normal-late", Priority::Normal, 2),
            ("high", Priority::High, 3),
            ("normal-early", Priority::Normal, 1),
        ] {
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
        assert_eq!(
            *order.lock().unwrap(),
            ["high", "normal-early", "normal-late", "low"]
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
