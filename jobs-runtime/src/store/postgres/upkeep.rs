//! The PostgreSQL store's statements that run beside the writer, on the
//! pool: abandoning the executions of dead instances, registering schedule
//! rows, pruning.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use sqlx::{PgConnection, PgPool};

use super::writer::add_totals;
use super::{failed, read};
use crate::execution::{to_millis, Execution, ExecutionId, Outcome, Retention};
use crate::store::batch::Totals;
use crate::store::{Continuation, Rescue, Rescued, ScheduleRow, StoreError};

/// The most executions one pruning statement removes.
const PRUNE_BATCH: i64 = 500;

/// Whose executions [`abandon`] takes.
pub(super) enum Whose<'a> {
    /// At a start: those of `instance` itself (an earlier run of it) and of
    /// every instance that is no longer alive; those of `jobs` are
    /// continued.
    Start {
        instance: &'a str,
        jobs: &'a [Rescue],
    },
    /// While `instance` runs: those of `jobs` that instances no longer
    /// alive left, those stuck on another instance, and those `instance`
    /// released when it fenced itself, skipping rows another instance is
    /// taking at that moment.
    Dead {
        instance: &'a str,
        jobs: &'a [Rescue],
    },
}

/// Marks `abandoned` at `now` the executions `whose` names that are left
/// `pending` (claimed, never started), `running` or `retrying`, ends their
/// running attempts `abandoned`, adds them to their jobs' totals, and
/// returns them. An instance is alive while its heartbeat is younger than
/// `dead_after`, by the database's clock. It also claims, in the same
/// transaction, the continuation of each execution of the jobs `whose`
/// names whose retries allow another attempt, for the instance taking
/// them, with an id from `next_id`.
pub(super) async fn abandon(
    url: &str,
    pool: &PgPool,
    now: SystemTime,
    whose: Whose<'_>,
    dead_after: Duration,
    next_id: &(dyn Fn() -> ExecutionId + Sync),
) -> Result<Vec<Rescued>, StoreError> {
    let failed = |error| failed(url, "recovering abandoned executions", error);
    let now = to_millis(now);
    let mut transaction = pool.begin().await.map_err(failed)?;
    let select = match whose {
        Whose::Start { instance, .. } => sqlx::query_scalar(
            "SELECT id FROM jobs_executions
             WHERE state IN ('pending', 'running', 'retrying')
                 AND (instance = $1 OR instance NOT IN (
                     SELECT id FROM jobs_instances
                     WHERE heartbeat_at > now() - make_interval(secs => $2)))
             ORDER BY id FOR UPDATE",
        )
        .bind(instance)
        .bind(dead_after.as_secs_f64()),
        // A stuck attempt is judged by the database's clock against its
        // start by its instance's: the grace covers their skew.
        Whose::Dead { instance, jobs } => sqlx::query_scalar(
            "SELECT e.id FROM jobs_executions e
             JOIN unnest($3::text[], $4::bigint[]) AS r (job, stuck_ms) ON e.job = r.job
             WHERE e.state IN ('pending', 'running', 'retrying')
                 AND ((e.instance <> $1
                     AND (e.instance NOT IN (
                             SELECT id FROM jobs_instances
                             WHERE heartbeat_at > now() - make_interval(secs => $2))
                         OR (e.state = 'running' AND r.stuck_ms IS NOT NULL
                             AND e.attempt_started_at
                                 < (extract(epoch FROM now()) * 1000)::bigint - r.stuck_ms)))
                     OR (e.instance = $1 AND e.id = ANY($5)))
             ORDER BY e.id FOR UPDATE OF e SKIP LOCKED",
        )
        .bind(instance)
        .bind(dead_after.as_secs_f64())
        .bind(
            jobs.iter()
                .map(|rescue| rescue.job.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            jobs.iter()
                .map(|rescue| {
                    rescue
                        .stuck_after
                        .map(|after| i64::try_from(after.as_millis()).unwrap_or(i64::MAX))
                })
                .collect::<Vec<_>>(),
        )
        .bind(
            jobs.iter()
                .flat_map(|rescue| rescue.released.iter().map(|id| id.0))
                .collect::<Vec<_>>(),
        ),
    };
    let ids: Vec<i64> = select.fetch_all(&mut *transaction).await.map_err(failed)?;
    // The attempt each had reached: for a continuation that never started,
    // the last attempt of the execution it continues.
    let mut reached = HashMap::new();
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
        let rows: Vec<(i64, String, i32)> = sqlx::query_as(
            "UPDATE jobs_executions SET state = 'abandoned', finished_at = $2
             WHERE id = ANY($1) RETURNING id, job, attempt",
        )
        .bind(&ids)
        .bind(now)
        .fetch_all(&mut *transaction)
        .await
        .map_err(failed)?;
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, job, attempt) in &rows {
            *counts.entry(job).or_default() += 1;
            reached.insert(ExecutionId(*id), u32::try_from(*attempt).unwrap_or(0));
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
    let (Whose::Start { instance, jobs } | Whose::Dead { instance, jobs }) = whose;
    let continuations = continue_rescued(
        &mut transaction,
        instance,
        jobs,
        &abandoned,
        &reached,
        next_id,
    )
    .await
    .map_err(failed)?;
    transaction.commit().await.map_err(failed)?;
    Ok(abandoned
        .into_iter()
        .map(|execution| Rescued {
            continuation: continuations.get(&execution.id).copied(),
            execution,
        })
        .collect())
}

/// Claims for `instance` the continuations of the `rescued` executions of
/// `jobs` whose retries allow another attempt: each `pending`, cause
/// `recovery`, at its execution's fire time, with a lease token, and as its
/// attempt the one its execution had `reached`, so that a continuation that
/// never starts is continued in turn from there. Returns them by the
/// execution each continues.
async fn continue_rescued(
    transaction: &mut PgConnection,
    instance: &str,
    jobs: &[Rescue],
    rescued: &[Execution],
    reached: &HashMap<ExecutionId, u32>,
    next_id: &(dyn Fn() -> ExecutionId + Sync),
) -> Result<HashMap<ExecutionId, Continuation>, sqlx::Error> {
    let mut attempts = HashMap::new();
    let (mut ids, mut continued, mut tried) = (Vec::new(), Vec::new(), Vec::new());
    for execution in rescued {
        // Only the jobs asked about are continued here.
        let Some(rescue) = jobs.iter().find(|rescue| rescue.job == *execution.job) else {
            continue;
        };
        let reached = reached.get(&execution.id).copied().unwrap_or(0);
        if let Some(attempt) = execution.continued_attempt(rescue.retries, reached) {
            let id = next_id();
            attempts.insert(id.0, (execution.id, attempt));
            ids.push(id.0);
            continued.push(execution.id.0);
            tried.push(i32::try_from(attempt - 1).unwrap_or(i32::MAX));
        }
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "INSERT INTO jobs_executions
             (id, job, fire_at, cause, state, instance, attempt, lease_token)
         SELECT c.id, e.job, e.fire_at, 'recovery', 'pending', $3, c.tried,
                nextval('jobs_lease_tokens')
         FROM unnest($1::bigint[], $2::bigint[], $4::integer[]) AS c (id, continued, tried)
         JOIN jobs_executions e ON e.id = c.continued
         ORDER BY c.id
         RETURNING id, lease_token",
    )
    .bind(&ids)
    .bind(&continued)
    .bind(instance)
    .bind(&tried)
    .fetch_all(&mut *transaction)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, token)| {
            let (rescued, attempt) = attempts.get(&id)?;
            let continuation = Continuation {
                id: ExecutionId(id),
                attempt: *attempt,
                lease_token: u64::try_from(token).ok(),
            };
            Some((*rescued, continuation))
        })
        .collect())
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
