//! `apalis-member`: the fleet workload on apalis, for comparison (feature
//! `apalis`). It takes `fleet-member`'s options and prints the same lines,
//! but each of its `--jobs` jobs is an apalis worker whose backend is a
//! cron schedule firing every second (`apalis-cron`, `* * * * * *`) piped
//! into a queue of the job's own in PostgreSQL (`apalis-postgres`), as
//! apalis-cron documents for distributing cron jobs between servers.
//!
//! Its pool holds `--pool` connections (25 by default: three members stay
//! under the server's default limit of 100).
//!
//! Each run is recorded into `apalis_bench_runs` (job, the tick's time, the
//! instance, when the handler ran) by a task that inserts what the handlers
//! collected every 200 ms in one statement, so the driver can count fires
//! that ran more than once.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use apalis_postgres::{Config, PgPool, PostgresStorage};
use jobs_bench_fleet::args::Args;
use jobs_bench_fleet::cpu;
use jobs_bench_fleet::lateness::Histogram;
use jobs_bench_fleet::report::{job_name, now_ms, serve, MemberReport, Started};
use jobs_runtime::CancellationToken;
use sqlx::{Connection, PgConnection};
use tokio::time::{sleep_until, Instant};
use tracing_subscriber::filter::LevelFilter;

/// What the member was asked to do.
struct Options {
    url: String,
    instance: String,
    jobs: usize,
    seconds: u64,
    warmup: u64,
    log_level: LevelFilter,
    pool: u32,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let args = Args::parse(
            &["url", "jobs", "seconds", "warmup", "log-level", "pool"],
            &[],
        )?;
        let seconds = args.get("seconds", 60)?;
        Ok(Options {
            url: args.required("url")?.to_owned(),
            instance: std::env::var("JOBS_INSTANCE")
                .map_err(|_| "JOBS_INSTANCE must name this instance".to_owned())?,
            jobs: args.get("jobs", 1000)?,
            seconds,
            warmup: args.get("warmup", (seconds / 6).max(1))?,
            log_level: args.get("log-level", LevelFilter::WARN)?,
            pool: args.get("pool", 25)?,
        })
    }
}

/// What the handlers of every job share.
struct Shared {
    instance: String,
    /// Runs not yet written: job, tick time and run time in milliseconds.
    runs: Mutex<Vec<(String, i64, i64)>>,
    /// From which tick on runs count their lateness.
    from_ms: std::sync::atomic::AtomicI64,
    lateness: Histogram,
    executions: std::sync::atomic::AtomicU64,
}

/// The name of the job a worker runs.
#[derive(Clone)]
struct JobName(Arc<str>);

/// One run: counted and kept for the table.
async fn handle(tick: Tick, job: Data<JobName>, shared: Data<Arc<Shared>>) {
    use std::sync::atomic::Ordering;
    let ran = now_ms();
    let scheduled = i64::try_from(tick.get_timestamp()).unwrap_or(i64::MAX) * 1000;
    if scheduled >= shared.from_ms.load(Ordering::Relaxed) {
        let late = u64::try_from(ran - scheduled).unwrap_or(0);
        shared.lateness.record(Duration::from_millis(late));
    }
    shared.executions.fetch_add(1, Ordering::Relaxed);
    shared
        .runs
        .lock()
        .expect("the runs' lock")
        .push((job.0 .0.to_string(), scheduled, ran));
}

/// Writes the runs collected so far, in one statement.
async fn flush(connection: &mut PgConnection, shared: &Shared) -> Result<(), String> {
    let runs = std::mem::take(&mut *shared.runs.lock().expect("the runs' lock"));
    if runs.is_empty() {
        return Ok(());
    }
    let jobs: Vec<&str> = runs.iter().map(|run| run.0.as_str()).collect();
    let scheduled: Vec<i64> = runs.iter().map(|run| run.1).collect();
    let ran: Vec<i64> = runs.iter().map(|run| run.2).collect();
    sqlx::query(
        "INSERT INTO apalis_bench_runs (job, scheduled_ms, instance, ran_ms)
         SELECT job, scheduled, $3, ran FROM unnest($1::text[], $2::bigint[], $4::bigint[])
             AS r (job, scheduled, ran)",
    )
    .bind(&jobs)
    .bind(&scheduled)
    .bind(&shared.instance)
    .bind(&ran)
    .execute(connection)
    .await
    .map(|_| ())
    .map_err(|error| format!("recording runs: {error}"))
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("apalis-member: {error}");
            return ExitCode::from(2);
        }
    };
    serve(
        "apalis-member",
        &options.instance,
        options.log_level,
        run(&options),
    )
}

async fn run(options: &Options) -> Result<MemberReport, String> {
    use std::sync::atomic::Ordering;
    let mut connection = PgConnection::connect(&options.url)
        .await
        .map_err(|error| format!("connecting to {}: {error}", options.url))?;
    // Every member makes the table, one at a time (each statement commits
    // on its own, the lock outlives it).
    for statement in [
        "SELECT pg_advisory_lock(4242)",
        "CREATE TABLE IF NOT EXISTS apalis_bench_runs (
             id bigserial PRIMARY KEY, job text NOT NULL, scheduled_ms bigint NOT NULL,
             instance text NOT NULL, ran_ms bigint NOT NULL)",
        "SELECT pg_advisory_unlock(4242)",
    ] {
        sqlx::raw_sql(statement)
            .execute(&mut connection)
            .await
            .map_err(|error| format!("making apalis_bench_runs: {error}"))?;
    }
    // Each worker takes a connection to push its tick and one to fetch it:
    // sqlx's default pool of 10 times out within a second at 1,000 jobs.
    let pool: PgPool = sqlx_apalis::postgres::PgPoolOptions::new()
        .max_connections(options.pool)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&options.url)
        .await
        .map_err(|error| format!("connecting apalis's pool: {error}"))?;
    {
        // apalis's migrations take no lock of their own: one member at a
        // time.
        let mut lock = PgConnection::connect(&options.url)
            .await
            .map_err(|error| format!("connecting to {}: {error}", options.url))?;
        sqlx::raw_sql("SELECT pg_advisory_lock(4243)")
            .execute(&mut lock)
            .await
            .map_err(|error| format!("locking: {error}"))?;
        let setup = PostgresStorage::setup(&pool).await;
        let _ = lock.close().await;
        setup.map_err(|error| format!("apalis's migrations: {error}"))?;
    }

    let shared = Arc::new(Shared {
        instance: options.instance.clone(),
        runs: Mutex::new(Vec::new()),
        from_ms: std::sync::atomic::AtomicI64::new(i64::MAX),
        lateness: Histogram::new(),
        executions: std::sync::atomic::AtomicU64::new(0),
    });
    let stop = CancellationToken::new();
    let schedule = cron::Schedule::from_str("* * * * * *").expect("a valid expression");
    let mut workers = Vec::new();
    for index in 0..options.jobs {
        let name = job_name("apalis", index);
        let storage = PostgresStorage::new(&pool).with_config(Config::default().queue(&name));
        let backend = CronScheduler::new(schedule.clone()).pipe_to(storage);
        let worker = WorkerBuilder::new(format!("{name}-{}", options.instance))
            .backend(backend)
            .data(JobName(Arc::from(name.as_str())))
            .data(Arc::clone(&shared))
            .build(handle);
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            worker
                .run_until(async move {
                    stop.cancelled_owned().await;
                    Ok::<(), std::io::Error>(())
                })
                .await
        }));
    }
    let started = Instant::now();
    let started_ms = now_ms();
    let window_start_ms = started_ms + 1000 * options.warmup as i64;
    shared.from_ms.store(window_start_ms, Ordering::Relaxed);
    Started::print(&options.instance, started_ms);

    let recorder = {
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    () = stop.cancelled() => true,
                    () = tokio::time::sleep(Duration::from_millis(200)) => false,
                };
                if let Err(error) = flush(&mut connection, &shared).await {
                    eprintln!("{error}");
                }
                if stopping {
                    return connection;
                }
            }
        })
    };

    sleep_until(started + Duration::from_secs(options.warmup)).await;
    let cpu_start = cpu::own();
    let executions_start = shared.executions.load(Ordering::Relaxed);
    sleep_until(started + Duration::from_secs(options.seconds)).await;
    let cpu_end = cpu::own();
    let executions_end = shared.executions.load(Ordering::Relaxed);
    let stopping_ms = now_ms();
    stop.cancel();
    let mut failed = 0u64;
    for worker in workers {
        if !matches!(worker.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let mut connection = recorder
        .await
        .map_err(|error| format!("the recorder: {error}"))?;
    flush(&mut connection, &shared).await?;
    let _ = connection.close().await;
    let stopped_ms = now_ms();
    Ok(MemberReport {
        instance: options.instance.clone(),
        jobs: options.jobs,
        started_ms,
        window_start_ms,
        stopping_ms,
        stopped_ms,
        cpu_total_us: cpu::own().as_micros() as u64,
        cpu_window_us: (cpu_end - cpu_start).as_micros() as u64,
        executions_total: shared.executions.load(Ordering::Relaxed),
        executions_window: executions_end - executions_start,
        errors_total: failed,
        max_resident_kib: cpu::max_resident_kib(),
        lateness_us: shared.lateness.snapshot(),
        ..MemberReport::default()
    })
}
