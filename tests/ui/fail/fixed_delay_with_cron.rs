use jobs_runtime::job;

#[job(cron = "@hourly", delay = "fixed")]
async fn tick() {}

fn main() {}
