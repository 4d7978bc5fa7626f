//! What an instance does to keep in step with the others that share its
//! store, every heartbeat of its [`FleetTimings`]: it takes over the
//! executions a dead instance left running, and those stuck past their
//! timeout and grace, and continues them here by their jobs' retry policy;
//! it cancels its runs that newer executions claimed elsewhere replace;
//! it follows the pauses and schedules set on other instances (they are in
//! the jobs' schedule rows). And more often, it fences itself: when its own
//! heartbeat has not reached the store for the self-fence deadline, it
//! aborts its runs before the others may take them over.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{lock, Inner, JobManager, JobSlot};
use crate::engine::active::{Fire, Won};
use crate::events;
use crate::model::execution::Cause;
use crate::store::{FleetTimings, Rescue, Rescued};
use crate::{Error, Schedule};

/// What a job's schedule row said at the previous round: its pause and
/// its schedule override.
type Seen = HashMap<String, (bool, Option<String>)>;

/// How many fence checks a heartbeat has: an instance fences itself at
/// most a quarter heartbeat after its deadline, well before the others
/// take it for dead.
const CHECKS_PER_HEARTBEAT: u32 = 4;

/// Spawns the fleet task of `manager`'s jobs, with the store's `timings`,
/// until `stop` fires or the manager is dropped. A round comes at every
/// heartbeat, and at once when the store's `wakeups` say another instance
/// changed something to follow.
pub(super) fn spawn(
    manager: Weak<Inner>,
    timings: FleetTimings,
    wakeups: Option<Arc<Notify>>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut seen = None;
        let mut fenced = false;
        let mut checks = tokio::time::interval(timings.heartbeat() / CHECKS_PER_HEARTBEAT);
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round = Instant::now() + timings.heartbeat();
        let woken = || async {
            match &wakeups {
                Some(wakeups) => wakeups.notified().await,
                None => std::future::pending().await,
            }
        };
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                _ = checks.tick() => {}
                () = woken() => round = Instant::now(),
            }
            let Some(inner) = manager.upgrade() else {
                return;
            };
            let manager = JobManager { inner };
            fenced = manager.fence(timings, fenced);
            if Instant::now() < round || fenced {
                continue;
            }
            round = Instant::now() + timings.heartbeat();
            manager.rescue(timings.grace()).await;
            manager.cancel_replaced().await;
            manager.follow(&mut seen).await;
        }
    });
}

impl JobManager {
    /// Fences this instance if its heartbeat is older than its self-fence
    /// deadline: aborts the runs in flight of every started job, once
    /// (`fenced` says whether it is fenced already); returns whether it is
    /// fenced now. New fires wait for the store anyway: their claims fail
    /// while it is out of reach.
    fn fence(&self, timings: FleetTimings, fenced: bool) -> bool {
        let age = self.store().heartbeat_age().unwrap_or(Duration::ZERO);
        let deadline = timings.self_fence();
        match (fenced, age > deadline) {
            (false, true) => {
                let slots: Vec<Arc<JobSlot>> = lock(&self.inner.registry).slots.clone();
                let runs = slots.iter().map(|slot| slot.fence_runs()).sum();
                events::instance_fenced(age, deadline, runs);
                true
            }
            (true, false) => {
                events::instance_unfenced();
                false
            }
            (fenced, _) => fenced,
        }
    }

    /// One round: asks the store for the executions of this manager's
    /// started jobs that dead instances left, or that are stuck on any
    /// instance (running `grace` past their job's timeout), and continues
    /// each.
    async fn rescue(&self, grace: Duration) {
        let jobs: Vec<Rescue> = lock(&self.inner.registry)
            .slots
            .iter()
            .filter(|slot| slot.is_started())
            .map(|slot| {
                let released = std::mem::take(&mut *lock(&slot.fenced));
                let rescue = Rescue::new(slot.name.to_string())
                    .released(released)
                    .retries(slot.spec.retry_policy().retries);
                match slot.spec.timeout_duration() {
                    Some(timeout) => rescue.stuck_after(timeout.saturating_add(grace)),
                    None => rescue,
                }
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        let store = self.store();
        match store.rescue(self.now(), &self.instance(), &jobs).await {
            Ok(executions) => executions
                .into_iter()
                .for_each(|rescued| self.continue_rescued(rescued)),
            Err(error) => {
                // The released executions are asked for again next round.
                for rescue in jobs {
                    if let Ok(slot) = self.slot(&rescue.job) {
                        lock(&slot.fenced).extend(rescue.released);
                    }
                }
                events::store_fleet_failed("executions of dead instances", &error);
            }
        }
    }

    /// Cancels the runs here that newer executions of their jobs, claimed
    /// on other instances under the overlap policy `replace`, replace.
    async fn cancel_replaced(&self) {
        let replaced = match self.store().replaced(&self.instance()).await {
            Ok(replaced) => replaced,
            Err(error) => return events::store_fleet_failed("replaced executions", &error),
        };
        for (job, id) in replaced {
            let started = self.slot(&job).ok().and_then(|slot| slot.started());
            if started.is_some_and(|started| started.job.replaceable.cancel(id)) {
                events::execution_replaced(&job, id.get());
            }
        }
    }

    /// Applies the pauses and schedule overrides that changed in the
    /// schedule rows since the previous round: another instance set them.
    /// A change this instance made itself is already in effect here, so
    /// only a row that changed since the previous round is followed; the
    /// first round follows what differs from this instance's own state.
    async fn follow(&self, seen: &mut Option<Seen>) {
        let rows = match self.store().schedules().await {
            Ok(rows) => rows,
            Err(error) => return events::store_fleet_failed("schedule rows", &error),
        };
        let now: Seen = rows
            .iter()
            .map(|row| (row.job.clone(), (row.paused, row.schedule_override.clone())))
            .collect();
        let before = seen.replace(now);
        for row in rows {
            let Ok(slot) = self.slot(&row.job) else {
                continue;
            };
            // At the first round, what this instance has in effect.
            let local = || {
                let schedule = lock(&slot.schedule_override)
                    .clone()
                    .flatten()
                    .map(|schedule| schedule.to_string());
                (slot.is_paused(), schedule)
            };
            let (was_paused, was_schedule) = match &before {
                Some(before) => match before.get(&row.job) {
                    Some(seen) => seen.clone(),
                    None => continue,
                },
                None => local(),
            };
            let (was_paused, was_schedule) = (&was_paused, &was_schedule);
            if row.paused != *was_paused && slot.is_paused() != row.paused {
                slot.paused.store(row.paused, Ordering::SeqCst);
                events::job_paused(&slot.name, row.paused);
            }
            if row.schedule_override != *was_schedule {
                if let Some(text) = &row.schedule_override {
                    follow_schedule(&slot, text, row.anchor);
                }
            }
        }
    }

    /// Continues an execution abandoned by a dead instance, from its next
    /// attempt, in the continuation the rescue claimed for it, if its job's
    /// retries allowed one. A continuation of a job no longer started here
    /// ends `cancelled`.
    fn continue_rescued(&self, rescued: Rescued) {
        let Rescued {
            execution,
            continuation,
        } = rescued;
        let Ok(slot) = self.slot(&execution.job) else {
            return;
        };
        slot.stats.rescued();
        events::execution_rescued(
            &execution.job,
            execution.id.get(),
            &execution.instance,
            continuation.map(|continuation| continuation.attempt),
        );
        let Some(continuation) = continuation else {
            return;
        };
        let Some(started) = slot.started() else {
            return slot.cancel(&*self.store(), &self.instance(), [continuation], self.now());
        };
        let interval = match slot.stats.schedule() {
            Some(Schedule::Every(interval)) => Some(interval),
            _ => None,
        };
        started.continue_abandoned(Fire {
            due: Instant::now(),
            fire_at: execution.fire_at,
            cause: Cause::Recovery,
            first_attempt: continuation.attempt,
            upstream_completed_at: None,
            interval,
            queued: false,
            won: Some(Won::from(continuation)),
        });
    }
}

/// Takes the schedule `text` another instance set for `slot`'s job, with
/// the grid's `anchor` its row keeps.
fn follow_schedule(slot: &JobSlot, text: &str, anchor: SystemTime) {
    let schedule: Schedule = match text.parse() {
        Ok(schedule) => schedule,
        Err(error) => {
            let problem = Error::StoredSchedule {
                job: slot.name.to_string(),
                value: text.to_owned(),
                reason: format!("{error}"),
            };
            return events::schedule_not_followed(&slot.name, &problem);
        }
    };
    events::schedule_changed(&slot.name, &schedule);
    *lock(&slot.schedule_override) = Some(Some(schedule.clone()));
    slot.reanchor(anchor);
    if let Some(started) = slot.started() {
        slot.stats.set_schedule(Some(schedule.clone()));
        started.set_schedule(Some(&schedule), Some(anchor));
    }
}
