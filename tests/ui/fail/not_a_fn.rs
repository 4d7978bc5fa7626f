use jobs_runtime::job;

#[job(every = "1m")]
struct Tick;

fn main() {}
