use jobs_runtime::job;

#[job(every = "1m", timeout = "0ms")]
async fn tick() {}

fn main() {}
