use std::fmt;

use jobs_runtime::job;

#[job(every = "1m")]
async fn unit() {}

#[job(every = "1m")]
async fn explicit_unit() -> () {}

#[job(every = "1m")]
async fn with_anyhow() -> anyhow::Result<()> {
    Ok(())
}

#[job(every = "1m")]
async fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

#[job(every = "1m")]
async fn with_string() -> Result<(), String> {
    Ok(())
}

enum SyncError {
    Unreachable,
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Unreachable => f.write_str("upstream unreachable"),
        }
    }
}

#[job(every = "1m")]
async fn own_enum() -> Result<(), SyncError> {
    Err(SyncError::Unreachable)
}

fn main() {}
