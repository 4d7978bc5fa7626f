//! The last fires the PostgreSQL writer writes in the schedule rows: only
//! those of fires no execution was claimed for (the job was paused, or
//! busy across the fleet), as a claimed fire is in the executions table
//! already, where a schedule row's last fire is read from too. So in the
//! steady state no instance writes a schedule row for a fire.
//!
//! A fire's mark waits [`MARK_DELAY`] before it is written, so that its
//! claim, made at the same moment, is answered first; the fires this
//! instance knows were claimed, here or elsewhere ([`Claimed`]), are then
//! left out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::lock;
use super::writer::Source;

/// How long a fire's mark waits for its claim's answer before it is
/// written.
pub(super) const MARK_DELAY: Duration = Duration::from_secs(1);

/// Each job's latest scheduled fire this instance knows was claimed (it
/// won it, or another instance had), in milliseconds; shared by the
/// claimer, which notes them, and the writer.
#[derive(Default)]
pub(super) struct Claimed(Mutex<HashMap<Box<str>, i64>>);

impl Claimed {
    /// Notes that `job`'s fires up to `at` were claimed, for each of
    /// `fires`.
    pub(super) fn note<'a>(&self, fires: impl IntoIterator<Item = (&'a str, i64)>) {
        let mut claimed = lock(&self.0);
        for (job, at) in fires {
            match claimed.get_mut(job) {
                Some(latest) => *latest = (*latest).max(at),
                None => {
                    claimed.insert(job.into(), at);
                }
            }
        }
    }

    /// Whether `job`'s fire at `at`, or a later one, was claimed.
    fn covers(&self, job: &str, at: i64) -> bool {
        lock(&self.0).get(job).is_some_and(|&latest| latest >= at)
    }
}

/// The marks waiting to be written, each job's latest.
#[derive(Default)]
pub(super) struct Marks {
    latest: HashMap<Box<str>, Mark>,
    /// The jobs whose mark waits, in the order their marks came, with when.
    waiting: VecDeque<(Instant, Arc<Source>)>,
}

/// A job's latest fire seen, and whether it waits to be written.
struct Mark {
    at: i64,
    waiting: bool,
}

impl Marks {
    /// Notes that the schedule of `source`'s job reached `at`.
    pub(super) fn note(&mut self, source: &Arc<Source>, at: i64) {
        let mark = match self.latest.get_mut(&*source.job) {
            Some(mark) => mark,
            None => self.latest.entry(source.job.clone()).or_insert(Mark {
                at: i64::MIN,
                waiting: false,
            }),
        };
        if at <= mark.at {
            return;
        }
        mark.at = at;
        if !mark.waiting {
            mark.waiting = true;
            self.waiting.push_back((Instant::now(), Arc::clone(source)));
        }
    }

    /// When the oldest waiting mark is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.waiting.front().map(|(since, _)| *since + MARK_DELAY)
    }

    /// Takes the marks due by `now` (every waiting one when `all`), and
    /// returns those of fires not known claimed, by job name.
    pub(super) fn due(
        &mut self,
        all: bool,
        now: Instant,
        claimed: &Claimed,
    ) -> Vec<(Arc<Source>, i64)> {
        let mut due = Vec::new();
        while let Some((since, _)) = self.waiting.front() {
            if !all && *since + MARK_DELAY > now {
                break;
            }
            let Some((_, source)) = self.waiting.pop_front() else {
                break;
            };
            let Some(mark) = self.latest.get_mut(&*source.job) else {
                continue;
            };
            mark.waiting = false;
            if !claimed.covers(&source.job, mark.at) {
                due.push((source, mark.at));
            }
        }
        due.sort_unstable_by(|(a, _), (b, _)| a.job.cmp(&b.job));
        due
    }

    /// Puts back marks that [`due`](Self::due) gave and that could not be
    /// written.
    pub(super) fn put_back(&mut self, marks: Vec<(Arc<Source>, i64)>) {
        for (source, at) in marks {
            if let Some(mark) = self.latest.get_mut(&*source.job) {
                if !mark.waiting {
                    mark.waiting = true;
                    mark.at = mark.at.max(at);
                    self.waiting.push_back((Instant::now(), source));
                }
            }
        }
    }
}
