//! A PostgreSQL database of a test's own: made on the local server
//! (`JOBS_TEST_POSTGRES_URL`, by default `postgres://postgres@127.0.0.1:5432/test`)
//! under a fresh name, so tests run in parallel, and dropped with its
//! [`Database`]; and a [`Proxy`] in front of the server, to cut one
//! client off as a network partition would.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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

/// A TCP proxy to the server on a port of its own, for the clients a test
/// gives its [`url`](Proxy::url): [`cut`](Proxy::cut) ends their
/// connections and refuses new ones, as a network partition would, while
/// the other clients go on. It runs until dropped.
#[derive(Debug)]
pub struct Proxy {
    url: String,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `database`'s server, on the current runtime.
    pub async fn start(database: &Database) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the proxy");
        let port = listener.local_addr().expect("the proxy's port").port();
        let (scheme, rest) = database.url.split_once("://").expect("a URL");
        let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
        let (server, path) = rest.split_once('/').expect("a URL with a database");
        let server = if server.contains(':') {
            server.to_owned()
        } else {
            format!("{server}:5432")
        };
        let at = if user.is_empty() { "" } else { "@" };
        let url = format!("{scheme}://{user}{at}127.0.0.1:{port}/{path}");
        let (cut, cuts) = watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut cuts = cuts.clone();
                if *cuts.borrow_and_update() {
                    // Cut off: the connection is closed at once.
                    continue;
                }
                let server = server.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(&server).await else {
                        return;
                    };
                    let (mut client, mut upstream) = (client, upstream);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cuts.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Proxy { url, cut, task }
    }

    /// The database's URL through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Ends the connections through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Ends a [`cut`](Self::cut): connections go through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
