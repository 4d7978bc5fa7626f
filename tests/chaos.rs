//! Chaos on a fleet: three real processes of the `chaos-app` service
//! (`tests/chaos/app.rs`: 40 jobs every second, three slow ones, two long
//! ones with a retry, a cron job every second) on one real PostgreSQL
//! database of the test's own, with short fleet timings (heartbeat 500 ms,
//! dead after 2 s).
//!
//! One instance runs all along with its clock 5 s ahead of or behind the
//! others' (libfaketime; the test fails if the library is missing). For
//! 45 s a schedule drawn from a seed kills an instance with SIGKILL (half
//! the time one running a long job) and starts it again after a pause, one
//! instance at a time, and once or twice cuts the database off for 2 to
//! 4 s. Then the fleet is left calm until every killed execution has been
//! taken over, stopped with SIGTERM, and its history read back and checked
//! against what the processes said on their standard output, each line
//! timed by the test's own clock (which is the database's: same machine):
//!
//! - no scheduled fire has two executions, none has two successful ones,
//!   no fire's body ran twice at once, and no two scheduled runs of one job
//!   ran at once (overlap "skip" across the fleet);
//! - every execution ended, and every run a process reported is recorded,
//!   as its job, fire and instance;
//! - every run a kill interrupted is recorded abandoned, and an execution
//!   is abandoned only when its process was killed, or an outage cut its
//!   instance off while it ran; every abandoned execution was continued
//!   (cause `recovery`, from the next attempt) once if its job's retries
//!   allowed another attempt, and not at all if not;
//! - a run a kill interrupted was continued within dead-after plus two
//!   heartbeats, with slack for a loaded machine (and the skew, on an
//!   instance whose clock is ahead);
//! - no scheduled run started before its fire time, on the skewed instance
//!   too: the fleet judges fire times by the database's clock, and the
//!   skewed instance measured its offset;
//! - every job's fires lie on its grid, and fires were left out (missed =
//!   "skip") only around the outages, and around the kills that left an
//!   execution of the job unfinished.
//!
//! The test also reports what it saw and does not hold the fleet to: the
//! failover times, runs aborted by a fenced instance and what became of
//! them, continuations that ran beside a scheduled run of their job, and
//! the fires that ran by second.
//!
//! Every problem found is reported at once, at the end. `JOBS_CHAOS_SEED=N`
//! draws the same schedule of events again (the processes' timing is the
//! machine's). When the test fails, or `JOBS_CHAOS_KEEP_LOGS` is set, the
//! processes' logs and lines are kept under the target's temporary
//! directory.

#![cfg(unix)]

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jobs_runtime::execution::{
    to_millis, Cause, Execution, ExecutionFilter, ExecutionState, Outcome,
};
use jobs_runtime::store::{PostgresStore, Store};
use jobs_test_postgres::Database;

mod support;

/// The instances' names.
const NAMES: [&str; 3] = ["chaos-1", "chaos-2", "chaos-3"];

/// How often each instance writes its heartbeat (`JOBS_HEARTBEAT`).
const HEARTBEAT: Duration = Duration::from_millis(500);

/// How old an instance's heartbeat is when the others take it for dead
/// (`JOBS_DEAD_AFTER`).
const DEAD_AFTER: Duration = Duration::from_secs(2);

/// How far the skewed instance's clock is off, ahead or behind.
const SKEW: Duration = Duration::from_secs(5);

/// How long the fleet runs before the chaos, once its jobs run, to settle.
const WARM_UP: Duration = Duration::from_secs(3);

/// How long the chaos lasts.
const CHAOS: Duration = Duration::from_secs(45);

/// How long the fleet runs after the chaos, all instances up, before it is
/// stopped: long enough for the last killed executions to be taken over.
const CALM: Duration = Duration::from_secs(8);

/// What a loaded machine may add to the failover bound: process start-up,
/// scheduling delays, the database's answers.
const SLACK: Duration = Duration::from_secs(4);

/// How much earlier than its fire time a scheduled run may be seen to
/// start: the claim's own tolerance (20 ms) and the clocks' granularity.
const EARLY: Duration = Duration::from_millis(50);

/// How late the test may read a line an instance wrote.
const RECEIPT: Duration = Duration::from_millis(500);

/// How many kills the chaos makes at least.
const MIN_KILLS: usize = 4;

/// How long before a kill and after it the fires of a job may be left out
/// when the kill left an execution of it unfinished: that execution holds
/// the job's one run at a time across the fleet until it is taken over.
const KILL_WINDOW: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(7));

/// How long before an outage and after its end fires may be left out: the
/// changes recorded just before the outage reach the database at the
/// writer's next try, up to 5 s after it is back, and until then the
/// executions they end hold their jobs' one run at a time.
const OUTAGE_WINDOW: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(7));

/// The share of the fires outside those windows that may be missing, over
/// all the jobs checked: a loaded machine may delay a claim past the next
/// fire now and then.
const MISSING_OUTSIDE_WINDOWS: f64 = 0.02;

/// How long a stopped instance may take to exit: the runs in flight end
/// within 4 s, the service's grace period is 10 s.
const STOP_PATIENCE: Duration = Duration::from_secs(30);

/// A job's retries in the service: the long jobs retry once.
fn retries(job: &str) -> u32 {
    u32::from(job.starts_with("long-"))
}

/// A small random number generator (xorshift64*), seeded.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A duration in `low..=high`, by the millisecond.
    fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = u64::try_from((high - low).as_millis()).unwrap();
        low + Duration::from_millis(self.below(span + 1))
    }
}

/// The seed: `JOBS_CHAOS_SEED`, or (unset or empty) one from the clock.
fn seed() -> u64 {
    match std::env::var("JOBS_CHAOS_SEED") {
        Ok(text) if !text.is_empty() => text
            .parse()
            .unwrap_or_else(|_| panic!("JOBS_CHAOS_SEED={text} is not a number")),
        _ => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            now.as_secs() ^ (u64::from(now.subsec_nanos()) << 20) ^ u64::from(std::process::id())
        }
    }
}

/// libfaketime's library, looked for under `/usr/lib` (in a directory of
/// the architecture, as Debian installs it, or directly); the test fails
/// if it is missing.
fn faketime() -> PathBuf {
    let mut candidates = vec![PathBuf::from("/usr/lib/faketime/libfaketime.so.1")];
    if let Ok(entries) = fs::read_dir("/usr/lib") {
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("faketime/libfaketime.so.1"))
            .collect();
        found.sort();
        candidates.extend(found);
    }
    candidates.into_iter().find(|path| path.is_file()).expect(
        "libfaketime.so.1 is not under /usr/lib; this test runs an instance with a skewed \
             clock through it: install it (apt-get install faketime)",
    )
}

/// What an instance said about one of its runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    /// The body started.
    Start {
        job: String,
        id: i64,
        fire_at: i64,
        attempt: u32,
    },
    /// The body returned.
    End { id: i64, attempt: u32 },
    /// The body was dropped before it returned (aborted).
    Drop { id: i64, attempt: u32 },
    /// The process's output ended: it exited or was killed.
    Closed,
    /// A line of no known form.
    Other(String),
}

impl Said {
    fn parse(line: &str) -> Said {
        let words: Vec<&str> = line.split(' ').collect();
        let parsed = match words.as_slice() {
            ["start", job, id, fire_at, attempt] => (|| {
                Some(Said::Start {
                    job: (*job).to_owned(),
                    id: id.parse().ok()?,
                    fire_at: fire_at.parse().ok()?,
                    attempt: attempt.parse().ok()?,
                })
            })(),
            ["end", id, attempt] => (|| {
                Some(Said::End {
                    id: id.parse().ok()?,
                    attempt: attempt.parse().ok()?,
                })
            })(),
            ["drop", id, attempt] => (|| {
                Some(Said::Drop {
                    id: id.parse().ok()?,
                    attempt: attempt.parse().ok()?,
                })
            })(),
            _ => None,
        };
        parsed.unwrap_or_else(|| Said::Other(line.to_owned()))
    }
}

/// A line an instance said, with when the test read it (ms since the
/// epoch, the test's clock) and which life of an instance said it.
#[derive(Debug, Clone)]
struct Heard {
    at: i64,
    life: usize,
    said: Said,
}

/// One life of an instance: from its start to its exit or kill.
#[derive(Debug, Clone)]
struct Life {
    index: usize,
    killed: Option<i64>,
}

/// The directory of the processes' logs, removed unless the test fails.
struct Logs(PathBuf);

impl Logs {
    /// An empty directory `name` under the target's temporary directory.
    fn fresh(name: &str) -> Logs {
        let logs = Logs(Path::new(env!("CARGO_TARGET_TMPDIR")).join(name));
        let _ = fs::remove_dir_all(&logs.0);
        fs::create_dir_all(&logs.0).unwrap();
        logs
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("JOBS_CHAOS_KEEP_LOGS").is_some() {
            eprintln!("the instances' logs are kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// The three instances, each in its current life (if up), and what all
/// their lives said.
struct Fleet {
    url: String,
    logs: PathBuf,
    faketime: PathBuf,
    skewed: usize,
    skew: String,
    heard: Arc<Mutex<Vec<Heard>>>,
    lives: Vec<Life>,
    up: [Option<(Child, usize)>; 3],
    readers: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// The three instances on the database at `url`, none up yet, writing
    /// their logs to `logs`; instance `skewed` runs with its clock off by
    /// `skew` (libfaketime's form, such as `+5s`).
    fn new(url: &str, logs: &Logs, skewed: usize, skew: String) -> Fleet {
        Fleet {
            url: url.to_owned(),
            logs: logs.0.clone(),
            faketime: faketime(),
            skewed,
            skew,
            heard: Arc::default(),
            lives: Vec::new(),
            up: [None, None, None],
            readers: Vec::new(),
        }
    }

    /// Starts instance `index` in a new life.
    fn start(&mut self, index: usize) {
        assert!(self.up[index].is_none(), "{} is up", NAMES[index]);
        let life = self.lives.len();
        let name = NAMES[index];
        let log = File::create(self.logs.join(format!("{life:02}-{name}.log"))).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_chaos-app"));
        command
            .env("JOBS_DATABASE_URL", &self.url)
            .env("JOBS_INSTANCE", name)
            .env("JOBS_HEARTBEAT", format!("{}ms", HEARTBEAT.as_millis()))
            .env("JOBS_DEAD_AFTER", format!("{}ms", DEAD_AFTER.as_millis()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if index == self.skewed {
            command
                .env("LD_PRELOAD", &self.faketime)
                .env("FAKETIME", &self.skew);
        }
        let mut child = command.spawn().expect("the service starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = File::create(self.logs.join(format!("{life:02}-{name}.out"))).unwrap();
        let heard = Arc::clone(&self.heard);
        self.readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let at = to_millis(SystemTime::now());
                let Ok(line) = line else { break };
                let _ = writeln!(lines, "{at} {line}");
                let said = Said::parse(&line);
                heard.lock().unwrap().push(Heard { at, life, said });
            }
            let at = to_millis(SystemTime::now());
            let said = Said::Closed;
            heard.lock().unwrap().push(Heard { at, life, said });
        }));
        self.lives.push(Life {
            index,
            killed: None,
        });
        self.up[index] = Some((child, life));
    }

    /// The instances up that are running a long job now, as they said.
    fn running_long(&self) -> Vec<usize> {
        let heard = self.heard.lock().unwrap();
        let mut running: Vec<(usize, i64)> = Vec::new();
        for line in heard.iter() {
            match &line.said {
                Said::Start { job, id, .. } if job.starts_with("long-") => {
                    running.push((line.life, *id));
                }
                Said::End { id, .. } | Said::Drop { id, .. } => {
                    running.retain(|run| run != &(line.life, *id));
                }
                _ => {}
            }
        }
        let mut up: Vec<usize> = self
            .up
            .iter()
            .enumerate()
            .filter_map(|(index, up)| {
                let (_, life) = up.as_ref()?;
                running.iter().any(|run| run.0 == *life).then_some(index)
            })
            .collect();
        up.dedup();
        up
    }

    /// Kills instance `index` with SIGKILL; returns when (ms).
    fn kill(&mut self, index: usize) -> i64 {
        let (mut child, life) = self.up[index].take().expect("the instance is up");
        let at = to_millis(SystemTime::now());
        child.kill().expect("SIGKILL");
        child.wait().expect("the killed process is reaped");
        self.lives[life].killed = Some(at);
        at
    }

    /// Stops every instance with SIGTERM, and waits for each to exit,
    /// successfully, and for what they said.
    fn stop(&mut self) {
        for (child, _) in self.up.iter().flatten() {
            let pid = libc::pid_t::try_from(child.id()).unwrap();
            // SAFETY: sending a signal to a child process this test started
            // and has not reaped.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM");
        }
        let deadline = Instant::now() + STOP_PATIENCE;
        for (index, up) in self.up.iter_mut().enumerate() {
            let (mut child, _) = up.take().expect("every instance is up at the end");
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{} did not exit within {STOP_PATIENCE:?}", NAMES[index]);
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            assert!(status.success(), "{} exited with {status}", NAMES[index]);
        }
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for (mut child, _) in self.up.iter_mut().filter_map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Something the chaos did, for the report.
#[derive(Debug, Clone, Copy)]
enum Event {
    Kill(usize),
    Start(usize),
    Cut,
    Restore,
}

/// A window of time (ms) in which fires may be left out.
type Window = (i64, i64);

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_under_kills_outages_and_a_skewed_clock_runs_each_fire_once() {
    let seed = seed();
    eprintln!("chaos seed {seed} (JOBS_CHAOS_SEED={seed} draws the same events again)");
    let mut rng = Rng::new(seed);
    let database = Database::create().await;
    let logs = Logs::fresh(&format!("chaos-{seed}"));
    let skewed = usize::try_from(rng.below(3)).unwrap();
    let sign = if rng.below(2) == 0 { '+' } else { '-' };
    let skew = format!("{sign}{}s", SKEW.as_secs());
    eprintln!("{} runs with its clock off by {skew}", NAMES[skewed]);
    let mut fleet = Fleet::new(database.url(), &logs, skewed, skew);
    let began = Instant::now();
    for index in 0..NAMES.len() {
        fleet.start(index);
    }
    let store = PostgresStore::open(database.url())
        .await
        .expect("the store opens");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let instances = store.instances().await.unwrap_or_default();
        if instances.iter().filter(|i| i.alive).count() == NAMES.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the instances start: {instances:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the fleet is up after {:?}", began.elapsed());
    // The jobs' grids count from the anchor the first instance to meet them
    // wrote, by the database's clock, but the first fires may wait for the
    // instances' start.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fleet
        .heard
        .lock()
        .unwrap()
        .iter()
        .any(|line| matches!(&line.said, Said::Start { job, .. } if job.starts_with("tick-")))
    {
        assert!(Instant::now() < deadline, "the tick jobs never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the jobs run after {:?}", began.elapsed());
    tokio::time::sleep(WARM_UP).await;

    // The chaos: kills one at a time, and outages at times drawn first,
    // each kept apart from the kills, so that a failover is not slowed by
    // an outage.
    let chaos_began = to_millis(SystemTime::now());
    let chaos_end = Instant::now() + CHAOS;
    let mut outages: Vec<Duration> =
        vec![rng.between(Duration::from_secs(6), Duration::from_secs(16))];
    if rng.below(2) == 0 {
        outages.push(rng.between(Duration::from_secs(26), Duration::from_secs(36)));
    }
    let outages_at: Vec<Instant> = outages.iter().map(|at| Instant::now() + *at).collect();
    let mut outages_at = outages_at.into_iter().peekable();
    let mut events: Vec<(i64, Event)> = Vec::new();
    let mut kills: Vec<(usize, i64)> = Vec::new();
    let mut outage_windows: Vec<Window> = Vec::new();
    let mut last_kill = Instant::now() - Duration::from_secs(60);
    while Instant::now() < chaos_end || outages_at.peek().is_some() || kills.len() < MIN_KILLS {
        let quiet = last_kill + DEAD_AFTER + HEARTBEAT * 2 + SLACK;
        if outages_at.peek().is_some_and(|at| *at <= Instant::now()) {
            if Instant::now() < quiet {
                tokio::time::sleep_until(quiet.into()).await;
            }
            outages_at.next();
            let length = rng.between(Duration::from_secs(2), Duration::from_secs(4));
            let cut = to_millis(SystemTime::now());
            database.cut().await;
            events.push((cut, Event::Cut));
            tokio::time::sleep(length).await;
            database.restore().await;
            let restored = to_millis(SystemTime::now());
            events.push((restored, Event::Restore));
            outage_windows.push((cut, restored));
            tokio::time::sleep(rng.between(Duration::from_secs(2), Duration::from_secs(4))).await;
            continue;
        }
        // Half the kills aim at an instance running a long job, so that
        // there are failovers to measure.
        let aimed = fleet.running_long();
        let index = if !aimed.is_empty() && rng.below(2) == 0 {
            aimed[usize::try_from(rng.below(aimed.len() as u64)).unwrap()]
        } else {
            usize::try_from(rng.below(3)).unwrap()
        };
        let pause = rng.between(Duration::from_millis(300), Duration::from_secs(6));
        let calm = rng.between(Duration::from_secs(1), Duration::from_secs(4));
        let at = fleet.kill(index);
        last_kill = Instant::now();
        events.push((at, Event::Kill(index)));
        kills.push((index, at));
        tokio::time::sleep(pause).await;
        fleet.start(index);
        events.push((to_millis(SystemTime::now()), Event::Start(index)));
        tokio::time::sleep(calm).await;
    }
    let chaos_ended = to_millis(SystemTime::now());
    eprintln!(
        "the chaos lasted {:.1} s: {} kills, {} outages",
        (chaos_ended - chaos_began) as f64 / 1e3,
        kills.len(),
        outage_windows.len()
    );
    tokio::time::sleep(CALM).await;
    let stopped_at = to_millis(SystemTime::now());
    fleet.stop();
    eprintln!("the fleet ran {:?}", began.elapsed());
    eprintln!("events (s after the chaos began):");
    for (at, event) in &events {
        let name = match event {
            Event::Kill(index) | Event::Start(index) => NAMES[*index],
            Event::Cut | Event::Restore => "database",
        };
        eprintln!("  {:7.3} {event:?} {name}", (at - chaos_began) as f64 / 1e3);
    }

    let executions = store
        .executions(ExecutionFilter::new().unlimited().oldest_first())
        .await
        .expect("the history reads");
    let instances = store.instances().await.expect("the instances read");
    let heard = fleet.heard.lock().unwrap().clone();
    let mut problems = check(&Checked {
        executions: &executions,
        heard: &heard,
        lives: &fleet.lives,
        kills: &kills,
        outages: &outage_windows,
        skewed,
        ahead: sign == '+',
        chaos: (chaos_began, stopped_at),
    });
    // The skew took: the skewed instance's heartbeats measured it.
    let offset = instances
        .iter()
        .find(|instance| instance.id == NAMES[skewed])
        .and_then(|instance| instance.clock_offset_ms);
    let expected = if sign == '+' { ms(SKEW) } else { -ms(SKEW) };
    match offset {
        Some(offset) if (offset - expected).abs() < 1_000 => {}
        _ => problems.push(format!(
            "{} measured its clock {offset:?} ms off the database's, not {expected}",
            NAMES[skewed]
        )),
    }
    eprintln!("the test took {:?}", began.elapsed());
    if !problems.is_empty() {
        let shown: Vec<String> = problems.iter().map(|problem| shorten(problem)).collect();
        panic!(
            "seed {seed}: {} problems:\n\n{}",
            problems.len(),
            shown.join("\n\n")
        );
    }
}

/// `text`, cut to its first 6,000 characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(6_000) {
        Some((at, _)) => format!("{}... ({} characters)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// What the checks read.
struct Checked<'a> {
    executions: &'a [Execution],
    heard: &'a [Heard],
    lives: &'a [Life],
    kills: &'a [(usize, i64)],
    outages: &'a [Window],
    skewed: usize,
    /// Whether the skewed instance's clock is ahead of the others'.
    ahead: bool,
    /// From the chaos's start to the fleet's stop (ms).
    chaos: Window,
}

/// A body run, as the instance that ran it said: where, when (ms, the
/// test's clock), and how it ended.
#[derive(Debug, Clone)]
struct Run {
    job: String,
    id: i64,
    fire_at: i64,
    attempt: u32,
    life: usize,
    started: i64,
    /// When it ended (returned, was dropped, or its process was killed).
    ended: i64,
    /// Whether its body returned.
    returned: bool,
    /// Whether its process was killed while it ran.
    killed: bool,
}

/// The body runs `heard` tells of.
fn runs(heard: &[Heard], lives: &[Life]) -> Vec<Run> {
    let strange: Vec<&Heard> = heard
        .iter()
        .filter(|h| matches!(h.said, Said::Other(_)))
        .collect();
    assert!(strange.is_empty(), "lines of no known form: {strange:?}");
    let mut open: HashMap<(usize, i64, u32), Run> = HashMap::new();
    let mut runs = Vec::new();
    for line in heard {
        match &line.said {
            Said::Start {
                job,
                id,
                fire_at,
                attempt,
            } => {
                let run = Run {
                    job: job.clone(),
                    id: *id,
                    fire_at: *fire_at,
                    attempt: *attempt,
                    life: line.life,
                    started: line.at,
                    ended: i64::MAX,
                    returned: false,
                    killed: false,
                };
                let before = open.insert((line.life, *id, *attempt), run);
                assert!(before.is_none(), "run {id} attempt {attempt} started twice");
            }
            Said::End { id, attempt } | Said::Drop { id, attempt } => {
                let mut run = open
                    .remove(&(line.life, *id, *attempt))
                    .unwrap_or_else(|| panic!("run {id} attempt {attempt} ended unstarted"));
                run.ended = line.at;
                run.returned = matches!(line.said, Said::End { .. });
                runs.push(run);
            }
            Said::Closed => {
                let mut left: Vec<(usize, i64, u32)> = open
                    .keys()
                    .filter(|key| key.0 == line.life)
                    .copied()
                    .collect();
                left.sort_unstable();
                for key in left {
                    let mut run = open.remove(&key).unwrap();
                    assert!(
                        lives[line.life].killed.is_some(),
                        "{} exited during run {run:?}",
                        NAMES[lives[line.life].index]
                    );
                    run.ended = line.at;
                    run.killed = true;
                    runs.push(run);
                }
            }
            Said::Other(_) => {}
        }
    }
    assert!(open.is_empty(), "runs never ended: {open:?}");
    runs.sort_by_key(|run| (run.started, run.id));
    runs
}

/// The checks of the module's doc, on what the fleet recorded and said.
/// Returns what they found wrong.
fn check(checked: &Checked<'_>) -> Vec<String> {
    let mut problems: Vec<String> = Vec::new();
    // Records a problem unless `$ok` holds; the checks go on.
    macro_rules! expect {
        ($ok:expr, $($message:tt)+) => {
            let ok: bool = $ok;
            if !ok {
                problems.push(format!($($message)+));
            }
        };
    }
    let executions = checked.executions;
    let by_id: HashMap<i64, &Execution> = executions.iter().map(|e| (e.id.get(), e)).collect();
    assert_eq!(by_id.len(), executions.len(), "execution ids are unique");
    let runs = runs(checked.heard, checked.lives);
    let name_of = |life: usize| NAMES[checked.lives[life].index];
    eprintln!(
        "{} executions recorded, {} body runs said, over {} lives",
        executions.len(),
        runs.len(),
        checked.lives.len()
    );

    // Every execution ended.
    let unfinished: Vec<&Execution> = executions
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                ExecutionState::Pending | ExecutionState::Running | ExecutionState::Retrying
            )
        })
        .collect();
    expect!(
        unfinished.is_empty(),
        "executions left unfinished: {unfinished:#?}"
    );
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for execution in executions {
        *states
            .entry(format!("{:?} {:?}", execution.cause, execution.state))
            .or_default() += 1;
    }
    eprintln!("executions by cause and state: {states:?}");

    // One execution per scheduled fire, one success per fire.
    let mut by_fire: BTreeMap<(&str, i64), Vec<&Execution>> = BTreeMap::new();
    for execution in executions {
        by_fire
            .entry((&execution.job, to_millis(execution.fire_at)))
            .or_default()
            .push(execution);
    }
    for (fire, all) in &by_fire {
        let scheduled = all.iter().filter(|e| e.cause == Cause::Schedule).count();
        expect!(scheduled <= 1, "fire {fire:?} was claimed twice: {all:#?}");
        let succeeded = all
            .iter()
            .filter(|e| e.state == ExecutionState::Succeeded)
            .count();
        expect!(succeeded <= 1, "fire {fire:?} succeeded twice: {all:#?}");
        expect!(
            all.iter()
                .all(|e| matches!(e.cause, Cause::Schedule | Cause::Recovery)),
            "{all:#?}"
        );
    }

    // Every run said is recorded, as its job and fire, on its instance.
    for run in &runs {
        let execution = by_id
            .get(&run.id)
            .unwrap_or_else(|| panic!("run {run:?} is not recorded"));
        expect!(
            *execution.job == *run.job
                && to_millis(execution.fire_at) == run.fire_at
                && *execution.instance == *name_of(run.life),
            "a run is recorded as another job, fire or instance: {run:?}: {execution:#?}"
        );
        if run.returned {
            expect!(
                matches!(
                    execution.state,
                    ExecutionState::Succeeded | ExecutionState::Abandoned
                ),
                "a run that returned is recorded a success, or abandoned when its result \
                 was lost with its process or fenced: {run:?}: {execution:#?}"
            );
        }
    }
    let aborted: Vec<String> = runs
        .iter()
        .filter(|run| !run.returned && !run.killed)
        .map(|run| {
            let continued = by_fire[&(&*run.job, run.fire_at)]
                .iter()
                .filter(|e| e.cause == Cause::Recovery)
                .count();
            format!(
                "{} attempt {} {:?} ({continued} continuations)",
                run.job, run.attempt, by_id[&run.id].state
            )
        })
        .collect();
    eprintln!("runs aborted (fenced in an outage): {aborted:?}");
    // A run aborted by its fenced instance, with a retry left, is continued
    // when another instance takes its execution over (abandoned) before the
    // fenced one writes it cancelled; not when the fenced one is back first.
    let uncontinued: Vec<&Run> = runs
        .iter()
        .filter(|run| {
            !run.returned
                && !run.killed
                && run.attempt <= retries(&run.job)
                && by_id[&run.id].state == ExecutionState::Cancelled
        })
        .collect();
    eprintln!(
        "aborted runs with a retry left that were recorded cancelled and not continued: {}",
        uncontinued.len()
    );
    let lost = runs
        .iter()
        .filter(|run| run.returned && by_id[&run.id].state == ExecutionState::Abandoned)
        .count();
    eprintln!(
        "{lost} runs returned but were recorded abandoned (results lost to a kill or an outage)"
    );

    // Every job's scheduled runs go one at a time across the fleet
    // (overlap "skip"); a continuation beside a scheduled run is reported.
    let mut runs_by_job: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        runs_by_job.entry(&run.job).or_default().push(run);
    }
    let (mut overlapping, mut continuations): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (job, all) in &runs_by_job {
        for (at, first) in all.iter().enumerate() {
            for second in &all[at + 1..] {
                if second.started < first.ended && first.started < second.ended {
                    // A continuation's claim is not held to the job's limit.
                    let scheduled = by_id[&first.id].cause == Cause::Schedule
                        && by_id[&second.id].cause == Cause::Schedule;
                    let list = if scheduled {
                        &mut overlapping
                    } else {
                        &mut continuations
                    };
                    list.push(format!(
                        "{job}: {:?} {} on {} [{}, {}] and {:?} {} on {} [{}, {}]",
                        by_id[&first.id].cause,
                        first.fire_at,
                        name_of(first.life),
                        first.started,
                        first.ended,
                        by_id[&second.id].cause,
                        second.fire_at,
                        name_of(second.life),
                        second.started,
                        second.ended,
                    ));
                }
            }
        }
    }
    eprintln!("runs of one job at once, with a continuation: {continuations:#?}");
    expect!(
        overlapping.is_empty(),
        "scheduled runs of one job at once: {overlapping:#?}"
    );

    // No fire's body ran twice at once.
    let mut runs_by_fire: BTreeMap<(&str, i64), Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        runs_by_fire
            .entry((&run.job, run.fire_at))
            .or_default()
            .push(run);
    }
    for (fire, all) in &runs_by_fire {
        let spans: Vec<(i64, i64)> = all.iter().map(|run| (run.started, run.ended)).collect();
        expect!(
            support::most_at_once(spans.iter().copied()) <= 1,
            "fire {fire:?} ran twice at once: {all:#?}"
        );
    }
    let again = runs_by_fire.values().filter(|all| all.len() > 1).count();
    eprintln!("{again} fires ran their body more than once (continued after a kill or an outage)");

    // A run a kill interrupted is recorded abandoned.
    for run in runs.iter().filter(|run| run.killed) {
        let execution = by_id[&run.id];
        expect!(
            execution.state == ExecutionState::Abandoned,
            "a run a kill interrupted is not recorded abandoned: {run:?}: {execution:#?}"
        );
        if let Some(attempt) = execution.attempts.iter().find(|a| a.number == run.attempt) {
            expect!(
                attempt.outcome == Some(Outcome::Abandoned),
                "a killed attempt did not end abandoned: {run:?}: {execution:#?}"
            );
        }
    }

    // An execution is taken over (abandoned) only when its process was
    // killed before its result was written, or an outage cut the instance
    // off while the run went on: never one a live instance ran after the
    // database was back.
    let mut taken: Vec<String> = Vec::new();
    for run in runs.iter().filter(|run| !run.killed) {
        let execution = by_id[&run.id];
        if execution.state != ExecutionState::Abandoned {
            continue;
        }
        let killed_after = checked.lives[run.life]
            .killed
            .is_some_and(|killed| run.ended <= killed);
        let cut_off = checked
            .outages
            .iter()
            .any(|(cut, restored)| run.started < *cut && run.ended <= restored + ms(RECEIPT));
        if !killed_after && !cut_off {
            taken.push(format!(
                "{} {} attempt {} on {} [{}, {}]",
                run.job,
                run.fire_at,
                run.attempt,
                name_of(run.life),
                run.started,
                run.ended
            ));
        }
    }
    expect!(
        taken.is_empty(),
        "{} executions of live instances, run while the database answered, were taken \
         over: {taken:#?}",
        taken.len()
    );

    // Every abandoned execution was continued once if its retries allowed,
    // and not if not; every continuation continues one.
    for ((job, fire_at), all) in &by_fire {
        let tried = |e: &Execution| e.attempts.iter().map(|a| a.number).max().unwrap_or(0);
        let mut due: Vec<u32> = all
            .iter()
            .filter(|e| e.state == ExecutionState::Abandoned && tried(e) <= retries(job))
            .map(|e| tried(e) + 1)
            .collect();
        let mut continued: Vec<u32> = all
            .iter()
            .filter(|e| e.cause == Cause::Recovery)
            .map(|e| e.attempts.first().map_or(0, |a| a.number))
            .collect();
        due.sort_unstable();
        continued.sort_unstable();
        expect!(
            due.len() == continued.len(),
            "{job} at {fire_at}: abandoned executions to continue (next attempts {due:?}) \
             and continuations (first attempts {continued:?}, 0: none ran): {all:#?}"
        );
        for first in continued.iter().filter(|first| **first != 0) {
            expect!(due.contains(first), "{job} at {fire_at}: {all:#?}");
        }
    }

    // Failover: a run a kill interrupted, continued.
    let bound = DEAD_AFTER + HEARTBEAT * 2 + SLACK;
    let mut failovers = Vec::new();
    for run in runs.iter().filter(|run| run.killed) {
        let killed_at = checked.lives[run.life].killed.unwrap();
        let execution = by_id[&run.id];
        let tried = execution
            .attempts
            .iter()
            .map(|a| a.number)
            .max()
            .unwrap_or(0);
        if tried > retries(&run.job) {
            continue;
        }
        let continued = runs
            .iter()
            .filter(|other| {
                other.job == run.job
                    && other.fire_at == run.fire_at
                    && other.started > killed_at
                    && by_id[&other.id].cause == Cause::Recovery
            })
            .min_by_key(|other| other.started);
        let Some(continued) = continued else {
            problems.push(format!(
                "{run:?}, killed at {killed_at}, was never continued: {execution:#?}"
            ));
            continue;
        };
        let after = continued.started - killed_at;
        let on = checked.lives[continued.life].index;
        failovers.push(format!("{} {after} ms on {}", run.job, NAMES[on]));
        // On an instance whose clock is ahead, a continuation waits behind
        // the job's own scheduled run, which waits for its fire by the
        // database's clock: up to the skew.
        let bound = if on == checked.skewed && checked.ahead {
            bound + SKEW
        } else {
            bound
        };
        expect!(
            after <= ms(bound),
            "{run:?} was continued {after} ms after its kill on {}, past {bound:?}",
            NAMES[on]
        );
    }
    eprintln!("failovers (kill to the continuation's start, ms): {failovers:?}");
    expect!(
        !failovers.is_empty(),
        "no kill interrupted a run with a retry left"
    );

    // No scheduled run started before its fire time.
    for run in &runs {
        if by_id[&run.id].cause == Cause::Schedule {
            expect!(
                run.started >= run.fire_at - ms(EARLY),
                "{run:?} on {} started {} ms before its fire time",
                name_of(run.life),
                run.fire_at - run.started
            );
        }
    }
    let skewed_won = executions
        .iter()
        .filter(|e| e.cause == Cause::Schedule && &*e.instance == NAMES[checked.skewed])
        .count();
    eprintln!("the skewed instance claimed {skewed_won} scheduled fires");

    // Every job's fires lie on its grid; fires are missing only around the
    // kills and the outages.
    let outages: Vec<Window> = checked
        .outages
        .iter()
        .map(|(cut, restored)| (cut - ms(OUTAGE_WINDOW.0), restored + ms(OUTAGE_WINDOW.1)))
        .collect();
    // The windows of a job: the outages', and those of the kills that left
    // an execution of it unfinished (abandoned later), whose fire came
    // before the kill (by the killed instance's clock, maybe skewed).
    let windows_of = |job: &str| -> Vec<Window> {
        let mut windows = outages.clone();
        for (index, at) in checked.kills {
            let left = executions.iter().any(|e| {
                *e.job == *job
                    && &*e.instance == NAMES[*index]
                    && e.state == ExecutionState::Abandoned
                    && (at - ms(SKEW) - 2_000..=at + 1_000).contains(&to_millis(e.fire_at))
            });
            if left {
                windows.push((at - ms(KILL_WINDOW.0), at + ms(KILL_WINDOW.1)));
            }
        }
        windows
    };
    let mut scheduled: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for execution in executions.iter().filter(|e| e.cause == Cause::Schedule) {
        scheduled
            .entry(&execution.job)
            .or_default()
            .push(to_millis(execution.fire_at));
    }
    let (from, until) = (checked.chaos.0, checked.chaos.1 - 1_000);
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for (job, fires) in &scheduled {
        if job.starts_with("tick-") || *job == "cron" {
            for fire in fires {
                *per_second
                    .entry((fire - from).div_euclid(1_000))
                    .or_default() += 1;
            }
        }
    }
    let coverage: Vec<String> = (0..=(until - from) / 1_000)
        .map(|second| per_second.get(&second).copied().unwrap_or(0).to_string())
        .collect();
    eprintln!(
        "tick and cron fires that ran, by second of the chaos: {}",
        coverage.join(" ")
    );
    let (mut outside, mut missing_outside, mut inside, mut missing_inside) = (0, 0, 0, 0);
    let mut missing: Vec<(&str, i64)> = Vec::new();
    for (job, fires) in &mut scheduled {
        fires.sort_unstable();
        let phase = fires[0].rem_euclid(1_000);
        expect!(
            fires.iter().all(|fire| fire.rem_euclid(1_000) == phase),
            "{job}'s fires are off its grid: {fires:?}"
        );
        if *job == "cron" {
            expect!(
                phase == 0,
                "the cron job fires off whole seconds: {fires:?}"
            );
        }
        if !(job.starts_with("tick-") || *job == "cron") {
            continue;
        }
        let windows = windows_of(job);
        let mut fire = from - from.rem_euclid(1_000) + phase + 1_000;
        while fire <= until {
            let excused = windows
                .iter()
                .any(|(start, end)| *start <= fire && fire <= *end);
            let ran = fires.binary_search(&fire).is_ok();
            match (excused, ran) {
                (true, ran) => {
                    inside += 1;
                    missing_inside += usize::from(!ran);
                }
                (false, ran) => {
                    outside += 1;
                    if !ran {
                        missing_outside += 1;
                        missing.push((job, fire - checked.chaos.0));
                    }
                }
            }
            fire += 1_000;
        }
    }
    eprintln!(
        "fires of the tick and cron jobs: {missing_outside} of {outside} missing outside \
         the windows of kills and outages, {missing_inside} of {inside} inside"
    );
    if !missing.is_empty() {
        eprintln!("missing outside the windows (job, ms after the chaos began): {missing:?}");
    }
    expect!(
        missing_outside as f64 <= MISSING_OUTSIDE_WINDOWS * outside as f64,
        "{missing_outside} of {outside} fires missing outside the windows: {missing:?}"
    );
    expect!(inside > 0 && outside > 0, "{inside} {outside}");
    problems
}

/// An instance whose clock is ahead of the database's, the first to meet
/// the jobs, anchors their grids where the database's clock puts the
/// moment it met them: its time less the offset it measured, not its own
/// time, so the fleet's grids do not move with one instance's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_a_skewed_clock_anchors_the_grids_by_the_databases_clock() {
    let database = Database::create().await;
    let logs = Logs::fresh("chaos-anchor");
    let skew = Duration::from_secs(20);
    let mut fleet = Fleet::new(database.url(), &logs, 0, format!("+{}s", skew.as_secs()));
    fleet.start(0);
    let store = PostgresStore::open(database.url())
        .await
        .expect("the store opens");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows = store.schedules().await.unwrap_or_default();
        if !rows.is_empty() {
            break rows;
        }
        assert!(Instant::now() < deadline, "the instance registers its jobs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let instances = store.instances().await.expect("the instances read");
    let skewed = instances
        .iter()
        .find(|instance| instance.id == NAMES[0])
        .expect("the skewed instance registered");
    let offset = skewed.clock_offset_ms.expect("an offset measured");
    assert!(
        (offset - ms(skew)).abs() < 1_000,
        "{offset} ms measured, {skew:?} skewed"
    );
    // The database's time when the instance registered, just before it
    // met the jobs.
    let registered = to_millis(skewed.started_at);
    for row in &rows {
        let anchor = to_millis(row.anchor);
        assert!(
            (anchor - registered).abs() < 1_000,
            "{}: anchored at {anchor}, {} ms from the database's time of {registered}",
            row.job,
            anchor - registered
        );
    }
}
