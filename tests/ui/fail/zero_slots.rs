use jobs_runtime::job;

#[job(every = "1m", slots = 0)]
async fn tick() {}

fn main() {}
