use jobs_runtime::{job, JobContext};

#[job(every = "1m")]
async fn tick(n: u32, ctx: JobContext, names: Vec<String>) {
    let _ = (n, ctx, names);
}

fn main() {}
