use jobs_runtime::job;

#[job(every = "0s")]
async fn tick() {}

fn main() {}
