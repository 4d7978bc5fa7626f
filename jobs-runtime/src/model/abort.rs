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
    /// This instance could not reach the store it shares with others for
    /// its self-fence deadline: the others may take its executions over.
    Fenced,
}

/// The names a shutdown signal can have, in the order [`AbortCause`] numbers
/// them when it is kept in one byte.
const SIGNALS: [&str; 3] = ["SIGINT", "SIGTERM", "ctrl-c"];

impl AbortCause {
    /// The cause as one byte, for an atomic.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            AbortCause::GracePeriod => 0,
            AbortCause::AbortAll => 1,
            AbortCause::Fenced => 2,
            AbortCause::Signal(signal) => {
                let index = SIGNALS.iter().position(|name| *name == signal);
                // An unknown name is kept as the first signal's.
                3 + index.unwrap_or(0) as u8
            }
        }
    }

    /// The cause a byte from [`to_byte`](Self::to_byte) stands for.
    pub(crate) fn from_byte(byte: u8) -> Self {
        match byte {
            0 => AbortCause::GracePeriod,
            1 => AbortCause::AbortAll,
            2 => AbortCause::Fenced,
            n => AbortCause::Signal(SIGNALS[usize::from(n - 3).min(SIGNALS.len() - 1)]),
        }
    }

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
            AbortCause::Fenced => "aborted: this instance could not reach the job store for its self-fence deadline, so the other instances may take the execution over".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_survives_its_byte() {
        for cause in [
            AbortCause::GracePeriod,
            AbortCause::AbortAll,
            AbortCause::Fenced,
            AbortCause::Signal("SIGINT"),
            AbortCause::Signal("SIGTERM"),
            AbortCause::Signal("ctrl-c"),
        ] {
            assert_eq!(AbortCause::from_byte(cause.to_byte()), cause);
        }
    }
}
