use jobs_runtime::job;

mod flags {
    pub fn enabled() -> bool {
        true
    }

    pub async fn queue_not_empty() -> bool {
        true
    }
}

#[job(every = "1m", when = flags::enabled)]
async fn sync_condition() {}

#[job(every = "1m", when = flags::queue_not_empty)]
async fn async_condition() {}

fn main() {}
