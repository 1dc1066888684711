//! What a PASS must prove, and the one formula that says whether the samples prove it.
//!
//! A scenario that never exceeded its budget has shown only that exceedances are *rare*. How
//! rare depends on how many samples it took. A profile states the claim a PASS must support,
//! `claim = { exceedance = 1e-6, confidence = 0.95 }`: "the per-sample probability of a
//! latency above `threshold.max_us` is at most 1e-6, at 95 % confidence".
//!
//! # The statistics (the one owned place)
//!
//! Treat each sample as an independent Bernoulli trial that exceeds the budget with unknown
//! probability `p`. With **zero exceedances in `n` samples**, the one-sided upper confidence
//! bound on `p` at confidence `c` (the exact Clopper–Pearson bound for zero successes) is
//!
//! ```text
//! p_upper(n, c) = 1 − (1 − c)^(1/n)   ≈ −ln(1 − c) / n    (≈ 3/n at c = 0.95: the rule of three)
//! ```
//!
//! because `(1 − p)^n` is the chance of `n` clean samples, and `p_upper` is the `p` at which
//! that chance falls to `1 − c`. The claim is proven when `p_upper(n, c) ≤ exceedance`, that
//! is when
//!
//! ```text
//! n ≥ n_needed = ⌈ ln(1 − c) / ln(1 − exceedance) ⌉   ≈ −ln(1 − c) / exceedance
//! ```
//!
//! Samples of all measured CPUs are pooled (`n` is the scenario's total), which assumes the
//! CPUs' samples are alike and independent; at a period of `interval_us` on `k` CPUs a run
//! takes `k · 10⁶ / interval_us` samples per second, so the missing samples take
//! `(n_needed − n) · interval_us / k` µs more.
//!
//! A scenario whose budget was never exceeded but whose `n < n_needed` is **INCONCLUSIVE**:
//! not a PASS, and not a FAIL (nothing was over budget). See [`crate::Verdict::Inconclusive`].

use serde::{Deserialize, Serialize};

/// The confidence a claim is made at unless the profile says otherwise.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// What a PASS must prove (profile `claim`, per scenario or board-wide).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Largest per-sample probability of exceeding `threshold.max_us` the PASS vouches for.
    pub exceedance: f64,
    /// Confidence of the bound (default [`DEFAULT_CONFIDENCE`]).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
}

fn default_confidence() -> f64 {
    DEFAULT_CONFIDENCE
}

impl Claim {
    /// Why this claim cannot be stated (`None`: it can). The field named is `exceedance` or
    /// `confidence`; both must lie strictly between 0 and 1.
    pub fn invalid(&self) -> Option<(&'static str, f64)> {
        let open = |v: f64| v > 0.0 && v < 1.0;
        if !open(self.exceedance) {
            Some(("exceedance", self.exceedance))
        } else if !open(self.confidence) {
            Some(("confidence", self.confidence))
        } else {
            None
        }
    }

    /// The fewest clean samples that prove the claim ([`samples_needed`]).
    pub fn samples_needed(&self) -> u64 {
        samples_needed(self.exceedance, self.confidence)
    }

    /// Whether `samples` clean samples prove it.
    pub fn proven_by(&self, samples: u64) -> bool {
        samples >= self.samples_needed()
    }
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "P(exceed) ≤ {:e} at {} % confidence",
            self.exceedance,
            self.confidence * 100.0
        )
    }
}

/// `1 − (1 − c)^(1/n)`: the upper bound on the per-sample exceedance probability after `n`
/// samples without an exceedance, at confidence `c` (1 for `n = 0`: nothing is known).
pub fn zero_exceedance_bound(n: u64, confidence: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // −expm1(ln(1 − c) / n) keeps its precision for the large n of long runs.
    -((1.0 - confidence).ln() / n as f64).exp_m1()
}

/// The fewest samples without an exceedance whose bound ([`zero_exceedance_bound`]) is at most
/// `exceedance`: `⌈ln(1 − c) / ln(1 − exceedance)⌉`. Arguments outside (0, 1) give `u64::MAX`
/// (no number of samples proves them).
pub fn samples_needed(exceedance: f64, confidence: f64) -> u64 {
    let open = |v: f64| v > 0.0 && v < 1.0;
    if !open(exceedance) || !open(confidence) {
        return u64::MAX;
    }
    let n = ((1.0 - confidence).ln() / (-exceedance).ln_1p()).ceil();
    // Beyond 2^53 the count is not exact anyway, and no run takes that many samples.
    if n.is_nan() || n >= 9.0e15 {
        return u64::MAX;
    }
    // Guard the rounding at the boundary: the bound at n must hold, and not at n − 1.
    let mut n = n.max(1.0) as u64;
    while zero_exceedance_bound(n, confidence) > exceedance {
        n += 1;
    }
    while n > 1 && zero_exceedance_bound(n - 1, confidence) <= exceedance {
        n -= 1;
    }
    n
}

/// The claim as a scenario's report states it: asked, and what the samples did for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimReport {
    pub exceedance: f64,
    pub confidence: f64,
    /// The samples (all measured CPUs pooled) the claim needs without an exceedance.
    pub samples_needed: u64,
    /// [`zero_exceedance_bound`] of the samples taken (`None` when the budget was exceeded:
    /// then the claim is not the question, the FAIL is).
    pub bound: Option<f64>,
    /// The samples proved the claim.
    pub proven: bool,
    /// Samples still missing (0 when proven).
    pub more_samples: u64,
    /// How long the missing samples take at this period and CPU count, s.
    pub more_time_s: f64,
}

impl ClaimReport {
    /// Judges `claim` on `samples` clean samples taken at `interval_us` on `cpus` CPUs.
    pub fn judge(claim: Claim, samples: u64, interval_us: u32, cpus: usize) -> ClaimReport {
        let needed = claim.samples_needed();
        let more = needed.saturating_sub(samples);
        ClaimReport {
            exceedance: claim.exceedance,
            confidence: claim.confidence,
            samples_needed: needed,
            bound: Some(zero_exceedance_bound(samples, claim.confidence)),
            proven: more == 0,
            more_samples: more,
            more_time_s: more_time_s(more, interval_us, cpus),
        }
    }

    /// The claim of a scenario not (yet) judged, or whose budget was exceeded.
    pub fn unjudged(claim: Claim) -> ClaimReport {
        ClaimReport {
            exceedance: claim.exceedance,
            confidence: claim.confidence,
            samples_needed: claim.samples_needed(),
            bound: None,
            proven: false,
            more_samples: 0,
            more_time_s: 0.0,
        }
    }

    pub fn claim(&self) -> Claim {
        Claim {
            exceedance: self.exceedance,
            confidence: self.confidence,
        }
    }

    /// The INCONCLUSIVE reason: what the samples showed, and what the claim still needs.
    pub fn shortfall(&self, samples: u64, interval_us: u32, cpus: usize) -> String {
        format!(
            "budget never exceeded, but {samples} samples bound P(exceed) only to {:.2e} at {} % confidence, above the claimed {:e}: the claim needs {} samples, {} more, about {:.0} s more at {interval_us} µs on {} CPU(s); measure longer or state a weaker claim",
            self.bound.unwrap_or(1.0),
            self.confidence * 100.0,
            self.exceedance,
            self.samples_needed,
            self.more_samples,
            self.more_time_s.ceil(),
            cpus.max(1)
        )
    }
}

/// The time `samples` more samples take at `interval_us` on `cpus` CPUs, s.
pub fn more_time_s(samples: u64, interval_us: u32, cpus: usize) -> f64 {
    samples as f64 * f64::from(interval_us) / 1e6 / cpus.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: 1 − 0.05^(1/n).
    #[test]
    fn the_bound_is_exact_for_zero_exceedances() {
        // n = 1: 1 − 0.05 = 0.95.
        assert!((zero_exceedance_bound(1, 0.95) - 0.95).abs() < 1e-12);
        // n = 2: 1 − √0.05 = 0.776393202250021.
        assert!((zero_exceedance_bound(2, 0.95) - 0.776_393_202_250_021).abs() < 1e-12);
        // n = 300 000 (60 s at 200 µs on one CPU, the issue's example): ≈ 9.9857e-6.
        let b = zero_exceedance_bound(300_000, 0.95);
        assert!((b - 9.985_6e-6).abs() < 1e-9, "{b}");
        // ≈ −ln(1 − c)/n for large n.
        assert!((b - 0.05f64.ln().abs() / 300_000.0).abs() / b < 1e-5);
        assert_eq!(zero_exceedance_bound(0, 0.95), 1.0);
    }

    #[test]
    fn samples_needed_is_the_boundary() {
        // ⌈ln 0.05 / ln(1 − 1e-6)⌉ = ⌈2 995 730.8⌉.
        assert_eq!(samples_needed(1e-6, 0.95), 2_995_731);
        // 1e-3 at 95 %: ⌈2.995732 / 0.0010005⌉ = 2995.
        assert_eq!(samples_needed(1e-3, 0.95), 2995);
        for (p, c) in [(1e-6, 0.95), (1e-5, 0.99), (1e-3, 0.95), (0.1, 0.5)] {
            let n = samples_needed(p, c);
            assert!(zero_exceedance_bound(n, c) <= p);
            assert!(zero_exceedance_bound(n - 1, c) > p);
        }
        assert_eq!(samples_needed(0.0, 0.95), u64::MAX);
        // A claim no run can reach saturates instead of overflowing (no input panics).
        assert_eq!(samples_needed(1e-300, 0.95), u64::MAX);
        assert_eq!(samples_needed(f64::MIN_POSITIVE, 0.999_999), u64::MAX);
        assert_eq!(samples_needed(f64::NAN, 0.95), u64::MAX);
        assert!(samples_needed(1e-12, 0.95) > 2_995_000_000_000);
        assert_eq!(samples_needed(1e-6, 1.0), u64::MAX);
    }

    /// INCONCLUSIVE versus PASS at the boundary: one sample short is not proven.
    #[test]
    fn judged_at_the_boundary() {
        let claim = Claim {
            exceedance: 1e-5,
            confidence: 0.95,
        };
        let n = claim.samples_needed();
        let short = ClaimReport::judge(claim, n - 1, 200, 2);
        assert!(!short.proven);
        assert_eq!(short.more_samples, 1);
        assert!((short.more_time_s - 100e-6).abs() < 1e-12);
        let enough = ClaimReport::judge(claim, n, 200, 2);
        assert!(enough.proven && enough.more_samples == 0 && enough.more_time_s == 0.0);
        // The issue's example: 60 s at 200 µs on one CPU does not prove 1e-6; it needs
        // 2 695 731 more samples, 539 s more at 200 µs on 1 CPU.
        let r = ClaimReport::judge(
            Claim {
                exceedance: 1e-6,
                confidence: 0.95,
            },
            300_000,
            200,
            1,
        );
        assert_eq!(r.more_samples, 2_695_731);
        assert!(
            (r.more_time_s - 539.146_2).abs() < 1e-3,
            "{}",
            r.more_time_s
        );
        let text = r.shortfall(300_000, 200, 1);
        assert!(text.contains("2695731 more"), "{text}");
        assert!(
            text.contains("about 540 s more at 200 µs on 1 CPU"),
            "{text}"
        );
    }

    #[test]
    fn a_claim_is_checked_and_defaults_its_confidence() {
        let c: Claim = serde_json::from_str(r#"{"exceedance": 1e-6}"#).unwrap();
        assert_eq!(c.confidence, DEFAULT_CONFIDENCE);
        assert_eq!(c.invalid(), None);
        let bad = Claim {
            exceedance: 0.0,
            confidence: 0.95,
        };
        assert_eq!(bad.invalid(), Some(("exceedance", 0.0)));
        let bad = Claim {
            exceedance: 1e-6,
            confidence: 1.0,
        };
        assert_eq!(bad.invalid(), Some(("confidence", 1.0)));
        assert!(serde_json::from_str::<Claim>(r#"{"exceedance": 1e-6, "conf": 1}"#).is_err());
    }
}
