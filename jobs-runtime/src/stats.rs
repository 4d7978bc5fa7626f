//! Per-job statistics: what the executor records, and the [`JobStats`]
//! snapshot users read.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// A snapshot of one job's statistics, from
/// [`JobManager::stats`](crate::JobManager::stats).
///
/// Counts and times cover the life of the manager. Execution times are zero
/// until the first execution finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobStats {
    /// The job's name.
    pub name: String,
    /// The interval in effect (after any environment override).
    pub interval: Duration,
    /// Finished executions, successful or not.
    pub execution_count: u64,
    /// Executions that returned an error, panicked, timed out or were aborted.
    pub error_count: u64,
    /// Fires that were skipped because the previous execution was still
    /// running.
    pub skipped_count: u64,
    /// Mean time of the finished executions.
    pub average_execution_time: Duration,
    /// Time of the most recent finished execution.
    pub last_execution_time: Duration,
    /// Shortest finished execution.
    pub min_execution_time: Duration,
    /// Longest finished execution.
    pub max_execution_time: Duration,
    /// Whether the job is started (its schedule is active).
    pub is_started: bool,
    /// Whether an execution is in flight right now.
    pub is_running: bool,
    /// When the most recent execution started (wall clock).
    pub last_started_at: Option<SystemTime>,
    /// When the most recent execution finished (wall clock).
    pub last_finished_at: Option<SystemTime>,
    /// When the job fires next (wall clock); `None` while it is stopped.
    pub next_run_at: Option<SystemTime>,
    /// The message of the most recent failure.
    pub last_error: Option<String>,
}

/// How one execution ended, as the stats record it.
pub(crate) enum Ending<'a> {
    Success,
    Failure(&'a str),
}

/// The live statistics of one job, updated by its executor.
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    data: Mutex<StatsData>,
}

#[derive(Debug, Default)]
struct StatsData {
    interval: Duration,
    numbers_issued: u64,
    execution_count: u64,
    error_count: u64,
    skipped_count: u64,
    total_time: Duration,
    last_time: Duration,
    min_time: Duration,
    max_time: Duration,
    started: bool,
    running: bool,
    last_started_at: Option<SystemTime>,
    last_finished_at: Option<SystemTime>,
    next_run: Option<Instant>,
    last_error: Option<String>,
}

impl StatsCell {
    fn with<R>(&self, f: impl FnOnce(&mut StatsData) -> R) -> R {
        // A poisoned lock only means a panic elsewhere while it was held; the
        // counters are still meaningful.
        let mut data = self
            .data
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        f(&mut data)
    }

    pub(crate) fn mark_started(&self, interval: Duration) {
        self.with(|data| {
            data.started = true;
            data.interval = interval;
        });
    }

    pub(crate) fn mark_stopped(&self) {
        self.with(|data| {
            data.started = false;
            data.next_run = None;
        });
    }

    pub(crate) fn set_next_run(&self, next: Instant) {
        self.with(|data| data.next_run = Some(next));
    }

    /// Records the start of an execution and returns its number.
    pub(crate) fn begin(&self, started_at: SystemTime) -> u64 {
        self.with(|data| {
            data.numbers_issued += 1;
            data.running = true;
            data.last_started_at = Some(started_at);
            data.numbers_issued
        })
    }

    /// Records the end of an execution; returns the job's error count after it.
    pub(crate) fn finish(
        &self,
        elapsed: Duration,
        finished_at: SystemTime,
        ending: Ending<'_>,
    ) -> u64 {
        self.with(|data| {
            data.running = false;
            data.last_finished_at = Some(finished_at);
            data.execution_count += 1;
            data.total_time += elapsed;
            data.last_time = elapsed;
            data.max_time = data.max_time.max(elapsed);
            data.min_time = if data.execution_count == 1 {
                elapsed
            } else {
                data.min_time.min(elapsed)
            };
            if let Ending::Failure(message) = ending {
                data.error_count += 1;
                data.last_error = Some(message.to_owned());
            }
            data.error_count
        })
    }

    /// Records a skipped fire; returns the job's skipped count after it and
    /// the number of the execution still running.
    pub(crate) fn skip(&self) -> (u64, u64) {
        self.with(|data| {
            data.skipped_count += 1;
            (data.skipped_count, data.numbers_issued)
        })
    }

    pub(crate) fn is_running(&self) -> bool {
        self.with(|data| data.running)
    }

    pub(crate) fn snapshot(&self, name: &str) -> JobStats {
        // Convert the tokio instant to wall-clock time at read time, so the
        // hot path never needs to.
        let now = (Instant::now(), SystemTime::now());
        self.with(|data| JobStats {
            name: name.to_owned(),
            interval: data.interval,
            execution_count: data.execution_count,
            error_count: data.error_count,
            skipped_count: data.skipped_count,
            average_execution_time: match u32::try_from(data.execution_count) {
                Ok(0) => Duration::ZERO,
                Ok(count) => data.total_time / count,
                Err(_) => Duration::from_secs_f64(
                    data.total_time.as_secs_f64() / data.execution_count as f64,
                ),
            },
            last_execution_time: data.last_time,
            min_execution_time: data.min_time,
            max_execution_time: data.max_time,
            is_started: data.started,
            is_running: data.running,
            last_started_at: data.last_started_at,
            last_finished_at: data.last_finished_at,
            next_run_at: data
                .next_run
                .map(|next| now.1 + next.saturating_duration_since(now.0)),
            last_error: data.last_error.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_counts() {
        let cell = StatsCell::default();
        let at = SystemTime::UNIX_EPOCH;
        assert_eq!(cell.begin(at), 1);
        cell.finish(Duration::from_millis(30), at, Ending::Success);
        assert_eq!(cell.begin(at), 2);
        assert_eq!(
            cell.finish(Duration::from_millis(10), at, Ending::Failure("boom")),
            1
        );
        let stats = cell.snapshot("j");
        assert_eq!(stats.execution_count, 2);
        assert_eq!(stats.error_count, 1);
        assert_eq!(stats.average_execution_time, Duration::from_millis(20));
        assert_eq!(stats.min_execution_time, Duration::from_millis(10));
        assert_eq!(stats.max_execution_time, Duration::from_millis(30));
        assert_eq!(stats.last_execution_time, Duration::from_millis(10));
        assert_eq!(stats.last_error.as_deref(), Some("boom"));
        assert!(!stats.is_running);
    }
}
