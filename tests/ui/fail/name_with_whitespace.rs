use jobs_runtime::job;

#[job(name = "process health", every = "1m")]
async fn tick() {}

fn main() {}
