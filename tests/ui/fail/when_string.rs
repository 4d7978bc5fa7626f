use jobs_runtime::job;

#[job(every = "1m", when = "not_a_path")]
async fn tick() {}

fn main() {}
