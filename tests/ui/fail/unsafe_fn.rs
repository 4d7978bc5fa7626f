use jobs_runtime::job;

#[job(every = "1m")]
async unsafe fn tick() {}

fn main() {}
