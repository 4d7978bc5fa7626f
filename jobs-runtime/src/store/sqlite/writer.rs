//! The writer thread: the one connection that writes, committing every
//! change queued since its last commit in one transaction.

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::read;
use crate::execution::{to_millis, Attempt, ExecutionId, ExecutionState, Outcome, Retention};
use crate::store::batch::{changed_columns, outcome_parts, Batch, Totals};
use crate::store::{Change, Field, Recovered, Rescued, ScheduleRow, StoreError};

/// What the writer is asked to do, in the order asked.
pub(super) enum Message {
    /// Write a change of a job, made by an instance.
    Change(Arc<Source>, Change),
    /// Answer once every change before this message is committed.
    Flush(oneshot::Sender<Result<(), StoreError>>),
    /// Mark the executions left running as abandoned.
    Recover {
        now: SystemTime,
        reply: oneshot::Sender<Result<Recovered, StoreError>>,
    },
    /// Insert the schedule rows whose jobs have none; answer with the
    /// rows those jobs already had.
    Register {
        rows: Vec<ScheduleRow>,
        reply: oneshot::Sender<Result<Vec<ScheduleRow>, StoreError>>,
    },
    /// Commit what came before and stop.
    Close,
    /// Remove the ended executions of `job` that the retention does not
    /// keep, a batch at a time.
    Prune {
        job: String,
        retention: Retention,
        now: SystemTime,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// Who recorded a change: the job, and the instance that runs it.
pub(super) struct Source {
    pub(super) job: Box<str>,
    pub(super) instance: Box<str>,
}

/// How long the writer waits after a change for more to write with it.
const LINGER: Duration = Duration::from_millis(5);

/// The most changes one transaction writes.
const MAX_BATCH: usize = 8_192;

/// The most executions one pruning transaction removes.
const PRUNE_BATCH: i64 = 500;

/// How often a failed transaction is tried before its changes are dropped.
const TRIES: u32 = 3;

/// Starts the writer thread on `connection`.
pub(super) fn spawn(
    url: Arc<str>,
    connection: Connection,
) -> Result<(mpsc::Sender<Message>, JoinHandle<()>), StoreError> {
    let (sender, receiver) = mpsc::channel();
    let writer = Writer {
        url: url.clone(),
        connection,
        failure: None,
        prunes: VecDeque::new(),
    };
    let thread = std::thread::Builder::new()
        .name("jobs-store-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|error| StoreError::Open {
            url: url.to_string(),
            problem: format!("could not start the writer thread: {error}"),
        })?;
    Ok((sender, thread))
}

struct Writer {
    url: Arc<str>,
    connection: Connection,
    /// What kept changes from being written since the last flush, and how
    /// many were lost.
    failure: Option<(String, usize)>,
    prunes: VecDeque<Prune>,
}

/// A pruning of one job in progress.
struct Prune {
    job: String,
    /// Executions due before this (milliseconds) go; `None` when the
    /// retention reaches back before the earliest time.
    cutoff: Option<i64>,
    keep_last: usize,
    reply: oneshot::Sender<Result<u64, StoreError>>,
    removed: u64,
    /// Whether the executions past the cutoff are all gone, so the surplus
    /// over `keep_last` is removed next.
    aged_out: bool,
}

impl Writer {
    fn run(mut self, receiver: Receiver<Message>) {
        let mut changes = Vec::new();
        let mut flushes = Vec::new();
        loop {
            let first = if self.prunes.is_empty() {
                match receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => break,
                }
            } else {
                match receiver.try_recv() {
                    Ok(message) => Some(message),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => break,
                }
            };
            let mut other = None;
            let mut next = first;
            // Changes that come within LINGER of the first go in its
            // transaction: a burst of fires is one commit, not one per few
            // fires competing with the fires for the cores. A flush is
            // answered without waiting.
            let linger_until = Instant::now() + LINGER;
            let mut linger = true;
            while let Some(message) = next.take() {
                match message {
                    Message::Change(source, change) => changes.push((source, change)),
                    Message::Flush(reply) => {
                        flushes.push(reply);
                        linger = false;
                    }
                    message => {
                        other = Some(message);
                        break;
                    }
                }
                if changes.len() < MAX_BATCH {
                    let wait = match linger {
                        true => linger_until.saturating_duration_since(Instant::now()),
                        false => Duration::ZERO,
                    };
                    next = receiver.recv_timeout(wait).ok();
                }
            }
            self.commit(&mut changes);
            for reply in flushes.drain(..) {
                let _ = reply.send(self.flushed());
            }
            match other {
                Some(Message::Recover { now, reply }) => {
                    let _ = reply.send(self.recover(now));
                }
                Some(Message::Register { rows, reply }) => {
                    let _ = reply.send(self.register(&rows));
                }
                Some(Message::Prune {
                    job,
                    retention,
                    now,
                    reply,
                }) => {
                    let cutoff = now.checked_sub(retention.keep_for).map(to_millis);
                    self.prunes.push_back(Prune {
                        job,
                        cutoff,
                        keep_last: retention.keep_last,
                        reply,
                        removed: 0,
                        aged_out: cutoff.is_none(),
                    });
                }
                Some(Message::Close) => break,
                _ => {}
            }
            self.prune_batch();
        }
        self.commit(&mut changes);
    }

    /// What a flush answers: the failure since the last flush, if any.
    fn flushed(&mut self) -> Result<(), StoreError> {
        match self.failure.take() {
            None => Ok(()),
            Some((error, lost)) => Err(StoreError::Failed {
                url: self.url.to_string(),
                operation: format!("writing changes ({lost} lost)"),
                source: error.into(),
            }),
        }
    }

    /// Writes `changes` in one transaction, trying again a little later if
    /// it fails, and empties it.
    fn commit(&mut self, changes: &mut Vec<(Arc<Source>, Change)>) {
        if changes.is_empty() {
            return;
        }
        let mut tries = 0;
        loop {
            tries += 1;
            match self.write(changes) {
                Ok(()) => break,
                Err(error) if tries < TRIES => {
                    tracing::warn!(url = %self.url, %error, changes = changes.len(), "job store: writing changes failed; trying again");
                    std::thread::sleep(Duration::from_millis(50 * u64::from(tries)));
                }
                Err(error) => {
                    tracing::error!(url = %self.url, %error, changes = changes.len(), "job store: changes could not be written and are lost");
                    let lost = self.failure.take().map_or(0, |(_, lost)| lost);
                    self.failure = Some((error.to_string(), lost + changes.len()));
                    break;
                }
            }
        }
        changes.clear();
    }

    fn write(&mut self, changes: &[(Arc<Source>, Change)]) -> rusqlite::Result<()> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_batch(&transaction, changes)?;
        transaction.commit()
    }

    fn recover(&mut self, now: SystemTime) -> Result<Recovered, StoreError> {
        let url = self.url.clone();
        let failed = |error| super::failed(&url, "recovering abandoned executions", error);
        let now = to_millis(now);
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let ids: Vec<i64> = transaction
            .prepare(
                "SELECT id FROM jobs_executions WHERE state IN ('running', 'retrying') ORDER BY id",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(failed)?;
        let mut abandoned = Vec::with_capacity(ids.len());
        for &id in &ids {
            transaction
                .execute(
                    "INSERT OR IGNORE INTO jobs_attempts
                         (execution_id, number, started_at, finished_at, outcome)
                     SELECT id, attempt, attempt_started_at, ?2, 'abandoned'
                     FROM jobs_executions
                     WHERE id = ?1 AND state = 'running' AND attempt > 0
                         AND attempt_started_at IS NOT NULL",
                    (id, now),
                )
                .and_then(|_| {
                    transaction.execute(
                        "UPDATE jobs_executions SET state = 'abandoned', finished_at = ?2 WHERE id = ?1",
                        (id, now),
                    )
                })
                .map_err(failed)?;
            if let Some(execution) =
                read::execution(&transaction, ExecutionId(id)).map_err(failed)?
            {
                let total = Totals {
                    executions: 1,
                    failures: 1,
                    last_finished_at: Some(now),
                    last_error: Outcome::Abandoned.error(),
                    ..Totals::default()
                };
                add_totals(&transaction, &execution.job, &total).map_err(failed)?;
                abandoned.push(execution);
            }
        }
        let schedules = read::schedules(&transaction).map_err(failed)?;
        transaction.commit().map_err(failed)?;
        Ok(Recovered {
            abandoned: abandoned.into_iter().map(Rescued::from).collect(),
            schedules,
        })
    }

    fn register(&mut self, rows: &[ScheduleRow]) -> Result<Vec<ScheduleRow>, StoreError> {
        let url = self.url.clone();
        let failed = |error| super::failed(&url, "registering schedule rows", error);
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        let mut kept = Vec::new();
        for row in rows {
            match read::schedule(&transaction, &row.job).map_err(failed)? {
                Some(existing) => kept.push(existing),
                None => insert_schedule(&transaction, &row.job, row, None).map_err(failed)?,
            }
        }
        transaction.commit().map_err(failed)?;
        Ok(kept)
    }

    /// Runs one batch of the oldest pruning asked for, and answers it when
    /// it is done.
    fn prune_batch(&mut self) {
        let Some(mut prune) = self.prunes.pop_front() else {
            return;
        };
        match prune_step(&mut self.connection, &mut prune) {
            Ok(false) => self.prunes.push_front(prune),
            Ok(true) => {
                let _ = prune.reply.send(Ok(prune.removed));
            }
            Err(error) => {
                let _ =
                    prune
                        .reply
                        .send(Err(super::failed(&self.url, "pruning executions", error)));
            }
        }
    }
}

/// Writes `changes`, each of its job, folded into a [`Batch`], on
/// `connection` (inside a transaction): a new execution's later changes are
/// folded into its row before it is written, so a whole no-op execution is
/// one row, one attempt and a share of one completion.
fn write_batch(connection: &Connection, changes: &[(Arc<Source>, Change)]) -> rusqlite::Result<()> {
    let batch = Batch::fold(
        changes
            .iter()
            .map(|(source, change)| (&*source.job, &*source.instance, change)),
    );
    for &(job, row, changed) in &batch.schedules {
        insert_schedule(connection, job, row, changed)?;
    }
    let mut update = connection.prepare_cached(
        "UPDATE jobs_executions SET
             state = coalesce(?2, state),
             attempt = coalesce(?3, attempt),
             attempt_started_at = coalesce(?4, attempt_started_at),
             started_at = coalesce(started_at, ?4),
             finished_at = coalesce(?5, finished_at)
         WHERE id = ?1",
    )?;
    for (id, change) in &batch.updates {
        update.execute((
            id,
            change.state.map(ExecutionState::as_str),
            change.attempt,
            change.attempt_started_at,
            change.finished_at,
        ))?;
    }
    for (id, attempt) in &batch.attempts {
        insert_attempt(connection, *id, attempt)?;
    }
    let mut insert = connection.prepare_cached(
        "INSERT OR REPLACE INTO jobs_executions
             (id, job, fire_at, cause, state, instance, attempt,
              attempt_started_at, started_at, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for row in &batch.rows {
        insert.execute((
            row.id,
            row.job,
            row.fire_at,
            row.cause,
            row.state.as_str(),
            row.instance,
            row.attempt,
            row.attempt_started_at,
            row.started_at,
            row.finished_at,
        ))?;
    }
    let mut complete = connection.prepare_cached(
        "INSERT INTO jobs_completions (job, finished_at) VALUES (?1, ?2)
         ON CONFLICT (job) DO UPDATE SET finished_at = max(finished_at, excluded.finished_at)",
    )?;
    let mut succeeded = connection.prepare_cached(
        "UPDATE jobs_schedules SET last_success = max(coalesce(last_success, ?2), ?2)
         WHERE job = ?1",
    )?;
    for (job, at) in &batch.completions {
        complete.execute((job, at))?;
        succeeded.execute((job, at))?;
    }
    let mut fired = connection.prepare_cached(
        "UPDATE jobs_schedules SET last_fire = max(coalesce(last_fire, ?2), ?2) WHERE job = ?1",
    )?;
    for (job, at) in &batch.fires {
        fired.execute((job, at))?;
    }
    for (job, total) in &batch.totals {
        add_totals(connection, job, total)?;
    }
    Ok(())
}

/// Adds `total` to `job`'s row of `jobs_totals`.
fn add_totals(connection: &Connection, job: &str, total: &Totals) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO jobs_totals
                 (job, executions, failures, last_started_at, last_finished_at, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (job) DO UPDATE SET
                 executions = executions + excluded.executions,
                 failures = failures + excluded.failures,
                 last_started_at = max(coalesce(last_started_at, excluded.last_started_at),
                                       coalesce(excluded.last_started_at, last_started_at)),
                 last_finished_at = max(coalesce(last_finished_at, excluded.last_finished_at),
                                        coalesce(excluded.last_finished_at, last_finished_at)),
                 last_error = coalesce(excluded.last_error, last_error)",
        )?
        .execute((
            job,
            total.executions,
            total.failures,
            total.last_started_at,
            total.last_finished_at,
            &total.last_error,
        ))?;
    Ok(())
}

/// Writes an ended attempt, with its causes when it failed.
fn insert_attempt(
    connection: &Connection,
    id: ExecutionId,
    attempt: &Attempt,
) -> rusqlite::Result<()> {
    let outcome = attempt.outcome.as_ref().unwrap_or(&Outcome::Abandoned);
    let (message, location, limit) = outcome_parts(outcome);
    let finished_at = attempt.finished_at.unwrap_or(attempt.started_at);
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO jobs_attempts
                 (execution_id, number, started_at, finished_at, outcome,
                  message, location, limit_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute((
            id.0,
            attempt.number,
            to_millis(attempt.started_at),
            to_millis(finished_at),
            outcome.kind(),
            message,
            location,
            limit,
        ))?;
    if let Outcome::Failed { causes, .. } = outcome {
        let mut statement = connection.prepare_cached(
            "INSERT OR REPLACE INTO jobs_attempt_causes (execution_id, number, position, message)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (position, cause) in (0_i64..).zip(causes) {
            statement.execute((id.0, attempt.number, position, cause))?;
        }
    }
    Ok(())
}

/// Removes one batch for `prune` in one transaction; true when the pruning
/// is done.
fn prune_step(connection: &mut Connection, prune: &mut Prune) -> rusqlite::Result<bool> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Remember the highest id, so that ids are never given twice once the
    // executions that had them are gone.
    transaction.execute(
        "INSERT INTO jobs_meta (key, value)
         SELECT 'last_id', last FROM (SELECT max(id) AS last FROM jobs_executions)
         WHERE last IS NOT NULL
         ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        [],
    )?;
    let ids: Vec<i64> = match (prune.aged_out, prune.cutoff) {
        (false, Some(cutoff)) => {
            let mut statement = transaction.prepare_cached(
                "SELECT id FROM jobs_executions
                 WHERE job = ?1 AND fire_at < ?2
                     AND state NOT IN ('pending', 'running', 'retrying')
                 LIMIT ?3",
            )?;
            let rows = statement.query_map((&prune.job, cutoff, PRUNE_BATCH), |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        }
        _ => {
            let mut statement = transaction.prepare_cached(
                "SELECT id FROM jobs_executions
                 WHERE job = ?1 AND state NOT IN ('pending', 'running', 'retrying')
                 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
            )?;
            let keep = i64::try_from(prune.keep_last).unwrap_or(i64::MAX);
            let rows = statement.query_map((&prune.job, PRUNE_BATCH, keep), |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        }
    };
    for &id in &ids {
        transaction
            .prepare_cached("DELETE FROM jobs_attempt_causes WHERE execution_id = ?1")?
            .execute([id])?;
        transaction
            .prepare_cached("DELETE FROM jobs_attempts WHERE execution_id = ?1")?
            .execute([id])?;
        transaction
            .prepare_cached("DELETE FROM jobs_executions WHERE id = ?1")?
            .execute([id])?;
    }
    transaction.commit()?;
    prune.removed += ids.len() as u64;
    let full = ids.len() as i64 == PRUNE_BATCH;
    if full {
        return Ok(false);
    }
    if prune.aged_out {
        return Ok(true);
    }
    prune.aged_out = true;
    Ok(false)
}

/// Writes `job`'s schedule row: inserted whole, or, when the job has one,
/// replaced whole (`changed` is `None`; its last fire and last success only
/// move forward) or in the part a control call `changed`.
fn insert_schedule(
    connection: &Connection,
    job: &str,
    row: &ScheduleRow,
    changed: Option<Field>,
) -> rusqlite::Result<()> {
    let update = match changed {
        None => {
            "anchor = excluded.anchor,
             last_fire = max(coalesce(last_fire, excluded.last_fire),
                             coalesce(excluded.last_fire, last_fire)),
             last_success = max(coalesce(last_success, excluded.last_success),
                                coalesce(excluded.last_success, last_success)),
             paused = excluded.paused,
             schedule_override = excluded.schedule_override"
        }
        Some(changed) => changed_columns(changed),
    };
    connection
        .prepare_cached(&format!(
            "INSERT INTO jobs_schedules
                 (job, anchor, last_fire, last_success, paused, schedule_override)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (job) DO UPDATE SET {update}"
        ))?
        .execute((
            job,
            to_millis(row.anchor),
            row.last_fire.map(to_millis),
            row.last_success.map(to_millis),
            row.paused,
            &row.schedule_override,
        ))?;
    Ok(())
}
