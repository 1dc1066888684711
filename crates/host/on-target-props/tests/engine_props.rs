//! cyclictest-rs against brute force: per-thread statistics and their merge, histogram
//! quantiles, merge and re-bucketing, and the cpulist format. These were unit proptests in the
//! engine's `stats.rs`, `histogram.rs` and `cpuset.rs`; they use only its public API
//! (`Stats::of_series` replays a series through one sampler's arithmetic).

use cyclictest::{Histogram, HistogramSpec, Ppm, RunConfig, Stats, format_cpulist, parse_cpulist};
use proptest::prelude::*;

fn stats_spec() -> HistogramSpec {
    HistogramSpec {
        bucket_width_ns: 1000,
        buckets: 50,
    }
}

/// One sampler's statistics of `samples`, keeping `keep` outliers and 8 overflow indices.
fn run(samples: &[i64], keep: usize) -> Stats {
    let cfg = RunConfig {
        cpus: vec![3],
        interval_ns: 10,
        histogram: stats_spec(),
        outliers: keep,
        overflow_log: 8,
        ..RunConfig::default()
    };
    Stats::of_series(&cfg, samples)
}

fn spec(w: u64, b: usize) -> HistogramSpec {
    HistogramSpec {
        bucket_width_ns: w,
        buckets: b,
    }
}

/// Brute force: sort, take the nearest-rank sample, quantise to its bucket.
fn brute_quantile(samples: &[i64], q: Ppm, w: u64, buckets: usize) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    let mut v: Vec<i64> = samples.to_vec();
    v.sort_unstable();
    let n = v.len() as u64;
    // Nearest rank by its definition: smallest r with r/n >= q.
    let r = (1..=n)
        .find(|r| (*r as u128) * 1_000_000 >= n as u128 * q.0 as u128)
        .unwrap();
    let x = v[(r - 1) as usize].max(0) as u64;
    (x < w * buckets as u64).then_some(x / w * w)
}

proptest! {
    #[test]
    fn stats_match_brute_force(samples in prop::collection::vec(-10i64..80_000, 0..300), keep in 0usize..12) {
        let s = run(&samples, keep);
        prop_assert_eq!(s.samples, samples.len() as u64);
        prop_assert_eq!(s.min_ns, samples.iter().copied().min());
        prop_assert_eq!(s.max_ns, samples.iter().copied().max());
        prop_assert_eq!(s.sum_ns, samples.iter().sum::<i64>());
        prop_assert_eq!(s.sum_us_truncated, samples.iter().map(|x| x / 1000).sum::<i64>());
        prop_assert_eq!(s.last_ns, samples.last().copied());
        // Top-K: the k largest, largest first, earlier sample first among equals.
        let mut brute: Vec<(i64, u64)> = samples.iter().enumerate().map(|(i, v)| (*v, i as u64)).collect();
        brute.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        brute.truncate(keep);
        let got: Vec<(i64, u64)> = s.outliers.iter().map(|o| (o.latency_ns, o.sample)).collect();
        prop_assert_eq!(got, brute);
        // Overflow log: first 8 indices at or above the range.
        let over: Vec<u64> = samples.iter().enumerate().filter(|(_, v)| **v >= 50_000).map(|(i, _)| i as u64).take(8).collect();
        prop_assert_eq!(s.overflow_samples, over);
    }

    #[test]
    fn merge_matches_single_stream(a in prop::collection::vec(0i64..80_000, 0..150), b in prop::collection::vec(0i64..80_000, 0..150)) {
        let (sa, sb) = (run(&a, 5), run(&b, 5));
        let m = Stats::merge(&[&sa, &sb], stats_spec(), 5);
        let all: Vec<i64> = a.iter().chain(&b).copied().collect();
        let sall = run(&all, 0);
        prop_assert_eq!(m.samples, sall.samples);
        prop_assert_eq!(m.min_ns, sall.min_ns);
        prop_assert_eq!(m.max_ns, sall.max_ns);
        prop_assert_eq!(m.sum_ns, sall.sum_ns);
        prop_assert_eq!(&m.histogram, &sall.histogram);
        prop_assert_eq!(m.percentiles, sall.percentiles);
        let mut top: Vec<i64> = all.clone();
        top.sort_unstable_by(|x, y| y.cmp(x));
        top.truncate(5);
        let got: Vec<i64> = m.outliers.iter().map(|o| o.latency_ns).collect();
        prop_assert_eq!(got, top);
    }

    #[test]
    fn quantiles_match_brute_force(
        samples in prop::collection::vec(-100i64..60_000, 0..400),
        w in 1u64..3_000,
        buckets in 1usize..64,
        q in prop::sample::select(vec![0u32, 1, 500_000, 900_000, 990_000, 999_000, 999_900, 1_000_000]),
    ) {
        let mut h = Histogram::new(spec(w, buckets));
        let mut overflow = 0;
        for s in &samples {
            if !h.record(*s) { overflow += 1; }
        }
        prop_assert_eq!(h.total(), samples.len() as u64);
        prop_assert_eq!(h.overflow(), overflow);
        let brute_over = samples.iter().filter(|s| (**s).max(0).unsigned_abs() >= w * buckets as u64).count() as u64;
        prop_assert_eq!(overflow, brute_over);
        prop_assert_eq!(h.quantile(Ppm(q)), brute_quantile(&samples, Ppm(q), w, buckets));
    }

    #[test]
    fn merge_equals_recording_everything(
        a in prop::collection::vec(0i64..10_000, 0..200),
        b in prop::collection::vec(0i64..10_000, 0..200),
    ) {
        let s = spec(100, 50);
        let (mut ha, mut hb, mut hall) = (Histogram::new(s), Histogram::new(s), Histogram::new(s));
        for x in &a { ha.record(*x); hall.record(*x); }
        for x in &b { hb.record(*x); hall.record(*x); }
        prop_assert!(ha.merge(&hb));
        prop_assert_eq!(ha, hall);
    }

    #[test]
    fn by_unit_preserves_counts(samples in prop::collection::vec(0i64..5_000, 0..300), w in 1u64..700) {
        let mut h = Histogram::new(spec(w, 5_000 / w as usize + 1));
        for s in &samples { h.record(*s); }
        let keyed = h.by_unit(1000);
        prop_assert_eq!(keyed.iter().map(|(_, c)| c).sum::<u64>(), h.total() - h.overflow());
        prop_assert!(keyed.windows(2).all(|p| p[0].0 < p[1].0));
        // Each key counts exactly the samples whose bucket lower bound truncates to it.
        for (k, c) in &keyed {
            let brute = samples.iter().filter(|s| (**s as u64 / w * w) / 1000 == *k
                && (**s as u64) < h.range_ns()).count() as u64;
            prop_assert_eq!(*c, brute);
        }
    }

    #[test]
    fn format_then_parse_is_sorted_set(v in prop::collection::vec(0usize..64, 1..20)) {
        let mut want = v.clone();
        want.sort_unstable();
        want.dedup();
        prop_assert_eq!(parse_cpulist(&format_cpulist(&v)).unwrap(), want);
    }
}
