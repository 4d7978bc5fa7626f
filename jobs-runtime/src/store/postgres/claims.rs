//! The PostgreSQL store's claimer task: claims the executions asked for
//! together in one transaction.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::writer::{Message, Source};
use crate::execution::{to_millis, Cause, ExecutionState};
use crate::store::{Change, Claim, Claimed, StoreError};

/// A claim waiting for its answer.
pub(super) struct Pending {
    pub(super) claim: Claim,
    /// The job's latest executions that ended on this instance, whose ends
    /// the writer may not have written yet: not counted against the limit.
    pub(super) ended: Vec<i64>,
    /// How often it was made and answered "another claimer holds the
    /// job's lock".
    pub(super) tries: u32,
    pub(super) source: Arc<Source>,
    pub(super) reply: oneshot::Sender<Result<Claimed, StoreError>>,
}

/// What the claimer needs to keep this process's heartbeat fresh (the
/// store's heartbeat state, the instances it writes, and how often), and
/// how far ahead of their time scheduled fires are claimed.
pub(super) struct Live {
    pub(super) beat: Arc<super::Beat>,
    pub(super) instances: Arc<Mutex<BTreeSet<String>>>,
    pub(super) heartbeat: Duration,
    pub(super) lead: Duration,
}

/// How often a claim finds its job's lock held by another claimer before
/// it waits for the lock.
const PATIENT_TRIES: u32 = 50;

/// How long a claim that found its job's lock held waits before it is made
/// again.
const RETRY_AFTER: Duration = Duration::from_millis(2);

/// The most claims one transaction makes.
const MAX_CLAIMS: usize = 4_096;

/// How far ahead of the database's clock a scheduled fire may be claimed
/// beyond the claim lead: the clocks of the instances and of the database
/// are never quite one.
const EARLY_TOLERANCE_MS: i64 = 20;

/// The claimer task: claims what was asked for since its last transaction,
/// and what is asked for while the runs due with it are handed out, in one
/// transaction, and answers each.
pub(super) async fn run(
    url: Arc<str>,
    pool: PgPool,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
    live: Live,
    writer: mpsc::UnboundedSender<Message>,
) {
    let mut batch = Vec::new();
    let mut again: Vec<Pending> = Vec::new();
    loop {
        if again.is_empty() {
            let Some(first) = receiver.recv().await else {
                return;
            };
            batch.push(first);
        } else {
            tokio::time::sleep(RETRY_AFTER).await;
            batch.append(&mut again);
        }
        // The runs of one burst ask one after another: let them all ask.
        tokio::task::yield_now().await;
        while batch.len() < MAX_CLAIMS {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        match claim(&url, &pool, &batch, &live).await {
            Ok(answers) => {
                for (mut pending, answer) in batch.drain(..).zip(answers) {
                    match answer {
                        Some(answer) => {
                            // A run gone before it heard that it won (its
                            // job was aborted meanwhile): its execution is
                            // recorded cancelled, so it holds no limit.
                            if let Err(Ok(Claimed::Won { .. })) = pending.reply.send(Ok(answer)) {
                                let cancelled = Change::Finished {
                                    id: pending.claim.id,
                                    state: ExecutionState::Cancelled,
                                    at: SystemTime::now(),
                                };
                                let _ = writer.send(Message::Change(pending.source, cancelled));
                            }
                        }
                        None => {
                            pending.tries += 1;
                            again.push(pending);
                        }
                    }
                }
            }
            Err(error) => {
                let message = error.to_string();
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(StoreError::Failed {
                        url: url.to_string(),
                        operation: "claiming executions".to_owned(),
                        source: message.clone().into(),
                    }));
                }
            }
        }
    }
}

/// Claims `batch` in one transaction and answers each claim, in order.
///
/// Each won claim inserts its execution, `pending`, with a lease token from
/// the sequence. A scheduled fire is refused when it, or a later fire of
/// its job, was claimed already (the unique index on the job and the fire
/// time lets one insert through), and when it is ahead of the database's
/// clock. A claim with a limit is refused while its job has that many
/// unfinished executions: the jobs with limits are locked first (a
/// transaction-scoped advisory lock per job, in the order of their names),
/// so the count that a claim reads cannot change under it. The executions
/// this instance has seen end are not counted, written or not: the writer
/// commits their ends a little later.
///
/// The rows go in in the order of job and fire time, so that processes
/// claiming the same fires at once wait for each other's keys in one order
/// and never deadlock.
///
/// A job's lock is only tried, for the first [`PATIENT_TRIES`] times its
/// claim is made: when another instance holds it, that instance is
/// claiming the job's fires at this moment (most often the same fire), so
/// the claim is answered `None`, to be made again once that transaction
/// has ended, rather than waiting for it with every other lock of the
/// batch held. Then the lock is waited for, the locks waited for taken
/// first, in the order of the jobs' names, so that no two claimers wait
/// for each other in a cycle.
///
/// When this process's heartbeat is older than one heartbeat (the database
/// was out of reach, or the heartbeat task is behind), the transaction
/// writes it too: an instance the others are about to take for dead never
/// claims an execution they would take over at once.
async fn claim(
    url: &str,
    pool: &PgPool,
    batch: &[Pending],
    live: &Live,
) -> Result<Vec<Option<Claimed>>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let sent = Instant::now();
    let taken = *super::lock(&live.beat.taken);
    let stale = taken.map_or(true, |at| at.elapsed() > live.heartbeat);
    if stale {
        let names: Vec<String> = super::lock(&live.instances).iter().cloned().collect();
        sqlx::query("UPDATE jobs_instances SET heartbeat_at = now() WHERE id = ANY($1)")
            .bind(&names)
            .execute(&mut *transaction)
            .await?;
    }
    let held = lock(&mut transaction, batch).await?;
    let waits: Vec<bool> = batch
        .iter()
        .map(|pending| pending.claim.limit.is_some() && held.contains(&*pending.source.job))
        .collect();
    let taking: Vec<&Pending> = batch
        .iter()
        .zip(&waits)
        .filter(|(_, waits)| !**waits)
        .map(|(pending, _)| pending)
        .collect();
    let (answers, read) = if taking.is_empty() {
        (Vec::new(), Instant::now())
    } else {
        let ahead =
            EARLY_TOLERANCE_MS + i64::try_from(live.lead.as_millis()).unwrap_or(i64::MAX / 2);
        insert(&mut transaction, &taking, ahead).await?
    };
    transaction.commit().await?;
    // A fire won ahead is due in what the database's clock said, less the
    // time since it was read: from just before the statement was sent
    // (early by at most the network's one-way time), so the run starts on
    // time rather than late by the statement and the commit.
    let since_read = read.elapsed();
    let answers = answers.into_iter().map(|answer| match answer {
        Claimed::Won {
            lease_token,
            due_in,
        } => Claimed::Won {
            lease_token,
            due_in: due_in.saturating_sub(since_read),
        },
        answer => answer,
    });
    if stale {
        live.beat.took(url, sent, None);
    }
    let mut answers = answers.into_iter();
    Ok(waits
        .into_iter()
        .map(|waits| if waits { None } else { answers.next() })
        .collect())
}

/// Takes the locks of the jobs with limits in `batch`, and returns the jobs
/// whose lock another claimer holds, which were only tried.
async fn lock<'a>(
    transaction: &mut PgConnection,
    batch: &'a [Pending],
) -> Result<HashSet<&'a str>, sqlx::Error> {
    let limited = |patient: bool| {
        let mut jobs: Vec<&str> = batch
            .iter()
            .filter(|pending| pending.claim.limit.is_some())
            .filter(|pending| (pending.tries >= PATIENT_TRIES) == patient)
            .map(|pending| &*pending.source.job)
            .collect();
        jobs.sort_unstable();
        jobs.dedup();
        jobs
    };
    let (waited, tried) = (limited(true), limited(false));
    if !waited.is_empty() {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext('jobs_runtime.job:' || job))
             FROM unnest($1::text[]) AS job",
        )
        .bind(&waited)
        .execute(&mut *transaction)
        .await?;
    }
    if tried.is_empty() {
        return Ok(HashSet::new());
    }
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT job FROM unnest($1::text[]) AS job
         WHERE NOT pg_try_advisory_xact_lock(hashtext('jobs_runtime.job:' || job))",
    )
    .bind(&tried)
    .fetch_all(&mut *transaction)
    .await?;
    // A job both waited for and tried is locked already.
    Ok(tried
        .into_iter()
        .filter(|job| held.iter().any(|held| held == job) && !waited.contains(job))
        .collect())
}

/// Claims `batch` in `transaction`, its jobs' locks held: a scheduled
/// fire up to `ahead` milliseconds before the database's clock. The
/// answers come with the instant the statement was sent, about when the
/// database read its clock.
async fn insert(
    transaction: &mut PgConnection,
    batch: &[&Pending],
    ahead: i64,
) -> Result<(Vec<Claimed>, Instant), sqlx::Error> {
    let ids: Vec<i64> = batch.iter().map(|pending| pending.claim.id.0).collect();
    let jobs: Vec<&str> = batch.iter().map(|pending| &*pending.source.job).collect();
    let fires: Vec<i64> = batch
        .iter()
        .map(|pending| to_millis(pending.claim.fire_at))
        .collect();
    let instances: Vec<&str> = batch
        .iter()
        .map(|pending| &*pending.source.instance)
        .collect();
    let causes: Vec<&str> = batch
        .iter()
        .map(|pending| pending.claim.cause.as_str())
        .collect();
    let limits: Vec<Option<i64>> = batch
        .iter()
        .map(|pending| pending.claim.limit.map(i64::from))
        .collect();
    let ended: Vec<i64> = batch
        .iter()
        .flat_map(|pending| pending.ended.iter().copied())
        .collect();
    // The won rows, then one row with the database's time (no id).
    let read = Instant::now();
    let rows = sqlx::query(
        "WITH c AS (
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[],
                                  $5::text[], $6::bigint[])
                 AS c (id, job, fire_at, instance, cause, max)
         ),
         now AS (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms),
         won AS (
             INSERT INTO jobs_executions
                 (id, job, fire_at, cause, state, instance, attempt, lease_token)
             SELECT c.id, c.job, c.fire_at, c.cause, 'pending', c.instance, 0,
                    nextval('jobs_lease_tokens')
             FROM c, now
             WHERE (c.cause <> 'schedule' OR (
                     c.fire_at <= now.ms + $7
                     AND NOT EXISTS (
                         SELECT 1 FROM jobs_executions e
                         WHERE e.job = c.job AND e.cause = 'schedule'
                             AND e.fire_at >= c.fire_at)))
                 AND (c.max IS NULL OR (
                     SELECT count(*) FROM jobs_executions e
                     WHERE e.job = c.job AND e.state IN ('pending', 'running', 'retrying')
                         AND e.id <> ALL($8)
                 ) < c.max)
             ORDER BY c.job, c.fire_at
             ON CONFLICT DO NOTHING
             RETURNING id, lease_token
         )
         SELECT id, lease_token FROM won
         UNION ALL SELECT NULL, ms FROM now",
    )
    .bind(&ids)
    .bind(&jobs)
    .bind(&fires)
    .bind(&instances)
    .bind(&causes)
    .bind(&limits)
    .bind(ahead)
    .bind(&ended)
    .fetch_all(&mut *transaction)
    .await?;
    let mut won = HashMap::new();
    let mut now = i64::MAX;
    for row in rows {
        match row.try_get::<Option<i64>, _>(0)? {
            Some(id) => {
                won.insert(id, row.try_get::<i64, _>(1)?);
            }
            None => now = row.try_get(1)?,
        }
    }
    // A refused scheduled fire of a job with a limit was taken, or its job
    // is busy: which, the rows committed by now tell.
    let doubtful: Vec<usize> = (0..batch.len())
        .filter(|&at| {
            !won.contains_key(&ids[at])
                && batch[at].claim.cause == Cause::Schedule
                && limits[at].is_some()
                && fires[at] <= now + ahead
        })
        .collect();
    let taken: HashSet<i64> = if doubtful.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar(
            "SELECT c.id FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS c (id, job, fire_at)
             WHERE EXISTS (SELECT 1 FROM jobs_executions e
                           WHERE e.job = c.job AND e.cause = 'schedule'
                               AND e.fire_at >= c.fire_at AND e.id <> c.id)",
        )
        .bind(doubtful.iter().map(|&at| ids[at]).collect::<Vec<_>>())
        .bind(doubtful.iter().map(|&at| jobs[at]).collect::<Vec<_>>())
        .bind(doubtful.iter().map(|&at| fires[at]).collect::<Vec<_>>())
        .fetch_all(&mut *transaction)
        .await?
        .into_iter()
        .collect()
    };
    // The unfinished executions that the won claims with `replace` replace,
    // those of their jobs with smaller tokens, marked for their instances.
    let (replacing, tokens): (Vec<&str>, Vec<i64>) = batch
        .iter()
        .filter(|pending| pending.claim.replace)
        .filter_map(|pending| Some((&*pending.source.job, *won.get(&pending.claim.id.0)?)))
        .unzip();
    if !replacing.is_empty() {
        let marked = sqlx::query(
            "UPDATE jobs_executions e SET replaced = true
             FROM unnest($1::text[], $2::bigint[]) AS r (job, token)
             WHERE e.job = r.job AND e.lease_token < r.token AND NOT e.replaced
                 AND e.state IN ('pending', 'running', 'retrying')",
        )
        .bind(&replacing)
        .bind(&tokens)
        .execute(&mut *transaction)
        .await?;
        if marked.rows_affected() > 0 {
            super::wakeups::notify(transaction).await?;
        }
    }
    let answers = (0..batch.len()).map(|at| {
        let id = ids[at];
        let scheduled = batch[at].claim.cause == Cause::Schedule;
        if let Some(&token) = won.get(&id) {
            // A millisecond more, for the time the statement took to reach
            // the database after `read`.
            let due_in = if scheduled && fires[at] > now {
                fires[at] - now + 1
            } else {
                0
            };
            return Claimed::Won {
                lease_token: u64::try_from(token).ok(),
                due_in: Duration::from_millis(u64::try_from(due_in).unwrap_or(0)),
            };
        }
        if scheduled && fires[at] > now + ahead {
            let ahead = u64::try_from(fires[at] - now).unwrap_or(0);
            return Claimed::Early {
                by: Duration::from_millis(ahead),
            };
        }
        if scheduled && (limits[at].is_none() || taken.contains(&id)) {
            Claimed::Taken
        } else {
            Claimed::Busy
        }
    });
    Ok((answers.collect(), read))
}
