//! The PostgreSQL server the benchmark runs on: scratch databases made and
//! dropped through its admin database, what `pg_stat_database` and
//! `pg_stat_activity` say about one of them, and the lines its log wrote
//! during a run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::{Connection, PgConnection, Row};

use crate::cpu;

/// A connection to the server's admin database (the one the server URL
/// names), which the benchmark's own queries use so that they are not
/// counted in a scratch database's statistics.
pub struct Server {
    url: String,
    admin: PgConnection,
}

impl Server {
    /// Connects to the database `url` names.
    pub async fn connect(url: &str) -> Result<Server, String> {
        let admin = PgConnection::connect(url)
            .await
            .map_err(|error| format!("the PostgreSQL server at {url} is not reachable: {error}"))?;
        Ok(Server {
            url: url.to_owned(),
            admin,
        })
    }

    /// The URL of database `name` on this server: the server URL with its
    /// database replaced, its query kept.
    pub fn url_of(&self, name: &str) -> String {
        database_url(&self.url, name)
    }

    /// Makes database `name` (dropping one left by an earlier run).
    pub async fn create(&mut self, name: &str) -> Result<String, String> {
        self.drop_database(name).await?;
        self.execute(&format!("CREATE DATABASE {name}")).await?;
        Ok(self.url_of(name))
    }

    /// Drops database `name`, ending its connections, if it exists.
    pub async fn drop_database(&mut self, name: &str) -> Result<(), String> {
        self.execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
    }

    /// Runs `statement` on the admin database.
    pub async fn execute(&mut self, statement: &str) -> Result<(), String> {
        sqlx::raw_sql(statement)
            .execute(&mut self.admin)
            .await
            .map(|_| ())
            .map_err(|error| format!("{statement}: {error}"))
    }

    /// What the server has counted for database `name`: its committed and
    /// rolled-back transactions, and the CPU time of each of its backends.
    pub async fn sample(&mut self, name: &str) -> Result<Sample, String> {
        // A statement of its own, so the statistics it reads are fresh.
        let row = sqlx::query(
            "SELECT (xact_commit + xact_rollback)::bigint AS transactions
             FROM pg_stat_database WHERE datname = $1",
        )
        .bind(name)
        .fetch_optional(&mut self.admin)
        .await
        .map_err(|error| format!("reading pg_stat_database: {error}"))?;
        let transactions = match row {
            Some(row) => row.try_get::<i64, _>("transactions").unwrap_or(0),
            None => 0,
        };
        let pids: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .fetch_all(&mut self.admin)
        .await
        .map_err(|error| format!("reading pg_stat_activity: {error}"))?;
        let backends = pids
            .into_iter()
            .filter_map(|pid| {
                let pid = u32::try_from(pid).ok()?;
                Some((pid, cpu::of_process(pid)?))
            })
            .collect();
        Ok(Sample {
            transactions: u64::try_from(transactions).unwrap_or(0),
            backends,
            machine_busy: cpu::machine_busy(),
        })
    }

    /// What the database's backends that are not idle are doing now: one
    /// entry for each, its state, what it waits for (`-` when it runs) and
    /// the start of its statement.
    pub async fn activity(&mut self, name: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT state || ' | ' || coalesce(wait_event_type || ':' || wait_event, '-')
                    || ' | ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 72)
             FROM pg_stat_activity
             WHERE datname = $1 AND state <> 'idle' AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .fetch_all(&mut self.admin)
        .await
        .map_err(|error| format!("reading pg_stat_activity: {error}"))
    }

    /// Who waits for whom in database `name` now: for each backend that
    /// waits for a lock another backend holds, its wait and statement, then
    /// the holder's state and statement.
    pub async fn blocking(&mut self, name: &str) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT coalesce(w.wait_event_type || ':' || w.wait_event, '-')
                    || ' | ' || left(regexp_replace(w.query, '\\s+', ' ', 'g'), 56)
                    || '  <-  ' || b.state || ' | '
                    || left(regexp_replace(b.query, '\\s+', ' ', 'g'), 56)
             FROM pg_stat_activity w
             CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS holder (pid)
             JOIN pg_stat_activity b ON b.pid = holder.pid
             WHERE w.datname = $1",
        )
        .bind(name)
        .fetch_all(&mut self.admin)
        .await
        .map_err(|error| format!("reading pg_blocking_pids: {error}"))
    }

    /// The admin connection, for queries of the driver's own.
    pub fn admin(&mut self) -> &mut PgConnection {
        &mut self.admin
    }
}

/// `url` with its database replaced by `name`.
pub fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => base.trim_end_matches('/'),
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// One reading of a database's statistics.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Transactions committed and rolled back in the database so far, as
    /// the server's statistics have them (each backend reports at most
    /// once a second while busy, and when it ends).
    pub transactions: u64,
    /// The CPU time of each backend connected to the database, by process
    /// id.
    pub backends: HashMap<u32, Duration>,
    /// The machine's busy time so far.
    pub machine_busy: Duration,
}

impl Sample {
    /// The CPU time the database's backends used from `earlier` to this
    /// reading: for each backend in this reading, its time less what it had
    /// in `earlier` (nothing if it was not connected then). A backend that
    /// ended between the two readings is not counted.
    pub fn backend_cpu_since(&self, earlier: &Sample) -> Duration {
        self.backends
            .iter()
            .map(|(pid, time)| {
                time.saturating_sub(earlier.backends.get(pid).copied().unwrap_or_default())
            })
            .sum()
    }
}

/// The server's log file, read from where it ended when a run began.
pub struct Log {
    path: PathBuf,
    start: u64,
}

impl Log {
    /// The log at `path` (by default the first
    /// `/var/log/postgresql/postgresql-*-main.log`), from its current end;
    /// `None` if there is none to read.
    pub fn open(path: Option<&Path>) -> Option<Log> {
        let path = match path {
            Some(path) => path.to_owned(),
            None => {
                let mut logs: Vec<PathBuf> = std::fs::read_dir("/var/log/postgresql")
                    .ok()?
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|path| {
                        path.file_name()
                            .and_then(|name| name.to_str())
                            .is_some_and(|name| name.ends_with("-main.log"))
                    })
                    .collect();
                logs.sort();
                logs.into_iter().next()?
            }
        };
        let start = std::fs::metadata(&path).ok()?.len();
        Some(Log { path, start })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lines written since [`open`](Self::open) that name database
    /// `name` (the log line prefix's `user@database`) and report an error,
    /// a fatal error, a deadlock or a warning, with the lines that follow
    /// each on its backend (its detail, context and statement).
    pub fn problems(&self, name: &str) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.start)).is_err()
            || file.read_to_string(&mut text).is_err()
        {
            return Vec::new();
        }
        let tag = format!("@{name} ");
        let mut problems = Vec::new();
        let mut following = false;
        for line in text.lines() {
            let ours = line.contains(&tag);
            let problem = ["ERROR:", "FATAL:", "PANIC:", "WARNING:", "deadlock"]
                .iter()
                .any(|word| line.contains(word));
            if ours && problem {
                problems.push(line.to_owned());
                following = true;
            } else if ours
                && following
                && ["DETAIL:", "CONTEXT:", "STATEMENT:", "HINT:"]
                    .iter()
                    .any(|word| line.contains(word))
            {
                problems.push(line.to_owned());
            } else {
                following = false;
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_keeps_the_server_and_query() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/test", "bench"),
            "postgres://postgres@127.0.0.1:5432/bench"
        );
        assert_eq!(
            database_url("postgres://u@h/test?sslmode=disable", "bench"),
            "postgres://u@h/bench?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://u@h", "bench"),
            "postgres://u@h/bench"
        );
        assert_eq!(
            database_url("postgres://u@h/", "bench"),
            "postgres://u@h/bench"
        );
    }
}
