//! Wake-ups across the fleet: a change the other instances should follow
//! at once (a schedule row written by `pause`, `resume` or `set_schedule`,
//! executions marked replaced) is announced with `NOTIFY`, and each
//! instance `LISTEN`s. Only a hint: the instances poll at every heartbeat
//! anyway, so a lost notification, or a pooler that cannot listen, only
//! delays a change until then.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;

/// The channel the instances of a store notify and listen on.
const CHANNEL: &str = "jobs_runtime";

/// How long the listener waits before it listens again after an error.
const RETRY: Duration = Duration::from_secs(1);

/// Announces to the other instances that something they follow changed,
/// when the transaction on `connection` commits.
pub(super) async fn notify(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(connection)
        .await
        .map(drop)
}

/// Listens on `pool`'s database until the task is aborted, and wakes
/// `wake` at each notification, and after a lost connection (a
/// notification may have been missed meanwhile).
pub(super) async fn listen(url: Arc<str>, pool: PgPool, wake: Arc<Notify>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::debug!(url = %url, %error, "job store: cannot listen for wake-ups; polling only");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::debug!(url = %url, %error, "job store: cannot listen for wake-ups; polling only");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        loop {
            match listener.try_recv().await {
                // A notification, or a connection lost and made again.
                Ok(_) => wake.notify_one(),
                Err(error) => {
                    tracing::debug!(url = %url, %error, "job store: listening for wake-ups failed");
                    wake.notify_one();
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
