//! A crate that defines a job, to test that discovery finds jobs across crates.

use std::sync::atomic::{AtomicU64, Ordering};

use jobs_runtime::job;

/// How many times [`extra_job`] has run.
pub static RUNS: AtomicU64 = AtomicU64::new(0);

/// A job defined in another crate than the binary that runs it.
#[job(name = "extra-crate-job", every = "1m")]
pub async fn extra_job() {
    RUNS.fetch_add(1, Ordering::SeqCst);
}
