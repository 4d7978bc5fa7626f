use jobs_runtime::job;

#[job(every = "1m", catch_up_limit = 5)]
async fn sync_ledger() {}

#[job(name = "backlog", every = "1m", missed = "run_once", catch_up_limit = 5)]
async fn named() {}

fn main() {}
