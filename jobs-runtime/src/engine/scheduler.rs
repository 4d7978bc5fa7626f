//! The scheduling of one started job: it decides *when* the job fires (its
//! timing, jitter, missed fires) and *whether* a fire runs (pause, overlap
//! policy), then starts each [run](super::run::Run), which the executor carries
//! out.
//!
//! A started job has no task of its own: the [timers](super::timer) wake it
//! when a fire is due, the manager's requests and its upstream jobs reach it
//! by calls, and each run reports its end.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Poll, Waker};
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::active::{ActiveJob, Fire};
use crate::engine::executor::{panic_message, unclaim, Waits};
use crate::engine::run::{self, Run};
use crate::engine::timer::Shard;
use crate::job::context::{RunToken, StartedJob};
use crate::model::clock::{Clock, Reading};
use crate::model::cron::CronSchedule;
use crate::model::execution::Cause;
use crate::model::resume::{self, Grid};
use crate::model::spec::{Missed, Overlap};
use crate::observe::events::{self, PanicStage, SkipReason};
use crate::observe::stats::InFlightStats;
use crate::store::Change;
use crate::Schedule;

/// How far ahead a cron job sleeps at most before it reads the wall clock
/// again, so a jump of the wall clock is noticed within this time.
const CRON_RECHECK: Duration = Duration::from_secs(60);

/// At most this many missed fires are counted one by one; past that the
/// timing jumps to the present.
const MISSED_WALK_LIMIT: u64 = 100_000;

/// A fire further than this after the instant it is computed from (an
/// interval, a jitter, a delay) never comes: no process lives that long, and
/// instants and wall times this far ahead could not be represented.
const NEVER: Duration = Duration::from_secs(10_000 * 365 * 86_400);

/// The instant `by` after `at`; `None` when it lies beyond [`NEVER`].
pub(crate) fn later(at: Instant, by: Duration) -> Option<Instant> {
    if by > NEVER {
        return None;
    }
    at.checked_add(by)
}

/// When a job's next fire is due.
#[derive(Debug)]
pub(crate) enum Timing {
    /// Fixed rate: the grid `anchor + k · interval`, as the next point's
    /// wall-clock time (what its execution records) and tokio instant;
    /// `None` once the next grid point lies beyond [`NEVER`].
    Rate {
        next: Option<(SystemTime, Instant)>,
        interval: Duration,
    },
    /// Fixed delay: one interval after the previous run ended.
    Delay {
        next: Option<Instant>,
        interval: Duration,
    },
    /// Cron: the next matching wall-clock time, and the tokio instant it was
    /// last mapped to.
    Cron {
        cron: CronSchedule,
        next: Option<(SystemTime, Instant)>,
    },
    /// No schedule of its own: only triggers and upstream jobs run it.
    Unscheduled,
}

impl Timing {
    pub(crate) fn new(
        schedule: Option<&Schedule>,
        fixed_delay: bool,
        start: Instant,
        run_on_start: bool,
        clock: &Clock,
    ) -> Self {
        match schedule {
            None => Timing::Unscheduled,
            Some(Schedule::Every(interval)) => {
                let next = if run_on_start {
                    Some(start)
                } else {
                    later(start, *interval)
                };
                if fixed_delay {
                    Timing::Delay {
                        next,
                        interval: *interval,
                    }
                } else {
                    let wall = clock.wall_at(start);
                    Timing::Rate {
                        next: next.and_then(|at| Some((wall.checked_add(at - start)?, at))),
                        interval: *interval,
                    }
                }
            }
            Some(Schedule::Cron(cron)) => {
                let now = clock.wall_at(start);
                let next = if run_on_start {
                    Some((now, start))
                } else {
                    cron.next_after(now)
                        .map(|wall| (wall, clock.instant_at(wall)))
                };
                Timing::Cron {
                    cron: cron.clone(),
                    next,
                }
            }
        }
    }

    /// A timing whose first fire is at wall-clock time `first` (from the
    /// job's start plan), mapped to tokio's clock by one reading: `start`
    /// on tokio's clock is `wall_start` on the job's clock. A first fire
    /// before the start (a late one, or a run on start on the grid) maps to
    /// its own instant, in the past: it runs at once, and the grid's later
    /// fires keep their times rather than move by its lateness.
    pub(crate) fn planned(
        schedule: Option<&Schedule>,
        fixed_delay: bool,
        (start, wall_start): (Instant, SystemTime),
        first: Option<SystemTime>,
    ) -> Self {
        let at = |wall: SystemTime| match wall.duration_since(wall_start) {
            Ok(ahead) => later(start, ahead),
            Err(behind) => Some(start.checked_sub(behind.duration()).unwrap_or(start)),
        };
        match schedule {
            None => Timing::Unscheduled,
            Some(Schedule::Every(interval)) if fixed_delay => Timing::Delay {
                next: first.and_then(at),
                interval: *interval,
            },
            Some(Schedule::Every(interval)) => Timing::Rate {
                next: first.and_then(|wall| Some((wall, at(wall)?))),
                interval: *interval,
            },
            Some(Schedule::Cron(cron)) => Timing::Cron {
                cron: cron.clone(),
                next: first.and_then(|wall| Some((wall, at(wall)?))),
            },
        }
    }

    /// The instant the next fire is due, if one is pending.
    pub(crate) fn due(&self) -> Option<Instant> {
        match self {
            Timing::Delay { next, .. } => *next,
            Timing::Rate { next, .. } | Timing::Cron { next, .. } => next.map(|(_, at)| at),
            Timing::Unscheduled => None,
        }
    }

    /// The wall-clock time the pending fire is due, as its execution
    /// records it: exact for a rate grid and cron, mapped from tokio's
    /// clock for a fixed delay.
    fn due_wall(&self, clock: &Clock, reading: &Reading) -> Option<SystemTime> {
        match self {
            Timing::Delay { next, .. } => next.map(|at| clock.wall_by(at, reading)),
            Timing::Rate { next, .. } | Timing::Cron { next, .. } => next.map(|(wall, _)| wall),
            Timing::Unscheduled => None,
        }
    }

    /// Consumes the pending fire and computes the one after it, mapping a
    /// cron time by `reading`.
    fn advance(&mut self, clock: &Clock, reading: &Reading) {
        let following = self.following(clock, reading);
        self.take(following);
    }

    /// The fire after the pending one, which [`advance`](Self::advance)
    /// would make pending; the timing itself is left as it is.
    fn following(&self, clock: &Clock, reading: &Reading) -> Following {
        match self {
            Timing::Rate { next, interval } => Following::Grid(next.and_then(|(wall, at)| {
                Some((wall.checked_add(*interval)?, later(at, *interval)?))
            })),
            Timing::Delay { .. } => Following::Interval(None),
            Timing::Cron { cron, next } => Following::Grid(
                next.and_then(|(wall, _)| cron.next_after(wall))
                    .map(|wall| (wall, clock.instant_by(wall, reading))),
            ),
            Timing::Unscheduled => Following::Nothing,
        }
    }

    /// Makes `following`, computed by [`following`](Self::following) from
    /// this timing, the pending fire.
    fn take(&mut self, following: Following) {
        match (self, following) {
            (Timing::Delay { next, .. }, Following::Interval(due)) => *next = due,
            (Timing::Rate { next, .. } | Timing::Cron { next, .. }, Following::Grid(due)) => {
                *next = due;
            }
            _ => {}
        }
    }

    /// Skips every fire up to `now` without counting them.
    fn jump_to(&mut self, now: Instant, clock: &Clock) {
        match self {
            Timing::Rate {
                next: Some((wall, next)),
                interval,
            } => {
                // The last grid point at or before `now`: at most `now`, so
                // the sum cannot overflow.
                let step = interval.as_nanos().max(1);
                let behind = now.saturating_duration_since(*next).as_nanos() / step * step;
                let skip = Duration::new(
                    u64::try_from(behind / 1_000_000_000).unwrap_or(u64::MAX),
                    u32::try_from(behind % 1_000_000_000).unwrap_or(0),
                );
                *wall = wall.checked_add(skip).unwrap_or(*wall);
                *next = next.checked_add(skip).unwrap_or(now);
            }
            Timing::Cron { cron, next } => {
                let wall = clock.wall_at(now);
                *next = cron
                    .next_after(wall)
                    .map(|wall| (wall, clock.instant_at(wall)));
            }
            Timing::Rate { next: None, .. } | Timing::Delay { .. } | Timing::Unscheduled => {}
        }
    }

    /// Maps a cron fire's wall time to tokio's clock again, by `reading`.
    fn refresh(&mut self, clock: &Clock, reading: &Reading) {
        if let Timing::Cron {
            next: Some((wall, at)),
            ..
        } = self
        {
            *at = clock.instant_by(*wall, reading);
        }
    }

    /// The interval of an interval schedule, fixed rate or fixed delay.
    fn interval(&self) -> Option<Duration> {
        match self {
            Timing::Rate { interval, .. } | Timing::Delay { interval, .. } => Some(*interval),
            Timing::Cron { .. } | Timing::Unscheduled => None,
        }
    }

    /// How long before its fires the job wakes for them, when the store
    /// claims fires up to `most` ahead: a quarter of an interval at most,
    /// so a fire is never handed out before the previous one is due.
    fn lead(&self, most: Duration) -> Duration {
        if most.is_zero() {
            return most;
        }
        self.interval()
            .map_or(most, |interval| most.min(interval / 4))
    }

    /// A run ended at `now()`: a fixed-delay job is due one interval later.
    /// The clock is read only then, as other timings ignore the end.
    fn run_ended(&mut self, now: impl FnOnce() -> Instant) {
        if let Timing::Delay { next, interval } = self {
            if next.is_none() {
                *next = later(now(), *interval);
            }
        }
    }
}

/// A timing's fire after its pending one, in the timing's own terms.
#[derive(Debug, Clone, Copy)]
enum Following {
    /// A fixed-delay timing's next instant.
    Interval(Option<Instant>),
    /// A rate grid's or a cron timing's next wall time and the instant it
    /// maps to.
    Grid(Option<(SystemTime, Instant)>),
    /// An unscheduled timing has no fires.
    Nothing,
}

impl Following {
    /// The instant the fire is due, if there is one.
    fn due(&self) -> Option<Instant> {
        match self {
            Following::Interval(due) => *due,
            Following::Grid(next) => next.map(|(_, at)| at),
            Following::Nothing => None,
        }
    }
}

/// The fire being waited for: when it fires, jitter included, and when
/// the job wakes for it: the claim lead before (see [`Timing::lead`]), and
/// earlier for a cron job, which re-reads the wall clock at least every
/// [`CRON_RECHECK`].
#[derive(Debug, Clone, Copy)]
struct Armed {
    at: Instant,
    wake_at: Instant,
}

impl Armed {
    /// The wait for a fire at `at`, armed at `now`, woken `lead` ahead.
    fn new(at: Instant, timing: &Timing, now: Instant, lead: Duration) -> Self {
        let ahead = if lead.is_zero() {
            at
        } else {
            at.checked_sub(lead).unwrap_or(at)
        };
        let wake_at = match timing {
            Timing::Cron { .. } => ahead.min(now + CRON_RECHECK),
            _ => ahead,
        };
        Armed { at, wake_at }
    }
}

/// One started job: what its runs need, and its scheduling state, which the
/// timers, the manager's requests and the ends of its runs update in turn,
/// each under the state's lock.
pub(crate) struct Started {
    pub(crate) job: ActiveJob,
    /// The token its runs get, fired on stop; with `overlap = "replace"`
    /// each run gets a child of it, to be cancelled alone. Made the first
    /// time it is asked for: most jobs never look at their token.
    stop: OnceLock<CancellationToken>,
    /// The job's shard of the timers, dealt at start.
    shard: Arc<Shard<Arc<Started>>>,
    state: Mutex<SchedulingState>,
}

/// A started job's scheduling state: its timing and armed fire, its entry
/// in the timers, and its runs in flight.
struct SchedulingState {
    timing: Timing,
    /// The fire waited for.
    armed: Option<Armed>,
    /// The wake-up instant of the job's live entry in the timers.
    entry: Option<Instant>,
    /// The live entry's generation: entries of older ones are stale.
    generation: u32,
    /// The fire waiting for the running one to end (`overlap = "queue"` or
    /// `"replace"`); boxed, as most jobs never have one.
    queued: Option<Box<Fire>>,
    /// Fires that run one after another, each once no run is in flight:
    /// missed fires caught up, and executions recovered at start. Boxed,
    /// as most jobs never have any: the box is one word in every started
    /// job, the deque four.
    #[allow(clippy::box_collection)]
    backlog: Option<Box<VecDeque<Fire>>>,
    runs: Vec<InFlight>,
    next_run_id: u32,
    /// Set on stop: nothing more starts.
    stopping: bool,
    /// Set when the runs are aborted: a run that moves to a task of its own
    /// from now on is aborted at once.
    aborting: bool,
    /// The stopper, waiting for the last run to end.
    idle_waiter: Option<Waker>,
}

/// A run in flight: its task, once it has one, its own token if it has
/// one, and since when it waits for its condition or for slots, while it
/// does.
struct InFlight {
    id: u32,
    task: Option<JoinHandle<()>>,
    token: Option<Arc<CancellationToken>>,
    /// Since when it waits for its condition or for slots; boxed, as most
    /// runs never wait, and every started job keeps room for one run.
    waiting_since: Option<Box<Instant>>,
}

impl Started {
    /// A started job, armed for its first fire, that first runs the fires
    /// of `backlog`, one after another.
    pub(crate) fn start(
        job: ActiveJob,
        timing: Timing,
        shard: Arc<Shard<Arc<Started>>>,
        backlog: Vec<Fire>,
    ) -> Arc<Self> {
        let started = Arc::new(Started {
            job,
            stop: OnceLock::new(),
            shard,
            state: Mutex::new(SchedulingState {
                timing,
                armed: None,
                entry: None,
                generation: 0,
                queued: None,
                backlog: (!backlog.is_empty()).then(|| Box::new(backlog.into())),
                // Room for one run from the start: the first fire allocates
                // nothing more.
                runs: Vec::with_capacity(1),
                next_run_id: 0,
                stopping: false,
                aborting: false,
                idle_waiter: None,
            }),
        });
        started.update_and_spawn(|state, job, runs| {
            state.arm(job, Instant::now());
            state.start_backlog(job, runs);
        });
        started
    }

    fn lock(&self) -> MutexGuard<'_, SchedulingState> {
        // Nothing here can leave the state half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Applies `change` to the state, then makes sure the timers hold an
    /// entry for the fire now armed. The runs it starts are added to `runs`,
    /// to be polled once the lock is released: a run ending right away
    /// takes the lock again.
    fn update(
        self: &Arc<Self>,
        runs: &mut Vec<Run<Started>>,
        change: impl FnOnce(&mut SchedulingState, &Arc<Started>, &mut Vec<Run<Started>>),
    ) {
        let mut state = self.lock();
        if state.stopping {
            return;
        }
        change(&mut state, self, runs);
        state.sync_timer(self);
    }

    /// [`update`](Self::update), then gives each run it started a task.
    fn update_and_spawn(
        self: &Arc<Self>,
        change: impl FnOnce(&mut SchedulingState, &Arc<Started>, &mut Vec<Run<Started>>),
    ) {
        let mut runs = Vec::new();
        self.update(&mut runs, change);
        runs.into_iter().for_each(Run::spawn);
    }

    /// The job's entry in the timers came due; the timers read tokio's
    /// clock at `now`, map cron times by `reading`, and poll the runs added
    /// to `runs`.
    pub(crate) fn timer_fired(
        self: &Arc<Self>,
        generation: u32,
        now: Instant,
        reading: &Reading,
        runs: &mut Vec<Run<Started>>,
    ) {
        // Nothing here should panic; if something does (a log subscriber,
        // say), the panic must not end the timers, which serve other jobs.
        let fired = panic::catch_unwind(AssertUnwindSafe(|| {
            self.update(runs, |state, job, runs| {
                if state.generation == generation {
                    state.entry = None;
                    state.wake(job, now, reading, runs);
                }
            });
        }));
        if let Err(panic) = fired {
            self.recover(now, &panic_message(panic));
        }
    }

    /// After a panic while the job's fire was handed out: arms the job's
    /// first fire after `now`, so it goes on firing, and logs the panic.
    #[cold]
    fn recover(self: &Arc<Self>, now: Instant, message: &str) {
        let rearmed = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut state = self.lock();
            if state.stopping {
                return;
            }
            let clock = *self.job.clock();
            state.timing.jump_to(now, &clock);
            if state.timing.due().is_some_and(|due| due <= now) {
                state.timing.advance(&clock, &Reading::default());
            }
            if state.runs.is_empty() {
                state.timing.run_ended(|| now);
            }
            state.arm(self, now);
            state.entry = None;
            state.sync_timer(self);
        }))
        .is_ok();
        // Not a run of the job: no execution to record it in.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            events::internal_panic(self.job.name(), PanicStage::Scheduling, message, rearmed);
        }));
    }

    /// Runs the job once now, outside its schedule; `false` (and nothing
    /// runs) if its overlap policy is `skip` and a run is in flight, whether
    /// it executes or waits for its condition or for slots.
    pub(crate) fn trigger(self: &Arc<Self>) -> bool {
        let mut accepted = true;
        self.update_and_spawn(|state, job, runs| {
            if job.job.spec().overlap_policy() == Overlap::Skip && !state.runs.is_empty() {
                accepted = false;
                return;
            }
            let fire = state.unscheduled_fire(job, None);
            state.fire(job, fire, true, runs);
        });
        accepted
    }

    /// Runs `fire`, which continues an execution another instance
    /// abandoned, as soon as no run of the job is in flight (as the fires
    /// a start runs first).
    pub(crate) fn continue_abandoned(self: &Arc<Self>, fire: Fire) {
        self.update_and_spawn(|state, job, runs| {
            state
                .backlog
                .get_or_insert_with(Default::default)
                .push_back(fire);
            state.start_backlog(job, runs);
        });
    }

    /// What the job's runs in flight are doing.
    pub(crate) fn in_flight(&self) -> InFlightStats {
        let state = self.lock();
        let mut stats = InFlightStats {
            runs: state.runs.len(),
            ..InFlightStats::default()
        };
        for since in state
            .runs
            .iter()
            .filter_map(|run| run.waiting_since.as_deref().copied())
        {
            stats.waiting += 1;
            stats.waiting_since = Some(stats.waiting_since.map_or(since, |s| s.min(since)));
        }
        stats
    }

    /// The job's upstream job succeeded at `at`: the job runs once now.
    pub(crate) fn upstream_completed(self: &Arc<Self>, at: SystemTime) {
        self.update_and_spawn(|state, job, runs| {
            let fire = state.unscheduled_fire(job, Some(at));
            state.fire(job, fire, false, runs);
        });
    }

    /// Replaces the schedule: the pending fire gives way to the new
    /// schedule's first fire after now. An interval grid counts from now,
    /// or from `anchor` when another instance set the schedule then.
    pub(crate) fn set_schedule(
        self: &Arc<Self>,
        schedule: Option<&Schedule>,
        anchor: Option<SystemTime>,
    ) {
        self.update_and_spawn(|state, job, _| {
            let now = Instant::now();
            let fixed_delay = job.job.spec().is_fixed_delay();
            state.timing = match (schedule, anchor) {
                (Some(Schedule::Every(interval)), Some(anchor)) if !fixed_delay => {
                    let wall_now = job.job.clock().wall_at(now);
                    let grid = Grid::Every {
                        anchor,
                        interval: *interval,
                    };
                    let first = resume::next_after(grid, wall_now);
                    Timing::planned(schedule, false, (now, wall_now), first)
                }
                _ => Timing::new(schedule, fixed_delay, now, false, job.job.clock()),
            };
            state.arm(job, now);
        });
    }

    /// Starts nothing more and fires the runs' token; returns whether no
    /// run is in flight.
    pub(crate) fn stop(&self) -> bool {
        let (idle, backlog) = {
            let mut state = self.lock();
            state.stopping = true;
            state.queued = None;
            state.armed = None;
            state.entry = None;
            state.generation = state.generation.wrapping_add(1);
            (state.runs.is_empty(), state.backlog.take())
        };
        // A continuation claimed with its takeover, still waiting for its
        // turn, starts no more: it ends cancelled rather than holding its
        // job's limit in the fleet.
        for fire in backlog.into_iter().flat_map(|backlog| *backlog) {
            if let Some(won) = fire.won {
                unclaim(&self.job, won.id);
                self.skip(SkipReason::Cancelled);
            }
        }
        // Made if no run has asked for it yet, so a run that asks later
        // finds it fired.
        self.stop_token().cancel();
        idle
    }

    /// The token the job's runs get.
    pub(crate) fn stop_token(&self) -> &CancellationToken {
        self.stop.get_or_init(CancellationToken::new)
    }

    /// Whether the job's token has fired, without making it.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.get().is_some_and(CancellationToken::is_cancelled)
    }

    /// The job's shard of the timers.
    pub(crate) fn shard(&self) -> &Shard<Arc<Started>> {
        &self.shard
    }

    /// When the job fires next (jitter included); `None` once it stops.
    pub(crate) fn next_run(&self) -> Option<Instant> {
        self.lock().armed.map(|armed| armed.at)
    }

    /// Aborts every run in flight: their futures are dropped. A run that
    /// has no task yet (it waits in its batch, or is being polled there) is
    /// aborted when it moves to a task of its own, unless it ends in its
    /// first poll.
    pub(crate) fn abort_runs(&self) {
        let mut state = self.lock();
        state.aborting = true;
        for task in state.runs.iter().filter_map(|run| run.task.as_ref()) {
            task.abort();
        }
    }

    /// Aborts the runs in flight that have a task of their own, and
    /// returns how many; the job goes on firing.
    pub(crate) fn abort_current_runs(&self) -> usize {
        let state = self.lock();
        let tasks = state.runs.iter().filter_map(|run| run.task.as_ref());
        tasks.map(JoinHandle::abort).count()
    }

    /// Waits until no run is in flight.
    pub(crate) async fn idle(&self) {
        poll_fn(|cx| {
            let mut state = self.lock();
            if state.runs.is_empty() {
                Poll::Ready(())
            } else {
                state.idle_waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }

    /// Removes run `id`, and starts what its end lets start: a queued fire
    /// goes to `runs`.
    fn end_run(self: &Arc<Self>, id: u32, runs: &mut Vec<Run<Started>>) {
        let mut state = self.lock();
        if let Some(index) = state.runs.iter().position(|run| run.id == id) {
            // The run's own task handle, if it has one, dropped from within
            // its task.
            state.runs.swap_remove(index);
        }
        if !state.runs.is_empty() {
            return;
        }
        if state.stopping {
            if let Some(waiter) = state.idle_waiter.take() {
                waiter.wake();
            }
            return;
        }
        let mut ended = None;
        state.timing.run_ended(|| *ended.insert(Instant::now()));
        if state.armed.is_none() {
            state.arm(self, ended.unwrap_or_else(Instant::now));
        }
        if let Some(fire) = state.queued.take() {
            state.start(self, *fire, runs);
        } else {
            state.start_backlog(self, runs);
        }
        state.sync_timer(self);
    }
}

impl run::Owner for Started {
    fn active(&self) -> &ActiveJob {
        &self.job
    }

    /// Run `id` moved to a task of its own.
    fn run_spawned(&self, id: u32, task: JoinHandle<()>) {
        let mut state = self.lock();
        if state.aborting {
            task.abort();
        }
        // Not found if it has ended already.
        if let Some(run) = state.runs.iter_mut().find(|run| run.id == id) {
            run.task = Some(task);
        }
    }

    /// A run ended, was aborted, or was dropped unpolled.
    fn run_ended(self: &Arc<Self>, id: u32) {
        let mut runs = Vec::new();
        self.end_run(id, &mut runs);
        runs.into_iter().for_each(Run::spawn);
    }
}

impl Waits for Started {
    /// Marks run `id` as waiting for its condition or for slots since
    /// `since`, or (`None`) as no longer waiting.
    fn mark_waiting(&self, id: u32, since: Option<Instant>) {
        let mut state = self.lock();
        if let Some(run) = state.runs.iter_mut().find(|run| run.id == id) {
            run.waiting_since = since.map(Box::new);
        }
    }
}

impl StartedJob for Started {
    fn name(&self) -> &str {
        self.job.name()
    }

    fn stop_token(&self) -> &CancellationToken {
        Started::stop_token(self)
    }

    fn is_stopped(&self) -> bool {
        Started::is_stopped(self)
    }
}

impl SchedulingState {
    /// Sets up the wait for the timing's pending fire, with jitter, at
    /// `now`.
    fn arm(&mut self, job: &Arc<Started>, now: Instant) {
        let jitter = job.job.spec().jitter_duration();
        let lead = self.timing.lead(job.claim_lead());
        self.armed = self.timing.due().and_then(|due| {
            let offset = jitter.map_or(Duration::ZERO, |jitter| {
                let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(fastrand::u64(0..nanos.max(1)))
            });
            Some(Armed::new(later(due, offset)?, &self.timing, now, lead))
        });
    }

    /// Makes sure the timers hold an entry for the armed fire's wake-up.
    fn sync_timer(&mut self, job: &Arc<Started>) {
        let wake_at = self.armed.map(|armed| armed.wake_at);
        if wake_at == self.entry {
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        self.entry = wake_at;
        if let Some(at) = wake_at {
            job.shard.add(at, self.generation, Arc::clone(job));
        }
    }

    /// A fire outside the schedule, due now: a trigger, or (with the
    /// completion time of the upstream run) an upstream job's success.
    fn unscheduled_fire(&self, job: &Started, upstream_completed_at: Option<SystemTime>) -> Fire {
        let due = Instant::now();
        Fire {
            due,
            fire_at: job.job.clock().now(),
            cause: match upstream_completed_at {
                Some(_) => Cause::Upstream,
                None => Cause::Trigger,
            },
            first_attempt: 1,
            upstream_completed_at,
            interval: self.timing.interval(),
            queued: false,
            won: None,
        }
    }

    /// Starts the next fire of the backlog, if no run is in flight. While
    /// the job is paused its scheduled fires are skipped, as its other
    /// fires are; a recovery runs.
    #[inline]
    fn start_backlog(&mut self, job: &Arc<Started>, runs: &mut Vec<Run<Started>>) {
        if self.runs.is_empty() && self.backlog.is_some() {
            self.start_next_of_backlog(job, runs);
        }
    }

    /// [`start_backlog`](Self::start_backlog) once there is a backlog and
    /// no run in flight: out of line, as most jobs never have a backlog.
    #[cold]
    fn start_next_of_backlog(&mut self, job: &Arc<Started>, runs: &mut Vec<Run<Started>>) {
        let Some(backlog) = &mut self.backlog else {
            return;
        };
        let mut next = backlog.pop_front();
        while let Some(fire) = next.filter(|fire| fire.cause == Cause::Schedule) {
            if !job.job.is_paused() {
                next = Some(fire);
                break;
            }
            job.skip(SkipReason::Paused);
            next = backlog.pop_front();
        }
        if backlog.is_empty() {
            self.backlog = None;
        }
        if let Some(fire) = next {
            let fire = Fire {
                queued: true,
                ..fire
            };
            self.start(job, fire, runs);
        }
    }

    /// A scheduled fire of this job, due at `due` (wall time `fire_at`).
    fn scheduled_fire(&self, due: Instant, fire_at: SystemTime) -> Fire {
        Fire {
            due,
            fire_at,
            cause: Cause::Schedule,
            first_attempt: 1,
            upstream_completed_at: None,
            interval: self.timing.interval(),
            queued: false,
            won: None,
        }
    }

    /// The armed fire's wake-up came at `now`; cron times are mapped by
    /// `reading`. A fire due within the claim lead is handed out now, if
    /// no run of the job is in flight: its run is claimed at once and
    /// waits for its time.
    fn wake(
        &mut self,
        job: &Arc<Started>,
        now: Instant,
        reading: &Reading,
        runs: &mut Vec<Run<Started>>,
    ) {
        let Some(armed) = self.armed else { return };
        let lead = self.timing.lead(job.claim_lead());
        let ahead = if lead.is_zero() {
            now
        } else {
            later(now, lead).unwrap_or(now)
        };
        if matches!(self.timing, Timing::Cron { .. }) {
            // Read the wall clock again: it may have jumped since the fire
            // was mapped to tokio's clock.
            let offset = armed
                .at
                .saturating_duration_since(self.timing.due().unwrap_or(armed.at));
            self.timing.refresh(job.job.clock(), reading);
            let at = self
                .timing
                .due()
                .and_then(|due| later(due, offset))
                .unwrap_or(armed.at);
            self.armed = Some(Armed::new(at, &self.timing, now, lead));
            if at > ahead {
                return;
            }
        }
        // A run in flight may end before the fire is due: its overlap
        // policy is applied then, so the fire is handed out at its time.
        if let Some(armed) = self
            .armed
            .filter(|armed| armed.at > now && !self.runs.is_empty())
        {
            self.armed = Some(Armed {
                wake_at: armed.at,
                ..armed
            });
            return;
        }
        let clock = *job.job.clock();
        let (mut missed, after_due) = self.skip_missed(job, now, ahead, reading);
        // No fire due now: every due fire was missed (a fixed-delay job has
        // none pending after a missed one).
        let Some(armed) = self.armed.filter(|armed| armed.at <= ahead) else {
            if let Some(last) = missed.back() {
                job.fired(last.fire_at);
            }
            match job.job.spec().missed_policy() {
                Missed::Skip => {}
                // The job runs once now.
                Missed::RunOnce => {
                    if let Some(fire) = missed.pop_back() {
                        self.fire(job, fire, false, runs);
                    }
                }
                // The latest missed fires run one after another.
                Missed::CatchUp { .. } => {
                    self.backlog
                        .get_or_insert_with(Default::default)
                        .extend(missed);
                    self.start_backlog(job, runs);
                }
            }
            self.rearm_if_idle(job, now);
            return;
        };
        let fire_at = self
            .timing
            .due_wall(&clock, reading)
            .unwrap_or_else(|| clock.wall_by(armed.at, reading));
        match after_due {
            Some(following) => self.timing.take(following),
            None => self.timing.advance(&clock, reading),
        }
        self.arm(job, now);
        let fire = self.scheduled_fire(armed.at, fire_at);
        self.fire(job, fire, false, runs);
        job.fired(fire_at);
        self.rearm_if_idle(job, now);
    }

    /// A fixed-delay job is due one interval after its last run ended; when
    /// its fire started no run (missed, or skipped while paused), the
    /// interval counts from now instead, so the job keeps firing.
    fn rearm_if_idle(&mut self, job: &Arc<Started>, now: Instant) {
        if self.runs.is_empty() && self.armed.is_none() {
            self.timing.run_ended(|| now);
            self.arm(job, now);
        }
    }

    /// Consumes the missed fires: those fires due by `ahead` (`now` and
    /// the claim lead) that a later one supersedes, or that are later than
    /// the misfire threshold at `now`. Counts and
    /// logs them, and returns the latest of them (one, or a catch-up's
    /// limit), oldest first, each as a scheduled fire; and, when a due fire
    /// is left to run, the fire that follows it (computed here anyway, so a
    /// cron expression is evaluated once per fire).
    fn skip_missed(
        &mut self,
        job: &Arc<Started>,
        now: Instant,
        ahead: Instant,
        reading: &Reading,
    ) -> (VecDeque<Fire>, Option<Following>) {
        let clock = *job.job.clock();
        let threshold = job.job.settings.misfire_threshold;
        let policy = job.job.spec().missed_policy();
        let keep = match policy {
            Missed::CatchUp { limit } => usize::try_from(limit).unwrap_or(usize::MAX),
            Missed::Skip | Missed::RunOnce => 1,
        };
        let mut missed = 0;
        let mut latest = VecDeque::new();
        let mut after_due = None;
        while let Some(due) = self.timing.due().filter(|due| *due <= ahead) {
            let following = self.timing.following(&clock, reading);
            let superseded = following.due().is_some_and(|next| next <= ahead);
            if !superseded && now.saturating_duration_since(due) <= threshold {
                after_due = Some(following);
                break;
            }
            if missed == MISSED_WALK_LIMIT {
                self.timing.jump_to(now, &clock);
                break;
            }
            missed += 1;
            let wall = self
                .timing
                .due_wall(&clock, reading)
                .unwrap_or_else(|| clock.wall_by(due, reading));
            if latest.len() == keep {
                latest.pop_front();
            }
            latest.push_back(self.scheduled_fire(due, wall));
            self.timing.take(following);
        }
        if missed == 0 {
            return (latest, after_due);
        }
        let total = job.job.stats().missed(missed);
        events::execute_missed(job.job.name(), missed, total, policy.as_str());
        self.arm(job, now);
        (latest, after_due)
    }

    /// Applies pause and the overlap policy to one fire; a manual trigger
    /// runs even while the job is paused.
    fn fire(&mut self, job: &Arc<Started>, fire: Fire, manual: bool, runs: &mut Vec<Run<Started>>) {
        if !manual && job.job.is_paused() {
            job.skip(SkipReason::Paused);
            return;
        }
        let active = self.runs.len();
        match job.job.spec().overlap_policy() {
            _ if active == 0 => self.start(job, fire, runs),
            Overlap::Skip => job.skip(SkipReason::Overlap),
            Overlap::Allow { max_concurrency } if active >= max_concurrency as usize => {
                job.skip(SkipReason::Overlap)
            }
            Overlap::Allow { .. } => self.start(job, fire, runs),
            Overlap::Queue => {
                if self.queued.is_some() {
                    job.skip(SkipReason::Overlap);
                } else {
                    self.queued = Some(Box::new(fire));
                }
            }
            Overlap::Replace => {
                for run in &self.runs {
                    if let Some(token) = &run.token {
                        token.cancel();
                    }
                }
                if self.queued.replace(Box::new(fire)).is_some() {
                    job.skip(SkipReason::Overlap);
                }
            }
        }
    }

    /// Starts a run of `fire`: counts it in flight, and adds it to `runs`
    /// to be polled.
    fn start(&mut self, job: &Arc<Started>, fire: Fire, runs: &mut Vec<Run<Started>>) {
        // A run needs a token of its own only to be cancelled alone; else
        // the job's token (fired on stop) serves, and costs no allocation.
        let (token, own) = if job.job.spec().overlap_policy() == Overlap::Replace {
            let token = Arc::new(job.stop_token().child_token());
            (
                RunToken::job(Arc::clone(job) as Arc<dyn StartedJob>).with_own(Arc::clone(&token)),
                Some(token),
            )
        } else {
            (RunToken::job(Arc::clone(job) as Arc<dyn StartedJob>), None)
        };
        let id = self.next_run_id;
        self.next_run_id = id.wrapping_add(1);
        self.runs.push(InFlight {
            id,
            task: None,
            token: own,
            waiting_since: None,
        });
        runs.push(Run::new(job, id, fire, token));
    }
}

impl Started {
    /// How far ahead of their time the job's fires may be claimed: the
    /// store's claim lead, except under `overlap = "replace"`, whose claim
    /// cuts the runs it replaces short and so is made at the fire's time.
    fn claim_lead(&self) -> Duration {
        let lead = self.job.settings.lead;
        if lead.is_zero() || self.job.spec().overlap_policy() == Overlap::Replace {
            return Duration::ZERO;
        }
        lead
    }

    /// Records in the store that the job's schedule reached `at`: its last
    /// fire, from which a restart counts the fires it missed.
    fn fired(&self, at: SystemTime) {
        self.job.record(|| Change::Fired { at });
    }

    fn skip(&self, reason: SkipReason) {
        let skipped = self.job.stats().skip();
        events::execute_skipped(self.job.name(), reason, skipped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(seconds: u64, fixed_delay: bool, run_on_start: bool) -> (Timing, Instant) {
        let start = Instant::now();
        let schedule = Schedule::Every(Duration::from_secs(seconds));
        (
            Timing::new(
                Some(&schedule),
                fixed_delay,
                start,
                run_on_start,
                &Clock::system(),
            ),
            start,
        )
    }

    #[test]
    fn rate_starts_at_start_when_running_on_start() {
        let (mut timing, start) = every(2, false, true);
        assert_eq!(timing.due(), Some(start));
        timing.advance(&Clock::system(), &Reading::default());
        assert_eq!(timing.due(), Some(start + Duration::from_secs(2)));
    }

    #[test]
    fn rate_waits_one_interval_otherwise() {
        let (timing, start) = every(2, false, false);
        assert_eq!(timing.due(), Some(start + Duration::from_secs(2)));
    }

    #[test]
    fn rate_never_drifts() {
        let (mut timing, start) = every(1, false, true);
        for _ in 0..1000 {
            timing.advance(&Clock::system(), &Reading::default());
        }
        assert_eq!(timing.due(), Some(start + Duration::from_secs(1000)));
    }

    #[test]
    fn rate_jumps_over_missed_fires() {
        let (mut timing, start) = every(10, false, true);
        timing.jump_to(start + Duration::from_secs(95), &Clock::system());
        assert_eq!(timing.due(), Some(start + Duration::from_secs(90)));
    }

    #[test]
    fn rate_jumps_exactly_over_billions_of_missed_fires() {
        let start = Instant::now();
        let schedule = Schedule::Every(Duration::from_nanos(1));
        let mut timing = Timing::new(Some(&schedule), false, start, true, &Clock::system());
        timing.jump_to(start + Duration::from_secs(10), &Clock::system());
        assert_eq!(timing.due(), Some(start + Duration::from_secs(10)));
    }

    #[test]
    fn an_interval_beyond_any_lifetime_has_no_next_fire() {
        let (start, clock) = (Instant::now(), Clock::system());
        let schedule = Schedule::Every(Duration::from_secs(u64::MAX));
        for fixed_delay in [false, true] {
            let mut timing = Timing::new(Some(&schedule), fixed_delay, start, true, &clock);
            assert_eq!(timing.due(), Some(start));
            timing.advance(&clock, &Reading::default());
            timing.run_ended(|| start);
            assert_eq!(timing.due(), None);
            let waiting = Timing::new(Some(&schedule), fixed_delay, start, false, &clock);
            assert_eq!(waiting.due(), None);
        }
    }

    #[test]
    fn delay_waits_for_the_run_to_end() {
        let (mut timing, start) = every(10, true, true);
        timing.advance(&Clock::system(), &Reading::default());
        assert_eq!(timing.due(), None);
        timing.run_ended(|| start + Duration::from_secs(3));
        assert_eq!(timing.due(), Some(start + Duration::from_secs(13)));
    }
}
