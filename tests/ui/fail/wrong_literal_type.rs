use jobs_runtime::job;

#[job(every = 5, run_on_start = "yes")]
async fn tick() {}

fn main() {}
