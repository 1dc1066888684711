//! The bridge to the measurement engine (`cyclictest`): the run configuration a scenario
//! needs, and the engine's numbers turned into the report's.

use crate::report::{Bound, CpuReport, EvtEstimate, Histogram, Percentiles};
use crate::stats;
use cyclictest::{BackendKind, HistogramSpec, Policy, RunConfig, RunReport, Stats};
use rros_board::{Board, BoardScenario};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Width of a histogram bucket: 1 µs, as cyclictest and OSADL's plots use.
pub const BUCKET_NS: u64 = 1000;
/// The largest latencies kept per sampler thread (for the tail estimate and exact counts).
pub const KEPT_OUTLIERS: usize = stats::MAX_EXCEEDANCES + 1;

/// `n` as a `Vec<usize>` of CPUs.
pub fn cpus_of(set: &rros_board::CpuSet) -> Vec<usize> {
    set.iter().map(|c| c as usize).collect()
}

/// The engine configuration for one scenario.
pub fn run_config(
    board: &Board,
    scenario: &BoardScenario,
    duration: Duration,
    backend: BackendKind,
) -> RunConfig {
    // Cover twice the budget, and at least 10 ms (80 KB per CPU), so that latencies far
    // over a small budget are still in the histogram and the plot.
    let budget_us = u64::from(scenario.threshold.max_us);
    let buckets = (2 * budget_us).max(10_000) as usize + 1;
    RunConfig {
        cpus: cpus_of(board.measured_cpus()),
        policy: Policy::Fifo,
        priority: scenario.priority as i32,
        interval_ns: u64::from(scenario.interval_us) * 1000,
        loops: None,
        duration_ns: Some(duration.as_nanos().min(u64::MAX as u128) as u64),
        histogram: HistogramSpec {
            bucket_width_ns: BUCKET_NS,
            buckets: buckets.min(cyclictest::MAX_BUCKETS),
        },
        outliers: KEPT_OUTLIERS,
        overflow_log: 0,
        mlock: true,
        pm_qos_us: board
            .tuning
            .pm_qos_us
            .map(|v| v.min(i32::MAX as u32) as i32),
        main_affinity: Some(cpus_of(&board.housekeeping)),
        backend,
        // `--until-proven` sets it from the step (run::plan::until_of).
        until: None,
    }
}

fn us(ns: i64) -> f64 {
    ns as f64 / 1000.0
}

pub fn percentiles(s: &Stats) -> Percentiles {
    let p = |v: Option<u64>| v.map(|ns| ns as f64 / 1000.0);
    Percentiles {
        p50_us: p(s.percentiles.p50_ns),
        p99_us: p(s.percentiles.p99_ns),
        p99_9_us: p(s.percentiles.p99_9_ns),
        p99_99_us: p(s.percentiles.p99_99_ns),
    }
}

pub fn histogram(s: &Stats) -> Histogram {
    let h = &s.histogram;
    Histogram {
        bucket_width_us: h.bucket_width_ns() as f64 / 1000.0,
        range_us: h.range_ns() as f64 / 1000.0,
        overflow: h.overflow(),
        bins: h.nonzero().map(|(lo, c)| (lo as f64 / 1000.0, c)).collect(),
    }
}

/// Per-CPU numbers; `first_thread` is the index of the first in `cyclictest.json`.
pub fn per_cpu(report: &RunReport, first_thread: usize) -> Vec<CpuReport> {
    report
        .cpus
        .iter()
        .enumerate()
        .map(|(i, c)| CpuReport {
            cpu: c.cpu,
            rt_tests_thread: first_thread + i,
            samples: c.stats.samples,
            overruns: c.stats.missed_periods,
            min_us: c.stats.min_ns.map(us),
            avg_us: c.stats.avg_ns.map(|a| a / 1000.0),
            max_us: c.stats.max_ns.map(us),
            percentiles: percentiles(&c.stats),
            histogram: histogram(&c.stats),
        })
        .collect()
}

/// Samples above `threshold_ns`, and whether the count is exact.
///
/// Exact when every exceedance is among the kept largest latencies (some kept value is at or
/// below the threshold, or all samples were kept); otherwise a lower bound from the kept ones
/// and the histogram buckets wholly above the threshold.
pub fn exceedances(report: &RunReport, threshold_ns: i64) -> (u64, bool) {
    let (mut total, mut exact) = (0u64, true);
    for c in &report.cpus {
        let s = &c.stats;
        let kept_above = s
            .outliers
            .iter()
            .filter(|o| o.latency_ns > threshold_ns)
            .count() as u64;
        let all_kept = (s.outliers.len() as u64) >= s.samples;
        let covers = s.outliers.iter().any(|o| o.latency_ns <= threshold_ns);
        if all_kept || covers {
            total += kept_above;
        } else {
            let w = s.histogram.bucket_width_ns().max(1);
            let first_above = (threshold_ns.max(0) as u64) / w + 1;
            let from_hist: u64 = s
                .histogram
                .counts()
                .iter()
                .skip(first_above as usize)
                .sum::<u64>()
                + s.histogram.overflow();
            total += kept_above.max(from_hist);
            exact = false;
        }
    }
    (total, exact)
}

/// "3 d 4 h"-style rounding of a long duration.
pub fn human_seconds(s: f64) -> String {
    if !s.is_finite() {
        return "never".into();
    }
    let secs = s.round().max(1.0) as u64;
    // Keep the two most significant units.
    let text = humantime::format_duration(Duration::from_secs(secs)).to_string();
    text.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// The exceedance bound for a scenario.
pub fn bound(
    samples: u64,
    exceedances: u64,
    at_least: bool,
    threshold_us: f64,
    interval_us: u32,
) -> Option<Bound> {
    let p = stats::exceedance_upper_bound(samples, exceedances, stats::CONFIDENCE)?;
    let period_s = f64::from(interval_us) / 1e6;
    let between = period_s / p;
    let statement = if exceedances == 0 {
        format!(
            "No sample of {samples} exceeded {threshold_us} µs: P(latency > {threshold_us} µs) ≤ {p:.2e} per sample \
             at 95 % confidence (rule of three: 3/N = {:.2e}), i.e. at most one exceedance per {:.0} samples \
             ≈ one per {} at the {interval_us} µs period. Assumes independent samples; says nothing about \
             how far beyond {threshold_us} µs a rare latency could go.",
            3.0 / samples as f64,
            1.0 / p,
            human_seconds(between)
        )
    } else {
        format!(
            "{}{exceedances} of {samples} samples exceeded {threshold_us} µs (observed rate {:.2e}); \
             P(latency > {threshold_us} µs) ≤ {p:.2e} per sample at 95 % confidence.",
            if at_least { "At least " } else { "" },
            exceedances as f64 / samples as f64
        )
    };
    Some(Bound {
        confidence: stats::CONFIDENCE,
        samples,
        exceedances,
        exceedances_at_least: at_least,
        probability_upper: p,
        rule_of_three: 3.0 / samples as f64,
        mean_seconds_between_exceedances_lower: between,
        statement,
    })
}

/// The peaks-over-threshold estimate of a scenario, from the largest latencies of all CPUs.
pub fn evt(report: &RunReport, probability: f64, interval_us: u32) -> EvtEstimate {
    let mut largest: Vec<i64> = report
        .cpus
        .iter()
        .flat_map(|c| c.stats.outliers.iter().map(|o| o.latency_ns))
        .collect();
    largest.sort_unstable_by(|a, b| b.cmp(a));
    let samples: u64 = report.cpus.iter().map(|c| c.stats.samples).sum();
    let t = stats::tail_estimate(&largest, samples, probability);
    let method = format!(
        "peaks over threshold: generalised Pareto fit (probability-weighted moments) to the largest \
         latencies of all measured CPUs; goodness of fit by Kolmogorov–Smirnov with a parametric \
         bootstrap ({} replicates), refused below p = {}",
        stats::BOOTSTRAP_REPLICATES,
        stats::GOF_LEVEL
    );
    let once_per = human_seconds(f64::from(interval_us) / 1e6 / probability);
    let statement = match (&t.refused, t.latency_ns) {
        (None, Some(lat)) => format!(
            "ESTIMATE, not a measurement: the latency exceeded with probability {probability:.0e} per sample \
             (about once per {once_per} at the {interval_us} µs period) is ≈ {:.1} µs, extrapolated from {} \
             exceedances over {:.1} µs (shape ξ = {:.3}, KS p = {:.2}). Valid only if samples are independent \
             and the system does not change.",
            lat / 1000.0,
            t.exceedances,
            t.threshold_ns / 1000.0,
            t.fit.map_or(0.0, |f| f.xi),
            t.ks_p_value.unwrap_or(0.0)
        ),
        (Some(r), _) => format!("No tail estimate: {r}."),
        (None, None) => "No tail estimate.".into(),
    };
    EvtEstimate {
        status: if t.refused.is_none() && t.latency_ns.is_some() {
            "estimate"
        } else {
            "refused"
        }
        .into(),
        method,
        threshold_us: t.threshold_ns / 1000.0,
        exceedances: t.exceedances as u64,
        shape_xi: t.fit.map(|f| f.xi),
        scale_us: t.fit.map(|f| f.sigma / 1000.0),
        ks_statistic: t.ks_statistic,
        ks_p_value: t.ks_p_value,
        probability,
        latency_us: t
            .latency_ns
            .filter(|_| t.refused.is_none())
            .map(|v| v / 1000.0),
        end_point_us: t
            .end_point_ns
            .filter(|_| t.refused.is_none())
            .map(|v| v / 1000.0),
        reason: t.refused,
        statement,
    }
}

/// Progress on a terminal (a `\r` line); nothing when stderr is not a terminal (the journal).
pub struct Progress {
    pub label: String,
    tty: bool,
}

impl Progress {
    pub fn new(label: String) -> Progress {
        Progress {
            label,
            tty: std::io::stderr().is_terminal(),
        }
    }
}

impl cyclictest::Observer for Progress {
    fn progress_interval(&self) -> Duration {
        Duration::from_millis(500)
    }

    fn on_progress(&mut self, p: &cyclictest::Progress<'_>) {
        if !self.tty {
            return;
        }
        let samples: u64 = p.threads.iter().map(|t| t.samples).sum();
        let max = p.threads.iter().filter_map(|t| t.max_ns).max();
        let eta = p
            .eta()
            .map_or(String::new(), |e| format!(", {} s left", e.as_secs()));
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r\x1b[K  {}: {samples} samples, max {}{eta}",
            self.label,
            max.map_or("-".into(), |m| format!("{:.1} µs", us(m)))
        );
        if p.threads.iter().all(|t| t.done) {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_statements() {
        let b = bound(1_000_000, 0, false, 50.0, 200).unwrap();
        assert!((b.probability_upper * 1e6 - 2.9957).abs() < 1e-3);
        assert!(b.statement.contains("≤ 3.00e-6"), "{}", b.statement);
        assert!(b.statement.contains("rule of three"));
        // 1e6 samples at 200 µs with p ≤ 3e-6: at most one per ~66.8 s.
        assert!((b.mean_seconds_between_exceedances_lower - 66.76).abs() < 0.1);
        let b = bound(1000, 3, true, 50.0, 200).unwrap();
        assert!(
            b.statement.starts_with("At least 3 of 1000"),
            "{}",
            b.statement
        );
        assert!(bound(0, 0, false, 50.0, 200).is_none());
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_seconds(66.76), "1m 7s");
        assert_eq!(human_seconds(1e6), "11days 13h");
        assert_eq!(human_seconds(f64::INFINITY), "never");
    }
}
