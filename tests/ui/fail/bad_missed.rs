use jobs_runtime::job;

#[job(every = "1m", missed = "later")]
async fn tick() {}

fn main() {}
