//! The figures of one run, from the executions a fleet recorded: fires run
//! more than once, grid fires of the steady window that did not run, how
//! late the ones that ran started, and how many ran a second.
//!
//! A job's grid is its anchor plus whole multiples of its interval (the
//! anchor the first instance wrote into `jobs_schedules`; for a cron job
//! every second, the epoch). The steady window is half-open, `[start,
//! end)`, and holds the fires whose time falls in it.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::lateness::quantile;

/// Strings kept once, each named by a small number.
#[derive(Debug, Default)]
pub struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    /// The number of `name`, given it if it has none yet.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 names");
        self.ids.insert(name.to_owned(), id);
        self.names.push(name.to_owned());
        id
    }

    /// The name numbered `id`.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// One recorded execution, its strings numbered by the run's [`Names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// Its job.
    pub job: u32,
    /// The fire it ran, milliseconds since the Unix epoch.
    pub fire_at: i64,
    /// Its cause (`schedule`, `recovery`, ...).
    pub cause: u32,
    /// Its state (`succeeded`, `failed`, ...).
    pub state: u32,
    /// The instance that ran it.
    pub instance: u32,
    /// When it started, milliseconds since the Unix epoch; `None` if it
    /// never did.
    pub started_at: Option<i64>,
}

/// What one run recorded: its executions and each job's grid.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The strings the executions name.
    pub names: Names,
    /// Every recorded execution.
    pub executions: Vec<Execution>,
    /// Each job's anchor, milliseconds since the Unix epoch, by job: every
    /// job the fleet runs, so a job that never ran counts its fires as
    /// missed.
    pub anchors: HashMap<u32, i64>,
    /// The interval of every job's grid, in milliseconds.
    pub interval_ms: i64,
}

/// The steady window: fires whose time is in `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Its start, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// Its end (excluded).
    pub end_ms: i64,
}

impl Window {
    /// Whether the fire at `at` is in the window.
    pub fn holds(&self, at: i64) -> bool {
        (self.start_ms..self.end_ms).contains(&at)
    }

    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end_ms - self.start_ms) as f64 / 1000.0
    }
}

/// Lateness quantiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    /// How many values they are of.
    pub count: usize,
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The greatest.
    pub max: f64,
}

impl Quantiles {
    /// The quantiles of `values` (sorted here); `None` for none.
    pub fn of(values: &mut [f64]) -> Option<Quantiles> {
        values.sort_by(f64::total_cmp);
        Some(Quantiles {
            count: values.len(),
            p50: quantile(values, 0.50)?,
            p99: quantile(values, 0.99)?,
            max: *values.last()?,
        })
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    /// Every recorded execution, whatever its fire time.
    pub executions: u64,
    /// Executions beyond the first of their fire (same job, same fire
    /// time), over the whole run.
    pub duplicates: u64,
    /// Fires that ran more than once.
    pub duplicated_fires: u64,
    /// Grid fires in the window, over every job.
    pub expected: u64,
    /// Of those, the fires with no execution that started.
    pub missed: u64,
    /// Executions in the window that are not on their job's grid.
    pub off_grid: u64,
    /// Executions whose fire is in the window.
    pub in_window: u64,
    /// Executions in the window that never started.
    pub unstarted: u64,
    /// Distinct fires in the window that ran, per second of the window.
    pub fires_per_second: f64,
    /// Lateness (start less fire time) of the window's executions, in
    /// milliseconds.
    pub lateness_ms: Option<Quantiles>,
    /// Executions by state, over the whole run.
    pub by_state: BTreeMap<String, u64>,
    /// Executions by cause, over the whole run.
    pub by_cause: BTreeMap<String, u64>,
    /// Executions in the window by the instance that ran them.
    pub by_instance: BTreeMap<String, u64>,
    /// A few of the missed fires: job and fire time.
    pub missed_examples: Vec<(String, i64)>,
    /// A few of the fires that ran more than once: job, fire time, count.
    pub duplicate_examples: Vec<(String, i64, u64)>,
}

/// How many examples of each kind the figures keep.
const EXAMPLES: usize = 10;

/// The figures of `recorded` over `window`.
pub fn analyse(recorded: &Recorded, window: Window) -> Figures {
    let names = &recorded.names;
    let mut figures = Figures {
        executions: recorded.executions.len() as u64,
        ..Figures::default()
    };
    let mut fires: Vec<(u32, i64)> = recorded
        .executions
        .iter()
        .map(|execution| (execution.job, execution.fire_at))
        .collect();
    fires.sort_unstable();
    for run in fires.chunk_by(|a, b| a == b) {
        if run.len() > 1 {
            figures.duplicates += run.len() as u64 - 1;
            figures.duplicated_fires += 1;
            if figures.duplicate_examples.len() < EXAMPLES {
                let (job, fire_at) = run[0];
                figures.duplicate_examples.push((
                    names.name(job).to_owned(),
                    fire_at,
                    run.len() as u64,
                ));
            }
        }
    }

    let interval = recorded.interval_ms;
    let mut ran_by_job: HashMap<u32, Vec<i64>> = HashMap::new();
    let mut lateness = Vec::new();
    for execution in &recorded.executions {
        *figures
            .by_state
            .entry(names.name(execution.state).to_owned())
            .or_default() += 1;
        *figures
            .by_cause
            .entry(names.name(execution.cause).to_owned())
            .or_default() += 1;
        if !window.holds(execution.fire_at) {
            continue;
        }
        figures.in_window += 1;
        *figures
            .by_instance
            .entry(names.name(execution.instance).to_owned())
            .or_default() += 1;
        let on_grid = recorded
            .anchors
            .get(&execution.job)
            .is_some_and(|anchor| (execution.fire_at - anchor).rem_euclid(interval) == 0);
        if !on_grid {
            figures.off_grid += 1;
        }
        match execution.started_at {
            Some(started) => {
                lateness.push((started - execution.fire_at) as f64);
                if on_grid {
                    ran_by_job
                        .entry(execution.job)
                        .or_default()
                        .push(execution.fire_at);
                }
            }
            None => figures.unstarted += 1,
        }
    }
    figures.lateness_ms = Quantiles::of(&mut lateness);

    let mut jobs: Vec<(&u32, &i64)> = recorded.anchors.iter().collect();
    jobs.sort_by_key(|(job, _)| names.name(**job));
    let mut distinct_ran = 0u64;
    for (job, &anchor) in jobs {
        let mut ran = ran_by_job.remove(job).unwrap_or_default();
        ran.sort_unstable();
        ran.dedup();
        distinct_ran += ran.len() as u64;
        // The first grid point at or after the window's start.
        let ahead = (window.start_ms - anchor).max(0);
        let mut fire = anchor + (ahead + interval - 1) / interval * interval;
        let mut ran = ran.iter().peekable();
        while fire < window.end_ms {
            figures.expected += 1;
            while ran.next_if(|&&at| at < fire).is_some() {}
            if ran.next_if(|&&at| at == fire).is_none() {
                figures.missed += 1;
                if figures.missed_examples.len() < EXAMPLES {
                    figures
                        .missed_examples
                        .push((names.name(*job).to_owned(), fire));
                }
            }
            fire += interval;
        }
    }
    figures.fires_per_second = distinct_ran as f64 / window.seconds();
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two jobs every second, anchored at 100 and 600; job `b` misses the
    /// fire at 2600 and runs 1600 twice; one execution of `a` is off its
    /// grid, one never started.
    fn recorded() -> Recorded {
        let mut recorded = Recorded {
            interval_ms: 1000,
            ..Recorded::default()
        };
        let names = &mut recorded.names;
        let (a, b) = (names.id("a"), names.id("b"));
        let (schedule, succeeded, running) = (
            names.id("schedule"),
            names.id("succeeded"),
            names.id("running"),
        );
        let (x, y) = (names.id("x"), names.id("y"));
        recorded.anchors = HashMap::from([(a, 100), (b, 600)]);
        let execution = |job, fire_at, instance, started_at: Option<i64>| Execution {
            job,
            fire_at,
            cause: schedule,
            state: if started_at.is_some() {
                succeeded
            } else {
                running
            },
            instance,
            started_at,
        };
        recorded.executions = vec![
            execution(a, 100, x, Some(101)),
            execution(a, 1100, y, Some(1103)),
            execution(a, 2100, x, Some(2102)),
            execution(a, 2150, x, Some(2150)),
            execution(a, 3100, y, None),
            execution(b, 600, x, Some(601)),
            execution(b, 1600, x, Some(1601)),
            execution(b, 1600, y, Some(1605)),
            execution(b, 3600, y, Some(3610)),
        ];
        recorded
    }

    #[test]
    fn duplicates_missed_and_lateness() {
        let window = Window {
            start_ms: 1000,
            end_ms: 4000,
        };
        let figures = analyse(&recorded(), window);
        assert_eq!(figures.executions, 9);
        assert_eq!(figures.duplicates, 1);
        assert_eq!(figures.duplicate_examples, [("b".to_owned(), 1600, 2)]);
        // a: 1100, 2100, 3100; b: 1600, 2600, 3600.
        assert_eq!(figures.expected, 6);
        // b's 2600 has no execution; a's 3100 never started.
        assert_eq!(figures.missed, 2);
        assert_eq!(
            figures.missed_examples,
            [("a".to_owned(), 3100), ("b".to_owned(), 2600)]
        );
        assert_eq!(figures.off_grid, 1);
        assert_eq!(figures.in_window, 7);
        assert_eq!(figures.unstarted, 1);
        // Four distinct fires on the grid ran in 3 s.
        assert!((figures.fires_per_second - 4.0 / 3.0).abs() < 1e-9);
        let lateness = figures.lateness_ms.unwrap();
        assert_eq!(lateness.count, 6);
        assert_eq!(lateness.p50, 2.0);
        assert_eq!(lateness.max, 10.0);
        assert_eq!(figures.by_state["running"], 1);
        assert_eq!(figures.by_instance["x"], 3);
        assert_eq!(figures.by_instance["y"], 4);
    }

    #[test]
    fn a_job_that_never_ran_misses_every_fire() {
        let mut recorded = recorded();
        let c = recorded.names.id("c");
        recorded.anchors.insert(c, 0);
        let window = Window {
            start_ms: 1000,
            end_ms: 4000,
        };
        let figures = analyse(&recorded, window);
        assert_eq!(figures.expected, 9);
        assert_eq!(figures.missed, 5);
    }

    #[test]
    fn the_window_is_half_open() {
        let window = Window {
            start_ms: 1100,
            end_ms: 2100,
        };
        let figures = analyse(&recorded(), window);
        // a: 1100; b: 1600 (twice, one fire).
        assert_eq!(figures.expected, 2);
        assert_eq!(figures.missed, 0);
        assert_eq!(figures.fires_per_second, 2.0);
    }
}
