//! What every benchmark shares: quick mode, the runtime it runs on, and the
//! machine's load, from the benchmark's own point of view.

/// Whether to make a smoke run of a few seconds instead of the full
/// measurement: when `JOBS_BENCH_QUICK` is set (and not `0`), or when the
/// binary is not run by `cargo bench`, which passes `--bench` (under
/// `cargo test --benches`, for instance).
pub fn quick() -> bool {
    let asked =
        std::env::var_os("JOBS_BENCH_QUICK").is_some_and(|value| !value.is_empty() && value != "0");
    asked || !std::env::args().any(|arg| arg == "--bench")
}

/// A multi-thread runtime with tokio's default of one worker per core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

/// Prints the mode, and the machine's cores and load averages, which the
/// timings depend on.
pub fn print_machine(bench: &str) {
    let mode = if quick() { "quick" } else { "full" };
    println!("({bench}) mode: {mode}");
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "({bench}) machine: {cores} cores, load average {} (1, 5, 15 min) before the run",
        load.join(" ")
    );
}

/// The CPU time the rest of the machine uses from its start: every core's
/// busy time (steal included) less this process's, from `/proc`.
pub struct OtherLoad {
    started: std::time::Instant,
    busy: u64,
    own: u64,
}

impl OtherLoad {
    /// Starts counting now.
    pub fn start() -> Self {
        OtherLoad {
            started: std::time::Instant::now(),
            busy: machine_busy_ticks(),
            own: own_ticks(),
        }
    }

    /// What the rest of the machine used since the start, as a share of one
    /// core, for example `"12% of one core"`.
    pub fn describe(&self) -> String {
        let ticks = (machine_busy_ticks() - self.busy).saturating_sub(own_ticks() - self.own);
        let seconds = self.started.elapsed().as_secs_f64();
        format!(
            "{:.0}% of one core",
            ticks as f64 / TICKS_PER_SECOND / seconds * 100.0
        )
    }
}

/// The unit of the times in `/proc` (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// Busy time of every core together: the first line of `/proc/stat` less its
/// idle and iowait columns.
fn machine_busy_ticks() -> u64 {
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
    let idle: u64 = columns.iter().skip(3).take(2).sum();
    columns.iter().sum::<u64>() - idle
}

/// This process's user and system time: fields 14 and 15 of
/// `/proc/self/stat`, counted after the parenthesised command name.
fn own_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum()
}
