use jobs_runtime::job;

#[job(every = "1m", retries = 3, backoff = "1 lightyear")]
async fn tick() {}

fn main() {}
