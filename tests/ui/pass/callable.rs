use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use jobs_runtime::{job, State};

struct Counter {
    runs: AtomicU32,
}

/// Still a plain `async fn`: tests can call it directly.
#[job(every = "1m")]
async fn count(counter: State<Counter>) -> Result<(), String> {
    counter.runs.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn main() {
    let counter = State(Arc::new(Counter {
        runs: AtomicU32::new(0),
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(count(counter.clone())).unwrap();
    assert_eq!(counter.runs.load(Ordering::SeqCst), 1);
}
