//! Reading executions, schedule rows, completions and totals back from the
//! database, on the pool or inside a transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, QueryBuilder, Row};

use crate::execution::{
    from_millis, to_millis, Attempt, Execution, ExecutionFilter, ExecutionId, ExecutionState,
    Outcome,
};
use crate::store::batch::stored_outcome;
use crate::store::{Instance, JobTotals, ScheduleRow};

const EXECUTION_COLUMNS: &str = "id, job, fire_at, cause, state, instance, attempt, \
     attempt_started_at, started_at, finished_at";

const SCHEDULE_COLUMNS: &str = "job, anchor, last_fire, last_success, paused, schedule_override";

/// What `job`'s executions add up to; zeros for a job with none.
pub(super) async fn totals(pool: &PgPool, job: &str) -> Result<JobTotals, sqlx::Error> {
    let row = sqlx::query(
        "SELECT executions, failures, last_started_at, last_finished_at, last_error
         FROM jobs_totals WHERE job = $1",
    )
    .bind(job)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(JobTotals::default());
    };
    Ok(JobTotals {
        executions: super::count(&row, 0)?,
        failures: super::count(&row, 1)?,
        last_started_at: row.try_get::<Option<i64>, _>(2)?.map(from_millis),
        last_finished_at: row.try_get::<Option<i64>, _>(3)?.map(from_millis),
        last_error: row.try_get(4)?,
    })
}

/// When `job`'s latest successful execution finished.
pub(super) async fn last_completed_at(
    pool: &PgPool,
    job: &str,
) -> Result<Option<SystemTime>, sqlx::Error> {
    let millis: Option<i64> =
        sqlx::query_scalar("SELECT finished_at FROM jobs_completions WHERE job = $1")
            .bind(job)
            .fetch_optional(pool)
            .await?;
    Ok(millis.map(from_millis))
}

/// Every instance, by name, alive or not.
pub(super) async fn instances(
    pool: &PgPool,
    dead_after: Duration,
) -> Result<Vec<Instance>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, host, pid, version,
                (extract(epoch FROM started_at) * 1000)::bigint,
                (extract(epoch FROM heartbeat_at) * 1000)::bigint,
                heartbeat_at > now() - make_interval(secs => $1),
                slots, clock_offset_ms
         FROM jobs_instances ORDER BY id",
    )
    .bind(dead_after.as_secs_f64())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Instance {
                id: row.try_get(0)?,
                host: row.try_get(1)?,
                pid: u32::try_from(row.try_get::<i64, _>(2)?).unwrap_or(0),
                version: row.try_get(3)?,
                started_at: from_millis(row.try_get(4)?),
                heartbeat_at: from_millis(row.try_get(5)?),
                alive: row.try_get(6)?,
                slots: row
                    .try_get::<Option<i32>, _>(7)?
                    .and_then(|slots| u32::try_from(slots).ok()),
                clock_offset_ms: row.try_get(8)?,
            })
        })
        .collect()
}

/// Every schedule row, by job name.
pub(super) async fn schedules(pool: &PgPool) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM jobs_schedules ORDER BY job");
    let rows = sqlx::query(&sql).fetch_all(pool).await?;
    rows.iter().map(schedule_row).collect()
}

/// The schedule rows of `jobs` that exist.
pub(super) async fn schedules_of(
    connection: &mut PgConnection,
    jobs: &[String],
) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    let sql = format!("SELECT {SCHEDULE_COLUMNS} FROM jobs_schedules WHERE job = ANY($1)");
    let rows = sqlx::query(&sql).bind(jobs).fetch_all(connection).await?;
    rows.iter().map(schedule_row).collect()
}

fn schedule_row(row: &PgRow) -> Result<ScheduleRow, sqlx::Error> {
    Ok(ScheduleRow {
        job: row.try_get(0)?,
        anchor: from_millis(row.try_get(1)?),
        last_fire: row.try_get::<Option<i64>, _>(2)?.map(from_millis),
        last_success: row.try_get::<Option<i64>, _>(3)?.map(from_millis),
        paused: row.try_get(4)?,
        schedule_override: row.try_get(5)?,
    })
}

/// The executions that pass `filter`, in its order and up to its limit.
pub(super) async fn executions(
    pool: &PgPool,
    filter: &ExecutionFilter,
) -> Result<Vec<Execution>, sqlx::Error> {
    let mut query = QueryBuilder::new(format!(
        "SELECT {EXECUTION_COLUMNS} FROM jobs_executions WHERE true"
    ));
    if let Some(job) = &filter.job {
        query.push(" AND job = ").push_bind(job.clone());
    }
    if let Some(state) = filter.state {
        query.push(" AND state = ").push_bind(state.as_str());
    }
    if let Some(from) = filter.fired_from {
        query.push(" AND fire_at >= ").push_bind(to_millis(from));
    }
    if let Some(until) = filter.fired_until {
        query.push(" AND fire_at < ").push_bind(to_millis(until));
    }
    query.push(if filter.newest_first {
        " ORDER BY id DESC"
    } else {
        " ORDER BY id ASC"
    });
    if let Some(limit) = filter.limit {
        query
            .push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let mut connection = pool.acquire().await?;
    let rows = query.build().fetch_all(&mut *connection).await?;
    let found = rows
        .iter()
        .map(execution_row)
        .collect::<Result<Vec<_>, _>>()?;
    with_attempts(&mut connection, found).await
}

/// One execution with its attempts.
pub(super) async fn execution(
    pool: &PgPool,
    id: ExecutionId,
) -> Result<Option<Execution>, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    Ok(executions_by_id(&mut connection, &[id.0]).await?.pop())
}

/// The executions `ids`, by id, each with its attempts.
pub(super) async fn executions_by_id(
    connection: &mut PgConnection,
    ids: &[i64],
) -> Result<Vec<Execution>, sqlx::Error> {
    let sql =
        format!("SELECT {EXECUTION_COLUMNS} FROM jobs_executions WHERE id = ANY($1) ORDER BY id");
    let rows = sqlx::query(&sql)
        .bind(ids)
        .fetch_all(&mut *connection)
        .await?;
    let found = rows
        .iter()
        .map(execution_row)
        .collect::<Result<Vec<_>, _>>()?;
    with_attempts(connection, found).await
}

/// The running attempt an execution row describes: its number and start.
type Current = Option<(u32, SystemTime)>;

fn execution_row(row: &PgRow) -> Result<(Execution, Current), sqlx::Error> {
    let state: ExecutionState = parse(row, 4)?;
    let attempt = u32::try_from(row.try_get::<i32, _>(6)?).unwrap_or(0);
    let attempt_started_at: Option<i64> = row.try_get(7)?;
    let current = match (state, attempt_started_at) {
        (ExecutionState::Running, Some(at)) if attempt > 0 => Some((attempt, from_millis(at))),
        _ => None,
    };
    let execution = Execution {
        id: ExecutionId(row.try_get(0)?),
        job: Arc::from(row.try_get::<String, _>(1)?),
        fire_at: from_millis(row.try_get(2)?),
        cause: parse(row, 3)?,
        state,
        instance: Arc::from(row.try_get::<String, _>(5)?),
        attempts: Vec::new(),
        started_at: row.try_get::<Option<i64>, _>(8)?.map(from_millis),
        finished_at: row.try_get::<Option<i64>, _>(9)?.map(from_millis),
    };
    Ok((execution, current))
}

/// Reads column `index` as text and parses it.
fn parse<T>(row: &PgRow, index: usize) -> Result<T, sqlx::Error>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.try_get(index)?;
    text.parse().map_err(|error| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: Box::new(error),
    })
}

/// Fills in each execution's ended attempts (two queries for all of them)
/// and, when one is running, the running one.
async fn with_attempts(
    connection: &mut PgConnection,
    found: Vec<(Execution, Current)>,
) -> Result<Vec<Execution>, sqlx::Error> {
    let ids: Vec<i64> = found.iter().map(|(execution, _)| execution.id.0).collect();
    let attempts = sqlx::query(
        "SELECT execution_id, number, started_at, finished_at, outcome, message, location, limit_ms
         FROM jobs_attempts WHERE execution_id = ANY($1) ORDER BY execution_id, number",
    )
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await?;
    let causes = sqlx::query(
        "SELECT execution_id, number, message FROM jobs_attempt_causes
         WHERE execution_id = ANY($1) ORDER BY execution_id, number, position",
    )
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await?;
    let mut causes_of: HashMap<(i64, i32), Vec<String>> = HashMap::new();
    for row in &causes {
        causes_of
            .entry((row.try_get(0)?, row.try_get(1)?))
            .or_default()
            .push(row.try_get(2)?);
    }
    let mut attempts_of: HashMap<i64, Vec<Attempt>> = HashMap::new();
    for row in &attempts {
        let id: i64 = row.try_get(0)?;
        let number: i32 = row.try_get(1)?;
        let kind: String = row.try_get(4)?;
        let message: Option<String> = row.try_get(5)?;
        let mut outcome = stored_outcome(&kind, message, row.try_get(6)?, row.try_get(7)?)
            .ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "outcome".into(),
                source: format!("{kind:?} is not an attempt outcome").into(),
            })?;
        if let Outcome::Failed { causes, .. } = &mut outcome {
            *causes = causes_of.remove(&(id, number)).unwrap_or_default();
        }
        attempts_of.entry(id).or_default().push(Attempt {
            number: u32::try_from(number).unwrap_or(0),
            started_at: from_millis(row.try_get(2)?),
            finished_at: Some(from_millis(row.try_get(3)?)),
            outcome: Some(outcome),
        });
    }
    Ok(found
        .into_iter()
        .map(|(mut execution, current)| {
            execution.attempts = attempts_of.remove(&execution.id.0).unwrap_or_default();
            let ended = execution
                .attempts
                .last()
                .map_or(0, |attempt| attempt.number);
            if let Some((number, started_at)) = current.filter(|(number, _)| *number > ended) {
                execution.attempts.push(Attempt {
                    number,
                    started_at,
                    finished_at: None,
                    outcome: None,
                });
            }
            execution
        })
        .collect())
}
