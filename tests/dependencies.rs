//! Dependencies: a job with `after = "job-a"` runs after each successful
//! completion of job-a (not after its failures), with or without a schedule
//! of its own, and learns the upstream completion time from its context.
//! Unknown upstream names and cycles stop start-up, naming the jobs.

mod support;

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use jobs_runtime::{job, BoxError, Clock, Error, JobContext, JobManager, JobSpec};
use tokio::sync::mpsc;
use tokio::time::Instant;

use support::{job_fn, next, recording, settle, Logs};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The simulated wall clock's start: 2026-01-01T00:00:00Z.
fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// What a downstream job saw of one execution.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    number: u64,
    started_at: Instant,
    upstream_completed_at: Option<SystemTime>,
}

/// A job that reports what it saw, then works for `work`.
fn downstream(
    spec: JobSpec,
    work: Duration,
) -> (
    support::FnJob<impl Fn(JobContext) -> support::RunFuture>,
    mpsc::UnboundedReceiver<Seen>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let job = job_fn(spec, move |ctx: JobContext| -> support::RunFuture {
        let tx = tx.clone();
        Box::pin(async move {
            let _ = tx.send(Seen {
                number: ctx.execution_number(),
                started_at: Instant::now(),
                upstream_completed_at: ctx.upstream_completed_at(),
            });
            tokio::time::sleep(work).await;
            Ok(())
        })
    });
    (job, rx)
}

/// An upstream job that works for `work` and fails on the executions whose
/// numbers are in `failing`.
fn upstream(
    spec: JobSpec,
    work: Duration,
    failing: &'static [u64],
) -> support::FnJob<impl Fn(JobContext) -> support::RunFuture> {
    job_fn(spec, move |ctx: JobContext| -> support::RunFuture {
        Box::pin(async move {
            tokio::time::sleep(work).await;
            if failing.contains(&ctx.execution_number()) {
                return Err::<(), BoxError>(
                    format!("run {} failed", ctx.execution_number()).into(),
                );
            }
            Ok(())
        })
    })
}

#[tokio::test(start_paused = true)]
async fn a_dependent_runs_after_each_success_of_its_upstream_only() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let start = Instant::now();
    manager.set_clock(Clock::starting_at(epoch()));
    manager.register(upstream(
        JobSpec::every("fetch", MINUTE),
        Duration::from_secs(5),
        &[2],
    ));
    let (job, mut seen) = downstream(
        JobSpec::unscheduled("report").after("fetch"),
        Duration::ZERO,
    );
    manager.register(job);
    manager.start_all().unwrap();

    // fetch runs 0–5 s, 60–65 s (fails), 120–125 s: report follows runs 1
    // and 3 only, at the instant each completed.
    let first = next(&mut seen).await;
    assert_eq!(
        first,
        Seen {
            number: 1,
            started_at: start + Duration::from_secs(5),
            upstream_completed_at: Some(epoch() + Duration::from_secs(5)),
        }
    );
    let second = next(&mut seen).await;
    assert_eq!(
        second,
        Seen {
            number: 2,
            started_at: start + Duration::from_secs(125),
            upstream_completed_at: Some(epoch() + Duration::from_secs(125)),
        }
    );
    manager.stop_all().await;
    assert!(seen.try_recv().is_err());

    let fetch = manager.stats("fetch").unwrap();
    assert_eq!((fetch.execution_count, fetch.error_count), (3, 1));
    let report = manager.stats("report").unwrap();
    assert_eq!(report.execution_count, 2);
    assert_eq!(report.schedule, None);
    assert_eq!(report.next_run_at, None);
    let report_starts: Vec<Duration> = logs
        .job_operation("report", "job_execute_start")
        .iter()
        .map(|event| event.at - start)
        .collect();
    assert_eq!(
        report_starts,
        [Duration::from_secs(5), Duration::from_secs(125)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependent_with_its_own_schedule_runs_on_both() {
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(epoch()));
    let start = Instant::now();
    manager.register(upstream(
        JobSpec::every("hourly-import", HOUR),
        Duration::from_secs(30),
        &[],
    ));
    let (job, mut seen) = downstream(
        JobSpec::every("sync", Duration::from_secs(20 * 60))
            .run_on_start(false)
            .after("hourly-import"),
        Duration::from_secs(1),
    );
    manager.register(job);
    manager.start_all().unwrap();

    let mut runs = Vec::new();
    for _ in 0..5 {
        let run = next(&mut seen).await;
        runs.push((
            run.number,
            run.started_at - start,
            run.upstream_completed_at
                .map(|at| at.duration_since(epoch()).unwrap()),
        ));
    }
    // After the import at 30 s and 1 h 30 s; on its own at 20 m, 40 m, 60 m.
    assert_eq!(
        runs,
        [
            (1, Duration::from_secs(30), Some(Duration::from_secs(30))),
            (2, MINUTE * 20, None),
            (3, MINUTE * 40, None),
            (4, MINUTE * 60, None),
            (
                5,
                MINUTE * 60 + Duration::from_secs(30),
                Some(MINUTE * 60 + Duration::from_secs(30))
            ),
        ]
    );
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn chains_run_in_order_a_then_b_then_c() {
    let manager = JobManager::new();
    manager.set_clock(Clock::starting_at(epoch()));
    let start = Instant::now();
    // Registered out of order: the order comes from `after` alone.
    let (c, mut c_runs) = downstream(JobSpec::unscheduled("c").after("b"), Duration::from_secs(1));
    let (b, mut b_runs) = downstream(JobSpec::unscheduled("b").after("a"), Duration::from_secs(2));
    let (a, mut a_runs) = recording(JobSpec::every("a", MINUTE), Duration::from_secs(3));
    manager.register(c);
    manager.register(b);
    manager.register(a);
    manager.start_all().unwrap();

    for k in 0..2u32 {
        let base = start + MINUTE * k;
        assert_eq!(next(&mut a_runs).await.started_at, base);
        let b = next(&mut b_runs).await;
        assert_eq!(b.started_at, base + Duration::from_secs(3));
        assert_eq!(
            b.upstream_completed_at,
            Some(epoch() + MINUTE * k + Duration::from_secs(3))
        );
        let c = next(&mut c_runs).await;
        assert_eq!(c.started_at, base + Duration::from_secs(5));
        assert_eq!(
            c.upstream_completed_at,
            Some(epoch() + MINUTE * k + Duration::from_secs(5))
        );
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_middle_link_stops_the_chain_there() {
    let manager = JobManager::new();
    let start = Instant::now();
    manager.register(upstream(
        JobSpec::every("first", MINUTE),
        Duration::ZERO,
        &[],
    ));
    manager.register(upstream(
        JobSpec::unscheduled("middle").after("first"),
        Duration::from_secs(1),
        &[1],
    ));
    let (last, mut last_runs) =
        downstream(JobSpec::unscheduled("last").after("middle"), Duration::ZERO);
    manager.register(last);
    manager.start_all().unwrap();

    // middle fails after first's run at 0 s, succeeds after the one at 60 s.
    let run = next(&mut last_runs).await;
    assert_eq!(
        (run.number, run.started_at),
        (1, start + MINUTE + Duration::from_secs(1))
    );
    manager.stop_all().await;
    assert_eq!(manager.stats("middle").unwrap().error_count, 1);
    assert_eq!(manager.stats("last").unwrap().execution_count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_triggered_upstream_run_is_followed_too() {
    let manager = JobManager::new();
    let start = Instant::now();
    manager.register(upstream(
        JobSpec::unscheduled("manual-upstream"),
        Duration::from_secs(4),
        &[],
    ));
    let (job, mut seen) = downstream(
        JobSpec::unscheduled("manual-downstream").after("manual-upstream"),
        Duration::ZERO,
    );
    manager.register(job);
    manager.start_all().unwrap();
    tokio::time::sleep(MINUTE).await;
    assert!(seen.try_recv().is_err());
    manager.trigger("manual-upstream").unwrap();
    assert_eq!(
        next(&mut seen).await.started_at,
        start + MINUTE + Duration::from_secs(4)
    );
    manager.stop_all().await;
}

// ---------------------------------------------------------------- start-up errors

fn noop(spec: JobSpec) -> support::FnJob<impl Fn(JobContext) -> support::RunFuture> {
    job_fn(spec, |_ctx: JobContext| -> support::RunFuture {
        Box::pin(async { Ok(()) })
    })
}

#[tokio::test(start_paused = true)]
async fn an_unknown_upstream_is_a_start_up_error_and_nothing_starts() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(noop(JobSpec::every("fine", MINUTE)));
    manager.register(noop(JobSpec::unscheduled("orphan").after("no-such-job")));

    let error = manager.start_all().unwrap_err();
    match &error {
        Error::UnknownUpstream {
            job,
            upstream,
            closest,
            registered,
        } => {
            assert_eq!(job, "orphan");
            assert_eq!(upstream, "no-such-job");
            assert_eq!(*closest, None);
            assert_eq!(registered, "fine, orphan");
        }
        other => panic!("expected UnknownUpstream, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("`orphan`"), "{message}");
    assert!(message.contains("`no-such-job`"), "{message}");
    // Starting one job alone is refused too.
    assert!(matches!(
        manager.start("fine").unwrap_err(),
        Error::UnknownUpstream { .. }
    ));
    settle().await;
    tokio::time::sleep(HOUR).await;
    assert!(logs.operation("job_start").is_empty());
    assert!(logs.operation("job_execute_start").is_empty());
    assert!(!manager.stats("fine").unwrap().is_started);
}

#[tokio::test(start_paused = true)]
async fn a_cycle_is_a_start_up_error_naming_its_jobs() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.register(noop(JobSpec::every("outside", MINUTE)));
    manager.register(noop(JobSpec::every("alpha", MINUTE).after("gamma")));
    manager.register(noop(JobSpec::unscheduled("beta").after("alpha")));
    manager.register(noop(JobSpec::unscheduled("gamma").after("beta")));
    // Not in the cycle, but follows it.
    manager.register(noop(JobSpec::unscheduled("tail").after("gamma")));

    let error = manager.start_all().unwrap_err();
    let Error::DependencyCycle { jobs } = &error else {
        panic!("expected DependencyCycle, got {error:?}");
    };
    // Reported once, from its first registered member, following `after`.
    assert_eq!(jobs, &["alpha", "gamma", "beta", "alpha"]);
    let message = error.to_string();
    assert!(
        message.contains("alpha -> gamma -> beta -> alpha"),
        "{message}"
    );
    tokio::time::sleep(HOUR).await;
    assert!(logs.operation("job_start").is_empty());
    assert!(logs.operation("job_execute_start").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_job_after_itself_is_a_cycle() {
    let manager = JobManager::new();
    manager.register(noop(JobSpec::every("selfish", MINUTE).after("selfish")));
    let error = manager.start_all().unwrap_err();
    assert!(
        matches!(&error, Error::DependencyCycle { jobs } if jobs == &["selfish", "selfish"]),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_dependency_problem_is_reported_at_once() {
    let manager = JobManager::new();
    manager.register(noop(JobSpec::unscheduled("x").after("y")));
    manager.register(noop(JobSpec::unscheduled("y").after("x")));
    manager.register(noop(JobSpec::unscheduled("z").after("missing")));
    let Error::Many(problems) = manager.start_all().unwrap_err() else {
        panic!("expected several problems");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems
        .iter()
        .any(|p| matches!(p, Error::DependencyCycle { jobs } if jobs == &["x", "y", "x"])));
    assert!(problems.iter().any(
        |p| matches!(p, Error::UnknownUpstream { job, upstream, .. } if job == "z" && upstream == "missing")
    ));
}

// ---------------------------------------------------------------- #[job]

/// What `attr-downstream` saw: `(started_at, upstream_completed_at)`.
static ATTR_SEEN: Mutex<Vec<(Instant, Option<SystemTime>)>> = Mutex::new(Vec::new());

#[job(name = "attr-upstream", every = "1m")]
async fn attr_upstream(ctx: JobContext) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    anyhow::ensure!(ctx.execution_number() != 2, "run 2 fails");
    Ok(())
}

#[job(name = "attr-downstream", after = "attr-upstream")]
async fn attr_downstream(ctx: JobContext) {
    ATTR_SEEN
        .lock()
        .unwrap()
        .push((Instant::now(), ctx.upstream_completed_at()));
}

#[tokio::test(start_paused = true)]
async fn the_after_key_of_the_attribute() {
    let manager = JobManager::discover();
    manager.set_clock(Clock::starting_at(epoch()));
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(150)).await;
    manager.stop_all().await;

    let two = Duration::from_secs(2);
    // Upstream runs end at 2 s, 62 s (failed) and 122 s.
    assert_eq!(
        *ATTR_SEEN.lock().unwrap(),
        [
            (start + two, Some(epoch() + two)),
            (start + MINUTE * 2 + two, Some(epoch() + MINUTE * 2 + two)),
        ]
    );
    let stats = manager.stats("attr-downstream").unwrap();
    assert_eq!(stats.schedule, None);
    assert_eq!(stats.execution_count, 2);
}

#[tokio::test(start_paused = true)]
async fn a_completion_that_comes_while_the_dependent_runs_goes_through_its_overlap_policy() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let start = Instant::now();
    // Completes at 0 s, 10 s, 20 s, ...; the dependent works 25 s each time.
    manager.register(upstream(
        JobSpec::every("ticker", Duration::from_secs(10)),
        Duration::ZERO,
        &[],
    ));
    let (slow, mut slow_runs) = downstream(
        JobSpec::unscheduled("slow").after("ticker"),
        Duration::from_secs(25),
    );
    manager.register(slow);
    manager.start_all().unwrap();

    // With the default `overlap = "skip"`, the completions at 10 s and 20 s
    // come while the run from 0 s goes on, and are skipped.
    for (number, at) in [(1, 0), (2, 30), (3, 60)] {
        let run = next(&mut slow_runs).await;
        assert_eq!(
            (run.number, run.started_at),
            (number, start + Duration::from_secs(at))
        );
    }
    manager.stop_all().await;
    assert_eq!(manager.stats("slow").unwrap().skipped_count, 4);
    let skipped = logs.job_operation("slow", "job_execute_skipped");
    assert_eq!(skipped.len(), 4);
    assert!(skipped.iter().all(|event| event.str("reason") == "overlap"));
}

/// A run learns from its context what caused it: its schedule, a trigger,
/// or its upstream job's success.
#[tokio::test(start_paused = true)]
async fn a_run_knows_its_cause() {
    use jobs_runtime::execution::Cause;
    let manager = JobManager::new();
    let (tx, mut causes) = mpsc::unbounded_channel();
    for spec in [
        JobSpec::every("fetch", MINUTE).run_on_start(false),
        JobSpec::unscheduled("report").after("fetch"),
    ] {
        let tx = tx.clone();
        manager.register(job_fn(spec, move |ctx: JobContext| {
            let _ = tx.send((ctx.job_name().to_owned(), ctx.cause()));
            async { Ok(()) }
        }));
    }
    manager.start_all().unwrap();
    manager.trigger("fetch").unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next(&mut causes).await);
    }
    tokio::time::sleep(MINUTE).await;
    for _ in 0..2 {
        seen.push(next(&mut causes).await);
    }
    manager.stop_all().await;
    let named = |job: &str, cause| (job.to_owned(), cause);
    assert_eq!(
        seen,
        [
            named("fetch", Cause::Trigger),
            named("report", Cause::Upstream),
            named("fetch", Cause::Schedule),
            named("report", Cause::Upstream),
        ]
    );
}
