use jobs_runtime::job;

#[job(every = "1m", overlap = "queue", max_concurrency = 2)]
async fn tick() {}

fn main() {}
