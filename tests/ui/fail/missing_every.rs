use jobs_runtime::job;

#[job(name = "tick")]
async fn tick() {}

fn main() {}
