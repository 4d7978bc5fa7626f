//! [`JobManager`]: the registry of jobs and their lifecycle.

use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::executor::ActiveJob;
use crate::extract::StateMap;
use crate::job::{HandWritten, Runnable};
use crate::registry::{self, Registration};
use crate::schedule::FireGrid;
use crate::spec::Location;
use crate::stats::StatsCell;
use crate::{env, events, scheduler, Error, Job, JobSpec, JobStats};

/// How long [`JobManager::stop_all`] waits for in-flight executions before
/// aborting them, unless set otherwise.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(30);

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
    grace_period: Mutex<Option<Duration>>,
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
/// task.
struct JobSlot {
    name: Arc<str>,
    spec: JobSpec,
    location: Location,
    source: Source,
    stats: Arc<StatsCell>,
    trigger: Arc<Notify>,
    task: Mutex<Option<RunningTask>>,
    /// Notified each time a stop of the job has finished.
    stopped: Notify,
}

enum Source {
    Discovered(&'static Registration),
    Registered(Arc<dyn Runnable>),
}

struct RunningTask {
    stop: CancellationToken,
    /// Taken by the stopper, the task that stops the job; `None` while the
    /// job is stopping.
    handle: Option<JoinHandle<()>>,
    abort: AbortHandle,
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
            Source::Registered(Arc::new(HandWritten(Arc::new(job)))),
        );
    }

    fn add(&self, spec: JobSpec, location: Location, source: Source) {
        let name: Arc<str> = Arc::from(spec.name());
        let slot = Arc::new(JobSlot {
            name: Arc::clone(&name),
            spec,
            location,
            source,
            stats: Arc::default(),
            trigger: Arc::default(),
            task: Mutex::new(None),
            stopped: Notify::new(),
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
        *lock(&self.inner.grace_period) = Some(grace_period);
    }

    /// The grace period in effect.
    pub fn grace_period(&self) -> Duration {
        lock(&self.inner.grace_period).unwrap_or(DEFAULT_GRACE_PERIOD)
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
    /// right: unique names, valid environment overrides, and a provided value
    /// for every `State<T>`. Every problem found is reported at once.
    pub fn start_all(&self) -> Result<(), Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let states = lock(&self.inner.states).clone();
        let registry = lock(&self.inner.registry);
        let mut problems: Vec<Error> = registry
            .duplicates
            .iter()
            .map(|&index| registry.duplicate_error(index))
            .collect();
        let mut ready = Vec::new();
        for slot in &registry.slots {
            if !slot.is_started() {
                if let Some(active) = slot.prepare(&states, &mut problems) {
                    ready.push((slot, active));
                }
            }
        }
        Error::from_problems(problems)?;
        let start = Instant::now();
        for (slot, active) in ready {
            slot.launch(&runtime, active, start);
        }
        Ok(())
    }

    /// Starts one job, with the same checks as [`start_all`](Self::start_all).
    pub fn start(&self, name: &str) -> Result<(), Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let states = lock(&self.inner.states).clone();
        let registry = lock(&self.inner.registry);
        let index = registry.index_of(name)?;
        let mut problems: Vec<Error> = registry
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
        let active = slot.prepare(&states, &mut problems);
        Error::from_problems(problems)?;
        if let Some(active) = active {
            slot.launch(&runtime, active, Instant::now());
        }
        Ok(())
    }

    /// Runs a started job once now, outside its schedule; the schedule is
    /// unchanged.
    ///
    /// Fails if the job is unknown, not started, or running (a triggered run
    /// never overlaps a running one).
    pub fn trigger(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        if !slot.is_started() {
            return Err(Error::NotStarted {
                name: name.to_owned(),
            });
        }
        if slot.stats.is_running() {
            return Err(Error::AlreadyRunning {
                name: name.to_owned(),
            });
        }
        slot.trigger.notify_one();
        Ok(())
    }

    /// Stops one job, as [`stop_all`](Self::stop_all) stops every job.
    pub async fn stop(&self, name: &str) -> Result<(), Error> {
        let slot = self.slot(name)?;
        if !slot.is_started() {
            return Err(Error::NotStarted {
                name: name.to_owned(),
            });
        }
        slot.begin_stop(Instant::now() + self.grace_period());
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
            slot.begin_stop(deadline);
        }
        for slot in &slots {
            slot.wait_stopped().await;
        }
    }

    /// Stops every started job at once, without a grace period: in-flight
    /// executions are aborted (their futures dropped), logged as
    /// `job_execute_aborted` and recorded as failures. A
    /// [`stop_all`](Self::stop_all) already waiting returns as soon as its
    /// jobs are aborted.
    pub async fn abort_all(&self) {
        let slots: Vec<Arc<JobSlot>> = lock(&self.inner.registry).slots.clone();
        let now = Instant::now();
        for slot in &slots {
            slot.begin_stop(now);
            // Stopping already, or just now: abort either way.
            slot.abort();
        }
        for slot in &slots {
            slot.wait_stopped().await;
        }
    }

    /// A snapshot of one job's statistics.
    pub fn stats(&self, name: &str) -> Option<JobStats> {
        self.slot(name)
            .ok()
            .map(|slot| slot.stats.snapshot(&slot.name))
    }

    /// Snapshots of every job's statistics, in registration order.
    pub fn all_stats(&self) -> Vec<JobStats> {
        lock(&self.inner.registry)
            .slots
            .iter()
            .map(|slot| slot.stats.snapshot(&slot.name))
            .collect()
    }

    fn slot(&self, name: &str) -> Result<Arc<JobSlot>, Error> {
        let registry = lock(&self.inner.registry);
        let index = registry.index_of(name)?;
        Ok(Arc::clone(&registry.slots[index]))
    }
}

impl fmt::Debug for JobManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobManager")
            .field("jobs", &self.registered_jobs())
            .field("grace_period", &self.grace_period())
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
                registered: self
                    .slots
                    .iter()
                    .map(|slot| &*slot.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
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

impl JobSlot {
    fn is_started(&self) -> bool {
        lock(&self.task).is_some()
    }

    /// Resolves what the job needs to run: its interval (after any
    /// environment override) and its bound parameters. Problems are added to
    /// `problems`.
    fn prepare(&self, states: &StateMap, problems: &mut Vec<Error>) -> Option<ActiveJob> {
        let interval = match self
            .spec
            .env_var()
            .map(|variable| env::interval_override(&self.name, variable))
        {
            None | Some(Ok(None)) => Some(self.spec.schedule().interval()),
            Some(Ok(Some(interval))) => Some(interval),
            Some(Err(problem)) => {
                problems.push(problem);
                None
            }
        };
        let runnable = match &self.source {
            Source::Discovered(registration) => registration.bind(states, problems),
            Source::Registered(runnable) => Some(Arc::clone(runnable)),
        };
        Some(ActiveJob {
            name: Arc::clone(&self.name),
            runnable: runnable?,
            stats: Arc::clone(&self.stats),
            interval: interval?,
            timeout: self.spec.timeout_duration(),
        })
    }

    fn launch(&self, runtime: &tokio::runtime::Handle, active: ActiveJob, start: Instant) {
        let mut task = lock(&self.task);
        if task.is_some() {
            return;
        }
        let interval = active.interval;
        events::job_start(&self.name, interval);
        self.stats.mark_started(interval);
        let stop = CancellationToken::new();
        let grid = FireGrid::new(start, interval, self.spec.runs_on_start());
        let handle = runtime.spawn(scheduler::run(
            active,
            grid,
            Arc::clone(&self.trigger),
            stop.clone(),
        ));
        *task = Some(RunningTask {
            stop,
            abort: handle.abort_handle(),
            handle: Some(handle),
        });
    }

    /// Fires the job's stop token and spawns the stopper, which waits for
    /// the job's task until `deadline`, aborts it past that, and marks the job
    /// stopped. Does nothing if the job is not started or already stopping.
    ///
    /// The stopper is a task of its own, so a stop goes on whichever caller
    /// waits for it, or none.
    fn begin_stop(self: &Arc<Self>, deadline: Instant) {
        let mut task = lock(&self.task);
        let Some(running) = task.as_mut() else {
            return;
        };
        let Some(handle) = running.handle.take() else {
            return;
        };
        running.stop.cancel();
        tokio::spawn(Arc::clone(self).finish_stop(handle, deadline));
    }

    fn abort(&self) {
        if let Some(task) = &*lock(&self.task) {
            task.abort.abort();
        }
    }

    /// The stopper: waits for the job's task until `deadline`, aborts it past
    /// that, and marks the job stopped.
    async fn finish_stop(self: Arc<Self>, mut handle: JoinHandle<()>, deadline: Instant) {
        if tokio::time::timeout_at(deadline, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
            // The task was aborted or ended; either way it is over.
            let _ = handle.await;
        }
        *lock(&self.task) = None;
        self.stats.mark_stopped();
        events::job_stop(&self.name);
        self.stopped.notify_waiters();
    }

    /// Returns once the job is not stopping: at once if it is not, or when
    /// the stopper has finished.
    async fn wait_stopped(&self) {
        loop {
            let notified = self.stopped.notified();
            tokio::pin!(notified);
            // Registered before the check, so a stop in between is not missed.
            notified.as_mut().enable();
            let stopping = matches!(&*lock(&self.task), Some(task) if task.handle.is_none());
            if !stopping {
                return;
            }
            notified.await;
        }
    }
}
