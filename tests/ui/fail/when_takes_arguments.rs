use jobs_runtime::job;

fn is_leader(node: &str) -> bool {
    node == "a"
}

#[job(every = "1m", when = is_leader)]
async fn tick() {}

fn main() {}
