use jobs_runtime::job;

#[job(every = "1m", missed = "catch_up", catch_up_limit = 0)]
async fn none() {}

#[job(every = "1m", missed = "catch_up", catch_up_limit = 1001)]
async fn too_many() {}

#[job(every = "1m", missed = "catch_up", catch_up_limit = "10")]
async fn quoted() {}

fn main() {}
