use jobs_runtime::job;

#[job(cron = "61 * * * *")]
async fn tick() {}

fn main() {}
