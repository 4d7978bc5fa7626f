use jobs_runtime::job;

#[job]
async fn tick() {}

fn main() {}
