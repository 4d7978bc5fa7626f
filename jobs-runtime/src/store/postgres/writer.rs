//! The PostgreSQL store's writing: the writer task that commits the
//! recorded changes in batches, the claimer task that claims scheduled
//! fires in batches, and the statements that recover, register and prune,
//! which run on the pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{failed, read, DEAD_AFTER};
use crate::execution::{to_millis, Attempt, ExecutionId, ExecutionState, Outcome, Retention};
use crate::store::batch::{outcome_parts, Batch, Totals, Update};
use crate::store::{Change, ScheduleRow, StoreError};

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

/// A claim of a scheduled fire, waiting for its answer.
pub(super) struct Claim {
    pub(super) id: ExecutionId,
    pub(super) source: Arc<Source>,
    /// The fire's time, in milliseconds.
    pub(super) fire_at: i64,
    pub(super) reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// How long the writer waits after a change for more to write with it.
const LINGER: Duration = Duration::from_millis(5);

/// The most changes one transaction writes.
const MAX_BATCH: usize = 8_192;

/// The most claims one statement makes.
const MAX_CLAIMS: usize = 4_096;

/// The most executions one pruning statement removes.
const PRUNE_BATCH: i64 = 500;

/// How often a failed transaction is tried before its changes are dropped.
const TRIES: u32 = 3;

/// The writer task: commits the changes queued since its last commit, and
/// those that come within [`LINGER`] of the first of them, in one
/// transaction.
pub(super) async fn run(
    url: Arc<str>,
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<Message>,
) {
    let mut failure: Option<(String, usize)> = None;
    let mut changes = Vec::new();
    let mut flushes = Vec::new();
    let mut closing = false;
    while !closing {
        let Some(first) = receiver.recv().await else {
            break;
        };
        let linger_until = Instant::now() + LINGER;
        let mut linger = true;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Change(source, change) => changes.push((source, change)),
                Message::Flush(reply) => {
                    flushes.push(reply);
                    linger = false;
                }
                Message::Close => {
                    closing = true;
                    break;
                }
            }
            if changes.len() >= MAX_BATCH {
                break;
            }
            next = match receiver.try_recv() {
                Ok(message) => Some(message),
                Err(_) if linger => tokio::time::timeout_at(linger_until, receiver.recv())
                    .await
                    .ok()
                    .flatten(),
                Err(_) => None,
            };
        }
        commit(&url, &pool, &mut changes, &mut failure).await;
        for reply in flushes.drain(..) {
            let answer = match failure.take() {
                None => Ok(()),
                Some((error, lost)) => Err(StoreError::Failed {
                    url: url.to_string(),
                    operation: format!("writing changes ({lost} lost)"),
                    source: error.into(),
                }),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Writes `changes` in one transaction, trying again a little later if it
/// fails, and empties it.
async fn commit(
    url: &str,
    pool: &PgPool,
    changes: &mut Vec<(Arc<Source>, Change)>,
    failure: &mut Option<(String, usize)>,
) {
    if changes.is_empty() {
        return;
    }
    let mut tries = 0;
    loop {
        tries += 1;
        let written = async {
            let mut transaction = pool.begin().await?;
            write_batch(&mut transaction, changes).await?;
            transaction.commit().await
        }
        .await;
        match written {
            Ok(()) => break,
            Err(error) if tries < TRIES => {
                tracing::warn!(url, %error, changes = changes.len(), "job store: writing changes failed; trying again");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(tries))).await;
            }
            Err(error) => {
                tracing::error!(url, %error, changes = changes.len(), "job store: changes could not be written and are lost");
                let lost = failure.take().map_or(0, |(_, lost)| lost);
                *failure = Some((error.to_string(), lost + changes.len()));
                break;
            }
        }
    }
    changes.clear();
}

/// The claimer task: claims the fires asked for since its last statement,
/// and those asked for while the runs due with them are handed out, in one
/// statement, and answers each.
pub(super) async fn claims(
    url: Arc<str>,
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<Claim>,
) {
    let mut batch = Vec::new();
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        // The runs of one burst ask one after another: let them all ask.
        tokio::task::yield_now().await;
        while batch.len() < MAX_CLAIMS {
            match receiver.try_recv() {
                Ok(claim) => batch.push(claim),
                Err(_) => break,
            }
        }
        match claim(&pool, &batch).await {
            Ok(won) => {
                for claim in batch.drain(..) {
                    let _ = claim.reply.send(Ok(won.contains(&claim.id.0)));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for claim in batch.drain(..) {
                    let _ = claim.reply.send(Err(StoreError::Failed {
                        url: url.to_string(),
                        operation: "claiming fires".to_owned(),
                        source: message.clone().into(),
                    }));
                }
            }
        }
    }
}

/// Claims `batch` in one statement: inserts each fire's execution,
/// `pending`, with a lease token, unless its fire, or a later fire of its
/// job, was claimed already. Returns the ids inserted.
///
/// The rows go in in the order of job and fire time, so that processes
/// claiming the same fires at once wait for each other's keys in one order
/// and never deadlock.
async fn claim(
    pool: &PgPool,
    batch: &[Claim],
) -> Result<std::collections::HashSet<i64>, sqlx::Error> {
    let ids: Vec<i64> = batch.iter().map(|claim| claim.id.0).collect();
    let jobs: Vec<&str> = batch.iter().map(|claim| &*claim.source.job).collect();
    let fires: Vec<i64> = batch.iter().map(|claim| claim.fire_at).collect();
    let instances: Vec<&str> = batch.iter().map(|claim| &*claim.source.instance).collect();
    let won: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO jobs_executions
             (id, job, fire_at, cause, state, instance, attempt, lease_token)
         SELECT c.id, c.job, c.fire_at, 'schedule', 'pending', c.instance, 0,
                nextval('jobs_lease_tokens')
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[])
             AS c (id, job, fire_at, instance)
         WHERE NOT EXISTS (
             SELECT 1 FROM jobs_executions e
             WHERE e.job = c.job AND e.cause = 'schedule' AND e.fire_at >= c.fire_at)
         ORDER BY c.job, c.fire_at
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(&ids)
    .bind(&jobs)
    .bind(&fires)
    .bind(&instances)
    .fetch_all(pool)
    .await?;
    Ok(won.into_iter().collect())
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
/// discarded.
async fn write_batch(
    connection: &mut PgConnection,
    changes: &[(Arc<Source>, Change)],
) -> Result<(), sqlx::Error> {
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
    for (job, row) in schedules {
        write_schedule(connection, job, row).await?;
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
    if fenced > 0 {
        crate::events::execution_fenced(fenced);
    }
    if !completions.is_empty() {
        let (jobs, times): (Vec<&str>, Vec<i64>) = completions.into_iter().unzip();
        sqlx::query(
            "INSERT INTO jobs_completions (job, finished_at)
             SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (job) DO UPDATE SET
                 finished_at = greatest(jobs_completions.finished_at, excluded.finished_at)",
        )
        .bind(&jobs)
        .bind(&times)
        .execute(&mut *connection)
        .await?;
        sqlx::query(
            "UPDATE jobs_schedules s SET last_success = greatest(s.last_success, u.at)
             FROM unnest($1::text[], $2::bigint[]) AS u (job, at) WHERE s.job = u.job",
        )
        .bind(&jobs)
        .bind(&times)
        .execute(&mut *connection)
        .await?;
    }
    if !fires.is_empty() {
        let (jobs, times): (Vec<&str>, Vec<i64>) = fires.into_iter().unzip();
        sqlx::query(
            "UPDATE jobs_schedules s SET last_fire = greatest(s.last_fire, u.at)
             FROM unnest($1::text[], $2::bigint[]) AS u (job, at) WHERE s.job = u.job",
        )
        .bind(&jobs)
        .bind(&times)
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
async fn add_totals(
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

/// Writes `job`'s schedule row whole, inserted or replaced; its last fire
/// and last success only move forward.
async fn write_schedule(
    connection: &mut PgConnection,
    job: &str,
    row: &ScheduleRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs_schedules
             (job, anchor, last_fire, last_success, paused, schedule_override)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (job) DO UPDATE SET
             anchor = excluded.anchor,
             last_fire = greatest(jobs_schedules.last_fire, excluded.last_fire),
             last_success = greatest(jobs_schedules.last_success, excluded.last_success),
             paused = excluded.paused,
             schedule_override = excluded.schedule_override",
    )
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

/// Whose executions [`abandon`] takes.
pub(super) enum Whose<'a> {
    /// At a start: those of `instance` itself (an earlier run of it) and of
    /// every instance that is no longer alive.
    Start { instance: &'a str },
    /// While `instance` runs: those of `jobs` that instances no longer
    /// alive left, skipping rows another instance is taking at that moment.
    Dead {
        instance: &'a str,
        jobs: &'a [String],
    },
}

/// Marks `abandoned` at `now` the executions `whose` names that are left
/// `running` or `retrying`, ends their running attempts `abandoned`, adds
/// them to their jobs' totals, and returns them.
pub(super) async fn abandon(
    url: &str,
    pool: &PgPool,
    now: SystemTime,
    whose: Whose<'_>,
) -> Result<Vec<crate::execution::Execution>, StoreError> {
    let failed = |error| failed(url, "recovering abandoned executions", error);
    let now = to_millis(now);
    let mut transaction = pool.begin().await.map_err(failed)?;
    let select = match whose {
        Whose::Start { instance } => sqlx::query_scalar(
            "SELECT id FROM jobs_executions
             WHERE state IN ('running', 'retrying')
                 AND (instance = $1 OR instance NOT IN (
                     SELECT id FROM jobs_instances
                     WHERE heartbeat_at > now() - make_interval(secs => $2)))
             ORDER BY id FOR UPDATE",
        )
        .bind(instance)
        .bind(DEAD_AFTER.as_secs_f64()),
        Whose::Dead { instance, jobs } => sqlx::query_scalar(
            "SELECT id FROM jobs_executions
             WHERE state IN ('running', 'retrying') AND job = ANY($3)
                 AND instance <> $1 AND instance NOT IN (
                     SELECT id FROM jobs_instances
                     WHERE heartbeat_at > now() - make_interval(secs => $2))
             ORDER BY id FOR UPDATE SKIP LOCKED",
        )
        .bind(instance)
        .bind(DEAD_AFTER.as_secs_f64())
        .bind(jobs),
    };
    let ids: Vec<i64> = select.fetch_all(&mut *transaction).await.map_err(failed)?;
    if !ids.is_empty() {
        sqlx::query(
            "INSERT INTO jobs_attempts (execution_id, number, started_at, finished_at, outcome)
             SELECT id, attempt, attempt_started_at, $2, 'abandoned' FROM jobs_executions
             WHERE id = ANY($1) AND state = 'running' AND attempt > 0
                 AND attempt_started_at IS NOT NULL
             ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(failed)?;
        let jobs: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs_executions SET state = 'abandoned', finished_at = $2
             WHERE id = ANY($1) RETURNING job",
        )
        .bind(&ids)
        .bind(now)
        .fetch_all(&mut *transaction)
        .await
        .map_err(failed)?;
        let mut counts: HashMap<&str, i64> = HashMap::new();
        for job in &jobs {
            *counts.entry(job).or_default() += 1;
        }
        let totals: Vec<(&str, Totals)> = counts
            .into_iter()
            .map(|(job, count)| {
                let total = Totals {
                    executions: count,
                    failures: count,
                    last_finished_at: Some(now),
                    last_error: Outcome::Abandoned.error(),
                    ..Totals::default()
                };
                (job, total)
            })
            .collect();
        add_totals(&mut transaction, &totals)
            .await
            .map_err(failed)?;
    }
    let abandoned = read::executions_by_id(&mut transaction, &ids)
        .await
        .map_err(failed)?;
    transaction.commit().await.map_err(failed)?;
    Ok(abandoned)
}

/// Inserts the rows whose jobs have none; returns the rows the others
/// already had.
pub(super) async fn register(
    url: &str,
    pool: &PgPool,
    rows: &[ScheduleRow],
) -> Result<Vec<ScheduleRow>, StoreError> {
    let failed = |error| failed(url, "registering schedule rows", error);
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut connection = pool.acquire().await.map_err(failed)?;
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO jobs_schedules
             (job, anchor, last_fire, last_success, paused, schedule_override)
         SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],
                              $5::boolean[], $6::text[])
         ON CONFLICT (job) DO NOTHING
         RETURNING job",
    )
    .bind(rows.iter().map(|row| row.job.as_str()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|row| to_millis(row.anchor))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|row| row.last_fire.map(to_millis))
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|row| row.last_success.map(to_millis))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|row| row.paused).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|row| row.schedule_override.as_deref())
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(failed)?;
    let others: Vec<String> = rows
        .iter()
        .map(|row| row.job.clone())
        .filter(|job| !inserted.contains(job))
        .collect();
    read::schedules_of(&mut connection, &others)
        .await
        .map_err(failed)
}

/// Removes `job`'s ended executions that `retention` does not keep, as of
/// `now`, a batch at a time; returns how many went.
pub(super) async fn prune(
    pool: &PgPool,
    job: &str,
    retention: Retention,
    now: SystemTime,
) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    if let Some(cutoff) = now.checked_sub(retention.keep_for).map(to_millis) {
        loop {
            let batch = remove(
                pool,
                "SELECT id FROM jobs_executions
                 WHERE job = $1 AND fire_at < $2
                     AND state NOT IN ('pending', 'running', 'retrying')
                 LIMIT $3",
                job,
                cutoff,
            )
            .await?;
            removed += batch;
            if batch < PRUNE_BATCH as u64 {
                break;
            }
        }
    }
    let keep = i64::try_from(retention.keep_last).unwrap_or(i64::MAX);
    loop {
        let batch = remove(
            pool,
            "SELECT id FROM jobs_executions
             WHERE job = $1 AND state NOT IN ('pending', 'running', 'retrying')
             ORDER BY id DESC OFFSET $2 LIMIT $3",
            job,
            keep,
        )
        .await?;
        removed += batch;
        if batch < PRUNE_BATCH as u64 {
            break;
        }
    }
    Ok(removed)
}

/// Removes, in one transaction, the executions (with their attempts) that
/// `select` picks for `job` and `value`, at most [`PRUNE_BATCH`].
async fn remove(pool: &PgPool, select: &str, job: &str, value: i64) -> Result<u64, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(select)
        .bind(job)
        .bind(value)
        .bind(PRUNE_BATCH)
        .fetch_all(&mut *transaction)
        .await?;
    if !ids.is_empty() {
        for table in ["jobs_attempt_causes", "jobs_attempts"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE execution_id = ANY($1)"))
                .bind(&ids)
                .execute(&mut *transaction)
                .await?;
        }
        sqlx::query("DELETE FROM jobs_executions WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    Ok(ids.len() as u64)
}
