//! [`Priority`]: the order in which runs waiting for slots get them.

/// The order in which runs waiting for slots get them. A waiting run rises
/// one level for every 30 seconds it has waited since its fire time, so a
/// lower priority is served before higher-priority runs due more than 30 s
/// (one level) or 60 s (two levels) after it: none starves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// Served last.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Served first.
    High,
}
