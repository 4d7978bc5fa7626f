//! A JSON `tracing_subscriber` writing to a file, for the benchmarks that
//! measure the cost of logging.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

/// A JSON `tracing_subscriber`, installed as the global default, writing every
/// event to a file in a fresh temporary directory. The directory is removed
/// on drop; the subscriber stays for the life of the process.
pub struct JsonLog {
    dir: PathBuf,
    path: PathBuf,
}

impl JsonLog {
    /// Creates the file and installs the subscriber (the issue's
    /// `tracing_subscriber::fmt().json().init()`, writing to the file).
    pub fn install(bench: &str) -> JsonLog {
        let dir = std::env::temp_dir().join(format!("jobs-bench-{bench}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating the log directory");
        let path = dir.join("events.json");
        let file = File::create(&path).expect("creating the log file");
        tracing_subscriber::fmt()
            .json()
            .with_writer(Arc::new(file))
            .init();
        JsonLog { dir, path }
    }

    /// The size of the log file so far, in bytes.
    pub fn bytes_written(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |metadata| metadata.len())
    }
}

impl Drop for JsonLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
