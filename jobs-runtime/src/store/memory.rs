//! [`MemoryStore`]: executions and schedule rows in memory, no I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::ready;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{Change, NewExecution, Recovered, ScheduleRow, Store, StoreFuture};
use crate::execution::{
    truncate_millis, Attempt, Execution, ExecutionFilter, ExecutionId, ExecutionState, Outcome,
    Retention,
};

/// A store that keeps everything in memory and does no I/O: what a process
/// without a database uses. Nothing survives the process, but a new engine
/// in the same process can [`recover`](Store::recover) from the same store.
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
/// store.record(Change::Started(NewExecution {
///     id: store.next_id(),
///     job: "digest".into(),
///     fire_at: now,
///     cause: Cause::Trigger,
///     instance: "host-1".into(),
///     started_at: Some(now),
/// }));
/// let executions = store.executions(ExecutionFilter::new().job("digest")).await?;
/// assert_eq!(executions.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    last_id: AtomicI64,
    retention: Retention,
}

#[derive(Debug, Default)]
struct Inner {
    executions: BTreeMap<ExecutionId, Execution>,
    jobs: HashMap<Arc<str>, JobEntry>,
    schedules: BTreeMap<String, ScheduleRow>,
}

/// One job's executions in id order, how many of them have ended, and when
/// its last successful one finished.
#[derive(Debug, Default)]
struct JobEntry {
    ids: VecDeque<ExecutionId>,
    ended: usize,
    last_completed_at: Option<SystemTime>,
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
            inner: Mutex::new(Inner::default()),
            last_id: AtomicI64::new(0),
            retention,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held left plain data, still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn apply(&mut self, change: Change, keep_last: usize) {
        match change {
            Change::Started(started) => self.start(started),
            Change::AttemptStarted { id, number, at } => {
                let Some(execution) = self.executions.get_mut(&id) else {
                    return;
                };
                let at = truncate_millis(at);
                execution.state = ExecutionState::Running;
                execution.started_at.get_or_insert(at);
                let attempt = Attempt {
                    number,
                    started_at: at,
                    finished_at: None,
                    outcome: None,
                };
                put_attempt(&mut execution.attempts, attempt);
            }
            Change::AttemptEnded {
                id,
                mut attempt,
                retrying,
            } => {
                let Some(execution) = self.executions.get_mut(&id) else {
                    return;
                };
                attempt.started_at = truncate_millis(attempt.started_at);
                attempt.finished_at = attempt.finished_at.map(truncate_millis);
                if let Some(Outcome::TimedOut { limit }) = &mut attempt.outcome {
                    *limit = std::time::Duration::from_millis(
                        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                    );
                }
                put_attempt(&mut execution.attempts, attempt);
                if retrying {
                    execution.state = ExecutionState::Retrying;
                }
            }
            Change::Finished { id, job, state, at } => {
                let Some(execution) = self.executions.get_mut(&id) else {
                    return;
                };
                let at = truncate_millis(at);
                let was_ended = execution.state.is_terminal();
                execution.state = state;
                execution.finished_at = Some(at);
                let entry = self.jobs.entry(job).or_default();
                if state == ExecutionState::Succeeded {
                    entry.last_completed_at = entry.last_completed_at.max(Some(at));
                }
                if state.is_terminal() && !was_ended {
                    entry.ended += 1;
                }
                let job = execution.job.clone();
                self.keep_last(&job, keep_last);
            }
            Change::Fired { job, at } => {
                if let Some(row) = self.schedules.get_mut(&*job) {
                    row.last_fire = Some(truncate_millis(at));
                }
            }
            Change::Schedule(mut row) => {
                row.anchor = truncate_millis(row.anchor);
                row.last_fire = row.last_fire.map(truncate_millis);
                row.last_success = row.last_success.map(truncate_millis);
                self.schedules.insert(row.job.clone(), row);
            }
        }
    }

    fn start(&mut self, started: NewExecution) {
        let started_at = started.started_at.map(truncate_millis);
        let execution = Execution {
            id: started.id,
            job: started.job,
            fire_at: truncate_millis(started.fire_at),
            cause: started.cause,
            state: if started_at.is_some() {
                ExecutionState::Running
            } else {
                ExecutionState::Pending
            },
            instance: started.instance,
            attempts: started_at
                .map(|at| Attempt {
                    number: 1,
                    started_at: at,
                    finished_at: None,
                    outcome: None,
                })
                .into_iter()
                .collect(),
            started_at,
            finished_at: None,
        };
        let entry = self.jobs.entry(execution.job.clone()).or_default();
        match self.executions.insert(execution.id, execution) {
            None => entry.ids.push_back(started.id),
            Some(replaced) if replaced.state.is_terminal() => entry.ended -= 1,
            Some(_) => {}
        }
    }

    /// Drops `job`'s oldest ended executions until at most `keep_last` of
    /// them are left.
    fn keep_last(&mut self, job: &str, keep_last: usize) {
        let Some(entry) = self.jobs.get_mut(job) else {
            return;
        };
        while entry.ended > keep_last {
            let executions = &self.executions;
            let position = entry.ids.iter().position(|id| {
                executions
                    .get(id)
                    .is_some_and(|execution| execution.state.is_terminal())
            });
            let Some(position) = position else {
                break;
            };
            if let Some(id) = entry.ids.remove(position) {
                self.executions.remove(&id);
            }
            entry.ended -= 1;
        }
    }

    /// Drops `job`'s ended executions due before `cutoff`.
    fn prune_older_than(&mut self, job: &str, cutoff: SystemTime) {
        let Some(entry) = self.jobs.get_mut(job) else {
            return;
        };
        let executions = &mut self.executions;
        entry.ids.retain(|id| {
            let old = executions.get(id).is_some_and(|execution| {
                execution.state.is_terminal() && execution.fire_at < cutoff
            });
            if old {
                executions.remove(id);
                entry.ended -= 1;
            }
            !old
        });
    }
}

/// Puts `attempt` in place of the attempt with its number, or after the
/// others.
fn put_attempt(attempts: &mut Vec<Attempt>, attempt: Attempt) {
    match attempts
        .iter_mut()
        .find(|known| known.number == attempt.number)
    {
        Some(known) => *known = attempt,
        None => attempts.push(attempt),
    }
}

impl Store for MemoryStore {
    fn recover(&self, now: SystemTime) -> StoreFuture<'_, Recovered> {
        let now = truncate_millis(now);
        let mut inner = self.lock();
        let mut abandoned = Vec::new();
        for execution in inner.executions.values_mut() {
            if !matches!(
                execution.state,
                ExecutionState::Running | ExecutionState::Retrying
            ) {
                continue;
            }
            if execution.state == ExecutionState::Running {
                if let Some(attempt) = execution
                    .attempts
                    .last_mut()
                    .filter(|attempt| attempt.outcome.is_none())
                {
                    attempt.finished_at = Some(now);
                    attempt.outcome = Some(Outcome::Abandoned);
                }
            }
            execution.state = ExecutionState::Abandoned;
            execution.finished_at = Some(now);
            abandoned.push(execution.clone());
        }
        for execution in &abandoned {
            if let Some(entry) = inner.jobs.get_mut(&execution.job) {
                entry.ended += 1;
            }
        }
        for execution in &abandoned {
            inner.keep_last(&execution.job, self.retention.keep_last);
        }
        let schedules = inner.schedules.values().cloned().collect();
        Box::pin(ready(Ok(Recovered {
            abandoned,
            schedules,
        })))
    }

    fn next_id(&self) -> ExecutionId {
        ExecutionId(self.last_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, change: Change) {
        self.lock().apply(change, self.retention.keep_last);
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(ready(Ok(())))
    }

    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
        let rows = self.lock().schedules.values().cloned().collect();
        Box::pin(ready(Ok(rows)))
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
        let inner = self.lock();
        let limit = filter.limit.unwrap_or(usize::MAX);
        let found: Vec<Execution> = match filter.job.as_deref() {
            Some(job) => {
                let ids = inner.jobs.get(job).map(|entry| &entry.ids);
                let ids = ids.into_iter().flatten();
                let executions = ids.filter_map(|id| inner.executions.get(id));
                pick(executions, &filter, limit)
            }
            None => pick(inner.executions.values(), &filter, limit),
        };
        Box::pin(ready(Ok(found)))
    }

    fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
        let found = self.lock().executions.get(&id).cloned();
        Box::pin(ready(Ok(found)))
    }

    fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        let at = self
            .lock()
            .jobs
            .get(job)
            .and_then(|entry| entry.last_completed_at);
        Box::pin(ready(Ok(at)))
    }

    fn prune<'a>(
        &'a self,
        job: &'a str,
        retention: Retention,
        now: SystemTime,
    ) -> StoreFuture<'a, u64> {
        let mut inner = self.lock();
        let before = inner.executions.len();
        if let Some(cutoff) = now.checked_sub(retention.keep_for) {
            inner.prune_older_than(job, cutoff);
        }
        inner.keep_last(job, retention.keep_last);
        let removed = before - inner.executions.len();
        Box::pin(ready(Ok(removed as u64)))
    }
}

/// The executions among `executions` (in id order) that pass `filter`, in
/// its order, at most `limit`.
fn pick<'a>(
    executions: impl DoubleEndedIterator<Item = &'a Execution>,
    filter: &ExecutionFilter,
    limit: usize,
) -> Vec<Execution> {
    let matching = |execution: &&Execution| filter.matches(execution);
    if filter.newest_first {
        executions
            .rev()
            .filter(matching)
            .take(limit)
            .cloned()
            .collect()
    } else {
        executions.filter(matching).take(limit).cloned().collect()
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
        store.record(Change::Started(NewExecution {
            id,
            job: job.into(),
            fire_at: at,
            cause: Cause::Schedule,
            instance: "host".into(),
            started_at: Some(at),
        }));
        if state.is_terminal() {
            store.record(Change::Finished {
                id,
                job: job.into(),
                state,
                at,
            });
        }
        id
    }

    fn kept(store: &MemoryStore, job: &str) -> Vec<ExecutionId> {
        let inner = store.lock();
        let ids = inner.jobs.get(job).map(|entry| entry.ids.clone());
        ids.unwrap_or_default().into()
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
        assert_eq!(store.lock().executions.len(), 5, "memory stays bounded");

        // The running one ends: it is the oldest (by id, as every store
        // counts), so it is the one that goes.
        store.record(Change::Finished {
            id: running,
            job: "a".into(),
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
        let recovered = store.recover(UNIX_EPOCH + Duration::from_secs(1)).await;
        assert_eq!(recovered.unwrap().abandoned.len(), 1);
        assert_eq!(kept(&store, "a"), [running]);
    }
}
