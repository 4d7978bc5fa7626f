use jobs_runtime::job;

#[job(every = "1m", retries = "3")]
async fn tick() {}

fn main() {}
