use jobs_runtime::job;

struct Cleaner;

impl Cleaner {
    #[job(every = "1m")]
    async fn clean(&self) {}
}

fn main() {}
