//! [`PostgresStore`]: a PostgreSQL database that one process or a fleet of
//! them shares.
//!
//! Changes go to a writer task, which commits everything queued since its
//! last commit (and within 5 ms of the first of it) in one transaction, a
//! few array statements per batch whatever its size; queries and claims run
//! on a connection pool (sqlx). Nothing relies on a connection's session
//! state (the migrations' lock is transaction-scoped), so the store works
//! behind a transaction-mode pooler.
//!
//! # Several processes
//!
//! The store is [shared](Store::shared): every execution is claimed
//! before it runs, by inserting its row with a lease token (the claimer),
//! and a unique index on the job and the fire time lets one insert of a
//! scheduled fire through. A fire is also refused once a later fire of its
//! job was claimed, so a lagging process never runs an old fire after a
//! newer one. Each process's store handle keeps a heartbeat in
//! `jobs_instances` (every [heartbeat](FleetTimings::heartbeat), the
//! database's time, with its slots and clock offset); a process that starts
//! abandons the executions left unfinished by its own instance name and by
//! instances dead for the [dead-after](FleetTimings::dead_after) bound, and
//! the running instances take over a dead one's executions, and stuck ones
//! ([`Store::rescue`]). Pauses, schedules and replaces are announced with
//! `NOTIFY` (the wake-ups), a hint the instances also poll for.
//!
//! # Schema
//!
//! Times are milliseconds since the Unix epoch, UTC (`bigint`), except the
//! instances' times, which are the database's `timestamptz`. Migrations
//! are numbered `.sql` files embedded in the binary, applied at open in one
//! transaction under a transaction-scoped advisory lock, so processes that
//! start together apply them once; `jobs_schema_version` has a row per
//! applied migration.
//!
//! - `jobs_executions (id, job, fire_at, cause, state, instance, attempt,
//!   attempt_started_at, started_at, finished_at, lease_token, replaced)`:
//!   one row per execution; a claimed fire's row is inserted `pending` with
//!   its lease token. Unique on `(job, fire_at)` for scheduled executions.
//! - `jobs_attempts`, `jobs_attempt_causes`, `jobs_schedules`,
//!   `jobs_completions`, `jobs_totals`: as in the SQLite store.
//! - `jobs_instances (id, host, pid, version, started_at, heartbeat_at,
//!   slots, clock_offset_ms)`: the processes that use the store.
//! - `jobs_id_blocks`, `jobs_lease_tokens`: sequences; each store handle
//!   takes a block of 2^32 execution ids, so ids are unique across the
//!   processes and increase within each one.

mod claims;
mod read;
mod share;
mod upkeep;
mod wakeups;
mod writer;

use std::collections::{BTreeSet, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;

use super::{
    Change, Claim, Claimed, FleetTimings, Instance, JobTotals, Recorder, Recovered, Rescue,
    Rescued, ScheduleRow, Store, StoreError, StoreFuture,
};
use crate::execution::{Cause, Execution, ExecutionFilter, ExecutionId, Retention};
use claims::Pending;
use upkeep::Whose;
use writer::{Message, Source};

/// The migrations, in order: migration `n` is at index `n - 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_schema.sql")];

/// How many execution ids a block holds: block `b` holds `b · 2^32 + 1`
/// to `(b + 1) · 2^32 - 1`.
const BLOCK: i64 = 1 << 32;

/// A clock offset from the database's past which it is logged.
const LARGE_OFFSET_MS: i64 = 1_000;

/// How many connections the pool opens at most.
const CONNECTIONS: u32 = 8;

/// A job store in a PostgreSQL database (the `postgres` feature), shared
/// by every process that opens it.
///
/// ```no_run
/// use jobs_runtime::store::{PostgresStore, Store};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), jobs_runtime::store::StoreError> {
/// let store = PostgresStore::open("postgres://postgres@127.0.0.1/jobs").await?;
/// assert!(store.shared());
/// # Ok(())
/// # }
/// ```
pub struct PostgresStore {
    /// The URL as given, its password hidden.
    url: Arc<str>,
    pool: PgPool,
    writer: mpsc::UnboundedSender<Message>,
    claimer: mpsc::UnboundedSender<Pending>,
    /// The ids this handle gives.
    ids: Arc<Mutex<Ids>>,
    /// The instances this handle recovered as, whose heartbeats it writes.
    instances: Arc<Mutex<BTreeSet<String>>>,
    heartbeat: tokio::task::JoinHandle<()>,
    beat: Arc<Beat>,
    timings: FleetTimings,
    /// Woken when another instance announces a change to follow.
    wake: Arc<Notify>,
    /// How many late changes the writer discarded (fenced).
    fenced: Arc<AtomicU64>,
    listener: tokio::task::JoinHandle<()>,
}

/// What the heartbeats tell, and what they write.
#[derive(Default)]
struct Beat {
    /// When the latest heartbeat the database took was sent.
    taken: Mutex<Option<Instant>>,
    /// How far this process's clock is ahead of the database's, in
    /// milliseconds, once measured.
    offset_ms: Mutex<Option<i64>>,
    /// The slots this process offers.
    slots: Mutex<Option<u32>>,
    /// The live instances, as the latest heartbeat read them.
    members: share::Members,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://user@host/db` or
    /// `postgresql://...`), applies the migrations it lacks, and starts the
    /// writer. Needs a tokio runtime. Errors name the URL (its password
    /// hidden) and what went wrong: an invalid URL, an unreachable server,
    /// a refused login, a missing database, or a schema newer than this
    /// program knows.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, FleetTimings::default()).await
    }

    /// [`open`](Self::open), with the fleet's `timings` rather than the
    /// defaults: how often this process writes its heartbeat, and when it
    /// takes another for dead.
    pub async fn open_with(url: &str, timings: FleetTimings) -> Result<Self, StoreError> {
        let shown: Arc<str> = Arc::from(super::redact(url));
        let options = PgConnectOptions::from_str(url).map_err(|error| StoreError::InvalidUrl {
            url: shown.to_string(),
            reason: format!(
                "{error}; the allowed form is postgres://user:password@host:port/database"
            ),
        })?;
        // One connection first: a server that refuses it is an error at
        // once, with its own words (a pool would wait out its timeout).
        let open_failed = |error: sqlx::Error| StoreError::Open {
            url: shown.to_string(),
            problem: error.to_string(),
        };
        let first = PgConnection::connect_with(&options)
            .await
            .map_err(open_failed)?;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        let _ = first.close().await;
        migrate(&pool, &shown).await?;
        let block: i64 = sqlx::query_scalar("SELECT nextval('jobs_id_blocks')")
            .fetch_one(&pool)
            .await
            .map_err(|error| failed(&shown, "taking a block of execution ids", error))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let fenced = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer::run(
            Arc::clone(&shown),
            pool.clone(),
            receiver,
            Arc::clone(&fenced),
        ));
        let (claimer, claims) = mpsc::unbounded_channel();
        let instances = Arc::new(Mutex::new(BTreeSet::new()));
        let beat = Arc::new(Beat::default());
        let live = claims::Live {
            beat: Arc::clone(&beat),
            instances: Arc::clone(&instances),
            heartbeat: timings.heartbeat(),
            lead: timings.claim_lead(),
        };
        tokio::spawn(claims::run(
            Arc::clone(&shown),
            pool.clone(),
            claims,
            live,
            sender.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeats(
            Arc::clone(&shown),
            pool.clone(),
            Arc::clone(&instances),
            Arc::clone(&beat),
            timings,
        ));
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(wakeups::listen(
            Arc::clone(&shown),
            pool.clone(),
            Arc::clone(&wake),
        ));
        Ok(PostgresStore {
            url: shown,
            pool,
            writer: sender,
            claimer,
            ids: Arc::new(Mutex::new(Ids {
                next: bounds(block).0,
                end: bounds(block).1,
                spare: None,
            })),
            instances,
            heartbeat,
            beat,
            timings,
            wake,
            listener,
            fenced,
        })
    }

    /// The URL this store was opened with, its password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Takes the next block of ids in the background, for when this one
    /// runs out.
    fn take_spare_block(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (pool, ids, url) = (
            self.pool.clone(),
            Arc::clone(&self.ids),
            Arc::clone(&self.url),
        );
        runtime.spawn(async move {
            match sqlx::query_scalar::<_, i64>("SELECT nextval('jobs_id_blocks')")
                .fetch_one(&pool)
                .await
            {
                Ok(block) => lock(&ids).spare = Some(block),
                Err(error) => {
                    tracing::error!(url = %url, %error, "job store: no block of execution ids");
                }
            }
        });
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

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.heartbeat.abort();
        self.listener.abort();
        let _ = self.writer.send(Message::Close);
    }
}

/// The execution ids a store handle gives.
struct Ids {
    next: i64,
    /// The end of the block `next` is in (excluded).
    end: i64,
    /// The block taken for when this one runs out.
    spare: Option<i64>,
}

/// The first id of block `block` and the end of its range (excluded).
fn bounds(block: i64) -> (i64, i64) {
    (
        block.saturating_mul(BLOCK).saturating_add(1),
        block.saturating_add(1).saturating_mul(BLOCK),
    )
}

/// The error of `operation` on the store `url`.
pub(super) fn failed(url: &str, operation: &str, error: sqlx::Error) -> StoreError {
    StoreError::Failed {
        url: url.to_owned(),
        operation: operation.to_owned(),
        source: Box::new(error),
    }
}

/// Applies the migrations the database lacks, in one transaction that
/// first takes a transaction-scoped advisory lock, so that processes that
/// start together apply them once; refuses a schema newer than this
/// program's.
async fn migrate(pool: &PgPool, url: &str) -> Result<(), StoreError> {
    let mut transaction = pool
        .begin()
        .await
        .map_err(|error| failed(url, "applying the schema", error))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('jobs_runtime.migrations'))")
        .execute(&mut *transaction)
        .await
        .map_err(|error| failed(url, "applying the schema", error))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS jobs_schema_version (
             version    integer     PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .execute(&mut *transaction)
    .await
    .map_err(|error| failed(url, "applying the schema", error))?;
    let found: i64 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0)::bigint FROM jobs_schema_version")
            .fetch_one(&mut *transaction)
            .await
            .map_err(|error| failed(url, "applying the schema", error))?;
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if found > supported {
        return Err(StoreError::NewerSchema {
            url: url.to_owned(),
            found,
            supported,
        });
    }
    let applied = usize::try_from(found).unwrap_or(0);
    for (version, migration) in (1_i32..).zip(MIGRATIONS.iter().copied()).skip(applied) {
        // A migration is several statements: sent as one simple query.
        sqlx::Executor::execute(&mut *transaction, migration)
            .await
            .map_err(|error| failed(url, "applying the schema", error))?;
        sqlx::query("INSERT INTO jobs_schema_version (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *transaction)
            .await
            .map_err(|error| failed(url, "applying the schema", error))?;
    }
    transaction
        .commit()
        .await
        .map_err(|error| failed(url, "applying the schema", error))
}

/// Writes the heartbeat of every instance in `instances`, every
/// heartbeat of `timings`, until the store is dropped, with the slots
/// offered and how far this process's clock is from the database's; notes
/// both in `beat`, with the live instances it then reads.
async fn heartbeats(
    url: Arc<str>,
    pool: PgPool,
    instances: Arc<Mutex<BTreeSet<String>>>,
    beat: Arc<Beat>,
    timings: FleetTimings,
) {
    let mut ticks = tokio::time::interval(timings.heartbeat());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let names: Vec<String> = lock(&instances).iter().cloned().collect();
        if names.is_empty() {
            continue;
        }
        let (sent, wall) = (
            Instant::now(),
            crate::execution::to_millis(SystemTime::now()),
        );
        let answer: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "UPDATE jobs_instances SET heartbeat_at = now(), slots = $2,
                 clock_offset_ms = $3 - (extract(epoch FROM clock_timestamp()) * 1000)::bigint
             WHERE id = ANY($1) RETURNING clock_offset_ms",
        )
        .bind(&names)
        .bind(beat.slots())
        .bind(wall)
        .fetch_optional(&pool)
        .await;
        match answer {
            Ok(offset) => beat.took(&url, sent, offset),
            Err(error) => {
                tracing::warn!(url = %url, %error, "job store: an instance's heartbeat could not be written");
                continue;
            }
        }
        if let Err(error) = beat.read_members(&pool, timings.dead_after()).await {
            tracing::warn!(url = %url, %error, "job store: the live instances could not be read");
        }
    }
}

impl Beat {
    /// Reads the names of the live instances: those whose heartbeat is
    /// younger than `dead_after`.
    async fn read_members(&self, pool: &PgPool, dead_after: Duration) -> Result<(), sqlx::Error> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM jobs_instances
             WHERE heartbeat_at > now() - make_interval(secs => $1) ORDER BY id",
        )
        .bind(dead_after.as_secs_f64())
        .fetch_all(pool)
        .await?;
        self.members.set(names);
        Ok(())
    }

    /// The slots offered, as the database keeps them.
    fn slots(&self) -> Option<i32> {
        lock(&self.slots).map(|slots| i32::try_from(slots).unwrap_or(i32::MAX))
    }

    /// The database took the heartbeat `sent` then, and measured this
    /// process's clock `offset_ms` ahead of its own (to within half a round
    /// trip); an offset that becomes large is logged.
    fn took(&self, url: &str, sent: Instant, offset_ms: Option<i64>) {
        *lock(&self.taken) = Some(sent);
        let Some(offset) = offset_ms else {
            return;
        };
        let before = lock(&self.offset_ms).replace(offset);
        let large = |offset: Option<i64>| offset.is_some_and(|o| o.abs() > LARGE_OFFSET_MS);
        if large(Some(offset)) && !large(before) {
            crate::events::clock_offset_large(url, offset);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One job's [`Recorder`]: hands each change, with the job and instance,
/// to the writer, and each claim to the claimer.
struct JobRecorder {
    source: Arc<Source>,
    url: Arc<str>,
    writer: mpsc::UnboundedSender<Message>,
    claimer: mpsc::UnboundedSender<Pending>,
    /// The latest executions of the job that ended here, at most
    /// [`RECENT`]: a claim with a limit does not count them as unfinished,
    /// though the writer may not have written their ends yet.
    recent: Mutex<VecDeque<i64>>,
    /// The live instances, read by the heartbeats.
    beat: Arc<Beat>,
    /// When this instance claims the job's scheduled fires.
    turn: Arc<Mutex<share::Turn>>,
}

/// How many of a job's latest ended executions its recorder keeps.
const RECENT: usize = 64;

impl Recorder for JobRecorder {
    fn record(&self, change: Change) {
        if let Change::Finished { id, .. } = &change {
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(id.0);
        }
        let message = Message::Change(Arc::clone(&self.source), change);
        if self.writer.send(message).is_err() {
            tracing::error!(url = %self.url, job = %self.source.job, "job store writer has stopped; a change was not recorded");
        }
    }

    fn claim(&self, claim: Claim) -> StoreFuture<'static, Claimed> {
        let (reply, answer) = oneshot::channel();
        let ended = match claim.limit {
            Some(_) => lock(&self.recent).iter().copied().collect(),
            None => Vec::new(),
        };
        let wait = (claim.cause == Cause::Schedule).then(|| {
            let source = &self.source;
            lock(&self.turn).wait(
                &source.job,
                &source.instance,
                claim.fire_at,
                &self.beat.members,
            )
        });
        let pending = Pending {
            claim,
            ended,
            tries: 0,
            source: Arc::clone(&self.source),
            reply,
        };
        let claimer = self.claimer.clone();
        let turn = Arc::clone(&self.turn);
        let url = Arc::clone(&self.url);
        Box::pin(async move {
            let closed = || StoreError::Closed {
                url: url.to_string(),
            };
            if let Some(delay) = wait.map(|wait| wait.delay).filter(|delay| !delay.is_zero()) {
                tokio::time::sleep(delay).await;
            }
            claimer.send(pending).map_err(|_| closed())?;
            let answer = answer.await.map_err(|_| closed())??;
            if let Some(wait) = wait {
                lock(&turn).answered(wait, &answer);
            }
            Ok(answer)
        })
    }
}

impl Store for PostgresStore {
    fn recover<'a>(
        &'a self,
        now: SystemTime,
        instance: &'a str,
        jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Recovered> {
        Box::pin(async move {
            let failed = |error| failed(&self.url, "registering the instance", error);
            let (sent, wall) = (
                Instant::now(),
                crate::execution::to_millis(SystemTime::now()),
            );
            let offset: i64 = sqlx::query_scalar(
                "INSERT INTO jobs_instances
                     (id, host, pid, version, started_at, heartbeat_at, slots, clock_offset_ms)
                 VALUES ($1, $2, $3, $4, now(), now(), $5,
                     $6 - (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                     version = excluded.version, started_at = now(), heartbeat_at = now(),
                     slots = excluded.slots, clock_offset_ms = excluded.clock_offset_ms
                 RETURNING clock_offset_ms",
            )
            .bind(instance)
            .bind(host())
            .bind(i64::from(std::process::id()))
            .bind(env!("CARGO_PKG_VERSION"))
            .bind(self.beat.slots())
            .bind(wall)
            .fetch_one(&self.pool)
            .await
            .map_err(failed)?;
            self.beat.took(&self.url, sent, Some(offset));
            lock(&self.instances).insert(instance.to_owned());
            self.beat
                .read_members(&self.pool, self.timings.dead_after())
                .await
                .map_err(failed)?;
            let whose = Whose::Start { instance, jobs };
            let dead_after = self.timings.dead_after();
            let next_id = || self.next_id();
            let abandoned =
                upkeep::abandon(&self.url, &self.pool, now, whose, dead_after, &next_id).await?;
            let schedules = read::schedules(&self.pool)
                .await
                .map_err(|error| self::failed(&self.url, "reading the schedule rows", error))?;
            Ok(Recovered {
                abandoned,
                schedules,
            })
        })
    }

    fn rescue<'a>(
        &'a self,
        now: SystemTime,
        instance: &'a str,
        jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Vec<Rescued>> {
        Box::pin(async move {
            let whose = Whose::Dead { instance, jobs };
            let dead_after = self.timings.dead_after();
            let next_id = || self.next_id();
            upkeep::abandon(&self.url, &self.pool, now, whose, dead_after, &next_id).await
        })
    }

    fn timings(&self) -> Option<FleetTimings> {
        Some(self.timings)
    }

    fn wakeups(&self) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.wake))
    }

    fn fenced_count(&self) -> u64 {
        self.fenced.load(Ordering::Relaxed)
    }

    fn replaced<'a>(&'a self, instance: &'a str) -> StoreFuture<'a, Vec<(String, ExecutionId)>> {
        Box::pin(async move {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT job, id FROM jobs_executions
                 WHERE instance = $1 AND replaced
                     AND state IN ('pending', 'running', 'retrying')",
            )
            .bind(instance)
            .fetch_all(&self.pool)
            .await
            .map_err(|error| failed(&self.url, "reading the replaced executions", error))?;
            Ok(rows
                .into_iter()
                .map(|(job, id)| (job, ExecutionId(id)))
                .collect())
        })
    }

    fn heartbeat_age(&self) -> Option<Duration> {
        lock(&self.beat.taken).map(|sent| sent.elapsed())
    }

    fn clock_offset_ms(&self) -> Option<i64> {
        *lock(&self.beat.offset_ms)
    }

    fn set_slots(&self, slots: Option<u32>) {
        *lock(&self.beat.slots) = slots;
    }

    fn next_id(&self) -> ExecutionId {
        let mut ids = lock(&self.ids);
        if ids.next == ids.end {
            match ids.spare.take() {
                Some(block) => (ids.next, ids.end) = bounds(block),
                None => {
                    // Half a block (2^31 ids) was given since the next one
                    // was asked for; ids go on past this block's end rather
                    // than stopping the fire.
                    tracing::error!(url = %self.url, "job store: no block of execution ids in time; ids may repeat");
                    ids.end = ids.end.saturating_add(BLOCK);
                }
            }
        }
        let id = ids.next;
        ids.next += 1;
        if ids.end - ids.next == BLOCK / 2 && ids.spare.is_none() {
            self.take_spare_block();
        }
        ExecutionId(id)
    }

    fn shared(&self) -> bool {
        true
    }

    fn recorder(&self, job: &str, instance: &str) -> Arc<dyn Recorder> {
        Arc::new(JobRecorder {
            source: Arc::new(Source {
                job: job.into(),
                instance: instance.into(),
            }),
            url: Arc::clone(&self.url),
            writer: self.writer.clone(),
            claimer: self.claimer.clone(),
            recent: Mutex::default(),
            beat: Arc::clone(&self.beat),
            turn: Arc::new(Mutex::new(share::Turn::new(self.timings.claim_lead()))),
        })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        self.ask(Message::Flush)
    }

    fn register(&self, rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>> {
        Box::pin(async move { upkeep::register(&self.url, &self.pool, &rows).await })
    }

    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
        Box::pin(async move {
            read::schedules(&self.pool)
                .await
                .map_err(|error| failed(&self.url, "reading the schedule rows", error))
        })
    }

    fn instances(&self) -> StoreFuture<'_, Vec<Instance>> {
        Box::pin(async move {
            read::instances(&self.pool, self.timings.dead_after())
                .await
                .map_err(|error| failed(&self.url, "reading the instances", error))
        })
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
        Box::pin(async move {
            read::executions(&self.pool, &filter)
                .await
                .map_err(|error| failed(&self.url, "reading executions", error))
        })
    }

    fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
        Box::pin(async move {
            read::execution(&self.pool, id)
                .await
                .map_err(|error| failed(&self.url, "reading an execution", error))
        })
    }

    fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        Box::pin(async move {
            read::last_completed_at(&self.pool, job)
                .await
                .map_err(|error| failed(&self.url, "reading the last completion", error))
        })
    }

    fn totals<'a>(&'a self, job: &'a str) -> StoreFuture<'a, JobTotals> {
        Box::pin(async move {
            read::totals(&self.pool, job)
                .await
                .map_err(|error| failed(&self.url, "reading a job's totals", error))
        })
    }

    fn prune<'a>(
        &'a self,
        job: &'a str,
        retention: Retention,
        now: SystemTime,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            upkeep::prune(&self.pool, job, retention, now)
                .await
                .map_err(|error| failed(&self.url, "pruning executions", error))
        })
    }
}

/// The host's name, as the instances table shows it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Reads a `bigint` column that holds a count.
fn count(row: &sqlx::postgres::PgRow, index: usize) -> Result<u64, sqlx::Error> {
    Ok(u64::try_from(row.try_get::<i64, _>(index)?).unwrap_or(0))
}
