use jobs_runtime::job;

#[job(every = "1m", name = "a", every = "2m")]
async fn tick() {}

fn main() {}
