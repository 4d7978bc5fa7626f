use jobs_runtime::job;

#[job(every = "1m", jitter = "soon")]
async fn tick() {}

fn main() {}
