use jobs_runtime::job;

#[job(every = "1m")]
async fn fetch_rates() {}

#[job(after = "fetch-rates")]
async fn publish_rates() {}

fn main() {}
