use jobs_runtime::job;

#[job(every = "1m", interval = "2m")]
async fn tick() {}

fn main() {}
