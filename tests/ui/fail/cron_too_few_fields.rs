use jobs_runtime::job;

#[job(cron = "* * *")]
async fn tick() {}

fn main() {}
