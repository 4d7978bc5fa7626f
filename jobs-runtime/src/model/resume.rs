//! What a recurring job does when it starts, given what the store kept: the
//! fires that came due while no process ran it, which of them run now (by
//! its `missed` policy and `run_on_start`), and its next fire. Pure
//! wall-clock arithmetic; the scheduler maps the result to tokio's clock.
//!
//! The rules:
//! - The fires due in (last fire, now] were missed while the process was
//!   down, except the latest one when it is later than now by at most the
//!   misfire threshold: that one is merely late, and runs as a scheduled
//!   fire.
//! - `skip` runs none of the missed fires, `run_once` runs the latest of
//!   them, `catch_up` runs the latest `limit` of them one after another,
//!   oldest first. Every missed fire is counted, whether its policy runs it
//!   late or not, as fires missed in a running process are.
//! - `run_on_start` runs the job at start if it has never fired, or if its
//!   last fire was missed and nothing else runs at start. A job that fired
//!   on time before the restart does not run again. The run on start
//!   stands in for the latest missed fire, or, for a job that never fired,
//!   for the time the store met the job (its anchor): processes that share
//!   a store and start together name it alike, so it runs once.
//! - An interval grid counts from its anchor, kept in the store: it
//!   continues across restarts and is never re-anchored at a start (a run
//!   on start between two of its fires does not move it).

use std::time::{Duration, SystemTime};

use crate::model::cron::CronSchedule;
use crate::model::spec::Missed;

/// A recurring job's fire times.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Grid<'a> {
    /// Fixed rate: `anchor + k · interval`, for k ≥ 0.
    Every {
        anchor: SystemTime,
        interval: Duration,
    },
    /// Fixed delay: one interval after the last fire.
    Delay(Duration),
    /// A cron expression's matches.
    Cron(&'a CronSchedule),
}

/// What a job knows at start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    /// When it last fired, if ever.
    pub(crate) last_fire: Option<SystemTime>,
    /// Since when fires count: its last fire, or when the store first met
    /// it (its anchor); `None` for a job the store has just met, which
    /// missed nothing.
    pub(crate) since: Option<SystemTime>,
    /// When the store first met it (its schedule row's anchor); `None`
    /// without a store.
    pub(crate) anchor: Option<SystemTime>,
}

/// What the job does at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The fire the job waits for first: a late fire or a run on start on
    /// the grid (due now or just before: it runs at once), else the first
    /// fire after now; `None` for a fixed-delay job with a backlog (its next
    /// fire follows the backlog's end) or a schedule with no further fire.
    pub(crate) first: Option<SystemTime>,
    /// Missed fires that run now, one after another, oldest first; or the
    /// run on start, when it is not one of an interval grid's fires.
    pub(crate) backlog: Vec<SystemTime>,
    /// The missed fires, run late or not.
    pub(crate) missed: u64,
    /// The latest fire this plan handles at start (missed, or in the
    /// backlog): the job's last fire from now on. A fire left to
    /// [`first`](Self::first) is recorded when it fires.
    pub(crate) reached: Option<SystemTime>,
}

/// At most this many cron matches are walked to count the missed ones.
const WALK_LIMIT: u64 = 100_000;

/// The start plan of a job on `grid` that knows `known`, at `now`, with the
/// misfire `threshold`, its missed `policy` and `run_on_start`.
pub(crate) fn plan(
    grid: Grid<'_>,
    known: Known,
    now: SystemTime,
    threshold: Duration,
    policy: Missed,
    run_on_start: bool,
) -> Plan {
    let keep = match policy {
        Missed::CatchUp { limit } => usize::try_from(limit).unwrap_or(usize::MAX).max(2),
        Missed::Skip | Missed::RunOnce => 2,
    };
    let (count, latest) = match known.since {
        Some(since) => due_between(grid, since, now, keep),
        None => (0, Vec::new()),
    };
    // The latest due fire within the threshold is late, not missed.
    let late = latest
        .last()
        .copied()
        .filter(|due| now.duration_since(*due).unwrap_or_default() <= threshold);
    let missed_count = count - u64::from(late.is_some());
    // The missed fires, the latest of them last.
    let missed_latest = &latest[..latest.len() - usize::from(late.is_some())];
    let mut first = late;
    let mut backlog = Vec::new();
    match policy {
        Missed::Skip => {}
        Missed::RunOnce => {
            if late.is_none() {
                backlog.extend(missed_latest.last().copied());
            }
        }
        Missed::CatchUp { limit } => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
            let start = latest.len().saturating_sub(limit);
            backlog.extend_from_slice(&latest[start..]);
            first = None;
        }
    }
    let mut reached = match late {
        Some(_) if first.is_some() => missed_latest.last().copied(),
        _ => latest.last().copied(),
    };
    let never_fired = known.last_fire.is_none();
    if first.is_none() && backlog.is_empty() && run_on_start && (never_fired || missed_count > 0) {
        // The run on start stands in for a fire that every process sharing
        // the store names alike: the latest missed fire, else the time the
        // store met the job.
        let stands_for = missed_latest
            .last()
            .copied()
            .or(known.anchor.filter(|_| never_fired))
            .unwrap_or(now);
        // Due now, or still to come (a clock behind the one that wrote the
        // anchor): the job waits for it.
        if stands_for >= now && on_grid(grid, stands_for) {
            first = Some(stands_for);
        } else {
            // Earlier, or off the grid: the run on start goes first, and the
            // grid goes on from its anchor after it.
            backlog.push(stands_for);
            reached = reached.max(Some(stands_for));
        }
    }
    if first.is_none() {
        first = match grid {
            Grid::Delay(_) if !backlog.is_empty() => None,
            Grid::Delay(interval) => Some(match known.since {
                Some(since) if missed_count == 0 => since.checked_add(interval).unwrap_or(now),
                _ => now.checked_add(interval).unwrap_or(now),
            }),
            Grid::Every { .. } | Grid::Cron(_) => next_after(grid, now),
        };
    }
    Plan {
        first,
        backlog,
        missed: missed_count,
        reached,
    }
}

/// Whether `at` is one of the grid's fires; every time is one for a fixed
/// delay or a cron expression, whose next fire counts from the run at `at`.
fn on_grid(grid: Grid<'_>, at: SystemTime) -> bool {
    match grid {
        Grid::Every { anchor, interval } => at
            .duration_since(anchor)
            .is_ok_and(|past| past.as_nanos() % interval.as_nanos().max(1) == 0),
        Grid::Delay(_) | Grid::Cron(_) => true,
    }
}

/// The grid's first fire strictly after `after`.
pub(crate) fn next_after(grid: Grid<'_>, after: SystemTime) -> Option<SystemTime> {
    match grid {
        Grid::Every { anchor, interval } => {
            let step = interval.as_nanos().max(1);
            let index = match after.duration_since(anchor) {
                Ok(past) => past.as_nanos() / step + 1,
                Err(_) => 0,
            };
            at_index(anchor, interval, index)
        }
        Grid::Delay(interval) => after.checked_add(interval),
        Grid::Cron(cron) => cron.next_after(after),
    }
}

/// `anchor + index · interval`, if it can be represented.
fn at_index(anchor: SystemTime, interval: Duration, index: u128) -> Option<SystemTime> {
    let nanos = interval.as_nanos().checked_mul(index)?;
    let offset = Duration::new(
        u64::try_from(nanos / 1_000_000_000).ok()?,
        u32::try_from(nanos % 1_000_000_000).ok()?,
    );
    anchor.checked_add(offset)
}

/// How many fires of `grid` lie in (since, now], and the latest `keep` of
/// them, oldest first.
fn due_between(
    grid: Grid<'_>,
    since: SystemTime,
    now: SystemTime,
    keep: usize,
) -> (u64, Vec<SystemTime>) {
    match grid {
        Grid::Every { anchor, interval } => {
            let step = interval.as_nanos().max(1);
            let index = |time: SystemTime| match time.duration_since(anchor) {
                Ok(past) => Some(past.as_nanos() / step),
                Err(_) => None,
            };
            // Fires with index in [first, last]; the anchor itself is a
            // fire only as a run on start, so a grid set anew (a last fire
            // before its anchor) misses nothing at its anchor.
            let first = index(since).map_or(1, |at| at + 1);
            let Some(last) = index(now) else {
                return (0, Vec::new());
            };
            if last < first {
                return (0, Vec::new());
            }
            let count = last - first + 1;
            let kept = count.min(keep as u128);
            let times = (last + 1 - kept..=last)
                .filter_map(|at| at_index(anchor, interval, at))
                .collect();
            (u64::try_from(count).unwrap_or(u64::MAX), times)
        }
        Grid::Delay(interval) => match since.checked_add(interval) {
            Some(due) if due <= now => (1, vec![due]),
            _ => (0, Vec::new()),
        },
        Grid::Cron(cron) => {
            let mut count = 0;
            let mut times = std::collections::VecDeque::with_capacity(keep.min(1_000));
            let mut at = since;
            while let Some(due) = cron.next_after(at).filter(|due| *due <= now) {
                count += 1;
                if times.len() == keep {
                    times.pop_front();
                }
                times.push_back(due);
                at = due;
                if count == WALK_LIMIT {
                    // Counted up to here; the latest ones are what run.
                    let mut tail = std::collections::VecDeque::with_capacity(keep);
                    let mut back = now;
                    while tail.len() < keep {
                        let Some(previous) = previous_before(cron, at, back) else {
                            break;
                        };
                        tail.push_front(previous);
                        back = previous;
                    }
                    if !tail.is_empty() {
                        times = tail;
                    }
                    break;
                }
            }
            (count, times.into())
        }
    }
}

/// The latest match of `cron` in (floor, before): found by stepping
/// forward from `floor`, after a long walk was cut short.
fn previous_before(
    cron: &CronSchedule,
    floor: SystemTime,
    before: SystemTime,
) -> Option<SystemTime> {
    // Search back in growing windows for the last match before `before`.
    let mut window = Duration::from_secs(60);
    loop {
        let start = before.checked_sub(window).filter(|start| *start > floor)?;
        let mut at = start;
        let mut found = None;
        while let Some(due) = cron.next_after(at).filter(|due| *due < before) {
            found = Some(due);
            at = due;
        }
        if found.is_some() {
            return found;
        }
        window = window.checked_mul(2)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn t(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + minutes * 60)
    }

    fn every(anchor: SystemTime, minutes: u32) -> Grid<'static> {
        Grid::Every {
            anchor,
            interval: MIN * minutes,
        }
    }

    fn known(last: u64) -> Known {
        Known {
            last_fire: Some(t(last)),
            since: Some(t(last)),
            anchor: Some(t(0)),
        }
    }

    const FRESH: Known = Known {
        last_fire: None,
        since: None,
        anchor: None,
    };

    #[test]
    fn a_new_job_misses_nothing_and_runs_on_start_only_if_asked() {
        let grid = every(t(0), 10);
        let quiet = plan(grid, FRESH, t(0), MIN, Missed::Skip, false);
        assert_eq!(quiet.first, Some(t(10)));
        assert_eq!((quiet.missed, quiet.reached), (0, None));
        let eager = plan(grid, FRESH, t(0), MIN, Missed::Skip, true);
        assert_eq!(eager.first, Some(t(0)));
        assert!(eager.backlog.is_empty());
    }

    #[test]
    fn the_grid_keeps_its_anchor_across_a_restart() {
        // Fired at :00, restarted at :05: the next fire is :10, not :15.
        let result = plan(every(t(0), 10), known(0), t(5), MIN, Missed::Skip, true);
        assert_eq!(result.first, Some(t(10)));
        assert_eq!((result.missed, result.reached), (0, None));
    }

    #[test]
    fn skip_counts_the_missed_fires_and_runs_none() {
        // Last fire :00, down until :35: :10, :20, :30 missed.
        let result = plan(every(t(0), 10), known(0), t(35), MIN, Missed::Skip, false);
        assert!(result.backlog.is_empty());
        assert_eq!(result.missed, 3);
        assert_eq!(result.first, Some(t(40)));
        assert_eq!(result.reached, Some(t(30)));
    }

    #[test]
    fn a_fire_late_by_less_than_the_threshold_just_runs() {
        // :30 was due half a minute ago: late, not missed.
        let now = t(30) + Duration::from_secs(30);
        let result = plan(every(t(0), 10), known(0), now, MIN, Missed::Skip, false);
        assert_eq!(result.first, Some(t(30)));
        assert_eq!(result.missed, 2);
        assert_eq!(result.reached, Some(t(20)));
    }

    #[test]
    fn run_once_runs_the_latest_missed_fire() {
        let result = plan(every(t(0), 10), known(0), t(35), MIN, Missed::RunOnce, true);
        assert_eq!(result.backlog, vec![t(30)]);
        assert_eq!(result.missed, 3);
        assert_eq!(result.first, Some(t(40)));
    }

    #[test]
    fn catch_up_runs_the_latest_missed_fires_up_to_its_limit() {
        let grid = every(t(0), 10);
        let all = plan(
            grid,
            known(0),
            t(35),
            MIN,
            Missed::CatchUp { limit: 10 },
            false,
        );
        assert_eq!(all.backlog, vec![t(10), t(20), t(30)]);
        assert_eq!(all.missed, 3);
        assert_eq!(all.first, Some(t(40)));
        let two = plan(
            grid,
            known(0),
            t(35),
            MIN,
            Missed::CatchUp { limit: 2 },
            false,
        );
        assert_eq!(two.backlog, vec![t(20), t(30)]);
        assert_eq!(two.missed, 3);
        assert_eq!(two.reached, Some(t(30)));
    }

    #[test]
    fn run_on_start_runs_after_a_missed_fire_but_not_after_an_on_time_one() {
        let grid = every(t(0), 60);
        let missed = plan(grid, known(0), t(65), MIN, Missed::Skip, true);
        // The run on start stands in for the missed fire at :60, and runs
        // at once; the grid goes on from its anchor: :120, not :125.
        assert_eq!(missed.backlog, vec![t(60)]);
        assert_eq!(missed.first, Some(t(120)));
        assert_eq!(missed.missed, 1);
        assert_eq!(missed.reached, Some(t(60)));
        let on_time = plan(grid, known(60), t(61), MIN, Missed::Skip, true);
        assert_eq!(on_time.first, Some(t(120)));
        assert_eq!(on_time.missed, 0);
    }

    #[test]
    fn processes_starting_apart_name_the_run_on_start_alike() {
        // The store met the job at :0; it never fired.
        let met = Known {
            last_fire: None,
            since: Some(t(0)),
            anchor: Some(t(0)),
        };
        let grid = every(t(0), 60);
        let stands_for = |grid, known, now| {
            let start = plan(grid, known, now, MIN, Missed::Skip, true);
            match start.backlog[..] {
                [] => start.first,
                [at] => Some(at),
                _ => panic!("one run on start: {start:?}"),
            }
        };
        for now in [t(0), t(7), t(59)] {
            assert_eq!(stands_for(grid, met, now), Some(t(0)), "at {now:?}");
        }
        let cron = CronSchedule::new("0 0 * * *", "UTC").unwrap();
        for now in [t(0), t(7), t(59)] {
            assert_eq!(stands_for(Grid::Cron(&cron), met, now), Some(t(0)));
        }
        // A clock behind the one that wrote the anchor waits for it.
        let behind = t(0) - Duration::from_secs(7);
        let start = plan(grid, met, behind, MIN, Missed::Skip, true);
        assert_eq!((start.first, start.backlog), (Some(t(0)), Vec::new()));
        // Missed fires: the latest one, whoever starts when.
        for now in [t(125), t(170)] {
            assert_eq!(stands_for(grid, known(0), now), Some(t(120)));
        }
    }

    #[test]
    fn billions_of_missed_fires_are_counted_without_a_walk() {
        let grid = Grid::Every {
            anchor: t(0),
            interval: Duration::from_millis(1),
        };
        let days = 40 * 24 * 60;
        let result = plan(
            grid,
            known(0),
            t(days),
            MIN,
            Missed::CatchUp { limit: 3 },
            false,
        );
        assert_eq!(result.backlog.len(), 3);
        assert_eq!(result.backlog[2], t(days));
        // The last three run; the one due now is not missed.
        assert_eq!(result.missed, days * 60_000 - 1);
    }

    #[test]
    fn fixed_delay_counts_one_interval_from_the_last_fire() {
        let grid = Grid::Delay(MIN * 10);
        let waiting = plan(grid, known(0), t(5), MIN, Missed::Skip, false);
        assert_eq!(waiting.first, Some(t(10)));
        let overdue = plan(grid, known(0), t(30), MIN, Missed::RunOnce, false);
        assert_eq!(overdue.backlog, vec![t(10)]);
        assert_eq!(overdue.first, None);
        let skipped = plan(grid, known(0), t(30), MIN, Missed::Skip, false);
        assert_eq!(skipped.missed, 1);
        assert_eq!(skipped.first, Some(t(40)));
    }

    #[test]
    fn cron_counts_its_matches_while_down() {
        let crate::Schedule::Cron(cron) =
            crate::Schedule::cron("*/10 * * * *", "UTC").expect("a valid expression")
        else {
            unreachable!("a cron schedule")
        };
        // t(0) is 22:13:20 UTC: matches at :20, :30, :40 up to t(35).
        let result = plan(
            Grid::Cron(&cron),
            known(0),
            t(35),
            MIN,
            Missed::CatchUp { limit: 2 },
            false,
        );
        assert_eq!(result.missed, 3);
        assert_eq!(result.backlog.len(), 2);
        assert!(result.backlog[0] < result.backlog[1] && result.backlog[1] <= t(35));
        assert!(result.first.is_some_and(|next| next > t(35)));
    }
}
