//! [`AbortCause`]: why an execution was aborted.

/// Why the runs of a job were aborted, which their `job_execute_aborted`
/// event and their recorded error say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbortCause {
    /// A stop's grace period ran out.
    GracePeriod,
    /// `JobManager::abort_all` was called.
    AbortAll,
    /// A second shutdown signal, this one, came during the grace period.
    Signal(&'static str),
}

impl AbortCause {
    /// The error an aborted execution records.
    pub(crate) fn message(self) -> String {
        match self {
            AbortCause::GracePeriod => {
                "aborted: did not finish within the shutdown grace period".to_owned()
            }
            AbortCause::AbortAll => "aborted: `JobManager::abort_all` was called".to_owned(),
            AbortCause::Signal(signal) => format!(
                "aborted: a second shutdown signal ({signal}) arrived during the grace period"
            ),
        }
    }
}
