//! [`JobManager`]: the registry of jobs and their lifecycle, with what
//! configures and runs it: the [builder], the [environment](mod@env) and the
//! [shutdown] on signals.

pub(crate) mod builder;
pub(crate) mod env;
mod fleet;
mod persist;
pub(crate) mod retention;
pub(crate) mod shutdown;

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::active::{ActiveJob, Registered, Replaceable, RunSettings};
use crate::engine::driver;
use crate::engine::scheduler::Started;
use crate::engine::slots::SlotPool;
use crate::engine::timer::Timers;
use crate::job::extract::StateMap;
use crate::job::registry::{self, Registration};
use crate::job::runnable::{HandWritten, Runnable};
use crate::model::abort::AbortCause;
use crate::model::clock::Clock;
use crate::model::execution::{truncate_millis, ExecutionId};
use crate::model::names;
use crate::model::spec::{Location, Overlap};
use crate::observe::stats::StatsCell;
use crate::store::{Field, FleetTimings, Store};
use crate::{events, Error, Job, JobSpec, JobStats, Schedule};
use persist::Resume;

/// How long [`JobManager::stop_all`] waits for in-flight executions before
/// aborting them, unless set otherwise.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

/// How late a fire may start before it counts as missed, unless set
/// otherwise (as Quartz's default misfire threshold). A fire that a later
/// due fire supersedes is missed whatever its lateness.
pub const DEFAULT_MISFIRE_THRESHOLD: Duration = Duration::from_secs(60);

/// The registry of jobs and their lifecycle: start, stop, trigger, observe.
///
/// A `JobManager` is a handle: clones share the same jobs, so one can be
/// given to an HTTP handler while another runs the jobs. Every method that
/// starts jobs must be called inside a tokio runtime (multi-thread or
/// current-thread).
///
/// ```
/// use jobs_runtime::{job, JobManager};
///
/// #[job(name = "heartbeat", every = "30s")]
/// async fn heartbeat() {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), jobs_runtime::Error> {
/// let manager = JobManager::discover();
/// assert!(manager.registered_jobs().contains(&"heartbeat".to_owned()));
/// manager.start_all()?;
/// manager.stop_all().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct JobManager {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    registry: Mutex<Registry>,
    states: Mutex<StateMap>,
    settings: Mutex<Settings>,
    /// The slot pool, made at the first start when slots are limited.
    pool: Mutex<Option<Arc<SlotPool>>>,
    /// The timer of every started job.
    timers: Arc<Timers<Arc<Started>>>,
    /// Stops the background tasks (the pruner and, with a shared store,
    /// the rescuer), while they run.
    background: Mutex<Option<CancellationToken>>,
}

/// How often the background pruner removes the ended executions that the
/// jobs' retention does not keep; the first round runs at the first start.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

#[derive(Default)]
struct Settings {
    grace_period: Option<Duration>,
    misfire_threshold: Option<Duration>,
    available_slots: Option<u32>,
    clock: Clock,
    /// The store; one that keeps nothing is made the first time one is
    /// needed, if none was set.
    store: Option<Arc<dyn Store>>,
    /// Whether a store was set.
    store_set: bool,
    /// This process's name in the store's records, read the first time it
    /// is needed.
    instance: Option<Arc<str>>,
    /// The fleet's timings for the stores [`JobManager::connect`] opens.
    fleet_timings: FleetTimings,
}

#[derive(Default)]
struct Registry {
    slots: Vec<Arc<JobSlot>>,
    /// The first slot of each name.
    by_name: HashMap<Arc<str>, usize>,
    /// Slots whose name an earlier slot already has.
    duplicates: Vec<usize>,
}

/// One registered job: its definition, statistics and, while started, its
/// scheduling state.
pub(crate) struct JobSlot {
    pub(crate) name: Arc<str>,
    pub(crate) spec: JobSpec,
    location: Location,
    source: Source,
    pub(crate) stats: StatsCell,
    paused: AtomicBool,
    /// The schedule set with `set_schedule`, kept when the job is stopped and
    /// started again.
    schedule_override: Mutex<Option<Option<Schedule>>>,
    running: Mutex<Option<Running>>,
    /// Why its runs were last aborted (an [`AbortCause`] as its byte).
    abort_cause: AtomicU8,
    /// Its grid's anchor, and what the store kept for its next start.
    resume: Mutex<Resume>,
    /// Its executions that this instance's self-fence aborted, to be taken
    /// back at the next rescue.
    fenced: Mutex<Vec<ExecutionId>>,
}

/// What `prepare` needs from the manager.
struct PrepareContext<'a> {
    states: &'a StateMap,
    settings: &'a Arc<RunSettings>,
    dependents: &'a [Arc<JobSlot>],
}

/// What `prepare` found.
enum Prepared {
    Ready(Launch),
    /// Switched off by this environment variable.
    Disabled(String),
    /// Problems were recorded.
    Failed,
}

/// A job ready to start.
struct Launch {
    active: ActiveJob,
    schedule: Option<Schedule>,
}

enum Source {
    Discovered(&'static Registration),
    Registered(Arc<dyn Runnable>),
}

/// A started job.
struct Running {
    started: Arc<Started>,
    /// Whether a stop has begun.
    stopping: bool,
}

/// The one check of a schedule, whichever way it came (the spec, the
/// environment, `set_schedule`): [`Schedule::validate`], as the problem of an
/// [`Error::InvalidSpec`].
fn check_schedule(schedule: &Schedule) -> Result<(), String> {
    schedule
        .validate()
        .map_err(|error| format!("invalid schedule: {error}"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here can leave the data half-updated, so a poisoned lock is
    // still consistent.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl JobManager {
    /// An empty manager; add jobs with [`register`](Self::register).
    pub fn new() -> Self {
        JobManager::default()
    }

    /// A manager holding every `#[job]` linked into the binary, from every
    /// crate in the build.
    ///
    /// A crate's jobs are linked when the binary uses the crate; a crate that
    /// only defines jobs and is otherwise unused needs a `use that_crate as _;`
    /// in the binary. The order of discovered jobs is by name.
    pub fn discover() -> Self {
        let manager = JobManager::new();
        let mut found: Vec<&'static Registration> = registry::discovered().collect();
        found.sort_by_key(|registration| {
            (
                registration.spec().name().to_owned(),
                registration.location(),
            )
        });
        for registration in found {
            manager.add(
                registration.spec(),
                registration.location(),
                Source::Discovered(registration),
            );
        }
        manager
    }

    /// Adds a hand-written job. Its name is checked when it starts.
    #[track_caller]
    pub fn register<J: Job>(&self, job: J) {
        let location = Location::caller(std::panic::Location::caller());
        let spec = job.spec();
        self.add(
            spec,
            location,
            Source::Registered(Arc::new(HandWritten(job))),
        );
    }

    fn add(&self, spec: JobSpec, location: Location, source: Source) {
        let name = Arc::clone(spec.shared_name());
        let slot = Arc::new(JobSlot {
            name: Arc::clone(&name),
            spec,
            location,
            source,
            stats: StatsCell::default(),
            paused: AtomicBool::new(false),
            schedule_override: Mutex::new(None),
            running: Mutex::new(None),
            abort_cause: AtomicU8::new(AbortCause::GracePeriod.to_byte()),
            resume: Mutex::new(Resume::default()),
            fenced: Mutex::new(Vec::new()),
        });
        let mut guard = lock(&self.inner.registry);
        let registry = &mut *guard;
        let index = registry.slots.len();
        registry.slots.push(slot);
        match registry.by_name.entry(name) {
            Entry::Occupied(_) => registry.duplicates.push(index),
            Entry::Vacant(vacant) => {
                vacant.insert(index);
            }
        }
    }

    /// Provides the value that `State<T>` parameters receive. A second value
    /// of the same type replaces the first, for jobs started afterwards.
    pub fn provide<T: Send + Sync + 'static>(&self, value: T) {
        lock(&self.inner.states).insert(Arc::new(value));
    }

    /// Sets how long [`stop_all`](Self::stop_all) and [`stop`](Self::stop)
    /// wait for in-flight executions before aborting them
    /// ([`DEFAULT_GRACE_PERIOD`] unless set).
    pub fn set_grace_period(&self, grace_period: Duration) {
        lock(&self.inner.settings).grace_period = Some(grace_period);
    }

    /// The grace period in effect.
    pub fn grace_period(&self) -> Duration {
        lock(&self.inner.settings)
            .grace_period
            .unwrap_or(DEFAULT_GRACE_PERIOD)
    }

    /// Sets how late a fire may be reached before it counts as missed and
    /// the job's `missed` policy applies ([`DEFAULT_MISFIRE_THRESHOLD`]
    /// unless set). Takes effect for jobs started afterwards.
    pub fn set_misfire_threshold(&self, threshold: Duration) {
        lock(&self.inner.settings).misfire_threshold = Some(threshold);
    }

    /// Limits the slots runs may hold at once (unlimited unless set): a run
    /// starts only when its job's `slots` are free, otherwise it waits,
    /// ordered by priority and then by fire time. Set it before the first
    /// start.
    pub fn set_available_slots(&self, slots: u32) {
        let mut settings = lock(&self.inner.settings);
        settings.available_slots = Some(slots);
        if let Some(store) = &settings.store {
            store.set_slots(Some(slots));
        }
    }

    /// The available slots, if limited.
    pub fn available_slots(&self) -> Option<u32> {
        lock(&self.inner.settings).available_slots
    }

    /// Names this process in the store's records and among the instances
    /// that share a store, instead of `JOBS_INSTANCE` or the host's name and
    /// process id. Call it before [`set_store`](Self::set_store); names that
    /// are empty or only whitespace are refused.
    ///
    /// ```
    /// let manager = jobs_runtime::JobManager::new();
    /// manager.set_instance("worker-1")?;
    /// assert!(manager.set_instance(" ").is_err());
    /// # Ok::<(), jobs_runtime::Error>(())
    /// ```
    pub fn set_instance(&self, name: &str) -> Result<(), Error> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::InvalidInstance {
                value: name.to_owned(),
            });
        }
        lock(&self.inner.settings).instance = Some(Arc::from(name));
        Ok(())
    }

    /// Sets the wall clock cron schedules are computed with and stats report
    /// ([`Clock::system`] unless set). Takes effect for jobs started
    /// afterwards.
    pub fn set_clock(&self, clock: Clock) {
        lock(&self.inner.settings).clock = clock;
    }

    /// Starts the background tasks, unless they run or no store was set
    /// (the default keeps nothing): the pruner, which keeps each
    /// registered job's ended executions within its retention (`keep`,
    /// `keep_last`), every [`PRUNE_INTERVAL`]; and, with a store several
    /// instances share, the fleet task, which every heartbeat continues the
    /// executions of dead and stuck instances and follows the pauses and
    /// schedules other instances set, and fences this instance when it
    /// loses the store.
    fn start_background(&self, registry: &Registry, settings: &RunSettings) {
        let mut background = lock(&self.inner.background);
        if background.is_some() || !lock(&self.inner.settings).store_set {
            return;
        }
        let stop = CancellationToken::new();
        let jobs = registry
            .slots
            .iter()
            .map(|slot| (Arc::clone(&slot.name), slot.spec.retention()))
            .collect();
        drop(retention::spawn_pruner(
            Arc::clone(&settings.store),
            jobs,
            settings.clock,
            PRUNE_INTERVAL,
            stop.clone(),
        ));
        if settings.claims {
            if let Some(timings) = settings.store.timings() {
                let wakeups = settings.store.wakeups();
                fleet::spawn(Arc::downgrade(&self.inner), timings, wakeups, stop.clone());
            }
        }
        *background = Some(stop);
    }

    /// Stops the background tasks, if they run.
    fn stop_background(&self) {
        if let Some(stop) = lock(&self.inner.background).take() {
            stop.cancel();
        }
    }

    /// The wall-clock time now, on the manager's clock.
    fn now(&self) -> SystemTime {
        lock(&self.inner.settings).clock.now()
    }

    /// The names of all registered jobs, discovered ones first (by name), then
    /// registered ones in registration order.
    pub fn registered_jobs(&self) -> Vec<String> {
        lock(&self.inner.registry)
            .slots
            .iter()
            .map(|slot| slot.name.to_string())
            .collect()
    }

    /// Starts every job that is not started yet.
    ///
    /// Everything is checked first, and nothing starts unless everything is
    /// right: unique names, valid environment configuration, a provided value
    /// for every `State<T>`, known `after` jobs without cycles, and enough
    /// slots. Every problem found is reported at once. Jobs switched off
    /// with `JOBS_<NAME>_ENABLED=false` are logged (`job_disabled`) and not
    /// started.
    pub fn start_all(&self) -> Result<(), Error> {
        let registry = lock(&self.inner.registry);
        let problems: Vec<Error> = registry
            .duplicates
            .iter()
            .map(|&index| registry.duplicate_error(index))
            .collect();
        let pending: Vec<&Arc<JobSlot>> = registry
            .slots
            .iter()
            .filter(|slot| !slot.is_started())
            .collect();
        let started = self.launch_checked(&registry, &pending, problems);
        if started.is_ok() {
            env::warn_unknown_variables(registry.slots.iter().map(|slot| &slot.spec));
        }
        started
    }

    /// Starts one job, with the same checks as [`start_all`](Self::start_all).
    pub fn start(&self, name: &str) -> Result<(), Error> {
        let registry = lock(&self.inner.registry);
        let index = registry.index_of(name)?;
        let problems: Vec<Error> = registry
            .duplicates
            .iter()
            .filter(|&&duplicate| *registry.slots[duplicate].name == *name)
            .map(|&duplicate| registry.duplicate_error(duplicate))
            .collect();
        let slot = &registry.slots[index];
        if slot.is_started() {
            return Err(Error::AlreadyStarted {
                name: name.to_owned(),
            });
        }
        self.launch_checked(&registry, &[slot], problems)
    }

    /// Checks `pending` (and the registry as a whole) and starts them all,
    /// or none when a problem is found.
    fn launch_checked(
        &self,
        registry: &Registry,
        pending: &[&Arc<JobSlot>],
        mut problems: Vec<Error>,
    ) -> Result<(), Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let states = lock(&self.inner.states).clone();
        let (clock, misfire_threshold, available) = {
            let settings = lock(&self.inner.settings);
            (
                settings.clock,
                settings
                    .misfire_threshold
                    .unwrap_or(DEFAULT_MISFIRE_THRESHOLD),
                settings.available_slots,
            )
        };
        problems.extend(registry.dependency_problems());
        let dependents = registry.dependents();
        let pool = available.map(|capacity| {
            Arc::clone(lock(&self.inner.pool).get_or_insert_with(|| SlotPool::new(capacity)))
        });
        let store = self.store();
        let settings = Arc::new(RunSettings {
            runtime,
            clock,
            misfire_threshold,
            pool,
            stopped: Notify::new(),
            claims: store.shared(),
            lead: store
                .timings()
                .filter(|_| store.shared())
                .map_or(Duration::ZERO, |timings| timings.claim_lead()),
            store,
            instance: self.instance(),
        });
        let mut ready = Vec::new();
        for slot in pending {
            let context = PrepareContext {
                states: &states,
                settings: &settings,
                dependents: dependents.get(&*slot.name).map_or(&[], Vec::as_slice),
            };
            match slot.prepare(&context, &mut problems) {
                Prepared::Ready(launch) => ready.push((*slot, launch)),
                Prepared::Disabled(variable) => events::job_disabled(&slot.name, &variable),
                Prepared::Failed => {}
            }
        }
        Error::from_problems(problems)?;
        self.inner.timers.reserve(&settings.runtime, ready.len());
        for (slot, launch) in ready {
            slot.launch(&settings, &self.inner.timers, launch);
        }
        self.start_background(registry, &settings);
        Ok(())
    }

    /// Runs a started job once now, outside its schedule; the schedule is
    /// unchanged. The job's overlap policy applies to the triggered run, and
    /// it runs even while the job is paused.
    ///
    /// Fails if the job is unknown or not started, or (with the default
    /// `overlap = "skip"`) has a run in flight: executing, or waiting for
    /// its condition or for slots.
    pub fn trigger(&self, name: &str) -> Result<(), Error> {
        let slot = self.started_slot(name)?;
        if let Some(started) = slot.started() {
            if !started.trigger() {
                return Err(Error::AlreadyRunning {
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Pauses a job: it keeps its schedule, and each fire is skipped and
    /// logged (`job_execute_skipped` with `reason = "paused"`) until
    /// [`resume`](Self::resume). Runs in flight go on.
    pub fn pause(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        if !slot.paused.swap(true, Ordering::SeqCst) {
            events::job_paused(&slot.name, true);
            self.save_row(&slot, Field::Paused);
        }
        Ok(())
    }

    /// Resumes a paused job; its next fire runs.
    pub fn resume(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        if slot.paused.swap(false, Ordering::SeqCst) {
            events::job_paused(&slot.name, false);
            self.save_row(&slot, Field::Paused);
        }
        Ok(())
    }

    /// Replaces a job's schedule. For a started job it takes effect from the
    /// next fire: the pending fire is replaced by the new schedule's first
    /// fire after now. The new schedule is kept when the job is stopped and
    /// started again on this manager (`stop` then `start`, or `stop_all` then
    /// `start_all`), and wins over the environment. A database store keeps
    /// it: a new process on the same database starts with it too.
    pub fn set_schedule(&self, name: &str, schedule: Schedule) -> Result<(), Error> {
        let slot = self.slot(name)?;
        check_schedule(&schedule).map_err(|problem| Error::InvalidSpec {
            job: name.to_owned(),
            problem,
        })?;
        if slot.spec.is_fixed_delay() && !matches!(schedule, Schedule::Every(_)) {
            return Err(Error::InvalidSpec {
                job: name.to_owned(),
                problem: format!("a fixed-delay job needs an interval, not {schedule}"),
            });
        }
        events::schedule_changed(&slot.name, &schedule);
        *lock(&slot.schedule_override) = Some(Some(schedule.clone()));
        // The new schedule's grid counts from now, here, after a restart and
        // on the other instances sharing the store: from a time the store
        // keeps exactly, by its clock.
        let anchor = truncate_millis(persist::by_store_clock(self.now(), self.clock_offset_ms()));
        slot.reanchor(anchor);
        self.save_row(&slot, Field::Schedule);
        if let Some(started) = slot.started() {
            slot.stats.set_schedule(Some(schedule.clone()));
            started.set_schedule(Some(&schedule), Some(anchor));
        }
        Ok(())
    }

    /// The next `n` fire times of a started job, wall clock. For a cron job
    /// they are the expression's next matches (jitter not included); for an
    /// interval job the pending fire (its jitter included) and the interval
    /// steps after it. Empty for a job with no schedule of its own.
    pub fn next_runs(&self, name: &str, n: usize) -> Result<Vec<DateTime<Utc>>, Error> {
        let slot = self.started_slot(name)?;
        let Some(started) = slot.started() else {
            return Ok(Vec::new());
        };
        let clock = *started.job.clock();
        let (Some(schedule), Some(next)) = (slot.stats.schedule(), started.next_run()) else {
            return Ok(Vec::new());
        };
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Schedule::Cron(_) = schedule {
            // Exact wall times, free of the round trip through tokio's clock.
            return Ok(schedule.upcoming(clock.now(), n));
        }
        let first = clock.wall_at(next);
        let mut runs = vec![DateTime::<Utc>::from(first)];
        runs.extend(schedule.upcoming(first, n - 1));
        Ok(runs)
    }

    /// Stops one job, as [`stop_all`](Self::stop_all) stops every job.
    pub async fn stop(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        if !slot.is_started() {
            return Err(Error::NotStarted {
                name: name.to_owned(),
            });
        }
        slot.begin_stop(
            Instant::now() + self.grace_period(),
            AbortCause::GracePeriod,
        );
        slot.wait_stopped().await;
        Ok(())
    }

    /// Stops every started job, gracefully.
    ///
    /// From the moment it is called no new execution starts; every in-flight
    /// execution's cancellation token fires; in-flight executions get the
    /// [grace period](Self::set_grace_period) to finish, after which each one
    /// left is aborted (its future dropped), logged as `job_execute_aborted`
    /// and recorded as a failure. Returns once nothing runs, including jobs
    /// that another call was already stopping.
    ///
    /// The stop goes on if this future is dropped before it completes.
    pub async fn stop_all(&self) {
        let slots: Vec<Arc<JobSlot>> = lock(&self.inner.registry).slots.clone();
        let deadline = Instant::now() + self.grace_period();
        for slot in &slots {
            slot.begin_stop(deadline, AbortCause::GracePeriod);
        }
        self.stop_background();
        for slot in &slots {
            slot.wait_stopped().await;
        }
        self.cancel_continuations(&slots);
        self.flush_store().await;
    }

    /// Ends `cancelled` the continuations claimed for `slots` that never
    /// started (see [`JobSlot::cancel_continuations`]).
    fn cancel_continuations(&self, slots: &[Arc<JobSlot>]) {
        let (store, instance, now) = (self.store(), self.instance(), self.now());
        for slot in slots {
            slot.cancel_continuations(&*store, &instance, now);
        }
    }

    /// Stops every started job at once, without a grace period: in-flight
    /// executions are aborted (their futures dropped), logged as
    /// `job_execute_aborted` and recorded as failures
    /// (``aborted: `JobManager::abort_all` was called``). A
    /// [`stop_all`](Self::stop_all) already waiting returns as soon as its
    /// jobs are aborted.
    pub async fn abort_all(&self) {
        self.abort_all_because(AbortCause::AbortAll).await;
    }

    /// [`abort_all`](Self::abort_all), recording `cause` as the reason.
    pub(crate) async fn abort_all_because(&self, cause: AbortCause) {
        let slots: Vec<Arc<JobSlot>> = lock(&self.inner.registry).slots.clone();
        let now = Instant::now();
        for slot in &slots {
            // The cause is set before the stop, whose stopper (with no time
            // left) may abort the runs at once on another thread.
            slot.begin_stop(now, cause);
            // Stopping already, or just now: abort either way.
            slot.abort_runs(cause);
        }
        self.stop_background();
        for slot in &slots {
            slot.wait_stopped().await;
        }
        self.cancel_continuations(&slots);
        self.flush_store().await;
    }

    /// A snapshot of one job's statistics.
    pub fn stats(&self, name: &str) -> Option<JobStats> {
        self.slot(name).ok().map(|slot| slot.snapshot())
    }

    /// Snapshots of every job's statistics, in registration order.
    pub fn all_stats(&self) -> Vec<JobStats> {
        lock(&self.inner.registry)
            .slots
            .iter()
            .map(|slot| slot.snapshot())
            .collect()
    }

    fn slot(&self, name: &str) -> Result<Arc<JobSlot>, Error> {
        let registry = lock(&self.inner.registry);
        let index = registry.index_of(name)?;
        Ok(Arc::clone(&registry.slots[index]))
    }

    fn started_slot(&self, name: &str) -> Result<Arc<JobSlot>, Error> {
        let slot = self.slot(name)?;
        if !slot.is_started() {
            return Err(Error::NotStarted {
                name: name.to_owned(),
            });
        }
        Ok(slot)
    }
}

impl fmt::Debug for JobManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobManager")
            .field("jobs", &self.registered_jobs())
            .field("grace_period", &self.grace_period())
            .field("available_slots", &self.available_slots())
            .finish()
    }
}

impl Registry {
    fn index_of(&self, name: &str) -> Result<usize, Error> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| Error::UnknownJob {
                name: name.to_owned(),
                registered: self.names(),
            })
    }

    /// Unknown `after` names and cycles among `after` links.
    fn dependency_problems(&self) -> Vec<Error> {
        let mut problems = Vec::new();
        let upstream_of = |index: usize| -> Option<usize> {
            let upstream = self.slots[index].spec.upstream()?;
            self.by_name.get(upstream).copied()
        };
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(upstream) = slot.spec.upstream() {
                // An invalid name is reported as such, by `prepare`.
                if !self.by_name.contains_key(upstream) && names::is_valid(upstream) {
                    let names = self.slots.iter().map(|slot| &*slot.name);
                    problems.push(Error::UnknownUpstream {
                        job: slot.name.to_string(),
                        upstream: upstream.to_owned(),
                        closest: names::closest(upstream, names).map(str::to_owned),
                        registered: self.names(),
                    });
                }
            }
            // Each job has at most one upstream, so the links from a job
            // either end or loop; a loop is reported once, from its member
            // registered first.
            let mut path = vec![index];
            let mut current = index;
            while let Some(next) = upstream_of(current) {
                if let Some(position) = path.iter().position(|&seen| seen == next) {
                    let cycle = &path[position..];
                    if cycle.iter().min() == Some(&index) {
                        let mut jobs: Vec<String> = cycle
                            .iter()
                            .map(|&i| self.slots[i].name.to_string())
                            .collect();
                        jobs.push(slot.name.to_string());
                        problems.push(Error::DependencyCycle { jobs });
                    }
                    break;
                }
                path.push(next);
                current = next;
            }
        }
        problems
    }

    /// The jobs that run after each job, by its name.
    fn dependents(&self) -> HashMap<&str, Vec<Arc<JobSlot>>> {
        let mut dependents: HashMap<&str, Vec<Arc<JobSlot>>> = HashMap::new();
        for slot in &self.slots {
            if let Some(upstream) = slot.spec.upstream() {
                dependents
                    .entry(upstream)
                    .or_default()
                    .push(Arc::clone(slot));
            }
        }
        dependents
    }

    /// The registered names, each once, comma-separated.
    fn names(&self) -> String {
        self.slots
            .iter()
            .enumerate()
            // A duplicate is not the one its name maps to.
            .filter(|&(index, slot)| self.by_name.get(&*slot.name) == Some(&index))
            .map(|(_, slot)| &*slot.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn duplicate_error(&self, index: usize) -> Error {
        let duplicate = &self.slots[index];
        let first = &self.slots[self.by_name[&duplicate.name]];
        Error::DuplicateName {
            name: duplicate.name.to_string(),
            first: first.location,
            second: duplicate.location,
        }
    }
}

impl Registered for JobSlot {
    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn spec(&self) -> &JobSpec {
        &self.spec
    }

    fn stats(&self) -> &StatsCell {
        &self.stats
    }

    fn is_paused(&self) -> bool {
        JobSlot::is_paused(self)
    }

    fn abort_cause(&self) -> AbortCause {
        JobSlot::abort_cause(self)
    }

    fn fenced(&self, id: ExecutionId) {
        lock(&self.fenced).push(id);
    }

    fn upstream_completed(&self, at: SystemTime) {
        if let Some(started) = self.started() {
            started.upstream_completed(at);
        }
    }
}

impl JobSlot {
    fn is_started(&self) -> bool {
        lock(&self.running).is_some()
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// The job's scheduling state, while it is started and not stopping.
    fn started(&self) -> Option<Arc<Started>> {
        match &*lock(&self.running) {
            Some(running) if !running.stopping => Some(Arc::clone(&running.started)),
            _ => None,
        }
    }

    fn snapshot(&self) -> JobStats {
        // Read apart from the stats' lock: the scheduling state is locked on
        // its own.
        let next_run_at = self.started().and_then(|started| {
            let next = started.next_run()?;
            Some(started.job.clock().wall_at(next))
        });
        // Runs go on while the job stops.
        let started = lock(&self.running)
            .as_ref()
            .map(|running| Arc::clone(&running.started));
        let in_flight = started
            .map(|started| started.in_flight())
            .unwrap_or_default();
        self.stats
            .snapshot(&self.name, self.is_paused(), next_run_at, in_flight)
    }

    /// Resolves what the job needs to run: its schedule (after the
    /// environment and `set_schedule`), its bound parameters and its
    /// policies. Problems are added to `problems`.
    fn prepare(
        self: &Arc<Self>,
        context: &PrepareContext<'_>,
        problems: &mut Vec<Error>,
    ) -> Prepared {
        let spec = &self.spec;
        let before = problems.len();
        let env = env::read(spec).map_err(|found| problems.extend(found)).ok();
        let mut spec_problem = |problem: String| {
            problems.push(Error::InvalidSpec {
                job: self.name.to_string(),
                problem,
            })
        };
        for problem in names::spec_problems(spec)
            .into_iter()
            .chain(spec.value_problems())
        {
            spec_problem(problem);
        }
        if let Overlap::Allow { max_concurrency: 0 } = spec.overlap_policy() {
            spec_problem("`max_concurrency` must be greater than zero".to_owned());
        }
        if spec.slot_count() == 0 {
            spec_problem("`slots` must be greater than zero".to_owned());
        }
        let retry = spec.retry_policy();
        if retry.backoff_max < retry.backoff {
            spec_problem("`backoff_max` must not be shorter than `backoff`".to_owned());
        }
        let schedule = match (lock(&self.schedule_override).clone(), &env) {
            (Some(schedule), _) => schedule,
            (None, Some(env)) => env.schedule.clone(),
            (None, None) => spec.schedule().cloned(),
        };
        if let Some(Err(problem)) = schedule.as_ref().map(check_schedule) {
            spec_problem(problem);
        }
        if spec.is_fixed_delay() && !matches!(schedule, Some(Schedule::Every(_))) {
            spec_problem("`delay = \"fixed\"` needs an interval schedule (`every`)".to_owned());
        }
        if let (Some(pool), needed) = (&context.settings.pool, spec.slot_count()) {
            if needed > pool.capacity() {
                problems.push(Error::NotEnoughSlots {
                    job: self.name.to_string(),
                    needed,
                    available: pool.capacity(),
                });
            }
        }
        let runnable = match &self.source {
            Source::Discovered(registration) => registration.bind(context.states, problems),
            Source::Registered(runnable) => Some(Arc::clone(runnable)),
        };
        let (Some(runnable), Some(env)) = (runnable, env) else {
            return Prepared::Failed;
        };
        if problems.len() > before {
            return Prepared::Failed;
        }
        if let Some(variable) = env.disabled_by {
            return Prepared::Disabled(variable);
        }
        let active = ActiveJob {
            slot: Arc::clone(self) as Arc<dyn Registered>,
            runnable,
            settings: Arc::clone(context.settings),
            dependents: context
                .dependents
                .iter()
                .map(|slot| Arc::clone(slot) as Arc<dyn Registered>)
                .collect(),
            replaceable: Replaceable::default(),
            recorder: {
                let store = &context.settings.store;
                store
                    .keeps()
                    .then(|| store.recorder(&self.name, &context.settings.instance))
            },
        };
        Prepared::Ready(Launch { active, schedule })
    }

    /// Starts the job: arms its first fire, by the job's start plan (see
    /// [`persist`]), and starts the runs the plan makes now. Its grid
    /// starts now unless the store kept its anchor: jobs started together
    /// fire a few microseconds apart rather than in one burst.
    fn launch(&self, settings: &RunSettings, timers: &Timers<Arc<Started>>, launch: Launch) {
        let start = Instant::now();
        let mut running = lock(&self.running);
        if running.is_some() {
            return;
        }
        let Launch { active, schedule } = launch;
        events::job_start(&self.name, schedule.as_ref());
        self.stats.mark_started(schedule.clone());
        let (timing, backlog) = self.plan_start(&active, schedule.as_ref(), start);
        let (shard, start_driver) = timers.attach(&settings.runtime);
        if start_driver {
            settings.runtime.spawn(driver::drive(Arc::clone(&shard)));
        }
        *running = Some(Running {
            started: Started::start(active, timing, shard, backlog),
            stopping: false,
        });
    }

    /// Starts nothing more of the job and fires its runs' token; once no run
    /// is in flight, marks the job stopped. While runs are in flight a
    /// stopper task waits for them until `deadline` and aborts them past it,
    /// for `cause`, so a stop goes on whichever caller waits for it, or
    /// none. Does nothing if the job is not started or already stopping.
    fn begin_stop(self: &Arc<Self>, deadline: Instant, cause: AbortCause) {
        let started = {
            let mut running = lock(&self.running);
            match running.as_mut() {
                Some(job) if !job.stopping => {
                    job.stopping = true;
                    // Until `abort_runs` says otherwise.
                    self.set_abort_cause(cause);
                    Arc::clone(&job.started)
                }
                _ => return,
            }
        };
        if started.stop() {
            self.finish_stop(&started);
        } else {
            tokio::spawn(Arc::clone(self).stopper(started, deadline));
        }
    }

    fn abort_runs(&self, cause: AbortCause) {
        self.set_abort_cause(cause);
        if let Some(running) = &*lock(&self.running) {
            running.started.abort_runs();
        }
    }

    /// Aborts the job's runs in flight because this instance fenced itself,
    /// and returns how many; the job goes on.
    fn fence_runs(&self) -> usize {
        let running = lock(&self.running);
        let Some(running) = &*running else {
            return 0;
        };
        self.set_abort_cause(AbortCause::Fenced);
        running.started.abort_current_runs()
    }

    /// Waits for the job's runs until `deadline`, aborts them past that, and
    /// marks the job stopped.
    async fn stopper(self: Arc<Self>, started: Arc<Started>, deadline: Instant) {
        if tokio::time::timeout_at(deadline, started.idle())
            .await
            .is_err()
        {
            started.abort_runs();
            started.idle().await;
        }
        self.finish_stop(&started);
    }

    /// Why the job's runs were last aborted.
    pub(crate) fn abort_cause(&self) -> AbortCause {
        AbortCause::from_byte(self.abort_cause.load(Ordering::SeqCst))
    }

    fn set_abort_cause(&self, cause: AbortCause) {
        self.abort_cause.store(cause.to_byte(), Ordering::SeqCst);
    }

    /// Marks the job stopped once no run is in flight.
    fn finish_stop(&self, started: &Started) {
        // Recorded and logged before the job is freed: a caller that finds
        // the job no longer stopping (`stop_all` on another thread) finds
        // its stats stopped too, and a start that follows comes after.
        self.stats.mark_stopped();
        events::job_stop(&self.name);
        started.shard().detach();
        *lock(&self.running) = None;
        started.job.settings.stopped.notify_waiters();
    }

    /// Returns once the job is not stopping: at once if it is not, or when
    /// the stopper has finished.
    async fn wait_stopped(&self) {
        loop {
            let Some(started) = self.stopping() else {
                return;
            };
            let notified = started.job.settings.stopped.notified();
            tokio::pin!(notified);
            // Registered before the check, so a stop in between is not missed.
            notified.as_mut().enable();
            match self.stopping() {
                Some(still) if Arc::ptr_eq(&still, &started) => notified.await,
                // Stopped, or stopped and started again since.
                _ => {}
            }
        }
    }

    /// The job's scheduling state while it is stopping.
    fn stopping(&self) -> Option<Arc<Started>> {
        match &*lock(&self.running) {
            Some(running) if running.stopping => Some(Arc::clone(&running.started)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxError, JobContext};

    struct Noop;

    impl Job for Noop {
        fn spec(&self) -> JobSpec {
            JobSpec::every("noop", Duration::from_secs(60))
        }

        async fn execute(&self, _ctx: JobContext) -> Result<(), BoxError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_timer_entry_is_dropped_without_arming_another() {
        let manager = JobManager::new();
        manager.register(Noop);
        manager.start_all().unwrap();
        // Each new schedule leaves the entry of the one before it behind.
        for seconds in [50, 40, 30] {
            manager
                .set_schedule("noop", Schedule::Every(Duration::from_secs(seconds)))
                .unwrap();
        }
        assert_eq!(manager.inner.timers.entry_count(), 4);
        // Past every stale entry's instant: one live entry is left.
        tokio::time::sleep(Duration::from_secs(65)).await;
        assert_eq!(manager.inner.timers.entry_count(), 1);
        // The fire on start was replaced too: runs at 30 s and 60 s.
        assert_eq!(manager.stats("noop").unwrap().execution_count, 2);
        manager.stop_all().await;
    }
}
