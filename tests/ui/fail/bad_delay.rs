use jobs_runtime::job;

#[job(every = "1m", delay = "sometimes")]
async fn tick() {}

fn main() {}
