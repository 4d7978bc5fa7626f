use jobs_runtime::job;

#[job(cron = "0 0 31 2 *")]
async fn february_thirty_first() {}

fn main() {}
