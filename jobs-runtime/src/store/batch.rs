//! What the database stores share. A batch of recorded changes folded
//! into what a database writes: the
//! executions started in the batch as one row each (with the batch's later
//! changes to them folded in), the changes to executions written before,
//! the ended attempts, and per job its latest completion, its latest fire,
//! what its totals gain, and its schedule rows. The SQLite and PostgreSQL
//! writers fold a batch this way and then write each part. And the parts
//! of an attempt's outcome as both keep them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::execution::{to_millis, Attempt, ExecutionId, ExecutionState, Outcome};
use crate::store::{Change, Field, ScheduleRow};

/// An execution started in the batch: its row, written once.
pub(crate) struct NewRow<'a> {
    pub(crate) id: i64,
    pub(crate) job: &'a str,
    pub(crate) fire_at: i64,
    pub(crate) cause: &'static str,
    pub(crate) state: ExecutionState,
    pub(crate) instance: &'a str,
    pub(crate) attempt: u32,
    pub(crate) attempt_started_at: Option<i64>,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
}

/// The batch's changes to an execution written before it: its latest
/// state, the attempt it started last (its number and start), its end.
#[derive(Default)]
pub(crate) struct Update {
    pub(crate) state: Option<ExecutionState>,
    pub(crate) attempt: Option<u32>,
    pub(crate) attempt_started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
}

/// What a batch adds to one job's totals.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) executions: i64,
    pub(crate) failures: i64,
    pub(crate) last_started_at: Option<i64>,
    pub(crate) last_finished_at: Option<i64>,
    pub(crate) last_error: Option<String>,
}

/// A batch of changes, folded. Times are milliseconds.
#[derive(Default)]
pub(crate) struct Batch<'a> {
    pub(crate) rows: Vec<NewRow<'a>>,
    pub(crate) updates: HashMap<i64, Update>,
    /// Ended attempts, in the order they were recorded.
    pub(crate) attempts: Vec<(ExecutionId, &'a Attempt)>,
    /// Each job's latest successful end. These three by job, in the
    /// order of their names, so that writers that touch the same jobs'
    /// rows at once lock them in one order.
    pub(crate) completions: BTreeMap<&'a str, i64>,
    /// Each job's latest fire.
    pub(crate) fires: BTreeMap<&'a str, i64>,
    pub(crate) totals: BTreeMap<&'a str, Totals>,
    /// Schedule rows, in order, each of its job: written whole (`None`),
    /// or only the part a control call changed when the job has a row.
    pub(crate) schedules: Vec<(&'a str, &'a ScheduleRow, Option<Field>)>,
}

impl<'a> Batch<'a> {
    /// Folds `changes`, each with its job and the instance that made it, in
    /// the order they were recorded.
    pub(crate) fn fold(changes: impl IntoIterator<Item = (&'a str, &'a str, &'a Change)>) -> Self {
        let mut batch = Batch::default();
        let mut new: HashMap<ExecutionId, usize> = HashMap::new();
        for (job, instance, change) in changes {
            batch.add(&mut new, job, instance, change);
        }
        batch
    }

    fn add(
        &mut self,
        new: &mut HashMap<ExecutionId, usize>,
        job: &'a str,
        instance: &'a str,
        change: &'a Change,
    ) {
        match change {
            Change::Started(started) => {
                let started_at = started.started_at.map(to_millis);
                let total = self.totals.entry(job).or_default();
                total.last_started_at = total.last_started_at.max(started_at);
                let row = NewRow {
                    id: started.id.0,
                    job,
                    fire_at: to_millis(started.fire_at),
                    cause: started.cause.as_str(),
                    state: if started_at.is_some() {
                        ExecutionState::Running
                    } else {
                        ExecutionState::Pending
                    },
                    instance,
                    attempt: u32::from(started_at.is_some()),
                    attempt_started_at: started_at,
                    started_at,
                    finished_at: None,
                };
                match new.get(&started.id) {
                    Some(&index) => self.rows[index] = row,
                    None => {
                        new.insert(started.id, self.rows.len());
                        self.rows.push(row);
                    }
                }
            }
            Change::AttemptStarted { id, number, at } => {
                let at = to_millis(*at);
                match new.get(id) {
                    Some(&index) => {
                        let row = &mut self.rows[index];
                        row.state = ExecutionState::Running;
                        row.attempt = *number;
                        row.attempt_started_at = Some(at);
                        row.started_at.get_or_insert(at);
                    }
                    None => {
                        let update = self.updates.entry(id.0).or_default();
                        update.state = Some(ExecutionState::Running);
                        update.attempt = Some(*number);
                        update.attempt_started_at = Some(at);
                    }
                }
            }
            Change::AttemptEnded {
                id,
                attempt,
                retrying,
            } => {
                self.attempts.push((*id, attempt));
                let error = attempt.outcome.as_ref().and_then(Outcome::error);
                if let (false, Some(error)) = (*retrying, error) {
                    self.totals.entry(job).or_default().last_error = Some(error);
                }
                if *retrying {
                    match new.get(id) {
                        Some(&index) => self.rows[index].state = ExecutionState::Retrying,
                        None => {
                            self.updates.entry(id.0).or_default().state =
                                Some(ExecutionState::Retrying);
                        }
                    }
                }
            }
            Change::Finished { id, state, at } => {
                let at = to_millis(*at);
                match new.get(id) {
                    Some(&index) => {
                        self.rows[index].state = *state;
                        self.rows[index].finished_at = Some(at);
                    }
                    None => {
                        let update = self.updates.entry(id.0).or_default();
                        update.state = Some(*state);
                        update.finished_at = Some(at);
                    }
                }
                if *state == ExecutionState::Succeeded {
                    let latest = self.completions.entry(job).or_insert(at);
                    *latest = (*latest).max(at);
                }
                if state.is_terminal() {
                    let total = self.totals.entry(job).or_default();
                    total.executions += 1;
                    total.failures += i64::from(*state != ExecutionState::Succeeded);
                    total.last_finished_at = total.last_finished_at.max(Some(at));
                }
            }
            Change::Fired { at } => {
                let latest = self.fires.entry(job).or_insert(i64::MIN);
                *latest = (*latest).max(to_millis(*at));
            }
            Change::Schedule(row) => self.schedules.push((job, row, None)),
            Change::Control { row, changed } => self.schedules.push((job, row, Some(*changed))),
        }
    }
}

/// The columns of a schedule row that a control call's `changed` part
/// sets, as the `SET` list of an upsert whose new row is `excluded`.
pub(crate) fn changed_columns(changed: Field) -> &'static str {
    match changed {
        Field::Paused => "paused = excluded.paused",
        Field::Schedule => {
            "anchor = excluded.anchor, schedule_override = excluded.schedule_override"
        }
    }
}

/// The message, panic location and timeout limit (milliseconds) a store
/// keeps with an attempt's outcome.
pub(crate) fn outcome_parts(outcome: &Outcome) -> (Option<&str>, Option<&str>, Option<i64>) {
    match outcome {
        Outcome::Failed { error, .. } => (Some(error.as_str()), None, None),
        Outcome::Panicked { message, location } => {
            (Some(message.as_str()), location.as_deref(), None)
        }
        Outcome::TimedOut { limit } => (
            None,
            None,
            Some(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX)),
        ),
        _ => (None, None, None),
    }
}

/// The outcome a store kept as its [`kind`](Outcome::kind) with its message
/// (the error or panic message), the panic's location and the timeout's
/// limit in milliseconds; `None` for a kind no outcome has. A failure's
/// causes are kept apart, and added by the store.
pub(crate) fn stored_outcome(
    kind: &str,
    message: Option<String>,
    location: Option<String>,
    limit_ms: Option<i64>,
) -> Option<Outcome> {
    Some(match kind {
        "succeeded" => Outcome::Succeeded,
        "failed" => Outcome::Failed {
            error: message.unwrap_or_default(),
            causes: Vec::new(),
        },
        "panicked" => Outcome::Panicked {
            message: message.unwrap_or_default(),
            location,
        },
        "timed_out" => Outcome::TimedOut {
            limit: Duration::from_millis(u64::try_from(limit_ms.unwrap_or(0)).unwrap_or(0)),
        },
        "cancelled" => Outcome::Cancelled,
        "abandoned" => Outcome::Abandoned,
        _ => return None,
    })
}
