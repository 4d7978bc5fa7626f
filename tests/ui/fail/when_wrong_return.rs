use jobs_runtime::job;

fn leader_count() -> u32 {
    1
}

#[job(every = "1m", when = leader_count)]
async fn tick() {}

fn main() {}
