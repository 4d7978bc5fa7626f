//! What the fleet benchmark's binaries share: their command-line options,
//! the lines a member prints for the driver, CPU time from the kernel, a
//! histogram of lateness that job bodies fill without a lock, and the
//! analysis of the executions a fleet left in its database.
//!
//! `fleet-bench` (the driver) makes a database, starts three `fleet-member`
//! processes on it, and reads what they recorded; see the crate's
//! `README.md`.

pub mod analysis;
pub mod args;
pub mod cpu;
pub mod lateness;
pub mod member;
pub mod pgbench;
pub mod report;
pub mod server;
