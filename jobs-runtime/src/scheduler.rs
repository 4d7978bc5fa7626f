//! The loop of one started job: it decides *when* the job fires (its timing,
//! jitter, missed fires) and *whether* a fire runs (pause, overlap policy),
//! then hands each run to the executor.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::future::poll_fn;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::control::{Control, Requests};
use crate::cron::CronSchedule;
use crate::events::{self, SkipReason};
use crate::executor::{self, ActiveJob, Fire};
use crate::spec::{Missed, Overlap};
use crate::Schedule;

/// How far ahead a cron job sleeps at most before it reads the wall clock
/// again, so a jump of the wall clock is noticed within this time.
const CRON_RECHECK: Duration = Duration::from_secs(60);

/// At most this many missed fires are counted one by one; past that the
/// timing jumps to the present.
const MISSED_WALK_LIMIT: u64 = 100_000;

/// When a job's next fire is due.
#[derive(Debug, Clone)]
pub(crate) enum Timing {
    /// Fixed rate: the grid `start + k · interval`.
    Rate { next: Instant, interval: Duration },
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
                    start
                } else {
                    start + *interval
                };
                if fixed_delay {
                    Timing::Delay {
                        next: Some(next),
                        interval: *interval,
                    }
                } else {
                    Timing::Rate {
                        next,
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

    /// The instant the next fire is due, if one is pending.
    pub(crate) fn due(&self) -> Option<Instant> {
        match self {
            Timing::Rate { next, .. } => Some(*next),
            Timing::Delay { next, .. } => *next,
            Timing::Cron { next, .. } => next.map(|(_, at)| at),
            Timing::Unscheduled => None,
        }
    }

    /// Consumes the pending fire and computes the one after it.
    fn advance(&mut self, clock: &Clock) {
        match self {
            Timing::Rate { next, interval } => *next += *interval,
            Timing::Delay { next, .. } => *next = None,
            Timing::Cron { cron, next } => {
                *next = next
                    .and_then(|(wall, _)| cron.next_after(wall))
                    .map(|wall| (wall, clock.instant_at(wall)));
            }
            Timing::Unscheduled => {}
        }
    }

    /// Skips every fire up to `now` without counting them.
    fn jump_to(&mut self, now: Instant, clock: &Clock) {
        match self {
            Timing::Rate { next, interval } => {
                let behind =
                    now.saturating_duration_since(*next).as_nanos() / interval.as_nanos().max(1);
                let steps = u32::try_from(behind).unwrap_or(u32::MAX);
                *next += *interval * steps;
            }
            Timing::Cron { cron, next } => {
                let wall = clock.wall_at(now);
                *next = cron
                    .next_after(wall)
                    .map(|wall| (wall, clock.instant_at(wall)));
            }
            Timing::Delay { .. } | Timing::Unscheduled => {}
        }
    }

    /// Maps a cron fire's wall time to tokio's clock again.
    fn refresh(&mut self, clock: &Clock) {
        if let Timing::Cron {
            next: Some((wall, at)),
            ..
        } = self
        {
            *at = clock.instant_at(*wall);
        }
    }

    /// The interval of an interval schedule, fixed rate or fixed delay.
    fn interval(&self) -> Option<Duration> {
        match self {
            Timing::Rate { interval, .. } | Timing::Delay { interval, .. } => Some(*interval),
            Timing::Cron { .. } | Timing::Unscheduled => None,
        }
    }

    /// A run ended at `now`: a fixed-delay job is due one interval later.
    fn run_ended(&mut self, now: Instant) {
        if let Timing::Delay { next, interval } = self {
            if next.is_none() {
                *next = Some(now + *interval);
            }
        }
    }
}

/// The fire being waited for: when it fires, jitter included, and when
/// the loop wakes for it (earlier for a cron job, which re-reads the wall
/// clock at least every [`CRON_RECHECK`]).
#[derive(Debug, Clone, Copy)]
struct Armed {
    at: Instant,
    wake_at: Instant,
}

impl Armed {
    fn new(at: Instant, timing: &Timing) -> Self {
        let wake_at = match timing {
            Timing::Cron { .. } => at.min(Instant::now() + CRON_RECHECK),
            _ => at,
        };
        Armed { at, wake_at }
    }
}

/// The per-job policies the loop applies.
///
/// The missed-run policy, the misfire threshold and the clock are the
/// executor's too, and are read from the [`ActiveJob`].
pub(crate) struct LoopPolicy {
    pub(crate) overlap: Overlap,
    pub(crate) jitter: Option<Duration>,
    pub(crate) fixed_delay: bool,
}

/// One started job's loop; returns once a stop is requested through
/// `control` and every run has ended. `stop` is the token its runs get,
/// which the stopper fires at the same time.
pub(crate) async fn run(
    job: Arc<ActiveJob>,
    timing: Timing,
    policy: LoopPolicy,
    control: Arc<Control>,
    stop: Arc<CancellationToken>,
) {
    let mut state = LoopState {
        job,
        timing,
        policy,
        control,
        stop,
        // Room for one run from the start: the first fire allocates nothing.
        runs: Runs {
            in_flight: Vec::with_capacity(1),
        },
        queued: None,
        armed: None,
    };
    state.arm();
    let mut deadline = state.armed.map(|armed| armed.wake_at);
    let sleep = sleep_until(deadline.unwrap_or_else(Instant::now));
    tokio::pin!(sleep);
    loop {
        // Resetting a timer takes the timer driver's lock: only do it when
        // the loop waits for a fire and its deadline moved.
        let wake_at = state.armed.map(|armed| armed.wake_at);
        if let Some(at) = wake_at.filter(|_| wake_at != deadline) {
            sleep.as_mut().reset(at);
        }
        deadline = wake_at;
        // The stop comes as a request: waiting for requests takes no lock,
        // where waiting on the stop token would take its lock at every turn.
        tokio::select! {
            biased;
            requests = state.control.next() => {
                if requests.stop {
                    break;
                }
                state.handle(requests);
            }
            () = poll_fn(|cx| state.runs.poll_ended(cx)), if !state.runs.is_empty() => state.run_ended(),
            () = &mut sleep, if state.armed.is_some() => state.wake(),
        }
    }
    state.job.stats.set_next_run(None);
    while !state.runs.is_empty() {
        poll_fn(|cx| state.runs.poll_ended(cx)).await;
    }
}

/// The runs of one job in flight: usually none or one, a few with
/// `overlap = "allow"`. They are polled together by the job's task.
struct Runs {
    in_flight: Vec<InFlight>,
}

struct InFlight {
    /// The run's own token, kept to cancel it (`overlap = "replace"`).
    token: Option<Arc<CancellationToken>>,
    future: BoxFuture<'static, ()>,
}

impl Runs {
    fn len(&self) -> usize {
        self.in_flight.len()
    }

    fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    fn push(&mut self, token: Option<Arc<CancellationToken>>, future: BoxFuture<'static, ()>) {
        self.in_flight.push(InFlight { token, future });
    }

    fn cancel_all(&self) {
        for run in &self.in_flight {
            if let Some(token) = &run.token {
                token.cancel();
            }
        }
    }

    /// Polls every run; completes when one has ended (and is removed).
    fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let ended = self
            .in_flight
            .iter_mut()
            .position(|run| run.future.as_mut().poll(cx).is_ready());
        match ended {
            Some(index) => {
                self.in_flight.swap_remove(index);
                Poll::Ready(())
            }
            None => Poll::Pending,
        }
    }
}

struct LoopState {
    job: Arc<ActiveJob>,
    timing: Timing,
    policy: LoopPolicy,
    control: Arc<Control>,
    stop: Arc<CancellationToken>,
    runs: Runs,
    queued: Option<Fire>,
    armed: Option<Armed>,
}

impl LoopState {
    /// Sets up the wait for the timing's pending fire, with jitter.
    fn arm(&mut self) {
        self.armed = self.timing.due().map(|due| {
            let offset = self.policy.jitter.map_or(Duration::ZERO, |jitter| {
                let nanos = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(fastrand::u64(0..nanos.max(1)))
            });
            Armed::new(due + offset, &self.timing)
        });
        self.job
            .stats
            .set_next_run(self.armed.map(|armed| armed.at));
    }

    fn wake(&mut self) {
        let Some(armed) = self.armed else { return };
        let now = Instant::now();
        if matches!(self.timing, Timing::Cron { .. }) {
            // Read the wall clock again: it may have jumped since the fire
            // was mapped to tokio's clock.
            let offset = armed
                .at
                .saturating_duration_since(self.timing.due().unwrap_or(armed.at));
            self.timing.refresh(&self.job.clock);
            let at = self.timing.due().map_or(armed.at, |due| due + offset);
            self.armed = Some(Armed::new(at, &self.timing));
            if at > now {
                return;
            }
        }
        let (missed, after_due) = self.skip_missed(now);
        // No fire due now: every due fire was missed (a fixed-delay job has
        // none pending after a missed one).
        let Some(armed) = self.armed.filter(|armed| armed.at <= now) else {
            // With `run_once` the job runs once now.
            if let (Some(last_due), Missed::RunOnce) = (missed, self.job.missed) {
                self.fire(
                    Fire {
                        due: last_due,
                        scheduled: true,
                        upstream_completed_at: None,
                        interval: self.timing.interval(),
                    },
                    false,
                );
            }
            self.rearm_if_idle(now);
            return;
        };
        match after_due {
            Some(following) => self.timing = following,
            None => self.timing.advance(&self.job.clock),
        }
        self.arm();
        self.fire(
            Fire {
                due: armed.at,
                scheduled: true,
                upstream_completed_at: None,
                interval: self.timing.interval(),
            },
            false,
        );
        self.rearm_if_idle(now);
    }

    /// A fixed-delay job is due one interval after its last run ended; when
    /// its fire started no run (missed, or skipped while paused), the
    /// interval counts from now instead, so the job keeps firing.
    fn rearm_if_idle(&mut self, now: Instant) {
        if self.runs.is_empty() && self.armed.is_none() {
            self.timing.run_ended(now);
            self.arm();
        }
    }

    /// Consumes the missed fires: those due fires that a later due fire
    /// supersedes, or that are later than the misfire threshold. Counts and
    /// logs them, and returns the last one's due instant; and, when a due
    /// fire is left to run, the timing that follows it (computed here
    /// anyway, so a cron expression is evaluated once per fire).
    fn skip_missed(&mut self, now: Instant) -> (Option<Instant>, Option<Timing>) {
        let clock = self.job.clock;
        let mut missed = 0;
        let mut last_missed = None;
        let mut after_due = None;
        while let Some(due) = self.timing.due().filter(|due| *due <= now) {
            let mut following = self.timing.clone();
            following.advance(&clock);
            let superseded = following.due().is_some_and(|next| next <= now);
            if !superseded && now - due <= self.job.misfire_threshold {
                after_due = Some(following);
                break;
            }
            if missed == MISSED_WALK_LIMIT {
                self.timing.jump_to(now, &clock);
                break;
            }
            missed += 1;
            last_missed = Some(due);
            self.timing = following;
        }
        if missed == 0 {
            return (None, after_due);
        }
        let total = self.job.stats.missed(missed);
        let policy = match self.job.missed {
            Missed::Skip => "skip",
            Missed::RunOnce => "run_once",
        };
        events::execute_missed(&self.job.name, missed, total, policy);
        self.arm();
        (last_missed, after_due)
    }

    fn handle(&mut self, requests: Requests) {
        if let Some(schedule) = requests.schedule {
            let now = Instant::now();
            self.timing = Timing::new(
                schedule.as_ref(),
                self.policy.fixed_delay,
                now,
                false,
                &self.job.clock,
            );
            self.arm();
        }
        if let Some(at) = requests.upstream_completed_at {
            self.fire(
                Fire {
                    due: Instant::now(),
                    scheduled: false,
                    upstream_completed_at: Some(at),
                    interval: self.timing.interval(),
                },
                false,
            );
        }
        for _ in 0..requests.triggers {
            self.fire(
                Fire {
                    due: Instant::now(),
                    scheduled: false,
                    upstream_completed_at: None,
                    interval: self.timing.interval(),
                },
                true,
            );
        }
    }

    /// Applies pause and the overlap policy to one fire; a manual trigger
    /// runs even while the job is paused.
    fn fire(&mut self, fire: Fire, manual: bool) {
        if !manual && self.control.is_paused() {
            self.skip(SkipReason::Paused);
            return;
        }
        let active = self.runs.len();
        match self.policy.overlap {
            _ if active == 0 => self.start(fire),
            Overlap::Skip => self.skip(SkipReason::Overlap),
            Overlap::Allow { max_concurrency } if active >= max_concurrency as usize => {
                self.skip(SkipReason::Overlap)
            }
            Overlap::Allow { .. } => self.start(fire),
            Overlap::Queue => {
                if self.queued.is_some() {
                    self.skip(SkipReason::Overlap);
                } else {
                    self.queued = Some(fire);
                }
            }
            Overlap::Replace => {
                self.runs.cancel_all();
                if self.queued.replace(fire).is_some() {
                    self.skip(SkipReason::Overlap);
                }
            }
        }
    }

    fn skip(&self, reason: SkipReason) {
        let skipped = self.job.stats.skip();
        events::execute_skipped(&self.job.name, reason, skipped);
    }

    fn start(&mut self, fire: Fire) {
        // A run needs a token of its own only to be cancelled alone; else
        // the job's token (fired on stop) serves, and costs no allocation.
        let (token, own) = if self.policy.overlap == Overlap::Replace {
            let token = Arc::new(self.stop.child_token());
            (Arc::clone(&token), Some(token))
        } else {
            (Arc::clone(&self.stop), None)
        };
        let run = executor::run(Arc::clone(&self.job), fire, token);
        self.runs.push(own, Box::pin(run));
    }

    fn run_ended(&mut self) {
        if self.runs.is_empty() {
            self.timing.run_ended(Instant::now());
            if self.armed.is_none() {
                self.arm();
            }
            if let Some(fire) = self.queued.take() {
                self.start(fire);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(seconds: u64, fixed_delay: bool, run_on_start: bool) -> (Timing, Instant) {
        let start = Instant::now();
        let schedule = Schedule::every(Duration::from_secs(seconds));
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
        timing.advance(&Clock::system());
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
            timing.advance(&Clock::system());
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
    fn delay_waits_for_the_run_to_end() {
        let (mut timing, start) = every(10, true, true);
        timing.advance(&Clock::system());
        assert_eq!(timing.due(), None);
        timing.run_ended(start + Duration::from_secs(3));
        assert_eq!(timing.due(), Some(start + Duration::from_secs(13)));
    }
}
