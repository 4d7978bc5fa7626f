use jobs_runtime::job;

#[job(name = "tick", retries = 3)]
async fn tick() {}

fn main() {}
