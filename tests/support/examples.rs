//! The examples, built as a user builds them, for the tests that run them
//! as real processes.

use std::path::PathBuf;
use std::process::Command;

/// Builds the example `name` with the `features` of the examples' package
/// and returns its path. `--workspace`: with the features `cargo test
/// --workspace` resolved, so the build reuses what the tests built.
pub fn build(name: &str, features: &[&str]) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(env!("CARGO"));
    command.args(["build", "--workspace", "--example", name]);
    for feature in features {
        command.args(["--features", &format!("jobs-examples/{feature}")]);
    }
    let output = command
        .current_dir(&root)
        .output()
        .expect("could not run cargo");
    assert!(
        output.status.success(),
        "building the example failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| root.join("target"));
    let binary = target
        .join("debug")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "no example binary at {}", binary.display());
    binary
}
