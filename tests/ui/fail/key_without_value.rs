use jobs_runtime::job;

#[job(every = "1m", run_on_start, timeout("5s"))]
async fn tick() {}

fn main() {}
