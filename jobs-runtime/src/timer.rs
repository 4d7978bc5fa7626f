//! [`Timers`]: the timers of a manager's started jobs.
//!
//! Every started job keeps at most one live entry here: the instant it next
//! needs to wake (a fire, or a cron job's recheck of the wall clock). A job
//! costs an entry, not a task; a task exists only while one of its runs is
//! in flight.
//!
//! The entries are split into one shard per worker of the runtime, and jobs
//! are dealt to the shards in turn. Each shard has a task, its driver, that
//! sleeps until the shard's earliest entry and hands each due entry back to
//! its job, which starts the run. The drivers run on every worker at once,
//! so a burst of fires is handed out as fast as the runtime can run them.
//!
//! A driver sleeps on tokio's timer, which counts whole milliseconds, and
//! also sets an [alarm](crate::alarm) that wakes it at its instant more
//! precisely.
//!
//! Entries are not removed one by one: a job that re-arms or stops bumps its
//! generation, and an entry of an older generation is dropped when it comes
//! due, or when the last job stops.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{self, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};

use crate::scheduler::Started;
use crate::{alarm, run};

/// The timers of a manager's started jobs, in shards.
#[derive(Default)]
pub(crate) struct Timers {
    /// Made at the first start, one per worker of its runtime.
    shards: OnceLock<Box<[Arc<Shard>]>>,
    /// Where the next job goes, modulo the shard count.
    next: AtomicUsize,
}

/// One shard: its entries, and the driver that wakes them.
#[derive(Default)]
struct Shard {
    state: Mutex<TimerState>,
    /// Wakes the driver: an entry earlier than its sleep was added, the
    /// last job stopped, or its alarm rang.
    wake: Arc<Notify>,
}

#[derive(Default)]
struct TimerState {
    entries: Entries<Entry>,
    /// The instant entries' times count from, taken when the driver starts.
    base: Option<Instant>,
    /// Orders entries due at the same instant by when they were added.
    added: u32,
    /// Started jobs: the driver runs while there is one.
    jobs: usize,
    /// Whether a driver task is running.
    driving: bool,
    /// What the driver waits for; `None` while it is handing out entries
    /// (it looks at the entries again before it sleeps).
    sleep: Option<Sleep>,
}

/// What the driver waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sleep {
    Until(Instant),
    /// No entry: only an added entry or the last stop wakes it.
    Forever,
}

/// A job's wake-up, in 24 bytes: a shard holds one for each of its jobs.
struct Entry {
    /// Nanoseconds after the base; an instant before it counts as the base.
    at: u64,
    added: u32,
    generation: u32,
    job: Arc<Started>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // `added` wraps after 2^32 entries; only the order of entries due
        // at the same nanosecond depends on it.
        (self.at, self.added).cmp(&(other.at, other.added))
    }
}

/// A shard's entries, earliest first: a run of entries added in order, and
/// a heap for the others.
///
/// Most entries are added in order: a job re-arms one interval after the
/// fire just handed out, so jobs with one interval re-arm in the order they
/// come due. Those cost O(1) to add and to take, instead of O(log n) with
/// cache misses on a large heap.
struct Entries<T> {
    in_order: VecDeque<T>,
    heap: BinaryHeap<Reverse<T>>,
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Entries {
            in_order: VecDeque::new(),
            heap: BinaryHeap::new(),
        }
    }
}

impl<T: Ord> Entries<T> {
    fn push(&mut self, entry: T) {
        match self.in_order.back() {
            Some(last) if entry < *last => self.heap.push(Reverse(entry)),
            _ => self.in_order.push_back(entry),
        }
    }

    /// Whether the earliest entry is the first of the run, rather than the
    /// heap's.
    fn earliest_in_order(&self) -> bool {
        match (self.in_order.front(), self.heap.peek()) {
            (Some(first), Some(Reverse(top))) => first <= top,
            (first, _) => first.is_some(),
        }
    }

    fn peek(&self) -> Option<&T> {
        if self.earliest_in_order() {
            self.in_order.front()
        } else {
            self.heap.peek().map(|Reverse(entry)| entry)
        }
    }

    fn pop(&mut self) -> Option<T> {
        if self.earliest_in_order() {
            self.in_order.pop_front()
        } else {
            self.heap.pop().map(|Reverse(entry)| entry)
        }
    }

    /// Makes room for `more` entries added in order.
    fn reserve_exact(&mut self, more: usize) {
        self.in_order.reserve_exact(more);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.in_order.len() + self.heap.len()
    }
}

impl TimerState {
    /// Moves every entry due at `now` to `due`, earliest first.
    fn take_due(&mut self, now: Instant, due: &mut Vec<Entry>) {
        let now = self.key(now);
        while self.entries.peek().is_some_and(|entry| entry.at <= now) {
            if let Some(entry) = self.entries.pop() {
                due.push(entry);
            }
        }
    }

    fn key(&self, at: Instant) -> u64 {
        self.checked_key(at).unwrap_or(u64::MAX)
    }

    /// The key of `at`; `None` past 584 years after the base, which no
    /// driver lives to see.
    fn checked_key(&self, at: Instant) -> Option<u64> {
        let base = self.base.unwrap_or(at);
        u64::try_from(at.saturating_duration_since(base).as_nanos()).ok()
    }

    fn instant(&self, key: u64) -> Instant {
        self.base.unwrap_or_else(Instant::now) + Duration::from_nanos(key)
    }
}

impl Timers {
    fn shards(&self, runtime: &Handle) -> &[Arc<Shard>] {
        self.shards.get_or_init(|| {
            let workers = runtime.metrics().num_workers().max(1);
            (0..workers).map(|_| Arc::default()).collect()
        })
    }

    fn shard(&self, index: u32) -> &Shard {
        let shards = self
            .shards
            .get()
            .expect("a job gets its shard from `attach`, which makes the shards");
        &shards[index as usize]
    }

    /// Makes room for the entries of `jobs` more jobs, at once rather than by
    /// doubling.
    pub(crate) fn reserve(&self, runtime: &Handle, jobs: usize) {
        let shards = self.shards(runtime);
        for shard in shards {
            shard
                .lock()
                .entries
                .reserve_exact(jobs.div_ceil(shards.len()));
        }
    }

    /// Deals a job starting now to a shard, counts it there and starts the
    /// shard's driver on `runtime` if none runs; returns the shard.
    pub(crate) fn attach(&self, runtime: &Handle) -> u32 {
        let shards = self.shards(runtime);
        let index = self.next.fetch_add(1, atomic::Ordering::Relaxed) % shards.len();
        if shards[index].attach() {
            runtime.spawn(drive(Arc::clone(&shards[index])));
        }
        // Shards are as many as the runtime's workers.
        u32::try_from(index).unwrap_or(u32::MAX)
    }

    /// Counts one job less in `shard`.
    pub(crate) fn detach(&self, shard: u32) {
        self.shard(shard).detach();
    }

    /// The entries held, stale ones included.
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> usize {
        self.shards.get().map_or(0, |shards| {
            shards.iter().map(|shard| shard.lock().entries.len()).sum()
        })
    }

    /// Adds `job`'s entry for `at` to `shard`; it is handed back to the job
    /// with `generation` once `at` has come.
    pub(crate) fn add(&self, shard: u32, at: Instant, generation: u32, job: Arc<Started>) {
        self.shard(shard).add(at, generation, job);
    }
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, TimerState> {
        // Every update leaves the entries whole, so a poisoned lock is still
        // consistent.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Counts one more started job; returns whether a driver has to be
    /// started, as none runs.
    fn attach(&self) -> bool {
        let mut state = self.lock();
        state.jobs += 1;
        if state.driving {
            return false;
        }
        state.driving = true;
        state.base = Some(Instant::now());
        true
    }

    /// Counts one job less. With the last one the entries left (all stale)
    /// are dropped, and the driver ends.
    fn detach(&self) {
        let mut state = self.lock();
        state.jobs = state.jobs.saturating_sub(1);
        if state.jobs == 0 {
            let stale = std::mem::take(&mut state.entries);
            drop(state);
            // Dropped outside the lock: an entry may hold the last handle on
            // its job.
            drop(stale);
            self.wake.notify_one();
        }
    }

    fn add(&self, at: Instant, generation: u32, job: Arc<Started>) {
        let mut state = self.lock();
        // An instant the driver never reaches needs no entry; one with the
        // saturated key would come due at once, again and again.
        let Some(key) = state.checked_key(at) else {
            return;
        };
        state.added = state.added.wrapping_add(1);
        let entry = Entry {
            at: key,
            added: state.added,
            generation,
            job,
        };
        state.entries.push(entry);
        let earlier = match state.sleep {
            Some(Sleep::Until(until)) => at < until,
            Some(Sleep::Forever) => true,
            None => false,
        };
        if earlier {
            // Once is enough until the driver looks again.
            state.sleep = None;
            drop(state);
            self.wake.notify_one();
        }
    }
}

/// Marks the shard as having no driver when the driver is dropped before it
/// ends (its runtime shut down).
struct Driving<'a>(&'a Shard);

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.driving = false;
        state.sleep = None;
    }
}

/// A shard's driver: hands each due entry to its job, then sleeps until the
/// next one. Ends once the shard has no job.
async fn drive(own: Arc<Shard>) {
    // Dropped with the driver, also when its runtime shuts down first: a
    // job started later then starts a new driver.
    let driving = Driving(&own);
    let mut due = Vec::new();
    let mut runs = Vec::new();
    let sleep = sleep_until(Instant::now());
    tokio::pin!(sleep);
    let mut sleeping_until = None;
    let mut alarm_at = None;
    loop {
        let now = Instant::now();
        let wait = {
            let mut state = own.lock();
            if state.jobs == 0 {
                // Under the same lock as the check: a job attached from now
                // on starts a new driver.
                state.driving = false;
                state.sleep = None;
                drop(state);
                std::mem::forget(driving);
                return;
            }
            state.take_due(now, &mut due);
            if due.is_empty() {
                let wait = match state.entries.peek() {
                    Some(entry) => Sleep::Until(state.instant(entry.at)),
                    None => Sleep::Forever,
                };
                state.sleep = Some(wait);
                Some(wait)
            } else {
                None
            }
        };
        let Some(wait) = wait else {
            for entry in due.drain(..) {
                entry.job.timer_fired(entry.generation, now, &mut runs);
                // Each batch goes as soon as it is full, so another worker
                // can take it while the rest are handed out.
                if runs.len() >= run::BATCH {
                    run::poll_in_batches(&mut runs);
                }
            }
            run::poll_in_batches(&mut runs);
            // Let the worker run the batches (and its other tasks) before
            // looking for more: in a burst, fires keep coming due, and the
            // driver would otherwise hand them out for as long as it lasts
            // while the runs wait behind it.
            tokio::task::yield_now().await;
            continue;
        };
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
                    alarm::set(&own.wake, at.into_std());
                    alarm_at = Some(at);
                }
                tokio::select! {
                    biased;
                    () = own.wake.notified() => {}
                    () = &mut sleep => {}
                }
            }
            Sleep::Forever => own.wake.notified().await,
        }
        own.lock().sleep = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 3)]
    async fn jobs_are_dealt_to_one_shard_per_worker_in_turn() {
        let timers = Timers::default();
        let runtime = Handle::current();
        let shards: Vec<u32> = (0..7).map(|_| timers.attach(&runtime)).collect();
        assert_eq!(shards, [0, 1, 2, 0, 1, 2, 0]);
        for shard in shards {
            timers.detach(shard);
        }
    }

    #[test]
    fn entries_come_out_earliest_first_whatever_order_they_went_in() {
        let mut entries = Entries::default();
        let added = [10, 20, 20, 30, 15, 40, 5, 35, 50, 45, 60];
        for at in added {
            entries.push(at);
        }
        // In order: 10, 20, 20, 30, 40, 50, 60; the rest go to the heap.
        assert_eq!(entries.in_order.len(), 7);
        assert_eq!(entries.peek(), Some(&5));
        let mut taken = Vec::new();
        while let Some(at) = entries.pop() {
            taken.push(at);
        }
        let mut sorted = added.to_vec();
        sorted.sort_unstable();
        assert_eq!(taken, sorted);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_has_one_shard() {
        let timers = Timers::default();
        let runtime = Handle::current();
        assert_eq!([timers.attach(&runtime), timers.attach(&runtime)], [0, 0]);
        timers.detach(0);
        timers.detach(0);
    }
}
