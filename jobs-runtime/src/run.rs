//! [`Run`]: one run of a started job, from its fire to its end, and how it
//! gets polled.
//!
//! Most runs finish without waiting (a quick job does its work and returns
//! in one poll). So the runs the timers hand out together are polled in
//! batches, each batch one task, and a run costs a task of its own only
//! when it has to wait: it then moves to a task of its own, where it is
//! polled again and can be aborted. Runs started outside the timers (a
//! trigger, an upstream job's success, a queued fire) get a task at once.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context::RunToken;
use crate::events::{self, PanicStage};
use crate::executor::{self, panic_message, Fire};
use crate::scheduler::Started;

/// At most this many runs are polled by one batch's task. A run that blocks
/// its thread (which a job must not do: `spawn_blocking` is for that) holds
/// up the runs after it in its batch, as it would hold up the other tasks
/// of its worker.
pub(crate) const BATCH: usize = 16;

/// One run: one fire of a job, from the moment it is started.
///
/// The executor's future is made at the first poll, on the thread that
/// polls it, which for a run that ends in that poll is also the thread that
/// frees it. It is boxed, so that the run can move to a task of its own
/// after its first poll.
///
/// Its end is recorded when it is dropped: finished, aborted, or dropped
/// with its runtime before it was ever polled.
pub(crate) struct Run {
    job: Arc<Started>,
    id: u32,
    stage: Stage,
}

enum Stage {
    /// Not polled yet.
    Due {
        fire: Fire,
        token: RunToken,
    },
    Running(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Between the two, while it is being polled: a run whose poll panicked
    /// is left here.
    Polling,
}

impl Run {
    /// The run `id` of `job`'s fire, with its token.
    pub(crate) fn new(job: &Arc<Started>, id: u32, fire: Fire, token: RunToken) -> Self {
        Run {
            job: Arc::clone(job),
            id,
            stage: Stage::Due { fire, token },
        }
    }

    /// Moves the run to a task of its own on its job's runtime, where it
    /// can be aborted.
    pub(crate) fn spawn(self) {
        let job = Arc::clone(&self.job);
        let id = self.id;
        let task = job.job.settings.runtime.spawn(self);
        job.run_spawned(id, task);
    }
}

impl Future for Run {
    type Output = ();

    /// A panic in the executor's own code (a job's panics are caught at
    /// its attempts) ends this run alone, and is logged: it never reaches
    /// the batch, whose other runs are still to be polled, nor the task.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.id;
        let mut future = match std::mem::replace(&mut self.stage, Stage::Polling) {
            Stage::Due { fire, token } => Box::pin(async move {
                executor::run(&token.started().job, &fire, &token, id).await;
            }),
            Stage::Running(future) => future,
            Stage::Polling => return Poll::Ready(()),
        };
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => {
                self.stage = Stage::Running(future);
                poll
            }
            Err(panic) => {
                self.panicked(future, panic);
                Poll::Ready(())
            }
        }
    }
}

impl Run {
    /// The run's future panicked: drops it (recording the execution, if
    /// one had begun, as aborted) and logs the panic.
    #[cold]
    fn panicked(
        &self,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
        panic: Box<dyn std::any::Any + Send>,
    ) {
        let message = panic_message(panic);
        // The job fires again either way: the run's end is recorded when
        // the run is dropped.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(future)));
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            events::internal_panic(self.job.job.name(), PanicStage::Run, &message, true);
        }));
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.job.run_ended(self.id);
    }
}

/// Polls `runs` in batches, one task each, in order; each batch is spawned
/// on the runtime its jobs were started on.
pub(crate) fn poll_in_batches(runs: &mut Vec<Run>) {
    let mut runs = runs.drain(..).peekable();
    while let Some(first) = runs.next() {
        let settings = Arc::clone(&first.job.job.settings);
        let mut batch = Vec::with_capacity(BATCH);
        batch.push(first);
        while batch.len() < BATCH {
            let Some(run) = runs.next_if(|run| Arc::ptr_eq(&run.job.job.settings, &settings))
            else {
                break;
            };
            batch.push(run);
        }
        settings.runtime.spawn(Batch(batch.into_iter()));
    }
}

/// A batch's task: polls each run once; a run that has to wait moves to a
/// task of its own, where it is polled again.
struct Batch(std::vec::IntoIter<Run>);

impl Future for Batch {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        for mut run in self.0.by_ref() {
            if Pin::new(&mut run).poll(cx).is_pending() {
                run.spawn();
            }
        }
        Poll::Ready(())
    }
}
