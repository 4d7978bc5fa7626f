use jobs_runtime::job;

#[job(every = "1m", missed = "catch_up")]
async fn default_limit() {}

#[job(
    every = "1m",
    missed = "catch_up",
    catch_up_limit = 1000,
    keep = "30d",
    keep_last = 100
)]
async fn all_retention_keys() {}

#[job(cron = "@daily", keep = "1h 30m")]
async fn keep_alone() {}

#[job(after = "default-limit", keep_last = 1)]
async fn keep_last_alone() {}

fn main() {
    // Every spec passes the start-up checks.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let manager = jobs_runtime::JobManager::discover();
        manager.start_all().unwrap();
        manager.stop_all().await;
    });
}
