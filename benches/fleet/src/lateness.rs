//! Lateness as job bodies see it (the body's start, wall clock, less the
//! fire's time), in a histogram of atomic counters that any number of runs
//! fill at once, and the quantiles of several such histograms merged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Below this many microseconds buckets are [`FINE_WIDTH`] wide.
const FINE_LIMIT: u64 = 100_000;
/// The width of a bucket below [`FINE_LIMIT`], in microseconds.
const FINE_WIDTH: u64 = 10;
/// From [`FINE_LIMIT`] to [`LIMIT`], buckets are this many microseconds wide.
const COARSE_WIDTH: u64 = 1_000;
/// Lateness from here on (10 s) shares the last bucket.
const LIMIT: u64 = 10_000_000;
const FINE_BUCKETS: usize = (FINE_LIMIT / FINE_WIDTH) as usize;
const BUCKETS: usize = FINE_BUCKETS + ((LIMIT - FINE_LIMIT) / COARSE_WIDTH) as usize + 1;

/// Counts of lateness in buckets 10 µs wide up to 100 ms and 1 ms wide up
/// to 10 s; anything later is counted at 10 s.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one lateness.
    pub fn record(&self, lateness: Duration) {
        let micros = u64::try_from(lateness.as_micros()).unwrap_or(u64::MAX);
        self.buckets[index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The buckets that hold anything, as pairs of the bucket's lower bound
    /// in microseconds and its count, in order.
    pub fn snapshot(&self) -> Vec<(u64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter_map(|(index, count)| {
                let count = count.load(Ordering::Relaxed);
                (count > 0).then(|| (lower_bound(index), count))
            })
            .collect()
    }
}

fn index(micros: u64) -> usize {
    if micros < FINE_LIMIT {
        (micros / FINE_WIDTH) as usize
    } else if micros < LIMIT {
        FINE_BUCKETS + ((micros - FINE_LIMIT) / COARSE_WIDTH) as usize
    } else {
        BUCKETS - 1
    }
}

fn lower_bound(index: usize) -> u64 {
    if index < FINE_BUCKETS {
        index as u64 * FINE_WIDTH
    } else {
        FINE_LIMIT + (index - FINE_BUCKETS) as u64 * COARSE_WIDTH
    }
}

/// Several histograms' [snapshots](Histogram::snapshot) added together.
#[derive(Debug, Default, Clone)]
pub struct Merged {
    counts: BTreeMap<u64, u64>,
}

impl Merged {
    /// Adds a snapshot's buckets.
    pub fn add(&mut self, snapshot: &[(u64, u64)]) {
        for &(lower, count) in snapshot {
            *self.counts.entry(lower).or_default() += count;
        }
    }

    /// How many lateness values were counted.
    pub fn count(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The lower bound of the bucket that holds quantile `q` (0 to 1), in
    /// microseconds; `None` when nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (&lower, &count) in &self.counts {
            seen += count;
            if seen >= rank {
                return Some(lower);
            }
        }
        self.counts.keys().next_back().copied()
    }

    /// The lower bound of the highest bucket that holds anything.
    pub fn max(&self) -> Option<u64> {
        self.counts.keys().next_back().copied()
    }
}

/// The value at quantile `q` (0 to 1) of `sorted`, nearest rank; `None` for
/// an empty slice.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_fine_then_coarse() {
        assert_eq!(index(0), 0);
        assert_eq!(index(9), 0);
        assert_eq!(index(10), 1);
        assert_eq!(lower_bound(index(99_999)), 99_990);
        assert_eq!(lower_bound(index(100_000)), 100_000);
        assert_eq!(lower_bound(index(123_456)), 123_000);
        assert_eq!(lower_bound(index(9_999_999)), 9_999_000);
        assert_eq!(index(LIMIT), BUCKETS - 1);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        assert_eq!(lower_bound(BUCKETS - 1), LIMIT);
    }

    #[test]
    fn quantiles_of_merged_snapshots() {
        let a = Histogram::new();
        let b = Histogram::new();
        for micros in 0..99 {
            a.record(Duration::from_micros(micros * 10));
        }
        b.record(Duration::from_millis(50));
        let mut merged = Merged::default();
        merged.add(&a.snapshot());
        merged.add(&b.snapshot());
        assert_eq!(merged.count(), 100);
        assert_eq!(merged.quantile(0.5), Some(490));
        assert_eq!(merged.quantile(0.99), Some(980));
        assert_eq!(merged.quantile(1.0), Some(50_000));
        assert_eq!(merged.max(), Some(50_000));
        assert_eq!(Merged::default().quantile(0.5), None);
    }

    #[test]
    fn nearest_rank() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), Some(50));
        assert_eq!(quantile(&values, 0.99), Some(99));
        assert_eq!(quantile(&values, 1.0), Some(100));
        assert_eq!(quantile::<i64>(&[], 0.5), None);
    }
}
