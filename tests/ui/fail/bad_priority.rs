use jobs_runtime::job;

#[job(every = "1m", priority = "urgent")]
async fn tick() {}

fn main() {}
