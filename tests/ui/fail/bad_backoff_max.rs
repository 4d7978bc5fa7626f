use jobs_runtime::job;

#[job(every = "1m", retries = 3, backoff = "1s", backoff_max = "forever")]
async fn tick() {}

fn main() {}
