use jobs_runtime::job;

#[job(after = "")]
async fn tick() {}

fn main() {}
