//! What the engine is given to run a started job: the job as registered
//! ([`Registered`]), its runnable form, and the settings the jobs started
//! together share; [`Fire`], one fire handed to the executor; and
//! [`Replaceable`], the runs another instance may replace.
//!
//! The engine reads a registered job only through [`Registered`], which the
//! manager's registry implements, so no dependency points back up.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::slots::SlotPool;
use crate::job::runnable::Runnable;
use crate::model::abort::AbortCause;
use crate::model::clock::Clock;
use crate::model::execution::{Cause, ExecutionId};
use crate::observe::stats::StatsCell;
use crate::store::{Change, Continuation, Recorder, Store};
use crate::JobSpec;

/// A registered job as the engine sees it: what it is, its statistics, and
/// whether it is paused; and, for a job that runs after another, how to
/// tell it that its upstream job succeeded.
pub(crate) trait Registered: Send + Sync + 'static {
    fn name(&self) -> &Arc<str>;
    fn spec(&self) -> &JobSpec;
    fn stats(&self) -> &StatsCell;
    fn is_paused(&self) -> bool;
    /// Why the job's runs are being aborted, which an aborted execution
    /// records.
    fn abort_cause(&self) -> AbortCause;
    /// Execution `id` was aborted because this instance fenced itself: it
    /// is left unfinished in the store, for this instance to take back at
    /// its next rescue, once it reaches the store again.
    fn fenced(&self, id: ExecutionId);
    /// The job's upstream job succeeded at `at`: the job runs once now, if
    /// it is started.
    fn upstream_completed(&self, at: SystemTime);
}

/// Everything the executor needs to run one job, resolved at start.
pub(crate) struct ActiveJob {
    /// The registered job: name, spec, stats.
    pub(crate) slot: Arc<dyn Registered>,
    pub(crate) runnable: Arc<dyn Runnable>,
    pub(crate) settings: Arc<RunSettings>,
    /// The jobs that run after each success of this one.
    pub(crate) dependents: Box<[Arc<dyn Registered>]>,
    /// Where the job's executions and fires are recorded, as this
    /// process's; `None` when the store keeps nothing.
    pub(crate) recorder: Option<Arc<dyn Recorder>>,
    /// Its runs that a newer execution claimed on another instance may
    /// replace (overlap `replace`, in a shared store).
    pub(crate) replaceable: Replaceable,
}

/// The runs of a job with the overlap policy `replace` that this instance
/// claimed in a shared store, by execution id, with their tokens: a newer
/// execution claimed on another instance cancels them through the store.
#[derive(Default)]
pub(crate) struct Replaceable(Mutex<Vec<(ExecutionId, CancellationToken)>>);

impl Replaceable {
    /// Holds the run of execution `id`, cancelled by `token`, until the
    /// returned guard is dropped.
    pub(crate) fn hold(&self, id: ExecutionId, token: CancellationToken) -> Held<'_> {
        self.runs().push((id, token));
        Held { runs: self, id }
    }

    /// Cancels the run of execution `id`, if it is held and not cancelled
    /// yet; returns whether it was.
    pub(crate) fn cancel(&self, id: ExecutionId) -> bool {
        let runs = self.runs();
        let run = runs
            .iter()
            .find(|(held, token)| *held == id && !token.is_cancelled());
        run.inspect(|(_, token)| token.cancel()).is_some()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, Vec<(ExecutionId, CancellationToken)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A run held in a [`Replaceable`], until dropped.
pub(crate) struct Held<'a> {
    runs: &'a Replaceable,
    id: ExecutionId,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.runs.runs().retain(|(held, _)| *held != self.id);
    }
}

/// What the jobs started together share: where runs are spawned, and the
/// manager's settings at that start.
pub(crate) struct RunSettings {
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) clock: Clock,
    pub(crate) misfire_threshold: Duration,
    /// The slot pool, when slots are limited.
    pub(crate) pool: Option<Arc<SlotPool>>,
    /// Notified each time one of these jobs has stopped.
    pub(crate) stopped: Notify,
    /// Where executions are recorded: each job's recorder, and the
    /// execution ids.
    pub(crate) store: Arc<dyn Store>,
    /// The name of this process in the store's records.
    pub(crate) instance: Arc<str>,
    /// Whether scheduled fires are claimed in the store before they run: it
    /// is [shared](crate::store::Store::shared) by several processes.
    pub(crate) claims: bool,
    /// How long before they are due scheduled fires are claimed (see
    /// [`FleetTimings::claim_lead`](crate::store::FleetTimings::claim_lead)):
    /// zero unless the store is shared.
    pub(crate) lead: Duration,
}

impl ActiveJob {
    pub(crate) fn name(&self) -> &Arc<str> {
        self.slot.name()
    }

    pub(crate) fn spec(&self) -> &JobSpec {
        self.slot.spec()
    }

    pub(crate) fn stats(&self) -> &StatsCell {
        self.slot.stats()
    }

    /// Records the change `change` makes, if the store keeps anything: a
    /// store that keeps nothing costs no change built.
    #[inline]
    pub(crate) fn record(&self, change: impl FnOnce() -> Change) {
        if let Some(recorder) = &self.recorder {
            recorder.record(change());
        }
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.settings.clock
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.slot.is_paused()
    }
}

/// One fire handed to the executor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fire {
    /// The instant the fire was due.
    pub(crate) due: Instant,
    /// The wall-clock time it was due, as its execution records it.
    pub(crate) fire_at: SystemTime,
    /// Why it runs.
    pub(crate) cause: Cause,
    /// The number of its first attempt: 1, or more for a recovery that
    /// continues an abandoned execution.
    pub(crate) first_attempt: u32,
    /// The completion time of the upstream run that caused it, if any.
    pub(crate) upstream_completed_at: Option<SystemTime>,
    /// The job's interval when it fired, which the run is compared with for
    /// the slow-run warning; `None` for cron and unscheduled jobs.
    pub(crate) interval: Option<Duration>,
    /// Whether it runs from the job's backlog (missed fires caught up, one
    /// after another): in a fleet, a claim refused because the job is busy
    /// elsewhere is made again until there is room, rather than skipped.
    pub(crate) queued: bool,
    /// The execution claimed for it already: a continuation that its
    /// takeover claimed in the same transaction.
    pub(crate) won: Option<Won>,
}

/// An execution this instance claimed: its id and lease token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Won {
    pub(crate) id: ExecutionId,
    pub(crate) lease_token: Option<u64>,
}

/// The continuation a store claimed as it took an execution over.
impl From<Continuation> for Won {
    fn from(continuation: Continuation) -> Self {
        Won {
            id: continuation.id,
            lease_token: continuation.lease_token,
        }
    }
}
