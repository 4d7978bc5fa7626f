use jobs_runtime::job;

#[job(name = "", every = "1m")]
async fn tick() {}

fn main() {}
