use jobs_runtime::job;

#[job(every = "1m")]
async fn tick(value: impl Send + 'static) {
    drop(value);
}

fn main() {}
