//! `fleet-bench`: the fleet benchmark's driver. For each job count it makes
//! a database of its own on the PostgreSQL server, starts three
//! `fleet-member` processes on it (each registers the jobs, every 1 s),
//! lets them run for `--seconds`, and reads the executions they recorded:
//! fires run twice, grid fires of the steady window that did not run,
//! lateness, fires per second across the fleet, the database's
//! transactions per fire, and each member's CPU time per fire. Before that
//! it runs `pgbench` on a scratch database of the same server, as the scale
//! the figures are set against. With `--apalis` it runs the same workload
//! on `apalis-member` (apalis-cron and apalis-postgres) and counts its
//! duplicates next to ours. Every database it made is dropped at the end
//! unless `--keep` is given.
//!
//! See the crate's `README.md` for the options and what each figure means.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use jobs_bench_fleet::analysis::{analyse, Execution, Figures, Quantiles, Recorded, Window};
use jobs_bench_fleet::args::{numbers, Args};
use jobs_bench_fleet::cpu::machine;
use jobs_bench_fleet::lateness::Merged;
use jobs_bench_fleet::member::{self, LogSummary, Member};
use jobs_bench_fleet::pgbench;
use jobs_bench_fleet::report::{job_name, now_ms, MemberReport};
use jobs_bench_fleet::server::{Log, Sample, Server};
use serde::Serialize;
use sqlx::Row;

/// The server the benchmark uses unless `--url` names another.
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// What the driver was asked to do.
struct Options {
    url: String,
    jobs: Vec<usize>,
    seconds: u64,
    warmup: u64,
    instances: usize,
    pgbench: Option<PathBuf>,
    pgbench_seconds: u64,
    pgbench_scale: u32,
    pgbench_clients: u32,
    apalis: bool,
    apalis_jobs: Vec<usize>,
    keep: bool,
    json: Option<PathBuf>,
    logs: PathBuf,
    server_log: Option<PathBuf>,
    member_log_level: String,
}

const USAGE: &str = "fleet-bench [--url URL] [--jobs 1000,10000] [--seconds 60] [--warmup S] \
[--instances 3] [--pgbench-seconds 10] [--pgbench-scale 10] [--pgbench-clients 2] \
[--pgbench PATH | --no-pgbench] [--apalis [--apalis-jobs 1000]] [--keep] [--json PATH] [--logs DIR] [--server-log PATH] \
[--member-log-level warn]";

impl Options {
    fn parse() -> Result<Options, String> {
        let args = Args::parse(
            &[
                "url",
                "jobs",
                "seconds",
                "warmup",
                "instances",
                "pgbench",
                "pgbench-seconds",
                "pgbench-scale",
                "pgbench-clients",
                "json",
                "logs",
                "server-log",
                "member-log-level",
                "apalis-jobs",
            ],
            &["apalis", "keep", "no-pgbench", "help"],
        )?;
        if args.flag("help") {
            return Err(USAGE.to_owned());
        }
        let seconds = args.get("seconds", 60)?;
        let pgbench = if args.flag("no-pgbench") {
            None
        } else {
            match args.get("pgbench", String::new())? {
                path if path.is_empty() => Some(pgbench::find().ok_or(
                    "pgbench is not on PATH nor under /usr/lib/postgresql; \
                     give --pgbench PATH or --no-pgbench",
                )?),
                path => Some(PathBuf::from(path)),
            }
        };
        let options = Options {
            url: args.get("url", DEFAULT_URL.to_owned())?,
            jobs: numbers(&args.get("jobs", "1000,10000".to_owned())?)?,
            seconds,
            warmup: args.get("warmup", (seconds / 6).max(1))?,
            instances: args.get("instances", 3)?,
            pgbench,
            pgbench_seconds: args.get("pgbench-seconds", 10)?,
            pgbench_scale: args.get("pgbench-scale", 10)?,
            pgbench_clients: args.get("pgbench-clients", 2)?,
            apalis: args.flag("apalis"),
            apalis_jobs: match args.get("apalis-jobs", String::new())? {
                list if list.is_empty() => Vec::new(),
                list => numbers(&list)?,
            },
            keep: args.flag("keep"),
            json: args
                .get("json", String::new())
                .map(|path| (!path.is_empty()).then(|| PathBuf::from(path)))?,
            logs: PathBuf::from(
                args.get(
                    "logs",
                    std::env::temp_dir()
                        .join("jobs-bench-fleet")
                        .display()
                        .to_string(),
                )?,
            ),
            server_log: args
                .get("server-log", String::new())
                .map(|path| (!path.is_empty()).then(|| PathBuf::from(path)))?,
            member_log_level: args.get("member-log-level", "warn".to_owned())?,
        };
        if options.seconds < options.warmup + 3 {
            return Err(format!(
                "--seconds {} leaves no window after a warm-up of {} s (at least 3 s more)",
                options.seconds, options.warmup
            ));
        }
        Ok(options)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("fleet-bench: {error}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fleet-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The framework a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Framework {
    /// This project's runtime on its PostgreSQL store (`fleet-member`).
    Jobs,
    /// apalis-cron with apalis-postgres (`apalis-member`).
    Apalis,
}

impl Framework {
    fn binary(self) -> Result<PathBuf, String> {
        match self {
            Framework::Jobs => {
                member::binary("fleet-member", "cargo build --release -p jobs-bench-fleet")
            }
            Framework::Apalis => member::binary(
                "apalis-member",
                "cargo build --release -p jobs-bench-fleet --features apalis",
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Framework::Jobs => "jobs",
            Framework::Apalis => "apalis",
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
struct RunResult {
    framework: Framework,
    jobs: usize,
    instances: usize,
    seconds: u64,
    window: Window,
    figures: Figures,
    /// The same figures from the first grid fire to a second before the
    /// first member stopped: start-up included.
    whole_run: Figures,
    /// Lateness the job bodies measured (10 µs buckets), in milliseconds.
    body_lateness_ms: Option<Quantiles>,
    /// Jobs the database had no schedule row for.
    jobs_without_row: usize,
    /// Transactions in the database during the window.
    transactions_window: u64,
    /// Transactions in the database over the whole run.
    transactions_total: u64,
    /// CPU of the database's backends during the window, in microseconds.
    backend_cpu_window_us: u64,
    /// Busy time of the whole machine during the window, in microseconds.
    machine_busy_window_us: u64,
    /// What the database's busy backends were doing through the window
    /// (state, wait, statement), with how many were doing it on average.
    activity: Vec<(String, f64)>,
    /// Which backends waited for which through the window (the waiter's
    /// wait and statement, the holder's state and statement), with how many
    /// such pairs there were on average.
    blocking: Vec<(String, f64)>,
    members: Vec<MemberReport>,
    logs: Vec<(String, LogSummary)>,
    server_log: Vec<String>,
}

impl RunResult {
    /// Distinct grid fires that ran in the window.
    fn window_fires(&self) -> f64 {
        self.figures.fires_per_second * self.window.seconds()
    }

    fn transactions_per_fire(&self) -> f64 {
        per(self.transactions_window as f64, self.window_fires())
    }

    /// The members' CPU in their windows, summed, per fire of the fleet.
    fn fleet_cpu_per_fire_us(&self) -> f64 {
        let cpu: u64 = self.members.iter().map(|m| m.cpu_window_us).sum();
        let fires: f64 = self
            .members
            .iter()
            .map(|m| self.figures.fires_per_second * member_window_seconds(m))
            .sum::<f64>()
            / self.members.len().max(1) as f64;
        per(cpu as f64, fires)
    }
}

/// `value` per `count`: not a number (printed `NaN`) when nothing was
/// counted.
fn per(value: f64, count: f64) -> f64 {
    if count > 0.0 {
        value / count
    } else {
        f64::NAN
    }
}

fn member_window_seconds(member: &MemberReport) -> f64 {
    (member.stopping_ms - member.window_start_ms) as f64 / 1000.0
}

/// What `pgbench` measured.
#[derive(Debug, Clone, Serialize)]
struct Baseline {
    scale: u32,
    runs: Vec<pgbench::Run>,
}

impl Baseline {
    fn tps(&self, script: &str) -> Option<f64> {
        self.runs
            .iter()
            .find(|run| run.script == script)
            .map(|run| run.tps)
    }
}

/// All the driver measured, as `--json` writes it.
#[derive(Debug, Serialize)]
struct Results {
    machine: String,
    pgbench: Option<Baseline>,
    runs: Vec<RunResult>,
}

async fn run(options: &Options) -> Result<(), String> {
    std::fs::create_dir_all(&options.logs)
        .map_err(|error| format!("creating {}: {error}", options.logs.display()))?;
    let machine = machine();
    println!("machine: {machine}, before the run");
    let mut server = Server::connect(&options.url).await?;
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(server.admin())
        .await
        .map_err(|error| format!("reading the server's version: {error}"))?;
    println!("server: {version}");
    let binaries: Vec<(Framework, PathBuf)> = [Framework::Jobs, Framework::Apalis]
        .into_iter()
        .filter(|framework| *framework == Framework::Jobs || options.apalis)
        .map(|framework| Ok((framework, framework.binary()?)))
        .collect::<Result<_, String>>()?;

    let baseline = match &options.pgbench {
        Some(path) => Some(baseline(&mut server, options, path).await?),
        None => None,
    };
    let mut runs = Vec::new();
    for (framework, binary) in &binaries {
        let counts = match framework {
            Framework::Apalis if !options.apalis_jobs.is_empty() => &options.apalis_jobs,
            _ => &options.jobs,
        };
        for &jobs in counts {
            let result = fleet(&mut server, options, *framework, binary, jobs).await?;
            print_run(&result, baseline.as_ref());
            runs.push(result);
        }
    }
    print_summary(&runs, baseline.as_ref());
    if let Some(path) = &options.json {
        let mut results = Results {
            machine,
            pgbench: baseline,
            runs,
        };
        for run in &mut results.runs {
            for member in &mut run.members {
                member.lateness_us.clear();
            }
        }
        let text = serde_json::to_string_pretty(&results).expect("the results serialize");
        std::fs::write(path, text)
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        println!("results written to {}", path.display());
    }
    Ok(())
}

/// `pgbench` on a scratch database of its own: select-only, then TPC-B.
async fn baseline(
    server: &mut Server,
    options: &Options,
    path: &std::path::Path,
) -> Result<Baseline, String> {
    let name = format!("jobs_bench_pgbench_{}", std::process::id());
    let url = server.create(&name).await?;
    let clients = options.pgbench_clients;
    let seconds = options.pgbench_seconds;
    let scale = options.pgbench_scale;
    let path = path.to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        pgbench::initialize(&path, &url, scale)?;
        let select = pgbench::run(&path, &url, true, clients, seconds)?;
        let tpcb = pgbench::run(&path, &url, false, clients, seconds)?;
        Ok::<_, String>(vec![select, tpcb])
    });
    let runs = outcome.await.map_err(|error| format!("pgbench: {error}"));
    if !options.keep {
        server.drop_database(&name).await?;
    }
    let runs = runs??;
    for run in &runs {
        println!(
            "pgbench {} (-c {} -j {} -T {}, scale {scale}): {:.0} tps, latency {} ms",
            run.script,
            run.clients,
            run.clients,
            run.seconds,
            run.tps,
            run.latency_ms
                .map_or_else(|| "?".to_owned(), |latency| format!("{latency:.3}")),
        );
    }
    Ok(Baseline { scale, runs })
}

/// One run: a database of its own, `options.instances` members of
/// `framework` with `jobs` jobs each, and what they recorded.
async fn fleet(
    server: &mut Server,
    options: &Options,
    framework: Framework,
    binary: &std::path::Path,
    jobs: usize,
) -> Result<RunResult, String> {
    let name = format!(
        "jobs_bench_fleet_{}_{}_{jobs}",
        framework.name(),
        std::process::id()
    );
    let url = server.create(&name).await?;
    println!(
        "\n{} with {jobs} jobs every 1 s on {} instances, {} s (database {name})",
        framework.name(),
        options.instances,
        options.seconds
    );
    let log = Log::open(options.server_log.as_deref());
    let outcome = measure(server, options, framework, binary, jobs, &name, &url, log).await;
    if options.keep {
        println!("database kept: {url}");
    } else {
        server.drop_database(&name).await?;
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    server: &mut Server,
    options: &Options,
    framework: Framework,
    binary: &std::path::Path,
    jobs: usize,
    name: &str,
    url: &str,
    log: Option<Log>,
) -> Result<RunResult, String> {
    let args: Vec<String> = [
        "--url",
        url,
        "--jobs",
        &jobs.to_string(),
        "--seconds",
        &options.seconds.to_string(),
        "--warmup",
        &options.warmup.to_string(),
        "--log-level",
        &options.member_log_level,
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    let mut members = Vec::new();
    for index in 0..options.instances {
        let instance = format!(
            "{}-{}",
            framework.name(),
            char::from(b'a' + (index % 26) as u8)
        );
        let log = options.logs.join(format!("{name}-{instance}.log"));
        members.push(Member::spawn(binary, &args, &instance, &log)?);
    }
    let mut started = Vec::new();
    for member in &mut members {
        started.push(member.started(Duration::from_secs(300)).await?);
    }
    let first = started
        .iter()
        .map(|line| line.started_ms)
        .min()
        .unwrap_or(0);
    let last = started
        .iter()
        .map(|line| line.started_ms)
        .max()
        .unwrap_or(0);
    // Whole seconds, so every job has as many grid fires in it.
    let start_ms = last + 1000 * options.warmup as i64;
    let end_ms = first + 1000 * options.seconds as i64 - 1000;
    let window = Window {
        start_ms,
        end_ms: start_ms + (end_ms - start_ms) / 1000 * 1000,
    };
    println!(
        "started within {} ms; steady window {:.1} s, from {} s after the last start",
        last - first,
        window.seconds(),
        options.warmup
    );
    let before = sample_at(server, name, window.start_ms).await?;
    // What the backends do, every 250 ms through the window.
    let mut activity: HashMap<String, u64> = HashMap::new();
    let mut blocking: HashMap<String, u64> = HashMap::new();
    let mut activity_samples = 0u64;
    while now_ms() + 250 < window.end_ms {
        tokio::time::sleep(Duration::from_millis(250)).await;
        activity_samples += 1;
        for entry in server.activity(name).await? {
            *activity.entry(entry).or_default() += 1;
        }
        for entry in server.blocking(name).await? {
            *blocking.entry(entry).or_default() += 1;
        }
    }
    let after = sample_at(server, name, window.end_ms).await?;
    let mut activity: Vec<(String, u64)> = activity.into_iter().collect();
    activity.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    activity.truncate(12);
    let mut blocking: Vec<(String, u64)> = blocking.into_iter().collect();
    blocking.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    blocking.truncate(8);
    let mut reports = Vec::new();
    let mut logs = Vec::new();
    for member in members {
        let instance = member.instance().to_owned();
        let path = member.log().to_owned();
        let report = member.finish().await;
        logs.push((instance, member::summarize(&path)));
        reports.push(report?);
    }
    // Backends that end report their last statistics: wait for them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let end = server.sample(name).await?;

    let recorded = match framework {
        Framework::Jobs => load_jobs(url).await?,
        Framework::Apalis => load_apalis(url, jobs).await?,
    };
    let jobs_without_row = jobs.saturating_sub(recorded.anchors.len());
    let figures = analyse(&recorded, window);
    // From the first grid fire (this runtime's first anchor; for apalis,
    // the first whole second after the first start) to a second before
    // the first member stopped.
    let whole = Window {
        start_ms: match framework {
            Framework::Jobs => recorded.anchors.values().copied().min().unwrap_or(first),
            Framework::Apalis => (first + 999) / 1000 * 1000,
        },
        end_ms: reports.iter().map(|r| r.stopping_ms).min().unwrap_or(first) - 1000,
    };
    let whole_run = analyse(&recorded, whole);
    let mut body = Merged::default();
    for report in &reports {
        body.add(&report.lateness_us);
    }
    let body_lateness_ms = (body.count() > 0).then(|| Quantiles {
        count: body.count() as usize,
        p50: body.quantile(0.50).unwrap_or(0) as f64 / 1000.0,
        p99: body.quantile(0.99).unwrap_or(0) as f64 / 1000.0,
        max: body.max().unwrap_or(0) as f64 / 1000.0,
    });
    Ok(RunResult {
        framework,
        jobs,
        instances: options.instances,
        seconds: options.seconds,
        window,
        figures,
        whole_run,
        body_lateness_ms,
        jobs_without_row,
        transactions_window: after.transactions.saturating_sub(before.transactions),
        transactions_total: end.transactions,
        backend_cpu_window_us: after.backend_cpu_since(&before).as_micros() as u64,
        machine_busy_window_us: (after.machine_busy.saturating_sub(before.machine_busy)).as_micros()
            as u64,
        activity: activity
            .into_iter()
            .map(|(what, count)| (what, count as f64 / activity_samples.max(1) as f64))
            .collect(),
        blocking: blocking
            .into_iter()
            .map(|(what, count)| (what, count as f64 / activity_samples.max(1) as f64))
            .collect(),
        members: reports,
        logs,
        server_log: log.map(|log| log.problems(name)).unwrap_or_default(),
    })
}

/// Waits until the wall clock reads `at_ms`, then samples database `name`.
async fn sample_at(server: &mut Server, name: &str, at_ms: i64) -> Result<Sample, String> {
    let wait = (at_ms - now_ms()).max(0);
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    server.sample(name).await
}

/// How many rows a page of executions holds as they are read.
const PAGE: i64 = 100_000;

/// Reads the rows `select` gives, a page at a time: it takes the last id
/// read and a page size, and gives `id, job, fire_at, cause, state,
/// instance, started_at` in the order of `id`.
async fn load(url: &str, select: &str, recorded: &mut Recorded) -> Result<(), String> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .map_err(|error| format!("connecting to {url}: {error}"))?;
    let mut last = i64::MIN;
    loop {
        let rows = sqlx::query(select)
            .bind(last)
            .bind(PAGE)
            .fetch_all(&mut connection)
            .await
            .map_err(|error| format!("{select}: {error}"))?;
        let names = &mut recorded.names;
        for row in &rows {
            let get = |error: sqlx::Error| format!("{select}: {error}");
            last = row.try_get("id").map_err(get)?;
            recorded.executions.push(Execution {
                job: names.id(row.try_get("job").map_err(get)?),
                fire_at: row.try_get("fire_at").map_err(get)?,
                cause: names.id(row.try_get("cause").map_err(get)?),
                state: names.id(row.try_get("state").map_err(get)?),
                instance: names.id(row.try_get("instance").map_err(get)?),
                started_at: row.try_get("started_at").map_err(get)?,
            });
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    let _ = connection.close().await;
    Ok(())
}

/// This runtime's executions (`jobs_executions`) and grids
/// (`jobs_schedules`).
async fn load_jobs(url: &str) -> Result<Recorded, String> {
    let mut recorded = Recorded {
        interval_ms: 1000,
        ..Recorded::default()
    };
    load(
        url,
        "SELECT id, job, fire_at, cause, state, instance, started_at FROM jobs_executions
         WHERE id > $1 ORDER BY id LIMIT $2",
        &mut recorded,
    )
    .await?;
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .map_err(|error| format!("connecting to {url}: {error}"))?;
    let anchors: Vec<(String, i64)> = sqlx::query_as("SELECT job, anchor FROM jobs_schedules")
        .fetch_all(&mut connection)
        .await
        .map_err(|error| format!("reading jobs_schedules: {error}"))?;
    let _ = connection.close().await;
    for (job, anchor) in anchors {
        let id = recorded.names.id(&job);
        recorded.anchors.insert(id, anchor);
    }
    Ok(recorded)
}

/// apalis-member's runs (`apalis_bench_runs`), on the grid of whole seconds
/// its cron expression names.
async fn load_apalis(url: &str, jobs: usize) -> Result<Recorded, String> {
    let mut recorded = Recorded {
        interval_ms: 1000,
        ..Recorded::default()
    };
    load(
        url,
        "SELECT id, job, scheduled_ms AS fire_at, 'schedule' AS cause,
                'succeeded' AS state, instance, ran_ms AS started_at
         FROM apalis_bench_runs WHERE id > $1 ORDER BY id LIMIT $2",
        &mut recorded,
    )
    .await?;
    for index in 0..jobs {
        let id = recorded
            .names
            .id(&job_name(Framework::Apalis.name(), index));
        recorded.anchors.insert(id, 0);
    }
    Ok(recorded)
}

/// `value` with a comma between each three digits.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn print_run(run: &RunResult, baseline: Option<&Baseline>) {
    let f = &run.figures;
    println!(
        "executions: {} recorded; duplicates {} ({} fires ran more than once); \
         missed {} of {} grid fires in the window; off grid {}; never started {}",
        thousands(f.executions),
        f.duplicates,
        f.duplicated_fires,
        thousands(f.missed),
        thousands(f.expected),
        f.off_grid,
        f.unstarted
    );
    let w = &run.whole_run;
    println!(
        "whole run (from the first grid fire, start-up included): missed {} of {} grid fires; \
         lateness p99 {} ms, max {} ms",
        thousands(w.missed),
        thousands(w.expected),
        w.lateness_ms.map_or(0.0, |l| l.p99),
        w.lateness_ms.map_or(0.0, |l| l.max),
    );
    if !w.missed_examples.is_empty() {
        println!("whole run, missed first: {:?}", w.missed_examples);
    }
    if run.jobs_without_row > 0 {
        println!("jobs without a schedule row: {}", run.jobs_without_row);
    }
    println!("states: {:?}; causes: {:?}", f.by_state, f.by_cause);
    println!("by instance (window): {:?}", f.by_instance);
    if !f.missed_examples.is_empty() {
        println!("missed, first: {:?}", f.missed_examples);
    }
    if !f.duplicate_examples.is_empty() {
        println!("ran more than once, first: {:?}", f.duplicate_examples);
    }
    println!(
        "fires per second across the fleet: {:.1} (window {:.1} s)",
        f.fires_per_second,
        run.window.seconds()
    );
    if let Some(l) = f.lateness_ms {
        println!(
            "lateness, recorded (started_at - fire_at, 1 ms resolution): p50 {} ms, p99 {} ms, max {} ms ({} executions)",
            l.p50, l.p99, l.max, thousands(l.count as u64)
        );
    }
    if let Some(l) = run.body_lateness_ms {
        println!(
            "lateness, job bodies (10 µs buckets): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
            l.p50, l.p99, l.max, thousands(l.count as u64)
        );
    }
    let fires = run.window_fires();
    println!(
        "database transactions (pg_stat_database xact_commit + xact_rollback): {} in the window, \
         {:.3} per fire ({:.0}/s); {} over the whole run, {:.3} per execution",
        thousands(run.transactions_window),
        run.transactions_per_fire(),
        run.transactions_window as f64 / run.window.seconds(),
        thousands(run.transactions_total),
        run.transactions_total as f64 / f.executions.max(1) as f64
    );
    for m in &run.members {
        let fleet_fires = f.fires_per_second * member_window_seconds(m);
        println!(
            "  {}: CPU {:.2} µs per fire it ran ({} in its window), {:.2} µs per fleet fire; \
             {:.1}% of a core; whole run {:.2} s CPU, {} executions, {} elsewhere, {} skipped, \
             {} missed, {} errors; max RSS {} KiB; stop took {:.1} s{}",
            m.instance,
            m.cpu_window_us as f64 / m.executions_window.max(1) as f64,
            thousands(m.executions_window),
            per(m.cpu_window_us as f64, fleet_fires),
            m.cpu_window_us as f64 / 1e4 / member_window_seconds(m),
            m.cpu_total_us as f64 / 1e6,
            thousands(m.executions_total),
            thousands(m.elsewhere_total),
            m.skipped_total,
            m.missed_total,
            m.errors_total,
            thousands(m.max_resident_kib),
            (m.stopped_ms - m.stopping_ms) as f64 / 1000.0,
            if m.stop_timed_out {
                " and did not end (the time limit)"
            } else {
                ""
            }
        );
    }
    let window_us = run.window.seconds() * 1e6;
    let members_us: u64 = run.members.iter().map(|m| m.cpu_window_us).sum();
    println!(
        "CPU per fire: members {:.2} µs (all instances together), PostgreSQL backends {:.2} µs; \
         the machine was busy {:.2} cores of {} during the window (members {:.2}, backends {:.2}, the rest {:.2})",
        run.fleet_cpu_per_fire_us(),
        per(run.backend_cpu_window_us as f64, fires),
        run.machine_busy_window_us as f64 / window_us,
        std::thread::available_parallelism().map_or(0, |cores| cores.get()),
        members_us as f64 / window_us,
        run.backend_cpu_window_us as f64 / window_us,
        (run.machine_busy_window_us as f64 - members_us as f64 - run.backend_cpu_window_us as f64)
            .max(0.0)
            / window_us,
    );
    if let Some(baseline) = baseline {
        for script in ["tpc-b", "select-only"] {
            if let Some(tps) = baseline.tps(script) {
                println!(
                    "against pgbench {script} ({tps:.0} tps): fires/s ÷ tps = {:.2}, transactions/s ÷ tps = {:.2}",
                    f.fires_per_second / tps,
                    run.transactions_window as f64 / run.window.seconds() / tps
                );
            }
        }
    }
    if !run.activity.is_empty() {
        println!(
            "busy backends, sampled every 250 ms (state | wait | statement: backends on average):"
        );
        for (what, average) in &run.activity {
            println!("  {what}: {average:.2}");
        }
    }
    if !run.blocking.is_empty() {
        println!("lock waits, sampled likewise (waiter  <-  holder: pairs on average):");
        for (what, average) in &run.blocking {
            println!("  {what}: {average:.2}");
        }
    }
    for (instance, summary) in &run.logs {
        if summary.warnings + summary.errors + summary.other > 0 {
            println!(
                "  {instance} logged {} warnings, {} errors, {} other lines; first: {:#?}",
                summary.warnings, summary.errors, summary.other, summary.first
            );
        }
    }
    if run.server_log.is_empty() {
        println!("PostgreSQL log: nothing for this database");
    } else {
        println!(
            "PostgreSQL log: {} lines for this database; first:",
            run.server_log.len()
        );
        for line in run.server_log.iter().take(10) {
            println!("  {line}");
        }
    }
}

fn print_summary(runs: &[RunResult], baseline: Option<&Baseline>) {
    println!("\n| framework | jobs | duplicates | missed | lateness p50 / p99 / max (recorded) | lateness p50 / p99 (bodies) | fires/s | transactions per fire | CPU per fire, all members | CPU per fire, backends |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for run in runs {
        let f = &run.figures;
        let recorded = f.lateness_ms.map_or_else(
            || "–".to_owned(),
            |l| format!("{} / {} / {} ms", l.p50, l.p99, l.max),
        );
        let body = run.body_lateness_ms.map_or_else(
            || "–".to_owned(),
            |l| format!("{:.2} / {:.2} ms", l.p50, l.p99),
        );
        println!(
            "| {} | {} | {} | {} of {} | {recorded} | {body} | {:.0} | {:.3} | {:.2} µs | {:.2} µs |",
            run.framework.name(),
            thousands(run.jobs as u64),
            f.duplicates,
            thousands(f.missed),
            thousands(f.expected),
            f.fires_per_second,
            run.transactions_per_fire(),
            run.fleet_cpu_per_fire_us(),
            per(run.backend_cpu_window_us as f64, run.window_fires())
        );
    }
    if let Some(baseline) = baseline {
        for run in &baseline.runs {
            println!(
                "pgbench {}: {:.0} tps (-c {} -j {} -T {}, scale {})",
                run.script, run.tps, run.clients, run.clients, run.seconds, baseline.scale
            );
        }
    }
}
