//! The timing loop of one started job: waits for each fire instant, hands the
//! execution to the executor, and skips the fires that come while it runs.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::events;
use crate::executor::{self, ActiveJob};
use crate::schedule::FireGrid;

/// Runs `job` on `grid` until `stop` fires. A notification on `trigger` runs
/// it once at once, outside the grid.
///
/// At most one execution of the job is in flight: a fire that comes while one
/// runs is skipped, counted and logged, and the grid goes on unchanged, so
/// late or skipped fires never shift the ones after them.
pub(crate) async fn run(
    job: ActiveJob,
    mut grid: FireGrid,
    trigger: Arc<Notify>,
    stop: CancellationToken,
) {
    let sleep = sleep_until(grid.peek());
    tokio::pin!(sleep);
    job.stats.set_next_run(grid.peek());
    loop {
        let scheduled_at = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            () = trigger.notified() => Instant::now(),
            () = &mut sleep => {
                let fire = grid.advance();
                job.stats.set_next_run(grid.peek());
                fire
            }
        };
        // Boxed, so an idle job's task stays small.
        let execution = Box::pin(executor::execute(&job, scheduled_at, &stop));
        await_skipping_fires(&job, execution, &mut grid, sleep.as_mut(), &stop).await;
        sleep.as_mut().reset(grid.peek());
    }
}

/// Drives `execution` to its end; every fire that comes meanwhile is skipped.
async fn await_skipping_fires(
    job: &ActiveJob,
    mut execution: std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
    grid: &mut FireGrid,
    mut sleep: std::pin::Pin<&mut tokio::time::Sleep>,
    stop: &CancellationToken,
) {
    let mut stopping = stop.is_cancelled();
    loop {
        sleep.as_mut().reset(grid.peek());
        tokio::select! {
            biased;
            () = &mut execution => return,
            () = stop.cancelled(), if !stopping => stopping = true,
            () = &mut sleep, if !stopping => {
                grid.advance();
                job.stats.set_next_run(grid.peek());
                let (skipped, running) = job.stats.skip();
                events::execute_skipped(&job.name, running, skipped);
            }
        }
    }
}
