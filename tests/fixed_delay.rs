//! Fixed delay on tokio's paused clock: each run starts one interval after
//! the previous one ended, unlike the default fixed rate.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobs_runtime::{job, JobContext, JobManager, JobSpec, Missed};
use tokio::time::Instant;

use support::{job_fn, next_soon as next, recording, settle, Logs};

const TEN_SECONDS: Duration = Duration::from_secs(10);

#[tokio::test(start_paused = true)]
async fn the_next_run_starts_one_interval_after_the_previous_ended() {
    let manager = JobManager::new();
    // Each run takes 3 s: fixed delay fires at 0, 13, 26, 39 s (fixed rate
    // would fire at 0, 10, 20, 30 s).
    let (job, mut runs) = recording(
        JobSpec::every("delayed", TEN_SECONDS).fixed_delay(),
        Duration::from_secs(3),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for k in 0..4u32 {
        let run = next(&mut runs).await;
        assert_eq!(run.number, u64::from(k) + 1);
        assert_eq!(
            run.started_at,
            start + Duration::from_secs(13) * k,
            "run {k}"
        );
        assert_eq!(run.scheduled_at, run.started_at, "run {k}");
    }
    manager.stop_all().await;
    let stats = manager.stats("delayed").unwrap();
    assert_eq!(stats.skipped_count, 0);
    assert_eq!(stats.missed_count, 0);
}

#[tokio::test(start_paused = true)]
async fn runs_of_varying_length_push_the_next_one_each_time() {
    let manager = JobManager::new();
    let lengths = [1u64, 7, 0, 25];
    let count = Arc::new(AtomicU32::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    manager.register(job_fn(
        JobSpec::every("varying", TEN_SECONDS)
            .fixed_delay()
            .run_on_start(false),
        move |_ctx: JobContext| {
            let k = count.fetch_add(1, Ordering::SeqCst) as usize;
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                tokio::time::sleep(Duration::from_secs(lengths[k % lengths.len()])).await;
                Ok(())
            }
        },
    ));
    let start = Instant::now();
    manager.start_all().unwrap();
    // Without run_on_start the first run waits one interval; then each one
    // starts 10 s after the previous ended: 10, 10+1+10, 21+7+10, 38+0+10,
    // 48+25+10.
    for expected in [10u64, 21, 38, 48, 83] {
        assert_eq!(next(&mut rx).await, start + Duration::from_secs(expected));
    }
    manager.stop_all().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_the_interval_overlaps_nothing_and_skips_nothing() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("long", TEN_SECONDS).fixed_delay(),
        Duration::from_secs(25),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    for expected in [0u64, 35, 70] {
        assert_eq!(
            next(&mut runs).await.started_at,
            start + Duration::from_secs(expected)
        );
    }
    manager.stop_all().await;
    let stats = manager.stats("long").unwrap();
    assert_eq!(stats.skipped_count, 0);
    assert_eq!(stats.missed_count, 0);
}

#[tokio::test(start_paused = true)]
async fn the_delay_counts_from_the_end_of_the_last_retry() {
    let manager = JobManager::new();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    manager.register(job_fn(
        JobSpec::every("delayed-retry", TEN_SECONDS)
            .fixed_delay()
            .retries(1)
            .backoff(Duration::from_secs(4)),
        move |ctx: JobContext| {
            seen.lock().unwrap().push((ctx.attempt(), Instant::now()));
            async move {
                if ctx.attempt() == 1 {
                    Err("first attempt fails".into())
                } else {
                    Ok(())
                }
            }
        },
    ));
    let start = Instant::now();
    manager.start_all().unwrap();
    // The first execution: attempt 1 at 0, attempt 2 after a delay in
    // [0, 4 s]; the second execution starts 10 s after attempt 2 ended, so
    // by 14 s at the latest.
    tokio::time::sleep(Duration::from_secs(15)).await;
    settle().await;
    {
        let attempts = attempts.lock().unwrap();
        assert!(attempts.len() >= 3, "{attempts:?}");
        assert_eq!(attempts[0], (1, start));
        let (attempt, retry_at) = attempts[1];
        assert_eq!(attempt, 2);
        assert!(retry_at <= start + Duration::from_secs(4), "{attempts:?}");
        assert_eq!(attempts[2], (1, retry_at + TEN_SECONDS));
    }
    manager.stop_all().await;
}

/// Start instants of [`fixed_delay_attr`].
static ATTR_RUNS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[job(name = "fixed-delay-attr", every = "10s", delay = "fixed")]
async fn fixed_delay_attr() {
    ATTR_RUNS.lock().unwrap().push(Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
}

/// Start instants of [`fixed_rate_attr`].
static RATE_RUNS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[job(name = "fixed-rate-attr", every = "10s", delay = "rate")]
async fn fixed_rate_attr() {
    RATE_RUNS.lock().unwrap().push(Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
}

#[tokio::test(start_paused = true)]
async fn the_attribute_chooses_fixed_delay_or_fixed_rate() {
    let manager = JobManager::discover();
    let start = Instant::now();
    manager.start("fixed-delay-attr").unwrap();
    manager.start("fixed-rate-attr").unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    manager.stop_all().await;
    let offsets = |runs: &Mutex<Vec<Instant>>| -> Vec<u64> {
        runs.lock()
            .unwrap()
            .iter()
            .map(|at| (*at - start).as_secs())
            .collect()
    };
    assert_eq!(offsets(&ATTR_RUNS), [0, 14, 28]);
    assert_eq!(offsets(&RATE_RUNS), [0, 10, 20, 30]);
    assert!(manager
        .registered_jobs()
        .contains(&"fixed-delay-attr".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_missed_fire_does_not_end_a_fixed_delay_job() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_misfire_threshold(Duration::from_secs(5));
    let (job, mut runs) = recording(
        JobSpec::every("delay-missed", TEN_SECONDS).fixed_delay(),
        Duration::ZERO,
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.started_at, start);
    // Let the run end, so the next fire is due at 10 s.
    settle().await;
    // The fire due at 10 s is reached at 300 s: missed (the default policy
    // skips it); the next run is one interval later.
    tokio::time::advance(Duration::from_secs(300)).await;
    let run = next(&mut runs).await;
    assert_eq!(run.started_at, start + Duration::from_secs(310));
    assert_eq!(manager.stats("delay-missed").unwrap().missed_count, 1);
    assert_eq!(
        next(&mut runs).await.started_at,
        start + Duration::from_secs(320)
    );
    manager.stop_all().await;
    assert_eq!(
        logs.job_operation("delay-missed", "job_execute_missed")
            .len(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_missed_fire_of_a_fixed_delay_job_runs_once_with_run_once() {
    let manager = JobManager::new();
    manager.set_misfire_threshold(Duration::from_secs(5));
    let (job, mut runs) = recording(
        JobSpec::every("delay-run-once", TEN_SECONDS)
            .fixed_delay()
            .missed(Missed::RunOnce),
        Duration::from_secs(2),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.started_at, start);
    // The run ends at 2 s, so the next fire is due at 12 s.
    tokio::time::sleep_until(start + Duration::from_secs(3)).await;
    // Due at 12 s, reached at 303 s: it runs once at once, and the next run
    // comes one interval after that one ended.
    tokio::time::advance(Duration::from_secs(300)).await;
    assert_eq!(
        next(&mut runs).await.started_at,
        start + Duration::from_secs(303)
    );
    assert_eq!(
        next(&mut runs).await.started_at,
        start + Duration::from_secs(315)
    );
    manager.stop_all().await;
    assert_eq!(manager.stats("delay-run-once").unwrap().missed_count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_paused_fixed_delay_job_keeps_its_rhythm_and_resumes() {
    let manager = JobManager::new();
    let (job, mut runs) = recording(
        JobSpec::every("delay-paused", TEN_SECONDS).fixed_delay(),
        Duration::from_secs(2),
    );
    manager.register(job);
    let start = Instant::now();
    manager.start_all().unwrap();
    assert_eq!(next(&mut runs).await.started_at, start);
    manager.pause("delay-paused").unwrap();
    // Fires at 12 s and 22 s are skipped while paused; after the resume the
    // job fires on its rhythm again, at 32 s.
    tokio::time::sleep_until(start + Duration::from_secs(25)).await;
    manager.resume("delay-paused").unwrap();
    assert_eq!(
        next(&mut runs).await.started_at,
        start + Duration::from_secs(32)
    );
    manager.stop_all().await;
    assert_eq!(manager.stats("delay-paused").unwrap().skipped_count, 2);
}
