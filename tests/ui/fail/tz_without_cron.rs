use jobs_runtime::job;

#[job(every = "1m", tz = "Europe/Berlin")]
async fn tick() {}

fn main() {}
