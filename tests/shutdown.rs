//! Stopping: `stop_all` fires every run's token, waits out the grace period,
//! aborts what is left, and returns only when nothing runs; `abort_all` aborts
//! at once.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{JobContext, JobManager, JobSpec, DEFAULT_GRACE_PERIOD};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next, settle, DropFlag, Logs};

const MINUTE: Duration = Duration::from_secs(60);

/// A job that, once its token fires, cleans up for `cleanup` and succeeds.
/// Each start is reported on the channel; `cleaned` is set at the end of the
/// clean-up.
fn cooperative(
    name: &'static str,
    cleanup: Duration,
) -> (
    impl jobs_runtime::Job,
    mpsc::UnboundedReceiver<u64>,
    Arc<AtomicBool>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let cleaned = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cleaned);
    let job = job_fn(JobSpec::every(name, MINUTE), move |ctx: JobContext| {
        let tx = tx.clone();
        let flag = Arc::clone(&flag);
        async move {
            tx.send(ctx.execution_number()).unwrap();
            tokio::select! {
                () = ctx.cancelled() => {
                    tokio::time::sleep(cleanup).await;
                    flag.store(true, Ordering::SeqCst);
                    Ok(())
                }
                () = tokio::time::sleep(Duration::from_secs(3600)) => Err("never cancelled".into()),
            }
        }
    });
    (job, rx, cleaned)
}

/// A job that ignores its token and would run for an hour. `dropped` is set
/// when its future is dropped.
fn stubborn(
    name: &'static str,
) -> (
    impl jobs_runtime::Job,
    mpsc::UnboundedReceiver<u64>,
    Arc<AtomicBool>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let job = job_fn(JobSpec::every(name, MINUTE), move |ctx: JobContext| {
        let tx = tx.clone();
        let flag = DropFlag(Arc::clone(&flag));
        async move {
            let _flag = flag;
            tx.send(ctx.execution_number()).unwrap();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    });
    (job, rx, dropped)
}

#[tokio::test(start_paused = true)]
async fn stop_all_lets_a_run_that_honours_its_token_finish() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut starts, cleaned) = cooperative("polite", Duration::from_secs(5));
    manager.register(job);
    manager.start_all().unwrap();
    assert_eq!(next(&mut starts).await, 1);

    let stop = Instant::now();
    manager.stop_all().await;
    // It returned when the clean-up was over, not before, not at the grace.
    assert_eq!(Instant::now(), stop + Duration::from_secs(5));
    assert!(cleaned.load(Ordering::SeqCst));

    let stats = manager.stats("polite").unwrap();
    assert!(!stats.is_running && !stats.is_started);
    assert_eq!((stats.execution_count, stats.error_count), (1, 0));
    assert_eq!(stats.last_execution_time, Duration::from_secs(5));
    assert_eq!(
        logs.operations(),
        [
            "job_start",
            "job_execute_start",
            "job_execute_success",
            "job_stop"
        ]
    );
    let job_stop = &logs.operation("job_stop")[0];
    assert_eq!(job_stop.at, stop + Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn no_new_execution_starts_once_stop_all_is_called() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_grace_period(MINUTE * 5);
    // The clean-up outlasts two fires (at 1m and 2m).
    let (job, mut starts, cleaned) = cooperative("lingering", Duration::from_secs(150));
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;

    let stop = Instant::now();
    manager.stop_all().await;
    assert_eq!(Instant::now(), stop + Duration::from_secs(150));
    assert!(cleaned.load(Ordering::SeqCst));
    assert!(starts.try_recv().is_err());
    let stats = manager.stats("lingering").unwrap();
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.skipped_count, 0);
    assert_eq!(logs.operation("job_execute_start").len(), 1);
    assert!(logs.operation("job_execute_skipped").is_empty());

    // Stopped means stopped: time passes and nothing runs.
    tokio::time::sleep(MINUTE * 10).await;
    assert!(starts.try_recv().is_err());
    assert_eq!(logs.operation("job_execute_start").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_ignores_its_token_is_aborted_after_the_grace_period() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_grace_period(Duration::from_secs(10));
    let (job, mut starts, dropped) = stubborn("stubborn");
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;

    let stop = Instant::now();
    manager.stop_all().await;
    assert_eq!(Instant::now(), stop + Duration::from_secs(10));
    assert!(dropped.load(Ordering::SeqCst), "the future was not dropped");

    let aborted = logs.job_operation("stubborn", "job_execute_aborted");
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].level, tracing::Level::WARN);
    assert_eq!(aborted[0].at, stop + Duration::from_secs(10));
    assert_eq!(
        aborted[0].field_names(),
        [
            "error",
            "error_count",
            "execution_number",
            "job_name",
            "message",
            "operation"
        ]
    );
    assert_eq!(
        aborted[0].str("error"),
        "aborted: did not finish within the shutdown grace period"
    );
    assert_eq!(aborted[0].u64("execution_number"), 1);
    assert_eq!(aborted[0].u64("error_count"), 1);
    assert_eq!(
        aborted[0].span("job_execution").unwrap()["execution_number"],
        json!(1)
    );

    let stats = manager.stats("stubborn").unwrap();
    assert!(!stats.is_running && !stats.is_started);
    assert_eq!((stats.execution_count, stats.error_count), (1, 1));
    assert_eq!(stats.last_execution_time, Duration::from_secs(10));
    assert_eq!(
        stats.last_error.as_deref(),
        Some("aborted: did not finish within the shutdown grace period")
    );
    assert_eq!(
        logs.operations(),
        [
            "job_start",
            "job_execute_start",
            "job_execute_aborted",
            "job_stop"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_grace_period_is_30_seconds() {
    assert_eq!(DEFAULT_GRACE_PERIOD, Duration::from_secs(30));
    let manager = JobManager::new();
    assert_eq!(manager.grace_period(), DEFAULT_GRACE_PERIOD);
    let (job, mut starts, _dropped) = stubborn("stubborn");
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;
    let stop = Instant::now();
    manager.stop_all().await;
    assert_eq!(Instant::now(), stop + Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn one_grace_period_covers_every_job() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_grace_period(Duration::from_secs(10));
    let (first, mut first_starts, first_dropped) = stubborn("stubborn-1");
    let (polite, mut polite_starts, cleaned) = cooperative("polite", Duration::from_secs(3));
    let (second, mut second_starts, second_dropped) = stubborn("stubborn-2");
    manager.register(first);
    manager.register(polite);
    manager.register(second);
    manager.start_all().unwrap();
    next(&mut first_starts).await;
    next(&mut polite_starts).await;
    next(&mut second_starts).await;

    let stop = Instant::now();
    manager.stop_all().await;
    // Ten seconds in all, not ten per job.
    assert_eq!(Instant::now(), stop + Duration::from_secs(10));
    assert!(first_dropped.load(Ordering::SeqCst));
    assert!(second_dropped.load(Ordering::SeqCst));
    assert!(cleaned.load(Ordering::SeqCst));
    let aborted: Vec<_> = logs
        .operation("job_execute_aborted")
        .iter()
        .map(|event| event.str("job_name").to_owned())
        .collect();
    assert_eq!(aborted, ["stubborn-1", "stubborn-2"]);
    assert_eq!(logs.job_operation("polite", "job_execute_success").len(), 1);
    assert_eq!(logs.operation("job_stop").len(), 3);
    assert!(manager
        .all_stats()
        .iter()
        .all(|stats| !stats.is_running && !stats.is_started));
}

#[tokio::test(start_paused = true)]
async fn stop_all_returns_at_once_when_nothing_runs() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    // Never started: nothing to stop.
    manager.stop_all().await;
    assert!(logs.events().is_empty());

    let (job, _starts, _cleaned) = cooperative("idle", Duration::from_secs(5));
    manager.register(job);
    manager.register(job_fn(
        JobSpec::every("later", MINUTE).run_on_start(false),
        |_ctx: JobContext| async move { Ok(()) },
    ));
    manager.start("later").unwrap();
    support::settle().await;
    let stop = Instant::now();
    manager.stop_all().await;
    assert_eq!(Instant::now(), stop);
    assert_eq!(logs.operations(), ["job_start", "job_stop"]);
    // A second call has nothing left to do.
    manager.stop_all().await;
    assert_eq!(logs.operations(), ["job_start", "job_stop"]);
}

#[tokio::test(start_paused = true)]
async fn abort_all_aborts_in_flight_runs_at_once() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut starts, dropped) = stubborn("stubborn");
    let (polite, mut polite_starts, cleaned) = cooperative("polite", Duration::from_secs(3));
    manager.register(job);
    manager.register(polite);
    manager.start_all().unwrap();
    next(&mut starts).await;
    next(&mut polite_starts).await;
    tokio::time::sleep(Duration::from_secs(7)).await;

    let abort = Instant::now();
    manager.abort_all().await;
    assert_eq!(Instant::now(), abort);
    assert!(dropped.load(Ordering::SeqCst));
    // Even a run that would have honoured its token is cut off.
    assert!(!cleaned.load(Ordering::SeqCst));
    for name in ["stubborn", "polite"] {
        let aborted = logs.job_operation(name, "job_execute_aborted");
        assert_eq!(aborted.len(), 1, "{name}");
        assert_eq!(aborted[0].at, abort);
        assert_eq!(
            aborted[0].str("error"),
            "aborted: `JobManager::abort_all` was called",
            "{name}"
        );
        let stats = manager.stats(name).unwrap();
        assert!(!stats.is_running && !stats.is_started, "{name}");
        assert_eq!(stats.error_count, 1, "{name}");
        assert_eq!(
            stats.last_error.as_deref(),
            Some("aborted: `JobManager::abort_all` was called"),
            "{name}"
        );
        assert_eq!(stats.last_execution_time, Duration::from_secs(7), "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn abort_all_cuts_a_waiting_stop_all_short() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_grace_period(Duration::from_secs(3600));
    let (job, mut starts, dropped) = stubborn("stubborn");
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;

    let stop = Instant::now();
    let stopping = tokio::spawn({
        let manager = manager.clone();
        async move {
            manager.stop_all().await;
            Instant::now()
        }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!stopping.is_finished());
    manager.abort_all().await;
    let stopped_at = stopping.await.unwrap();
    assert_eq!(stopped_at, stop + Duration::from_secs(5));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(logs.operation("job_execute_aborted").len(), 1);
    assert_eq!(logs.operation("job_stop").len(), 1);
    assert!(!manager.stats("stubborn").unwrap().is_started);
}

#[tokio::test(start_paused = true)]
async fn the_builder_sets_the_grace_period() {
    let builder = jobs_runtime::builder().grace_period(Duration::from_secs(3));
    assert_eq!(builder.manager().grace_period(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_second_stop_all_also_waits_until_nothing_runs() {
    let manager = JobManager::new();
    let (job, mut starts, cleaned) = cooperative("polite", Duration::from_secs(5));
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;

    let stop = Instant::now();
    let first = tokio::spawn({
        let manager = manager.clone();
        async move {
            manager.stop_all().await;
            Instant::now()
        }
    });
    support::settle().await;
    // The job is already stopping: this call waits for the same run.
    manager.stop_all().await;
    assert_eq!(Instant::now(), stop + Duration::from_secs(5));
    assert!(cleaned.load(Ordering::SeqCst));
    assert!(!manager.stats("polite").unwrap().is_running);
    assert_eq!(first.await.unwrap(), stop + Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_stop_goes_on_when_its_caller_gives_up() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_grace_period(Duration::from_secs(3600));
    let (job, mut starts, cleaned) = cooperative("polite", Duration::from_secs(5));
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;

    let stop = Instant::now();
    let given_up = tokio::time::timeout(Duration::from_secs(1), manager.stop_all()).await;
    assert!(given_up.is_err());
    // The run got its token and cleans up; the job is still stopping.
    assert!(manager.stats("polite").unwrap().is_running);
    assert!(matches!(
        manager.start("polite").unwrap_err(),
        jobs_runtime::Error::AlreadyStarted { .. }
    ));

    // A later stop waits for the same stop to end, when the run ends.
    manager.stop_all().await;
    assert_eq!(Instant::now(), stop + Duration::from_secs(5));
    assert!(cleaned.load(Ordering::SeqCst));
    let stats = manager.stats("polite").unwrap();
    assert!(!stats.is_started && !stats.is_running);
    assert_eq!((stats.execution_count, stats.error_count), (1, 0));
    assert_eq!(logs.operation("job_stop").len(), 1);

    // Nothing is left half-stopped: the job can start again.
    manager.start("polite").unwrap();
    assert_eq!(next(&mut starts).await, 2);
    manager.abort_all().await;
}

#[tokio::test(start_paused = true)]
async fn abort_all_inside_a_select_on_a_pending_stop_all() {
    // The shape of the shutdown on signals: one task waits on `stop_all` and,
    // on a second signal, aborts.
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut starts, dropped) = stubborn("stubborn");
    manager.register(job);
    manager.start_all().unwrap();
    next(&mut starts).await;

    let start = Instant::now();
    let stop = manager.stop_all();
    tokio::pin!(stop);
    tokio::select! {
        () = &mut stop => panic!("stop_all returned before the grace period"),
        () = tokio::time::sleep(Duration::from_secs(5)) => manager.abort_all().await,
    }
    stop.await;
    assert_eq!(Instant::now(), start + Duration::from_secs(5));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(logs.operation("job_execute_aborted").len(), 1);
    assert!(!manager.stats("stubborn").unwrap().is_started);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_first_looks_at_its_token_after_the_stop_finds_it_fired() {
    let manager = JobManager::new();
    let (tx, mut seen) = mpsc::unbounded_channel();
    manager.register(job_fn(
        JobSpec::every("late-look", MINUTE),
        move |ctx: JobContext| {
            let tx = tx.clone();
            async move {
                // Busy for a second without looking at the token.
                tokio::time::sleep(Duration::from_secs(1)).await;
                tx.send(ctx.is_cancelled()).unwrap();
                // Completes at once: the token has fired.
                ctx.cancelled().await;
                Ok(())
            }
        },
    ));
    manager.start_all().unwrap();
    settle().await;
    assert!(manager.stats("late-look").unwrap().is_running);

    let stop = Instant::now();
    manager.stop_all().await;
    assert!(next(&mut seen).await, "the token had not fired");
    assert_eq!(Instant::now(), stop + Duration::from_secs(1));
    let stats = manager.stats("late-look").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn stop_all_releases_every_job_it_stopped_at_once() {
    let manager = JobManager::new();
    let released = Arc::new(AtomicBool::new(false));
    let held = DropFlag(Arc::clone(&released));
    manager.register(job_fn(
        JobSpec::every("holder", MINUTE).run_on_start(false),
        move |_ctx: JobContext| {
            let _held = &held;
            async { Ok(()) }
        },
    ));
    manager.start_all().unwrap();
    manager.stop_all().await;
    drop(manager);
    // Nothing of the stopped job waits for a timer to come due before it is
    // freed.
    assert!(
        released.load(Ordering::SeqCst),
        "the stopped job is still held"
    );
}

// Real time on two workers: the abort has to come from one worker while the
// run's first poll goes on on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_aborted_during_its_first_poll_is_aborted_once_it_waits() {
    let manager = JobManager::new();
    let (polled, mut first_polls) = mpsc::unbounded_channel();
    manager.register(job_fn(
        JobSpec::every("blocks-then-waits", Duration::from_secs(3600)),
        move |_ctx: JobContext| {
            let _ = polled.send(());
            // Blocks its worker, so that the abort below comes while the
            // run is still in its first poll.
            std::thread::sleep(Duration::from_millis(500));
            async {
                std::future::pending::<()>().await;
                Ok(())
            }
        },
    ));
    manager.start_all().unwrap();
    next(&mut first_polls).await;

    tokio::time::timeout(Duration::from_secs(30), manager.abort_all())
        .await
        .expect("the run was never aborted");
    let stats = manager.stats("blocks-then-waits").unwrap();
    assert!(!stats.is_running);
    assert_eq!(stats.error_count, 1);
    assert!(stats.last_error.unwrap().starts_with("aborted"));
}
