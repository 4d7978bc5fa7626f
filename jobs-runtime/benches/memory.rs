//! (c) Memory per registered job and the time to register and start
//! 100,000 jobs, on a multi-thread runtime.
//!
//! A counting global allocator keeps the live heap bytes (the sizes asked
//! for, without the allocator's own overhead); a job's memory is the growth
//! of that count divided by the number of jobs, after registering and again
//! after starting (once the runtime's tasks, the timers' drivers or the
//! baseline's tasks, have reached their first wait).
//! Measured for the runtime and for a baseline of one bare
//! `tokio::time::interval` task per job.
//!
//! `cargo bench -p jobs-runtime --bench memory`; `JOBS_BENCH_QUICK=1` uses
//! 10,000 jobs.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use jobs_runtime::{BoxError, Job, JobContext, JobManager, JobSpec};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counter only
// observes the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc(layout);
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = System.alloc_zeroed(layout);
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        System.dealloc(pointer, layout);
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_pointer = System.realloc(pointer, layout, new_size);
        if !new_pointer.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new_pointer
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The interval of the measured jobs: long enough that none fires.
const INTERVAL: Duration = Duration::from_secs(3600);

/// How long the tasks get to reach their first wait before memory is read.
/// The measured jobs never fire in that time, so no run is in flight.
const SETTLE: Duration = Duration::from_secs(1);

fn main() {
    support::print_machine("c");
    let jobs = if support::quick() { 10_000 } else { 100_000 };
    measure_runtime(jobs);
    measure_baseline(jobs);
}

/// The heap's growth since `before`, per job.
fn heap_per_job(before: isize, jobs: usize) -> f64 {
    (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / jobs as f64
}

/// A job whose body does nothing.
struct Noop {
    index: usize,
}

impl Job for Noop {
    fn spec(&self) -> JobSpec {
        JobSpec::every(format!("job-{}", self.index), INTERVAL).run_on_start(false)
    }

    async fn execute(&self, _ctx: JobContext) -> Result<(), BoxError> {
        Ok(())
    }
}

fn measure_runtime(jobs: usize) {
    let label = format!("(c) runtime, {jobs} jobs");
    support::runtime().block_on(async {
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let other_load = support::OtherLoad::start();
        let clock = std::time::Instant::now();
        let manager = JobManager::new();
        for index in 0..jobs {
            manager.register(Noop { index });
        }
        let registering = clock.elapsed();
        let registered = heap_per_job(before, jobs);
        let clock = std::time::Instant::now();
        manager.start_all().expect("starting the jobs");
        let starting = clock.elapsed();
        let other_load = other_load.describe();
        tokio::time::sleep(SETTLE).await;
        let started = heap_per_job(before, jobs);
        let clock = std::time::Instant::now();
        manager.stop_all().await;
        let stopping = clock.elapsed();
        drop(manager);
        let dropped = heap_per_job(before, jobs);

        println!("{label}: heap per job, registered = {registered:.0} bytes (target <= 1024 bytes)");
        println!(
            "{label}: heap per job, registered and started = {started:.0} bytes (target <= 1024 bytes)"
        );
        println!("{label}: heap per job, after stop_all and drop = {dropped:.0} bytes");
        println!("{label}: register time = {}", millis(registering));
        println!("{label}: start_all time = {}", millis(starting));
        println!(
            "{label}: register + start_all time = {} (target < 1000 ms)",
            millis(registering + starting)
        );
        println!("{label}: stop_all time = {}", millis(stopping));
        println!("{label}: other processes while registering and starting = {other_load}");
    });
}

/// One task per job looping on a bare `tokio::time::interval`, detached.
fn measure_baseline(jobs: usize) {
    let label = format!("(c) baseline, {jobs} bare interval tasks");
    support::runtime().block_on(async {
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let clock = std::time::Instant::now();
        let first = tokio::time::Instant::now() + INTERVAL;
        for _ in 0..jobs {
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval_at(first, INTERVAL);
                loop {
                    ticker.tick().await;
                }
            });
        }
        let spawning = clock.elapsed();
        tokio::time::sleep(SETTLE).await;
        let started = heap_per_job(before, jobs);
        println!("{label}: heap per job, started = {started:.0} bytes");
        println!("{label}: spawn time = {}", millis(spawning));
    });
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}
