//! [`SqliteStore`]: an embedded SQLite database in one file, for one process.
//!
//! One writer thread owns the writing connection and commits every change
//! queued since its last commit in one `BEGIN IMMEDIATE` transaction (group
//! commit); queries run on a second connection under `spawn_blocking`. The
//! database is in WAL mode, so queries never wait for the writer.
//!
//! Why rusqlite on a thread of its own rather than an async driver: the
//! writer runs each statement in-thread, with no round trip per statement.
//! On this project's 2-core machine, under load, 100,000 inserts of one row
//! in one transaction took about 7 µs each with rusqlite on its thread, and
//! 31 to 46 µs each with sqlx awaiting each statement through its worker.
//! Within a batch, a new execution's later changes are folded into its row
//! before it is written, so a no-op execution costs two inserts (its row and
//! its attempt) and a share of its job's completion and of the commit.
//!
//! # Schema
//!
//! Times are integer milliseconds since the Unix epoch, UTC. Migrations are
//! numbered `.sql` files embedded in the binary, applied at open in one
//! transaction; `jobs_schema_version` has a row per applied migration.
//!
//! - `jobs_schema_version (version, applied_at)`
//! - `jobs_executions (id, job, fire_at, cause, state, instance, attempt,
//!   attempt_started_at, started_at, finished_at)`: one row per execution;
//!   `attempt` and `attempt_started_at` describe the latest attempt started
//!   (0 and NULL while pending). Indexed by `(job, id)`, by `fire_at`, and by
//!   `state` for the unfinished ones.
//! - `jobs_attempts (execution_id, number, started_at, finished_at, outcome,
//!   message, location, limit_ms)`: one row per ended attempt; `outcome` is
//!   `succeeded`, `failed`, `panicked`, `timed_out`, `cancelled` or
//!   `abandoned`; `message` is the error or panic message, `location` the
//!   panic's, `limit_ms` the timeout's.
//! - `jobs_attempt_causes (execution_id, number, position, message)`: a failed
//!   attempt's chain of causes, outermost first.
//! - `jobs_schedules (job, anchor, last_fire, last_success, paused,
//!   schedule_override)`: one row per recurring job.
//! - `jobs_completions (job, finished_at)`: each job's latest successful
//!   finish, kept when its executions are pruned.
//! - `jobs_meta (key, value)`: `last_id`, the highest execution id ever
//!   given, so ids are not reused after pruning.

mod read;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use super::{
    Change, JobTotals, Recorder, Recovered, Rescue, ScheduleRow, Store, StoreError, StoreFuture,
};
use crate::execution::{Execution, ExecutionFilter, ExecutionId, Retention};
use writer::{Message, Source};

/// The migrations, in order: migration `n` is at index `n - 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_executions.sql"),
    include_str!("migrations/0002_totals.sql"),
];

/// The newest schema version this program knows.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for another's lock before it gives up, when
/// the URL does not say.
const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A store in a SQLite database file: executions, attempts and schedule rows
/// survive the process. Needs the `sqlite` feature.
///
/// A [recorder](Store::recorder)'s `record` queues a change for the writer thread and
/// returns; [`flush`](Store::flush) waits until what was queued before it is
/// committed (`synchronous = FULL`, so committed means on disk). Dropping
/// the store waits for the writer to commit what is still queued, then
/// closes the database.
///
/// ```no_run
/// use jobs_runtime::store::{SqliteStore, Store};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), jobs_runtime::store::StoreError> {
/// let store = SqliteStore::open("sqlite://jobs.db").await?;
/// let recovered = store.recover(std::time::SystemTime::now(), "host-1", &[]).await?;
/// println!("{} executions were abandoned", recovered.abandoned.len());
/// # Ok(())
/// # }
/// ```
pub struct SqliteStore {
    url: Arc<str>,
    writer: mpsc::Sender<Message>,
    reader: Arc<Mutex<Connection>>,
    last_id: AtomicI64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SqliteStore {
    /// Writes what was recorded and closes the database: waits for the
    /// writer thread to commit the changes still queued and to stop.
    fn drop(&mut self) {
        if self.writer.send(Message::Close).is_ok() {
            if let Some(thread) = self.thread.take() {
                // A writer that panicked has already reported it.
                let _ = thread.join();
            }
        }
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.url)
            .field("last_id", &self.last_id)
            .finish_non_exhaustive()
    }
}

/// What a database URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    path: PathBuf,
    create: bool,
    busy_timeout: Duration,
}

/// Parses `sqlite://PATH` or `sqlite:PATH`, with optional
/// `?mode=rwc|rw&busy_timeout=DURATION`.
fn parse_url(url: &str) -> Result<Config, String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or("expected `sqlite://PATH` or `sqlite:PATH`")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err("the path of the database file is empty".into());
    }
    if path == ":memory:" || path.starts_with("file:") {
        return Err(
            "in-memory and `file:` databases are not supported; give a file path, or use MemoryStore".into(),
        );
    }
    let mut config = Config {
        path: PathBuf::from(path),
        create: true,
        busy_timeout: DEFAULT_BUSY_TIMEOUT,
    };
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "mode" => {
                config.create = match value {
                    "rwc" => true,
                    "rw" => false,
                    _ => {
                        return Err(format!(
                            "mode={value:?} is not supported; allowed: rwc (create the file if missing, the default), rw (the file must exist)"
                        ))
                    }
                }
            }
            "busy_timeout" => {
                config.busy_timeout = jobs_grammar::parse_duration(value).map_err(|error| {
                    format!("busy_timeout={value:?} is not a duration such as `5s` or `250ms`: {error}")
                })?;
            }
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}; allowed: mode, busy_timeout"
                ))
            }
        }
    }
    Ok(config)
}

impl SqliteStore {
    /// Opens (or creates) the database at `url`, `sqlite://PATH` or
    /// `sqlite:PATH` (`sqlite:///abs/path` for an absolute path), and applies
    /// the migrations this program has that it lacks.
    ///
    /// Parameters: `mode=rwc` (the default: create the file if missing) or
    /// `mode=rw` (it must exist), and `busy_timeout=5s` (how long to wait
    /// for another process's lock).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`] for a URL it cannot read;
    /// [`StoreError::Open`] for a missing folder or file, no permission, a
    /// file that is not a database, a read-only file or a database locked
    /// for longer than the busy timeout; [`StoreError::NewerSchema`] for a
    /// database made by a newer version. Each names the URL.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let url: Arc<str> = Arc::from(url);
        let config = parse_url(&url).map_err(|reason| StoreError::InvalidUrl {
            url: url.to_string(),
            reason,
        })?;
        let opened = {
            let for_work = url.clone();
            blocking(&url, move || open_patiently(&for_work, &config)).await
        };
        let (writer, reader, last_id) = opened?;
        let (sender, thread) = writer::spawn(url.clone(), writer)?;
        Ok(SqliteStore {
            url,
            writer: sender,
            reader: Arc::new(Mutex::new(reader)),
            last_id: AtomicI64::new(last_id),
            thread: Some(thread),
        })
    }

    /// The URL this store was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `query` on the reading connection off the async threads.
    fn read<T, F>(&self, operation: &'static str, query: F) -> StoreFuture<'_, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let reader = self.reader.clone();
        let url = self.url.clone();
        Box::pin(async move {
            let for_work = url.clone();
            blocking(&url, move || {
                let connection = reader
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                query(&connection).map_err(|error| failed(&for_work, operation, error))
            })
            .await
        })
    }

    /// Sends `message` to the writer and waits for its answer.
    fn ask<T: Send + 'static>(
        &self,
        message: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Message,
    ) -> StoreFuture<'_, T> {
        let (reply, answer) = oneshot::channel();
        let sent = self.writer.send(message(reply)).is_ok();
        Box::pin(async move {
            if !sent {
                return Err(self.closed());
            }
            answer.await.map_err(|_| self.closed())?
        })
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            url: self.url.to_string(),
        }
    }
}

/// One job's [`Recorder`]: hands each change, with the job, to the writer.
struct JobRecorder {
    source: Arc<Source>,
    url: Arc<str>,
    writer: mpsc::Sender<Message>,
}

impl Recorder for JobRecorder {
    fn record(&self, change: Change) {
        let message = Message::Change(Arc::clone(&self.source), change);
        if self.writer.send(message).is_err() {
            tracing::error!(url = %self.url, job = %self.source.job, "job store writer has stopped; a change was not recorded");
        }
    }
}

impl Store for SqliteStore {
    fn recover<'a>(
        &'a self,
        now: SystemTime,
        _instance: &'a str,
        _jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Recovered> {
        self.ask(|reply| Message::Recover { now, reply })
    }

    fn next_id(&self) -> ExecutionId {
        ExecutionId(self.last_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn recorder(&self, job: &str, instance: &str) -> Arc<dyn Recorder> {
        Arc::new(JobRecorder {
            source: Arc::new(Source {
                job: job.into(),
                instance: instance.into(),
            }),
            url: Arc::clone(&self.url),
            writer: self.writer.clone(),
        })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        self.ask(Message::Flush)
    }

    fn register(&self, rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>> {
        self.ask(|reply| Message::Register { rows, reply })
    }

    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
        self.read("reading the schedule rows", read::schedules)
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
        self.read("reading executions", move |connection| {
            read::executions(connection, &filter)
        })
    }

    fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
        self.read("reading an execution", move |connection| {
            read::execution(connection, id)
        })
    }

    fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        let job = job.to_owned();
        self.read("reading a job's last completion", move |connection| {
            read::last_completed_at(connection, &job)
        })
    }

    fn totals<'a>(&'a self, job: &'a str) -> StoreFuture<'a, JobTotals> {
        let job = job.to_owned();
        self.read("reading a job's totals", move |connection| {
            read::totals(connection, &job)
        })
    }

    fn prune<'a>(
        &'a self,
        job: &'a str,
        retention: Retention,
        now: SystemTime,
    ) -> StoreFuture<'a, u64> {
        let job = job.to_owned();
        self.ask(|reply| Message::Prune {
            job,
            retention,
            now,
            reply,
        })
    }
}

/// Runs `work` under `spawn_blocking` inside a tokio runtime, or right here
/// outside one.
/// A runtime that is shutting down may drop the work before it runs: that
/// is a [`StoreError::Closed`] of `url`.
async fn blocking<T: Send + 'static>(
    url: &str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => match runtime.spawn_blocking(work).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::Closed {
                url: url.to_owned(),
            }),
        },
        Err(_) => work(),
    }
}

fn failed(url: &str, operation: &str, error: rusqlite::Error) -> StoreError {
    StoreError::Failed {
        url: url.to_owned(),
        operation: operation.to_owned(),
        source: Box::new(error),
    }
}

/// [`open_connections`], tried again while the database is busy, for up to
/// the busy timeout: SQLite answers some locks at once, without waiting
/// (another process opening the same file, or setting up its WAL files).
fn open_patiently(url: &str, config: &Config) -> Result<(Connection, Connection, i64), StoreError> {
    let started = std::time::Instant::now();
    loop {
        let busy = std::cell::Cell::new(false);
        match open_connections(url, config, &busy) {
            Err(_) if busy.get() && started.elapsed() < config.busy_timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

/// Opens the writing and the reading connection, prepares the database and
/// reads the highest id given so far; sets `busy` when it failed because
/// the database was busy.
fn open_connections(
    url: &str,
    config: &Config,
    busy: &std::cell::Cell<bool>,
) -> Result<(Connection, Connection, i64), StoreError> {
    let problem = |problem: String| StoreError::Open {
        url: url.to_owned(),
        problem,
    };
    let path = &config.path;
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(problem(format!(
            "the folder {} does not exist",
            folder.display()
        )));
    }
    if !config.create && !path.exists() {
        return Err(problem(format!(
            "the file {} does not exist (mode=rw opens an existing file only)",
            path.display()
        )));
    }
    if path.is_dir() {
        return Err(problem(format!(
            "{} is a folder, not a file",
            path.display()
        )));
    }
    let explain = |error: rusqlite::Error| {
        if matches!(
            error.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        ) {
            busy.set(true);
        }
        problem(describe(path, config.busy_timeout, &error))
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if config.create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut writer = Connection::open_with_flags(path, flags).map_err(explain)?;
    if writer.is_readonly("main").map_err(explain)? {
        return Err(problem(format!(
            "the file {} is read-only; the store writes to it, so it needs write permission",
            path.display()
        )));
    }
    writer.busy_timeout(config.busy_timeout).map_err(explain)?;
    let mode: String = writer
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(explain)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(problem(format!(
            "the database could not be switched to WAL mode (it is in {mode} mode)"
        )));
    }
    writer
        .pragma_update(None, "synchronous", "FULL")
        .map_err(explain)?;
    writer.set_prepared_statement_cache_capacity(64);
    migrate(url, &mut writer, explain)?;
    let last_id: i64 = writer
        .query_row(
            "SELECT max(coalesce((SELECT max(id) FROM jobs_executions), 0),
                        coalesce((SELECT value FROM jobs_meta WHERE key = 'last_id'), 0))",
            [],
            |row| row.get(0),
        )
        .map_err(explain)?;
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(explain)?;
    reader.busy_timeout(config.busy_timeout).map_err(explain)?;
    reader
        .pragma_update(None, "query_only", true)
        .map_err(explain)?;
    reader.set_prepared_statement_cache_capacity(64);
    Ok((writer, reader, last_id))
}

/// Applies the migrations the database lacks, in one transaction; refuses a
/// database with a newer schema.
fn migrate(
    url: &str,
    connection: &mut Connection,
    explain: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<(), StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&explain)?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs_schema_version (
                 version    INTEGER PRIMARY KEY,
                 applied_at INTEGER NOT NULL
             )",
        )
        .map_err(&explain)?;
    let found: i64 = transaction
        .query_row(
            "SELECT coalesce(max(version), 0) FROM jobs_schema_version",
            [],
            |row| row.get(0),
        )
        .map_err(&explain)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            url: url.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let now = crate::execution::to_millis(SystemTime::now());
    for (version, migration) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        transaction.execute_batch(migration).map_err(&explain)?;
        transaction
            .execute(
                "INSERT INTO jobs_schema_version (version, applied_at) VALUES (?1, ?2)",
                (version, now),
            )
            .map_err(&explain)?;
    }
    transaction.commit().map_err(&explain)
}

/// What went wrong opening `path`, in words.
fn describe(path: &Path, busy_timeout: Duration, error: &rusqlite::Error) -> String {
    let path = path.display();
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            format!("the file {path} is not a SQLite database (or is encrypted or damaged)")
        }
        Some(ErrorCode::DatabaseCorrupt) => format!("the database file {path} is corrupt"),
        Some(ErrorCode::ReadOnly) => format!(
            "the file {path} is read-only; the store writes to it, so it needs write permission"
        ),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "the database {path} is locked by another connection or process, and stayed locked for the busy timeout of {} (set it with `?busy_timeout=`)",
            jobs_grammar::format_duration(busy_timeout)
        ),
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            format!("the file {path} cannot be opened (no permission?): {error}")
        }
        Some(ErrorCode::DiskFull) => format!("the disk holding {path} is full"),
        _ => format!("{path}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_path_and_parameters() {
        let config = parse_url("sqlite://jobs.db").unwrap();
        assert_eq!(config.path, PathBuf::from("jobs.db"));
        assert!(config.create);
        assert_eq!(config.busy_timeout, DEFAULT_BUSY_TIMEOUT);
        let config = parse_url("sqlite:///var/lib/app/jobs.db?mode=rw&busy_timeout=250ms").unwrap();
        assert_eq!(config.path, PathBuf::from("/var/lib/app/jobs.db"));
        assert!(!config.create);
        assert_eq!(config.busy_timeout, Duration::from_millis(250));
        assert_eq!(
            parse_url("sqlite:data/jobs.db").unwrap().path,
            PathBuf::from("data/jobs.db")
        );
    }

    #[test]
    fn bad_urls_say_what_is_allowed() {
        let cases = [
            (
                "postgres://localhost/jobs",
                "expected `sqlite://PATH` or `sqlite:PATH`",
            ),
            ("sqlite://", "the path of the database file is empty"),
            (
                "sqlite::memory:",
                "in-memory and `file:` databases are not supported",
            ),
            (
                "sqlite://jobs.db?mode=ro",
                "mode=\"ro\" is not supported; allowed: rwc",
            ),
            (
                "sqlite://jobs.db?busy_timeout=soon",
                "busy_timeout=\"soon\" is not a duration",
            ),
            (
                "sqlite://jobs.db?cache=shared",
                "unknown parameter \"cache\"; allowed: mode, busy_timeout",
            ),
        ];
        for (url, expected) in cases {
            let reason = parse_url(url).unwrap_err();
            assert!(reason.contains(expected), "{url}: {reason}");
        }
    }
}
