//! Slots and priorities: with `set_available_slots(n)`, a run starts only
//! when its job's `slots` are free; otherwise it waits, served by priority
//! (high, normal, low) and then by fire time. The wait is measured
//! (`queue_time_ms`, and the stats' queue times). Unlimited by default.

mod support;

use std::time::Duration;

use jobs_runtime::{job, Error, JobManager, JobSpec, Priority};
use serde_json::json;
use tokio::time::Instant;

use support::{next, recording, Logs};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// `(instant relative to start, queue_time_ms)` of a job's execution starts.
fn starts(logs: &Logs, job: &str, start: Instant) -> Vec<(Duration, u64)> {
    logs.job_operation(job, "job_execute_start")
        .iter()
        .map(|event| (event.at - start, event.u64("queue_time_ms")))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_run_waits_for_its_slot_and_the_wait_is_measured() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(1);
    // Waits here are longer than the default misfire threshold.
    manager.set_misfire_threshold(MINUTE);
    let (holder, mut holder_runs) =
        recording(JobSpec::every("holder", HOUR), Duration::from_secs(30));
    let (waiter, mut waiter_runs) = recording(
        JobSpec::every("waiter", Duration::from_secs(20)).run_on_start(false),
        Duration::from_secs(5),
    );
    manager.register(holder);
    manager.register(waiter);
    let start = Instant::now();
    manager.start_all().unwrap();

    assert_eq!(next(&mut holder_runs).await.started_at, start);
    // Due at 20 s, the slot is free at 30 s.
    let first = next(&mut waiter_runs).await;
    assert_eq!(first.scheduled_at, start + Duration::from_secs(20));
    assert_eq!(first.started_at, start + Duration::from_secs(30));
    // Due at 40 s, the slot is free.
    let second = next(&mut waiter_runs).await;
    assert_eq!(second.started_at, start + Duration::from_secs(40));
    manager.stop_all().await;

    assert_eq!(starts(&logs, "holder", start), [(Duration::ZERO, 0)]);
    assert_eq!(
        starts(&logs, "waiter", start),
        [
            (Duration::from_secs(30), 10_000),
            (Duration::from_secs(40), 0)
        ]
    );
    let stats = manager.stats("waiter").unwrap();
    assert_eq!(stats.last_queue_time, Duration::ZERO);
    assert_eq!(stats.max_queue_time, Duration::from_secs(10));
    assert_eq!(stats.average_queue_time, Duration::from_secs(5));
    let holder = manager.stats("holder").unwrap();
    assert_eq!(holder.max_queue_time, Duration::ZERO);
    assert_eq!(holder.average_queue_time, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn waiting_runs_are_served_by_priority_then_fire_time() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(1);
    let (holder, mut holder_runs) =
        recording(JobSpec::every("busy", HOUR), Duration::from_secs(10));
    manager.register(holder);
    let names = [
        ("low", Priority::Low),
        ("normal-1", Priority::Normal),
        ("normal-2", Priority::Normal),
        ("high", Priority::High),
    ];
    for (name, priority) in names {
        let (job, _runs) = recording(
            JobSpec::unscheduled(name).priority(priority),
            Duration::from_secs(5),
        );
        manager.register(job);
    }
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut holder_runs).await;

    // Fired at 1, 2, 3 and 4 s while `busy` holds the slot until 10 s.
    for (name, _) in names {
        tokio::time::sleep(SECOND).await;
        manager.trigger(name).unwrap();
    }
    tokio::time::sleep(MINUTE).await;
    manager.stop_all().await;

    let secs = Duration::from_secs;
    assert_eq!(starts(&logs, "high", start), [(secs(10), 6_000)]);
    assert_eq!(starts(&logs, "normal-1", start), [(secs(15), 13_000)]);
    assert_eq!(starts(&logs, "normal-2", start), [(secs(20), 17_000)]);
    assert_eq!(starts(&logs, "low", start), [(secs(25), 24_000)]);
    let low = manager.stats("low").unwrap();
    assert_eq!(low.last_queue_time, secs(24));
    assert_eq!(low.max_queue_time, secs(24));
    assert_eq!(low.average_queue_time, secs(24));
}

#[tokio::test(start_paused = true)]
async fn a_run_needing_several_slots_waits_for_all_and_keeps_its_place() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(2);
    let (one, mut one_runs) = recording(JobSpec::every("one", HOUR), Duration::from_secs(10));
    let (both, _) = recording(
        JobSpec::unscheduled("both").slots(2),
        Duration::from_secs(5),
    );
    let (single, _) = recording(JobSpec::unscheduled("single"), Duration::from_secs(1));
    manager.register(one);
    manager.register(both);
    manager.register(single);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut one_runs).await;

    tokio::time::sleep(SECOND).await;
    manager.trigger("both").unwrap();
    tokio::time::sleep(SECOND).await;
    // One slot is free, but `both` fired first and waits for two: `single`
    // waits behind it.
    manager.trigger("single").unwrap();
    tokio::time::sleep(MINUTE).await;
    manager.stop_all().await;

    let secs = Duration::from_secs;
    assert_eq!(starts(&logs, "both", start), [(secs(10), 9_000)]);
    assert_eq!(starts(&logs, "single", start), [(secs(15), 13_000)]);
}

#[tokio::test(start_paused = true)]
async fn runs_that_fit_go_side_by_side() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(3);
    for (name, slots) in [("two", 2), ("one", 1), ("late", 1)] {
        manager.register(
            recording(
                JobSpec::every(name, HOUR).slots(slots),
                Duration::from_secs(10),
            )
            .0,
        );
    }
    let start = Instant::now();
    manager.start("two").unwrap();
    manager.start("one").unwrap();
    tokio::time::sleep(SECOND).await;
    manager.start("late").unwrap();
    tokio::time::sleep(MINUTE).await;
    manager.stop_all().await;

    assert_eq!(starts(&logs, "two", start), [(Duration::ZERO, 0)]);
    assert_eq!(starts(&logs, "one", start), [(Duration::ZERO, 0)]);
    // `two` and `one` hold all three slots until 10 s.
    assert_eq!(
        starts(&logs, "late", start),
        [(Duration::from_secs(10), 9_000)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_run_that_waited_past_the_misfire_threshold_is_missed() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(1);
    manager.set_misfire_threshold(Duration::from_secs(5));
    let (holder, mut holder_runs) = recording(JobSpec::every("hog", HOUR), Duration::from_secs(30));
    let (waiter, mut waiter_runs) = recording(
        JobSpec::every("patient", Duration::from_secs(20)).run_on_start(false),
        Duration::ZERO,
    );
    manager.register(holder);
    manager.register(waiter);
    let start = Instant::now();
    manager.start_all().unwrap();
    next(&mut holder_runs).await;

    // Due at 20 s, the slot comes at 30 s: past the 5 s threshold, so with
    // `missed = "skip"` that fire is missed. The next one runs.
    let run = next(&mut waiter_runs).await;
    assert_eq!(
        (run.number, run.started_at),
        (1, start + Duration::from_secs(40))
    );
    manager.stop_all().await;
    let missed = logs.job_operation("patient", "job_execute_missed");
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].at, start + Duration::from_secs(30));
    let stats = manager.stats("patient").unwrap();
    assert_eq!(stats.missed_count, 1);
    assert_eq!(stats.max_queue_time, Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_job_needing_more_slots_than_available_stops_start_up() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    manager.set_available_slots(2);
    assert_eq!(manager.available_slots(), Some(2));
    manager.register(recording(JobSpec::every("modest", HOUR), Duration::ZERO).0);
    manager.register(recording(JobSpec::every("greedy", HOUR).slots(3), Duration::ZERO).0);

    let error = manager.start_all().unwrap_err();
    assert!(
        matches!(
            &error,
            Error::NotEnoughSlots { job, needed: 3, available: 2 } if job == "greedy"
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("`greedy`"), "{message}");
    assert!(message.contains("needs 3 slots"), "{message}");
    tokio::time::sleep(HOUR).await;
    assert!(logs.operation("job_start").is_empty());
    assert!(logs.operation("job_execute_start").is_empty());
    // The job that fits starts alone.
    manager.start("modest").unwrap();
}

#[tokio::test(start_paused = true)]
async fn slots_are_unlimited_by_default() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::new();
    assert_eq!(manager.available_slots(), None);
    for name in ["wide-1", "wide-2", "wide-3"] {
        manager.register(
            recording(
                JobSpec::every(name, HOUR).slots(1000),
                Duration::from_secs(10),
            )
            .0,
        );
    }
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(MINUTE).await;
    manager.stop_all().await;
    for name in ["wide-1", "wide-2", "wide-3"] {
        assert_eq!(starts(&logs, name, start), [(Duration::ZERO, 0)]);
        let stats = manager.stats(name).unwrap();
        assert_eq!(stats.max_queue_time, Duration::ZERO);
    }
    assert_eq!(
        logs.operation("job_execute_start")[0].field("queue_time_ms"),
        &json!(0)
    );
}

// ---------------------------------------------------------------- #[job]

/// Holds both slots 0–70 s; its fire at 60 s is skipped (overlap).
#[job(name = "attr-heavy", every = "1m", slots = 2, priority = "high")]
async fn attr_heavy() {
    tokio::time::sleep(Duration::from_secs(70)).await;
}

/// Due at 60 s; needs both slots.
#[job(
    name = "attr-low",
    every = "1m",
    run_on_start = false,
    slots = 2,
    priority = "low"
)]
async fn attr_low() {}

/// Due at 60 s; one slot, default priority.
#[job(name = "attr-normal", every = "1m", run_on_start = false)]
async fn attr_normal() {
    tokio::time::sleep(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn the_slots_and_priority_keys_of_the_attribute() {
    let (logs, _guard) = Logs::capture();
    let manager = JobManager::discover();
    manager.set_available_slots(2);
    manager.set_misfire_threshold(MINUTE);
    let start = Instant::now();
    manager.start_all().unwrap();
    tokio::time::sleep(Duration::from_secs(100)).await;
    manager.stop_all().await;

    let secs = Duration::from_secs;
    assert_eq!(starts(&logs, "attr-heavy", start), [(secs(0), 0)]);
    // At 70 s `attr-normal` (normal) goes before `attr-low` (low); `attr-low`
    // then waits for its second slot until `attr-normal` ends at 75 s.
    assert_eq!(starts(&logs, "attr-normal", start), [(secs(70), 10_000)]);
    assert_eq!(starts(&logs, "attr-low", start), [(secs(75), 15_000)]);
}
