use jobs_runtime::job;

#[job(every = "1m")]
fn tick() {}

fn main() {}
