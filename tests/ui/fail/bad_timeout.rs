use jobs_runtime::job;

#[job(every = "1m", timeout = "soon")]
async fn tick() {}

fn main() {}
