use jobs_runtime::job;

#[job(every = "1m", keep_last = 0)]
async fn none() {}

#[job(every = "1m", keep_last = -5)]
async fn negative() {}

fn main() {}
