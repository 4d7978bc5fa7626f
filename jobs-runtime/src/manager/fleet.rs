//! What an instance does to keep in step with the others that share its
//! store, every [`ROUND`]: it takes over the executions a dead instance
//! left running and continues them here by their jobs' retry policy, and
//! it follows the pauses and schedules set on other instances (they are in
//! the jobs' schedule rows).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{lock, Inner, JobManager, JobSlot};
use crate::engine::active::Fire;
use crate::events;
use crate::model::execution::{Cause, Execution};
use crate::{Error, Schedule};

/// How often an instance looks for the executions of dead instances and
/// for pauses and schedules set elsewhere: with the store's dead-after
/// bound (20 s for PostgreSQL), a dead instance's execution is continued
/// within about 25 s, and a pause on one instance holds on every one
/// within about 5 s.
pub(crate) const ROUND: Duration = Duration::from_secs(5);

/// What a job's schedule row said at the previous round: its pause and
/// its schedule override.
type Seen = HashMap<String, (bool, Option<String>)>;

/// Spawns the fleet task of `manager`'s jobs, until `stop` fires or the
/// manager is dropped.
pub(super) fn spawn(manager: Weak<Inner>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut seen = None;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = tokio::time::sleep(ROUND) => {}
            }
            let Some(inner) = manager.upgrade() else {
                return;
            };
            let manager = JobManager { inner };
            manager.rescue().await;
            manager.follow(&mut seen).await;
        }
    });
}

impl JobManager {
    /// One round: asks the store for the executions of this manager's
    /// started jobs that dead instances left, and continues each.
    async fn rescue(&self) {
        let jobs: Vec<String> = lock(&self.inner.registry)
            .slots
            .iter()
            .filter(|slot| slot.is_started())
            .map(|slot| slot.name.to_string())
            .collect();
        if jobs.is_empty() {
            return;
        }
        let store = self.store();
        match store.rescue(self.now(), &self.instance(), &jobs).await {
            Ok(executions) => executions
                .into_iter()
                .for_each(|execution| self.continue_rescued(execution)),
            Err(error) => events::store_fleet_failed("executions of dead instances", &error),
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

    /// Continues `execution`, abandoned by a dead instance, from its next
    /// attempt, if its job's retries allow one.
    fn continue_rescued(&self, execution: Execution) {
        let Ok(slot) = self.slot(&execution.job) else {
            return;
        };
        let tried = execution
            .attempts
            .iter()
            .map(|attempt| attempt.number)
            .max()
            .unwrap_or(0);
        let next = (tried <= slot.spec.retry_policy().retries).then(|| tried.saturating_add(1));
        events::execution_rescued(
            &execution.job,
            execution.id.get(),
            &execution.instance,
            next,
        );
        let (Some(attempt), Some(started)) = (next, slot.started()) else {
            return;
        };
        let interval = match slot.stats.schedule() {
            Some(Schedule::Every(interval)) => Some(interval),
            _ => None,
        };
        started.continue_abandoned(Fire {
            due: Instant::now(),
            fire_at: execution.fire_at,
            cause: Cause::Recovery,
            first_attempt: attempt,
            upstream_completed_at: None,
            interval,
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
