//! The conformance suite of the stores lives in `tests/`: this crate exists
//! so that `cargo test --workspace` builds `jobs-runtime` with its `sqlite`
//! feature and runs the suite against both stores.
