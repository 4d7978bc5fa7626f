use jobs_runtime::job;

#[job(every = "1m", overlap = "allow", max_concurrency = 0)]
async fn tick() {}

fn main() {}
