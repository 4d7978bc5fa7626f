use jobs_runtime::job;

#[job(cron = ", * * * *")]
async fn lone_comma() {}

#[job(cron = "0 , * * MON-FRI")]
async fn comma_for_an_hour() {}

fn main() {}
