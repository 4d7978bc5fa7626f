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
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context::RunToken;
use crate::executor::{self, Fire};
use crate::scheduler::Started;

/// At most this many runs are polled by one batch's task. A run that blocks
/// its thread (which a job must not do: `spawn_blocking` is for that) holds
/// up the runs after it in its batch, as it would hold up the other tasks
/// of its worker.
pub(crate) const BATCH: usize = 16;

/// One run: the executor's future for one fire, boxed so that it can move
/// to a task of its own after its first poll.
///
/// Its end is recorded when it is dropped: finished, aborted, or dropped
/// with its runtime before it was ever polled.
pub(crate) struct Run {
    job: Arc<Started>,
    id: u32,
    future: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Run {
    /// The run `id` of `job`'s fire, with its token.
    pub(crate) fn new(job: &Arc<Started>, id: u32, fire: Fire, token: RunToken) -> Self {
        let future =
            Box::pin(async move { executor::run(&token.started().job, &fire, &token).await });
        Run {
            job: Arc::clone(job),
            id,
            future,
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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.future.as_mut().poll(cx)
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
