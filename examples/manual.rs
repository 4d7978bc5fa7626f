//! A hand-written `Job`, registered by hand next to a discovered `#[job]`.
//!
//! Implement `Job` when a job's dependencies are only known at run time, or
//! when one type defines several jobs: here one `Probe` per URL, built from
//! the command line.
//!
//! Run with `cargo run --example manual -- https://example.org http://localhost:8080`;
//! stop with Ctrl-C.

use std::time::Duration;

use jobs_runtime::{job, BoxError, Job, JobContext, JobSpec};

/// Checks one endpoint; one job per endpoint, named after it.
struct Probe {
    name: String,
    url: String,
}

impl Job for Probe {
    fn spec(&self) -> JobSpec {
        JobSpec::every(self.name.clone(), Duration::from_secs(10)).timeout(Duration::from_secs(3))
    }

    async fn execute(&self, ctx: JobContext) -> Result<(), BoxError> {
        // A real probe would make a request here, giving up when
        // `ctx.cancelled()` completes.
        if !self.url.contains("://") {
            return Err(format!("{} is not a URL", self.url).into());
        }
        tracing::info!(url = %self.url, probe = ctx.execution_number(), "endpoint answered");
        Ok(())
    }
}

/// A discovered job, running beside the hand-written ones.
#[job(every = "15s")]
async fn probe_summary() {
    tracing::info!("probes running");
}

#[tokio::main]
async fn main() -> Result<(), jobs_runtime::Error> {
    tracing_subscriber::fmt().init();
    let mut builder = jobs_runtime::builder();
    let urls: Vec<String> = std::env::args().skip(1).collect();
    let urls = if urls.is_empty() {
        vec!["http://localhost:8080".to_owned()]
    } else {
        urls
    };
    for (index, url) in urls.into_iter().enumerate() {
        builder = builder.register(Probe {
            name: format!("probe-{}", index + 1),
            url,
        });
    }
    builder.run().await
}
