//! CPU time as the kernel counts it: this process's (`getrusage`), another
//! process's and the whole machine's (`/proc`).

use std::time::Duration;

/// The CPU time, user and system, of every thread of this process so far.
pub fn own() -> Duration {
    let usage = usage();
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

/// The most memory this process has held resident, in KiB.
pub fn max_resident_kib() -> u64 {
    u64::try_from(usage().ru_maxrss).unwrap_or(0)
}

/// `getrusage(RUSAGE_SELF)`.
fn usage() -> libc::rusage {
    // SAFETY: `rusage` is plain data, for which all zeroes is a valid value,
    // and `getrusage` only writes into the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

fn timeval(time: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(time.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(time.tv_usec).unwrap_or(0))
}

/// The unit of the times in `/proc` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// The CPU time, user and system, that process `pid` has used, from
/// `/proc/PID/stat` (10 ms resolution); `None` once it is gone.
pub fn of_process(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: the fields are
    // counted after its closing parenthesis, where field 3 (state) begins.
    let (_, fields) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    // Fields 14 and 15 of the whole line: utime and stime.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(ticks(user + system))
}

/// The busy time of every core together since boot (steal included): the
/// first line of `/proc/stat` less its idle and iowait columns.
pub fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let columns: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|column| column.parse().ok())
        .collect();
    let total: u64 = columns.iter().sum();
    let idle = columns.get(3).copied().unwrap_or(0) + columns.get(4).copied().unwrap_or(0);
    ticks(total.saturating_sub(idle))
}

fn ticks(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// The machine's cores and its load averages over 1, 5 and 15 minutes.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cores} cores, load average {} (1, 5, 15 min)",
        load.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_counted_both_ways() {
        let start = own();
        let mut sum = 0u64;
        for index in 0..20_000_000u64 {
            sum = sum.wrapping_add(index.rotate_left(7));
        }
        std::hint::black_box(sum);
        assert!(own() > start);
        assert!(of_process(std::process::id()).is_some());
        assert!(machine_busy() > Duration::ZERO);
        assert!(max_resident_kib() > 0);
    }
}
