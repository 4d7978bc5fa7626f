//! [`MemoryStore`]: executions and schedule rows in memory, no I/O.

use std::collections::{BTreeMap, VecDeque};
use std::future::ready;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

mod kept;

use kept::Kept;

use super::{
    Change, Field, JobTotals, NewExecution, Recorder, Recovered, Rescue, Rescued, ScheduleRow,
    Store, StoreFuture,
};
use crate::execution::{
    truncate_millis, Execution, ExecutionFilter, ExecutionId, ExecutionState, Outcome, Retention,
};

/// A store that keeps everything in memory and does no I/O, for a process
/// without a database that wants history
/// ([`JobManager::set_store`](crate::JobManager::set_store); without a
/// store set, nothing is kept). Nothing survives the process, but a new
/// engine in the same process can [`recover`](Store::recover) from the same
/// store.
///
/// Memory stays bounded: each job keeps at most its retention's `keep_last`
/// ended executions (the oldest is dropped as a newer one ends), and
/// [`prune`](Store::prune) drops one job's ended executions by the
/// retention it is given. Times are kept
/// to the millisecond, as a database keeps them.
///
/// ```
/// use std::time::SystemTime;
/// use jobs_runtime::store::{Change, MemoryStore, NewExecution, Store};
/// use jobs_runtime::execution::{Cause, ExecutionFilter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), jobs_runtime::store::StoreError> {
/// let store = MemoryStore::new();
/// let now = SystemTime::now();
/// store.recorder("digest", "host-1").record(Change::Started(NewExecution {
///     id: store.next_id(),
///     fire_at: now,
///     cause: Cause::Trigger,
///     started_at: Some(now),
/// }));
/// let executions = store.executions(ExecutionFilter::new().job("digest")).await?;
/// assert_eq!(executions.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    /// Each job's cell, by name.
    jobs: Mutex<BTreeMap<Arc<str>, Arc<JobCell>>>,
    last_id: AtomicI64,
    retention: Retention,
}

/// One job's executions and schedule row, behind a lock of its own.
#[derive(Debug)]
struct JobCell {
    job: Arc<str>,
    keep_last: usize,
    history: Mutex<History>,
}

/// One job's executions, oldest first (in the order they started), how
/// many of them have ended, when its last successful one finished, its
/// totals and its schedule row.
///
/// What every fire touches comes first, and what it does not is boxed, so
/// that recording a fire reads and writes few cache lines.
#[derive(Debug, Default)]
struct History {
    executions: VecDeque<Kept>,
    ended: usize,
    /// The newest execution's id, once there is one.
    newest: Option<ExecutionId>,
    /// The schedule row's last fire (its own copy is not kept up to date).
    last_fire: Option<SystemTime>,
    /// The row's last success (its own copy is not kept up to date).
    last_completed_at: Option<SystemTime>,
    totals: JobTotals,
    /// The instances that ran its executions, which each one names by
    /// index.
    instances: Vec<Arc<str>>,
    schedule: Option<Box<ScheduleRow>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store that keeps the [default retention](Retention::default)'s
    /// 1,000 ended executions per job.
    pub fn new() -> Self {
        MemoryStore::with_retention(Retention::default())
    }

    /// An empty store that keeps at most `retention.keep_last` ended
    /// executions per job.
    pub fn with_retention(retention: Retention) -> Self {
        MemoryStore {
            jobs: Mutex::new(BTreeMap::new()),
            last_id: AtomicI64::new(0),
            retention,
        }
    }

    /// `job`'s cell, made if the store has not met the job yet.
    fn cell(&self, job: &str) -> Arc<JobCell> {
        let mut jobs = lock(&self.jobs);
        if let Some(cell) = jobs.get(job) {
            return Arc::clone(cell);
        }
        let job: Arc<str> = Arc::from(job);
        let cell = Arc::new(JobCell {
            job: Arc::clone(&job),
            keep_last: self.retention.keep_last,
            history: Mutex::new(History::default()),
        });
        jobs.insert(job, Arc::clone(&cell));
        cell
    }

    /// Every job's cell, by name.
    fn cells(&self) -> Vec<Arc<JobCell>> {
        lock(&self.jobs).values().cloned().collect()
    }

    /// `job`'s cell, if the store has met the job.
    fn known(&self, job: &str) -> Option<Arc<JobCell>> {
        lock(&self.jobs).get(job).cloned()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while the lock was held left plain data, still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The [`Recorder`] of one job's changes made by one instance: the job's
/// cell, and the instance's index in the cell's instances.
struct JobRecorder {
    cell: Arc<JobCell>,
    instance: u16,
}

impl Recorder for JobRecorder {
    fn record(&self, change: Change) {
        let cell = &*self.cell;
        lock(&cell.history).apply(change, &cell.job, self.instance, cell.keep_last);
    }
}

impl History {
    fn apply(&mut self, change: Change, job: &Arc<str>, instance: u16, keep_last: usize) {
        match change {
            Change::Started(started) => self.start(started, instance),
            Change::AttemptStarted { id, number, at } => {
                if let Some(kept) = self.find(id) {
                    kept.attempt_started(number, at);
                }
            }
            Change::AttemptEnded {
                id,
                attempt,
                retrying,
            } => {
                let Some(kept) = self.find(id) else {
                    return;
                };
                let error = match &attempt.outcome {
                    Some(outcome) if !retrying => outcome.error(),
                    _ => None,
                };
                kept.attempt_ended(attempt, retrying);
                if error.is_some() {
                    self.totals.last_error = error;
                }
            }
            Change::Finished { id, state, at } => {
                let Some(kept) = self.find(id) else {
                    return;
                };
                let at = truncate_millis(at);
                let was_ended = kept.state.is_terminal();
                kept.finished(state, at);
                if state == ExecutionState::Succeeded {
                    self.last_completed_at = self.last_completed_at.max(Some(at));
                }
                if state.is_terminal() && !was_ended {
                    self.ended += 1;
                    self.totals.executions += 1;
                    self.totals.failures += u64::from(state != ExecutionState::Succeeded);
                    self.totals.last_finished_at = self.totals.last_finished_at.max(Some(at));
                }
                // Dropped in batches, so that an execution's end does not
                // read the oldest one each time; `visible` hides the
                // surplus meanwhile.
                if self.ended > keep_last.saturating_mul(2) {
                    self.keep_last(keep_last);
                }
            }
            Change::Fired { at } => {
                if self.schedule.is_some() {
                    self.last_fire = self.last_fire.max(Some(truncate_millis(at)));
                }
            }
            Change::Schedule(mut row) => {
                row.job = job.to_string();
                row.anchor = truncate_millis(row.anchor);
                row.last_fire = row.last_fire.map(truncate_millis);
                row.last_success = row.last_success.map(truncate_millis);
                self.last_fire = self.last_fire.max(row.last_fire);
                self.last_completed_at = self.last_completed_at.max(row.last_success);
                self.schedule = Some(Box::new(row));
            }
            Change::Control { row, changed } => match self.schedule.as_deref_mut() {
                Some(kept) => match changed {
                    Field::Paused => kept.paused = row.paused,
                    Field::Schedule => {
                        kept.anchor = truncate_millis(row.anchor);
                        kept.schedule_override = row.schedule_override;
                    }
                },
                None => self.apply(Change::Schedule(row), job, instance, keep_last),
            },
        }
    }

    /// The execution `id`, looked for from the newest.
    fn find(&mut self, id: ExecutionId) -> Option<&mut Kept> {
        self.executions.iter_mut().rev().find(|kept| kept.id == id)
    }

    /// The index of `instance` in the job's instances, added if new.
    fn instance(&mut self, instance: &str) -> u16 {
        let index = match self.instances.iter().position(|known| **known == *instance) {
            Some(index) => index,
            None => {
                self.instances.push(Arc::from(instance));
                self.instances.len() - 1
            }
        };
        u16::try_from(index).unwrap_or(u16::MAX)
    }

    /// The schedule row, with its last fire and last success.
    fn row(&self) -> Option<ScheduleRow> {
        let mut row = ScheduleRow::clone(self.schedule.as_deref()?);
        row.last_fire = row.last_fire.max(self.last_fire);
        row.last_success = row.last_success.max(self.last_completed_at);
        Some(row)
    }

    fn start(&mut self, started: NewExecution, instance: u16) {
        self.totals.last_started_at = self
            .totals
            .last_started_at
            .max(started.started_at.map(truncate_millis));
        let kept = Kept::new(
            started.id,
            started.fire_at,
            started.cause,
            instance,
            started.started_at,
        );
        // Ids increase: only an id not above the newest can be known (an
        // execution recorded again), so a new one is not looked for.
        let recorded_again = self.newest.is_some_and(|newest| newest >= started.id);
        self.newest = self.newest.max(Some(started.id));
        let known = match recorded_again {
            true => self.find(started.id),
            false => None,
        };
        match known {
            Some(known) => {
                let replaced = std::mem::replace(known, kept);
                if replaced.state.is_terminal() {
                    self.ended -= 1;
                }
            }
            None => self.executions.push_back(kept),
        }
    }

    /// Drops the oldest ended executions until at most `keep_last` of them
    /// are left.
    fn keep_last(&mut self, keep_last: usize) {
        while self.ended > keep_last {
            let Some(position) = self
                .executions
                .iter()
                .position(|kept| kept.state.is_terminal())
            else {
                break;
            };
            self.executions.remove(position);
            self.ended -= 1;
        }
    }

    /// Drops the ended executions due before `cutoff`.
    fn prune_older_than(&mut self, cutoff: SystemTime) {
        let before = self.executions.len();
        self.executions
            .retain(|kept| !(kept.state.is_terminal() && kept.fire_at() < cutoff));
        self.ended -= before - self.executions.len();
    }

    /// Marks the running and retrying executions abandoned at `now`, and
    /// returns them.
    fn abandon(&mut self, job: &Arc<str>, now: SystemTime, keep_last: usize) -> Vec<Execution> {
        let mut abandoned = Vec::new();
        for kept in &mut self.executions {
            if matches!(
                kept.state,
                ExecutionState::Running | ExecutionState::Retrying
            ) {
                kept.abandon(now);
                abandoned.push(kept.to_execution(job, &self.instances));
            }
        }
        if !abandoned.is_empty() {
            let count = abandoned.len() as u64;
            self.totals.executions += count;
            self.totals.failures += count;
            self.totals.last_finished_at = self.totals.last_finished_at.max(Some(now));
            self.totals.last_error = Outcome::Abandoned.error();
        }
        self.ended += abandoned.len();
        self.keep_last(keep_last);
        abandoned
    }

    /// The kept executions, all but the oldest ended ones beyond
    /// `keep_last` (which are dropped in batches).
    fn visible(&self, keep_last: usize) -> impl Iterator<Item = &Kept> {
        let mut surplus = self.ended.saturating_sub(keep_last);
        self.executions.iter().filter(move |kept| {
            let hidden = surplus > 0 && kept.state.is_terminal();
            surplus -= usize::from(hidden);
            !hidden
        })
    }

    /// The executions of `job` that pass `filter`, in its order, at most
    /// `limit`, of those it keeps (at most `keep_last` ended ones).
    fn pick(
        &self,
        job: &Arc<str>,
        keep_last: usize,
        filter: &ExecutionFilter,
        limit: usize,
    ) -> Vec<Execution> {
        let mut found: Vec<Execution> = self
            .visible(keep_last)
            .map(|kept| kept.to_execution(job, &self.instances))
            .filter(|execution| filter.matches(execution))
            .collect();
        order(&mut found, filter.newest_first);
        found.truncate(limit);
        found
    }

    /// The execution `id` of `job`, as users read it, if it is kept.
    fn get(&self, job: &Arc<str>, keep_last: usize, id: ExecutionId) -> Option<Execution> {
        let mut visible = self.visible(keep_last);
        let kept = visible.find(|kept| kept.id == id)?;
        Some(kept.to_execution(job, &self.instances))
    }
}

/// Sorts `executions` by id, newest first or oldest first.
fn order(executions: &mut [Execution], newest_first: bool) {
    if newest_first {
        executions.sort_unstable_by_key(|execution| std::cmp::Reverse(execution.id));
    } else {
        executions.sort_unstable_by_key(|execution| execution.id);
    }
}

impl Store for MemoryStore {
    fn recover<'a>(
        &'a self,
        now: SystemTime,
        _instance: &'a str,
        _jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Recovered> {
        let now = truncate_millis(now);
        let mut abandoned = Vec::new();
        let mut schedules = Vec::new();
        for cell in self.cells() {
            let mut history = lock(&cell.history);
            abandoned.extend(history.abandon(&cell.job, now, cell.keep_last));
            schedules.extend(history.row());
        }
        order(&mut abandoned, false);
        Box::pin(ready(Ok(Recovered {
            abandoned: abandoned.into_iter().map(Rescued::from).collect(),
            schedules,
        })))
    }

    fn next_id(&self) -> ExecutionId {
        ExecutionId(self.last_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn recorder(&self, job: &str, instance: &str) -> Arc<dyn Recorder> {
        let cell = self.cell(job);
        let instance = lock(&cell.history).instance(instance);
        Arc::new(JobRecorder { cell, instance })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(ready(Ok(())))
    }

    fn register(&self, rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>> {
        let mut kept = Vec::new();
        for row in rows {
            let cell = self.cell(&row.job);
            let mut history = lock(&cell.history);
            match history.row() {
                Some(existing) => kept.push(existing),
                None => history.apply(Change::Schedule(row), &cell.job, 0, cell.keep_last),
            }
        }
        Box::pin(ready(Ok(kept)))
    }

    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
        let rows = self
            .cells()
            .iter()
            .filter_map(|cell| lock(&cell.history).row())
            .collect();
        Box::pin(ready(Ok(rows)))
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let cells = match filter.job.as_deref() {
            Some(job) => self.known(job).into_iter().collect(),
            None => self.cells(),
        };
        // At most `limit` from each job, then the first `limit` of those.
        let mut found: Vec<Execution> = cells
            .iter()
            .flat_map(|cell| lock(&cell.history).pick(&cell.job, cell.keep_last, &filter, limit))
            .collect();
        order(&mut found, filter.newest_first);
        found.truncate(limit);
        Box::pin(ready(Ok(found)))
    }

    fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
        let found = self
            .cells()
            .iter()
            .find_map(|cell| lock(&cell.history).get(&cell.job, cell.keep_last, id));
        Box::pin(ready(Ok(found)))
    }

    fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        let at = self
            .known(job)
            .and_then(|cell| lock(&cell.history).last_completed_at);
        Box::pin(ready(Ok(at)))
    }

    fn totals<'a>(&'a self, job: &'a str) -> StoreFuture<'a, JobTotals> {
        let totals = self
            .known(job)
            .map(|cell| lock(&cell.history).totals.clone())
            .unwrap_or_default();
        Box::pin(ready(Ok(totals)))
    }

    fn prune<'a>(
        &'a self,
        job: &'a str,
        retention: Retention,
        now: SystemTime,
    ) -> StoreFuture<'a, u64> {
        let removed = self.known(job).map_or(0, |cell| {
            let mut history = lock(&cell.history);
            let before = history.executions.len();
            if let Some(cutoff) = now.checked_sub(retention.keep_for) {
                history.prune_older_than(cutoff);
            }
            history.keep_last(retention.keep_last);
            before - history.executions.len()
        });
        Box::pin(ready(Ok(removed as u64)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::execution::Cause;

    fn run(store: &MemoryStore, job: &str, millis: u64, state: ExecutionState) -> ExecutionId {
        let at = UNIX_EPOCH + Duration::from_millis(millis);
        let id = store.next_id();
        let recorder = store.recorder(job, "host");
        recorder.record(Change::Started(NewExecution {
            id,
            fire_at: at,
            cause: Cause::Schedule,
            started_at: Some(at),
        }));
        if state.is_terminal() {
            recorder.record(Change::Finished { id, state, at });
        }
        id
    }

    fn kept(store: &MemoryStore, job: &str) -> Vec<ExecutionId> {
        let cell = store.known(job).expect("a known job");
        let history = lock(&cell.history);
        history
            .visible(cell.keep_last)
            .map(|execution| execution.id)
            .collect()
    }

    #[test]
    fn each_job_keeps_at_most_keep_last_ended_executions_as_they_end() {
        let store = MemoryStore::with_retention(Retention {
            keep_for: Retention::DEFAULT_KEEP_FOR,
            keep_last: 3,
        });
        let running = run(&store, "a", 0, ExecutionState::Running);
        let ended: Vec<ExecutionId> = (1..=10)
            .map(|millis| run(&store, "a", millis, ExecutionState::Succeeded))
            .collect();
        let other = run(&store, "b", 0, ExecutionState::Failed);
        assert_eq!(kept(&store, "a"), [running, ended[7], ended[8], ended[9]]);
        assert_eq!(kept(&store, "b"), [other]);
        // Memory stays bounded: the surplus goes in batches, so at most
        // twice `keep_last` ended ones are held.
        let held = lock(&store.known("a").unwrap().history).executions.len();
        assert!(held <= 2 * 3 + 1, "{held} held");

        // The running one ends: it is the oldest (by id, as every store
        // counts), so it is the one that goes.
        store.recorder("a", "host-1").record(Change::Finished {
            id: running,
            state: ExecutionState::Cancelled,
            at: UNIX_EPOCH,
        });
        assert_eq!(kept(&store, "a"), [ended[7], ended[8], ended[9]]);
    }

    #[tokio::test]
    async fn a_recovered_execution_counts_as_ended() {
        let store = MemoryStore::with_retention(Retention {
            keep_for: Retention::DEFAULT_KEEP_FOR,
            keep_last: 1,
        });
        let old = run(&store, "a", 0, ExecutionState::Succeeded);
        let running = run(&store, "a", 1, ExecutionState::Running);
        assert_eq!(kept(&store, "a"), [old, running]);
        let recovered = store
            .recover(UNIX_EPOCH + Duration::from_secs(1), "host", &[])
            .await;
        assert_eq!(recovered.unwrap().abandoned.len(), 1);
        assert_eq!(kept(&store, "a"), [running]);
    }
}
