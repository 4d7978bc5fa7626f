use jobs_runtime::job;

#[job(every = "1ns")]
async fn too_often() {}

#[job(every = "300000000000y")]
async fn too_rarely() {}

#[job(every = "1m", timeout = "18446744073709551615s")]
async fn too_patient() {}

fn main() {}
