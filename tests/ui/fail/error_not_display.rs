use jobs_runtime::job;

#[derive(Debug)]
struct NotDisplay;

#[job(every = "1m")]
async fn tick() -> Result<(), NotDisplay> {
    Ok(())
}

fn main() {}
