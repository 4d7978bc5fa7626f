use jobs_runtime::job;

#[job(cron = "0 */5 * * * *", tz = "Europe/Berlin")]
async fn every_five_minutes() {}

#[job(cron = "30 2 * * 1-5", tz = "local")]
async fn weekday_night() {}

#[job(cron = "@daily")]
async fn daily_utc() {}

#[job(
    cron = "@hourly",
    tz = "UTC",
    overlap = "replace",
    missed = "skip",
    priority = "low"
)]
async fn hourly() {}

fn main() {}
