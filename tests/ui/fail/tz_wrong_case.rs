use jobs_runtime::job;

#[job(cron = "@hourly", tz = "utc")]
async fn hourly() {}

fn main() {}
