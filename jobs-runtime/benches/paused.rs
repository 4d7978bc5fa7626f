//! (b) Work per execution of a no-op job on tokio's paused clock: 10,000
//! jobs every 100 ms on a current-thread runtime whose clock jumps from
//! fire to fire, so the run does the same work every time, whatever else
//! the machine does. It prints the CPU time per execution; its steadier
//! figure is the instruction count, read with valgrind:
//!
//! ```text
//! JOBS_BENCH_SECONDS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/paused-*
//! JOBS_BENCH_SECONDS=3 valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/paused-*
//! ```
//!
//! The difference of the two totals (`Collected`), divided by the
//! difference of the executions they print, is the instructions per
//! execution with the start-up left out.
//!
//! `cargo bench -p jobs-runtime --bench paused`; `JOBS_BENCH_SECONDS`
//! sets the measured span of paused time (5 s by default).
//! `JOBS_BENCH_SCHEDULE` picks the jobs' schedule: `100ms` (the default),
//! `1s`, or `cron` (`* * * * * *` in UTC); with `1s` and `cron` the wall
//! clock follows the paused one, so that a cron fire's work can be set
//! against an interval fire's at the same rate, on the same clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{BoxError, Clock, Job, JobContext, JobManager, JobSpec, Schedule};

const JOBS: usize = 10_000;

fn main() {
    let seconds: u64 = std::env::var("JOBS_BENCH_SECONDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(5);
    let chosen = std::env::var("JOBS_BENCH_SCHEDULE").ok();
    let (schedule, interval) = match chosen.as_deref().unwrap_or("100ms") {
        "100ms" => (
            Schedule::Every(Duration::from_millis(100)),
            Duration::from_millis(100),
        ),
        "1s" => (
            Schedule::Every(Duration::from_secs(1)),
            Duration::from_secs(1),
        ),
        "cron" => (
            Schedule::cron("* * * * * *", "UTC").expect("a valid expression"),
            Duration::from_secs(1),
        ),
        other => panic!("JOBS_BENCH_SCHEDULE={other:?}: one of 100ms, 1s, cron"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("building the tokio runtime");
    runtime.block_on(async {
        let executions = Arc::new(AtomicU64::new(0));
        let manager = JobManager::new();
        // A wall clock that follows the paused one, from a whole second.
        if chosen.is_some() {
            manager.set_clock(Clock::starting_at(
                std::time::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            ));
        }
        for index in 0..JOBS {
            manager.register(Noop {
                index,
                schedule: schedule.clone(),
                executions: Arc::clone(&executions),
            });
        }
        manager.start_all().expect("starting the jobs");
        // Halfway between two fires, one fire after the start.
        tokio::time::sleep(interval + interval / 2).await;
        let before = executions.load(Ordering::Relaxed);
        let cpu_before = cpu_time();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu = cpu_time() - cpu_before;
        let count = executions.load(Ordering::Relaxed) - before;
        manager.stop_all().await;
        println!(
            "(b) paused clock, {JOBS} no-op jobs on {schedule}, {seconds} s: {count} executions, cpu per execution = {:.3} µs",
            cpu.as_secs_f64() * 1e6 / count.max(1) as f64
        );
    });
}

/// A job whose body only counts its execution.
struct Noop {
    index: usize,
    schedule: Schedule,
    executions: Arc<AtomicU64>,
}

impl Job for Noop {
    fn spec(&self) -> JobSpec {
        JobSpec::new(format!("noop-{}", self.index), self.schedule.clone()).run_on_start(false)
    }

    async fn execute(&self, _ctx: JobContext) -> Result<(), BoxError> {
        self.executions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The process's CPU time so far (user and system, every thread).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` fills the struct it is given and reports failure
    // by its return value, which is checked before the struct is read.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let time = |value: libc::timeval| {
        Duration::new(value.tv_sec as u64, 0) + Duration::from_micros(value.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}
