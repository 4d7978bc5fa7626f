use jobs_runtime::job;

#[job(every = "1m", keep = "30x")]
async fn unreadable() {}

#[job(every = "1m", keep = "0s")]
async fn zero() {}

#[job(every = "1m", keep = 30)]
async fn unquoted() {}

fn main() {}
