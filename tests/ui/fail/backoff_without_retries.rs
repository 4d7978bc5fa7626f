use jobs_runtime::job;

#[job(every = "1m", backoff = "1s")]
async fn tick() {}

fn main() {}
