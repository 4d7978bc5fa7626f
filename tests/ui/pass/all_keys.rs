use jobs_runtime::job;

#[job(
    name = "all-keys",
    every = "1h 30m",
    env = "ALL_KEYS_INTERVAL",
    run_on_start = false,
    timeout = "10s",
    crate = "::jobs_runtime"
)]
async fn all_keys() {}

fn main() {}
