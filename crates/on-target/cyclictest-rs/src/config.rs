//! What to measure: [`RunConfig`] and its parts.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Largest histogram the engine accepts (cyclictest's `HIST_MAX`).
pub const MAX_BUCKETS: usize = 1_000_000;

/// Shortest sampling period the engine accepts: 1 µs.
pub const MIN_INTERVAL_NS: u64 = 1_000;

/// Longest sampling period the engine accepts: 1 s.
///
/// A sampler sleeps one period at a time and notices a stop request (SIGTERM, SIGINT) and
/// the end of the run only when it wakes, so this bound is also the longest a stop or the
/// end of `duration_ns` can wait. Board profiles (`interval_us`) are checked against the same
/// range, so `rros board check` and the engine agree.
pub const MAX_INTERVAL_NS: u64 = 1_000_000_000;

/// Longest run the engine accepts: 365 days. Far below the 292 years at which nanoseconds
/// overflow an `i64`, and longer than any soak test; a longer value is a typo. Board profiles,
/// `rros-validate run --duration` and `cyclictest-rs -D` are checked against it.
pub const MAX_DURATION_NS: u64 = 365 * 86_400 * 1_000_000_000;

/// [`MAX_DURATION_NS`] as a `Duration`.
pub const MAX_DURATION: Duration = Duration::from_nanos(MAX_DURATION_NS);

/// Scheduling policy of the sampler threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// `SCHED_OTHER` (cyclictest's `other` / `normal`).
    Other,
    /// `SCHED_BATCH`.
    Batch,
    /// `SCHED_IDLE`.
    Idle,
    /// `SCHED_FIFO`.
    Fifo,
    /// `SCHED_RR`.
    Rr,
}

impl Policy {
    /// Parses cyclictest's `--policy` names: other, normal, batch, idle, fifo, rr.
    pub fn parse(name: &str) -> Option<Policy> {
        Some(match name.to_ascii_lowercase().as_str() {
            "other" | "normal" => Policy::Other,
            "batch" => Policy::Batch,
            "idle" => Policy::Idle,
            "fifo" => Policy::Fifo,
            "rr" => Policy::Rr,
            _ => return None,
        })
    }

    /// `SCHED_FIFO` or `SCHED_RR`.
    pub fn is_realtime(self) -> bool {
        matches!(self, Policy::Fifo | Policy::Rr)
    }

    /// Valid priorities: 1–99 for FIFO/RR, 0 otherwise.
    pub fn priority_range(self) -> (i32, i32) {
        if self.is_realtime() { (1, 99) } else { (0, 0) }
    }

    /// The `SCHED_*` constant.
    pub fn to_libc(self) -> libc::c_int {
        match self {
            Policy::Other => libc::SCHED_OTHER,
            Policy::Batch => libc::SCHED_BATCH,
            Policy::Idle => libc::SCHED_IDLE,
            Policy::Fifo => libc::SCHED_FIFO,
            Policy::Rr => libc::SCHED_RR,
        }
    }

    /// cyclictest's short name (`fifo`, `other`, …).
    pub fn short_name(self) -> &'static str {
        match self {
            Policy::Other => "other",
            Policy::Batch => "batch",
            Policy::Idle => "idle",
            Policy::Fifo => "fifo",
            Policy::Rr => "rr",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Other => "SCHED_OTHER",
            Policy::Batch => "SCHED_BATCH",
            Policy::Idle => "SCHED_IDLE",
            Policy::Fifo => "SCHED_FIFO",
            Policy::Rr => "SCHED_RR",
        })
    }
}

/// Which timer/clock implementation the samplers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` + `clock_gettime` (any Linux).
    #[default]
    Posix,
    /// libevl `evl_sleep_until` + `evl_read_clock` out-of-band (RROS / EVL kernels; needs
    /// the `evl` cargo feature).
    Evl,
}

impl BackendKind {
    /// Parses `posix` / `evl`.
    pub fn parse(name: &str) -> Option<BackendKind> {
        match name {
            "posix" => Some(BackendKind::Posix),
            "evl" => Some(BackendKind::Evl),
            _ => None,
        }
    }

    /// `posix` / `evl`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Posix => "posix",
            BackendKind::Evl => "evl",
        }
    }
}

/// Histogram geometry: `buckets` buckets of `bucket_width_ns`; bucket `i` counts latencies in
/// `[i·w, (i+1)·w)`. Latencies at or above `buckets·w` are counted as overflow. Percentiles
/// come from the histogram, so their precision is the bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramSpec {
    /// Width of a bucket in ns (1000 = cyclictest's µs buckets; 1 = `-N`).
    pub bucket_width_ns: u64,
    /// Number of buckets (cyclictest's `-h`), at most [`MAX_BUCKETS`].
    pub buckets: usize,
}

impl Default for HistogramSpec {
    /// 1 µs buckets up to 10 ms (80 KB per CPU).
    fn default() -> Self {
        HistogramSpec {
            bucket_width_ns: 1000,
            buckets: 10_000,
        }
    }
}

impl HistogramSpec {
    /// The first latency (ns) that overflows.
    pub fn range_ns(&self) -> u64 {
        self.bucket_width_ns.saturating_mul(self.buckets as u64)
    }
}

/// Everything one measurement run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// One sampler thread per entry, pinned to that CPU (a CPU may appear twice).
    pub cpus: Vec<usize>,
    /// Sampler scheduling policy.
    pub policy: Policy,
    /// Sampler priority (1–99 for FIFO/RR, 0 otherwise).
    pub priority: i32,
    /// Period in ns.
    pub interval_ns: u64,
    /// Stop after this many periods per thread (samples + missed periods).
    pub loops: Option<u64>,
    /// Stop after this long (ns). With neither `loops` nor `duration_ns`, the run lasts
    /// until the [`StopToken`](crate::StopToken) is set.
    pub duration_ns: Option<u64>,
    /// Histogram geometry.
    pub histogram: HistogramSpec,
    /// How many of the largest latencies to keep per thread (with sample index and time).
    pub outliers: usize,
    /// How many sample indices of histogram overflows to keep per thread (cyclictest's
    /// "Histogram Overflow at cycle number" list; 0 = none).
    pub overflow_log: usize,
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)` for the run (`munlockall` after).
    pub mlock: bool,
    /// Hold a PM QoS request of this many µs on `/dev/cpu_dma_latency` during the run
    /// (`Some(0)` = cyclictest's default; `None` = measure the system as configured).
    pub pm_qos_us: Option<i32>,
    /// Pin the calling (main) thread to these CPUs for the run.
    pub main_affinity: Option<Vec<usize>>,
    /// Timer/clock backend.
    pub backend: BackendKind,
    /// End the run earlier on its own numbers (a target of pooled samples reached, or a
    /// latency above a limit seen); `None`: only `loops`, `duration_ns` or the stop token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
}

/// A run that ends on its own numbers ([`RunConfig::until`]): rros-validate's
/// `--until-proven`. The main thread checks it every few milliseconds from the samplers'
/// published running values, never the samplers themselves: it looks only at the sample
/// counts and at whether a latency above `above_ns` was seen, so a zero-exceedance bound
/// computed from a run it ended stays valid (docs/validation.md). Whatever ends first of
/// this, `loops` and `duration_ns` ends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Until {
    /// End once the samplers' samples together reach this many
    /// ([`EndReason::Target`](crate::EndReason::Target)).
    pub samples: u64,
    /// Neither end comes before every sampler has taken at least this many (the fewest a
    /// measurement counts with: rros-validate's `min_samples`).
    pub per_cpu: u64,
    /// End as soon as a latency above this many ns is seen
    /// ([`EndReason::Exceeded`](crate::EndReason::Exceeded)); `None`: never.
    pub above_ns: Option<i64>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            cpus: vec![0],
            policy: Policy::Fifo,
            priority: 80,
            interval_ns: 1_000_000,
            loops: None,
            duration_ns: None,
            histogram: HistogramSpec::default(),
            outliers: 16,
            overflow_log: 0,
            mlock: true,
            pm_qos_us: Some(0),
            main_affinity: None,
            backend: BackendKind::Posix,
            until: None,
        }
    }
}

impl RunConfig {
    /// The run's duration as a `Duration`, if bounded by time.
    pub fn duration(&self) -> Option<Duration> {
        self.duration_ns.map(Duration::from_nanos)
    }

    /// How long the run is expected to last (loops × interval and/or duration).
    pub fn expected_duration(&self) -> Option<Duration> {
        let by_loops = self
            .loops
            .map(|l| Duration::from_nanos(l.saturating_mul(self.interval_ns)));
        match (by_loops, self.duration()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Checks values that need no system access.
    pub fn validate(&self) -> Result<(), Error> {
        if self.cpus.is_empty() {
            return Err(Error::NoCpus);
        }
        let (min, max) = self.policy.priority_range();
        if self.priority < min || self.priority > max {
            return Err(Error::InvalidPriority {
                policy: self.policy,
                priority: self.priority,
                min,
                max,
            });
        }
        if !(MIN_INTERVAL_NS..=MAX_INTERVAL_NS).contains(&self.interval_ns) {
            return Err(Error::InvalidInterval(self.interval_ns));
        }
        if self.loops == Some(0) {
            return Err(Error::InvalidLoops);
        }
        if let Some(d) = self.duration_ns
            && !(1..=MAX_DURATION_NS).contains(&d)
        {
            return Err(Error::InvalidDuration(d));
        }
        let h = &self.histogram;
        if h.bucket_width_ns == 0 {
            return Err(Error::InvalidHistogram(
                "bucket width must be at least 1 ns".into(),
            ));
        }
        if h.buckets == 0 || h.buckets > MAX_BUCKETS {
            return Err(Error::InvalidHistogram(format!(
                "{} buckets requested: use 1-{MAX_BUCKETS}",
                h.buckets
            )));
        }
        if h.range_ns() > i64::MAX as u64 {
            return Err(Error::InvalidHistogram(
                "range exceeds i64 nanoseconds".into(),
            ));
        }
        if self.outliers > 100_000 {
            return Err(Error::InvalidOutliers(self.outliers));
        }
        if self.overflow_log > MAX_BUCKETS {
            return Err(Error::InvalidOutliers(self.overflow_log));
        }
        if let Some(v) = self.pm_qos_us
            && v < 0
        {
            return Err(Error::InvalidPmQos(v));
        }
        if let Some(m) = &self.main_affinity
            && m.is_empty()
        {
            return Err(Error::InvalidMainAffinity);
        }
        if self.until.is_some_and(|u| u.samples == 0) {
            return Err(Error::InvalidUntil);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_policies_parse() {
        RunConfig::default().validate().unwrap();
        assert_eq!(Policy::parse("normal"), Some(Policy::Other));
        assert_eq!(Policy::parse("FIFO"), Some(Policy::Fifo));
        assert_eq!(Policy::parse("deadline"), None);
        assert_eq!(Policy::Fifo.to_string(), "SCHED_FIFO");
    }

    #[test]
    fn validate_rejects_bad_values() {
        let bad = |f: &dyn Fn(&mut RunConfig)| {
            let mut c = RunConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(&|c| c.priority = 100).contains("1-99"));
        assert!(bad(&|c| c.priority = 0).contains("SCHED_FIFO"));
        assert!(
            bad(&|c| {
                c.policy = Policy::Other;
                c.priority = 5
            })
            .contains("SCHED_OTHER")
        );
        assert!(bad(&|c| c.cpus.clear()).contains("CPU"));
        assert!(bad(&|c| c.interval_ns = 10).contains("interval"));
        assert!(bad(&|c| c.interval_ns = MAX_INTERVAL_NS + 1).contains("1 µs to 1 s"));
        assert!(bad(&|c| c.duration_ns = Some(0)).contains("duration"));
        assert!(bad(&|c| c.duration_ns = Some(MAX_DURATION_NS + 1)).contains("365 days"));
        assert!(bad(&|c| c.duration_ns = Some(u64::MAX)).contains("365 days"));
        assert!(bad(&|c| c.histogram.buckets = 0).contains("buckets"));
        assert!(bad(&|c| c.histogram.bucket_width_ns = 0).contains("width"));
        assert!(bad(&|c| c.loops = Some(0)).contains("loops"));
        assert!(bad(&|c| c.pm_qos_us = Some(-1)).contains("PM QoS"));
    }

    #[test]
    fn expected_duration() {
        let mut c = RunConfig {
            loops: Some(1000),
            interval_ns: 200_000,
            ..Default::default()
        };
        assert_eq!(c.expected_duration(), Some(Duration::from_millis(200)));
        c.duration_ns = Some(100_000_000);
        assert_eq!(c.expected_duration(), Some(Duration::from_millis(100)));
        c.loops = None;
        c.duration_ns = None;
        assert_eq!(c.expected_duration(), None);
    }
}
