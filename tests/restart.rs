//! Real processes on a real SQLite file: the `restart-app` service
//! (`tests/restart/app.rs`) is killed with SIGKILL or stopped with SIGTERM,
//! started again on the same file, and the file then says what the restart
//! did: the execution the kill interrupted is `abandoned` and continued by a
//! `recovery` execution, the fires missed while down follow each job's
//! `missed` policy (`skip`, `run_once`, `catch_up`), an interval grid keeps
//! its anchor, `run_on_start` runs
//! only after a missed fire, and every execution ends in a terminal state.
//!
//! These run in real time (the processes and the signals are the point),
//! with generous bounds. Each scenario has its own processes and file, so
//! the scenarios run in parallel. A failing scenario prints the service's
//! log (its stderr) of each start.

#![cfg(unix)]

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use jobs_runtime::execution::{Cause, Execution, ExecutionFilter, ExecutionState, Outcome};
use jobs_runtime::store::{ScheduleRow, SqliteStore, Store};

/// How long any one wait may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(20);

/// The interval of the service's 2-second jobs.
const INTERVAL: Duration = Duration::from_secs(2);

/// The service's misfire threshold (`MISFIRE_THRESHOLD` in the app).
const THRESHOLD: Duration = Duration::from_millis(250);

/// The jobs of the service.
const JOBS: [&str; 6] = ["long", "skipper", "once", "catchup", "hourly", "starter"];

/// A scenario: a folder with the database and the logs of each start.
struct Scenario {
    folder: tempfile::TempDir,
    url: String,
    logs: Vec<PathBuf>,
    /// The jobs this scenario runs; the others are switched off.
    jobs: &'static [&'static str],
}

impl Scenario {
    fn new(jobs: &'static [&'static str]) -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", folder.path().join("jobs.db").display());
        Scenario {
            folder,
            url,
            logs: Vec::new(),
            jobs,
        }
    }

    /// Starts the service as `instance`, its stderr in a log file.
    fn start(&mut self, instance: &str) -> App {
        let log = self.folder.path().join(format!("{instance}.log"));
        let stderr = std::fs::File::create(&log).expect("the log file");
        self.logs.push(log);
        let mut command = Command::new(env!("CARGO_BIN_EXE_restart-app"));
        command
            .env("JOBS_DATABASE_URL", &self.url)
            .env("JOBS_INSTANCE", instance)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for job in JOBS.iter().filter(|job| !self.jobs.contains(job)) {
            command.env(format!("JOBS_{}_ENABLED", job.to_uppercase()), "false");
        }
        App {
            child: command.spawn().expect("the service starts"),
        }
    }

    /// The store in the scenario's file, read next to the service.
    async fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.url)
            .await
            .expect("the database opens")
    }
}

impl Drop for Scenario {
    /// On failure, prints what the service logged at each start.
    fn drop(&mut self) {
        if std::thread::panicking() {
            for log in &self.logs {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                eprintln!("--- {} ---\n{text}", log.display());
            }
        }
    }
}

/// A running service, killed when dropped.
struct App {
    child: Child,
}

impl App {
    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: sends a signal to the child this test started and has not
        // reaped yet, so the pid is still its own.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the process to end.
    async fn exit(&mut self) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the service did not exit within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the process dies at once, whatever it was doing.
    async fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        self.exit().await;
    }

    /// SIGTERM: a graceful stop, which ends with status 0.
    async fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
        let status = self.exit().await;
        assert!(status.success(), "the service exited with {status}");
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every execution in the store, oldest first.
async fn all(store: &SqliteStore) -> Vec<Execution> {
    store
        .executions(ExecutionFilter::new().unlimited().oldest_first())
        .await
        .expect("the history reads")
}

/// `job`'s executions, oldest first.
fn of<'a>(executions: &'a [Execution], job: &str) -> Vec<&'a Execution> {
    executions.iter().filter(|e| *e.job == *job).collect()
}

/// Waits until the executions in the store satisfy `done`; returns them.
async fn wait_for(
    store: &SqliteStore,
    what: &str,
    done: impl Fn(&[Execution]) -> bool,
) -> Vec<Execution> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let executions = all(store).await;
        if done(&executions) {
            return executions;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what}; the store has {executions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the store has `job`'s schedule row; returns it.
async fn schedule_row(store: &SqliteStore, job: &str) -> ScheduleRow {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let rows = store.schedules().await.expect("the schedules read");
        if let Some(row) = rows.into_iter().find(|row| row.job == job) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no schedule row for {job} after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many successful executions `instance` ran of `job`.
fn succeeded(executions: &[Execution], job: &str, instance: &str) -> usize {
    executions
        .iter()
        .filter(|e| *e.job == *job && *e.instance == *instance)
        .filter(|e| e.state == ExecutionState::Succeeded)
        .count()
}

/// Where `at` lies on the grid `anchor + k · INTERVAL`: the time since its
/// latest fire at or before `at`.
fn phase(anchor: SystemTime, at: SystemTime) -> Duration {
    let since = at.duration_since(anchor).expect("after the anchor");
    let nanos = since.as_nanos() % INTERVAL.as_nanos();
    Duration::from_nanos(u64::try_from(nanos).expect("less than the interval"))
}

fn on_grid(anchor: SystemTime, at: SystemTime) -> bool {
    at >= anchor && phase(anchor, at).is_zero()
}

/// The latest fire of the grid at or before `at`.
fn fire_before(anchor: SystemTime, at: SystemTime) -> SystemTime {
    at - phase(anchor, at)
}

/// Sleeps until the middle of an interval of the grid at `anchor`, at least
/// `at_least` from now: no fire is due within a second of then, so what
/// happens then is not mistaken for a late fire, and the records of the
/// fire before it are written.
async fn sleep_to_mid_interval(anchor: SystemTime, at_least: Duration) -> SystemTime {
    let earliest = SystemTime::now() + at_least;
    let half = INTERVAL / 2;
    let phase = phase(anchor, earliest);
    let wait = if phase <= half {
        half - phase
    } else {
        INTERVAL - phase + half
    };
    tokio::time::sleep(at_least + wait).await;
    SystemTime::now()
}

/// Every execution ended: a terminal state, and each attempt has an outcome.
fn assert_all_ended(executions: &[Execution]) {
    for execution in executions {
        assert!(
            execution.state.is_terminal() && execution.finished_at.is_some(),
            "not ended: {execution:#?}"
        );
        assert!(
            execution.attempts.iter().all(|a| a.outcome.is_some()),
            "an attempt without an outcome: {execution:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_abandons_the_running_execution_and_missed_fires_follow_their_policy() {
    let mut scenario = Scenario::new(&["long", "skipper", "once", "catchup"]);
    let mut first = scenario.start("first");
    let store = scenario.store().await;
    wait_for(&store, "the long job to run", |all| {
        of(all, "long")
            .iter()
            .any(|e| e.state == ExecutionState::Running)
    })
    .await;
    let anchor = schedule_row(&store, "skipper").await.anchor;
    let once_anchor = schedule_row(&store, "once").await.anchor;
    let catchup_anchor = schedule_row(&store, "catchup").await.anchor;
    wait_for(&store, "two fires of each 2 s job", |all| {
        ["skipper", "once", "catchup"]
            .iter()
            .all(|job| succeeded(all, job, "first") >= 2)
    })
    .await;
    // Killed in the middle of an interval, down for 6 s (three fires of
    // each 2 s job), started again in the middle of an interval.
    let killed_at = sleep_to_mid_interval(anchor, Duration::ZERO).await;
    first.kill().await;
    let before = all(&store).await;
    let restarted_at = sleep_to_mid_interval(anchor, Duration::from_secs(5)).await;
    let mut second = scenario.start("second");
    wait_for(
        &store,
        "the recovery and two fires after the restart",
        |all| {
            succeeded(all, "long", "second") == 1
                && ["skipper", "once", "catchup"]
                    .iter()
                    .all(|job| succeeded(all, job, "second") >= 2)
        },
    )
    .await;
    second.terminate().await;
    let executions = all(&store).await;

    // What the kill interrupted: abandoned at the restart, its attempt
    // ended `Abandoned`, continued by a recovery execution at attempt 2
    // (`retries = 1`) for the same fire. The job is hourly and fired on
    // time, so the restart runs nothing else of it.
    let long = of(&executions, "long");
    assert_eq!(long.len(), 2, "{long:#?}");
    let (killed, recovery) = (long[0], long[1]);
    assert_eq!(
        (killed.cause, killed.state, &*killed.instance),
        (Cause::Schedule, ExecutionState::Abandoned, "first")
    );
    let numbers: Vec<_> = killed.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1]);
    assert_eq!(killed.outcome(), Some(&Outcome::Abandoned));
    assert_eq!(
        (recovery.cause, recovery.state, &*recovery.instance),
        (Cause::Recovery, ExecutionState::Succeeded, "second")
    );
    assert_eq!(recovery.fire_at, killed.fire_at);
    let numbers: Vec<_> = recovery.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [2]);
    assert_eq!(recovery.outcome(), Some(&Outcome::Succeeded));

    for (job, anchor) in [
        ("skipper", anchor),
        ("once", once_anchor),
        ("catchup", catchup_anchor),
    ] {
        // The grid kept its anchor: the row still has it, and every fire
        // before and after the restart is on it.
        assert_eq!(schedule_row(&store, job).await.anchor, anchor, "{job}");
        let runs = of(&executions, job);
        for run in &runs {
            assert!(
                on_grid(anchor, run.fire_at),
                "{job}: off the grid: {run:#?}"
            );
            assert_eq!(run.cause, Cause::Schedule, "{job}: {run:#?}");
        }
        // Nothing the first process ran was lost: its last fire, a second
        // before the kill, is recorded, and it was the last one it ran.
        let last_before = fire_before(anchor, killed_at);
        let kept: Vec<_> = of(&before, job).iter().map(|e| e.fire_at).collect();
        assert_eq!(kept.last(), Some(&last_before), "{job}");
        // The fires due while down, each more than the threshold late at
        // the restart: missed.
        let latest_missed = fire_before(anchor, restarted_at - THRESHOLD);
        let missed = (latest_missed
            .duration_since(last_before)
            .unwrap()
            .as_nanos()
            / INTERVAL.as_nanos()) as usize;
        assert!(missed >= 2, "{job}: only {missed} fires missed");
        let in_gap: Vec<_> = runs
            .iter()
            .filter(|e| e.fire_at > last_before && e.fire_at <= latest_missed)
            .map(|e| e.fire_at)
            .collect();
        match job {
            // skip: none of them runs.
            "skipper" => assert_eq!(in_gap, [], "skip ran a missed fire"),
            // run_once: the latest of them runs, once.
            "once" => assert_eq!(in_gap, [latest_missed], "run_once ran these"),
            // catch_up with a limit of 2: the latest two, oldest first.
            _ => assert_eq!(
                in_gap,
                [latest_missed - INTERVAL, latest_missed],
                "catch_up ran these"
            ),
        }
        // After the restart the grid goes on: the next fires, in order.
        let after: Vec<_> = runs
            .iter()
            .filter(|e| e.fire_at > latest_missed)
            .map(|e| e.fire_at)
            .collect();
        let next = latest_missed + INTERVAL;
        let expected: Vec<_> = (0..after.len() as u32)
            .map(|k| next + INTERVAL * k)
            .collect();
        assert_eq!(after, expected, "{job}");
    }

    // Nothing lost: after the final stop every execution has ended.
    assert_all_ended(&executions);
}

#[tokio::test(flavor = "multi_thread")]
async fn run_on_start_runs_at_a_restart_only_after_a_missed_fire() {
    let mut scenario = Scenario::new(&["hourly", "starter"]);
    let mut first = scenario.start("first");
    let store = scenario.store().await;
    let anchor = schedule_row(&store, "starter").await.anchor;
    wait_for(&store, "the runs on start and a fire", |all| {
        succeeded(all, "hourly", "first") == 1 && succeeded(all, "starter", "first") >= 2
    })
    .await;
    // Stopped gracefully in the middle of an interval; down for 5 s, past
    // the starter's next fires but well before the hourly job's.
    sleep_to_mid_interval(anchor, Duration::ZERO).await;
    first.terminate().await;
    let restarted_at = sleep_to_mid_interval(anchor, Duration::from_secs(4)).await;
    let mut second = scenario.start("second");
    wait_for(&store, "the run on start and two fires after it", |all| {
        succeeded(all, "starter", "second") >= 3
    })
    .await;
    second.terminate().await;
    let executions = all(&store).await;

    // The hourly job ran at the first start (it had never fired), and not
    // at the second: its last fire was on time and the next is not due.
    let hourly = of(&executions, "hourly");
    assert_eq!(hourly.len(), 1, "{hourly:#?}");
    assert_eq!(&*hourly[0].instance, "first");
    assert_eq!(
        hourly[0].fire_at,
        schedule_row(&store, "hourly").await.anchor
    );

    // The starter's last fire was missed, so it ran at the second start,
    // standing in for the latest missed fire; then its grid went on from
    // the stored anchor.
    let starter = of(&executions, "starter");
    let (before, after): (Vec<&Execution>, Vec<&Execution>) =
        starter.into_iter().partition(|e| &*e.instance == "first");
    assert_eq!(before[0].fire_at, anchor, "the run on the first start");
    for run in &before {
        assert!(on_grid(anchor, run.fire_at), "off the grid: {run:#?}");
    }
    let on_start = after[0];
    assert_eq!(
        on_start.fire_at,
        fire_before(anchor, restarted_at),
        "the run on start at {restarted_at:?}: {on_start:#?}"
    );
    let next = on_start.fire_at + INTERVAL;
    let fires: Vec<_> = after[1..].iter().map(|e| e.fire_at).collect();
    let expected: Vec<_> = (0..fires.len() as u32)
        .map(|k| next + INTERVAL * k)
        .collect();
    assert_eq!(fires, expected, "the grid after the run on start");
    assert_eq!(schedule_row(&store, "starter").await.anchor, anchor);

    assert_all_ended(&executions);
}

/// The service started with `JOBS_DATABASE_URL` set to `url`: it fails at
/// start, with status 1, and says why on stderr.
fn refused(url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_restart-app"))
        .env("JOBS_DATABASE_URL", url)
        .stdin(Stdio::null())
        .output()
        .expect("the service runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_jobs_database_url_is_a_start_up_error_naming_it() {
    let message = refused("mysql://db/jobs");
    assert!(message.contains("\"mysql://db/jobs\""), "{message}");
    assert!(message.contains("sqlite://path/to/jobs.db"), "{message}");
    let message = refused(" ");
    assert!(
        message.contains("JOBS_DATABASE_URL is set but empty"),
        "{message}"
    );
    let folder = tempfile::tempdir().unwrap();
    let missing = format!(
        "sqlite://{}/no/such/folder/jobs.db",
        folder.path().display()
    );
    let message = refused(&missing);
    assert!(message.contains(&missing), "{message}");
}
