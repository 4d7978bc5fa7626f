//! (a) Lateness of fires: the instant a job's body starts minus the instant
//! it was due (`ctx.scheduled_at()`), for 1,000 and 10,000 jobs every second
//! over 10 s of real time on a multi-thread runtime; p50, p99, max and missed
//! fires. Measured for the runtime with no subscriber, for a baseline of one
//! bare `tokio::time::interval` task per job (on one shared grid, and on a
//! grid per task), and for the runtime with a JSON subscriber writing to a
//! file. Also 10,000 cron jobs on `* * * * * *`, all due at the top of every
//! second. With the `sqlite` feature, 1,000 jobs with the SQLite store on a
//! file in a temporary folder (`JobManager::connect` before `start_all`),
//! run right after the default's row (no store set: nothing kept) at 1,000 jobs, with the
//! difference of the two p99s and the count of executions the file holds
//! at the end; without the feature that row is skipped, saying so.
//!
//! Every job waits one interval before its first fire (`run_on_start(false)`),
//! so all fires are on the steady grid and none includes the start-up. Each
//! interval job's grid starts when `start_all` launches it, so the jobs of
//! one `start_all` fire microseconds apart, as the per-task baseline does;
//! the shared-grid baseline and the cron jobs show the case where every job
//! is due at the same instant.
//!
//! `cargo bench -p jobs-runtime --features sqlite --bench lateness` (without
//! `--features sqlite` the SQLite row is skipped); `JOBS_BENCH_QUICK=1` runs
//! 5 fires every 200 ms instead of 10 every second.

mod json_log;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jobs_runtime::execution::ExecutionFilter;
use jobs_runtime::{BoxError, Job, JobContext, JobManager, JobSpec, Schedule};
use tokio::time::Instant;

const JOB_COUNTS: [usize; 2] = [1_000, 10_000];

/// The job count of the SQLite store's row.
const SQLITE_JOBS: usize = 1_000;

/// The most the SQLite store's p99 may exceed the default's (no store), in the
/// same run.
#[cfg(feature = "sqlite")]
const SQLITE_P99_MARGIN: Duration = Duration::from_millis(2);

fn main() {
    support::print_machine("a");
    let (interval, fires) = if support::quick() {
        (Duration::from_millis(200), 5)
    } else {
        (Duration::from_secs(1), 10)
    };
    for jobs in JOB_COUNTS {
        let run = Run::new("runtime", jobs, interval, fires, "no subscriber");
        let memory_p99 = run.report(&run_runtime(&run));
        // The SQLite row follows the default's at 1,000 jobs at once,
        // so that both see the same neighbours.
        if jobs == SQLITE_JOBS {
            sqlite_row(interval, fires, memory_p99);
        }
    }
    // Cron jobs at the top of every second: all 10,000 are due at the same
    // instants, the burst case. (Quick mode keeps it, with fewer fires.)
    let run = Run::new(
        "runtime, cron \"* * * * * *\"",
        10_000,
        Duration::from_secs(1),
        fires,
        "no subscriber",
    );
    run.report(&run_runtime_on(&run, cron_every_second(), None));
    for (kind, grid) in [
        ("baseline on one grid", Grid::Shared),
        ("baseline on a grid per task", Grid::PerTask),
    ] {
        for jobs in JOB_COUNTS {
            let run = Run::new(kind, jobs, interval, fires, "no subscriber");
            run.report(&run_baseline(&run, grid));
        }
    }
    let log = json_log::JsonLog::install("lateness");
    for jobs in JOB_COUNTS {
        let run = Run::new(
            "runtime",
            jobs,
            interval,
            fires,
            "JSON subscriber to a file",
        );
        run.report(&run_runtime(&run));
    }
    println!(
        "(a) JSON log written: {:.1} MB",
        log.bytes_written() as f64 / 1e6
    );
}

/// One measured configuration.
struct Run {
    kind: &'static str,
    jobs: usize,
    interval: Duration,
    fires: usize,
    subscriber: &'static str,
}

/// What one run measured.
struct Outcome {
    recorder: Arc<Recorder>,
    /// Executions and skipped fires from the runtime's stats; `None` for the
    /// baseline, which has none.
    stats: Option<(u64, u64)>,
    /// How many executions the store held at the end, read back through
    /// `JobManager::executions`; `None` when the run set no store.
    stored: Option<usize>,
    /// The CPU time of the SQLite store's writer thread over the run (to
    /// the 10 ms of `/proc`); `None` when the process has no such thread.
    writer_cpu: Option<Duration>,
    /// What the rest of the machine used meanwhile.
    other_load: String,
}

impl Run {
    fn new(
        kind: &'static str,
        jobs: usize,
        interval: Duration,
        fires: usize,
        subscriber: &'static str,
    ) -> Self {
        Run {
            kind,
            jobs,
            interval,
            fires,
            subscriber,
        }
    }

    /// Prints the figures of `outcome` and returns its p99, in nanoseconds.
    fn report(&self, outcome: &Outcome) -> u64 {
        let label = format!(
            "(a) lateness, {}, {} jobs every {:?} x {} fires, {}",
            self.kind, self.jobs, self.interval, self.fires, self.subscriber
        );
        let p99_target_ms = if self.jobs <= 1_000 { 3 } else { 10 };
        let mut samples = outcome.recorder.samples();
        samples.sort_unstable();
        let expected = self.jobs * self.fires;
        let missed = expected - samples.len();
        let p99 = percentile(&samples, 0.99);
        println!("{label}: p50 = {}", millis(percentile(&samples, 0.50)));
        println!(
            "{label}: p99 = {} (target <= {p99_target_ms} ms)",
            millis(p99)
        );
        println!(
            "{label}: max = {}",
            millis(samples.last().copied().unwrap_or(0))
        );
        println!("{label}: missed fires = {missed} of {expected} (target 0)");
        if let Some((executions, skipped)) = outcome.stats {
            println!("{label}: stats = {executions} executions, {skipped} skipped");
        }
        if let Some(stored) = outcome.stored {
            println!(
                "{label}: executions in the store at the end = {stored} of {expected} fires \
                 (target {expected})"
            );
        }
        if let Some(cpu) = outcome.writer_cpu {
            println!(
                "{label}: CPU of the store's writer thread = {} ms ({:.1} µs per execution)",
                cpu.as_millis(),
                cpu.as_secs_f64() * 1e6 / samples.len().max(1) as f64,
            );
        }
        println!(
            "{label}: other processes meanwhile = {}",
            outcome.other_load
        );
        let unexpected = outcome.recorder.unexpected.load(Ordering::Relaxed);
        if unexpected > 0 {
            println!("{label}: executions past the measured fires = {unexpected}");
        }
        p99
    }
}

/// Lateness of every expected fire, in nanoseconds, in slots allocated before
/// the run: recording is one relaxed store, with no lock and no allocation.
struct Recorder {
    fires: usize,
    slots: Box<[AtomicU64]>,
    /// Executions whose number is past the expected fires.
    unexpected: AtomicU64,
}

/// The value of a slot whose fire never ran.
const NOT_RUN: u64 = u64::MAX;

impl Recorder {
    fn new(jobs: usize, fires: usize) -> Self {
        Recorder {
            fires,
            slots: (0..jobs * fires).map(|_| AtomicU64::new(NOT_RUN)).collect(),
            unexpected: AtomicU64::new(0),
        }
    }

    /// Records the lateness of fire `fire` (counted from 1) of job `job`.
    fn record(&self, job: usize, fire: u64, lateness: Duration) {
        let nanos = u64::try_from(lateness.as_nanos()).unwrap_or(NOT_RUN - 1);
        match usize::try_from(fire) {
            Ok(fire @ 1..) if fire <= self.fires => {
                self.slots[job * self.fires + fire - 1].store(nanos, Ordering::Relaxed);
            }
            _ => {
                self.unexpected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn samples(&self) -> Vec<u64> {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Relaxed))
            .filter(|&nanos| nanos != NOT_RUN)
            .collect()
    }
}

/// A job that records how late its body starts.
struct Probe {
    index: usize,
    schedule: Schedule,
    recorder: Arc<Recorder>,
}

impl Job for Probe {
    fn spec(&self) -> JobSpec {
        JobSpec::new(format!("probe-{}", self.index), self.schedule.clone()).run_on_start(false)
    }

    async fn execute(&self, ctx: JobContext) -> Result<(), BoxError> {
        let lateness = Instant::now().saturating_duration_since(ctx.scheduled_at());
        self.recorder
            .record(self.index, ctx.execution_number(), lateness);
        Ok(())
    }
}

fn cron_every_second() -> Schedule {
    Schedule::cron("* * * * * *", "UTC").expect("a valid cron expression")
}

fn run_runtime(run: &Run) -> Outcome {
    run_runtime_on(run, Schedule::Every(run.interval), None)
}

/// The SQLite store's row: `SQLITE_JOBS` jobs with the store on a file in a
/// temporary folder, and how its p99 compares with `memory_p99`, the memory
/// store's in the same run.
#[cfg(feature = "sqlite")]
fn sqlite_row(interval: Duration, fires: usize, memory_p99: u64) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", folder.path().join("lateness.db").display());
    let run = Run::new(
        "runtime, SQLite store",
        SQLITE_JOBS,
        interval,
        fires,
        "no subscriber",
    );
    let schedule = Schedule::Every(interval);
    let sqlite_p99 = run.report(&run_runtime_on(&run, schedule, Some(&url)));
    let difference = sqlite_p99 as f64 - memory_p99 as f64;
    println!(
        "(a) lateness at {SQLITE_JOBS} jobs: SQLite store p99 - default (no store) p99 = {:+.3} ms \
         ({:.2}x; target <= {} ms)",
        difference / 1e6,
        sqlite_p99 as f64 / memory_p99.max(1) as f64,
        SQLITE_P99_MARGIN.as_millis(),
    );
}

/// Without the `sqlite` feature there is no SQLite store to measure.
#[cfg(not(feature = "sqlite"))]
fn sqlite_row(_interval: Duration, _fires: usize, _memory_p99: u64) {
    println!(
        "(a) lateness, runtime, SQLite store: skipped, built without the `sqlite` feature \
         (cargo bench -p jobs-runtime --features sqlite --bench lateness)"
    );
}

/// The runtime's jobs on `schedule`, with the store at `store_url` when
/// given (connected before `start_all`) and the default (no store)
/// otherwise.
fn run_runtime_on(run: &Run, schedule: Schedule, store_url: Option<&str>) -> Outcome {
    let recorder = Arc::new(Recorder::new(run.jobs, run.fires));
    let other_load = support::OtherLoad::start();
    let (stats, stored, writer_cpu, other_load) = support::runtime().block_on(async {
        let manager = JobManager::new();
        for index in 0..run.jobs {
            manager.register(Probe {
                index,
                schedule: schedule.clone(),
                recorder: Arc::clone(&recorder),
            });
        }
        if let Some(url) = store_url {
            manager.connect(url).await.expect("opening the store");
        }
        manager.start_all().expect("starting the jobs");
        // The grid starts inside `start_all` (a cron job's first fire is at
        // most one interval away), so the last measured fire is due before
        // `fires` intervals from here; stop half an interval after it.
        let fires = u32::try_from(run.fires).expect("fire count");
        tokio::time::sleep(run.interval * fires + run.interval / 2).await;
        manager.stop_all().await;
        let other_load = other_load.describe();
        let writer_cpu = writer_thread_cpu();
        let stats = manager
            .all_stats()
            .iter()
            .fold((0, 0), |(executions, skipped), stats| {
                (
                    executions + stats.execution_count,
                    skipped + stats.skipped_count,
                )
            });
        // `stop_all` has flushed the store; read it back after the
        // measurement, so the read is not counted in its load.
        let stored = match store_url {
            Some(_) => Some(
                manager
                    .executions(ExecutionFilter::new().unlimited())
                    .await
                    .expect("reading the executions back")
                    .len(),
            ),
            None => None,
        };
        (stats, stored, writer_cpu, other_load)
    });
    Outcome {
        recorder,
        stats: Some(stats),
        stored,
        writer_cpu,
        other_load,
    }
}

/// The user and system time so far of this process's thread named
/// `jobs-store-writer` (the SQLite store's writer), from
/// `/proc/self/task/*/stat`; `None` when there is no such thread.
fn writer_thread_cpu() -> Option<Duration> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .filter_map(Result::ok)
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                // `comm` keeps the first 15 bytes of a thread's name.
                .is_ok_and(|name| name.trim_end() == "jobs-store-writ")
        })
        .and_then(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .map(|stat| {
            // Fields 14 and 15, counted after the parenthesised name.
            let after_name = stat.rsplit(')').next().unwrap_or_default();
            let ticks: u64 = after_name
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|field| field.parse::<u64>().ok())
                .sum();
            Duration::from_millis(ticks * 10)
        })
}

/// Where the grid of a baseline task starts.
#[derive(Clone, Copy)]
enum Grid {
    /// One grid for every task, as the runtime's jobs started together share
    /// one: `tokio::time::interval_at(start + interval, interval)`.
    Shared,
    /// A grid from each task's own first poll: `tokio::time::interval` in the
    /// task, so the fires spread over the time the tasks took to start.
    PerTask,
}

/// One task per job looping on a bare `tokio::time::interval`.
fn run_baseline(run: &Run, grid: Grid) -> Outcome {
    let recorder = Arc::new(Recorder::new(run.jobs, run.fires));
    let other_load = support::OtherLoad::start();
    support::runtime().block_on(async {
        let first = Instant::now() + run.interval;
        let tasks: Vec<_> = (0..run.jobs)
            .map(|index| {
                let recorder = Arc::clone(&recorder);
                let (interval, fires) = (run.interval, run.fires as u64);
                tokio::spawn(async move {
                    let mut ticker = match grid {
                        Grid::Shared => tokio::time::interval_at(first, interval),
                        Grid::PerTask => {
                            let mut ticker = tokio::time::interval(interval);
                            // The first tick is at once; the measured ones follow.
                            ticker.tick().await;
                            ticker
                        }
                    };
                    for fire in 1..=fires {
                        let due = ticker.tick().await;
                        recorder.record(index, fire, Instant::now().saturating_duration_since(due));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("baseline task");
        }
    });
    Outcome {
        recorder,
        stats: None,
        stored: None,
        writer_cpu: None,
        other_load: other_load.describe(),
    }
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(nanos: u64) -> String {
    format!("{:.3} ms", nanos as f64 / 1e6)
}
