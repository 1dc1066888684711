//! Fixed-geometry latency histogram with overflow count, and nearest-rank percentiles.

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::config::HistogramSpec;

/// A quantile in parts per million (`500_000` = median).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ppm(pub u32);

/// p50.
pub(crate) const P50: Ppm = Ppm(500_000);
/// p99.
pub(crate) const P99: Ppm = Ppm(990_000);
/// p99.9.
pub(crate) const P999: Ppm = Ppm(999_000);
/// p99.99.
pub(crate) const P9999: Ppm = Ppm(999_900);

/// Nearest-rank position (1-based) of quantile `q` among `n` samples: the smallest rank `r`
/// with `r / n >= q`, at least 1. Integer arithmetic, so p99 of 100 samples is rank 99.
pub(crate) fn nearest_rank(n: u64, q: Ppm) -> u64 {
    let r = (n as u128 * q.0 as u128).div_ceil(1_000_000) as u64;
    r.clamp(1, n.max(1))
}

/// Latency histogram: `counts[i]` counts latencies in `[i·w, (i+1)·w)` ns; negative
/// latencies go to bucket 0; latencies `>= buckets·w` are counted in `overflow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    width: u64,
    counts: Vec<u64>,
    overflow: u64,
}

impl Histogram {
    /// An empty histogram (allocates `spec.buckets` counters, zeroed).
    pub fn new(spec: HistogramSpec) -> Histogram {
        Histogram {
            width: spec.bucket_width_ns.max(1),
            counts: vec![0; spec.buckets],
            overflow: 0,
        }
    }

    /// Records one latency. Returns `false` if it overflowed.
    #[inline(always)]
    pub fn record(&mut self, latency_ns: i64) -> bool {
        let idx = (latency_ns.max(0) as u64 / self.width) as usize;
        match self.counts.get_mut(idx) {
            Some(c) => {
                *c += 1;
                true
            }
            None => {
                self.overflow += 1;
                false
            }
        }
    }

    /// Writes every counter once so its pages are resident before sampling starts.
    pub fn prefault(&mut self) {
        for c in self.counts.iter_mut().step_by(512) {
            // SAFETY: c is a valid &mut u64; a volatile write keeps the touch.
            unsafe { std::ptr::write_volatile(c, std::ptr::read_volatile(c)) };
        }
    }

    /// The geometry.
    pub fn spec(&self) -> HistogramSpec {
        HistogramSpec {
            bucket_width_ns: self.width,
            buckets: self.counts.len(),
        }
    }

    /// Bucket width in ns.
    pub fn bucket_width_ns(&self) -> u64 {
        self.width
    }

    /// First latency (ns) counted as overflow.
    pub fn range_ns(&self) -> u64 {
        self.width.saturating_mul(self.counts.len() as u64)
    }

    /// All bucket counters.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Samples at or above [`range_ns`](Self::range_ns).
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// All samples recorded (buckets + overflow).
    pub fn total(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.overflow
    }

    /// Non-empty buckets as `(lower bound ns, count)`, ascending.
    pub fn nonzero(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let w = self.width;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != 0)
            .map(move |(i, c)| (i as u64 * w, *c))
    }

    /// Adds `other` (same geometry) into `self`. Returns `false` (and changes nothing) if
    /// the geometries differ.
    pub fn merge(&mut self, other: &Histogram) -> bool {
        if self.spec() != other.spec() {
            return false;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.overflow += other.overflow;
        true
    }

    /// Nearest-rank quantile as the lower bound (ns) of the bucket holding it: the true
    /// value lies in `[v, v + width)`. `None` if there are no samples or the quantile falls
    /// into the overflow (it is then `>= range_ns`).
    pub fn quantile(&self, q: Ppm) -> Option<u64> {
        let n = self.total();
        if n == 0 {
            return None;
        }
        let rank = nearest_rank(n, q);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(i as u64 * self.width);
            }
        }
        None
    }

    /// Re-buckets into `unit_ns`-wide keys (`floor(lower / unit)`), summing buckets that
    /// share a key: the rt-tests histogram (unit 1000 = µs, 1 = ns).
    pub fn by_unit(&self, unit_ns: u64) -> Vec<(u64, u64)> {
        let unit = unit_ns.max(1);
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (lo, c) in self.nonzero() {
            let key = lo / unit;
            match out.last_mut() {
                Some((k, n)) if *k == key => *n += c,
                _ => out.push((key, c)),
            }
        }
        out
    }
}

struct Bins<'a>(&'a Histogram);

impl Serialize for Bins<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0.counts.iter().filter(|c| **c != 0).count();
        let mut seq = s.serialize_seq(Some(n))?;
        for pair in self.0.nonzero() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

/// Serialized as `{bucket_width_ns, buckets, range_ns, overflow, bins: [[lower_ns, count], …]}`
/// with only the non-empty buckets listed.
impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Histogram", 5)?;
        st.serialize_field("bucket_width_ns", &self.width)?;
        st.serialize_field("buckets", &self.counts.len())?;
        st.serialize_field("range_ns", &self.range_ns())?;
        st.serialize_field("overflow", &self.overflow)?;
        st.serialize_field("bins", &Bins(self))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: u64, b: usize) -> HistogramSpec {
        HistogramSpec {
            bucket_width_ns: w,
            buckets: b,
        }
    }

    #[test]
    fn empty_histogram() {
        let h = Histogram::new(spec(1000, 10));
        assert_eq!(h.total(), 0);
        assert_eq!(h.quantile(P50), None);
        assert_eq!(h.nonzero().count(), 0);
        assert!(h.by_unit(1000).is_empty());
    }

    #[test]
    fn overflow_and_edges() {
        let mut h = Histogram::new(spec(1000, 3));
        assert!(h.record(0));
        assert!(h.record(999));
        assert!(h.record(2999));
        assert!(!h.record(3000));
        assert!(h.record(-5)); // clamps into bucket 0
        assert_eq!(h.counts(), &[3, 0, 1]);
        assert_eq!(h.overflow(), 1);
        assert_eq!(h.total(), 5);
        assert_eq!(h.quantile(P50), Some(0));
        assert_eq!(h.quantile(Ppm(800_000)), Some(2000));
        assert_eq!(h.quantile(P99), None); // in the overflow
    }

    #[test]
    fn nearest_rank_is_exact_at_round_numbers() {
        assert_eq!(nearest_rank(100, P99), 99);
        assert_eq!(nearest_rank(100, P50), 50);
        assert_eq!(nearest_rank(1, P9999), 1);
        assert_eq!(nearest_rank(10_000, P9999), 9_999);
        assert_eq!(nearest_rank(3, Ppm(0)), 1);
        assert_eq!(nearest_rank(3, Ppm(1_000_000)), 3);
    }

    #[test]
    fn by_unit_merges_and_spreads() {
        let mut h = Histogram::new(spec(250, 12)); // 0..3000 ns
        for v in [0, 260, 900, 1100, 2999] {
            h.record(v);
        }
        assert_eq!(h.by_unit(1000), vec![(0, 3), (1, 1), (2, 1)]);
        let mut h = Histogram::new(spec(2000, 3));
        h.record(2500);
        assert_eq!(h.by_unit(1000), vec![(2, 1)]);
    }

    #[test]
    fn serializes_sparse() {
        let mut h = Histogram::new(spec(1000, 4));
        h.record(1500);
        h.record(1600);
        h.record(9000);
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"bucket_width_ns":1000,"buckets":4,"range_ns":4000,
                "overflow":1,"bins":[[1000,2]]})
        );
    }

    #[test]
    fn merge_rejects_other_geometry() {
        let mut a = Histogram::new(spec(1000, 4));
        assert!(!a.merge(&Histogram::new(spec(1000, 5))));
        assert!(!a.merge(&Histogram::new(spec(100, 4))));
    }
}
