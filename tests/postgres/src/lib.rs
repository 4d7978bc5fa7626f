//! A PostgreSQL database of a test's own: made on the local server
//! (`JOBS_TEST_POSTGRES_URL`, by default `postgres://postgres@127.0.0.1:5432/test`)
//! under a fresh name, so tests run in parallel, and dropped with its
//! [`Database`].

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

/// The server tests use unless `JOBS_TEST_POSTGRES_URL` names another: a
/// URL of one of its databases, from which the others are made.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server's URL for tests.
pub fn server_url() -> String {
    std::env::var("JOBS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A database made for one test, dropped (with its connections) when this
/// is dropped.
#[derive(Debug)]
pub struct Database {
    name: String,
    url: String,
}

impl Database {
    /// Makes a database with a name no other test has.
    pub async fn create() -> Database {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "jobs_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos())
        );
        let server = server_url();
        let mut connection = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|error| {
                panic!("the test PostgreSQL server at {server} is not reachable: {error}")
            });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("creating database {name}: {error}"));
        let _ = connection.close().await;
        let (base, _) = server
            .rsplit_once('/')
            .expect("a server URL ends with its database");
        let url = format!("{base}/{name}");
        Database { name, url }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Cuts the database off, as an outage would: it refuses new
    /// connections, and those open are ended.
    pub async fn cut(&self) {
        self.admin(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{name}' AND pid <> pg_backend_pid();",
            name = self.name
        ))
        .await;
    }

    /// Ends a [`cut`](Self::cut): the database takes connections again.
    pub async fn restore(&self) {
        self.admin(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            self.name
        ))
        .await;
    }

    /// Runs `statements` on the server's own database.
    async fn admin(&self, statements: &str) {
        let server = server_url();
        let mut connection = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|error| {
                panic!("the test PostgreSQL server at {server} is not reachable: {error}")
            });
        sqlx::raw_sql(statements)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("on database {}: {error}", self.name));
        let _ = connection.close().await;
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A thread of its own: the test's runtime may be gone or busy.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&server_url()).await.ok()?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await
                    .ok()
            })
        });
        let _ = dropped.join();
    }
}
