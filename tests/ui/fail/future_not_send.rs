use std::rc::Rc;

use jobs_runtime::job;

#[job(every = "1m")]
async fn tick() -> anyhow::Result<()> {
    let shared = Rc::new(1);
    tokio::task::yield_now().await;
    drop(shared);
    Ok(())
}

fn main() {}
