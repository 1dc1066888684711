//! Per-thread accumulation on the hot path ([`Accumulator`], no allocation after
//! construction) and the results it turns into ([`Stats`]).

use serde::Serialize;

use crate::config::{HistogramSpec, RunConfig};
use crate::histogram::{Histogram, P50, P99, P999, P9999};

/// One of the largest latencies of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outlier {
    /// Latency in ns.
    pub latency_ns: i64,
    /// 0-based index of the sample on its thread.
    pub sample: u64,
    /// Wake-up time, ns since the run started (the samplers' common start).
    pub at_ns: i64,
    /// Wake-up time on the backend's monotonic clock, ns.
    pub clock_ns: i64,
    /// Sampler thread index.
    pub thread: usize,
    /// CPU of that thread.
    pub cpu: usize,
}

/// The `k` largest latencies seen, in a fixed array (ties keep the earlier sample).
#[derive(Debug, Clone)]
pub(crate) struct TopK {
    slots: Vec<Outlier>,
    cap: usize,
    /// Smallest kept latency once full (else `i64::MIN`): the one-compare fast path.
    threshold: i64,
    min_idx: usize,
    thread: usize,
    cpu: usize,
}

impl TopK {
    pub(crate) fn new(cap: usize, thread: usize, cpu: usize) -> TopK {
        TopK {
            slots: Vec::with_capacity(cap),
            cap,
            threshold: i64::MIN,
            min_idx: 0,
            thread,
            cpu,
        }
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, latency_ns: i64, sample: u64, clock_ns: i64) {
        if self.cap == 0 || latency_ns <= self.threshold {
            return;
        }
        self.insert(latency_ns, sample, clock_ns);
    }

    #[cold]
    #[inline(never)]
    fn insert(&mut self, latency_ns: i64, sample: u64, clock_ns: i64) {
        let o = Outlier {
            latency_ns,
            sample,
            at_ns: 0,
            clock_ns,
            thread: self.thread,
            cpu: self.cpu,
        };
        if self.slots.len() < self.cap {
            // Within the preallocated capacity: no reallocation.
            self.slots.push(o);
            if self.slots.len() < self.cap {
                return;
            }
        } else {
            self.slots[self.min_idx] = o;
        }
        // Full: find the new minimum (the latest-inserted loses ties, i.e. keep earlier).
        let (idx, min) = self
            .slots
            .iter()
            .enumerate()
            .min_by(|a, b| {
                a.1.latency_ns
                    .cmp(&b.1.latency_ns)
                    .then(b.1.sample.cmp(&a.1.sample))
            })
            .map(|(i, o)| (i, o.latency_ns))
            .unwrap_or((0, i64::MIN));
        self.min_idx = idx;
        self.threshold = min;
    }

    /// Largest first; `start_ns` turns clock times into run-relative ones.
    pub(crate) fn into_sorted(self, start_ns: i64) -> Vec<Outlier> {
        let mut v = self.slots;
        for o in &mut v {
            o.at_ns = o.clock_ns - start_ns;
        }
        sort_outliers(&mut v);
        v
    }
}

fn sort_outliers(v: &mut [Outlier]) {
    v.sort_by(|a, b| {
        b.latency_ns
            .cmp(&a.latency_ns)
            .then(a.clock_ns.cmp(&b.clock_ns))
            .then(a.thread.cmp(&b.thread))
    });
}

/// The first `cap` sample indices that overflowed the histogram (preallocated).
#[derive(Debug, Clone)]
pub(crate) struct OverflowLog {
    v: Vec<u64>,
    cap: usize,
}

impl OverflowLog {
    pub(crate) fn new(cap: usize) -> OverflowLog {
        OverflowLog {
            v: Vec::with_capacity(cap),
            cap,
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, sample: u64) {
        if self.v.len() < self.cap {
            self.v.push(sample);
        }
    }
}

/// Running statistics of one sampler thread. Everything is preallocated in
/// [`Accumulator::new`]; [`Accumulator::record`] does no allocation, locking or syscall.
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    pub(crate) samples: u64,
    pub(crate) missed: u64,
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) sum: i64,
    pub(crate) sum_us: i64,
    pub(crate) last: i64,
    pub(crate) hist: Histogram,
    pub(crate) top: TopK,
    pub(crate) overflow_log: OverflowLog,
}

impl Accumulator {
    /// Preallocates everything a run needs.
    pub(crate) fn new(
        spec: HistogramSpec,
        outliers: usize,
        overflow_log: usize,
        thread: usize,
        cpu: usize,
    ) -> Accumulator {
        Accumulator {
            samples: 0,
            missed: 0,
            min: i64::MAX,
            max: i64::MIN,
            sum: 0,
            sum_us: 0,
            last: 0,
            hist: Histogram::new(spec),
            top: TopK::new(outliers, thread, cpu),
            overflow_log: OverflowLog::new(overflow_log),
        }
    }

    /// Touches the preallocated storage so the hot loop takes no page faults on it.
    pub(crate) fn prefault(&mut self) {
        self.hist.prefault();
    }

    /// Records one latency (ns) measured at clock time `clock_ns`.
    #[inline(always)]
    pub(crate) fn record(&mut self, latency_ns: i64, clock_ns: i64) {
        if latency_ns < self.min {
            self.min = latency_ns;
        }
        if latency_ns > self.max {
            self.max = latency_ns;
        }
        self.sum = self.sum.wrapping_add(latency_ns);
        // cyclictest sums µs values truncated per sample: kept so its average is reproduced.
        self.sum_us = self.sum_us.wrapping_add(latency_ns / 1000);
        self.last = latency_ns;
        if !self.hist.record(latency_ns) {
            self.overflow_log.push(self.samples);
        }
        self.top.record(latency_ns, self.samples, clock_ns);
        self.samples += 1;
    }

    /// Counts `n` missed periods (overruns).
    #[inline(always)]
    pub(crate) fn add_missed(&mut self, n: u64) {
        self.missed += n;
    }

    /// Samples so far.
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// Final statistics; `start_ns` is the run's start on the backend clock.
    pub(crate) fn finish(self, start_ns: i64) -> Stats {
        let n = self.samples;
        Stats {
            samples: n,
            missed_periods: self.missed,
            min_ns: (n > 0).then_some(self.min),
            max_ns: (n > 0).then_some(self.max),
            avg_ns: (n > 0).then(|| self.sum as f64 / n as f64),
            last_ns: (n > 0).then_some(self.last),
            sum_ns: self.sum,
            sum_us_truncated: self.sum_us,
            percentiles: Percentiles::of(&self.hist),
            histogram: self.hist,
            outliers: self.top.into_sorted(start_ns),
            overflow_samples: self.overflow_log.v,
        }
    }
}

/// Percentiles from the histogram: bucket lower bounds in ns (true value within one bucket
/// width above). `None`: no samples, or the percentile lies beyond the histogram range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ns: Option<u64>,
    /// 99th percentile.
    pub p99_ns: Option<u64>,
    /// 99.9th percentile.
    pub p99_9_ns: Option<u64>,
    /// 99.99th percentile.
    pub p99_99_ns: Option<u64>,
}

impl Percentiles {
    /// Computes all four from a histogram.
    pub fn of(h: &Histogram) -> Percentiles {
        Percentiles {
            p50_ns: h.quantile(P50),
            p99_ns: h.quantile(P99),
            p99_9_ns: h.quantile(P999),
            p99_99_ns: h.quantile(P9999),
        }
    }
}

/// Statistics of one sampler thread, or of all of them merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Latency samples taken.
    pub samples: u64,
    /// Periods whose wake-up never happened because an earlier wake-up came later than
    /// them (overruns). cyclictest skips these silently.
    pub missed_periods: u64,
    /// Smallest latency (ns).
    pub min_ns: Option<i64>,
    /// Largest latency (ns), exact (not limited by the histogram range).
    pub max_ns: Option<i64>,
    /// Mean latency (ns).
    pub avg_ns: Option<f64>,
    /// Latest latency (ns), cyclictest's `Act`.
    pub last_ns: Option<i64>,
    /// Sum of all latencies (ns).
    pub sum_ns: i64,
    /// Sum of latencies truncated to µs one by one, as cyclictest sums them.
    pub sum_us_truncated: i64,
    /// p50/p99/p99.9/p99.99 from the histogram.
    pub percentiles: Percentiles,
    /// The histogram.
    pub histogram: Histogram,
    /// Largest latencies, largest first.
    pub outliers: Vec<Outlier>,
    /// First sample indices that overflowed the histogram (up to `overflow_log`).
    pub overflow_samples: Vec<u64>,
}

impl Stats {
    /// The statistics the engine reports for one sampler thread (thread 0, on the first CPU of
    /// `config.cpus`) that measured `latencies_ns` in this order, one per `config.interval_ns`
    /// from the start: `config.histogram`'s geometry, its `outliers` largest latencies, its
    /// `overflow_log` first overflows. For replaying a recorded series (cyclictest's `-v`
    /// dump, a synthetic one) through the engine's own arithmetic.
    pub fn of_series(config: &RunConfig, latencies_ns: &[i64]) -> Stats {
        let cpu = config.cpus.first().copied().unwrap_or(0);
        let mut acc = Accumulator::new(
            config.histogram,
            config.outliers,
            config.overflow_log,
            0,
            cpu,
        );
        let interval = i64::try_from(config.interval_ns).unwrap_or(i64::MAX);
        let mut clock: i64 = 0;
        for &latency in latencies_ns {
            clock = clock.saturating_add(interval);
            acc.record(latency, clock);
        }
        acc.finish(0)
    }

    /// Merges per-thread statistics into overall ones (same histogram geometry; outliers
    /// keep the `keep` largest; `last_ns` is that of the last part with samples).
    pub fn merge(parts: &[&Stats], spec: HistogramSpec, keep: usize) -> Stats {
        let mut hist = Histogram::new(spec);
        let mut outliers = Vec::new();
        let (mut samples, mut missed, mut sum, mut sum_us) = (0u64, 0u64, 0i64, 0i64);
        let (mut min, mut max, mut last) = (None::<i64>, None::<i64>, None);
        for p in parts {
            hist.merge(&p.histogram);
            samples += p.samples;
            missed += p.missed_periods;
            sum = sum.wrapping_add(p.sum_ns);
            sum_us = sum_us.wrapping_add(p.sum_us_truncated);
            min = match (min, p.min_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            max = match (max, p.max_ns) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if p.last_ns.is_some() {
                last = p.last_ns;
            }
            outliers.extend_from_slice(&p.outliers);
        }
        sort_outliers(&mut outliers);
        outliers.truncate(keep);
        Stats {
            samples,
            missed_periods: missed,
            min_ns: min,
            max_ns: max,
            avg_ns: (samples > 0).then(|| sum as f64 / samples as f64),
            last_ns: last,
            sum_ns: sum,
            sum_us_truncated: sum_us,
            percentiles: Percentiles::of(&hist),
            histogram: hist,
            outliers,
            overflow_samples: Vec::new(),
        }
    }

    /// cyclictest's average in its unit: mean of per-sample truncated µs, or of ns with `-N`.
    pub fn compat_avg(&self, nsecs: bool) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        let s = if nsecs {
            self.sum_ns
        } else {
            self.sum_us_truncated
        };
        s as f64 / self.samples as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HistogramSpec {
        HistogramSpec {
            bucket_width_ns: 1000,
            buckets: 50,
        }
    }

    fn run(samples: &[i64], keep: usize) -> Stats {
        let mut a = Accumulator::new(spec(), keep, 8, 0, 3);
        for (i, s) in samples.iter().enumerate() {
            a.record(*s, 1_000 + i as i64 * 10);
        }
        a.finish(1_000)
    }

    #[test]
    fn empty_run() {
        let s = run(&[], 4);
        assert_eq!(s.samples, 0);
        assert_eq!(
            (s.min_ns, s.max_ns, s.avg_ns, s.last_ns),
            (None, None, None, None)
        );
        assert_eq!(s.percentiles.p50_ns, None);
        assert!(s.outliers.is_empty());
        assert_eq!(s.compat_avg(false), 0.0);
        let m = Stats::merge(&[&s, &s], spec(), 4);
        assert_eq!(m.samples, 0);
        assert_eq!(m.min_ns, None);
    }

    #[test]
    fn overflow_is_logged_and_max_stays_exact() {
        let s = run(&[1_000, 70_000, 2_000, 50_000, 49_999], 2);
        assert_eq!(s.max_ns, Some(70_000));
        assert_eq!(s.histogram.overflow(), 2);
        assert_eq!(s.overflow_samples, vec![1, 3]);
        assert_eq!(s.outliers.len(), 2);
        assert_eq!(
            (s.outliers[0].latency_ns, s.outliers[0].sample),
            (70_000, 1)
        );
        assert_eq!(
            (s.outliers[1].latency_ns, s.outliers[1].sample),
            (50_000, 3)
        );
        assert_eq!(s.outliers[0].at_ns, 10);
        assert_eq!(s.outliers[0].cpu, 3);
        assert_eq!(s.percentiles.p99_ns, None);
    }

    #[test]
    fn of_series_is_one_sampler_of_the_engine() {
        let cfg = RunConfig {
            cpus: vec![3, 1],
            interval_ns: 250_000,
            histogram: spec(),
            outliers: 2,
            overflow_log: 1,
            ..RunConfig::default()
        };
        let s = Stats::of_series(&cfg, &[5_000, 70_000, 2_000, 60_000]);
        assert_eq!(s, {
            let mut a = Accumulator::new(spec(), 2, 1, 0, 3);
            for (i, latency) in [5_000, 70_000, 2_000, 60_000].into_iter().enumerate() {
                a.record(latency, (i as i64 + 1) * 250_000);
            }
            a.finish(0)
        });
        let got: Vec<_> = s
            .outliers
            .iter()
            .map(|o| (o.latency_ns, o.sample, o.at_ns, o.thread, o.cpu))
            .collect();
        assert_eq!(
            got,
            [(70_000, 1, 500_000, 0, 3), (60_000, 3, 1_000_000, 0, 3)]
        );
        assert_eq!(s.overflow_samples, [1]);
        assert_eq!(Stats::of_series(&cfg, &[]).samples, 0);
    }

    #[test]
    fn compat_average_truncates_per_sample() {
        let s = run(&[12_900, 12_900], 0);
        assert_eq!(s.compat_avg(false), 12.0);
        assert_eq!(s.compat_avg(true), 12_900.0);
        assert_eq!(s.avg_ns, Some(12_900.0));
    }
}
