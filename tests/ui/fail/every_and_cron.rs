use jobs_runtime::job;

#[job(every = "1m", cron = "@hourly")]
async fn tick() {}

fn main() {}
