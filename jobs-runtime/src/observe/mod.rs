//! What users observe of their jobs: the statistics each job keeps and the
//! catalogue of log events.

pub mod events;
pub(crate) mod stats;

pub use stats::JobStats;
