//! `fleet-member`: one instance of the fleet. It registers `--jobs` no-op
//! jobs every `--interval-ms` (1 s by default), each a hand-written
//! [`Job`], connects to the PostgreSQL database `--url` as the instance
//! `JOBS_INSTANCE` names, runs them for `--seconds`, stops gracefully
//! (`stop_all`, given at most `--stop-timeout` seconds, 120 by default) and
//! prints its [`MemberReport`] as one JSON line.
//!
//! Its measuring window opens `--warmup` seconds after its jobs started and
//! closes when it begins to stop: its CPU time and the executions it ran
//! are counted at both ends, and its job bodies count their lateness (the
//! body's start less the fire's time, both wall clock) for fires within
//! it. The runtime's log goes to the standard error, from `--log-level`
//! (`warn` by default; `error`, `off`, ...) up.
//!
//! ```text
//! JOBS_INSTANCE=fleet-a fleet-member --url postgres://postgres@127.0.0.1/bench --jobs 1000 --seconds 60
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jobs_bench_fleet::args::Args;
use jobs_bench_fleet::cpu;
use jobs_bench_fleet::lateness::Histogram;
use jobs_bench_fleet::report::{job_name, now_ms, serve, MemberReport, Started};
use jobs_runtime::{BoxError, Job, JobContext, JobManager, JobSpec};
use tokio::time::{sleep_until, Instant};
use tracing_subscriber::filter::LevelFilter;

/// What the member was asked to do.
struct Options {
    url: String,
    instance: String,
    jobs: usize,
    interval: Duration,
    seconds: u64,
    warmup: u64,
    log_level: LevelFilter,
    stop_timeout: Duration,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let args = Args::parse(
            &[
                "url",
                "jobs",
                "seconds",
                "warmup",
                "interval-ms",
                "log-level",
            ],
            &[],
        )?;
        let seconds = args.get("seconds", 60)?;
        let options = Options {
            url: args.required("url")?.to_owned(),
            instance: std::env::var("JOBS_INSTANCE")
                .map_err(|_| "JOBS_INSTANCE must name this instance".to_owned())?,
            jobs: args.get("jobs", 1000)?,
            interval: Duration::from_millis(args.get("interval-ms", 1000)?),
            seconds,
            warmup: args.get("warmup", (seconds / 6).max(1))?,
            log_level: args.get("log-level", LevelFilter::WARN)?,
            stop_timeout: Duration::from_secs(args.get("stop-timeout", 120)?),
        };
        if options.warmup >= options.seconds {
            return Err(format!(
                "the warm-up ({} s) must be shorter than the run ({} s)",
                options.warmup, options.seconds
            ));
        }
        Ok(options)
    }
}

/// What every job's runs share: from which fire on they count their
/// lateness, and the counts.
struct Lateness {
    from_ms: AtomicI64,
    histogram: Histogram,
}

/// One of the member's jobs: its body measures its own lateness and
/// returns at once.
struct Probe {
    spec: JobSpec,
    lateness: Arc<Lateness>,
}

impl Job for Probe {
    fn spec(&self) -> JobSpec {
        self.spec.clone()
    }

    async fn execute(&self, ctx: JobContext) -> Result<(), BoxError> {
        let now = SystemTime::now();
        let fire_at = ctx.fire_at();
        if millis(fire_at) >= self.lateness.from_ms.load(Ordering::Relaxed) {
            let late = now.duration_since(fire_at).unwrap_or(Duration::ZERO);
            self.lateness.histogram.record(late);
        }
        Ok(())
    }
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("fleet-member: {error}");
            return ExitCode::from(2);
        }
    };
    serve(
        "fleet-member",
        &options.instance,
        options.log_level,
        run(&options),
    )
}

/// Sum of the executions every job ran.
fn executions(manager: &JobManager) -> u64 {
    manager
        .all_stats()
        .iter()
        .map(|stats| stats.execution_count)
        .sum()
}

async fn run(options: &Options) -> Result<MemberReport, String> {
    let manager = JobManager::new();
    let lateness = Arc::new(Lateness {
        from_ms: AtomicI64::new(i64::MAX),
        histogram: Histogram::new(),
    });
    for index in 0..options.jobs {
        manager.register(Probe {
            spec: JobSpec::every(job_name("jobs", index), options.interval),
            lateness: Arc::clone(&lateness),
        });
    }
    manager
        .connect(&options.url)
        .await
        .map_err(|error| format!("connecting to the store: {error}"))?;
    manager
        .start_all()
        .map_err(|error| format!("starting the jobs: {error}"))?;
    let started = Instant::now();
    let started_ms = now_ms();
    let window_start_ms = started_ms + 1000 * options.warmup as i64;
    lateness.from_ms.store(window_start_ms, Ordering::Relaxed);
    Started::print(&options.instance, started_ms);

    sleep_until(started + Duration::from_secs(options.warmup)).await;
    let (cpu_start, executions_start) = (cpu::own(), executions(&manager));
    sleep_until(started + Duration::from_secs(options.seconds)).await;
    let (cpu_end, executions_end) = (cpu::own(), executions(&manager));
    let stopping_ms = now_ms();
    let stop_timed_out = tokio::time::timeout(options.stop_timeout, manager.stop_all())
        .await
        .is_err();
    let stopped_ms = now_ms();

    let stats = manager.all_stats();
    let total = |count: fn(&jobs_runtime::JobStats) -> u64| stats.iter().map(count).sum();
    Ok(MemberReport {
        instance: options.instance.clone(),
        jobs: options.jobs,
        started_ms,
        window_start_ms,
        stopping_ms,
        stopped_ms,
        stop_timed_out,
        cpu_total_us: cpu::own().as_micros() as u64,
        cpu_window_us: (cpu_end - cpu_start).as_micros() as u64,
        executions_total: total(|stats| stats.execution_count),
        executions_window: executions_end - executions_start,
        elsewhere_total: total(|stats| stats.elsewhere_count),
        skipped_total: total(|stats| stats.skipped_count),
        missed_total: total(|stats| stats.missed_count),
        errors_total: total(|stats| stats.error_count),
        max_resident_kib: cpu::max_resident_kib(),
        lateness_us: lateness.histogram.snapshot(),
    })
}
