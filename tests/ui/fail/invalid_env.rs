use jobs_runtime::job;

#[job(every = "1m", env = "TICK INTERVAL")]
async fn tick() {}

fn main() {}
