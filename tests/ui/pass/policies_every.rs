use jobs_runtime::job;

fn enabled() -> bool {
    true
}

#[job(
    name = "all-policies",
    every = "30s",
    env = "ALL_POLICIES_INTERVAL",
    run_on_start = true,
    timeout = "10s",
    delay = "fixed",
    jitter = "5s",
    overlap = "allow",
    max_concurrency = 2,
    missed = "run_once",
    retries = 3,
    backoff = "1s",
    backoff_max = "1m",
    after = "fetch-rates",
    when = enabled,
    slots = 2,
    priority = "high"
)]
async fn all_policies() {}

fn main() {}
