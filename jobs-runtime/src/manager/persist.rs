//! What the manager keeps in its [`Store`]: setting the store and reading
//! back what it kept (schedule rows, last completions, abandoned
//! executions), each job's start plan from that, the schedule rows it
//! writes, and the history it reads.
//!
//! A job's start plan follows the restart rules of
//! [`crate::model::resume`]: the fires missed while no process ran
//! the job go through its `missed` policy, `run_on_start` runs it only if it
//! never fired or its last fire was missed, an interval grid keeps the
//! anchor the store keeps, and each abandoned execution whose job's retry
//! policy allows another attempt is continued by a new execution (cause
//! `recovery`) from the next attempt number.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{lock, JobManager, JobSlot};
use crate::engine::active::{ActiveJob, Fire, Won};
use crate::engine::scheduler::Timing;
use crate::model::execution::{
    truncate_millis, Cause, Execution, ExecutionFilter, ExecutionId, ExecutionState,
};
use crate::model::resume::{self, Grid, Known};
use crate::store::{
    Change, Continuation, Field, FleetTimings, Instance, NullStore, Recorder, Rescue, Rescued,
    ScheduleRow, Store,
};
use crate::{events, Error, Schedule};

impl JobManager {
    /// Keeps executions and schedules in `store` from now on (without a
    /// store set, none are kept): reads back what it kept (each job's
    /// schedule row, pause and `set_schedule` override, its last
    /// completion) and marks the executions a dead process left running
    /// `abandoned` (their jobs' retry policy continues them at start).
    ///
    /// Call it before starting jobs; with jobs started it fails with
    /// [`Error::StoreInUse`].
    ///
    /// ```
    /// use jobs_runtime::{store::MemoryStore, JobManager};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), jobs_runtime::Error> {
    /// let manager = JobManager::new();
    /// manager.set_store(MemoryStore::new()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_store(&self, store: impl Store) -> Result<(), Error> {
        self.set_store_arc(Arc::new(store)).await
    }

    /// Opens the store `url` names (see [`store::open`](crate::store::open):
    /// `sqlite://jobs.db`, `postgres://host/database`, `memory:`) and
    /// [sets](Self::set_store) it. A store several instances share takes
    /// the [fleet timings](Self::set_fleet_timings), each of which
    /// `JOBS_HEARTBEAT`, `JOBS_DEAD_AFTER`, `JOBS_STUCK_GRACE` and
    /// `JOBS_CLAIM_LEAD` override (`5s`, `20s`, `1m`, `100ms`; `0` for no
    /// lead); a value there that is no duration, or is out of range, is an
    /// error naming the variable.
    pub async fn connect(&self, url: &str) -> Result<(), Error> {
        let timings = lock(&self.inner.settings).fleet_timings;
        let timings = super::env::fleet_timings(timings)?;
        let store = crate::store::open_with(url, timings).await?;
        self.set_store_arc(store).await
    }

    /// How the instances that share a store [`connect`](Self::connect)
    /// opens watch each other: heartbeat, dead-after bound and stuck grace
    /// (see [`FleetTimings`]). Call it before `connect`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobs_runtime::{store::FleetTimings, JobManager};
    ///
    /// let manager = JobManager::new();
    /// let timings = FleetTimings::new(
    ///     Duration::from_secs(1),
    ///     Duration::from_secs(5),
    ///     Duration::from_secs(30),
    /// )?;
    /// manager.set_fleet_timings(timings);
    /// assert_eq!(manager.fleet_timings(), timings);
    /// # Ok::<(), jobs_runtime::Error>(())
    /// ```
    pub fn set_fleet_timings(&self, timings: FleetTimings) {
        lock(&self.inner.settings).fleet_timings = timings;
    }

    /// The fleet timings in effect: the store's if it is shared, or else
    /// those [`connect`](Self::connect) would give it.
    pub fn fleet_timings(&self) -> FleetTimings {
        let settings = lock(&self.inner.settings);
        let store = settings.store.as_ref().and_then(|store| store.timings());
        store.unwrap_or(settings.fleet_timings)
    }

    /// How many late changes of this instance's executions were discarded
    /// because another instance had taken them over (it was taken for dead,
    /// or its attempt for stuck): each logged `execution_fenced`; 0 without
    /// a store several instances share.
    pub fn fenced_count(&self) -> u64 {
        let settings = lock(&self.inner.settings);
        settings
            .store
            .as_ref()
            .map_or(0, |store| store.fenced_count())
    }

    /// How far this process's wall clock is ahead of the database's, in
    /// milliseconds (negative: behind), as its latest heartbeat measured
    /// it; `None` without a store several instances share, or before its
    /// first heartbeat. Fire instants and leases are judged by the
    /// database's clock, so an offset only moves the times recorded.
    pub fn clock_offset_ms(&self) -> Option<i64> {
        let settings = lock(&self.inner.settings);
        settings
            .store
            .as_ref()
            .and_then(|store| store.clock_offset_ms())
    }

    async fn set_store_arc(&self, store: Arc<dyn Store>) -> Result<(), Error> {
        let slots: Vec<Arc<JobSlot>> = lock(&self.inner.registry).slots.clone();
        if let Some(started) = slots.iter().find(|slot| slot.is_started()) {
            return Err(Error::StoreInUse {
                name: started.name.to_string(),
            });
        }
        let (clock, available) = {
            let settings = lock(&self.inner.settings);
            (settings.clock, settings.available_slots)
        };
        let now = clock.now();
        store.set_slots(available);
        // A shared store claims the continuations of the executions it
        // abandons as it recovers, by the jobs' retries.
        let jobs: Vec<Rescue> = slots
            .iter()
            .map(|slot| {
                Rescue::new(slot.name.to_string()).retries(slot.spec.retry_policy().retries)
            })
            .collect();
        let recovered = store.recover(now, &self.instance(), &jobs).await?;
        // The recurring jobs the store has not met are registered, anchored
        // at a time the store can keep exactly, by its clock; a row another
        // process registered meanwhile is taken as it is.
        let anchor = truncate_millis(by_store_clock(now, store.clock_offset_ms()));
        let new_rows: Vec<ScheduleRow> = slots
            .iter()
            .filter(|slot| {
                slot.spec.schedule().is_some()
                    && !recovered.schedules.iter().any(|row| *row.job == *slot.name)
            })
            .map(|slot| slot.row(anchor, None))
            .collect();
        let mut rows = store.register(new_rows.clone()).await?;
        let taken: Vec<&str> = rows.iter().map(|row| row.job.as_str()).collect();
        let fresh: Vec<ScheduleRow> = new_rows
            .into_iter()
            .filter(|row| !taken.contains(&row.job.as_str()))
            .collect();
        rows.extend(recovered.schedules);
        let mut kept = Vec::with_capacity(slots.len());
        for slot in &slots {
            let completed = store.last_completed_at(&slot.name).await?;
            kept.push((completed, store.totals(&slot.name).await?));
        }
        let mut problems = Vec::new();
        for (slot, (completed, totals)) in slots.iter().zip(kept) {
            slot.stats.restore(&totals, completed);
            let find =
                |rows: &[ScheduleRow]| rows.iter().find(|row| *row.job == *slot.name).cloned();
            let row = match find(&fresh) {
                Some(row) => Kept::New(row),
                None => find(&rows).map_or(Kept::Nothing, Kept::Row),
            };
            let abandoned = recovered
                .abandoned
                .iter()
                .filter(|rescued| *rescued.execution.job == *slot.name)
                .cloned()
                .collect();
            if let Err(problem) = slot.adopt(row, abandoned) {
                problems.push(problem);
            }
        }
        Error::from_problems(problems)?;
        let mut settings = lock(&self.inner.settings);
        settings.store = Some(store);
        settings.store_set = true;
        Ok(())
    }

    /// The store executions are kept in: the one [set](Self::set_store),
    /// or, by default, one that keeps nothing (the stats still count every
    /// execution).
    pub(super) fn store(&self) -> Arc<dyn Store> {
        let mut settings = lock(&self.inner.settings);
        Arc::clone(
            settings
                .store
                .get_or_insert_with(|| Arc::new(NullStore::default())),
        )
    }

    /// Writes the part of `slot`'s schedule row a control call `changed`
    /// to the store, as the job stands now.
    pub(super) fn save_row(&self, slot: &JobSlot, changed: Field) {
        let recorder = self.store().recorder(&slot.name, &self.instance());
        slot.save_row(&*recorder, self.now(), changed);
    }

    /// This process's name in the store's records: `JOBS_INSTANCE`, or the
    /// host's name and the process id (`host-1234`).
    pub(super) fn instance(&self) -> Arc<str> {
        let mut settings = lock(&self.inner.settings);
        Arc::clone(settings.instance.get_or_insert_with(instance_name))
    }

    /// The executions `filter` selects, newest first unless it says
    /// otherwise, each with its attempts: from the store, so with a
    /// database store they include earlier processes' executions. Without
    /// a store set, none is kept.
    ///
    /// ```
    /// use jobs_runtime::{execution::ExecutionFilter, job, store::MemoryStore, JobManager};
    ///
    /// #[job(name = "digest", every = "1h", run_on_start = false)]
    /// async fn digest() {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), jobs_runtime::Error> {
    /// let manager = JobManager::discover();
    /// // A store that keeps history; without one, none is kept.
    /// manager.set_store(MemoryStore::new()).await?;
    /// manager.start_all()?;
    /// manager.trigger("digest")?;
    /// # tokio::task::yield_now().await;
    /// manager.stop_all().await;
    /// let history = manager.executions(ExecutionFilter::new().job("digest")).await?;
    /// assert_eq!(history.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn executions(&self, filter: ExecutionFilter) -> Result<Vec<Execution>, Error> {
        Ok(self.store().executions(filter).await?)
    }

    /// The instances that share this manager's store, with their
    /// heartbeats (the database's clock): with PostgreSQL, every process
    /// that runs these jobs as a fleet, dead ones included until their row
    /// is reused; none with a store of one process.
    pub async fn instances(&self) -> Result<Vec<Instance>, Error> {
        Ok(self.store().instances().await?)
    }

    /// One execution, with its attempts; `None` if the store has no such
    /// execution (it never existed, or was pruned).
    pub async fn execution(&self, id: ExecutionId) -> Result<Option<Execution>, Error> {
        Ok(self.store().execution(id).await?)
    }

    /// Waits until everything recorded is durable; a write that failed is
    /// logged.
    pub(super) async fn flush_store(&self) {
        if let Err(error) = self.store().flush().await {
            events::store_failed(&error);
        }
    }
}

impl JobSlot {
    /// Takes what the store kept for this job: its schedule row (its pause
    /// and schedule override now, the rest at its next start) and the
    /// executions a dead process abandoned, with the continuations a
    /// shared store claimed for them.
    fn adopt(&self, kept: Kept, abandoned: Vec<Rescued>) -> Result<(), Error> {
        if let Kept::Row(row) = &kept {
            self.paused.store(row.paused, Ordering::SeqCst);
            if let Some(text) = &row.schedule_override {
                let schedule: Schedule = text.parse().map_err(|error| Error::StoredSchedule {
                    job: self.name.to_string(),
                    value: text.clone(),
                    reason: format!("{error}"),
                })?;
                *lock(&self.schedule_override) = Some(Some(schedule));
            }
        }
        let any = !matches!(kept, Kept::Nothing) || !abandoned.is_empty();
        lock(&self.resume).stored = any.then(|| Box::new(Stored { kept, abandoned }));
        Ok(())
    }

    /// Ends `cancelled` in `store`, as `instance`, the continuations a
    /// shared store claimed for this job when it was set, if the job has
    /// not started to run them: so that they do not hold its limit in the
    /// fleet once this manager stops.
    pub(super) fn cancel_continuations(&self, store: &dyn Store, instance: &str, now: SystemTime) {
        let abandoned = match lock(&self.resume).stored.as_mut() {
            Some(stored) => std::mem::take(&mut stored.abandoned),
            None => return,
        };
        let continuations = abandoned.into_iter().filter_map(|r| r.continuation);
        self.cancel(store, instance, continuations, now);
    }

    /// Ends `cancelled` in `store`, as `instance`, `continuations` of this
    /// job that will not run here.
    pub(super) fn cancel(
        &self,
        store: &dyn Store,
        instance: &str,
        continuations: impl IntoIterator<Item = Continuation>,
        now: SystemTime,
    ) {
        let mut recorder = None;
        for continuation in continuations {
            let recorder = recorder.get_or_insert_with(|| store.recorder(&self.name, instance));
            recorder.record(Change::Finished {
                id: continuation.id,
                state: ExecutionState::Cancelled,
                at: now,
            });
        }
    }

    /// Writes the part of this job's schedule row a control call `changed`
    /// to `store`, as the job stands: its pause, or its schedule override
    /// with its grid's anchor (now, for a job that has none yet).
    pub(super) fn save_row(&self, recorder: &dyn Recorder, now: SystemTime, changed: Field) {
        let anchor = lock(&self.resume).anchor().unwrap_or(now);
        let row = self.row(anchor, None);
        recorder.record(Change::Control { row, changed });
    }

    /// Anchors the job's grid at `now`: a new schedule counts from there.
    pub(super) fn reanchor(&self, now: SystemTime) {
        let mut resume = lock(&self.resume);
        resume.anchor = Some(now);
        if let Some(row) = resume
            .stored
            .as_mut()
            .and_then(|stored| stored.kept.row_mut())
        {
            row.anchor = now;
        }
    }

    /// This job's schedule row with `anchor` and `last_fire`.
    fn row(&self, anchor: SystemTime, last_fire: Option<SystemTime>) -> ScheduleRow {
        let schedule_override = lock(&self.schedule_override)
            .clone()
            .flatten()
            .map(|schedule| schedule.to_string());
        ScheduleRow {
            job: self.name.to_string(),
            anchor,
            last_fire,
            last_success: None,
            paused: self.is_paused(),
            schedule_override,
        }
    }

    /// The job's timing at a start at `start`, and the fires it runs first,
    /// one after another: the abandoned executions it continues, then the
    /// missed fires its policy runs. Counts and logs the missed fires that
    /// do not run, and writes the job's schedule row.
    pub(super) fn plan_start(
        &self,
        active: &ActiveJob,
        schedule: Option<&Schedule>,
        start: Instant,
    ) -> (Timing, Vec<Fire>) {
        let settings = &active.settings;
        let clock = settings.clock;
        let wall_start = clock.wall_at(start);
        let interval = match schedule {
            Some(Schedule::Every(interval)) => Some(*interval),
            _ => None,
        };
        let fire = |fire_at: SystemTime, cause: Cause, first_attempt: u32| Fire {
            due: start,
            fire_at,
            cause,
            first_attempt,
            upstream_completed_at: None,
            interval,
            queued: false,
            won: None,
        };
        let retries = self.spec.retry_policy().retries;
        // What the store kept is used once: a job started again in the same
        // process gets a new grid from now.
        let stored = lock(&self.resume).stored.take().map(|stored| *stored);
        let (kept, abandoned) = match stored {
            Some(Stored { kept, abandoned }) => (kept, abandoned),
            None => (Kept::Nothing, Vec::new()),
        };
        let shared = active.settings.claims;
        let mut backlog: Vec<Fire> = abandoned
            .into_iter()
            .filter_map(|rescued| {
                let attempt = match rescued.continuation {
                    Some(continuation) => continuation.attempt,
                    // A store of one process claims none: the job continues it.
                    None if !shared => rescued.execution.continued_attempt(retries, 0)?,
                    None => return None,
                };
                Some(Fire {
                    won: rescued.continuation.map(Won::from),
                    ..fire(rescued.execution.fire_at, Cause::Recovery, attempt)
                })
            })
            .collect();
        let Some(schedule) = schedule else {
            return (Timing::Unscheduled, backlog);
        };
        let known = match &kept {
            Kept::Row(row) => Known {
                last_fire: row.last_fire,
                since: Some(row.last_fire.unwrap_or(row.anchor)),
                anchor: Some(row.anchor),
            },
            Kept::New(row) => Known {
                last_fire: None,
                since: None,
                anchor: Some(row.anchor),
            },
            Kept::Nothing => Known {
                last_fire: None,
                since: None,
                anchor: None,
            },
        };
        let anchor = kept.row().map_or(wall_start, |row| row.anchor);
        lock(&self.resume).anchor = Some(anchor);
        let fixed_delay = self.spec.is_fixed_delay();
        let grid = match schedule {
            Schedule::Every(interval) if fixed_delay => Grid::Delay(*interval),
            Schedule::Every(interval) => Grid::Every {
                anchor,
                interval: *interval,
            },
            Schedule::Cron(cron) => Grid::Cron(cron),
        };
        let missed = self.spec.missed_policy();
        let plan = resume::plan(
            grid,
            known,
            wall_start,
            settings.misfire_threshold,
            missed,
            self.spec.runs_on_start_with(Some(schedule)),
        );
        if plan.missed > 0 {
            let total = self.stats.missed(plan.missed);
            events::execute_missed(&self.name, plan.missed, total, missed.as_str());
        }
        backlog.extend(
            plan.backlog
                .iter()
                .map(|&fire_at| fire(fire_at, Cause::Schedule, 1)),
        );
        match (&kept, plan.reached) {
            // The store has the job's row: only the last fire moves (the
            // store keeps the later one). Its pause and schedule are left
            // as they are, which another process may have changed since
            // they were read.
            (Kept::Row(_) | Kept::New(_), Some(at)) => active.record(|| Change::Fired { at }),
            (Kept::Row(_) | Kept::New(_), None) => {}
            (Kept::Nothing, reached) => {
                let row = self.row(anchor, reached);
                active.record(|| Change::Schedule(row));
            }
        }
        let timing = Timing::planned(Some(schedule), fixed_delay, (start, wall_start), plan.first);
        (timing, backlog)
    }
}

/// `JOBS_INSTANCE`, or the host's name and the process id.
fn instance_name() -> Arc<str> {
    if let Ok(name) = std::env::var(super::env::INSTANCE) {
        if !name.trim().is_empty() {
            return Arc::from(name.trim());
        }
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    Arc::from(format!("{host}-{}", std::process::id()))
}

/// A job's grid anchor, and what the store kept for its next start.
#[derive(Debug, Default)]
pub(super) struct Resume {
    /// The anchor of its interval grid, once it has started.
    anchor: Option<SystemTime>,
    /// What the store kept, until the job's next start resumes from it:
    /// boxed, as most jobs have nothing kept.
    stored: Option<Box<Stored>>,
}

/// What the store kept of a job for its next start.
#[derive(Debug)]
struct Stored {
    /// Its schedule row.
    kept: Kept,
    /// Its executions that a dead process abandoned, which the job's retry
    /// policy continues, each with the continuation a shared store claimed.
    abandoned: Vec<Rescued>,
}

/// A job's schedule row, as the store had it when it was set.
#[derive(Debug)]
enum Kept {
    /// The store had no row, and none was registered.
    Nothing,
    /// This process registered the row: the store had just met the job,
    /// which missed nothing.
    New(ScheduleRow),
    /// The store had the row: from an earlier process, or registered by
    /// another process at the same time.
    Row(ScheduleRow),
}

impl Kept {
    fn row(&self) -> Option<&ScheduleRow> {
        match self {
            Kept::Nothing => None,
            Kept::New(row) | Kept::Row(row) => Some(row),
        }
    }

    fn row_mut(&mut self) -> Option<&mut ScheduleRow> {
        match self {
            Kept::Nothing => None,
            Kept::New(row) | Kept::Row(row) => Some(row),
        }
    }
}

impl Resume {
    /// The grid's anchor: the one it started with, else the stored row's.
    fn anchor(&self) -> Option<SystemTime> {
        let stored = self.stored.as_ref().and_then(|stored| stored.kept.row());
        self.anchor.or(stored.map(|row| row.anchor))
    }
}

/// `now` by the clock of a store that processes share: less how far this
/// process's clock is ahead of the database's (`offset_ms`, as measured),
/// so that a grid this process anchors is where the fleet's clock puts
/// it, whatever this process's clock says. `now` itself without an offset
/// (or with one that would put it before the epoch).
pub(super) fn by_store_clock(now: SystemTime, offset_ms: Option<i64>) -> SystemTime {
    let offset = Duration::from_millis(offset_ms.unwrap_or(0).unsigned_abs());
    let moved = match offset_ms {
        Some(ahead) if ahead > 0 => now.checked_sub(offset),
        _ => now.checked_add(offset),
    };
    moved
        .filter(|moved| *moved >= SystemTime::UNIX_EPOCH)
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_clock_is_this_clock_less_its_offset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let second = Duration::from_secs(1);
        assert_eq!(by_store_clock(now, None), now);
        assert_eq!(by_store_clock(now, Some(0)), now);
        assert_eq!(by_store_clock(now, Some(1_000)), now - second);
        assert_eq!(by_store_clock(now, Some(-1_000)), now + second);
        // An offset past the epoch leaves the time as it is.
        assert_eq!(by_store_clock(now, Some(i64::MAX)), now);
    }
}
