//! The SQLite store refuses what it cannot use with an error that names the
//! URL and what went wrong.

use std::path::Path;
use std::process::Command;

use jobs_runtime::store::{SqliteStore, Store, StoreError};

async fn open_error(url: &str) -> StoreError {
    SqliteStore::open(url)
        .await
        .expect_err("the store should refuse this database")
}

fn url_of(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Creates a store's database at `path`, with its schema, and closes it.
async fn create(path: &Path) {
    let store = SqliteStore::open(&url_of(path)).await.expect("creating");
    store.flush().await.expect("flush");
}

#[tokio::test]
async fn a_bad_url_names_the_url_and_what_is_allowed() {
    let error = open_error("postgres://localhost/jobs").await;
    assert!(matches!(error, StoreError::InvalidUrl { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "invalid database URL \"postgres://localhost/jobs\": expected `sqlite://PATH` or `sqlite:PATH`"
    );
    let error = open_error("sqlite://jobs.db?mode=ro").await;
    assert!(
        error.to_string().starts_with(
            "invalid database URL \"sqlite://jobs.db?mode=ro\": mode=\"ro\" is not supported; allowed: rwc"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_folder_or_file_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("missing").join("jobs.db");
    let url = url_of(&path);
    let error = open_error(&url).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the job store {url:?}: the folder {} does not exist",
            folder.path().join("missing").display()
        )
    );
    let path = folder.path().join("jobs.db");
    let url = format!("{}?mode=rw", url_of(&path));
    let error = open_error(&url).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the job store {url:?}: the file {} does not exist (mode=rw opens an existing file only)",
            path.display()
        )
    );
    assert!(!path.exists(), "mode=rw creates nothing");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    std::fs::write(&path, "name,schedule\nbackup,hourly\n".repeat(100)).unwrap();
    let url = url_of(&path);
    let error = open_error(&url).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the job store {url:?}: the file {} is not a SQLite database (or is encrypted or damaged)",
            path.display()
        )
    );
}

/// Makes `path` read-only for this process: immutable when running as root
/// (whom permissions do not stop), without write permission otherwise.
/// Returns a guard that undoes it.
fn make_read_only(path: &Path) -> impl Drop + '_ {
    struct Undo<'a>(&'a Path, bool);
    impl Drop for Undo<'_> {
        fn drop(&mut self) {
            if self.1 {
                let _ = Command::new("chattr").arg("-i").arg(self.0).status();
            }
        }
    }
    let immutable = Command::new("chattr")
        .arg("+i")
        .arg(path)
        .status()
        .is_ok_and(|status| status.success());
    if !immutable {
        let mut permissions = std::fs::metadata(path).unwrap().permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(path, permissions).unwrap();
    }
    Undo(path, immutable)
}

#[tokio::test]
async fn a_read_only_file_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    create(&path).await;
    let _undo = make_read_only(&path);
    if std::fs::OpenOptions::new().append(true).open(&path).is_ok() {
        eprintln!("skipped: this process can write to a read-only file here");
        return;
    }
    let url = url_of(&path);
    let error = open_error(&url).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the job store {url:?}: the file {} is read-only; the store writes to it, so it needs write permission",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_locked_database_is_refused_after_the_busy_timeout() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    create(&path).await;
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let url = format!("{}?busy_timeout=100ms", url_of(&path));
    let error = open_error(&url).await;
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the job store {url:?}: the database {} is locked by another connection or process, and stayed locked for the busy timeout of 100ms (set it with `?busy_timeout=`)",
            path.display()
        )
    );
    holder.execute_batch("COMMIT").unwrap();
    SqliteStore::open(&url)
        .await
        .expect("opens once the lock is gone");
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    create(&path).await;
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute(
            "INSERT INTO jobs_schema_version (version, applied_at) VALUES (99, 0)",
            [],
        )
        .unwrap();
    drop(connection);
    let url = url_of(&path);
    let error = open_error(&url).await;
    assert!(
        matches!(
            error,
            StoreError::NewerSchema {
                found: 99,
                supported: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("cannot open the job store {url:?}: its schema is version 99, but this program knows versions up to 2; upgrade the program or use another database")
    );
}

#[tokio::test]
async fn a_database_of_an_older_version_is_migrated_at_open() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    create(&path).await;
    // What the first version of the schema left: no totals table.
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch("DROP TABLE jobs_totals; DELETE FROM jobs_schema_version WHERE version = 2")
        .unwrap();
    drop(connection);
    let store = SqliteStore::open(&url_of(&path)).await.unwrap();
    let totals = store
        .totals("sync")
        .await
        .expect("the totals table is back");
    assert_eq!(totals.executions, 0);
}

#[tokio::test]
async fn migrations_are_applied_once_and_the_schema_is_recorded() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    create(&path).await;
    create(&path).await;
    let connection = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<i64> = connection
        .prepare("SELECT version FROM jobs_schema_version ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(versions, [1, 2]);
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn changes_that_cannot_be_written_are_reported_by_the_next_flush() {
    use jobs_runtime::execution::{Cause, ExecutionFilter};
    use jobs_runtime::store::{Change, NewExecution};

    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("jobs.db");
    let url = format!("{}?busy_timeout=20ms", url_of(&path));
    let store = SqliteStore::open(&url).await.unwrap();
    let record = |job: &str| {
        store
            .recorder(job, "host")
            .record(Change::Started(NewExecution {
                id: store.next_id(),
                fire_at: std::time::SystemTime::now(),
                cause: Cause::Trigger,
                started_at: None,
            }))
    };
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    record("locked-out");
    let error = store.flush().await.expect_err("the write failed");
    assert!(matches!(error, StoreError::Failed { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "job store {url:?}: writing changes (1 lost) failed: "
        )),
        "{message}"
    );
    holder.execute_batch("COMMIT").unwrap();
    record("written");
    store.flush().await.expect("the next write succeeds");
    let jobs: Vec<String> = store
        .executions(ExecutionFilter::new())
        .await
        .unwrap()
        .iter()
        .map(|execution| execution.job.to_string())
        .collect();
    assert_eq!(jobs, ["written"]);
}
