//! Overlap policies other than the default skip: `queue` runs one waiting
//! fire right after the current run, `allow` runs up to `max_concurrency`
//! at once, `replace` cancels the running execution, waits for it, then
//! starts. Each through `JobSpec::overlap`, through `#[job(overlap = ...)]`,
//! and for `trigger`.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{job, BoxError, JobContext, JobManager, JobSpec, Overlap};
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next, recording, settle, Logs};

const SECOND: Duration = Duration::from_secs(1);
const TEN: Duration = Duration::from_secs(10);

/// The instants (relative to `start`) of a job's `job_execute_start` events.
fn starts(logs: &Logs, job: &str, start: Instant) -> Vec<Duration> {
    logs.job_operation(job, "job_execute_start")
        .iter()
        .map(|event| event.at - start)
        .collect()
}

/// The instants (relative to `start`) of a job's skipped fires, each with its
/// reason.
fn skips(logs: &Logs, job: &str, start: Instant) -> Vec<(Duration, String)> {
    logs.job_operation(job, "job_execute_skipped")
        .iter()
        .map(|event| (event.at - start, event.str("reason").to_owned()))
        .collect()
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|&s| Duration::from_secs(s)).collect()
}

/// What a job reports of one execution: `(number, scheduled_at, started_at)`.
type Started = (u64, Instant, Instant);

/// What a cancellable job reports of its cancellation: `(number, at)`.
type Cancelled = (u64, Instant);

/// A job whose first execution works for `first`, the others for one second;
/// each reports `(number, scheduled_at, started_at)`.
fn first_run_long(
    spec: JobSpec,
    first: Duration,
) -> (
    support::FnJob<impl Fn(JobContext) -> support::RunFuture>,
    mpsc::UnboundedReceiver<Started>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let job = job_fn(spec, move |ctx: JobContext| -> support::RunFuture {
        let tx = tx.clone();
        Box::pin(async move {
            let _ = tx.send((ctx.execution_number(), ctx.scheduled_at(), Instant::now()));
            let work = if ctx.execution_number() == 1 {
                first
            } else {
                SECOND
            };
            tokio::time::sleep(work).await;
            Ok(())
        })
    });
    (job, rx)
}

// ---------------------------------------------------------------- queue

#[tokio::test(start_paused = true)]
async fn queue_runs_one_waiting_fire_right_after_the_run_and_skips_the_rest() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = first_run_long(
        JobSpec::every("queued", TEN).overlap(Overlap::Queue),
        Duration::from_secs(25),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut runs).await, (1, start, start));
    // The fire at 10 s waits; the one at 20 s finds the queue full and is
    // skipped. Run 1 ends at 25 s: the queued fire (due at 10 s) starts then.
    assert_eq!(
        next(&mut runs).await,
        (2, start + TEN, start + Duration::from_secs(25))
    );
    // Back on the grid.
    assert_eq!(next(&mut runs).await, (3, start + TEN * 3, start + TEN * 3));
    assert_eq!(next(&mut runs).await, (4, start + TEN * 4, start + TEN * 4));
    manager.stop_all().await;

    assert_eq!(skips(&logs, "queued", start), [(TEN * 2, "overlap".into())]);
    assert_eq!(starts(&logs, "queued", start), secs(&[0, 25, 30, 40]));
    let stats = manager.stats("queued").unwrap();
    assert_eq!(stats.skipped_count, 1);
    assert_eq!(stats.execution_count, 4);
}

#[tokio::test(start_paused = true)]
async fn queue_never_runs_two_executions_at_once() {
    let manager = JobManager::new();
    // Every run takes 24 s on a 10 s grid: one fire waits at a time.
    let (job, mut runs) = recording(
        JobSpec::every("always-late", TEN).overlap(Overlap::Queue),
        Duration::from_secs(24),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let run = next(&mut runs).await;
        seen.push((run.number, run.scheduled_at - start, run.started_at - start));
    }
    // Run 1 0–24 (10 waits, 20 skipped); run 2 24–48 (30 waits, 40
    // skipped); run 3 48–72 (50 waits, 60 and 70 skipped); run 4 at 72.
    assert_eq!(
        seen,
        [
            (1, Duration::ZERO, Duration::ZERO),
            (2, TEN, Duration::from_secs(24)),
            (3, TEN * 3, Duration::from_secs(48)),
            (4, TEN * 5, Duration::from_secs(72)),
        ]
    );
    assert_eq!(manager.stats("always-late").unwrap().skipped_count, 4);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn trigger_under_queue_waits_for_the_running_execution() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("queue-trigger", Duration::from_secs(3600)).overlap(Overlap::Queue),
        Duration::from_secs(30),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut runs).await;

    tokio::time::sleep(TEN).await;
    // Not refused: the triggered run is queued behind run 1.
    manager.trigger("queue-trigger").unwrap();
    // A second trigger while one waits is skipped.
    manager.trigger("queue-trigger").unwrap();
    let run = next(&mut runs).await;
    assert_eq!(run.number, 2);
    assert_eq!(run.scheduled_at, start + TEN);
    assert_eq!(run.started_at, start + Duration::from_secs(30));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(runs.try_recv().is_err());
    assert_eq!(
        skips(&logs, "queue-trigger", start),
        [(TEN, "overlap".into())]
    );
    manager.stop_all().await;
}

// ---------------------------------------------------------------- allow

#[tokio::test(start_paused = true)]
async fn allow_runs_concurrently_up_to_max_concurrency_then_skips() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("parallel", TEN).overlap(Overlap::Allow { max_concurrency: 2 }),
        Duration::from_secs(25),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    // Runs take 25 s: 0–25 and 10–35 overlap; at 20 two run, so it is
    // skipped; at 30 one runs (10–35), so a second starts; at 40 one runs
    // (30–55); at 50 two run (30–55, 40–65); at 60 one runs.
    let mut at = Vec::new();
    for _ in 0..5 {
        let run = next(&mut runs).await;
        assert_eq!(run.started_at, run.scheduled_at);
        at.push(run.started_at - start);
    }
    assert_eq!(at, secs(&[0, 10, 30, 40, 60]));
    assert_eq!(
        skips(&logs, "parallel", start),
        [(TEN * 2, "overlap".into()), (TEN * 5, "overlap".into())]
    );
    // Two executions were in flight at once.
    let stats = manager.stats("parallel").unwrap();
    assert!(stats.is_running);
    assert_eq!(stats.skipped_count, 2);
    manager.stop_all().await;
    let stats = manager.stats("parallel").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (5, 0));
}

#[tokio::test(start_paused = true)]
async fn trigger_under_allow_starts_at_once_while_under_the_limit() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("allow-trigger", Duration::from_secs(3600))
            .overlap(Overlap::Allow { max_concurrency: 3 }),
        Duration::from_secs(30),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut runs).await;

    tokio::time::sleep(TEN).await;
    // Two triggers at once are two runs, next to run 1.
    manager.trigger("allow-trigger").unwrap();
    manager.trigger("allow-trigger").unwrap();
    let second = next(&mut runs).await;
    let third = next(&mut runs).await;
    assert_eq!((second.number, second.started_at), (2, start + TEN));
    assert_eq!((third.number, third.started_at), (3, start + TEN));
    // A fourth at once is past the limit: skipped.
    manager.trigger("allow-trigger").unwrap();
    settle().await;
    assert!(runs.try_recv().is_err());
    assert_eq!(
        skips(&logs, "allow-trigger", start),
        [(TEN, "overlap".into())]
    );
    manager.stop_all().await;
    assert_eq!(manager.stats("allow-trigger").unwrap().execution_count, 3);
}

// ---------------------------------------------------------------- replace

/// A job whose executions run until their token fires, then take `cleanup`
/// to end; each reports `(number, scheduled_at, started_at)` and, on
/// cancellation, `(number, cancelled_at)`.
fn cancellable(
    spec: JobSpec,
    cleanup: Duration,
) -> (
    support::FnJob<impl Fn(JobContext) -> support::RunFuture>,
    mpsc::UnboundedReceiver<Started>,
    mpsc::UnboundedReceiver<Cancelled>,
) {
    let (started_tx, started) = mpsc::unbounded_channel();
    let (cancelled_tx, cancelled) = mpsc::unbounded_channel();
    let job = job_fn(spec, move |ctx: JobContext| -> support::RunFuture {
        let started_tx = started_tx.clone();
        let cancelled_tx = cancelled_tx.clone();
        Box::pin(async move {
            let number = ctx.execution_number();
            let _ = started_tx.send((number, ctx.scheduled_at(), Instant::now()));
            ctx.cancelled().await;
            let _ = cancelled_tx.send((number, Instant::now()));
            tokio::time::sleep(cleanup).await;
            Ok::<(), BoxError>(())
        })
    });
    (job, started, cancelled)
}

#[tokio::test(start_paused = true)]
async fn replace_cancels_the_running_execution_waits_for_it_then_starts() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut started, mut cancelled) = cancellable(
        JobSpec::every("replaced", TEN).overlap(Overlap::Replace),
        Duration::from_secs(2),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut started).await, (1, start, start));
    // The fire at 10 s cancels run 1, which takes 2 s to end; run 2 starts
    // once it has ended.
    assert_eq!(next(&mut cancelled).await, (1, start + TEN));
    assert_eq!(
        next(&mut started).await,
        (2, start + TEN, start + Duration::from_secs(12))
    );
    assert_eq!(next(&mut cancelled).await, (2, start + TEN * 2));
    assert_eq!(
        next(&mut started).await,
        (3, start + TEN * 2, start + Duration::from_secs(22))
    );
    // Run 1 ended before run 2 started: never two at once.
    let successes = logs.job_operation("replaced", "job_execute_success");
    assert_eq!(successes[0].at, start + Duration::from_secs(12));
    assert_eq!(successes[0].u64("execution_number"), 1);
    assert_eq!(successes[1].at, start + Duration::from_secs(22));
    assert!(logs
        .job_operation("replaced", "job_execute_skipped")
        .is_empty());
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn replace_keeps_only_the_latest_fire_while_the_old_run_winds_down() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    // Run 1 ignores its token for 25 s.
    let ignored = Arc::new(AtomicBool::new(false));
    let (tx, mut runs) = mpsc::unbounded_channel();
    let seen = Arc::clone(&ignored);
    manager.register(job_fn(
        JobSpec::every("stubborn", TEN).overlap(Overlap::Replace),
        move |ctx: JobContext| {
            let tx = tx.clone();
            let seen = Arc::clone(&seen);
            async move {
                tx.send((ctx.execution_number(), ctx.scheduled_at(), Instant::now()))
                    .unwrap();
                if ctx.execution_number() == 1 {
                    tokio::time::sleep(Duration::from_secs(25)).await;
                    seen.store(ctx.is_cancelled(), Ordering::SeqCst);
                }
                Ok::<(), BoxError>(())
            }
        },
    ));
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await, (1, start, start));
    // Fires at 10 s and 20 s come while run 1 winds down: the one at 20 s
    // replaces the waiting one at 10 s, which is skipped.
    assert_eq!(
        next(&mut runs).await,
        (2, start + TEN * 2, start + Duration::from_secs(25))
    );
    assert!(ignored.load(Ordering::SeqCst), "run 1's token did not fire");
    assert_eq!(
        skips(&logs, "stubborn", start),
        [(TEN * 2, "overlap".into())]
    );
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn trigger_under_replace_cancels_the_running_execution() {
    let manager = JobManager::new();
    let (job, mut started, mut cancelled) = cancellable(
        JobSpec::every("replace-trigger", Duration::from_secs(3600)).overlap(Overlap::Replace),
        Duration::from_secs(3),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut started).await;

    tokio::time::sleep(TEN).await;
    // Not refused while running: it replaces the run.
    manager.trigger("replace-trigger").unwrap();
    assert_eq!(next(&mut cancelled).await, (1, start + TEN));
    assert_eq!(
        next(&mut started).await,
        (2, start + TEN, start + Duration::from_secs(13))
    );
    manager.stop_all().await;
    assert_eq!(manager.stats("replace-trigger").unwrap().execution_count, 2);
}

// ---------------------------------------------------------------- #[job]

#[job(name = "attr-queue", every = "10s", overlap = "queue")]
async fn attr_queue(ctx: JobContext) {
    if ctx.execution_number() == 1 {
        tokio::time::sleep(Duration::from_secs(25)).await;
    }
}

#[job(
    name = "attr-allow",
    every = "10s",
    overlap = "allow",
    max_concurrency = 2
)]
async fn attr_allow() {
    tokio::time::sleep(Duration::from_secs(25)).await;
}

#[job(name = "attr-allow-unbounded", every = "10s", overlap = "allow")]
async fn attr_allow_unbounded() {
    tokio::time::sleep(Duration::from_secs(45)).await;
}

#[job(name = "attr-replace", every = "10s", overlap = "replace")]
async fn attr_replace(ctx: JobContext) {
    ctx.cancelled().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::test(start_paused = true)]
async fn the_attribute_sets_each_policy() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    assert_eq!(
        manager.registered_jobs(),
        [
            "attr-allow",
            "attr-allow-unbounded",
            "attr-queue",
            "attr-replace"
        ]
    );
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(65)).await;
    manager.abort_all().await;

    assert_eq!(
        starts(&logs, "attr-queue", start),
        secs(&[0, 25, 30, 40, 50, 60])
    );
    assert_eq!(
        skips(&logs, "attr-queue", start),
        [(TEN * 2, "overlap".into())]
    );

    assert_eq!(
        starts(&logs, "attr-allow", start),
        secs(&[0, 10, 30, 40, 60])
    );
    assert_eq!(
        skips(&logs, "attr-allow", start),
        [(TEN * 2, "overlap".into()), (TEN * 5, "overlap".into())]
    );

    // No `max_concurrency`: no limit; at 40 s five runs of 45 s overlap.
    assert_eq!(
        starts(&logs, "attr-allow-unbounded", start),
        secs(&[0, 10, 20, 30, 40, 50, 60])
    );
    assert!(skips(&logs, "attr-allow-unbounded", start).is_empty());

    assert_eq!(
        starts(&logs, "attr-replace", start),
        secs(&[0, 12, 22, 32, 42, 52, 62])
    );
    assert!(skips(&logs, "attr-replace", start).is_empty());
}
