use jobs_runtime::job;

#[job(every = "1m", retries = -1)]
async fn tick() {}

fn main() {}
