//! Cron schedules in a time zone: the expression and zone as the shared
//! grammar reads them, and the daylight-saving rules that map the
//! expression's wall-clock times to instants.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use jobs_grammar::{CronExpr, Zone};

pub use jobs_grammar::{CronError, DurationError, ZoneError};

/// A cron expression together with the time zone it is read in.
#[derive(Clone)]
pub struct CronSchedule {
    /// Shared, so cloning a schedule allocates nothing.
    expression: Arc<str>,
    /// Shared by every schedule of the same expression and zone, with the
    /// fire last computed: jobs on one expression compute each fire once.
    shared: Arc<Shared>,
    zone: Zone,
}

/// A parsed expression in a zone, and its last answer.
#[derive(Debug)]
struct Shared {
    cron: CronExpr,
    memo: Memo,
}

/// The last answer of a [`Shared`] expression: `(from, next)`, where `next`
/// is the first fire strictly after `from`, so it is also the first fire
/// after any time in `from..next`. Both are nanoseconds since the Unix
/// epoch; times outside that range are not remembered.
///
/// Every job on the expression reads it at every fire, from every worker:
/// reading writes nothing (a sequence lock), so the readers share its cache
/// line instead of passing it around. `seq` is odd while an answer is being
/// stored; a read that overlaps a store is a miss.
#[derive(Debug, Default)]
struct Memo {
    seq: AtomicU64,
    from: AtomicU64,
    next: AtomicU64,
}

impl Memo {
    /// The remembered first fire after `after`, if the memo holds it.
    fn get(&self, after: SystemTime) -> Option<SystemTime> {
        let after = epoch_nanos(after)?;
        let seq = self.seq.load(Ordering::Acquire);
        if seq % 2 == 1 {
            return None;
        }
        let from = self.from.load(Ordering::Relaxed);
        let next = self.next.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != seq || !(from..next).contains(&after) {
            return None;
        }
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(next))
    }

    /// Remembers that `next` is the first fire after `from`, unless another
    /// answer is being stored (it serves as well).
    fn set(&self, from: SystemTime, next: SystemTime) {
        let (Some(from), Some(next)) = (epoch_nanos(from), epoch_nanos(next)) else {
            return;
        };
        let seq = self.seq.load(Ordering::Relaxed);
        if seq % 2 == 1
            || self
                .seq
                .compare_exchange(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        self.from.store(from, Ordering::Relaxed);
        self.next.store(next, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// `time` in nanoseconds since the Unix epoch, if it is after the epoch and
/// fits.
fn epoch_nanos(time: SystemTime) -> Option<u64> {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

/// The parsed expressions in use, by expression and zone.
type Interned = HashMap<(Arc<str>, Zone), Weak<Shared>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The shared value of `expression` in `zone`, parsing it if no schedule in
/// use has it.
fn intern(expression: &Arc<str>, zone: Zone) -> Result<Arc<Shared>, CronError> {
    static INTERNED: OnceLock<Mutex<Interned>> = OnceLock::new();
    let mut interned = lock(INTERNED.get_or_init(Mutex::default));
    let key = (Arc::clone(expression), zone);
    if let Some(shared) = interned.get(&key).and_then(Weak::upgrade) {
        return Ok(shared);
    }
    let shared = Arc::new(Shared {
        cron: CronExpr::parse(expression)?,
        memo: Memo::default(),
    });
    interned.retain(|_, shared| shared.strong_count() > 0);
    interned.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

/// Why a schedule, a cron expression, an interval or a time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse, or never fires.
    #[error(transparent)]
    Cron(CronError),
    /// The time zone is unknown.
    #[error(transparent)]
    TimeZone(ZoneError),
    /// The interval does not parse, or lies outside
    /// [`Schedule::MIN_INTERVAL`](crate::Schedule::MIN_INTERVAL) ..=
    /// [`Schedule::MAX_INTERVAL`](crate::Schedule::MAX_INTERVAL).
    #[error(transparent)]
    Interval(DurationError),
}

/// The widest a zone's offset changes at one transition, and more: a
/// transition is looked for within this much of a time that does not exist.
const WIDEST_SHIFT: chrono::TimeDelta = chrono::TimeDelta::days(2);

/// The distance between two looks at a zone's offset when searching for a
/// transition: no zone changes its offset twice within a day.
const PROBE: chrono::TimeDelta = chrono::TimeDelta::days(1);

impl CronSchedule {
    /// Parses `expression`, read in time zone `tz` (an IANA name, `"UTC"` or
    /// `"local"`).
    pub fn new(expression: &str, tz: &str) -> Result<Self, ScheduleError> {
        let expression: Arc<str> = Arc::from(expression.trim());
        let zone = match Zone::parse(tz) {
            Ok(zone) => zone,
            Err(error) => {
                // The expression's own problem is reported first.
                CronExpr::parse(&expression).map_err(ScheduleError::Cron)?;
                return Err(ScheduleError::TimeZone(error));
            }
        };
        let shared = intern(&expression, zone).map_err(ScheduleError::Cron)?;
        Ok(CronSchedule {
            expression,
            shared,
            zone,
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone's name: `"UTC"`, `"local"` or an IANA name.
    pub fn time_zone(&self) -> &str {
        self.zone.name()
    }

    /// The first fire strictly after `after`, or `None` if there is none.
    ///
    /// The hour field decides how local times map to instants. With a
    /// wildcard hour (`*`, `*/n`, `@hourly`) the expression follows real
    /// time: it fires at every instant whose local time matches, in both
    /// halves of a repeated hour, and not at local times that do not exist.
    /// With fixed hours (a value, list, range or step from a value) it names
    /// wall-clock times: a time that does not exist fires once, at the first
    /// instant after the gap (several such times fire once together), and a
    /// time that occurs twice fires at its first occurrence only.
    pub fn next_after(&self, after: SystemTime) -> Option<SystemTime> {
        if let Some(next) = self.shared.memo.get(after) {
            return Some(next);
        }
        let utc = to_utc(after)?;
        let next: SystemTime = match self.zone {
            Zone::Utc => self.next_in(&Utc, utc),
            Zone::Local => self.next_in(&Local, utc),
            Zone::Named(tz) => self.next_in(&tz, utc),
        }?
        .into();
        self.shared.memo.set(after, next);
        Some(next)
    }

    fn next_in<Tz: TimeZone>(&self, tz: &Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.shared.cron.follows_wall_clock() {
            self.next_wall_clock(tz, after)
        } else {
            self.next_real_time(tz, after)
        }
    }

    /// Fixed hours: each matching local time maps to one instant (its first
    /// occurrence, or the end of the gap it falls in). The map keeps the
    /// order of local times, so the answer is the first match whose instant
    /// is past `after`.
    fn next_wall_clock<Tz: TimeZone>(
        &self,
        tz: &Tz,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut cursor = local(tz, after)?;
        // A second look is needed only when `after` lies in the second half
        // of a repeated hour: the first match's first occurrence has passed,
        // and the search resumes at `after`'s local time under the earlier
        // offset, past which every match's instant is past `after`.
        for _ in 0..3 {
            let candidate = self.shared.cron.next_naive(cursor, false)?;
            let instant = wall_clock_instant(tz, candidate)?;
            if instant > after {
                return Some(instant);
            }
            let earlier_offset = candidate - instant.naive_utc();
            cursor = candidate.max(after.naive_utc().checked_add_signed(earlier_offset)?);
        }
        None
    }

    /// Wildcard hours: the first instant past `after` whose local time
    /// matches, walking one stretch of constant offset at a time.
    fn next_real_time<Tz: TimeZone>(&self, tz: &Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = after;
        let mut inclusive = false;
        // Each round crosses one offset change; a few suffice for any zone.
        for _ in 0..8 {
            let offset = offset_at(tz, from);
            let candidate = self
                .shared
                .cron
                .next_naive(from.naive_utc().checked_add_signed(offset)?, inclusive)?;
            let instant = candidate.checked_sub_signed(offset)?.and_utc();
            match first_change(tz, from, instant, offset) {
                None => return Some(instant),
                Some(change) => {
                    from = change;
                    inclusive = true;
                }
            }
        }
        None
    }
}

/// `time` as a chrono time, or `None` past chrono's range.
pub(crate) fn to_utc(time: SystemTime) -> Option<DateTime<Utc>> {
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => epoch.checked_add_signed(chrono::TimeDelta::from_std(since).ok()?),
        Err(before) => {
            epoch.checked_sub_signed(chrono::TimeDelta::from_std(before.duration()).ok()?)
        }
    }
}

/// The zone's offset from UTC at `at`.
fn offset_at<Tz: TimeZone>(tz: &Tz, at: DateTime<Utc>) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(i64::from(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

/// The local time at `at`.
fn local<Tz: TimeZone>(tz: &Tz, at: DateTime<Utc>) -> Option<NaiveDateTime> {
    at.naive_utc().checked_add_signed(offset_at(tz, at))
}

/// The instant a wall-clock time names: its only or first occurrence, or for
/// a time in a gap, the first instant after the gap.
fn wall_clock_instant<Tz: TimeZone>(tz: &Tz, time: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&time) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // The offset grows across the gap: the transition lies between
            // the instants `time` would be under the offsets after and
            // before it.
            let before = offset_at(tz, time.checked_sub_signed(WIDEST_SHIFT)?.and_utc());
            let after = offset_at(tz, time.checked_add_signed(WIDEST_SHIFT)?.and_utc());
            let earliest = time.checked_sub_signed(after)?.and_utc();
            let latest = time.checked_sub_signed(before)?.and_utc();
            first_change(tz, earliest, latest, offset_at(tz, earliest)).or(Some(latest))
        }
    }
}

/// The first whole second in `(from, until]` at which the zone's offset is no
/// longer `offset`, or `None` if it holds throughout.
fn first_change<Tz: TimeZone>(
    tz: &Tz,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    offset: chrono::TimeDelta,
) -> Option<DateTime<Utc>> {
    // Look once a day, then narrow the day the offset changed in down to
    // the second.
    let mut held = from;
    let changed = loop {
        let probe = held
            .checked_add_signed(PROBE)
            .map_or(until, |probe| probe.min(until));
        if offset_at(tz, probe) != offset {
            break probe;
        }
        if probe >= until {
            return None;
        }
        held = probe;
    };
    let (mut low, mut high) = (held.timestamp(), changed.timestamp());
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        let at = DateTime::from_timestamp(middle, 0)?;
        if offset_at(tz, at) == offset {
            low = middle;
        } else {
            high = middle;
        }
    }
    DateTime::from_timestamp(high, 0)
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.expression == other.expression && self.zone == other.zone
    }
}

impl Eq for CronSchedule {}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSchedule")
            .field("expression", &self.expression)
            .field("time_zone", &self.time_zone())
            .finish()
    }
}

/// `cron "<expression>" in <zone>`, which `Schedule::from_str` reads back.
impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cron {:?} in {}", self.expression, self.time_zone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    /// The first `n` fires of `expression` in `tz` after `after`.
    fn fires(expression: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        let schedule = CronSchedule::new(expression, tz).unwrap();
        let mut times = Vec::new();
        let mut cursor = at(after);
        for _ in 0..n {
            cursor = schedule.next_after(cursor).unwrap();
            times.push(humantime::format_rfc3339(cursor).to_string());
        }
        times
    }

    #[test]
    fn five_and_six_fields() {
        assert_eq!(
            fires("*/5 * * * *", "UTC", "2026-01-01T00:02:00Z", 2),
            ["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"]
        );
        assert_eq!(
            fires("*/10 * * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z"]
        );
        assert_eq!(
            fires("*/10 * * * * *", "UTC", "2026-01-01T00:00:09.5Z", 1),
            ["2026-01-01T00:00:10Z"]
        );
    }

    #[test]
    fn aliases_and_specials() {
        assert_eq!(
            fires("@hourly", "UTC", "2026-01-01T00:30:00Z", 1),
            ["2026-01-01T01:00:00Z"]
        );
        assert_eq!(
            fires("@midnight", "Europe/Berlin", "2026-01-01T00:30:00Z", 1),
            ["2026-01-01T23:00:00Z"]
        );
        assert_eq!(
            fires("0 0 L * *", "UTC", "2026-02-01T00:00:00Z", 1),
            ["2026-02-28T00:00:00Z"]
        );
        assert_eq!(
            fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00Z"]
        );
    }

    // Europe/Berlin, 2026: the clocks skip 02:00-03:00 on 03-29 (the gap
    // ends at 01:00 UTC) and repeat 02:00-03:00 on 10-25 (first 00:00-01:00
    // UTC in CEST, again 01:00-02:00 UTC in CET).

    #[test]
    fn fixed_hours_in_a_gap_run_once_at_its_end() {
        let berlin = "Europe/Berlin";
        let night = "2026-03-28T23:00:00Z";
        assert_eq!(
            fires("30 2 * * *", berlin, night, 2),
            ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
        );
        assert_eq!(
            fires("0,30 2 * * *", berlin, night, 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:00:00Z",
                "2026-03-30T00:30:00Z"
            ]
        );
        assert_eq!(
            fires("15,45 2 * * *", berlin, night, 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:15:00Z",
                "2026-03-30T00:45:00Z"
            ]
        );
        assert_eq!(
            fires("30 1-3 * * *", berlin, night, 4),
            [
                "2026-03-29T00:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z",
                "2026-03-29T23:30:00Z"
            ]
        );
        assert_eq!(
            fires("30 2,3 * * *", berlin, night, 3),
            [
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:30:00Z",
                "2026-03-30T00:30:00Z"
            ]
        );
        assert_eq!(
            fires("* 2 * * *", berlin, night, 2),
            ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"]
        );
        assert_eq!(
            fires("0 0-59/30 2 29 3 *", berlin, night, 2),
            ["2026-03-29T01:00:00Z", "2027-03-29T00:00:00Z"]
        );
    }

    #[test]
    fn fixed_hours_repeated_run_at_the_first_occurrence_only() {
        let berlin = "Europe/Berlin";
        let evening = "2026-10-24T22:00:00Z";
        assert_eq!(
            fires("30 2 * * *", berlin, evening, 2),
            ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
        );
        assert_eq!(
            fires("15,45 2 * * *", berlin, evening, 3),
            [
                "2026-10-25T00:15:00Z",
                "2026-10-25T00:45:00Z",
                "2026-10-26T01:15:00Z"
            ]
        );
        assert_eq!(
            fires("0 0-3 * * *", berlin, "2026-10-24T21:00:00Z", 5),
            [
                "2026-10-24T22:00:00Z",
                "2026-10-24T23:00:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T23:00:00Z"
            ]
        );
        assert_eq!(
            fires("*/20 2 * * *", berlin, evening, 4),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:20:00Z",
                "2026-10-25T00:40:00Z",
                "2026-10-26T01:00:00Z"
            ]
        );
        assert_eq!(
            fires("0 */20 1-3 * * *", berlin, evening, 9),
            [
                "2026-10-24T23:00:00Z",
                "2026-10-24T23:20:00Z",
                "2026-10-24T23:40:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:20:00Z",
                "2026-10-25T00:40:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T02:20:00Z",
                "2026-10-25T02:40:00Z"
            ]
        );
        assert_eq!(
            fires("0 15,45 1-2 25-31 10 SUN", berlin, evening, 5),
            [
                "2026-10-24T23:15:00Z",
                "2026-10-24T23:45:00Z",
                "2026-10-25T00:15:00Z",
                "2026-10-25T00:45:00Z",
                "2026-10-26T00:15:00Z"
            ]
        );
    }

    #[test]
    fn fixed_hours_from_inside_the_second_half() {
        // 01:10 UTC is 02:10 CET, the second 02:10 of the night: 02:20 and
        // 02:40 have had their first occurrence already.
        assert_eq!(
            fires("*/20 2 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1),
            ["2026-10-26T01:00:00Z"]
        );
        assert_eq!(
            fires("0 2,3 * * *", "Europe/Berlin", "2026-10-25T01:10:00Z", 1),
            ["2026-10-25T02:00:00Z"]
        );
    }

    #[test]
    fn wildcard_hours_follow_real_time() {
        let berlin = "Europe/Berlin";
        // No 02:00 exists on the spring night.
        assert_eq!(
            fires("0 * * * *", berlin, "2026-03-28T23:30:00Z", 3),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ]
        );
        assert_eq!(
            fires("30 */2 * * *", berlin, "2026-03-28T23:00:00Z", 2),
            ["2026-03-28T23:30:00Z", "2026-03-29T02:30:00Z"]
        );
        // Both halves of the repeated hour fire.
        assert_eq!(
            fires("@hourly", berlin, "2026-10-24T23:30:00Z", 3),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T02:00:00Z"
            ]
        );
        assert_eq!(
            fires("*/30 * * * *", berlin, "2026-10-24T23:50:00Z", 5),
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T01:30:00Z",
                "2026-10-25T02:00:00Z"
            ]
        );
        // 02:50 CEST: the next 02:15 on the clock is 02:15 CET.
        assert_eq!(
            fires("15 * * * *", berlin, "2026-10-25T00:50:00Z", 2),
            ["2026-10-25T01:15:00Z", "2026-10-25T02:15:00Z"]
        );
        assert_eq!(
            fires("0 0,30 * * * *", berlin, "2026-10-25T00:45:00Z", 2),
            ["2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z"]
        );
    }

    // America/New_York, 2026: 02:00-03:00 skipped on 03-08 (gap ends 07:00
    // UTC); 01:00-02:00 repeated on 11-01 (05:00-06:00 UTC in EDT, again
    // 06:00-07:00 UTC in EST).

    #[test]
    fn new_york() {
        let new_york = "America/New_York";
        let fall = "2026-10-31T12:00:00Z";
        assert_eq!(
            fires("0 0-2 * * *", new_york, fall, 4),
            [
                "2026-11-01T04:00:00Z",
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-02T05:00:00Z"
            ]
        );
        assert_eq!(
            fires("15,45 1 * * *", new_york, fall, 3),
            [
                "2026-11-01T05:15:00Z",
                "2026-11-01T05:45:00Z",
                "2026-11-02T06:15:00Z"
            ]
        );
        assert_eq!(
            fires("15,45 2 * * *", new_york, "2026-03-07T12:00:00Z", 3),
            [
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:15:00Z",
                "2026-03-09T06:45:00Z"
            ]
        );
        assert_eq!(
            fires("*/30 * * * *", new_york, "2026-11-01T05:40:00Z", 3),
            [
                "2026-11-01T06:00:00Z",
                "2026-11-01T06:30:00Z",
                "2026-11-01T07:00:00Z"
            ]
        );
    }

    // Australia/Lord_Howe shifts by 30 minutes: on 2026-04-05 01:30-02:00 is
    // repeated (+11 then +10:30), on 2026-10-04 02:00-02:30 is skipped.

    #[test]
    fn lord_howe_half_hour_shifts() {
        let lord_howe = "Australia/Lord_Howe";
        assert_eq!(
            fires("0,45 1 * * *", lord_howe, "2026-04-04T12:00:00Z", 3),
            [
                "2026-04-04T14:00:00Z",
                "2026-04-04T14:45:00Z",
                "2026-04-05T14:30:00Z"
            ]
        );
        assert_eq!(
            fires("15 2 * * *", lord_howe, "2026-10-03T12:00:00Z", 2),
            ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]
        );
        assert_eq!(
            fires("*/15 * * * *", lord_howe, "2026-10-03T15:20:00Z", 2),
            ["2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"]
        );
    }

    #[test]
    fn searches_are_bounded() {
        // Far past chrono's range, and an expression that fires every few
        // years: answers, not panics or long searches.
        let schedule = CronSchedule::new("0 0 29 2 *", "Europe/Berlin").unwrap();
        assert!(schedule.next_after(at("2026-03-01T00:00:00Z")).is_some());
        for seconds in [1 << 40, 1 << 44] {
            let far = SystemTime::UNIX_EPOCH
                .checked_add(std::time::Duration::from_secs(seconds))
                .unwrap();
            assert_eq!(schedule.next_after(far), None);
        }
    }

    #[test]
    fn schedules_of_one_expression_share_their_fires() {
        let one = CronSchedule::new("*/5 * * * *", "Europe/Berlin").unwrap();
        let other = CronSchedule::new(" */5 * * * * ", "Europe/Berlin").unwrap();
        let elsewhere = CronSchedule::new("*/5 * * * *", "UTC").unwrap();
        assert!(Arc::ptr_eq(&one.shared, &other.shared));
        assert!(!Arc::ptr_eq(&one.shared, &elsewhere.shared));
        // The memo answers for any time before the fire it holds, and only
        // for those.
        let next = one.next_after(at("2026-01-01T00:02:00Z")).unwrap();
        assert_eq!(other.next_after(at("2026-01-01T00:04:59Z")), Some(next));
        assert_eq!(
            other
                .next_after(next)
                .map(|t| humantime::format_rfc3339(t).to_string()),
            Some("2026-01-01T00:10:00Z".to_owned())
        );
        assert_eq!(
            one.next_after(at("2026-01-01T00:01:00Z"))
                .map(|t| humantime::format_rfc3339(t).to_string()),
            Some("2026-01-01T00:05:00Z".to_owned())
        );
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            CronSchedule::new("* * *", "UTC"),
            Err(ScheduleError::Cron(_))
        ));
        assert!(matches!(
            CronSchedule::new("0 0 31 2 *", "UTC"),
            Err(ScheduleError::Cron(error)) if error.never_fires()
        ));
        assert!(matches!(
            CronSchedule::new("@hourly", "Mars/Base"),
            Err(ScheduleError::TimeZone(_))
        ));
    }
}
