//! (b) CPU time per execution of a no-op job: the process's CPU time (user
//! and system, every thread) over a window, divided by the executions in that
//! window, with nothing subtracted, on a multi-thread runtime. Measured with
//! 10,000 jobs every 100 ms over a 5 s window for the runtime with no
//! subscriber and for a baseline of one bare `tokio::time::interval` task per
//! job; with 10,000 jobs every second on an interval and on the cron
//! expression `* * * * * *` (all due at once) for the runtime with no
//! subscriber; and with 10,000 jobs every second for the runtime with a JSON
//! subscriber writing to a file.
//!
//! The window opens and closes halfway between two fires, when every
//! execution of the previous fire is done (for the cron jobs, halfway
//! between two whole seconds of the wall clock), and opens one fire after
//! the start so the start-up is not in it.
//!
//! `cargo bench -p jobs-runtime --bench cpu`; `JOBS_BENCH_QUICK=1` measures
//! a 1 s window.

mod json_log;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::{BoxError, Job, JobContext, JobManager, JobSpec, Schedule};
use tokio::time::{sleep_until, Instant};

fn main() {
    support::print_machine("b");
    let seconds = if support::quick() { 1 } else { 5 };
    let busy = Load::new(10_000, Duration::from_millis(100), seconds);
    report("runtime", "no subscriber", busy, &measure_runtime(busy));
    report("baseline", "no subscriber", busy, &measure_baseline(busy));
    // Interval jobs at the cron jobs' rate: per-second costs are shared by
    // as many executions as in the cron run, so the two compare like for
    // like.
    let every_second = Load::new(10_000, Duration::from_secs(1), seconds);
    report(
        "runtime",
        "no subscriber",
        every_second,
        &measure_runtime(every_second),
    );
    let cron = Load {
        cron: true,
        ..Load::new(10_000, Duration::from_secs(1), seconds)
    };
    report(
        "runtime, cron \"* * * * * *\"",
        "no subscriber",
        cron,
        &measure_runtime(cron),
    );
    let log = json_log::JsonLog::install("cpu");
    // Two events of about 400 bytes each per execution: at 100,000
    // executions a second the file alone would take 80 MB/s, so the logged
    // run fires ten times less often.
    let logged = Load::new(10_000, Duration::from_secs(1), seconds);
    report(
        "runtime",
        "JSON subscriber to a file",
        logged,
        &measure_runtime(logged),
    );
    println!(
        "(b) JSON log written: {:.1} MB",
        log.bytes_written() as f64 / 1e6
    );
}

/// How many no-op jobs run, how often, and for how many fires the window
/// lasts.
#[derive(Clone, Copy)]
struct Load {
    jobs: usize,
    interval: Duration,
    window_fires: u32,
    /// Whether the jobs run on the cron expression `* * * * * *` (the top
    /// of every second; `interval` is then 1 s) instead of an interval.
    cron: bool,
}

impl Load {
    fn new(jobs: usize, interval: Duration, seconds: u32) -> Self {
        let window_fires = u32::try_from(u128::from(seconds) * 1_000 / interval.as_millis())
            .expect("a window of fewer than 2^32 fires");
        Load {
            jobs,
            interval,
            window_fires,
            cron: false,
        }
    }

    /// The window: from halfway between the first and the second fire, for
    /// `window_fires` fires.
    fn window(&self, start: Instant) -> (Instant, Instant) {
        let open = start + self.interval * 3 / 2;
        (open, open + self.interval * self.window_fires)
    }
}

/// What one window measured.
struct Measure {
    executions: u64,
    user: Duration,
    system: Duration,
    wall: Duration,
    /// What the rest of the machine used meanwhile.
    other_load: String,
}

fn report(kind: &str, subscriber: &str, load: Load, measure: &Measure) {
    let label = format!(
        "(b) cpu, {kind}, {} no-op jobs every {:?}, {:?} window, {subscriber}",
        load.jobs,
        load.interval,
        load.interval * load.window_fires
    );
    let cpu = measure.user + measure.system;
    let per_execution = |time: Duration| time.as_nanos() as f64 / measure.executions as f64 / 1e3;
    println!(
        "{label}: cpu per execution = {:.3} µs (target <= 2 µs)",
        per_execution(cpu)
    );
    println!(
        "{label}: of which user = {:.3} µs, system = {:.3} µs",
        per_execution(measure.user),
        per_execution(measure.system)
    );
    println!(
        "{label}: executions = {} (expected {}), cpu = {:.3} s over {:.3} s wall ({:.0}% of one core)",
        measure.executions,
        load.jobs as u64 * u64::from(load.window_fires),
        cpu.as_secs_f64(),
        measure.wall.as_secs_f64(),
        cpu.as_secs_f64() / measure.wall.as_secs_f64() * 100.0
    );
    println!(
        "{label}: other processes meanwhile = {}",
        measure.other_load
    );
}

/// The process's user and system CPU time so far, every thread included.
fn cpu_times() -> (Duration, Duration) {
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
    (time(usage.ru_utime), time(usage.ru_stime))
}

/// Measures the CPU time from `open` to `close`, with `executions` read at
/// both ends outside the measured time.
async fn window(open: Instant, close: Instant, executions: impl Fn() -> u64) -> Measure {
    sleep_until(open).await;
    let executions_before = executions();
    let (user_before, system_before) = cpu_times();
    let started = Instant::now();
    let other_load = support::OtherLoad::start();
    sleep_until(close).await;
    let (user_after, system_after) = cpu_times();
    let wall = started.elapsed();
    let other_load = other_load.describe();
    Measure {
        executions: executions() - executions_before,
        user: user_after - user_before,
        system: system_after - system_before,
        wall,
        other_load,
    }
}

/// A job whose body does nothing.
struct Noop {
    index: usize,
    schedule: Schedule,
}

impl Job for Noop {
    fn spec(&self) -> JobSpec {
        JobSpec::new(format!("noop-{}", self.index), self.schedule.clone()).run_on_start(false)
    }

    async fn execute(&self, _ctx: JobContext) -> Result<(), BoxError> {
        Ok(())
    }
}

fn measure_runtime(load: Load) -> Measure {
    support::runtime().block_on(async {
        let manager = JobManager::new();
        let schedule = if load.cron {
            Schedule::cron("* * * * * *", "UTC").expect("a valid cron expression")
        } else {
            Schedule::Every(load.interval)
        };
        for index in 0..load.jobs {
            manager.register(Noop {
                index,
                schedule: schedule.clone(),
            });
        }
        let start = if load.cron {
            // The cron grid is the wall clock's seconds: the window counts
            // from the last whole second, so it opens halfway between fires.
            let into_second = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("a wall clock after 1970")
                .subsec_nanos();
            Instant::now() - Duration::from_nanos(u64::from(into_second))
        } else {
            Instant::now()
        };
        manager.start_all().expect("starting the jobs");
        let (open, close) = load.window(start);
        let executions = || {
            manager
                .all_stats()
                .iter()
                .map(|stats| stats.execution_count)
                .sum()
        };
        let measure = window(open, close, executions).await;
        manager.stop_all().await;
        measure
    })
}

/// Counts executions of one baseline task, each on its own cache line.
#[repr(align(64))]
struct Counter(AtomicU64);

/// One task per job looping on a bare `tokio::time::interval` on the same
/// grid as the runtime's jobs; its body only counts the fire.
fn measure_baseline(load: Load) -> Measure {
    support::runtime().block_on(async {
        let counters: Arc<[Counter]> = (0..load.jobs).map(|_| Counter(AtomicU64::new(0))).collect();
        let start = Instant::now();
        let tasks: Vec<_> = (0..load.jobs)
            .map(|index| {
                let counters = Arc::clone(&counters);
                tokio::spawn(async move {
                    let mut ticker = tokio::time::interval_at(start + load.interval, load.interval);
                    loop {
                        ticker.tick().await;
                        counters[index].0.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let (open, close) = load.window(start);
        let executions = || {
            counters
                .iter()
                .map(|counter| counter.0.load(Ordering::Relaxed))
                .sum()
        };
        let measure = window(open, close, executions).await;
        for task in tasks {
            task.abort();
        }
        measure
    })
}
