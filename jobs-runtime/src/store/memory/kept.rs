//! [`Kept`]: one execution as the memory store keeps it, in one cache line
//! when it has one attempt that ran or succeeded (almost every execution):
//! times as milliseconds, the instance as an index into its job's list, and
//! no allocation. Anything else (a failure, a retry, a pending start) keeps
//! its attempts in full.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::execution::{
    from_millis, to_millis, Attempt, Cause, Execution, ExecutionId, ExecutionState, Outcome,
};

/// A time that is not set, as [`Kept`] keeps times.
const UNSET: i64 = i64::MIN;

/// One execution of a job, compact.
#[derive(Debug)]
pub(super) struct Kept {
    pub(super) id: ExecutionId,
    fire_at: i64,
    started_at: i64,
    finished_at: i64,
    cause: Cause,
    pub(super) state: ExecutionState,
    /// Which of its job's instances ran it.
    instance: u16,
    attempts: Attempts,
}

/// An execution's attempts.
#[derive(Debug)]
enum Attempts {
    /// The first attempt alone, started with the execution: running (no
    /// end yet) or succeeded at its end.
    First { finished_at: i64 },
    /// Any attempts.
    Full(Vec<Attempt>),
}

fn millis(time: Option<SystemTime>) -> i64 {
    time.map_or(UNSET, to_millis)
}

fn time(millis: i64) -> Option<SystemTime> {
    (millis != UNSET).then(|| from_millis(millis))
}

impl Kept {
    /// A new execution, its first attempt running if it `started_at`.
    pub(super) fn new(
        id: ExecutionId,
        fire_at: SystemTime,
        cause: Cause,
        instance: u16,
        started_at: Option<SystemTime>,
    ) -> Self {
        Kept {
            id,
            fire_at: to_millis(fire_at),
            started_at: millis(started_at),
            finished_at: UNSET,
            cause,
            state: match started_at {
                Some(_) => ExecutionState::Running,
                None => ExecutionState::Pending,
            },
            instance,
            attempts: match started_at {
                Some(_) => Attempts::First { finished_at: UNSET },
                None => Attempts::Full(Vec::new()),
            },
        }
    }

    pub(super) fn fire_at(&self) -> SystemTime {
        from_millis(self.fire_at)
    }

    /// Attempt `number` started at `at`: the execution runs.
    pub(super) fn attempt_started(&mut self, number: u32, at: SystemTime) {
        self.state = ExecutionState::Running;
        if self.started_at == UNSET {
            self.started_at = to_millis(at);
        }
        put_attempt(
            self.full(),
            Attempt {
                number,
                started_at: from_millis(to_millis(at)),
                finished_at: None,
                outcome: None,
            },
        );
    }

    /// `attempt` ended; with `retrying` the execution waits for the next.
    pub(super) fn attempt_ended(&mut self, mut attempt: Attempt, retrying: bool) {
        if retrying {
            self.state = ExecutionState::Retrying;
        }
        let started_at = to_millis(attempt.started_at);
        let finished_at = millis(attempt.finished_at);
        let first_succeeded = attempt.number == 1
            && attempt.outcome == Some(Outcome::Succeeded)
            && started_at == self.started_at;
        if let (true, Attempts::First { finished_at: end }) = (first_succeeded, &mut self.attempts)
        {
            *end = finished_at;
            return;
        }
        attempt.started_at = from_millis(started_at);
        attempt.finished_at = time(finished_at);
        if let Some(Outcome::TimedOut { limit }) = &mut attempt.outcome {
            *limit = Duration::from_millis(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX));
        }
        put_attempt(self.full(), attempt);
    }

    /// The execution ended in `state` at `at`.
    pub(super) fn finished(&mut self, state: ExecutionState, at: SystemTime) {
        self.state = state;
        self.finished_at = to_millis(at);
    }

    /// Its process died at `at`: a running attempt ends `abandoned`.
    pub(super) fn abandon(&mut self, at: SystemTime) {
        if self.state == ExecutionState::Running {
            let at = from_millis(to_millis(at));
            if let Some(attempt) = self
                .full()
                .last_mut()
                .filter(|attempt| attempt.outcome.is_none())
            {
                attempt.finished_at = Some(at);
                attempt.outcome = Some(Outcome::Abandoned);
            }
        }
        self.finished(ExecutionState::Abandoned, at);
    }

    /// The execution as users read it, of `job`, run by one of `instances`.
    pub(super) fn to_execution(&self, job: &Arc<str>, instances: &[Arc<str>]) -> Execution {
        let attempts = match &self.attempts {
            Attempts::First { finished_at } => vec![self.first_attempt(*finished_at)],
            Attempts::Full(attempts) => attempts.clone(),
        };
        Execution {
            id: self.id,
            job: Arc::clone(job),
            fire_at: from_millis(self.fire_at),
            cause: self.cause,
            state: self.state,
            instance: instances
                .get(usize::from(self.instance))
                .cloned()
                .unwrap_or_else(|| Arc::from("")),
            attempts,
            started_at: time(self.started_at),
            finished_at: time(self.finished_at),
        }
    }

    /// The first attempt of [`Attempts::First`], ended at `finished_at` if
    /// set (then it succeeded).
    fn first_attempt(&self, finished_at: i64) -> Attempt {
        let finished_at = time(finished_at);
        Attempt {
            number: 1,
            started_at: from_millis(self.started_at),
            finished_at,
            outcome: finished_at.map(|_| Outcome::Succeeded),
        }
    }

    /// The attempts in full, made so if they were compact.
    fn full(&mut self) -> &mut Vec<Attempt> {
        if let Attempts::First { finished_at } = self.attempts {
            self.attempts = Attempts::Full(vec![self.first_attempt(finished_at)]);
        }
        match &mut self.attempts {
            Attempts::Full(attempts) => attempts,
            Attempts::First { .. } => unreachable!("made full just now"),
        }
    }
}

/// Puts `attempt` in place of the attempt with its number, or after the
/// others.
fn put_attempt(attempts: &mut Vec<Attempt>, attempt: Attempt) {
    match attempts
        .iter_mut()
        .find(|known| known.number == attempt.number)
    {
        Some(known) => *known = attempt,
        None => attempts.push(attempt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_of_one_successful_attempt_fits_one_cache_line() {
        assert!(
            std::mem::size_of::<Kept>() <= 64,
            "{}",
            std::mem::size_of::<Kept>()
        );
    }
}
