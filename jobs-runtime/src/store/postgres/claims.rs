//! The PostgreSQL store's claimer task: claims the scheduled fires that
//! come together in one statement.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::writer::Source;
use crate::execution::ExecutionId;
use crate::store::StoreError;

/// A claim of a scheduled fire, waiting for its answer.
pub(super) struct Claim {
    pub(super) id: ExecutionId,
    pub(super) source: Arc<Source>,
    /// The fire's time, in milliseconds.
    pub(super) fire_at: i64,
    pub(super) reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// The most claims one statement makes.
const MAX_CLAIMS: usize = 4_096;

/// The claimer task: claims the fires asked for since its last statement,
/// and those asked for while the runs due with them are handed out, in one
/// statement, and answers each.
pub(super) async fn run(url: Arc<str>, pool: PgPool, mut receiver: mpsc::UnboundedReceiver<Claim>) {
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
async fn claim(pool: &PgPool, batch: &[Claim]) -> Result<HashSet<i64>, sqlx::Error> {
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
