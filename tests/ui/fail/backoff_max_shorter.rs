use jobs_runtime::job;

#[job(every = "1m", retries = 3, backoff = "1m", backoff_max = "10s")]
async fn tick() {}

fn main() {}
