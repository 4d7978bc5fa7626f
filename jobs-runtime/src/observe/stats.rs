//! Per-job statistics: what the executor records, and the [`JobStats`]
//! snapshot users read.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::store::JobTotals;
use crate::Schedule;

/// A snapshot of one job's statistics, from
/// [`JobManager::stats`](crate::JobManager::stats).
///
/// Counts and times cover the life of the manager. With a database store,
/// `execution_count`, `error_count`, `last_started_at`, `last_finished_at`
/// and `last_error` start from what earlier processes recorded; the other
/// counts and the execution times cover this manager only. Execution times
/// are zero until the first execution finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobStats {
    /// The job's name.
    pub name: String,
    /// The schedule in effect (after environment overrides and
    /// [`set_schedule`](crate::JobManager::set_schedule)); `None` for a job
    /// that only runs after another or when triggered.
    pub schedule: Option<Schedule>,
    /// Finished executions, successful or not.
    pub execution_count: u64,
    /// Executions that failed for good (after their retries): an error, a
    /// panic, a timeout, or an abort.
    pub error_count: u64,
    /// Attempts that failed, the retried ones and the final ones.
    pub failed_attempts: u64,
    /// Retries started.
    pub retry_count: u64,
    /// Fires that were skipped: the previous run was still going (overlap),
    /// the job was paused, or its condition was false.
    pub skipped_count: u64,
    /// Fires that were missed (the process was suspended, the clock jumped,
    /// or slots stayed busy past the fire time).
    pub missed_count: u64,
    /// Scheduled fires that another instance sharing the store claimed
    /// first, and runs: always 0 with a store of one process.
    pub elsewhere_count: u64,
    /// Executions this instance took over from instances that died (or
    /// whose attempt was stuck): always 0 with a store of one process.
    pub rescued_count: u64,
    /// How long the most recent run waited for slots.
    pub last_queue_time: Duration,
    /// The mean wait for slots.
    pub average_queue_time: Duration,
    /// The longest wait for slots.
    pub max_queue_time: Duration,
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
    /// Whether a run is in flight right now: executing, or waiting for its
    /// condition or for slots (see [`waiting_runs`](Self::waiting_runs)).
    /// With `overlap = "skip"`, [`trigger`](crate::JobManager::trigger) is
    /// refused exactly while this is true.
    pub is_running: bool,
    /// Runs in flight that wait right now, for their condition or for
    /// slots (before their execution, or before a retry).
    pub waiting_runs: u64,
    /// How long the longest of those waits has lasted so far; zero when no
    /// run waits.
    pub current_wait: Duration,
    /// Whether the job is paused: it keeps its schedule and skips its fires.
    pub is_paused: bool,
    /// When the most recent execution started (wall clock).
    pub last_started_at: Option<SystemTime>,
    /// When the most recent execution finished (wall clock).
    pub last_finished_at: Option<SystemTime>,
    /// When the job fires next (wall clock); `None` while it is stopped, or
    /// when no fire is pending (no schedule, or none within 10,000 years).
    pub next_run_at: Option<SystemTime>,
    /// The message of the most recent failure.
    pub last_error: Option<String>,
}

/// How one execution ended, as the stats record it.
pub(crate) enum Ending<'a> {
    Success,
    /// The last attempt failed, with this error (an outcome's
    /// [`error`](crate::execution::Outcome::error)).
    Failure(&'a str),
    /// A stop ended the wait for a retry: a failure, with no further failed
    /// attempt (the one before the wait is counted already).
    RetryCancelled(&'a str),
}

/// The live statistics of one job, updated by its executor.
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    data: Mutex<StatsData>,
}

#[derive(Debug, Default)]
struct StatsData {
    schedule: Option<Schedule>,
    numbers_issued: u64,
    execution_count: u64,
    /// Executions finished by this process, which the times cover.
    timed: u64,
    error_count: u64,
    failed_attempts: u64,
    retry_count: u64,
    skipped_count: u64,
    missed_count: u64,
    elsewhere_count: u64,
    rescued_count: u64,
    queued_runs: u32,
    // Times in nanoseconds, saturating (a total reaches `u64::MAX` after 584
    // years of runs): half the size of `Duration`s, for 100,000s of jobs.
    total_queue_time: u64,
    last_queue_time: u64,
    max_queue_time: u64,
    total_time: u64,
    last_time: u64,
    min_time: u64,
    max_time: u64,
    started: bool,
    last_started_at: Option<SystemTime>,
    last_finished_at: Option<SystemTime>,
    /// When the latest successful execution finished, in this process or
    /// (from the store) an earlier one.
    last_completed_at: Option<SystemTime>,
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

    pub(crate) fn mark_started(&self, schedule: Option<Schedule>) {
        self.with(|data| {
            data.started = true;
            data.schedule = schedule;
        });
    }

    pub(crate) fn set_schedule(&self, schedule: Option<Schedule>) {
        self.with(|data| data.schedule = schedule);
    }

    pub(crate) fn schedule(&self) -> Option<Schedule> {
        self.with(|data| data.schedule.clone())
    }

    pub(crate) fn mark_stopped(&self) {
        self.with(|data| data.started = false);
    }

    /// Starts the counts, the last start, end and success, and the last
    /// error from what a store kept of earlier processes; execution times
    /// cover this process only.
    pub(crate) fn restore(&self, totals: &JobTotals, last_completed_at: Option<SystemTime>) {
        self.with(|data| {
            data.last_completed_at = last_completed_at;
            data.execution_count = totals.executions;
            data.error_count = totals.failures;
            data.last_started_at = totals.last_started_at;
            data.last_finished_at = totals.last_finished_at;
            data.last_error.clone_from(&totals.last_error);
        });
    }

    /// Records the start of an execution and returns its number, and when
    /// the job's latest successful execution before it finished.
    pub(crate) fn begin(&self, started_at: SystemTime) -> (u64, Option<SystemTime>) {
        self.with(|data| {
            data.numbers_issued += 1;
            data.last_started_at = Some(started_at);
            (data.numbers_issued, data.last_completed_at)
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
            if matches!(ending, Ending::Failure(_)) {
                data.failed_attempts += 1;
            }
            data.last_finished_at = Some(finished_at);
            data.execution_count += 1;
            data.timed += 1;
            let elapsed = nanos(elapsed);
            data.total_time = data.total_time.saturating_add(elapsed);
            data.last_time = elapsed;
            data.max_time = data.max_time.max(elapsed);
            data.min_time = if data.timed == 1 {
                elapsed
            } else {
                data.min_time.min(elapsed)
            };
            match ending {
                Ending::Success => {
                    data.last_completed_at = data.last_completed_at.max(Some(finished_at));
                }
                Ending::Failure(error) | Ending::RetryCancelled(error) => {
                    data.error_count += 1;
                    data.last_error = Some(error.to_owned());
                }
            }
            data.error_count
        })
    }

    /// Records a failed attempt that will be retried; returns the failed
    /// attempts so far.
    pub(crate) fn retry(&self) -> u64 {
        self.with(|data| {
            data.failed_attempts += 1;
            data.retry_count += 1;
            data.failed_attempts
        })
    }

    /// Records how long a run waited for slots.
    pub(crate) fn queued(&self, wait: Duration) {
        self.with(|data| {
            data.queued_runs = data.queued_runs.saturating_add(1);
            let wait = nanos(wait);
            data.total_queue_time = data.total_queue_time.saturating_add(wait);
            data.last_queue_time = wait;
            data.max_queue_time = data.max_queue_time.max(wait);
        });
    }

    /// Records missed fires; returns the job's missed count after them.
    pub(crate) fn missed(&self, count: u64) -> u64 {
        self.with(|data| {
            data.missed_count += count;
            data.missed_count
        })
    }

    /// Records a fire another instance claimed; returns the job's count of
    /// them after it.
    pub(crate) fn elsewhere(&self) -> u64 {
        self.with(|data| {
            data.elsewhere_count += 1;
            data.elsewhere_count
        })
    }

    /// Records an execution taken over from another instance; returns the
    /// job's count of them after it.
    pub(crate) fn rescued(&self) -> u64 {
        self.with(|data| {
            data.rescued_count += 1;
            data.rescued_count
        })
    }

    /// Records a skipped fire; returns the job's skipped count after it.
    pub(crate) fn skip(&self) -> u64 {
        self.with(|data| {
            data.skipped_count += 1;
            data.skipped_count
        })
    }

    /// A snapshot, with the job's pause state, next fire and runs in
    /// flight, which are kept elsewhere.
    pub(crate) fn snapshot(
        &self,
        name: &str,
        paused: bool,
        next_run_at: Option<SystemTime>,
        in_flight: InFlightStats,
    ) -> JobStats {
        let current_wait = in_flight
            .waiting_since
            .map_or(Duration::ZERO, |since| since.elapsed());
        self.with(|data| JobStats {
            name: name.to_owned(),
            schedule: data.schedule.clone(),
            execution_count: data.execution_count,
            error_count: data.error_count,
            failed_attempts: data.failed_attempts,
            retry_count: data.retry_count,
            skipped_count: data.skipped_count,
            missed_count: data.missed_count,
            elsewhere_count: data.elsewhere_count,
            rescued_count: data.rescued_count,
            last_queue_time: Duration::from_nanos(data.last_queue_time),
            average_queue_time: match data.queued_runs {
                0 => Duration::ZERO,
                runs => mean(data.total_queue_time, u64::from(runs)),
            },
            max_queue_time: Duration::from_nanos(data.max_queue_time),
            average_execution_time: match data.timed {
                0 => Duration::ZERO,
                count => mean(data.total_time, count),
            },
            last_execution_time: Duration::from_nanos(data.last_time),
            min_execution_time: Duration::from_nanos(data.min_time),
            max_execution_time: Duration::from_nanos(data.max_time),
            is_started: data.started,
            is_running: in_flight.runs > 0,
            waiting_runs: u64::try_from(in_flight.waiting).unwrap_or(u64::MAX),
            current_wait,
            is_paused: paused,
            last_started_at: data.last_started_at,
            last_finished_at: data.last_finished_at,
            next_run_at,
            last_error: data.last_error.clone(),
        })
    }
}

/// A duration in nanoseconds; over 584 years saturates.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The mean of `count` times summing to `total` nanoseconds.
fn mean(total: u64, count: u64) -> Duration {
    Duration::from_nanos(total / count.max(1))
}

/// What a job's runs in flight are doing, for its stats.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InFlightStats {
    /// Runs in flight: started by the scheduler and not ended, whether they
    /// execute or wait for their condition or slots.
    pub(crate) runs: usize,
    /// Those of them that wait for their condition or for slots.
    pub(crate) waiting: usize,
    /// Since when the longest of those waits has lasted.
    pub(crate) waiting_since: Option<Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_counts() {
        let cell = StatsCell::default();
        let at = SystemTime::UNIX_EPOCH;
        assert_eq!(cell.begin(at), (1, None));
        cell.finish(Duration::from_millis(30), at, Ending::Success);
        assert_eq!(cell.begin(at), (2, Some(at)), "the first one succeeded");
        assert_eq!(
            cell.finish(Duration::from_millis(10), at, Ending::Failure("boom")),
            1
        );
        let stats = cell.snapshot("j", false, None, InFlightStats::default());
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
