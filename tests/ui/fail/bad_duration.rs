use jobs_runtime::job;

#[job(every = "2x")]
async fn tick() {}

fn main() {}
