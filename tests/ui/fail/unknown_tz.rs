use jobs_runtime::job;

#[job(cron = "@daily", tz = "Mars/Base")]
async fn tick() {}

fn main() {}
