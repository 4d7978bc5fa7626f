//! How the instances share the claiming of scheduled fires: each job has
//! a first claimer among the live instances, the same on every instance
//! (rendezvous hashing on the names of the job and of the instances), and
//! the others make their claims of its scheduled fires a little later. So
//! at a burst of fires each instance claims its own share at once, in a
//! transaction of its own, rather than all of them claiming every fire
//! and queueing on the same locks. Which instance runs a fire is still
//! decided by the claim alone: the sharing only orders the attempts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::store::Claimed;

/// How long an instance that is not a job's first claimer waits before it
/// claims a scheduled fire of the job, at most: long enough for the first
/// claimer's transaction, short enough that a fire the first claimer does
/// not take (it has not the job, or no free slots) runs soon.
const DEFER: Duration = Duration::from_millis(100);

/// The live instances, by name, as the latest heartbeat read them.
#[derive(Default)]
pub(super) struct Members(Mutex<Arc<[String]>>);

impl Members {
    /// Takes the names of the live instances, sorted; the same names as
    /// before leave the list as it is, so that what was found from it holds.
    pub(super) fn set(&self, names: Vec<String>) {
        let mut members = super::lock(&self.0);
        if **members != *names {
            *members = names.into();
        }
    }

    fn get(&self) -> Arc<[String]> {
        Arc::clone(&super::lock(&self.0))
    }
}

/// The instance among `members` that claims `job`'s scheduled fires first.
fn first_claimer<'a>(job: &str, members: &'a [String]) -> Option<&'a str> {
    members
        .iter()
        .max_by_key(|member| weight(job, member))
        .map(String::as_str)
}

/// The weight of `member` for `job`, alike in every process and build:
/// FNV-1a over both names, then a finalizer that spreads its bits.
fn weight(job: &str, member: &str) -> u64 {
    let bytes = job.bytes().chain([0xff]).chain(member.bytes());
    let mut hash = bytes.fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// One job's turn in claiming on one instance.
#[derive(Default)]
pub(super) struct Turn {
    /// The fire time of the job's latest scheduled claim here: the gap to
    /// the next one bounds how long that one may wait.
    last_fire: Option<SystemTime>,
    /// The first claimer was seen not to claim the job's fires (a claim
    /// that waited won): claim them at once, until one is found taken.
    prompt: bool,
    /// The live instances the job's first claimer was last found among,
    /// and whether it was another instance: found again only when they
    /// change.
    seen: Option<(Arc<[String]>, bool)>,
    /// How long before they are due scheduled fires are handed out to be
    /// claimed (the claim lead): a claimer behind waits it out as well, so
    /// it claims after the fire is due.
    lead: Duration,
}

/// How a scheduled claim is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wait {
    /// How long to wait before claiming.
    pub(super) delay: Duration,
    /// Whether another instance claims the job's fires first.
    behind: bool,
}

impl Turn {
    /// The turn of a job whose fires are handed out `lead` before they are
    /// due.
    pub(super) fn new(lead: Duration) -> Self {
        Turn {
            lead,
            ..Turn::default()
        }
    }

    /// How `instance` claims `job`'s scheduled fire at `fire_at`, with the
    /// live `members`: at once if it is the first claimer, if it is alone,
    /// if the first claimer was seen not to claim, or for the job's first
    /// fire here; else after [`DEFER`] past the fire's time, the claim lead
    /// and the defer each bounded by a quarter of the gap since the
    /// previous fire, so that a waiting claim never holds up the job's next
    /// fire.
    pub(super) fn wait(
        &mut self,
        job: &str,
        instance: &str,
        fire_at: SystemTime,
        members: &Members,
    ) -> Wait {
        let gap = self
            .last_fire
            .replace(fire_at)
            .and_then(|last| fire_at.duration_since(last).ok());
        let members = members.get();
        let behind = match &self.seen {
            Some((seen, behind)) if Arc::ptr_eq(seen, &members) => *behind,
            _ => {
                let listed = members.iter().any(|member| member == instance);
                let first = first_claimer(job, &members);
                let behind = listed && first.is_some_and(|first| first != instance);
                self.seen = Some((members, behind));
                behind
            }
        };
        let delay = match gap {
            Some(gap) if behind && !self.prompt => self.lead.min(gap / 4) + DEFER.min(gap / 4),
            _ => Duration::ZERO,
        };
        Wait { delay, behind }
    }

    /// Learns from the answer to a claim made after `wait`: a claim that
    /// waited and won finds the first claimer not claiming the job, a prompt
    /// one found taken finds it claiming again.
    pub(super) fn answered(&mut self, wait: Wait, answer: &Claimed) {
        match answer {
            Claimed::Won { .. } if !wait.delay.is_zero() => self.prompt = true,
            Claimed::Taken if wait.behind && wait.delay.is_zero() => self.prompt = false,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn members(names: &[&str]) -> Members {
        let members = Members::default();
        members.set(names.iter().map(|name| (*name).to_owned()).collect());
        members
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + SECOND * u32::try_from(seconds).unwrap()
    }

    /// The first claimer of "job" between "a" and "b", and the other.
    fn sides() -> (&'static str, &'static str) {
        match first_claimer("job", &["a".into(), "b".into()]) {
            Some("a") => ("a", "b"),
            _ => ("b", "a"),
        }
    }

    #[test]
    fn each_job_has_one_first_claimer_and_the_jobs_are_spread() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut counts = [0_u32; 3];
        for job in 0..3_000 {
            let job = format!("job-{job}");
            let first = first_claimer(&job, &names).unwrap();
            // The order the names are listed in does not matter.
            let reversed: Vec<String> = names.iter().rev().cloned().collect();
            assert_eq!(first_claimer(&job, &reversed), Some(first));
            counts[names.iter().position(|name| name == first).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&count| count > 800), "{counts:?}");
        assert_eq!(first_claimer("job", &[]), None);
    }

    #[test]
    fn a_weight_is_the_same_in_every_build() {
        assert_ne!(weight("job", "a"), weight("job", "b"));
        assert_eq!(weight("report", "host-1"), 0xda95_9ed2_30af_42ef);
    }

    #[test]
    fn only_a_claimer_behind_waits_and_never_past_a_quarter_of_the_gap() {
        let all = members(&["a", "b"]);
        let (first, behind) = sides();
        let mut ahead = Turn::default();
        for second in 0..3 {
            assert_eq!(
                ahead.wait("job", first, at(second), &all).delay,
                Duration::ZERO
            );
        }
        let mut turn = Turn::default();
        // The first fire here has no gap to bound a wait: at once.
        assert_eq!(turn.wait("job", behind, at(0), &all).delay, Duration::ZERO);
        assert_eq!(turn.wait("job", behind, at(1), &all).delay, DEFER);
        let quick = at(1) + Duration::from_millis(200);
        assert_eq!(
            turn.wait("job", behind, quick, &all).delay,
            Duration::from_millis(50)
        );
        // Fires handed out ahead: waited out too, within the gap's quarter.
        let mut lead = Turn::new(Duration::from_millis(100));
        lead.wait("job", behind, at(0), &all);
        assert_eq!(
            lead.wait("job", behind, at(1), &all).delay,
            DEFER + Duration::from_millis(100)
        );
        assert_eq!(
            lead.wait("job", behind, quick, &all).delay,
            Duration::from_millis(100)
        );
        // Alone, or not yet listed: at once.
        let mut alone = Turn::default();
        for second in 0..3 {
            let only = members(&[behind]);
            assert_eq!(
                alone.wait("job", behind, at(second), &only).delay,
                Duration::ZERO
            );
            let unlisted = members(&[first]);
            assert_eq!(
                alone.wait("job", behind, at(second), &unlisted).delay,
                Duration::ZERO
            );
        }
    }

    #[test]
    fn a_claimer_behind_claims_at_once_while_the_first_does_not_claim() {
        let all = members(&["a", "b"]);
        let (_, behind) = sides();
        let mut turn = Turn::default();
        turn.wait("job", behind, at(0), &all);
        let waited = turn.wait("job", behind, at(1), &all);
        assert_eq!(waited.delay, DEFER);
        turn.answered(
            waited,
            &Claimed::Won {
                lease_token: None,
                due_in: Duration::ZERO,
            },
        );
        let prompt = turn.wait("job", behind, at(2), &all);
        assert_eq!(prompt.delay, Duration::ZERO);
        turn.answered(
            prompt,
            &Claimed::Won {
                lease_token: None,
                due_in: Duration::ZERO,
            },
        );
        let prompt = turn.wait("job", behind, at(3), &all);
        assert_eq!(prompt.delay, Duration::ZERO);
        // Found taken: the first claimer claims again.
        turn.answered(prompt, &Claimed::Taken);
        assert_eq!(turn.wait("job", behind, at(4), &all).delay, DEFER);
        // Once the first claimer is no longer live, this one is first.
        all.set(vec![behind.to_owned()]);
        assert_eq!(turn.wait("job", behind, at(5), &all).delay, Duration::ZERO);
    }
}
