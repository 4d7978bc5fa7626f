use jobs_runtime::job;

#[job(every = "1m", overlap = "maybe")]
async fn tick() {}

fn main() {}
