use jobs_runtime as renamed;

use renamed::{job, JobContext};

#[job(every = "1m", crate = "renamed")]
async fn tick(ctx: JobContext) {
    let _ = ctx;
}

mod nested {
    use crate::renamed::job;

    #[job(every = "1m", crate = "crate::renamed")]
    pub async fn nested_tick() {}
}

fn main() {
    let _ = nested::nested_tick();
}
