//! Jobs that share dependencies through `State<T>`.
//!
//! Each dependency is given once to the builder; every job that names it as a
//! `State<T>` parameter receives the same value (cloning a `State` clones an
//! `Arc`). A job whose `State<T>` was never provided stops start-up with an
//! error naming the job and the type.
//!
//! Run with `cargo run --example dependencies`; stop with Ctrl-C.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use jobs_runtime::{job, JobContext, State};

/// Sessions by id, with their expiry time.
#[derive(Default)]
struct SessionStore {
    sessions: Mutex<HashMap<u64, SystemTime>>,
}

impl SessionStore {
    fn open(&self, id: u64, lifetime: Duration) {
        let mut sessions = self.sessions.lock().expect("session store lock");
        sessions.insert(id, SystemTime::now() + lifetime);
    }

    fn purge_expired(&self) -> usize {
        let now = SystemTime::now();
        let mut sessions = self.sessions.lock().expect("session store lock");
        let before = sessions.len();
        sessions.retain(|_, expires| *expires > now);
        before - sessions.len()
    }

    fn count(&self) -> usize {
        self.sessions.lock().expect("session store lock").len()
    }
}

/// Where reports go.
struct Reporter {
    channel: &'static str,
}

/// Simulates traffic: opens a short-lived session every second.
#[job(every = "1s")]
async fn open_sessions(store: State<SessionStore>, ctx: JobContext) {
    store.open(ctx.execution_number(), Duration::from_secs(3));
}

/// Removes expired sessions.
#[job(every = "2s")]
async fn purge_sessions(store: State<SessionStore>) {
    let removed = store.purge_expired();
    tracing::info!(removed, "expired sessions purged");
}

/// Reports the number of open sessions; takes two dependencies and the context.
#[job(every = "5s", run_on_start = false)]
async fn report_sessions(
    ctx: JobContext,
    reporter: State<Reporter>,
    store: State<SessionStore>,
) -> anyhow::Result<()> {
    tracing::info!(
        channel = reporter.channel,
        open = store.count(),
        report = ctx.execution_number(),
        "session report"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    tracing_subscriber::fmt().init();
    jobs_runtime::builder()
        .state(SessionStore::default())
        .state(Reporter { channel: "#ops" })
        .run()
        .await
}
