//! Retry delays: exponential backoff, capped, with full jitter.

use std::time::Duration;

/// How a failed execution is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: no retry).
    pub retries: u32,
    /// The base delay: the cap before jitter doubles from it at each retry.
    pub backoff: Duration,
    /// The largest delay cap.
    pub backoff_max: Duration,
}

impl RetryPolicy {
    /// No retries; base delay 1 s and cap 1 h, for when retries are added.
    pub const NONE: RetryPolicy = RetryPolicy {
        retries: 0,
        backoff: Duration::from_secs(1),
        backoff_max: Duration::from_secs(3600),
    };

    /// The delay cap before retry number `retry` (1 for the first retry):
    /// `backoff · 2^(retry-1)`, at most `backoff_max`.
    pub fn cap(&self, retry: u32) -> Duration {
        let factor = 2u32
            .checked_pow(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.backoff_max)
    }

    /// The delay before retry number `retry`: uniform in `[0, cap]` ("full
    /// jitter"), so retries of many jobs spread out instead of striking
    /// together.
    pub fn delay(&self, retry: u32) -> Duration {
        let cap = self.cap(retry);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_double_and_stop_at_the_maximum() {
        let policy = RetryPolicy {
            retries: 10,
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
        };
        let caps: Vec<u64> = (1..=6).map(|retry| policy.cap(retry).as_secs()).collect();
        assert_eq!(caps, [1, 2, 4, 8, 10, 10]);
        assert_eq!(policy.cap(200), Duration::from_secs(10));
    }

    #[test]
    fn delays_stay_within_the_cap() {
        let policy = RetryPolicy {
            retries: 3,
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        };
        for retry in 1..=3 {
            for _ in 0..100 {
                assert!(policy.delay(retry) <= policy.cap(retry));
            }
        }
    }
}
