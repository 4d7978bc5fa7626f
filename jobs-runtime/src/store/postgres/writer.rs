//! The PostgreSQL store's writer task: commits the recorded changes in
//! batches, and keeps them through an outage of the database.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::execution::{to_millis, Attempt, ExecutionId, ExecutionState, Outcome};
use crate::store::batch::{changed_columns, outcome_parts, Batch, Totals, Update};
use crate::store::{Change, Field, ScheduleRow, StoreError};

/// What the writer is asked to do.
pub(super) enum Message {
    /// Write a change of a job, made by an instance.
    Change(Arc<Source>, Change),
    /// Answer once every change before this message is committed.
    Flush(oneshot::Sender<Result<(), StoreError>>),
    /// Commit what came before and stop.
    Close,
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

/// The most changes kept while the database cannot be written: past this,
/// the oldest are dropped (and logged as lost).
const MAX_KEPT: usize = 1_000_000;

/// The first wait before writing again after a failure; it doubles up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two tries to write.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often a batch the database refuses (not a lost connection: a
/// statement error) is tried before its changes are dropped.
const TRIES: u32 = 3;

/// How long a flush waits for the changes before it while the database
/// cannot be written; then it is answered with an error, and the changes
/// are still kept and tried.
const FLUSH_PATIENCE: Duration = Duration::from_secs(10);

/// How long a closing writer goes on trying to write what it keeps.
const CLOSE_PATIENCE: Duration = Duration::from_secs(10);

/// The writer task: commits the changes queued since its last commit, and
/// those that come within [`LINGER`] of the first of them, in one
/// transaction.
///
/// While the database cannot be reached, the changes are kept, in order,
/// and written once it can be again (tried after 100 ms, then twice as long
/// each time, up to every 5 s); claims fail meanwhile, so no new scheduled
/// execution starts. An execution fenced meanwhile (another instance took
/// it over) has its late changes discarded as usual.
pub(super) async fn run(
    url: Arc<str>,
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    fenced: Arc<AtomicU64>,
) {
    let mut writer = Writer {
        url,
        pool,
        fenced,
        kept: VecDeque::new(),
        received: 0,
        written: 0,
        lost: 0,
        flushes: Vec::new(),
        closing: None,
        failing: None,
    };
    loop {
        writer.gather(&mut receiver).await;
        writer.write().await;
        writer.answer_flushes();
        if let Some(since) = writer.closing {
            if writer.kept.is_empty() || since.elapsed() >= CLOSE_PATIENCE {
                writer.give_up();
                return;
            }
        }
    }
}

/// The writer task's state.
struct Writer {
    url: Arc<str>,
    pool: PgPool,
    /// The changes not written yet, oldest first.
    kept: VecDeque<(Arc<Source>, Change)>,
    /// How many changes came, and how many of them are written or lost.
    received: u64,
    written: u64,
    /// How many changes were lost since a flush was last answered.
    lost: u64,
    flushes: Vec<Flush>,
    /// How many late changes of executions taken over elsewhere were
    /// discarded, shared with the store.
    fenced: Arc<AtomicU64>,
    /// Since when the writer is closing.
    closing: Option<Instant>,
    failing: Option<Failing>,
}

/// A flush waiting for the changes that came before it.
struct Flush {
    reply: oneshot::Sender<Result<(), StoreError>>,
    /// How many changes had come when it was asked.
    mark: u64,
    asked: Instant,
}

/// The database fails to take the writes: when to try again, and how.
struct Failing {
    retry_at: Instant,
    backoff: Duration,
    /// How many times in a row the database refused the first batch kept
    /// (a statement error, not a lost connection).
    refused: u32,
    error: String,
}

impl Writer {
    /// Takes the messages that come until there is something to write: the
    /// first change and those within [`LINGER`] of it; while the database
    /// fails, those that come until it is time to try again.
    async fn gather(&mut self, receiver: &mut mpsc::UnboundedReceiver<Message>) {
        if self.closing.is_some() {
            if let Some(failing) = &self.failing {
                tokio::time::sleep_until(failing.retry_at).await;
            }
            // What is still in the channel comes before the close.
            while let Ok(message) = receiver.try_recv() {
                self.take(message);
            }
            return;
        }
        if let Some(retry_at) = self.failing.as_ref().map(|failing| failing.retry_at) {
            while self.closing.is_none() {
                match tokio::time::timeout_at(retry_at, receiver.recv()).await {
                    Ok(Some(message)) => self.take(message),
                    Ok(None) => self.closing = Some(Instant::now()),
                    Err(_) => return,
                }
            }
            return;
        }
        match receiver.recv().await {
            Some(message) => self.take(message),
            None => self.closing = Some(Instant::now()),
        }
        let linger_until = Instant::now() + LINGER;
        while self.closing.is_none() && self.kept.len() < MAX_BATCH {
            let linger = self.flushes.is_empty();
            let next = match receiver.try_recv() {
                Ok(message) => Some(message),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) if linger => {
                    match tokio::time::timeout_at(linger_until, receiver.recv()).await {
                        Ok(Some(message)) => Some(message),
                        Ok(None) => None,
                        Err(_) => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
            };
            match next {
                Some(message) => self.take(message),
                None => self.closing = Some(Instant::now()),
            }
        }
    }

    fn take(&mut self, message: Message) {
        match message {
            Message::Change(source, change) => {
                self.received += 1;
                self.kept.push_back((source, change));
                if self.kept.len() > MAX_KEPT {
                    self.kept.pop_front();
                    self.drop_oldest(1);
                }
            }
            Message::Flush(reply) => self.flushes.push(Flush {
                reply,
                mark: self.received,
                asked: Instant::now(),
            }),
            Message::Close => self.closing = Some(Instant::now()),
        }
    }

    /// Counts `count` changes as lost (they were dropped from the front).
    fn drop_oldest(&mut self, count: usize) {
        if self.lost == 0 {
            tracing::error!(url = %self.url, kept = self.kept.len(), "job store: changes could not be written for too long and are dropped, oldest first");
        }
        self.lost += count as u64;
        self.written += count as u64;
    }

    /// Writes what is kept, a batch per transaction, until it is all
    /// written or the database fails.
    async fn write(&mut self) {
        if self
            .failing
            .as_ref()
            .is_some_and(|failing| Instant::now() < failing.retry_at)
        {
            return;
        }
        while !self.kept.is_empty() {
            let count = self.kept.len().min(MAX_BATCH);
            let batch = &self.kept.make_contiguous()[..count];
            let written = async {
                let mut transaction = self.pool.begin().await?;
                let fenced = write_batch(&mut transaction, batch).await?;
                transaction.commit().await.map(|()| fenced)
            }
            .await;
            match written {
                Ok(fenced) => {
                    if fenced > 0 {
                        self.fenced.fetch_add(fenced as u64, Ordering::Relaxed);
                        crate::events::execution_fenced(fenced);
                    }
                    self.kept.drain(..count);
                    self.written += count as u64;
                    if let Some(failing) = self.failing.take() {
                        tracing::info!(url = %self.url, after = %failing.error, kept = self.kept.len(), "job store: changes are written again");
                    }
                }
                Err(error) => return self.failed(&error, count),
            }
        }
    }

    /// Notes that writing the first `count` changes kept failed with
    /// `error`: tries again later; drops them if the database refused them
    /// [`TRIES`] times (the database is reachable but will not take them).
    fn failed(&mut self, error: &sqlx::Error, count: usize) {
        let refused = refuses(error);
        let mut failing = self.failing.take().unwrap_or(Failing {
            retry_at: Instant::now(),
            backoff: FIRST_BACKOFF / 2,
            refused: 0,
            error: String::new(),
        });
        if failing.error.is_empty() {
            tracing::warn!(url = %self.url, %error, kept = self.kept.len(), "job store: writing changes failed; they are kept and written when the database can take them");
        }
        failing.error = error.to_string();
        failing.refused = if refused { failing.refused + 1 } else { 0 };
        if failing.refused >= TRIES {
            tracing::error!(url = %self.url, %error, changes = count, "job store: the database refused these changes; they are lost");
            self.kept.drain(..count);
            self.drop_oldest(count);
            failing.refused = 0;
        }
        failing.backoff = (failing.backoff * 2).min(MAX_BACKOFF);
        failing.retry_at = Instant::now() + failing.backoff;
        self.failing = Some(failing);
    }

    /// Answers the flushes whose changes are all written, and those that
    /// waited [`FLUSH_PATIENCE`] for a database that fails.
    fn answer_flushes(&mut self) {
        let (written, kept) = (self.written, self.kept.len());
        let mut waiting = Vec::new();
        for flush in std::mem::take(&mut self.flushes) {
            let answer = if flush.mark <= written && self.lost == 0 {
                Ok(())
            } else if flush.mark <= written {
                let lost = std::mem::take(&mut self.lost);
                Err(self.error(format!("writing changes ({lost} lost)")))
            } else if flush.asked.elapsed() >= FLUSH_PATIENCE
                || self.closing.is_some()
                    && self.failing.is_some()
                    && flush.asked.elapsed() >= CLOSE_PATIENCE
            {
                Err(self.error(format!(
                    "writing changes ({kept} not written yet, still kept and tried)"
                )))
            } else {
                waiting.push(flush);
                continue;
            };
            let _ = flush.reply.send(answer);
        }
        self.flushes = waiting;
    }

    fn error(&self, operation: String) -> StoreError {
        let reason = self
            .failing
            .as_ref()
            .map_or("the database refused them", |failing| {
                failing.error.as_str()
            });
        StoreError::Failed {
            url: self.url.to_string(),
            operation,
            source: reason.to_owned().into(),
        }
    }

    /// At the end of a close: what is still kept is lost.
    fn give_up(&mut self) {
        if !self.kept.is_empty() {
            tracing::error!(url = %self.url, changes = self.kept.len(), "job store: closing with changes the database could not take; they are lost");
            let count = self.kept.len();
            self.kept.clear();
            self.drop_oldest(count);
        }
        for flush in std::mem::take(&mut self.flushes) {
            let lost = self.lost;
            let answer = if lost == 0 {
                Ok(())
            } else {
                Err(self.error(format!("writing changes ({lost} lost)")))
            };
            let _ = flush.reply.send(answer);
        }
    }
}

/// Whether `error` is the database refusing a statement (bad data, a
/// broken constraint), which trying again does not mend, rather than a
/// connection that failed or a server that is away.
fn refuses(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            ["22", "23", "42"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

/// An ended attempt to write.
struct AttemptRow<'a> {
    execution_id: i64,
    number: i32,
    started_at: i64,
    finished_at: i64,
    outcome: &'static str,
    message: Option<&'a str>,
    location: Option<&'a str>,
    limit_ms: Option<i64>,
}

/// Writes `changes` in order, inside a transaction: a few array statements
/// whatever the number of changes.
///
/// An execution another instance marked `abandoned` (its instance was
/// taken for dead, and the execution continued elsewhere) is fenced: a late
/// change to it or its attempts, from the instance that ran it, is
/// discarded. Returns how many changed executions were fenced.
async fn write_batch(
    connection: &mut PgConnection,
    changes: &[(Arc<Source>, Change)],
) -> Result<usize, sqlx::Error> {
    let Batch {
        rows,
        updates,
        attempts: ended,
        completions,
        fires,
        totals,
        schedules,
    } = Batch::fold(
        changes
            .iter()
            .map(|(source, change)| (&*source.job, &*source.instance, change)),
    );
    let mut attempts: Vec<AttemptRow<'_>> = Vec::new();
    let mut causes: Vec<(i64, i32, i32, &str)> = Vec::new();
    for (id, attempt) in ended {
        add_attempt(&mut attempts, &mut causes, id, attempt);
    }
    // Before the executions' rows: the fence reads their state as it was
    // before this batch.
    if !attempts.is_empty() {
        sqlx::query(
            "INSERT INTO jobs_attempts
                 (execution_id, number, started_at, finished_at, outcome, message, location,
                  limit_ms)
             SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bigint[], $4::bigint[],
                                  $5::text[], $6::text[], $7::text[], $8::bigint[])
                 AS a (execution_id, number, started_at, finished_at, outcome, message,
                       location, limit_ms)
             WHERE NOT EXISTS (SELECT 1 FROM jobs_executions e
                               WHERE e.id = a.execution_id AND e.state = 'abandoned')
             ON CONFLICT (execution_id, number) DO UPDATE SET
                 started_at = excluded.started_at, finished_at = excluded.finished_at,
                 outcome = excluded.outcome, message = excluded.message,
                 location = excluded.location, limit_ms = excluded.limit_ms",
        )
        .bind(attempts.iter().map(|a| a.execution_id).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.number).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.started_at).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.finished_at).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.outcome).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.message).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.location).collect::<Vec<_>>())
        .bind(attempts.iter().map(|a| a.limit_ms).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    if !causes.is_empty() {
        sqlx::query(
            "INSERT INTO jobs_attempt_causes (execution_id, number, position, message)
             SELECT * FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::text[])
             ON CONFLICT (execution_id, number, position) DO UPDATE SET message = excluded.message",
        )
        .bind(causes.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind(causes.iter().map(|c| c.1).collect::<Vec<_>>())
        .bind(causes.iter().map(|c| c.2).collect::<Vec<_>>())
        .bind(causes.iter().map(|c| c.3).collect::<Vec<_>>())
        .execute(&mut *connection)
        .await?;
    }
    let mut fenced = 0;
    if !rows.is_empty() {
        let written = sqlx::query(
            "INSERT INTO jobs_executions
                 (id, job, fire_at, cause, state, instance, attempt,
                  attempt_started_at, started_at, finished_at)
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[],
                                  $5::text[], $6::text[], $7::integer[], $8::bigint[],
                                  $9::bigint[], $10::bigint[])
             ON CONFLICT (id) DO UPDATE SET
                 state = excluded.state, instance = excluded.instance,
                 attempt = excluded.attempt, attempt_started_at = excluded.attempt_started_at,
                 started_at = excluded.started_at, finished_at = excluded.finished_at
             WHERE jobs_executions.state <> 'abandoned'
             RETURNING id",
        )
        .bind(rows.iter().map(|row| row.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.job).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.fire_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.cause).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|row| row.state.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|row| row.instance).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|row| number(row.attempt))
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|row| row.attempt_started_at)
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|row| row.started_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.finished_at).collect::<Vec<_>>())
        .fetch_all(&mut *connection)
        .await?;
        fenced += rows.len() - written.len();
    }
    if !updates.is_empty() {
        let updates: Vec<(i64, Update)> = updates.into_iter().collect();
        let written = sqlx::query(
            "UPDATE jobs_executions e SET
                 state = coalesce(u.state, e.state),
                 attempt = coalesce(u.attempt, e.attempt),
                 attempt_started_at = coalesce(u.attempt_started_at, e.attempt_started_at),
                 started_at = coalesce(e.started_at, u.attempt_started_at),
                 finished_at = coalesce(u.finished_at, e.finished_at)
             FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::bigint[], $5::bigint[])
                 AS u (id, state, attempt, attempt_started_at, finished_at)
             WHERE e.id = u.id AND e.state <> 'abandoned'
             RETURNING e.id",
        )
        .bind(updates.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(
            updates
                .iter()
                .map(|(_, update)| update.state.map(ExecutionState::as_str))
                .collect::<Vec<_>>(),
        )
        .bind(
            updates
                .iter()
                .map(|(_, update)| update.attempt.map(number))
                .collect::<Vec<_>>(),
        )
        .bind(
            updates
                .iter()
                .map(|(_, update)| update.attempt_started_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            updates
                .iter()
                .map(|(_, update)| update.finished_at)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *connection)
        .await?;
        fenced += updates.len() - written.len();
    }
    write_jobs(connection, &schedules, completions, fires, totals).await?;
    Ok(fenced)
}

/// Writes what a batch changes of its jobs, after their executions: the
/// schedule rows, last completions, last fires and totals. The schedule
/// rows that change are locked first, in the order of their jobs' names,
/// so that the writers of several instances never wait for each other in a
/// cycle, and late in the transaction, so that they hold them briefly; a
/// last fire or success already as late in the database is left alone, as
/// they only move forward (most fires are reported by every instance).
async fn write_jobs(
    connection: &mut PgConnection,
    schedules: &[(&str, &ScheduleRow, Option<Field>)],
    completions: BTreeMap<&str, i64>,
    fires: BTreeMap<&str, i64>,
    totals: BTreeMap<&str, Totals>,
) -> Result<(), sqlx::Error> {
    let (done_jobs, done_at): (Vec<&str>, Vec<i64>) = completions.into_iter().unzip();
    let (fire_jobs, fire_at): (Vec<&str>, Vec<i64>) = fires.into_iter().unzip();
    let written: Vec<&str> = schedules.iter().map(|(job, ..)| *job).collect();
    if !(written.is_empty() && done_jobs.is_empty() && fire_jobs.is_empty()) {
        sqlx::query(
            "SELECT s.job FROM jobs_schedules s
             LEFT JOIN unnest($2::text[], $3::bigint[]) AS d (job, at) ON d.job = s.job
             LEFT JOIN unnest($4::text[], $5::bigint[]) AS f (job, at) ON f.job = s.job
             WHERE s.job = ANY($1)
                 OR (d.at IS NOT NULL AND (s.last_success IS NULL OR s.last_success < d.at))
                 OR (f.at IS NOT NULL AND (s.last_fire IS NULL OR s.last_fire < f.at))
             ORDER BY s.job FOR UPDATE OF s",
        )
        .bind(&written)
        .bind(&done_jobs)
        .bind(&done_at)
        .bind(&fire_jobs)
        .bind(&fire_at)
        .execute(&mut *connection)
        .await?;
    }
    for &(job, row, changed) in schedules {
        write_schedule(connection, job, row, changed).await?;
    }
    if !schedules.is_empty() {
        super::wakeups::notify(connection).await?;
    }
    if !done_jobs.is_empty() {
        sqlx::query(
            "UPDATE jobs_schedules s SET last_success = u.at
             FROM unnest($1::text[], $2::bigint[]) AS u (job, at)
             WHERE s.job = u.job AND (s.last_success IS NULL OR s.last_success < u.at)",
        )
        .bind(&done_jobs)
        .bind(&done_at)
        .execute(&mut *connection)
        .await?;
        // In the order of the jobs' names, as every writer inserts them.
        sqlx::query(
            "INSERT INTO jobs_completions (job, finished_at)
             SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (job) DO UPDATE SET finished_at = excluded.finished_at
             WHERE jobs_completions.finished_at < excluded.finished_at",
        )
        .bind(&done_jobs)
        .bind(&done_at)
        .execute(&mut *connection)
        .await?;
    }
    if !fire_jobs.is_empty() {
        sqlx::query(
            "UPDATE jobs_schedules s SET last_fire = u.at
             FROM unnest($1::text[], $2::bigint[]) AS u (job, at)
             WHERE s.job = u.job AND (s.last_fire IS NULL OR s.last_fire < u.at)",
        )
        .bind(&fire_jobs)
        .bind(&fire_at)
        .execute(&mut *connection)
        .await?;
    }
    if !totals.is_empty() {
        let totals: Vec<(&str, Totals)> = totals.into_iter().collect();
        add_totals(connection, &totals).await?;
    }
    Ok(())
}

/// An attempt number as the database keeps it.
fn number(number: u32) -> i32 {
    i32::try_from(number).unwrap_or(i32::MAX)
}

/// Adds an ended attempt, and its causes when it failed, to the batch.
fn add_attempt<'a>(
    attempts: &mut Vec<AttemptRow<'a>>,
    causes: &mut Vec<(i64, i32, i32, &'a str)>,
    id: ExecutionId,
    attempt: &'a Attempt,
) {
    let outcome = attempt.outcome.as_ref().unwrap_or(&Outcome::Abandoned);
    let (message, location, limit_ms) = outcome_parts(outcome);
    attempts.push(AttemptRow {
        execution_id: id.0,
        number: number(attempt.number),
        started_at: to_millis(attempt.started_at),
        finished_at: to_millis(attempt.finished_at.unwrap_or(attempt.started_at)),
        outcome: outcome.kind(),
        message,
        location,
        limit_ms,
    });
    if let Outcome::Failed { causes: chain, .. } = outcome {
        for (position, cause) in (0..).zip(chain) {
            causes.push((id.0, number(attempt.number), position, cause.as_str()));
        }
    }
}

/// Adds each job's `totals` to its row of `jobs_totals`.
pub(super) async fn add_totals(
    connection: &mut PgConnection,
    totals: &[(&str, Totals)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs_totals
             (job, executions, failures, last_started_at, last_finished_at, last_error)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],
                              $5::bigint[], $6::text[])
         ON CONFLICT (job) DO UPDATE SET
             executions = jobs_totals.executions + excluded.executions,
             failures = jobs_totals.failures + excluded.failures,
             last_started_at = greatest(jobs_totals.last_started_at, excluded.last_started_at),
             last_finished_at = greatest(jobs_totals.last_finished_at, excluded.last_finished_at),
             last_error = coalesce(excluded.last_error, jobs_totals.last_error)",
    )
    .bind(totals.iter().map(|(job, _)| *job).collect::<Vec<_>>())
    .bind(totals.iter().map(|(_, t)| t.executions).collect::<Vec<_>>())
    .bind(totals.iter().map(|(_, t)| t.failures).collect::<Vec<_>>())
    .bind(
        totals
            .iter()
            .map(|(_, t)| t.last_started_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        totals
            .iter()
            .map(|(_, t)| t.last_finished_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        totals
            .iter()
            .map(|(_, t)| t.last_error.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(connection)
    .await?;
    Ok(())
}

/// Writes `job`'s schedule row: inserted whole, or, when the job has one,
/// replaced whole (`changed` is `None`; its last fire and last success only
/// move forward) or in the part a control call `changed`.
async fn write_schedule(
    connection: &mut PgConnection,
    job: &str,
    row: &ScheduleRow,
    changed: Option<Field>,
) -> Result<(), sqlx::Error> {
    let update = match changed {
        None => {
            "anchor = excluded.anchor,
             last_fire = greatest(jobs_schedules.last_fire, excluded.last_fire),
             last_success = greatest(jobs_schedules.last_success, excluded.last_success),
             paused = excluded.paused,
             schedule_override = excluded.schedule_override"
        }
        Some(changed) => changed_columns(changed),
    };
    sqlx::query(&format!(
        "INSERT INTO jobs_schedules
             (job, anchor, last_fire, last_success, paused, schedule_override)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (job) DO UPDATE SET {update}"
    ))
    .bind(job)
    .bind(to_millis(row.anchor))
    .bind(row.last_fire.map(to_millis))
    .bind(row.last_success.map(to_millis))
    .bind(row.paused)
    .bind(&row.schedule_override)
    .execute(connection)
    .await?;
    Ok(())
}
