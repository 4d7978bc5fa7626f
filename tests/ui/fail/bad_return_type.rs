use jobs_runtime::job;

#[job(every = "1m")]
async fn tick() -> u32 {
    1
}

fn main() {}
