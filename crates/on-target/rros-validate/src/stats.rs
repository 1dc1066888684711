//! What a run proves: the exceedance bound (the "rule of three") and an optional
//! peaks-over-threshold (generalised Pareto) estimate of the far tail.
//!
//! Everything here is pure arithmetic on numbers the engine measured; nothing reads the system.

/// Confidence level of every bound this module states.
pub const CONFIDENCE: f64 = 0.95;

/// One-sided upper confidence bound on the per-sample probability of exceeding a threshold,
/// after `exceedances` exceedances in `samples` independent samples (Clopper–Pearson, exact).
///
/// With no exceedance this is `1 − (1 − confidence)^(1/N)`, which is ≈ 3/N at 95 %: the
/// "rule of three". `None` without samples.
pub fn exceedance_upper_bound(samples: u64, exceedances: u64, confidence: f64) -> Option<f64> {
    if samples == 0 || exceedances > samples {
        return None;
    }
    let alpha = 1.0 - confidence;
    if exceedances == 0 {
        // 1 - alpha^(1/n), computed without cancellation for large n.
        return Some(-(alpha.ln() / samples as f64).exp_m1());
    }
    if exceedances == samples {
        return Some(1.0);
    }
    // The p at which P(X <= k | n, p) = alpha; the CDF falls in p, so bisect.
    let (n, k) = (samples, exceedances);
    let mut lo = k as f64 / n as f64;
    let mut hi = 1.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if binomial_cdf(k, n, mid) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    Some(hi)
}

/// P(X <= k) for X ~ Binomial(n, p), summed in log space (exact for the k a failed run has;
/// beyond 200 000 terms the normal approximation with continuity correction is used).
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    if k > 200_000 {
        let mean = n as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        return normal_cdf((k as f64 + 0.5 - mean) / sd);
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    // log C(n, i) built up term by term.
    let mut log_c = 0.0f64;
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        if i > 0 {
            log_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(log_c + i as f64 * lp + (n - i) as f64 * lq);
    }
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = terms.iter().map(|t| (t - m).exp()).sum();
    (m + s.ln()).exp().min(1.0)
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 through erfc; |error| < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// A generalised Pareto distribution for excesses `y >= 0` over a threshold:
/// `F(y) = 1 − (1 + ξ·y/σ)^(−1/ξ)` (`1 − exp(−y/σ)` at ξ = 0). Same parameters as SciPy's
/// `genpareto(c=ξ, scale=σ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gpd {
    /// Shape ξ: > 0 heavy tail, 0 exponential, < 0 bounded tail with end point −σ/ξ.
    pub xi: f64,
    /// Scale σ > 0.
    pub sigma: f64,
}

/// |ξ| below this is treated as the exponential limit.
const XI_ZERO: f64 = 1e-9;

impl Gpd {
    /// The CDF.
    pub fn cdf(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 0.0;
        }
        if self.xi.abs() < XI_ZERO {
            return -(-y / self.sigma).exp_m1();
        }
        let z = 1.0 + self.xi * y / self.sigma;
        if z <= 0.0 {
            return 1.0; // beyond the end point of a bounded tail
        }
        1.0 - (-(z.ln()) / self.xi).exp()
    }

    /// The survival function `1 − F(y)`, without cancellation.
    #[cfg(test)]
    pub fn sf(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 1.0;
        }
        if self.xi.abs() < XI_ZERO {
            return (-y / self.sigma).exp();
        }
        let z = 1.0 + self.xi * y / self.sigma;
        if z <= 0.0 {
            return 0.0;
        }
        (-(z.ln()) / self.xi).exp()
    }

    /// The excess `y` with survival probability `s` (`0 < s <= 1`): the inverse of [`sf`](Self::sf).
    pub fn isf(&self, s: f64) -> f64 {
        if self.xi.abs() < XI_ZERO {
            return -self.sigma * s.ln();
        }
        self.sigma / self.xi * (s.powf(-self.xi) - 1.0)
    }

    /// The upper end point of a bounded tail (ξ < 0).
    pub fn end_point(&self) -> Option<f64> {
        (self.xi < -XI_ZERO).then(|| -self.sigma / self.xi)
    }

    /// Probability-weighted-moments fit (Hosking & Wallis 1987) to excesses (any order).
    /// Defined for ξ < 1/2 (a finite variance); `None` for fewer than 2 distinct values or a
    /// degenerate sample.
    pub fn fit_pwm(excesses: &[f64]) -> Option<Gpd> {
        let n = excesses.len();
        if n < 2 {
            return None;
        }
        let mut x = excesses.to_vec();
        x.sort_by(f64::total_cmp);
        let nf = n as f64;
        let a0 = x.iter().sum::<f64>() / nf;
        // a1 estimates E[X (1 − F(X))] with the unbiased plotting weights (n − j)/(n − 1).
        let a1 = x
            .iter()
            .enumerate()
            .map(|(i, v)| (nf - 1.0 - i as f64) / (nf - 1.0) * v)
            .sum::<f64>()
            / nf;
        let d = a0 - 2.0 * a1;
        if !(a0 > 0.0 && a1 > 0.0 && d > 0.0) {
            return None;
        }
        let k = a0 / d - 2.0; // Hosking's k = −ξ
        let sigma = 2.0 * a0 * a1 / d;
        (sigma.is_finite() && sigma > 0.0 && k.is_finite()).then_some(Gpd { xi: -k, sigma })
    }
}

/// Kolmogorov–Smirnov statistic `sup |F_n − F|` of a sample against a GPD.
pub fn ks_statistic(sample: &[f64], dist: &Gpd) -> f64 {
    let mut x = sample.to_vec();
    x.sort_by(f64::total_cmp);
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let f = dist.cdf(*v);
            ((i as f64 + 1.0) / n - f).max(f - i as f64 / n)
        })
        .fold(0.0, f64::max)
}

/// SplitMix64: a small, seedable generator, so that bootstrap p-values are reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on the open interval (0, 1).
    pub fn next_open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// p-value of the KS goodness-of-fit test when the GPD's parameters were fitted to the same
/// sample (which makes the classical KS table far too lenient): a parametric bootstrap of
/// `replicates` samples drawn from the fit, each refitted the same way.
pub fn ks_bootstrap_p(sample: &[f64], fit: &Gpd, replicates: usize, seed: u64) -> f64 {
    let observed = ks_statistic(sample, fit);
    let mut rng = SplitMix64(seed);
    let mut at_least = 0usize;
    let mut sim = vec![0.0; sample.len()];
    for _ in 0..replicates {
        for v in sim.iter_mut() {
            *v = fit.isf(rng.next_open01());
        }
        // A replicate the method cannot fit counts against the fit (conservative).
        let d = Gpd::fit_pwm(&sim).map_or(f64::INFINITY, |f| ks_statistic(&sim, &f));
        if d >= observed {
            at_least += 1;
        }
    }
    (at_least + 1) as f64 / (replicates + 1) as f64
}

/// Fewest exceedances a tail fit is attempted with.
pub const MIN_EXCEEDANCES: usize = 30;
/// Most exceedances used (the largest ones): the tail, not the bulk.
pub const MAX_EXCEEDANCES: usize = 1000;
/// Fraction of all samples taken as exceedances (before the bounds above).
pub const EXCEEDANCE_FRACTION: f64 = 0.01;
/// Bootstrap replicates of the goodness-of-fit test.
pub const BOOTSTRAP_REPLICATES: usize = 199;
/// The fit is refused when the goodness-of-fit p-value is below this.
pub const GOF_LEVEL: f64 = 0.05;

/// A peaks-over-threshold tail estimate, or why none is given.
#[derive(Debug, Clone, PartialEq)]
pub struct TailEstimate {
    /// Samples behind the estimate.
    pub samples: u64,
    /// POT threshold `u` (ns): excesses are latencies above it.
    pub threshold_ns: f64,
    /// Number of excesses fitted.
    pub exceedances: usize,
    /// The fit, if one was made.
    pub fit: Option<Gpd>,
    /// KS statistic of the fit.
    pub ks_statistic: Option<f64>,
    /// Parametric-bootstrap p-value of the KS test.
    pub ks_p_value: Option<f64>,
    /// Per-sample exceedance probability the latency is estimated at.
    pub probability: f64,
    /// Estimated latency (ns) exceeded with that probability per sample.
    pub latency_ns: Option<f64>,
    /// Estimated upper end point (ns) of the latency distribution, when the fitted tail is bounded.
    pub end_point_ns: Option<f64>,
    /// Why no estimate is given (`None` = the estimate stands).
    pub refused: Option<String>,
}

/// Fits a GPD to the largest latencies (ns, any order, at least the top 1 % of the `samples`
/// when available) and estimates the latency exceeded with per-sample probability
/// `probability`. The estimate is refused (with the reason) when there are too few
/// exceedances, the fit fails or its goodness-of-fit test rejects it, or the probability is
/// not beyond what the data show.
pub fn tail_estimate(largest_ns: &[i64], samples: u64, probability: f64) -> TailEstimate {
    let mut sorted: Vec<f64> = largest_ns.iter().map(|v| *v as f64).collect();
    sorted.sort_by(|a, b| b.total_cmp(a)); // largest first
    let wanted = ((samples as f64 * EXCEEDANCE_FRACTION) as usize)
        .clamp(MIN_EXCEEDANCES, MAX_EXCEEDANCES)
        .min(sorted.len().saturating_sub(1));
    let mut out = TailEstimate {
        samples,
        threshold_ns: 0.0,
        exceedances: 0,
        fit: None,
        ks_statistic: None,
        ks_p_value: None,
        probability,
        latency_ns: None,
        end_point_ns: None,
        refused: None,
    };
    if sorted.len() < 2 {
        out.refused = Some("no tail data: the run kept too few of its largest latencies".into());
        return out;
    }
    // The threshold is the next largest value; values equal to it are not excesses.
    let u = sorted[wanted];
    let excesses: Vec<f64> = sorted[..wanted]
        .iter()
        .map(|v| v - u)
        .filter(|y| *y > 0.0)
        .collect();
    out.threshold_ns = u;
    out.exceedances = excesses.len();
    if excesses.len() < MIN_EXCEEDANCES {
        out.refused = Some(format!(
            "too few exceedances ({} above {:.1} µs; a fit needs {MIN_EXCEEDANCES}): measure longer",
            excesses.len(),
            u / 1000.0
        ));
        return out;
    }
    let Some(fit) = Gpd::fit_pwm(&excesses) else {
        out.refused = Some("the tail could not be fitted (degenerate exceedances)".into());
        return out;
    };
    out.fit = Some(fit);
    let ks = ks_statistic(&excesses, &fit);
    out.ks_statistic = Some(ks);
    let p = ks_bootstrap_p(&excesses, &fit, BOOTSTRAP_REPLICATES, 0x5EED_0000 ^ samples);
    out.ks_p_value = Some(p);
    let zeta = excesses.len() as f64 / samples as f64;
    if fit.xi >= 0.5 {
        out.refused = Some(format!(
            "the fitted tail is too heavy (shape ξ = {:.2} ≥ 0.5) for a credible extrapolation",
            fit.xi
        ));
    } else if p < GOF_LEVEL {
        out.refused = Some(format!(
            "the generalised Pareto fit is rejected by its goodness-of-fit test (KS p = {p:.3} < {GOF_LEVEL})"
        ));
    } else if !(probability > 0.0 && probability < zeta) {
        out.refused = Some(format!(
            "probability {probability:e} is not beyond the data (the threshold is exceeded with {zeta:.2e} per sample): nothing to extrapolate"
        ));
    } else {
        out.latency_ns = Some(u + fit.isf(probability / zeta));
        out.end_point_ns = fit.end_point().map(|e| u + e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn rule_of_three() {
        // 1 − 0.05^(1/n) against its closed form and against 3/n.
        for n in [1u64, 10, 1000, 1_000_000, 100_000_000] {
            let b = exceedance_upper_bound(n, 0, 0.95).unwrap();
            assert!(close(b, 1.0 - 0.05f64.powf(1.0 / n as f64), 1e-9), "{n}");
            if n >= 1_000_000 {
                assert!(
                    close(b * n as f64, 2.995_732, 1e-3),
                    "{n}: {}",
                    b * n as f64
                );
            }
        }
        assert_eq!(exceedance_upper_bound(0, 0, 0.95), None);
        assert_eq!(exceedance_upper_bound(5, 5, 0.95), Some(1.0));
    }

    #[test]
    fn clopper_pearson_matches_scipy() {
        // scipy.stats.beta.ppf(0.95, k + 1, n - k)
        for (n, k, want) in [
            (100u64, 1u64, 0.046_559_811_453_538_935),
            (1000, 5, 0.010_484_076_911_415_651),
            (50_000, 30, 0.000_813_723_145_414_852_1),
        ] {
            let got = exceedance_upper_bound(n, k, 0.95).unwrap();
            assert!(close(got, want, 1e-6), "n={n} k={k}: {got} vs {want}");
        }
    }

    #[test]
    fn gpd_matches_scipy_genpareto() {
        // scipy.stats.genpareto(c, scale=s).cdf(y) / .isf(q)
        let cases = [
            (
                0.2,
                3.0,
                2.5,
                0.537_335_633_962_039_6,
                0.01,
                22.678_296_472_643_7,
            ),
            (
                -0.3,
                2.0,
                1.5,
                0.572_431_526_754_110_5,
                0.01,
                4.992_075_712_326_947,
            ),
            (
                0.0,
                1.5,
                2.0,
                0.736_402_861_884_273_3,
                0.01,
                6.907_755_278_982_137,
            ),
        ];
        for (xi, sigma, y, cdf, q, isf) in cases {
            let g = Gpd { xi, sigma };
            assert!(close(g.cdf(y), cdf, 1e-12), "cdf {xi}");
            assert!(close(g.sf(y), 1.0 - cdf, 1e-12), "sf {xi}");
            assert!(close(g.isf(q), isf, 1e-12), "isf {xi}");
            assert!(close(g.cdf(g.isf(0.3)), 0.7, 1e-12));
        }
        assert_eq!(
            Gpd {
                xi: -0.5,
                sigma: 2.0
            }
            .end_point(),
            Some(4.0)
        );
        assert_eq!(
            Gpd {
                xi: -0.5,
                sigma: 2.0
            }
            .cdf(5.0),
            1.0
        );
        assert_eq!(
            Gpd {
                xi: 0.1,
                sigma: 2.0
            }
            .end_point(),
            None
        );
    }

    #[test]
    fn pwm_fit_matches_hand_computation() {
        // numpy: x sorted; a0 = x.mean(); a1 = ((n-1-i)/(n-1) * x).sum()/n;
        // xi = -(a0/(a0-2a1) - 2); sigma = 2 a0 a1/(a0 - 2 a1)
        let x = [0.3, 1.7, 0.2, 4.5, 0.9, 2.2, 0.05, 1.1, 3.3, 0.6];
        let g = Gpd::fit_pwm(&x).unwrap();
        assert!(close(g.xi, 0.212_040_133_779_264_34, 1e-9), "{}", g.xi);
        assert!(close(g.sigma, 1.170_120_401_337_792_4, 1e-9), "{}", g.sigma);
        assert_eq!(Gpd::fit_pwm(&[1.0]), None);
        assert_eq!(Gpd::fit_pwm(&[2.0, 2.0, 2.0]), None);
    }

    #[test]
    fn pwm_recovers_known_parameters() {
        let mut rng = SplitMix64(42);
        for truth in [
            Gpd {
                xi: 0.2,
                sigma: 5.0,
            },
            Gpd {
                xi: -0.2,
                sigma: 3.0,
            },
            Gpd {
                xi: 0.0,
                sigma: 1.0,
            },
        ] {
            let x: Vec<f64> = (0..20_000).map(|_| truth.isf(rng.next_open01())).collect();
            let g = Gpd::fit_pwm(&x).unwrap();
            assert!((g.xi - truth.xi).abs() < 0.03, "{truth:?} -> {g:?}");
            assert!(close(g.sigma, truth.sigma, 0.04), "{truth:?} -> {g:?}");
        }
    }

    #[test]
    fn ks_statistic_matches_scipy_kstest() {
        // scipy.stats.kstest(x, genpareto(0.1, scale=1.2).cdf).statistic
        let x = [0.3, 1.7, 0.2, 4.5, 0.9, 2.2, 0.05, 1.1, 3.3, 0.6];
        let d = ks_statistic(
            &x,
            &Gpd {
                xi: 0.1,
                sigma: 1.2,
            },
        );
        assert!(close(d, 0.134_168_287_572_378_3, 1e-9), "{d}");
    }

    #[test]
    fn bootstrap_accepts_a_gpd_and_rejects_a_mixture() {
        let mut rng = SplitMix64(7);
        let truth = Gpd {
            xi: 0.1,
            sigma: 2.0,
        };
        let x: Vec<f64> = (0..300).map(|_| truth.isf(rng.next_open01())).collect();
        let fit = Gpd::fit_pwm(&x).unwrap();
        assert!(ks_bootstrap_p(&x, &fit, 199, 1) > 0.05);
        // Two well-separated clusters (a tail mixture): not one GPD.
        let y: Vec<f64> = (0..300)
            .map(|i| {
                if i % 2 == 0 {
                    0.1 * rng.next_open01()
                } else {
                    50.0 + rng.next_open01()
                }
            })
            .collect();
        let fit = Gpd::fit_pwm(&y).unwrap();
        assert!(ks_bootstrap_p(&y, &fit, 199, 1) < 0.05);
    }

    #[test]
    fn tail_estimate_extrapolates_an_exponential_tail() {
        // Latencies 10 µs + Exp(mean 2 µs): the 1e-6 quantile is 10 + 2·ln(1e6) µs.
        let mut rng = SplitMix64(3);
        let n = 100_000u64;
        let mut v: Vec<i64> = (0..n)
            .map(|_| (10_000.0 - 2_000.0 * rng.next_open01().ln()) as i64)
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.truncate(2000);
        let t = tail_estimate(&v, n, 1e-6);
        assert_eq!(t.refused, None, "{t:?}");
        assert_eq!(t.exceedances, 1000);
        let want = 10_000.0 + 2_000.0 * 1e6f64.ln();
        assert!(
            close(t.latency_ns.unwrap(), want, 0.08),
            "{:?} vs {want}",
            t.latency_ns
        );
    }

    #[test]
    fn tail_estimate_refuses() {
        let t = tail_estimate(&[5, 4, 3], 1000, 1e-9);
        assert!(t.refused.unwrap().contains("too few exceedances"));
        let t = tail_estimate(&[], 0, 1e-9);
        assert!(t.refused.is_some());
        // All equal: no excess above the threshold.
        let t = tail_estimate(&[7; 100], 10_000, 1e-9);
        assert!(t.refused.unwrap().contains("too few"));
        // A probability the data already cover is no extrapolation.
        let mut rng = SplitMix64(9);
        let v: Vec<i64> = (0..200)
            .map(|_| (1000.0 - 300.0 * rng.next_open01().ln()) as i64)
            .collect();
        let t = tail_estimate(&v, 3000, 0.5);
        assert!(
            t.refused
                .as_deref()
                .unwrap()
                .contains("not beyond the data"),
            "{t:?}"
        );
    }
}
