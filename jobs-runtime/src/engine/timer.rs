//! [`Timers`]: the wake-ups of a manager's started jobs. The timers know no
//! job type: an entry holds whatever its owner gives (the engine gives its
//! started jobs), an instant and a generation.
//!
//! Every started job keeps at most one live entry here: the instant it next
//! needs to wake (a fire, or a cron job's recheck of the wall clock). A job
//! costs an entry, not a task; a task exists only while one of its runs is
//! in flight.
//!
//! The entries are split into one shard per worker of the runtime, and jobs
//! are dealt to the shards in turn. Each shard has a task, its
//! [driver](super::driver), that sleeps until the shard's earliest entry and
//! hands each due entry back to its job. The drivers run on every worker at
//! once, so a burst of fires is handed out as fast as the runtime can run
//! them.
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
use tokio::time::Instant;

/// The timers of a manager's started jobs, in shards.
pub(crate) struct Timers<T> {
    /// Made at the first start, one per worker of its runtime.
    shards: OnceLock<Box<[Arc<Shard<T>>]>>,
    /// Where the next job goes, modulo the shard count.
    next: AtomicUsize,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            shards: OnceLock::new(),
            next: AtomicUsize::new(0),
        }
    }
}

/// One shard: its entries, and the driver that wakes them.
pub(crate) struct Shard<T> {
    state: Mutex<TimerState<T>>,
    /// Wakes the driver: an entry earlier than its sleep was added, the
    /// last job stopped, or its alarm rang.
    wake: Arc<Notify>,
}

impl<T> Default for Shard<T> {
    fn default() -> Self {
        Shard {
            state: Mutex::new(TimerState::default()),
            wake: Arc::default(),
        }
    }
}

struct TimerState<T> {
    entries: Entries<Entry<T>>,
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

impl<T> Default for TimerState<T> {
    fn default() -> Self {
        TimerState {
            entries: Entries::default(),
            base: None,
            added: 0,
            jobs: 0,
            driving: false,
            sleep: None,
        }
    }
}

/// What the driver waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sleep {
    Until(Instant),
    /// No entry: only an added entry or the last stop wakes it.
    Forever,
}

/// What a driver is to do next, from [`Shard::next`].
pub(crate) enum Next {
    /// Hand out the due entries.
    Due,
    /// Wait: nothing is due.
    Sleep(Sleep),
    /// End: the shard has no job left.
    End,
}

/// A job's wake-up, in 24 bytes when `T` is an `Arc`: a shard holds one for
/// each of its jobs.
pub(crate) struct Entry<T> {
    /// Nanoseconds after the base; an instant before it counts as the base.
    at: u64,
    added: u32,
    /// The owner's generation when it was added: the owner tells stale
    /// entries by it.
    pub(crate) generation: u32,
    pub(crate) owner: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
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

/// At most this many due entries are handed out in one round of a driver.
/// When many jobs are due at one instant (cron jobs on one expression), the
/// driver hands them out a round at a time, and yields to their runs after
/// each: the runs start while the jobs they touch are still in the cache,
/// as when fires come due a few at a time, and the first runs of a burst do
/// not wait for the whole burst to be handed out.
pub(crate) const ROUND: usize = 64;

impl<T> TimerState<T> {
    /// Moves the entries due at `now` to `due`, earliest first, up to
    /// [`ROUND`] of them.
    fn take_due(&mut self, now: Instant, due: &mut Vec<Entry<T>>) {
        let now = self.key(now);
        while due.len() < ROUND && self.entries.peek().is_some_and(|entry| entry.at <= now) {
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

impl<T> Timers<T> {
    fn shards(&self, runtime: &Handle) -> &[Arc<Shard<T>>] {
        self.shards.get_or_init(|| {
            let workers = runtime.metrics().num_workers().max(1);
            (0..workers).map(|_| Arc::default()).collect()
        })
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

    /// Deals a job starting now to a shard and counts it there; returns the
    /// shard, and whether its driver has to be started, as none runs.
    pub(crate) fn attach(&self, runtime: &Handle) -> (Arc<Shard<T>>, bool) {
        let shards = self.shards(runtime);
        let index = self.next.fetch_add(1, atomic::Ordering::Relaxed) % shards.len();
        let shard = Arc::clone(&shards[index]);
        let start_driver = shard.attach();
        (shard, start_driver)
    }

    /// The entries held, stale ones included.
    #[cfg(test)]
    pub(crate) fn entry_count(&self) -> usize {
        self.shards.get().map_or(0, |shards| {
            shards.iter().map(|shard| shard.lock().entries.len()).sum()
        })
    }
}

impl<T> Shard<T> {
    fn lock(&self) -> MutexGuard<'_, TimerState<T>> {
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
    pub(crate) fn detach(&self) {
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

    /// Adds an entry for `at`; it is handed to the driver with `generation`
    /// once `at` has come.
    pub(crate) fn add(&self, at: Instant, generation: u32, owner: T) {
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
            owner,
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

    /// What the driver is to do at `now`: hand out the entries due, which
    /// are moved to `due` a [round](ROUND) at a time; or sleep, until the earliest entry or until woken;
    /// or end, as the shard has no job (under the same lock as the check: a
    /// job attached from then on starts a new driver).
    pub(crate) fn next(&self, now: Instant, due: &mut Vec<Entry<T>>) -> Next {
        let mut state = self.lock();
        if state.jobs == 0 {
            state.driving = false;
            state.sleep = None;
            return Next::End;
        }
        state.take_due(now, due);
        if !due.is_empty() {
            return Next::Due;
        }
        let wait = match state.entries.peek() {
            Some(entry) => Sleep::Until(state.instant(entry.at)),
            None => Sleep::Forever,
        };
        state.sleep = Some(wait);
        Next::Sleep(wait)
    }

    /// What wakes the driver.
    pub(crate) fn wake(&self) -> &Arc<Notify> {
        &self.wake
    }

    /// The driver woke: it looks at the entries again before it sleeps.
    pub(crate) fn woke(&self) {
        self.lock().sleep = None;
    }

    /// The driver was dropped before it ended (its runtime shut down): a
    /// job attached from now on starts a new one.
    pub(crate) fn driver_dropped(&self) {
        let mut state = self.lock();
        state.driving = false;
        state.sleep = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 3)]
    async fn jobs_are_dealt_to_one_shard_per_worker_in_turn() {
        let timers = Timers::<()>::default();
        let runtime = Handle::current();
        let shards: Vec<Arc<Shard<()>>> = (0..7).map(|_| timers.attach(&runtime).0).collect();
        let all = timers.shards(&runtime);
        let dealt: Vec<usize> = shards
            .iter()
            .map(|shard| all.iter().position(|s| Arc::ptr_eq(s, shard)).unwrap())
            .collect();
        assert_eq!(dealt, [0, 1, 2, 0, 1, 2, 0]);
        for shard in shards {
            shard.detach();
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

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn due_entries_come_out_a_round_at_a_time() {
        let timers = Timers::<usize>::default();
        let (shard, _) = timers.attach(&Handle::current());
        let at = Instant::now() + Duration::from_secs(1);
        let count = ROUND * 2 + 3;
        for owner in 0..count {
            shard.add(at, 0, owner);
        }
        let mut due = Vec::new();
        let mut rounds = Vec::new();
        while let Next::Due = shard.next(at, &mut due) {
            rounds.push(due.drain(..).map(|entry| entry.owner).collect::<Vec<_>>());
        }
        let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
        assert_eq!(sizes, [ROUND, ROUND, 3]);
        assert_eq!(rounds.concat(), (0..count).collect::<Vec<_>>());
        shard.detach();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_has_one_shard() {
        let timers = Timers::<()>::default();
        let runtime = Handle::current();
        let (first, _) = timers.attach(&runtime);
        let (second, _) = timers.attach(&runtime);
        assert!(Arc::ptr_eq(&first, &second));
        first.detach();
        second.detach();
    }
}
