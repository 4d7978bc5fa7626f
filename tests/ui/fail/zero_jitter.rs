use jobs_runtime::job;

#[job(every = "1m", jitter = "0s")]
async fn tick() {}

fn main() {}
