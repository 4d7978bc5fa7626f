//! The rescuer: with a store that several instances share, takes over the
//! executions a dead instance left running and continues them here by
//! their jobs' retry policy.

use std::sync::Weak;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{lock, Inner, JobManager};
use crate::engine::active::Fire;
use crate::events;
use crate::model::execution::{Cause, Execution};
use crate::Schedule;

/// How often the rescuer asks the store for the executions of dead
/// instances: with the store's dead-after bound (20 s for PostgreSQL), a
/// dead instance's execution is continued within about 25 s.
pub(crate) const RESCUE_INTERVAL: Duration = Duration::from_secs(5);

/// Spawns the rescuer of `manager`'s started jobs, until `stop` fires or
/// the manager is dropped.
pub(super) fn spawn(manager: Weak<Inner>, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RESCUE_INTERVAL) => {}
            }
            let Some(inner) = manager.upgrade() else {
                return;
            };
            JobManager { inner }.rescue().await;
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
            Err(error) => events::store_rescue_failed(&error),
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
