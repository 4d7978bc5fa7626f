//! Reading executions, schedule rows and completions back from the
//! database, on either connection.

use std::sync::Arc;
use std::time::SystemTime;

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};

use crate::execution::{
    from_millis, to_millis, Attempt, Execution, ExecutionFilter, ExecutionId, ExecutionState,
    Outcome,
};
use crate::store::batch::stored_outcome;
use crate::store::{JobTotals, ScheduleRow};

const EXECUTION_COLUMNS: &str = "id, job, fire_at, cause, state, instance, attempt, \
     attempt_started_at, started_at, finished_at";

/// What `job`'s executions add up to; zeros for a job with none.
pub(super) fn totals(connection: &Connection, job: &str) -> rusqlite::Result<JobTotals> {
    let totals = connection
        .prepare_cached(
            "SELECT executions, failures, last_started_at, last_finished_at, last_error
             FROM jobs_totals WHERE job = ?1",
        )?
        .query_row([job], |row| {
            Ok(JobTotals {
                executions: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                failures: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                last_started_at: row.get::<_, Option<i64>>(2)?.map(from_millis),
                last_finished_at: row.get::<_, Option<i64>>(3)?.map(from_millis),
                last_error: row.get(4)?,
            })
        })
        .optional()?;
    Ok(totals.unwrap_or_default())
}

/// The executions that pass `filter`, in its order and up to its limit.
pub(super) fn executions(
    connection: &Connection,
    filter: &ExecutionFilter,
) -> rusqlite::Result<Vec<Execution>> {
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(job) = &filter.job {
        conditions.push("job = ?");
        values.push(Value::Text(job.clone()));
    }
    if let Some(state) = filter.state {
        conditions.push("state = ?");
        values.push(Value::Text(state.as_str().to_owned()));
    }
    if let Some(from) = filter.fired_from {
        conditions.push("fire_at >= ?");
        values.push(Value::Integer(to_millis(from)));
    }
    if let Some(until) = filter.fired_until {
        conditions.push("fire_at < ?");
        values.push(Value::Integer(to_millis(until)));
    }
    let condition = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let order = if filter.newest_first { "DESC" } else { "ASC" };
    let limit = filter
        .limit
        .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    values.push(Value::Integer(limit));
    let sql = format!(
        "SELECT {EXECUTION_COLUMNS} FROM jobs_executions {condition} ORDER BY id {order} LIMIT ?"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), execution_row)?;
    let mut found = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for (execution, current) in &mut found {
        load_attempts(connection, execution, *current)?;
    }
    Ok(found.into_iter().map(|(execution, _)| execution).collect())
}

/// One execution with its attempts.
pub(super) fn execution(
    connection: &Connection,
    id: ExecutionId,
) -> rusqlite::Result<Option<Execution>> {
    let sql = format!("SELECT {EXECUTION_COLUMNS} FROM jobs_executions WHERE id = ?1");
    let found = connection
        .prepare_cached(&sql)?
        .query_row([id.0], execution_row)
        .optional()?;
    match found {
        Some((mut execution, current)) => {
            load_attempts(connection, &mut execution, current)?;
            Ok(Some(execution))
        }
        None => Ok(None),
    }
}

/// Every schedule row, by job name.
pub(super) fn schedules(connection: &Connection) -> rusqlite::Result<Vec<ScheduleRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT job, anchor, last_fire, last_success, paused, schedule_override
         FROM jobs_schedules ORDER BY job",
    )?;
    let rows = statement.query_map([], schedule_row)?;
    rows.collect()
}

/// `job`'s schedule row, if it has one.
pub(super) fn schedule(
    connection: &Connection,
    job: &str,
) -> rusqlite::Result<Option<ScheduleRow>> {
    connection
        .prepare_cached(
            "SELECT job, anchor, last_fire, last_success, paused, schedule_override
             FROM jobs_schedules WHERE job = ?1",
        )?
        .query_row([job], schedule_row)
        .optional()
}

fn schedule_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        job: row.get(0)?,
        anchor: from_millis(row.get(1)?),
        last_fire: row.get::<_, Option<i64>>(2)?.map(from_millis),
        last_success: row.get::<_, Option<i64>>(3)?.map(from_millis),
        paused: row.get(4)?,
        schedule_override: row.get(5)?,
    })
}

/// When `job`'s latest successful execution finished.
pub(super) fn last_completed_at(
    connection: &Connection,
    job: &str,
) -> rusqlite::Result<Option<SystemTime>> {
    let millis: Option<i64> = connection
        .prepare_cached("SELECT finished_at FROM jobs_completions WHERE job = ?1")?
        .query_row([job], |row| row.get(0))
        .optional()?;
    Ok(millis.map(from_millis))
}

/// The running attempt an execution row describes: its number and start.
type Current = Option<(u32, SystemTime)>;

fn execution_row(row: &Row<'_>) -> rusqlite::Result<(Execution, Current)> {
    let state: ExecutionState = parse(row, 4)?;
    let attempt: u32 = row.get(6)?;
    let attempt_started_at: Option<i64> = row.get(7)?;
    let current = match (state, attempt_started_at) {
        (ExecutionState::Running, Some(at)) if attempt > 0 => Some((attempt, from_millis(at))),
        _ => None,
    };
    let execution = Execution {
        id: ExecutionId(row.get(0)?),
        job: Arc::from(row.get::<_, String>(1)?),
        fire_at: from_millis(row.get(2)?),
        cause: parse(row, 3)?,
        state,
        instance: Arc::from(row.get::<_, String>(5)?),
        attempts: Vec::new(),
        started_at: row.get::<_, Option<i64>>(8)?.map(from_millis),
        finished_at: row.get::<_, Option<i64>>(9)?.map(from_millis),
    };
    Ok((execution, current))
}

/// Reads column `index` as text and parses it.
fn parse<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(index)?;
    text.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

/// Fills in `execution`'s ended attempts and, when one is running, the
/// running one.
fn load_attempts(
    connection: &Connection,
    execution: &mut Execution,
    current: Current,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(
        "SELECT number, started_at, finished_at, outcome, message, location, limit_ms
         FROM jobs_attempts WHERE execution_id = ?1 ORDER BY number",
    )?;
    let rows = statement.query_map([execution.id.0], |row| {
        let kind: String = row.get(3)?;
        let message: Option<String> = row.get(4)?;
        let outcome =
            stored_outcome(&kind, message, row.get(5)?, row.get(6)?).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    format!("{kind:?} is not an attempt outcome").into(),
                )
            })?;
        Ok(Attempt {
            number: row.get(0)?,
            started_at: from_millis(row.get(1)?),
            finished_at: Some(from_millis(row.get(2)?)),
            outcome: Some(outcome),
        })
    })?;
    execution.attempts = rows.collect::<rusqlite::Result<_>>()?;
    for attempt in &mut execution.attempts {
        if let Some(Outcome::Failed { causes, .. }) = &mut attempt.outcome {
            let mut statement = connection.prepare_cached(
                "SELECT message FROM jobs_attempt_causes
                 WHERE execution_id = ?1 AND number = ?2 ORDER BY position",
            )?;
            let rows = statement.query_map((execution.id.0, attempt.number), |row| row.get(0))?;
            *causes = rows.collect::<rusqlite::Result<_>>()?;
        }
    }
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
    Ok(())
}
