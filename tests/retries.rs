//! Retries with exponential backoff and full jitter, on tokio's paused
//! clock: the attempt number in the context, the `job_execute_retry` events,
//! the delays and their cap, the stats, and how retries meet the schedule (a
//! retry belongs to its execution, so a fire that comes during a retry's
//! backoff meets the overlap policy, and a stop ends the wait as a failure).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs_runtime::{job, JobContext, JobManager, JobSpec, Overlap};
use serde_json::json;
use tokio::time::Instant;

use support::{job_fn, settle, FnJob, Logs, RunFuture};

const MS: Duration = Duration::from_millis(1);

/// One attempt: execution number, attempt number, start instant.
type Attempt = (u64, u32, Instant);

/// The attempts a job recorded.
type Attempts = Arc<Mutex<Vec<Attempt>>>;

/// A job with `spec` whose attempts are recorded, work for `work`, and fail
/// unless `succeeds(execution, attempt)`.
fn attempts_job(
    spec: JobSpec,
    work: Duration,
    succeeds: impl Fn(u64, u32) -> bool + Send + Sync + 'static,
) -> (FnJob<impl Fn(JobContext) -> RunFuture>, Attempts) {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    let job = job_fn(spec, move |ctx: JobContext| -> RunFuture {
        seen.lock()
            .unwrap()
            .push((ctx.execution_number(), ctx.attempt(), Instant::now()));
        let ok = succeeds(ctx.execution_number(), ctx.attempt());
        Box::pin(async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            if ok {
                Ok(())
            } else {
                Err(format!("attempt {} failed", ctx.attempt()).into())
            }
        })
    });
    (job, attempts)
}

fn recorded(attempts: &Mutex<Vec<Attempt>>) -> Vec<Attempt> {
    attempts.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn each_retry_waits_within_its_doubling_cap_and_is_logged() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, attempts) = attempts_job(
        JobSpec::every("always-fails", Duration::from_secs(3600))
            .retries(3)
            .backoff(Duration::from_secs(1)),
        Duration::ZERO,
        |_, _| false,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;

    let attempts = recorded(&attempts);
    let numbers: Vec<(u64, u32)> = attempts.iter().map(|(n, a, _)| (*n, *a)).collect();
    assert_eq!(numbers, [(1, 1), (1, 2), (1, 3), (1, 4)]);
    assert_eq!(attempts[0].2, start);

    let retries = logs.job_operation("always-fails", "job_execute_retry");
    assert_eq!(retries.len(), 3);
    for (k, retry) in retries.iter().enumerate() {
        let k = k as u32 + 1;
        assert_eq!(
            retry.u64("attempt"),
            u64::from(k),
            "the attempt that failed"
        );
        assert_eq!(retry.u64("execution_number"), 1);
        assert_eq!(retry.str("error"), format!("attempt {k} failed"));
        assert_eq!(retry.level, tracing::Level::WARN);
        // Logged when attempt k failed (it fails at once).
        assert_eq!(retry.at, attempts[k as usize - 1].2);
        let delay = Duration::from_millis(retry.u64("delay_ms"));
        let cap = Duration::from_secs(1) * 2u32.pow(k - 1);
        assert!(delay <= cap, "retry {k}: {delay:?} over {cap:?}");
        // Attempt k+1 starts after the logged delay (tokio's timers round
        // up to the millisecond; delay_ms rounds down).
        let gap = attempts[k as usize].2 - attempts[k as usize - 1].2;
        assert!(
            gap >= delay && gap <= delay + MS * 2,
            "retry {k}: waited {gap:?}, logged {delay:?}"
        );
    }
    let errors = logs.job_operation("always-fails", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].at, attempts[3].2);
    assert_eq!(errors[0].str("error"), "attempt 4 failed");

    let stats = manager.stats("always-fails").unwrap();
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.error_count, 1, "only the final failure");
    assert_eq!(stats.failed_attempts, 4);
    assert_eq!(stats.retry_count, 3);
    assert_eq!(stats.last_error.as_deref(), Some("attempt 4 failed"));
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_is_no_failure() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, attempts) = attempts_job(
        JobSpec::every("flaky", Duration::from_secs(3600))
            .retries(5)
            .backoff(Duration::from_millis(100)),
        Duration::ZERO,
        |_, attempt| attempt == 3,
    );
    manager.register(job);
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    manager.stop_all().await;

    let numbers: Vec<u32> = recorded(&attempts).iter().map(|(_, a, _)| *a).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(logs.job_operation("flaky", "job_execute_retry").len(), 2);
    assert_eq!(logs.job_operation("flaky", "job_execute_success").len(), 1);
    assert!(logs.job_operation("flaky", "job_execute_error").is_empty());
    let stats = manager.stats("flaky").unwrap();
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.error_count, 0);
    assert_eq!(stats.failed_attempts, 2);
    assert_eq!(stats.retry_count, 2);
    assert_eq!(stats.last_error, None);
}

#[tokio::test(start_paused = true)]
async fn backoff_max_caps_every_delay() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, attempts) = attempts_job(
        JobSpec::every("capped", Duration::from_secs(86_400))
            .retries(8)
            .backoff(Duration::from_secs(1))
            .backoff_max(Duration::from_secs(3)),
        Duration::ZERO,
        |_, _| false,
    );
    manager.register(job);
    manager.start_all().unwrap();
    // Eight delays of at most 1, 2, 3, 3, ... s: done within 23 s.
    tokio::time::sleep(Duration::from_secs(24)).await;
    assert_eq!(recorded(&attempts).len(), 9);
    let delays: Vec<u64> = logs
        .job_operation("capped", "job_execute_retry")
        .iter()
        .map(|retry| retry.u64("delay_ms"))
        .collect();
    let caps = [1000, 2000, 3000, 3000, 3000, 3000, 3000, 3000];
    assert_eq!(delays.len(), caps.len());
    for (k, (delay, cap)) in delays.iter().zip(caps).enumerate() {
        assert!(*delay <= cap, "retry {}: {delay} ms over {cap} ms", k + 1);
    }
    let stats = manager.stats("capped").unwrap();
    assert_eq!(
        (stats.failed_attempts, stats.retry_count, stats.error_count),
        (9, 8, 1)
    );
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn stats_separate_failed_attempts_from_final_failures_across_executions() {
    let manager = JobManager::new();
    // Execution 1 fails twice then succeeds; execution 2 fails all three
    // attempts; execution 3 succeeds at once.
    let (job, _attempts) = attempts_job(
        JobSpec::every("mixed", Duration::from_secs(60))
            .retries(2)
            .backoff(Duration::from_secs(1)),
        Duration::ZERO,
        |execution, attempt| match execution {
            1 => attempt == 3,
            2 => false,
            _ => true,
        },
    );
    manager.register(job);
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(150)).await;
    manager.stop_all().await;
    let stats = manager.stats("mixed").unwrap();
    assert_eq!(stats.execution_count, 3);
    assert_eq!(stats.error_count, 1);
    assert_eq!(stats.failed_attempts, 5);
    assert_eq!(stats.retry_count, 4);
}

#[tokio::test(start_paused = true)]
async fn a_fire_during_a_retry_backoff_is_skipped_by_default() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    // Attempt 1 works until 1 ms before the next fire and fails; the retry
    // waits up to 60 s, so the fires at 10, 20, ... s come during the wait.
    let (job, attempts) = attempts_job(
        JobSpec::every("retry-vs-schedule", Duration::from_secs(10))
            .retries(1)
            .backoff(Duration::from_secs(60)),
        Duration::from_millis(9_999),
        |_, attempt| attempt == 2,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    manager.stop_all().await;

    let attempts = recorded(&attempts);
    assert_eq!(attempts[0], (1, 1, start));
    let (number, attempt, retry_at) = attempts[1];
    assert_eq!((number, attempt), (1, 2));
    assert!(retry_at > start + Duration::from_secs(10), "{attempts:?}");
    // Attempt 2 succeeds at retry_at + 9.999 s. Every fire until then was
    // skipped; the first one after it starts execution 2.
    let end = retry_at + Duration::from_millis(9_999);
    let mut grid = start + Duration::from_secs(10);
    let mut skipped = 0;
    while grid < end {
        skipped += 1;
        grid += Duration::from_secs(10);
    }
    assert_eq!(attempts[2], (2, 1, grid), "{attempts:?}");
    // Runs never overlap: each attempt starts after the previous ended.
    for pair in attempts.windows(2) {
        assert!(
            pair[1].2 >= pair[0].2 + Duration::from_millis(9_999),
            "{attempts:?}"
        );
    }
    let skips = logs.job_operation("retry-vs-schedule", "job_execute_skipped");
    assert!(skips.len() >= skipped);
    for (k, skip) in skips.iter().take(skipped).enumerate() {
        assert_eq!(skip.str("reason"), "overlap");
        assert_eq!(skip.at, start + Duration::from_secs(10) * (k as u32 + 1));
    }
    // The first skip came while the retry was waiting.
    assert!(skips[0].at < retry_at);
}

#[tokio::test(start_paused = true)]
async fn a_fire_during_a_retry_backoff_is_queued_with_overlap_queue() {
    let manager = JobManager::new();
    let (job, attempts) = attempts_job(
        JobSpec::every("retry-queue", Duration::from_secs(10))
            .retries(1)
            .backoff(Duration::from_secs(60))
            .overlap(Overlap::Queue),
        Duration::from_millis(9_999),
        |_, attempt| attempt == 2,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    manager.stop_all().await;

    let attempts = recorded(&attempts);
    let (_, _, retry_at) = attempts[1];
    assert!(retry_at > start + Duration::from_secs(10), "{attempts:?}");
    // The fire at 10 s waits and runs right after execution 1 ends.
    let end = retry_at + Duration::from_millis(9_999);
    assert_eq!(attempts[2], (2, 1, end), "{attempts:?}");
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_backoff_ends_the_execution_as_a_failure() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_grace_period(Duration::from_secs(30));
    let (job, attempts) = attempts_job(
        JobSpec::every("stopped-retry", Duration::from_secs(3600))
            .retries(3)
            .backoff(Duration::from_secs(3600)),
        Duration::ZERO,
        |_, _| false,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(recorded(&attempts).len(), 1);
    assert!(manager.stats("stopped-retry").unwrap().is_running);

    // The stop does not wait for the backoff nor the grace period.
    manager.stop_all().await;
    assert_eq!(Instant::now(), start + Duration::from_millis(100));
    settle().await;
    assert_eq!(recorded(&attempts).len(), 1, "no attempt after the stop");
    let stats = manager.stats("stopped-retry").unwrap();
    assert!(!stats.is_running);
    assert_eq!(stats.execution_count, 1);
    assert_eq!(stats.error_count, 1);
    assert_eq!(stats.failed_attempts, 1);
    assert_eq!(stats.retry_count, 1);
    let errors = logs.job_operation("stopped-retry", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].at, start + Duration::from_millis(100));
    assert!(
        errors[0].str("error").contains("attempt 1 failed"),
        "{:?}",
        errors[0]
    );
    assert!(
        errors[0].str("error").contains("stopped"),
        "{:?}",
        errors[0]
    );
    assert!(logs
        .job_operation("stopped-retry", "job_execute_aborted")
        .is_empty());
}

/// Attempts of [`retried_attr`]: (attempt, start).
static ATTR_ATTEMPTS: Mutex<Vec<(u32, Instant)>> = Mutex::new(Vec::new());

#[job(
    name = "retry-attr",
    every = "1h",
    retries = 2,
    backoff = "2s",
    backoff_max = "3s"
)]
async fn retried_attr(ctx: JobContext) -> Result<(), String> {
    ATTR_ATTEMPTS
        .lock()
        .unwrap()
        .push((ctx.attempt(), Instant::now()));
    Err("nope".to_owned())
}

#[tokio::test(start_paused = true)]
async fn the_attributes_retry_keys() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    manager.start("retry-attr").unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    manager.stop_all().await;
    let attempts = ATTR_ATTEMPTS.lock().unwrap().clone();
    let numbers: Vec<u32> = attempts.iter().map(|(a, _)| *a).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(attempts[1].1 - attempts[0].1 <= Duration::from_secs(2) + MS);
    assert!(attempts[2].1 - attempts[1].1 <= Duration::from_secs(3) + MS);
    let retries = logs.job_operation("retry-attr", "job_execute_retry");
    let fields: Vec<(u64, bool)> = retries
        .iter()
        .map(|retry| (retry.u64("attempt"), retry.u64("delay_ms") <= 3000))
        .collect();
    assert_eq!(fields, [(1, true), (2, true)]);
    assert_eq!(
        retries[0].field("delay_ms").as_u64().map(|d| d <= 2000),
        Some(true)
    );
    let stats = manager.stats("retry-attr").unwrap();
    assert_eq!(
        (stats.failed_attempts, stats.retry_count, stats.error_count),
        (3, 2, 1)
    );
    assert_eq!(
        logs.job_operation("retry-attr", "job_execute_error")[0].field("error_count"),
        &json!(1)
    );
}

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 24 * 3600);

#[tokio::test(start_paused = true)]
async fn a_replacing_fire_ends_a_backoff_and_starts_the_new_run() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    let (job, attempts) = attempts_job(
        // The first delay is uniform up to 30 days (full jitter): it ends
        // before the fire at 10 s once in 260,000 runs.
        JobSpec::every("replaced-retry", Duration::from_secs(10))
            .overlap(Overlap::Replace)
            .retries(3)
            .backoff(THIRTY_DAYS)
            .backoff_max(THIRTY_DAYS),
        Duration::ZERO,
        |execution, _| execution > 1,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    // Execution 1 fails and waits to retry; the fire at 10 s replaces it.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let runs = recorded(&attempts);
    assert_eq!(
        runs.iter()
            .map(|(n, a, at)| (*n, *a, *at))
            .collect::<Vec<_>>(),
        [(1, 1, start), (2, 1, start + Duration::from_secs(10))]
    );
    let errors = logs.job_operation("replaced-retry", "job_execute_error");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].str("error").contains("a newer run replaced it"),
        "{:?}",
        errors[0]
    );
    let stats = manager.stats("replaced-retry").unwrap();
    assert_eq!((stats.execution_count, stats.error_count), (2, 1));
    manager.stop_all().await;
}
