//! Where executions and schedule rows are kept: the [`Store`] seam, the
//! [`MemoryStore`] (no I/O) and, with the `sqlite` feature, the embedded
//! `SqliteStore`. A manager without a store set records into one that keeps
//! nothing, so that a process without a database pays for no history on the
//! path of a fire; its stats still count every execution.
//!
//! # How the engine uses a store
//!
//! - At start, the manager calls [`Store::recover`] once, before recording
//!   anything: it gets back the executions a dead process left `running` or
//!   `retrying` (now `abandoned`, so their jobs' retry policy can apply) and
//!   every [`ScheduleRow`], from which it takes each recurring job's anchor,
//!   last fire, pause and schedule override. It then
//!   [registers](Store::register) the recurring jobs the store has no row
//!   for, and takes the rows another process registered meanwhile.
//! - Each started job gets its [`Recorder`] from [`Store::recorder`] once,
//!   for the job and this process's instance (which the executions it
//!   records name). On each fire the job takes an id from [`Store::next_id`] (an atomic
//!   counter, no round trip) and records what happens through its
//!   recorder: a synchronous call that never waits for the disk, and that
//!   looks nothing up by the job's name. A no-op execution is three
//!   changes: [`Change::Started`], [`Change::AttemptEnded`] and
//!   [`Change::Finished`]; each scheduled fire is a [`Change::Fired`]. A
//!   schedule row is written the same way, whole with [`Change::Schedule`],
//!   or in the part a control call changed with [`Change::Control`].
//! - [`Store::flush`] is awaited at stop, so that everything recorded is
//!   durable before the process exits.
//! - The memory store also bounds itself as executions end (at most
//!   `keep_last` ended executions per job); a database store keeps
//!   everything until [`Store::prune`] runs.
//! - Each job is pruned by its own [`Retention`]
//!   ([`JobSpec::retention`](crate::JobSpec::retention): its `keep` and
//!   `keep_last`), one job per [`Store::prune`] call, by a background task
//!   that prunes every job at start and then periodically.
//! - An execution left `pending` by a dead process stays `pending`:
//!   [`Store::recover`] only abandons what had started.
//! - Queries ([`Store::executions`], [`Store::execution`],
//!   [`Store::last_completed_at`]) and [`Store::prune`] are async and run off
//!   the per-fire path; pruning runs in the background in batches.
//!
//! The SQLite store hands every change to one writer thread, which commits
//! all the changes queued since its last commit in one transaction (group
//! commit): at a burst of fires, one transaction records them all. The
//! memory store keeps each job's executions in a cell of the job's own, so
//! jobs that fire together on several threads do not wait for one lock.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod batch;
mod memory;
mod null;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod timings;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::execution::{
    Attempt, Cause, Execution, ExecutionFilter, ExecutionId, ExecutionState, Retention,
};

pub use memory::MemoryStore;
pub(crate) use null::NullStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use timings::FleetTimings;

/// Opens the store a database URL names:
///
/// - `sqlite://path/to/jobs.db` (or `sqlite:path`): the embedded SQLite
///   store, made if missing (needs the `sqlite` feature);
/// - `memory:`: the [`MemoryStore`], as with no URL at all.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let Err(error) = jobs_runtime::store::open("mysql://db/jobs").await else {
///     panic!("mysql is not a store");
/// };
/// assert!(error.to_string().contains("mysql://db/jobs"));
/// # }
/// ```
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, FleetTimings::default()).await
}

/// [`open`], with the fleet's `timings` for a store several instances
/// share (PostgreSQL); the other stores have no use for them.
pub async fn open_with(url: &str, timings: FleetTimings) -> Result<Arc<dyn Store>, StoreError> {
    #[cfg(not(feature = "postgres"))]
    let _ = timings;
    let shown = redact(url);
    let scheme = url.split_once(':').map(|(scheme, _)| scheme);
    match scheme {
        Some("memory") if url == "memory:" || url == "memory://" => {
            Ok(Arc::new(MemoryStore::new()))
        }
        #[cfg(feature = "sqlite")]
        Some("sqlite") => Ok(Arc::new(SqliteStore::open(url).await?)),
        #[cfg(not(feature = "sqlite"))]
        Some("sqlite") => Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason:
                "this program was built without SQLite: enable the `sqlite` feature of jobs-runtime"
                    .to_owned(),
        }),
        #[cfg(feature = "postgres")]
        Some("postgres" | "postgresql") => {
            Ok(Arc::new(PostgresStore::open_with(url, timings).await?))
        }
        #[cfg(not(feature = "postgres"))]
        Some("postgres" | "postgresql") => Err(StoreError::InvalidUrl {
            url: shown,
            reason: "this program was built without PostgreSQL: enable the `postgres` feature of jobs-runtime"
                .to_owned(),
        }),
        _ => Err(StoreError::InvalidUrl {
            url: shown,
            reason: "the allowed forms are sqlite://path/to/jobs.db, postgres://user@host/database and memory:".to_owned(),
        }),
    }
}

/// `url` with its password, if any, replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // A password given as a query parameter, `?password=...`.
    let path = match path.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

/// The future an async [`Store`] call returns: boxed, so that the trait can
/// be used as `dyn Store`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps executions and schedule rows.
///
/// Recording ([`recorder`](Store::recorder), [`next_id`](Store::next_id)) is
/// synchronous and never waits for I/O, so the per-fire path stays fast;
/// everything else is async. Every store passes the same conformance suite.
pub trait Store: Send + Sync + 'static {
    /// Starts the use of the store by `instance`, before anything is
    /// recorded: marks every execution still `running` or `retrying` (left
    /// by a process that died) `abandoned` at `now`, its running attempt
    /// ended with [`Outcome::Abandoned`](crate::execution::Outcome::Abandoned),
    /// and returns those executions with every schedule row. A store that
    /// several processes [share](Store::shared) abandons only the
    /// executions of `instance` itself (an earlier run of it) and of
    /// instances no longer alive, and their `pending` ones too (claimed,
    /// never started: a claim counts toward its job's limit across the
    /// fleet until it ends). Such a store also claims, in the same
    /// transaction, the continuation of each abandoned execution of the
    /// `jobs` whose retries allow another attempt, for `instance` (see
    /// [`Rescued::continuation`]); a store of one process claims none, and
    /// its caller continues them.
    fn recover<'a>(
        &'a self,
        now: SystemTime,
        instance: &'a str,
        jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Recovered>;

    /// Takes over the executions of instances that are no longer alive,
    /// while `instance` runs: marks `abandoned` at `now` the executions of
    /// `jobs` that a dead instance left `pending`, `running` or `retrying`
    /// (never a live instance's, nor `instance`'s own but those it
    /// [released](Rescue::released)), and those whose
    /// running attempt started longer ago than its job's
    /// [`stuck_after`](Rescue::stuck_after) on another instance, alive or
    /// not (by the store's clock); their running attempts end
    /// [`Outcome::Abandoned`](crate::execution::Outcome::Abandoned). Returns
    /// them, each to one caller however many instances ask at once, with
    /// the continuation that the same transaction claimed for `instance`
    /// where the job's [retries](Rescue::retries) allow another attempt: no
    /// other execution of the job can be claimed between the two. A late
    /// result of an abandoned execution is discarded. The default, for a
    /// store of one process, finds none: a dead process's executions are
    /// recovered when it starts again.
    fn rescue<'a>(
        &'a self,
        now: SystemTime,
        instance: &'a str,
        jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Vec<Rescued>> {
        let _ = (now, instance, jobs);
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// How the instances that share this store watch each other; `None`
    /// for a store of one process.
    fn timings(&self) -> Option<FleetTimings> {
        None
    }

    /// How many late changes of executions that another instance took over
    /// this handle discarded (their completions fenced by the lease token
    /// of the takeover); 0 for a store of one process.
    fn fenced_count(&self) -> u64 {
        0
    }

    /// Woken when another instance that shares this store announces a
    /// change to follow (a pause, a schedule, a replace), so that this one
    /// follows it before its next heartbeat; `None` for a store of one
    /// process, or without announcements.
    fn wakeups(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// The unfinished executions of `instance` that a newer execution of
    /// their job, claimed with [`replace`](Claim::replace) on another
    /// instance, replaces: each with its job's name, for `instance` to
    /// cancel. The default, for a store of one process, has none: a
    /// replace happens within the process.
    fn replaced<'a>(&'a self, instance: &'a str) -> StoreFuture<'a, Vec<(String, ExecutionId)>> {
        let _ = instance;
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// How long ago the store last took this process's heartbeat (measured
    /// from when it was sent); `None` for a store of one process, or before
    /// the first. An instance whose heartbeat is older than its
    /// [self-fence](FleetTimings::self_fence) aborts its runs.
    fn heartbeat_age(&self) -> Option<Duration> {
        None
    }

    /// How far this process's wall clock is ahead of the store's, in
    /// milliseconds (negative: behind), as its latest heartbeat measured
    /// it; `None` for a store of one process, or before the first.
    fn clock_offset_ms(&self) -> Option<i64> {
        None
    }

    /// The slots this process offers (see
    /// [`JobManager::set_available_slots`](crate::JobManager::set_available_slots);
    /// `None`: unlimited), shown with it in [`instances`](Store::instances).
    /// The default keeps nothing.
    fn set_slots(&self, slots: Option<u32>) {
        let _ = slots;
    }

    /// A new execution id, unique in this store across restarts and greater
    /// than every id given before. No I/O.
    fn next_id(&self) -> ExecutionId;

    /// Whether several processes share this store's jobs: each scheduled
    /// fire is then [claimed](Recorder::claim) before it runs, and runs in
    /// the one process whose claim the store took. `false` (the default)
    /// for a store of one process, whose every fire is its own: nothing is
    /// claimed.
    fn shared(&self) -> bool {
        false
    }

    /// The recorder of `job`'s changes made by `instance` (the process
    /// that runs the job, which its executions name): every change about
    /// the job's executions and its schedule row is recorded through it.
    /// Asked for once per job, at its start; two recorders of one job
    /// record into the same place.
    fn recorder(&self, job: &str, instance: &str) -> Arc<dyn Recorder>;

    /// Whether the store keeps anything it is given: `false` for a store
    /// that keeps nothing, whose recorders the engine then does not call,
    /// so a fire builds no [`Change`] for it. The default is `true`.
    fn keeps(&self) -> bool {
        true
    }

    /// Resolves once every change recorded before the call is durable, or
    /// with the error that kept some of them from being written since the
    /// last flush.
    fn flush(&self) -> StoreFuture<'_, ()>;

    /// Registers recurring jobs: inserts each of `rows` whose job has no
    /// schedule row yet, keeps every row the store already has, and
    /// resolves with the rows it already had for those jobs (so a row
    /// given is left out of the answer exactly when it was inserted).
    ///
    /// Each row is inserted or kept atomically: several processes that
    /// register one job at once agree on one row, the first inserted, and
    /// so on its interval grid's anchor.
    fn register(&self, rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>>;

    /// Every schedule row, by job name.
    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>>;

    /// The instances that use a store that processes
    /// [share](Store::shared), by name, with their heartbeats; none for a
    /// store of one process (the default).
    fn instances(&self) -> StoreFuture<'_, Vec<Instance>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// The executions that match `filter`, in its order and up to its limit,
    /// each with its attempts.
    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>>;

    /// One execution, with its attempts.
    fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>>;

    /// When `job`'s latest successful execution finished. Kept when that
    /// execution is pruned.
    fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>>;

    /// What `job`'s executions add up to since the store first met it,
    /// whatever has been pruned since.
    fn totals<'a>(&'a self, job: &'a str) -> StoreFuture<'a, JobTotals>;

    /// Removes the ended executions of `job` that `retention` does not
    /// keep, as of `now`: those due more than `retention.keep_for` before
    /// `now`, and those beyond the newest `retention.keep_last` (by id).
    /// Other jobs' executions, and `job`'s pending, running and retrying
    /// ones, are untouched; [`last_completed_at`](Store::last_completed_at)
    /// is kept. Works in batches that let recorded changes through between
    /// them. Resolves with how many executions were removed.
    fn prune<'a>(
        &'a self,
        job: &'a str,
        retention: Retention,
        now: SystemTime,
    ) -> StoreFuture<'a, u64>;
}

/// A shared store is a store: one store can serve several managers (as a
/// database serves several processes), each given an `Arc` of it.
impl<S: Store + ?Sized> Store for Arc<S> {
    fn recover<'a>(
        &'a self,
        now: SystemTime,
        instance: &'a str,
        jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Recovered> {
        (**self).recover(now, instance, jobs)
    }

    fn rescue<'a>(
        &'a self,
        now: SystemTime,
        instance: &'a str,
        jobs: &'a [Rescue],
    ) -> StoreFuture<'a, Vec<Rescued>> {
        (**self).rescue(now, instance, jobs)
    }

    fn timings(&self) -> Option<FleetTimings> {
        (**self).timings()
    }

    fn replaced<'a>(&'a self, instance: &'a str) -> StoreFuture<'a, Vec<(String, ExecutionId)>> {
        (**self).replaced(instance)
    }

    fn wakeups(&self) -> Option<Arc<tokio::sync::Notify>> {
        (**self).wakeups()
    }

    fn fenced_count(&self) -> u64 {
        (**self).fenced_count()
    }

    fn heartbeat_age(&self) -> Option<Duration> {
        (**self).heartbeat_age()
    }

    fn clock_offset_ms(&self) -> Option<i64> {
        (**self).clock_offset_ms()
    }

    fn set_slots(&self, slots: Option<u32>) {
        (**self).set_slots(slots);
    }

    fn next_id(&self) -> ExecutionId {
        (**self).next_id()
    }

    fn shared(&self) -> bool {
        (**self).shared()
    }

    fn recorder(&self, job: &str, instance: &str) -> Arc<dyn Recorder> {
        (**self).recorder(job, instance)
    }

    fn keeps(&self) -> bool {
        (**self).keeps()
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        (**self).flush()
    }

    fn register(&self, rows: Vec<ScheduleRow>) -> StoreFuture<'_, Vec<ScheduleRow>> {
        (**self).register(rows)
    }

    fn schedules(&self) -> StoreFuture<'_, Vec<ScheduleRow>> {
        (**self).schedules()
    }

    fn instances(&self) -> StoreFuture<'_, Vec<Instance>> {
        (**self).instances()
    }

    fn executions(&self, filter: ExecutionFilter) -> StoreFuture<'_, Vec<Execution>> {
        (**self).executions(filter)
    }

    fn execution(&self, id: ExecutionId) -> StoreFuture<'_, Option<Execution>> {
        (**self).execution(id)
    }

    fn last_completed_at<'a>(&'a self, job: &'a str) -> StoreFuture<'a, Option<SystemTime>> {
        (**self).last_completed_at(job)
    }

    fn totals<'a>(&'a self, job: &'a str) -> StoreFuture<'a, JobTotals> {
        (**self).totals(job)
    }

    fn prune<'a>(
        &'a self,
        job: &'a str,
        retention: Retention,
        now: SystemTime,
    ) -> StoreFuture<'a, u64> {
        (**self).prune(job, retention, now)
    }
}

/// Records the changes of one job made by one instance (see
/// [`Store::recorder`]).
pub trait Recorder: Send + Sync + 'static {
    /// Records a change of this recorder's job. Never blocks on I/O: a
    /// durable store queues it and writes it soon, in one transaction with
    /// the changes queued with it. A change that cannot be written is
    /// logged and reported by the store's next [`flush`](Store::flush).
    fn record(&self, change: Change);

    /// Claims an execution for the recorder's instance, when the store is
    /// [shared](Store::shared): resolves with whether this instance runs it
    /// and under which lease token. A scheduled fire is won by one claim
    /// only, whichever process makes it, and never once a later fire of
    /// the job was claimed; a claim with a [limit](Claim::limit) is refused
    /// while the job has that many unfinished executions in the fleet. The
    /// winner's claim records the execution, `pending`, so a
    /// [`Change::Started`] of it follows, or a [`Change::Finished`]
    /// (`cancelled`) if it does not run. A scheduled fire may be claimed up to the store's
    /// [claim lead](FleetTimings::claim_lead) ahead of its time: it is won
    /// with the time until it is due. A store batches the claims made
    /// together into one round trip. The default, for a store of one
    /// process: every claim is won, without a token, and nothing is
    /// recorded.
    fn claim(&self, claim: Claim) -> StoreFuture<'static, Claimed> {
        let _ = claim;
        Box::pin(std::future::ready(Ok(Claimed::Won {
            lease_token: None,
            due_in: Duration::ZERO,
        })))
    }
}

/// An execution a [shared](Store::shared) store is asked for before it
/// runs (see [`Recorder::claim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The execution's id.
    pub id: ExecutionId,
    /// Its fire time: the schedule's time for a scheduled fire, else the
    /// moment it was asked for.
    pub fire_at: SystemTime,
    /// What caused it.
    pub cause: Cause,
    /// The most unfinished executions (pending, running or retrying) the
    /// job may have across the fleet, this one included: 1 for the overlap
    /// policies `skip` and `queue`, `max_concurrency` for `allow`; `None`
    /// for no limit (`replace`). An execution that continues an abandoned
    /// one is not claimed: the store claims it as it abandons the other
    /// ([`Store::recover`], [`Store::rescue`]).
    pub limit: Option<u32>,
    /// Whether the execution, once won, replaces its job's unfinished
    /// executions on the other instances (overlap `replace`): a shared
    /// store marks them, and their instances cancel them (see
    /// [`Store::replaced`]).
    pub replace: bool,
}

/// How a [`Claim`] was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This instance runs the execution. A shared store gives it a lease
    /// token: tokens increase across the fleet, so a later execution of a
    /// job always holds a greater one (see
    /// [`JobContext::lease_token`](crate::JobContext::lease_token)).
    Won {
        /// The execution's lease token, if the store gives them.
        lease_token: Option<u64>,
        /// How long until the fire is due by the store's clock: a
        /// scheduled fire may be claimed ahead (see
        /// [`FleetTimings::claim_lead`]), and its run then waits at least
        /// this long. Zero for a fire that is due.
        due_in: Duration,
    },
    /// Another instance claimed this fire, or a later fire of the job.
    Taken,
    /// The job has as many unfinished executions in the fleet as its
    /// [limit](Claim::limit).
    Busy,
    /// The fire is `by` ahead of the store's clock, further than a claim
    /// may be made ahead: claim it again then.
    Early {
        /// How far the fire is ahead of the store's clock.
        by: Duration,
    },
}

/// What one job's executions add up to, kept by the store as they end
/// (from [`Store::totals`]); a restart starts the job's stats from them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobTotals {
    /// Ended executions, of every outcome (abandoned ones included).
    pub executions: u64,
    /// Those that did not succeed: failed, cancelled or abandoned.
    pub failures: u64,
    /// When the latest execution started.
    pub last_started_at: Option<SystemTime>,
    /// When the latest execution ended.
    pub last_finished_at: Option<SystemTime>,
    /// The error of the latest failed attempt that ended its execution, as
    /// [`Outcome::error`](crate::execution::Outcome::error) words it.
    pub last_error: Option<String>,
}

/// A process that uses a shared store, as the store knows it (from
/// [`Store::instances`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Its name: `JOBS_INSTANCE`, or its host's name and process id.
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The version of this crate it runs.
    pub version: String,
    /// When it started using the store (the database's clock).
    pub started_at: SystemTime,
    /// Its latest heartbeat (the database's clock).
    pub heartbeat_at: SystemTime,
    /// Whether its heartbeat is recent enough for it to count as alive:
    /// the executions of an instance that is not are taken over by the
    /// others.
    pub alive: bool,
    /// The slots it offers; `None`: unlimited.
    pub slots: Option<u32>,
    /// How far its wall clock was ahead of the database's at its latest
    /// heartbeat, in milliseconds (negative: behind).
    pub clock_offset_ms: Option<i64>,
}

/// A job whose executions [`Store::rescue`] takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescue {
    /// The job's name.
    pub job: String,
    /// How long an attempt of the job may run before it is stuck: its
    /// timeout plus the fleet's [grace](FleetTimings::grace); `None` for a
    /// job without a timeout, which is never stuck.
    pub stuck_after: Option<Duration>,
    /// Executions of the job that the asking instance gave up when it
    /// fenced itself (its heartbeat did not reach the store in time), and
    /// takes back now that it reaches the store again: each is taken over
    /// like a dead instance's if it is still unfinished and still the
    /// asking instance's, and left alone if another instance took it over
    /// meanwhile.
    pub released: Vec<ExecutionId>,
    /// The job's retries: a taken-over execution whose attempts they allow
    /// another is continued, its continuation claimed in the same
    /// transaction (at a rescue, and at a start: see [`Store::recover`]).
    pub retries: u32,
}

/// An execution a store took over from a process that died
/// ([`Store::recover`], [`Store::rescue`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescued {
    /// The execution, now `abandoned`.
    pub execution: Execution,
    /// The execution that continues it, claimed by a shared store for the
    /// instance taking it over (`pending`, cause `recovery`, same fire
    /// time); `None` when the job's retries allow no other attempt, or the
    /// store claims none.
    pub continuation: Option<Continuation>,
}

/// The execution that continues a rescued one (see [`Rescued`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    /// Its id.
    pub id: ExecutionId,
    /// Its first attempt's number: the one after the rescued execution's
    /// last.
    pub attempt: u32,
    /// Its lease token.
    pub lease_token: Option<u64>,
}

/// An execution taken over with no continuation claimed for it.
impl From<Execution> for Rescued {
    fn from(execution: Execution) -> Self {
        Rescued {
            execution,
            continuation: None,
        }
    }
}

impl Rescue {
    /// The executions of `job` that dead instances left; none is stuck.
    pub fn new(job: impl Into<String>) -> Self {
        Rescue {
            job: job.into(),
            stuck_after: None,
            released: Vec::new(),
            retries: 0,
        }
    }

    /// Continues a rescued execution whose attempts `retries` allow
    /// another (by default none does).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Those too of `ids`, which the asking instance gave up when it fenced
    /// itself.
    pub fn released(mut self, ids: Vec<ExecutionId>) -> Self {
        self.released = ids;
        self
    }

    /// Those too whose running attempt started longer than `after` ago.
    pub fn stuck_after(mut self, after: Duration) -> Self {
        self.stuck_after = Some(after);
        self
    }
}

/// What [`Store::recover`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The executions that were `running` or `retrying` and are now
    /// `abandoned`, oldest first, each with its continuation.
    pub abandoned: Vec<Rescued>,
    /// Every schedule row, by job name.
    pub schedules: Vec<ScheduleRow>,
}

/// A recurring job's schedule as the store keeps it across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    /// The job's name.
    pub job: String,
    /// The instant the job's interval grid counts from, set when the job is
    /// first seen and kept, so a fixed-rate grid continues across restarts.
    pub anchor: SystemTime,
    /// When the job last fired.
    pub last_fire: Option<SystemTime>,
    /// When the job last succeeded.
    pub last_success: Option<SystemTime>,
    /// Whether the job is paused.
    pub paused: bool,
    /// A schedule set at run time that replaces the job's own, as text (for
    /// example `every 5m` or a cron expression).
    pub schedule_override: Option<String>,
}

/// The part of a schedule row a control call changes (see
/// [`Change::Control`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Whether the job is paused (`pause`, `resume`).
    Paused,
    /// The schedule override and the anchor its grid counts from
    /// (`set_schedule`).
    Schedule,
}

/// A new execution of the recorder's job, run by the recorder's instance,
/// recorded by [`Change::Started`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExecution {
    /// Its id, from [`Store::next_id`].
    pub id: ExecutionId,
    /// The wall-clock time it was due.
    pub fire_at: SystemTime,
    /// Why it exists.
    pub cause: Cause,
    /// When its first attempt started: `None` records it `pending`, `Some`
    /// records it `running` with attempt 1 started then.
    pub started_at: Option<SystemTime>,
}

/// One change to what a store keeps about a job, recorded with the job's
/// [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new execution, pending or with its first attempt running.
    Started(NewExecution),
    /// Attempt `number` started (the first of a pending execution, or a
    /// retry): the execution is `running`.
    AttemptStarted {
        /// The execution.
        id: ExecutionId,
        /// The attempt's number, from 1.
        number: u32,
        /// When it started.
        at: SystemTime,
    },
    /// An attempt ended, with its outcome. With `retrying`, the execution
    /// becomes `retrying` (its next attempt waits for its backoff);
    /// otherwise a [`Change::Finished`] follows.
    AttemptEnded {
        /// The execution.
        id: ExecutionId,
        /// The attempt, with `finished_at` and `outcome` set.
        attempt: Attempt,
        /// Whether another attempt follows.
        retrying: bool,
    },
    /// The execution ended in `state` (succeeded, failed, cancelled or
    /// abandoned) at `at`.
    Finished {
        /// The execution.
        id: ExecutionId,
        /// How it ended: a terminal state.
        state: ExecutionState,
        /// When.
        at: SystemTime,
    },
    /// The job's schedule row, written whole (inserted or replaced); its
    /// `job` is the recorder's. A row's last fire only moves forward: a row
    /// written with an older last fire than the store has keeps the newer.
    Schedule(ScheduleRow),
    /// A control call changed one part of the job's schedule row: only
    /// that part is written, so that calls made at the same moment on
    /// several instances sharing the store all hold. `row` is the job as
    /// it stands on the calling instance; it is written whole only when
    /// the store has no row for the job yet.
    Control {
        /// The job as it stands after the call.
        row: ScheduleRow,
        /// What the call changed.
        changed: Field,
    },
    /// The job's schedule reached the fire due at `at` (whether it ran, was
    /// skipped or was missed): the job's schedule row, if it has one, keeps
    /// it as its last fire.
    Fired {
        /// The fire's wall-clock time.
        at: SystemTime,
    },
}

/// An error from a store, naming the store (its URL) and what went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL cannot be understood.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// The database could not be opened or prepared: missing folder, no
    /// permission, not a database, read-only, locked.
    #[error("cannot open the job store {url:?}: {problem}")]
    Open {
        /// The URL as given.
        url: String,
        /// What went wrong, in words.
        problem: String,
    },

    /// The database was made by a newer version of this crate.
    #[error("cannot open the job store {url:?}: its schema is version {found}, but this program knows versions up to {supported}; upgrade the program or use another database")]
    NewerSchema {
        /// The URL as given.
        url: String,
        /// The schema version the database has.
        found: i64,
        /// The newest schema version this program knows.
        supported: i64,
    },

    /// A query or a write failed after the store was opened.
    #[error("job store {url:?}: {operation} failed: {source}")]
    Failed {
        /// The URL as given.
        url: String,
        /// What the store was doing.
        operation: String,
        /// The database's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The store is closing: its writer is gone (it panicked), or the
    /// runtime that runs its queries is shutting down.
    #[error("job store {url:?}: the store is closed (its writer thread has stopped, or the runtime is shutting down)")]
    Closed {
        /// The URL as given.
        url: String,
    },
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/jobs"),
            "postgres://app:***@db:5432/jobs"
        );
        assert_eq!(redact("postgres://app@db/jobs"), "postgres://app@db/jobs");
        assert_eq!(redact("postgres://db/jobs"), "postgres://db/jobs");
        assert_eq!(redact("sqlite://jobs.db"), "sqlite://jobs.db");
        assert_eq!(
            redact("postgres://db/jobs?sslmode=disable&password=s3cret"),
            "postgres://db/jobs?sslmode=disable&password=***"
        );
    }
}
