//! How one execution is run: slots, condition, attempts with timeout, panic
//! capture and retries, then stats, log events and the jobs that follow it.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::FutureExt as _;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::engine::active::{ActiveJob, Fire, Won};
use crate::engine::slots::{SlotPermit, SlotPool};
use crate::job::context::{ContextParts, RunToken};
use crate::model::abort::AbortCause;
use crate::model::execution::{Attempt, Cause, ExecutionId, ExecutionState, Outcome};
use crate::model::spec::{Missed, Overlap};
use crate::observe::events::{self, SkipReason};
use crate::observe::stats::Ending;
use crate::store::{Change, Claim, Claimed, NewExecution};
use crate::JobContext;

/// Runs one fire of `job` to its end: run `id` of its scheduler. `token`
/// is the run's token: it fires on stop, or when a newer run replaces this
/// one; an attempt with a timeout gets a child of it.
///
/// From the moment the token fires no execution starts: a run still
/// waiting for its condition or for slots gives up, and is recorded and
/// logged as a skipped fire (`reason = "cancelled"`). A fire already won in
/// a shared store's claim runs at its time on a stop (see [`won_fire`]).
///
/// If the returned future is dropped before it ends (the job was aborted),
/// the execution is recorded and logged as aborted.
pub(crate) async fn run(job: &ActiveJob, fire: &Fire, run: RunOf<'_>) {
    let token = run.token;
    let spec = job.spec();
    // A fire that gives up before it runs: one won already (a continuation
    // claimed with its takeover) ends cancelled, rather than holding its
    // job's limit in the fleet.
    let give_up = |job: &ActiveJob, reason: SkipReason| {
        if let Some(won) = fire.won {
            unclaim(job, won.id);
        }
        skip(job, reason);
    };
    if let Some(condition) = spec.condition() {
        let mut holds = pin!(condition.holds());
        // Most conditions answer at once; only a real wait is marked, and
        // ends when the run's token fires.
        let holds = match holds.as_mut().now_or_never() {
            Some(holds) => Some(holds),
            None => Box::pin(wait(holds, run, Instant::now())).await,
        };
        match holds {
            Some(true) => {}
            Some(false) => return give_up(job, SkipReason::Condition),
            None => return give_up(job, SkipReason::Cancelled),
        }
    }
    let mut queue_time = Duration::ZERO;
    let permit = match &job.settings.pool {
        Some(pool) => {
            let Some((permit, waited)) = take_slots(job, pool, fire.due, run).await else {
                return give_up(job, SkipReason::Cancelled);
            };
            queue_time = waited;
            job.stats().queued(queue_time);
            // Only a wait for slots can make a fire late here: the
            // scheduler handled the lateness it found at the fire.
            if !waited.is_zero()
                && fire.cause == Cause::Schedule
                && fire.due.elapsed() > job.settings.misfire_threshold
            {
                let missed = job.stats().missed(1);
                let policy = spec.missed_policy();
                events::execute_missed(job.name(), 1, missed, policy.as_str());
                // Otherwise this run is the one run of its missed fire.
                if policy == Missed::Skip {
                    return;
                }
            }
            Some(permit)
        }
        None => None,
    };
    // A stop that came while the run was handed out, before its first poll.
    if token.is_cancelled() {
        return give_up(job, SkipReason::Cancelled);
    }
    // With a store that processes share, an execution runs where it is
    // claimed, once its slots are held here (so an instance claims only
    // what fits its free slots); the claim records it, with its id.
    let claimed = if let Some(won) = fire.won {
        Some(won)
    } else if job.settings.claims {
        let Some(claimed) = Box::pin(claim(job, fire, run)).await else {
            return;
        };
        Some(claimed)
    } else {
        None
    };
    // A run that a newer one claimed elsewhere may replace, until it ends.
    let _held = claimed
        .filter(|_| spec.overlap_policy() == Overlap::Replace)
        .map(|claimed| job.replaceable.hold(claimed.id, token.get().clone()));
    execute(job, fire, claimed, queue_time, permit, run).await;
}

/// Records and logs a fire that starts no execution.
fn skip(job: &ActiveJob, reason: SkipReason) {
    let skipped = job.stats().skip();
    events::execute_skipped(job.name(), reason, skipped);
}

/// Ends the execution a claim recorded, `cancelled` before it started:
/// the fire was won here, and does not run.
pub(crate) fn unclaim(job: &ActiveJob, id: ExecutionId) {
    job.record(|| Change::Finished {
        id,
        state: ExecutionState::Cancelled,
        at: job.clock().now(),
    });
}

/// How long a claim refused because the job is busy elsewhere waits
/// before it is made again, under the overlap policy `queue`.
const BUSY_RETRY: Duration = Duration::from_millis(500);

/// The longest wait for a fire the store's clock says is early.
const EARLY_WAIT: Duration = Duration::from_secs(10);

/// Claims `fire` in the shared store: this instance runs it if the claim
/// is won. Otherwise `None`: another instance runs it; or the job is at
/// its limit across the fleet (skipped, or, under `queue` and for a fire
/// of the backlog, claimed again every [`BUSY_RETRY`] until it is not; a
/// fire claimed ahead of its time is claimed again when it is due); or the
/// store could not be asked
/// (then no instance may run it: logged and counted as skipped). A fire
/// early by the store's clock is claimed again when it is due by it.
async fn claim(job: &ActiveJob, fire: &Fire, run: RunOf<'_>) -> Option<Won> {
    let id = job.settings.store.next_id();
    let Some(recorder) = &job.recorder else {
        return Some(Won {
            id,
            lease_token: None,
        });
    };
    let overlap = job.spec().overlap_policy();
    let claim = Claim {
        id,
        fire_at: fire.fire_at,
        cause: fire.cause,
        limit: match overlap {
            Overlap::Replace => None,
            Overlap::Skip | Overlap::Queue => Some(1),
            Overlap::Allow { max_concurrency } => Some(max_concurrency),
        },
        replace: overlap == Overlap::Replace,
    };
    let since = Instant::now();
    loop {
        let again = match recorder.claim(claim).await {
            Ok(Claimed::Won {
                lease_token,
                due_in,
            }) => {
                return won_fire(job, fire, Won { id, lease_token }, due_in, run).await;
            }
            Ok(Claimed::Taken) => {
                let elsewhere = job.stats().elsewhere();
                events::execute_elsewhere(job.name(), fire.fire_at, elsewhere);
                return None;
            }
            Ok(Claimed::Busy) if overlap == Overlap::Queue || fire.queued => BUSY_RETRY,
            // Claimed ahead: busy now, perhaps not when the fire is due.
            Ok(Claimed::Busy) if fire.due > Instant::now() => {
                fire.due.saturating_duration_since(Instant::now())
            }
            Ok(Claimed::Busy) => {
                skip(job, SkipReason::Overlap);
                return None;
            }
            Ok(Claimed::Early { by }) => by.min(EARLY_WAIT),
            Err(error) => {
                events::claim_failed(job.name(), &error);
                skip(job, SkipReason::Unclaimed);
                return None;
            }
        };
        if Box::pin(wait(tokio::time::sleep(again), run, since))
            .await
            .is_none()
        {
            skip(job, SkipReason::Cancelled);
            return None;
        }
    }
}

/// A fire won in the store, before it runs. One won ahead of its time
/// (see [`FleetTimings::claim_lead`](crate::store::FleetTimings::claim_lead))
/// first waits for its due instant here, and for `due_in` from now by the
/// store's clock (at most [`EARLY_WAIT`]). A stop that comes meanwhile does
/// not end the wait: the claim made this the fleet's execution of the fire,
/// which runs at its time as a run in flight at a stop does (its token
/// fired). Then it runs unless a newer run replaced it, or its job (for a
/// scheduled fire) is paused here: it is then recorded `cancelled`, as it
/// is if the wait is dropped (the job was aborted).
async fn won_fire(
    job: &ActiveJob,
    fire: &Fire,
    won: Won,
    due_in: Duration,
    run: RunOf<'_>,
) -> Option<Won> {
    let now = Instant::now();
    let start = now
        .checked_add(due_in.min(EARLY_WAIT))
        .map_or(fire.due, |at| at.max(fire.due));
    if start > now {
        let unstarted = Unstarted { job, id: won.id };
        tokio::time::sleep_until(start).await;
        std::mem::forget(unstarted);
    }
    let reason = if run.token.is_cancelled() && !run.token.job_stopped() {
        SkipReason::Cancelled
    } else if fire.cause == Cause::Schedule && job.is_paused() {
        SkipReason::Paused
    } else {
        return Some(won);
    };
    unclaim(job, won.id);
    skip(job, reason);
    None
}

/// A fire won ahead that has not started: recorded `cancelled` if dropped.
struct Unstarted<'a> {
    job: &'a ActiveJob,
    id: ExecutionId,
}

impl Drop for Unstarted<'_> {
    fn drop(&mut self) {
        unclaim(self.job, self.id);
    }
}

/// Takes the job's slots from `pool` for a run due at `due`: at once when
/// they are free and no run waits, else in line (see
/// [`SlotPool::acquire`]). Returns the slots and the time waited for them;
/// `None` if the run's token fired first.
async fn take_slots(
    job: &ActiveJob,
    pool: &Arc<SlotPool>,
    due: Instant,
    run: RunOf<'_>,
) -> Option<(SlotPermit, Duration)> {
    let spec = job.spec();
    if let Some(permit) = pool.try_acquire(spec.slot_count()) {
        return Some((permit, Duration::ZERO));
    }
    let asked = Instant::now();
    // Boxed: the wait is the uncommon path, and the run's task stays small
    // without it.
    let acquire = pool.acquire(spec.slot_count(), spec.priority_level(), due);
    let permit = Box::pin(wait(acquire, run, asked)).await?;
    Some((permit, asked.elapsed()))
}

/// Waits for `future` as run `id`, shown in the job's stats as waiting
/// since `since`; `None` if the run's token fires first.
async fn wait<F: Future>(future: F, run: RunOf<'_>, since: Instant) -> Option<F::Output> {
    run.waits.mark_waiting(run.id, Some(since));
    let outcome = tokio::select! {
        biased;
        () = run.token.get().cancelled() => None,
        outcome = future => Some(outcome),
    };
    run.waits.mark_waiting(run.id, None);
    outcome
}

/// Runs the attempts of one execution and records how it ended (in the
/// stats, the log and the store), inside the execution's span.
///
/// An `async` block rather than an `async fn`, as [`attempts`] is; and what
/// only the start needs is made in a block of its own, so that the run's
/// future does not keep room for it across the attempts.
#[expect(
    clippy::manual_async_fn,
    reason = "an `async fn` would keep its arguments twice"
)]
fn execute<'a>(
    job: &'a ActiveJob,
    fire: &'a Fire,
    claimed: Option<Won>,
    queue_time: Duration,
    permit: Option<SlotPermit>,
    run: RunOf<'a>,
) -> impl Future<Output = ()> + Send + 'a {
    async move {
        let (id, number, attempts) = {
            let (id, lease_token) = match claimed {
                Some(won) => (won.id, won.lease_token),
                None => (job.settings.store.next_id(), None),
            };
            let started_at = job.clock().now();
            let started = Instant::now();
            let (number, last_completed_at) = job.stats().begin(started_at);
            // The first attempt is recorded with the execution, unless it
            // continues an abandoned one from a later attempt number.
            let first_recorded = fire.first_attempt == 1;
            job.record(|| {
                Change::Started(NewExecution {
                    id,
                    fire_at: fire.fire_at,
                    cause: fire.cause,
                    started_at: first_recorded.then_some(started_at),
                })
            });
            let span = events::execution_span(job.name(), number, id.get());
            span.in_scope(|| events::execute_start(job.name(), number, queue_time));
            // Inside the instrumented future, so an abort is logged in the span.
            let abort_guard = AbortGuard {
                job,
                id,
                number,
                started,
                attempt: fire.first_attempt,
                attempt_started_at: started_at,
            };
            let context = ContextParts {
                execution_id: id,
                lease_token,
                execution_number: number,
                attempt: fire.first_attempt,
                scheduled_at: fire.due,
                fire_at: fire.fire_at,
                cause: fire.cause,
                started_at,
                upstream_completed_at: fire.upstream_completed_at,
                last_completed_at,
            };
            let attempts = attempts(abort_guard, context, first_recorded, run, permit);
            (id, number, attempts.instrument(span))
        };
        let mut attempts = pin!(attempts);
        let ended = attempts.as_mut().await;
        let _entered = attempts.span().enter();
        finish(job, fire, id, number, ended);
    }
}

/// Records and logs how execution `id` (the job's `number`th) of `fire`
/// ended, and starts the jobs that follow a success.
fn finish(job: &ActiveJob, fire: &Fire, id: ExecutionId, number: u64, ended: Ended) {
    let finished_at = ended.finished_at;
    let elapsed = ended.elapsed;
    let state = if ended.retry_cancelled {
        ExecutionState::Cancelled
    } else {
        ended.outcome.final_state()
    };
    job.record(|| Change::Finished {
        id,
        state,
        at: finished_at,
    });
    if ended.outcome.is_success() {
        job.stats().finish(elapsed, finished_at, Ending::Success);
        events::execute_success(job.name(), number, elapsed);
        for dependent in &job.dependents {
            dependent.upstream_completed(finished_at);
        }
    } else {
        let mut error = ended.outcome.error().unwrap_or_default();
        let ending = if ended.retry_cancelled {
            error.push_str(" (retry abandoned: the run was cancelled: the job stopped, or a newer run replaced it)");
            Ending::RetryCancelled(&error)
        } else {
            Ending::Failure(&error)
        };
        let errors = job.stats().finish(elapsed, finished_at, ending);
        events::execute_error(job.name(), number, errors, &ended.outcome, &error);
    }
    if let Some(interval) = fire.interval {
        // In nanoseconds, as `u128`: no product of two durations overflows.
        if elapsed.as_nanos() * 5 > interval.as_nanos() * 4 {
            events::execute_slow(job.name(), number, elapsed, interval);
        }
    }
}

/// How the attempts of one execution ended.
struct Ended {
    /// The last attempt's outcome.
    outcome: Outcome,
    /// Whether a stop ended the wait for a retry: the execution is
    /// cancelled, with no further attempt.
    retry_cancelled: bool,
    /// When the last attempt ended (wall clock).
    finished_at: SystemTime,
    /// The execution's time, from its first attempt's start.
    elapsed: Duration,
}

/// The run an execution belongs to: its token, its id in its job's
/// scheduler, and where it reports its waits.
#[derive(Clone, Copy)]
pub(crate) struct RunOf<'a> {
    pub(crate) token: &'a RunToken,
    pub(crate) id: u32,
    pub(crate) waits: &'a dyn Waits,
}

/// Where a run reports the waits it makes for its condition or for slots,
/// which the job's stats show while they last: its started job.
pub(crate) trait Waits: Send + Sync {
    /// Run `id` waits since `since`; `None`: it waits no more.
    fn mark_waiting(&self, id: u32, since: Option<Instant>);
}

/// Runs the attempts of one execution, with retries, and records each
/// attempt in the store. The guard records the execution as aborted if
/// this future is dropped first.
///
/// The run's slots are given back while it waits to retry, and taken again
/// (in line with other runs) before the next attempt.
///
/// An `async` block rather than an `async fn`: the block keeps its inputs
/// once, where an `async fn` keeps a second copy of its arguments, and a
/// run that ends in one poll is cheaper in a smaller task.
#[expect(
    clippy::manual_async_fn,
    reason = "an `async fn` would keep its arguments twice"
)]
fn attempts<'a>(
    mut guard: AbortGuard<'a>,
    mut context: ContextParts,
    first_recorded: bool,
    run: RunOf<'a>,
    mut permit: Option<SlotPermit>,
) -> impl Future<Output = Ended> + Send + 'a {
    async move {
        // The attempt's number and start are the guard's, the retry policy
        // is read when an attempt fails: each value is kept once.
        let (job, id, token) = (guard.job, guard.id, run.token);
        if !first_recorded {
            job.record(|| Change::AttemptStarted {
                id,
                number: guard.attempt,
                at: guard.attempt_started_at,
            });
        }
        let (outcome, retry_cancelled, finished_at) = loop {
            context.attempt = guard.attempt;
            let outcome = run_attempt(job, &context, token).await;
            let finished_at = job.clock().now();
            let retries = job.spec().retry_policy().retries;
            let retrying =
                !outcome.is_success() && guard.attempt <= retries && !token.is_cancelled();
            job.record(|| Change::AttemptEnded {
                id,
                attempt: Attempt {
                    number: guard.attempt,
                    started_at: guard.attempt_started_at,
                    finished_at: Some(finished_at),
                    outcome: Some(outcome.clone()),
                },
                retrying,
            });
            if !retrying {
                break (outcome, false, finished_at);
            }
            let delay = job.spec().retry_policy().delay(guard.attempt);
            job.stats().retry();
            events::execute_retry(job.name(), guard.number, guard.attempt, delay, &outcome);
            // Boxed, as is every uncommon wait: the run's task stays small.
            if !Box::pin(wait_to_retry(job, delay, run, &mut permit)).await {
                break (outcome, true, job.clock().now());
            }
            guard.attempt += 1;
            guard.attempt_started_at = job.clock().now();
            job.record(|| Change::AttemptStarted {
                id,
                number: guard.attempt,
                at: guard.attempt_started_at,
            });
        };
        let elapsed = guard.started.elapsed();
        std::mem::forget(guard);
        Ended {
            outcome,
            retry_cancelled,
            finished_at,
            elapsed,
        }
    }
}

/// Waits `delay` before a retry without holding slots, then takes them
/// again, as a run due now; `false` if the run was cancelled first.
async fn wait_to_retry(
    job: &ActiveJob,
    delay: Duration,
    run: RunOf<'_>,
    permit: &mut Option<SlotPermit>,
) -> bool {
    let held = permit.take();
    let slots = held.is_some();
    drop(held);
    let token = run.token.get();
    let waited = tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = token.cancelled() => false,
    };
    if !waited {
        return false;
    }
    if let (true, Some(pool)) = (slots, &job.settings.pool) {
        match take_slots(job, pool, Instant::now(), run).await {
            Some((again, _)) => *permit = Some(again),
            None => return false,
        }
    }
    true
}

/// Runs one attempt, whose context is made of `context`, with panic
/// capture and the timeout.
async fn run_attempt(job: &ActiveJob, context: &ContextParts, token: &RunToken) -> Outcome {
    // A timeout cancels the attempt alone, so it needs a token of its own;
    // otherwise the run's token serves. Building the future runs the
    // parameter extractors, which may panic too. The context and the token
    // are made in a block, so the attempt's future keeps no room for them.
    let (timeout, future) = {
        let timeout = job
            .spec()
            .timeout_duration()
            .map(|limit| (limit, Arc::new(token.get().child_token())));
        let token = match &timeout {
            Some((_, own)) => token.with_own(Arc::clone(own)),
            None => token.clone(),
        };
        let built = std::panic::catch_unwind(AssertUnwindSafe(|| {
            job.runnable.execute(JobContext::new(*context, token))
        }));
        match built {
            Ok(future) => (timeout, AssertUnwindSafe(future).catch_unwind()),
            Err(panic) => return panic_outcome(panic),
        }
    };
    let outcome = match timeout {
        Some((limit, own)) => {
            let Ok(outcome) = Box::pin(tokio::time::timeout(limit, future)).await else {
                own.cancel();
                return Outcome::TimedOut { limit };
            };
            outcome
        }
        None => future.await,
    };
    outcome.unwrap_or_else(panic_outcome)
}

/// The outcome of a caught panic: its message, and where it happened when
/// the panic hook saw it.
pub(crate) fn panic_outcome(panic: Box<dyn Any + Send>) -> Outcome {
    let message = panic
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a value that is not a string")
        .to_owned();
    Outcome::Panicked {
        message,
        location: crate::job::panic_hook::take_location(),
    }
}

/// A caught panic as a message: `panicked at src/lib.rs:3:5: boom`.
pub(crate) fn panic_message(panic: Box<dyn Any + Send>) -> String {
    panic_outcome(panic).error().unwrap_or_default()
}

/// Records an execution as aborted if its future is dropped before it ends:
/// its running attempt and the execution end `cancelled`. An execution the
/// instance's self-fence aborted is left as the store has it, for the
/// instance to take back once it reaches the store again (unless another
/// instance took it over first).
struct AbortGuard<'a> {
    job: &'a ActiveJob,
    id: ExecutionId,
    number: u64,
    started: Instant,
    /// The attempt running, and when it started.
    attempt: u32,
    attempt_started_at: SystemTime,
}

impl Drop for AbortGuard<'_> {
    fn drop(&mut self) {
        let job = self.job;
        let cause = job.slot.abort_cause();
        let message = cause.message();
        let now = job.clock().now();
        if cause == AbortCause::Fenced && job.recorder.is_some() {
            job.slot.fenced(self.id);
        } else {
            job.record(|| Change::AttemptEnded {
                id: self.id,
                attempt: Attempt {
                    number: self.attempt,
                    started_at: self.attempt_started_at,
                    finished_at: Some(now),
                    outcome: Some(Outcome::Cancelled),
                },
                retrying: false,
            });
            job.record(|| Change::Finished {
                id: self.id,
                state: ExecutionState::Cancelled,
                at: now,
            });
        }
        let errors = job
            .stats()
            .finish(self.started.elapsed(), now, Ending::Failure(&message));
        events::execute_aborted(job.name(), self.number, errors, &message);
    }
}
