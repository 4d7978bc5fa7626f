use jobs_runtime::job;

#[job(every = "1m")]
async fn tick<T: Send + Sync + 'static>() {}

#[job(every = "1m")]
async fn tock()
where
    u8: Copy,
{
}

fn main() {}
