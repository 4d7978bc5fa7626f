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

use tokio::task::JoinHandle;

use crate::engine::active::{ActiveJob, Fire};
use crate::engine::executor::{self, panic_message, RunOf, Waits};
use crate::job::context::RunToken;
use crate::observe::events::{self, PanicStage};

/// What a run belongs to: the started job that counts its runs in flight
/// (the [scheduler](super::scheduler)'s started job).
pub(crate) trait Owner: Waits + 'static {
    /// The job the run executes.
    fn active(&self) -> &ActiveJob;
    /// Run `id` moved to a task of its own.
    fn run_spawned(&self, id: u32, task: JoinHandle<()>);
    /// Run `id` ended, was aborted, or was dropped unpolled.
    fn run_ended(self: &Arc<Self>, id: u32);
}

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
pub(crate) struct Run<O: Owner> {
    job: Arc<O>,
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

impl<O: Owner> Run<O> {
    /// The run `id` of `job`'s fire, with its token.
    pub(crate) fn new(job: &Arc<O>, id: u32, fire: Fire, token: RunToken) -> Self {
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
        let task = job.active().settings.runtime.spawn(self);
        job.run_spawned(id, task);
    }
}

impl<O: Owner> Future for Run<O> {
    type Output = ();

    /// A panic in the executor's own code (a job's panics are caught at
    /// its attempts) ends this run alone, and is logged: it never reaches
    /// the batch, whose other runs are still to be polled, nor the task.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.id;
        let mut future = match std::mem::replace(&mut self.stage, Stage::Polling) {
            Stage::Due { fire, token } => {
                let job = Arc::clone(&self.job);
                // One allocation per run: keep this future under 1 KiB
                // (888 bytes today), where the allocator serves it from its
                // per-thread cache; past that, each run costs a few hundred
                // instructions more (`--bench paused`).
                Box::pin(async move {
                    let run = RunOf {
                        token: &token,
                        id,
                        waits: &*job,
                    };
                    executor::run(job.active(), &fire, run).await;
                })
            }
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

impl<O: Owner> Run<O> {
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
            events::internal_panic(self.job.active().name(), PanicStage::Run, &message, true);
        }));
    }
}

impl<O: Owner> Drop for Run<O> {
    fn drop(&mut self) {
        self.job.run_ended(self.id);
    }
}

/// Polls `runs` in batches, one task each, in order; each batch is spawned
/// on the runtime its jobs were started on.
pub(crate) fn poll_in_batches<O: Owner>(runs: &mut Vec<Run<O>>) {
    let mut runs = runs.drain(..).peekable();
    while let Some(first) = runs.next() {
        let settings = Arc::clone(&first.job.active().settings);
        let mut batch = Vec::with_capacity(BATCH);
        batch.push(first);
        while batch.len() < BATCH {
            let Some(run) = runs.next_if(|run| Arc::ptr_eq(&run.job.active().settings, &settings))
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
struct Batch<O: Owner>(std::vec::IntoIter<Run<O>>);

impl<O: Owner> Future for Batch<O> {
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
