use jobs_runtime::job;

#[job(
    name = "my job",
    every = "2x",
    every = "1m",
    bogus = true,
    timeout = 30,
    run_on_start = "yes"
)]
fn tick<T>() {}

fn main() {}
