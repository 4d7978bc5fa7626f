use jobs_runtime::job;

#[job(cron = "@midnight", tz = "Europe/Berlin")]
async fn at_midnight() {}

#[job(cron = "@annually")]
async fn once_a_year() {}

#[job(cron = "0 0 29 2 *")]
async fn on_leap_days() {}

#[job(every = "300000")]
async fn every_five_minutes_in_milliseconds() {}

#[job(every = "100y")]
async fn once_a_century() {}

fn main() {}
