//! Controlling single jobs: `start`, `stop`, `trigger`, and the errors each
//! gives when it cannot act.

mod support;

use std::time::Duration;

use jobs_runtime::{Error, JobManager, JobSpec};
use tokio::time::Instant;

use support::{next, recording, Logs};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn trigger_runs_once_now_and_leaves_the_schedule_alone() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("on-demand", HOUR).run_on_start(false),
        Duration::from_secs(5),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();

    tokio::time::sleep(Duration::from_secs(600)).await;
    manager.trigger("on-demand").unwrap();
    let triggered = next(&mut runs).await;
    assert_eq!(triggered.number, 1);
    assert_eq!(triggered.scheduled_at, start + Duration::from_secs(600));
    assert_eq!(triggered.started_at, triggered.scheduled_at);

    // The schedule still fires at start + 1h, 2h.
    let scheduled = next(&mut runs).await;
    assert_eq!(scheduled.number, 2);
    assert_eq!(scheduled.scheduled_at, start + HOUR);
    assert_eq!(scheduled.started_at, start + HOUR);
    assert_eq!(next(&mut runs).await.started_at, start + HOUR * 2);
    manager.stop_all().await;
    assert_eq!(
        logs.job_operation("on-demand", "job_execute_success").len(),
        3
    );
}

#[tokio::test(start_paused = true)]
async fn trigger_refuses_unknown_stopped_and_running_jobs() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(JobSpec::every("busy", HOUR), Duration::from_secs(30));
    manager.register(job);
    let (other, _other_runs) = recording(JobSpec::every("other", HOUR), Duration::ZERO);
    manager.register(other);

    let unknown = manager.trigger("ghost").unwrap_err();
    assert!(
        matches!(&unknown, Error::UnknownJob { name, registered } if name == "ghost" && registered == "busy, other"),
        "{unknown:?}"
    );
    assert!(unknown.to_string().contains("ghost"));
    assert!(matches!(
        manager.trigger("busy").unwrap_err(),
        Error::NotStarted { name } if name == "busy"
    ));

    manager.start_all().unwrap();
    next(&mut runs).await;
    // Run 1 takes 30 s: a trigger now would overlap it.
    assert!(matches!(
        manager.trigger("busy").unwrap_err(),
        Error::AlreadyRunning { name } if name == "busy"
    ));
    tokio::time::sleep(Duration::from_secs(31)).await;
    manager.trigger("busy").unwrap();
    assert_eq!(next(&mut runs).await.number, 2);
    manager.stop_all().await;
    assert_eq!(manager.stats("busy").unwrap().execution_count, 2);
}

#[tokio::test(start_paused = true)]
async fn start_starts_one_job_only() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (first, mut first_runs) = recording(JobSpec::every("first", HOUR), Duration::ZERO);
    let (second, mut second_runs) = recording(JobSpec::every("second", HOUR), Duration::ZERO);
    manager.register(first);
    manager.register(second);

    manager.start("first").unwrap();
    assert_eq!(next(&mut first_runs).await.number, 1);
    tokio::time::sleep(HOUR * 3).await;
    assert!(second_runs.try_recv().is_err());
    assert!(!manager.stats("second").unwrap().is_started);
    assert_eq!(logs.operation("job_start").len(), 1);

    assert!(matches!(
        manager.start("first").unwrap_err(),
        Error::AlreadyStarted { name } if name == "first"
    ));
    assert!(matches!(
        manager.start("ghost").unwrap_err(),
        Error::UnknownJob { .. }
    ));

    // start_all starts what is not started, and leaves the rest alone.
    manager.start_all().unwrap();
    let second_start = Instant::now();
    assert_eq!(next(&mut second_runs).await.started_at, second_start);
    assert_eq!(logs.operation("job_start").len(), 2);
    manager.start_all().unwrap();
    assert_eq!(logs.operation("job_start").len(), 2);
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn stop_stops_one_job_and_it_can_start_again() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (stopped, mut stopped_runs) =
        recording(JobSpec::every("stopped", HOUR), Duration::from_secs(20));
    let (kept, mut kept_runs) = recording(JobSpec::every("kept", HOUR), Duration::ZERO);
    manager.register(stopped);
    manager.register(kept);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut stopped_runs).await;
    next(&mut kept_runs).await;

    // `stop` waits for the in-flight run (20 s) within the grace period.
    manager.stop("stopped").await.unwrap();
    assert_eq!(Instant::now(), start + Duration::from_secs(20));
    let stats = manager.stats("stopped").unwrap();
    assert!(!stats.is_started && !stats.is_running);
    assert_eq!((stats.execution_count, stats.error_count), (1, 0));
    assert_eq!(logs.job_operation("stopped", "job_stop").len(), 1);
    assert!(matches!(
        manager.stop("stopped").await.unwrap_err(),
        Error::NotStarted { name } if name == "stopped"
    ));

    // The other job goes on.
    assert_eq!(next(&mut kept_runs).await.started_at, start + HOUR);
    assert!(stopped_runs.try_recv().is_err());

    // Started again, the job gets a new grid from now; its execution numbers
    // go on.
    let restart = Instant::now();
    manager.start("stopped").unwrap();
    let run = next(&mut stopped_runs).await;
    assert_eq!((run.number, run.scheduled_at), (2, restart));
    assert_eq!(next(&mut stopped_runs).await.scheduled_at, restart + HOUR);
    manager.stop_all().await;
    assert_eq!(logs.job_operation("stopped", "job_start").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn registered_jobs_lists_names_in_registration_order() {
    let manager = JobManager::new();
    assert!(manager.registered_jobs().is_empty());
    for name in ["b", "a", "c"] {
        manager.register(recording(JobSpec::every(name, HOUR), Duration::ZERO).0);
    }
    assert_eq!(manager.registered_jobs(), ["b", "a", "c"]);
    // Clones are handles on the same jobs.
    let clone = manager.clone();
    clone.start("a").unwrap();
    assert!(manager.stats("a").unwrap().is_started);
    manager.stop_all().await;
}
