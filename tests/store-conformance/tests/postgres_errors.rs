//! What the PostgreSQL store refuses, each error naming the URL (its
//! password hidden) and what went wrong; and its migrations when instances
//! open a fresh database at once.

use std::time::{Duration, Instant};

use jobs_runtime::store::{PostgresStore, Store, StoreError};
use jobs_test_postgres::{server_url, Database};

async fn refused(url: &str) -> StoreError {
    PostgresStore::open(url)
        .await
        .expect_err("the store should refuse this")
}

/// The test server's URL with `database` instead of its own.
fn on_server(database: &str) -> String {
    let server = server_url();
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{database}")
}

#[tokio::test]
async fn a_bad_url_is_named_without_its_password() {
    let error = refused("postgres://app:hunter2@db:port/jobs").await;
    assert!(matches!(error, StoreError::InvalidUrl { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("postgres://app:***@db:port/jobs"),
        "{message}"
    );
    assert!(
        message.contains("postgres://user:password@host"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    let error = jobs_runtime::store::open("mysql://app:hunter2@db/jobs")
        .await
        .err()
        .expect("not a store");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let error = refused(&format!(
        "postgres://postgres:hunter2@127.0.0.1:{port}/test"
    ))
    .await;
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("postgres://postgres:***@127.0.0.1:{port}/test")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_database_is_named() {
    let url = format!("{}?password=hunter2", on_server("jobs_no_such_database"));
    let error = refused(&url).await;
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("jobs_no_such_database?password=***"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_refused_user_is_named() {
    let server = server_url();
    let host = server
        .split_once('@')
        .map_or("127.0.0.1:5432/test", |(_, host)| host);
    let error = refused(&format!("postgres://jobs_no_such_role:hunter2@{host}")).await;
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("jobs_no_such_role"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let database = Database::create().await;
    let store = PostgresStore::open(database.url()).await.unwrap();
    drop(store);
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(database.url())
        .await
        .unwrap();
    sqlx::query("INSERT INTO jobs_schema_version (version) VALUES (99)")
        .execute(&mut connection)
        .await
        .unwrap();
    let error = refused(database.url()).await;
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade the program"), "{error}");
}

#[tokio::test]
async fn instances_opening_a_fresh_database_at_once_apply_the_schema_once() {
    let database = Database::create().await;
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let url = database.url().to_owned();
        opening.spawn(async move { PostgresStore::open(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(opened) = opening.join_next().await {
        stores.push(opened.unwrap().expect("every instance opens"));
    }
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(database.url())
        .await
        .unwrap();
    let versions: Vec<i32> = sqlx::query_scalar("SELECT version FROM jobs_schema_version")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert_eq!(versions, [1]);
    let ids: std::collections::HashSet<i64> =
        stores.iter().map(|store| store.next_id().0).collect();
    assert_eq!(ids.len(), 6, "ids unique across instances");
}
