//! [`FleetTimings`]: how the instances that share a store watch each other.

use std::time::Duration;

use crate::Error;

/// How the instances that share a store (PostgreSQL) watch each other:
/// how often each writes its heartbeat, after how long without one it is
/// taken for dead, and how long past its timeout a running attempt may go
/// before it is taken for stuck.
///
/// - Every `heartbeat` (5 s), each instance writes its heartbeat and looks
///   for executions to take over.
/// - An instance whose heartbeat is `dead_after` (20 s) old is dead: the
///   others abandon the executions it left and continue them by their
///   jobs' retry policies. So an execution killed with its process is
///   continued within `dead_after` plus two heartbeats (30 s by default).
/// - An instance that could not write its heartbeat for `dead_after` minus
///   one heartbeat (15 s) fences itself: it aborts its runs before the
///   others may take them over.
/// - An attempt of a job with a timeout that is still running `grace` (60 s)
///   after its timeout, on an instance that is alive, is stuck: it is
///   abandoned and continued as if its instance had died, and its own late
///   result is discarded.
/// - A scheduled fire is claimed `claim_lead` (100 ms) before it is due,
///   and its run waits for its time once won: the claim's round trip does
///   not make it late (see [`with_claim_lead`](Self::with_claim_lead)).
///
/// ```
/// use std::time::Duration;
/// use jobs_runtime::store::FleetTimings;
///
/// let timings = FleetTimings::new(
///     Duration::from_secs(2),
///     Duration::from_secs(10),
///     Duration::from_secs(30),
/// )?;
/// assert_eq!(timings.self_fence(), Duration::from_secs(8));
/// assert!(FleetTimings::new(Duration::from_secs(5), Duration::from_secs(8), Duration::ZERO).is_err());
/// # Ok::<(), jobs_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetTimings {
    heartbeat: Duration,
    dead_after: Duration,
    grace: Duration,
    claim_lead: Duration,
}

impl Default for FleetTimings {
    fn default() -> Self {
        FleetTimings {
            heartbeat: Duration::from_secs(5),
            dead_after: Duration::from_secs(20),
            grace: Duration::from_secs(60),
            claim_lead: Self::DEFAULT_CLAIM_LEAD,
        }
    }
}

impl FleetTimings {
    /// The shortest heartbeat.
    pub const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

    /// The longest of each timing: a day.
    pub const MAX: Duration = Duration::from_secs(86_400);

    /// How long before a scheduled fire is due it is claimed, by default.
    pub const DEFAULT_CLAIM_LEAD: Duration = Duration::from_millis(100);

    /// The longest claim lead: a quarter of the shortest gap between two
    /// fires of a cron expression (a second).
    pub const MAX_CLAIM_LEAD: Duration = Duration::from_millis(250);

    /// Timings with this `heartbeat` (at least 100 ms), `dead_after` (at
    /// least three heartbeats, so that an instance fences itself at least a
    /// heartbeat before the others may take its work) and `grace`; none
    /// longer than a day. An error names the timing, the value and what is
    /// allowed.
    pub fn new(heartbeat: Duration, dead_after: Duration, grace: Duration) -> Result<Self, Error> {
        let refuse = |setting: &str, value: Duration, reason: String| {
            Err(Error::InvalidFleetTimings {
                setting: setting.to_owned(),
                value: jobs_grammar::format_duration(value),
                reason,
            })
        };
        if heartbeat < Self::MIN_HEARTBEAT || heartbeat > Self::MAX {
            return refuse(
                "heartbeat",
                heartbeat,
                "a heartbeat is from 100ms to 1d".to_owned(),
            );
        }
        if dead_after > Self::MAX {
            return refuse("dead_after", dead_after, "at most 1d".to_owned());
        }
        if dead_after < heartbeat * 3 {
            return refuse(
                "dead_after",
                dead_after,
                format!(
                    "at least three heartbeats ({}), so that an instance fences itself before the others take its work",
                    jobs_grammar::format_duration(heartbeat * 3)
                ),
            );
        }
        if grace > Self::MAX {
            return refuse("grace", grace, "at most 1d".to_owned());
        }
        Ok(FleetTimings {
            heartbeat,
            dead_after,
            grace,
            claim_lead: Self::DEFAULT_CLAIM_LEAD,
        })
    }

    /// These timings with scheduled fires claimed `lead` before they are
    /// due (at most [`MAX_CLAIM_LEAD`](Self::MAX_CLAIM_LEAD); zero claims
    /// each fire when it is due). A run won ahead waits for its fire time,
    /// by this instance's clock and by the database's, so it never starts
    /// early; a job that fires more often than every four leads is claimed
    /// a quarter of its interval ahead. The lead should cover a claim's
    /// round trip under load: then a fire starts on time however many are
    /// due with it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobs_runtime::store::FleetTimings;
    ///
    /// let timings = FleetTimings::default().with_claim_lead(Duration::from_millis(50))?;
    /// assert_eq!(timings.claim_lead(), Duration::from_millis(50));
    /// assert!(FleetTimings::default().with_claim_lead(Duration::from_secs(1)).is_err());
    /// # Ok::<(), jobs_runtime::Error>(())
    /// ```
    pub fn with_claim_lead(self, lead: Duration) -> Result<Self, Error> {
        if lead > Self::MAX_CLAIM_LEAD {
            return Err(Error::InvalidFleetTimings {
                setting: "claim_lead".to_owned(),
                value: jobs_grammar::format_duration(lead),
                reason: "at most 250ms (a quarter of the shortest gap between two cron fires)"
                    .to_owned(),
            });
        }
        Ok(FleetTimings {
            claim_lead: lead,
            ..self
        })
    }

    /// How often each instance writes its heartbeat, and looks for work to
    /// take over (5 s by default).
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// How old an instance's heartbeat is when the others take it for dead
    /// (20 s by default).
    pub fn dead_after(&self) -> Duration {
        self.dead_after
    }

    /// How long past its timeout an attempt runs before it is taken for
    /// stuck (60 s by default).
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// How long before a scheduled fire is due it is claimed (100 ms by
    /// default).
    pub fn claim_lead(&self) -> Duration {
        self.claim_lead
    }

    /// How long an instance goes without writing its heartbeat before it
    /// aborts its runs: `dead_after` less one heartbeat (15 s by default).
    pub fn self_fence(&self) -> Duration {
        self.dead_after - self.heartbeat
    }

    /// The longest an execution killed with its process waits to be
    /// continued elsewhere: `dead_after` plus two heartbeats (30 s by
    /// default), one for the heartbeat's age when the process died and one
    /// for the others' look.
    pub fn failover_bound(&self) -> Duration {
        self.dead_after + self.heartbeat * 2
    }
}
