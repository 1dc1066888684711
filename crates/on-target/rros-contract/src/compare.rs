//! Did this build get worse? Two runs' latency distributions, compared with stated confidence.
//!
//! Pure statistics over two [`Report`]s: no I/O, so `rros-validate compare` and any host tool
//! give the same answer. Everything is distribution-free (no normality, no fitted tail):
//!
//! - **Quantiles (p50, p99, p99.9)**: the order-statistic confidence interval. Among `n`
//!   samples, the number below the true `q`-quantile is Binomial(n, q), so
//!   `[X₍ₗ₎, X₍ᵤ₎]` covers it with probability `F(u−1) − F(l−1)` (`F` the Binomial(n, q)
//!   CDF). [`quantile_interval`] takes the largest `l` with `F(l−1) ≤ α/2` and the smallest
//!   `u` with `F(u−1) ≥ 1 − α/2`, so the coverage is at least `1 − α`; the order statistics
//!   are read from the pooled histogram (lower bounds of 1 µs buckets, as the report's
//!   percentiles). A bound whose rank falls outside the samples, or in the histogram's
//!   overflow, is unknown (`None`).
//! - **REGRESSED** when NEW's interval lies wholly above BASE's, **IMPROVED** when wholly
//!   below, else **UNCHANGED**: two 95 % intervals that do not overlap is a conservative test.
//! - **max** is one extreme, so it has no interval. Instead: if both runs come from one
//!   distribution, every ordering of the pooled samples is equally likely, so the chance that
//!   NEW has `k` samples above BASE's max is `∏ᵢ₌₀..ₖ₋₁ (n_new − i)/(n_base + n_new − i)`
//!   (exchangeability; [`max_shift_p`]). Below `α` that is REGRESSED (and the mirror is
//!   IMPROVED). One higher maximum of runs of equal length has p ≈ ½: never a regression.
//!
//! Like with like: [`Comparison`] names every field of the run's key that differs
//! ([`key_differences`]). The key is the report's: board (`board.name`), machine
//! (`host.machine`), kernel release and build (`host.kernel_release`, `host.kernel_version`:
//! `uname -r`, `uname -v`), the kernel configuration's hash (`host.kernel_config_sha256`,
//! where `/proc/config.gz` exists), the command line (`host.cmdline`), the profile's hash
//! (`profile.sha256`), the engine (`tool.name`, `tool.version`) and each scenario's backend,
//! interval and CPUs.
//!
//! - Board, machine, and each scenario's backend, interval and CPUs are `mismatches`: the
//!   runs did not measure the same thing, and the caller refuses (or, asked to, warns).
//! - Kernel release, build, configuration, command line, profile and engine are `changes`:
//!   what a build-to-build comparison is for (a new image brings a new kernel, and may bring
//!   a new profile or engine), named so the reader knows what moved and can tell a kernel
//!   regression from a profile edit.

use crate::report::{Histogram, Report, ScenarioReport};

/// The confidence of every interval and test (1 − α).
pub const CONFIDENCE: f64 = 0.95;

/// The most samples an interval is computed for: 10¹⁰ (24 h at 200 µs is 4.3·10⁸ per CPU).
/// The binomial window grows with √n; beyond this the bounds are reported unknown.
pub const MAX_SAMPLES: u64 = 10_000_000_000;

/// The quantiles compared, with their names.
pub const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)];

/// REGRESSED / UNCHANGED / IMPROVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Improved,
    Unchanged,
    Regressed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Improved => "IMPROVED",
            Change::Unchanged => "UNCHANGED",
            Change::Regressed => "REGRESSED",
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A sorted sample given as a histogram: `(lower bound µs, count)` in ascending order, plus
/// the samples beyond the range.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution {
    pub bins: Vec<(f64, u64)>,
    pub overflow: u64,
    /// The exact maximum, when known.
    pub max_us: Option<f64>,
}

impl Distribution {
    /// All measured CPUs of a scenario pooled into one histogram (the report's own bucket
    /// width; CPUs of one run share it).
    pub fn of(s: &ScenarioReport) -> Distribution {
        let hists: Vec<&Histogram> = s.per_cpu.iter().map(|c| &c.histogram).collect();
        let mut bins: Vec<(f64, u64)> = hists.iter().flat_map(|h| h.bins.iter().copied()).collect();
        bins.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, u64)> = Vec::with_capacity(bins.len());
        for (lower, count) in bins {
            match merged.last_mut() {
                Some(last) if last.0 == lower => last.1 = last.1.saturating_add(count),
                _ => merged.push((lower, count)),
            }
        }
        Distribution {
            bins: merged,
            overflow: hists.iter().fold(0u64, |a, h| a.saturating_add(h.overflow)),
            max_us: s.max_us,
        }
    }

    /// All samples (saturating: a report.json is input, and input never panics).
    pub fn samples(&self) -> u64 {
        self.bins
            .iter()
            .fold(self.overflow, |a, b| a.saturating_add(b.1))
    }

    /// The `rank`-th smallest sample (1-based), as its bucket's lower bound; `None` past the
    /// samples or in the overflow.
    pub fn order_statistic(&self, rank: u64) -> Option<f64> {
        if rank == 0 {
            return None;
        }
        let mut seen = 0u64;
        for &(lower, count) in &self.bins {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(lower);
            }
        }
        None
    }

    /// Samples strictly above `value` (bins whose lower bound is above it, and the overflow).
    pub fn above(&self, value: f64) -> u64 {
        self.bins
            .iter()
            .filter(|b| b.0 > value)
            .fold(self.overflow, |a, b| a.saturating_add(b.1))
    }
}

/// The CDF of Binomial(n, q) at every k of the window that holds all but a negligible part
/// of its mass: `(first k, cdf values)`. Exact up to double rounding: the weights are built
/// from the mode by the pmf ratio `(n − k)/(k + 1) · q/(1 − q)` and normalised by their sum,
/// so no factorial or gamma function is needed and n in the billions costs only the window.
fn binomial_cdf_window(n: u64, q: f64) -> (u64, Vec<f64>) {
    let mode = ((n as f64 + 1.0) * q).floor().min(n as f64) as u64;
    let ratio_up = |k: u64| (n - k) as f64 / (k + 1) as f64 * q / (1.0 - q);
    // Walk down and up from the mode until the weight is negligible (1e-18 of the mode's).
    let mut down = Vec::new();
    let (mut k, mut w) = (mode, 1.0f64);
    while k > 0 {
        w /= ratio_up(k - 1);
        if w < 1e-18 {
            break;
        }
        k -= 1;
        down.push(w);
    }
    let first = mode - down.len() as u64;
    let mut weights: Vec<f64> = down.into_iter().rev().collect();
    weights.push(1.0);
    let (mut k, mut w) = (mode, 1.0f64);
    while k < n {
        w *= ratio_up(k);
        if w < 1e-18 {
            break;
        }
        k += 1;
        weights.push(w);
    }
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let cdf = weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect();
    (first, cdf)
}

/// The ranks `(l, u)` (1-based) of the distribution-free `confidence` interval
/// `[X₍ₗ₎, X₍ᵤ₎]` for the `q`-quantile of `n` samples, and its exact coverage. `l = 0`
/// means no lower bound is possible; `u = n + 1` no upper bound (too few samples).
pub fn quantile_interval(n: u64, q: f64, confidence: f64) -> (u64, u64, f64) {
    if n == 0 {
        return (0, 1, 1.0);
    }
    if n > MAX_SAMPLES {
        // Beyond any real run (a report.json is input): both bounds unknown, never a guess.
        return (0, n.saturating_add(1), 0.0);
    }
    let alpha = 1.0 - confidence;
    let (first, cdf) = binomial_cdf_window(n, q);
    // F(k) for any k: 0 below the window, 1 above it.
    let f = |k: i128| -> f64 {
        if k < i128::from(first) {
            0.0
        } else {
            let i = (k - i128::from(first)) as usize;
            cdf.get(i).copied().unwrap_or(1.0)
        }
    };
    // Largest l ≥ 1 with F(l − 1) ≤ α/2; 0 when even F(0) is above it.
    let mut l: u64 = 0;
    let (lo, hi) = (first.max(1), (first + cdf.len() as u64 + 1).min(n));
    if f(0) <= alpha / 2.0 {
        l = 1;
        for cand in lo..=hi {
            if f(i128::from(cand) - 1) <= alpha / 2.0 {
                l = cand;
            } else {
                break;
            }
        }
    }
    // Smallest u ≤ n with F(u − 1) ≥ 1 − α/2; n + 1 when none.
    let mut u = n + 1;
    for cand in first.max(1)..=n.min(first + cdf.len() as u64 + 1) {
        if f(i128::from(cand) - 1) >= 1.0 - alpha / 2.0 {
            u = cand;
            break;
        }
    }
    let coverage = f(i128::from(u) - 1) - if l == 0 { 0.0 } else { f(i128::from(l) - 1) };
    (l, u, coverage)
}

/// The chance, if BASE and NEW come from one distribution, that NEW has at least `k`
/// samples above BASE's maximum: `∏ᵢ₌₀..ₖ₋₁ (n_new − i)/(n_base + n_new − i)`.
pub fn max_shift_p(k: u64, n_base: u64, n_new: u64) -> f64 {
    let total = n_base.saturating_add(n_new);
    let mut p = 1.0f64;
    for i in 0..k.min(n_new) {
        p *= (n_new - i) as f64 / (total - i) as f64;
        if p < 1e-300 {
            return 0.0;
        }
    }
    if k > n_new { 0.0 } else { p }
}

/// A quantile of one run with its interval (µs; `None`: unknown, see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub value: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl Estimate {
    pub fn of(d: &Distribution, q: f64, confidence: f64) -> Estimate {
        let n = d.samples();
        if n > MAX_SAMPLES {
            // Counts no run produces (see MAX_SAMPLES): nothing is read from them.
            return Estimate {
                value: None,
                lower: None,
                upper: None,
            };
        }
        let (l, u, _) = quantile_interval(n, q, confidence);
        let point = ((n as f64 * q).ceil() as u64).max(1);
        Estimate {
            value: d.order_statistic(point),
            lower: d.order_statistic(l),
            upper: (u <= n).then(|| d.order_statistic(u)).flatten(),
        }
    }
}

/// One metric of one scenario in both runs, and the word.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChange {
    /// `p50`, `p99`, `p99.9` or `max`.
    pub metric: &'static str,
    pub base: Estimate,
    pub new: Estimate,
    pub change: Change,
    /// Why this word, with the numbers.
    pub why: String,
}

fn fmt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.0}"))
}

fn fmt_interval(e: &Estimate) -> String {
    format!(
        "{} µs [{}, {}]",
        fmt_us(e.value),
        fmt_us(e.lower),
        fmt_us(e.upper)
    )
}

/// Compares one quantile: REGRESSED when NEW's lower bound is above BASE's upper bound,
/// IMPROVED when NEW's upper bound is below BASE's lower bound. An unknown bound never
/// decides.
pub fn compare_quantile(
    name: &'static str,
    q: f64,
    base: &Distribution,
    new: &Distribution,
) -> MetricChange {
    compare_quantile_with(name, q, base, new, 0.0)
}

/// [`compare_quantile`] with a noise threshold (a fraction, see [`compare_with`]): the
/// intervals must be apart by more than `noise` × BASE's bound.
pub fn compare_quantile_with(
    name: &'static str,
    q: f64,
    base: &Distribution,
    new: &Distribution,
    noise: f64,
) -> MetricChange {
    let b = Estimate::of(base, q, CONFIDENCE);
    let n = Estimate::of(new, q, CONFIDENCE);
    let above = matches!((n.lower, b.upper), (Some(nl), Some(bu)) if nl > bu * (1.0 + noise));
    let below = matches!((n.upper, b.lower), (Some(nu), Some(bl)) if nu * (1.0 + noise) < bl);
    let change = if above {
        Change::Regressed
    } else if below {
        Change::Improved
    } else {
        Change::Unchanged
    };
    let why = format!(
        "{name} {} → {} ({} % intervals {}{})",
        fmt_interval(&b),
        fmt_interval(&n),
        CONFIDENCE * 100.0,
        match change {
            Change::Regressed => "apart: NEW above",
            Change::Improved => "apart: NEW below",
            Change::Unchanged if noise > 0.0 => "within the noise threshold",
            Change::Unchanged => "overlap",
        },
        noise_note(noise)
    );
    MetricChange {
        metric: name,
        base: b,
        new: n,
        change,
        why,
    }
}

/// `, noise threshold N %` when there is one.
fn noise_note(noise: f64) -> String {
    if noise > 0.0 {
        format!(", noise threshold {:.0} %", noise * 100.0)
    } else {
        String::new()
    }
}

/// Compares the maxima by exchangeability ([`max_shift_p`]).
pub fn compare_max(base: &Distribution, new: &Distribution) -> MetricChange {
    compare_max_with(base, new, 0.0)
}

/// [`compare_max`] with a noise threshold: only samples beyond the other run's max by more
/// than `noise` × that max count (fewer such samples: the test stays conservative).
pub fn compare_max_with(base: &Distribution, new: &Distribution, noise: f64) -> MetricChange {
    let (nb, nn) = (base.samples(), new.samples());
    let point = |d: &Distribution| Estimate {
        value: d.max_us,
        lower: None,
        upper: None,
    };
    let alpha = 1.0 - CONFIDENCE;
    let (mut change, mut why) = (
        Change::Unchanged,
        format!(
            "max {} µs → {} µs (one extreme each: not apart at {} %)",
            base.max_us.map_or("?".into(), |v| format!("{v:.1}")),
            new.max_us.map_or("?".into(), |v| format!("{v:.1}")),
            CONFIDENCE * 100.0
        ),
    );
    if let (Some(bmax), Some(nmax)) = (base.max_us, new.max_us) {
        let up = new.above(bmax * (1.0 + noise));
        let down = base.above(nmax * (1.0 + noise));
        let p_up = max_shift_p(up, nb, nn);
        let p_down = max_shift_p(down, nn, nb);
        if up > 0 && p_up < alpha {
            change = Change::Regressed;
            why = format!(
                "max {bmax:.1} µs → {nmax:.1} µs: {up} NEW sample(s) above BASE's max, p = {p_up:.2e} if both were one distribution{}",
                noise_note(noise)
            );
        } else if down > 0 && p_down < alpha {
            change = Change::Improved;
            why = format!(
                "max {bmax:.1} µs → {nmax:.1} µs: {down} BASE sample(s) above NEW's max, p = {p_down:.2e} if both were one distribution{}",
                noise_note(noise)
            );
        }
    }
    MetricChange {
        metric: "max",
        base: point(base),
        new: point(new),
        change,
        why,
    }
}

/// The word of several: REGRESSED if any regressed, else IMPROVED if any improved, else
/// UNCHANGED.
pub fn overall(changes: impl IntoIterator<Item = Change>) -> Change {
    let mut out = Change::Unchanged;
    for c in changes {
        match c {
            Change::Regressed => return Change::Regressed,
            Change::Improved => out = Change::Improved,
            Change::Unchanged => {}
        }
    }
    out
}

/// One scenario in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioComparison {
    pub name: String,
    pub base_samples: u64,
    pub new_samples: u64,
    pub metrics: Vec<MetricChange>,
    /// Its metrics' word ([`overall`]).
    pub change: Change,
    /// Key fields of this scenario that differ (backend, interval, CPUs).
    pub differences: Vec<String>,
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub scenarios: Vec<ScenarioComparison>,
    /// Scenarios in only one run (named with the run).
    pub unmatched: Vec<String>,
    /// Key fields that make the runs not comparable (board, machine), each
    /// `field: BASE → NEW`; the scenarios' own are in [`ScenarioComparison::differences`].
    pub mismatches: Vec<String>,
    /// Key fields that differ as expected between builds (kernel release, build, command
    /// line).
    pub changes: Vec<String>,
    /// The scenarios' word ([`overall`]; UNCHANGED when none was compared).
    pub change: Change,
    /// The noise threshold the words were given with (a fraction; [`compare_with`]).
    pub noise: f64,
}

fn differ(out: &mut Vec<String>, field: &str, base: &str, new: &str) {
    if base != new {
        out.push(format!("{field}: {base:?} → {new:?}"));
    }
}

/// Reads a noise threshold as the command lines take it: a percentage, `25` or `25%`, from
/// 0 to 1000; returns the fraction (0.25).
pub fn parse_noise_threshold(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(v) if (0.0..=1000.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!(
            "{text:?} is not a percentage from 0 to 1000 (e.g. 25 or 25%)"
        )),
    }
}

/// How a missing optional key field reads (reports from before the field, or a kernel
/// without `/proc/config.gz`).
const NOT_RECORDED: &str = "(not recorded)";

/// The run-level key fields that differ between BASE and NEW, each `field: BASE → NEW`:
/// `(mismatches, changes)`. Mismatches (board, machine) mean the runs did not measure the
/// same thing; changes (kernel release, build, configuration, command line, profile, engine)
/// are what a build-to-build comparison is for, named so the reader knows what moved.
pub fn key_differences(base: &Report, new: &Report) -> (Vec<String>, Vec<String>) {
    let mut mismatches = Vec::new();
    let board = |r: &Report| r.board.as_ref().map(|b| b.name.clone()).unwrap_or_default();
    differ(&mut mismatches, "board", &board(base), &board(new));
    differ(
        &mut mismatches,
        "machine",
        &base.host.machine,
        &new.host.machine,
    );
    let optional = |v: &Option<String>| v.clone().unwrap_or_else(|| NOT_RECORDED.into());
    let (b, n) = (&base.host, &new.host);
    let mut changes = Vec::new();
    for (field, bv, nv) in [
        (
            "kernel release",
            b.kernel_release.clone(),
            n.kernel_release.clone(),
        ),
        (
            "kernel build",
            b.kernel_version.clone(),
            n.kernel_version.clone(),
        ),
        (
            "kernel config sha256",
            optional(&b.kernel_config_sha256),
            optional(&n.kernel_config_sha256),
        ),
        ("kernel command line", b.cmdline.clone(), n.cmdline.clone()),
        (
            "profile sha256",
            optional(&base.profile.sha256),
            optional(&new.profile.sha256),
        ),
        (
            "engine",
            format!("{} {}", base.tool.name, base.tool.version),
            format!("{} {}", new.tool.name, new.tool.version),
        ),
    ] {
        differ(&mut changes, field, &bv, &nv);
    }
    (mismatches, changes)
}

/// Compares every scenario the two runs share. Scenarios without samples compare nothing
/// (UNCHANGED, with no interval).
pub fn compare(base: &Report, new: &Report) -> Comparison {
    compare_with(base, new, 0.0)
}

/// [`compare`] with a noise threshold `noise` (a fraction, 0.25 = 25 %): a shift is a word
/// only when the intervals are apart by more than that share of BASE's bound (for max: when
/// samples lie that far beyond the other run's max). The intervals answer "could sampling
/// alone explain this?", which assumes both runs drew from one distribution; a board whose
/// environment moves between runs (an emulator on a shared host) breaks that assumption,
/// and the threshold says how much movement is not worth a word (criterion's
/// `noise_threshold` is the same idea). 0 (the default) trusts the intervals alone.
pub fn compare_with(base: &Report, new: &Report, noise: f64) -> Comparison {
    let noise = if noise.is_finite() {
        noise.max(0.0)
    } else {
        0.0
    };
    let (mismatches, key) = key_differences(base, new);
    let mut scenarios = Vec::new();
    let mut unmatched = Vec::new();
    for b in &base.scenarios {
        let Some(n) = new.scenarios.iter().find(|n| n.name == b.name) else {
            unmatched.push(format!("{} (only in BASE)", b.name));
            continue;
        };
        let mut differences = Vec::new();
        differ(&mut differences, "backend", &b.backend, &n.backend);
        differ(
            &mut differences,
            "interval_us",
            &b.interval_us.to_string(),
            &n.interval_us.to_string(),
        );
        differ(&mut differences, "cpus", &b.cpus, &n.cpus);
        let (db, dn) = (Distribution::of(b), Distribution::of(n));
        let mut metrics: Vec<MetricChange> = QUANTILES
            .iter()
            .map(|&(name, q)| compare_quantile_with(name, q, &db, &dn, noise))
            .collect();
        metrics.push(compare_max_with(&db, &dn, noise));
        let change = if db.samples() == 0 || dn.samples() == 0 {
            Change::Unchanged
        } else {
            overall(metrics.iter().map(|m| m.change))
        };
        scenarios.push(ScenarioComparison {
            name: b.name.clone(),
            base_samples: db.samples(),
            new_samples: dn.samples(),
            metrics,
            change,
            differences,
        });
    }
    for n in &new.scenarios {
        if !base.scenarios.iter().any(|b| b.name == n.name) {
            unmatched.push(format!("{} (only in NEW)", n.name));
        }
    }
    let change = overall(scenarios.iter().map(|s| s.change));
    Comparison {
        scenarios,
        unmatched,
        mismatches,
        changes: key,
        change,
        noise,
    }
}

impl Comparison {
    /// Whether the runs are like with like: same run key, and each shared scenario measured
    /// the same way.
    pub fn like_with_like(&self) -> bool {
        self.mismatches.is_empty() && self.scenarios.iter().all(|s| s.differences.is_empty())
    }

    /// The terminal rendering: the word per scenario with each metric's numbers and interval.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for d in &self.mismatches {
            s += &format!("not like with like: {d}\n");
        }
        for d in &self.changes {
            s += &format!("changed: {d}\n");
        }
        if self.noise > 0.0 {
            s += &format!(
                "noise threshold: {:.0} % (shifts below it are no word)\n",
                self.noise * 100.0
            );
        }
        for sc in &self.scenarios {
            s += &format!(
                "{}: {} ({} → {} samples)\n",
                sc.name, sc.change, sc.base_samples, sc.new_samples
            );
            for d in &sc.differences {
                s += &format!("  not like with like: {d}\n");
            }
            for m in &sc.metrics {
                s += &format!("  {:<9} {}\n", m.change.as_str(), m.why);
            }
        }
        for u in &self.unmatched {
            s += &format!("not compared: {u}\n");
        }
        s += &format!("compare: {}\n", self.change);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binomial CDF against hand-computed values: Binomial(10, 0.5) F(1) = 11/1024,
    /// F(8) = 1013/1024.
    #[test]
    fn binomial_cdf_is_exact_on_small_cases() {
        let (first, cdf) = binomial_cdf_window(10, 0.5);
        assert_eq!(first, 0);
        assert!((cdf[1] - 11.0 / 1024.0).abs() < 1e-12);
        assert!((cdf[8] - 1013.0 / 1024.0).abs() < 1e-12);
        assert!((cdf[10] - 1.0).abs() < 1e-12);
    }

    /// The textbook case: the median of 10 samples at 95 % is [X₍₂₎, X₍₉₎], coverage
    /// 1 − 2·11/1024 = 0.978515625.
    #[test]
    fn median_interval_of_ten() {
        let (l, u, coverage) = quantile_interval(10, 0.5, 0.95);
        assert_eq!((l, u), (2, 9));
        assert!(
            (coverage - (1.0 - 22.0 / 1024.0)).abs() < 1e-12,
            "{coverage}"
        );
        // Too few samples for a p99 interval: no lower-rank problem, but no upper bound.
        let (l, u, _) = quantile_interval(10, 0.99, 0.95);
        assert_eq!(u, 11, "no upper bound from 10 samples");
        assert!(l <= 10);
    }

    /// Large n: p99 of 100 000 samples has ranks near 99 000 ± 1.96·√(990) ≈ ±62, and the
    /// coverage is at least 95 %.
    #[test]
    fn large_sample_ranks_are_near_the_normal_ones() {
        let (l, u, coverage) = quantile_interval(100_000, 0.99, 0.95);
        assert!(coverage >= 0.95, "{coverage}");
        assert!((l as i64 - 98_939).abs() <= 4, "{l}");
        assert!((u as i64 - 99_063).abs() <= 4, "{u}");
        let (l, u, coverage) = quantile_interval(2_000_000_000, 0.5, 0.95);
        assert!(coverage >= 0.95 && l < 1_000_000_000 && u > 1_000_000_000);
    }

    /// The ranks and coverage scipy gives for the same rule (`scipy.stats.binom.cdf`, scipy
    /// 1.x: largest l with F(l−1) ≤ 0.025, smallest u with F(u−1) ≥ 0.975).
    #[test]
    fn ranks_agree_with_scipy() {
        for (n, q, l, u, coverage) in [
            (100, 0.5, 40, 61, 0.964_799_799_782_295_2),
            (1000, 0.99, 983, 997, 0.976_094_763_497_977),
            (5000, 0.99, 4936, 4964, 0.953_740_317_922_733_2),
            (30_000, 0.999, 29_959, 29_981, 0.956_124_753_464_127_1),
            (100_000, 0.99, 98_938, 99_062, 0.951_233_861_296_791_4),
            (1_000_000, 0.999, 998_938, 999_062, 0.950_206_631_845_901_2),
        ] {
            let got = quantile_interval(n, q, 0.95);
            assert_eq!((got.0, got.1), (l, u), "n={n} q={q}");
            assert!((got.2 - coverage).abs() < 1e-9, "n={n} q={q}: {}", got.2);
        }
    }

    /// Coverage by simulation: for a known distribution (uniform 0..1000 µs, true p99 =
    /// 990 µs), the 95 % interval from 2000 samples covers the true quantile in about 95 %
    /// of 400 seeded runs (at least the binomial 95 % band's lower end).
    #[test]
    fn simulated_coverage() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            // xorshift64*: deterministic, no dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (runs, n) = (400, 2000);
        let mut covered = 0;
        for _ in 0..runs {
            let mut bins = std::collections::BTreeMap::<u64, u64>::new();
            for _ in 0..n {
                *bins.entry((next() * 1000.0).floor() as u64).or_default() += 1;
            }
            let d = Distribution {
                bins: bins.into_iter().map(|(k, c)| (k as f64, c)).collect(),
                overflow: 0,
                max_us: None,
            };
            let e = Estimate::of(&d, 0.99, 0.95);
            // The true p99 990 µs lies in bucket 990: covered when lower ≤ 990 ≤ upper.
            if e.lower.is_some_and(|l| l <= 990.0) && e.upper.is_some_and(|u| u >= 990.0) {
                covered += 1;
            }
        }
        // Binomial(400, 0.95) has sd 4.4: 95 % − 3 sd = 367; buckets only widen the interval.
        assert!(covered >= 367, "covered {covered} of {runs}");
    }

    #[test]
    fn words_add_up() {
        use Change::*;
        assert_eq!(overall([Improved, Unchanged]), Improved);
        assert_eq!(overall([Improved, Regressed, Unchanged]), Regressed);
        assert_eq!(overall([]), Unchanged);
    }

    #[test]
    fn max_exchangeability() {
        // One sample of equal runs above the other's max: p = ½ (never significant).
        assert!((max_shift_p(1, 1000, 1000) - 0.5).abs() < 1e-3);
        // Five: about 1/32.
        assert!((max_shift_p(5, 1000, 1000) - 0.03125).abs() < 1e-3);
        assert_eq!(max_shift_p(0, 10, 10), 1.0);
        assert_eq!(max_shift_p(11, 10, 10), 0.0);
    }

    /// A histogram of latencies drawn from `f(u)` for u on a fine uniform grid (a
    /// deterministic stand-in for a sample of the distribution `f` is the quantile
    /// function of).
    pub(crate) fn dist(n: u64, f: impl Fn(f64) -> f64) -> Distribution {
        let mut bins: std::collections::BTreeMap<u64, u64> = Default::default();
        let mut max: f64 = 0.0;
        for i in 0..n {
            let v = f((i as f64 + 0.5) / n as f64);
            max = max.max(v);
            *bins.entry(v.floor() as u64).or_default() += 1;
        }
        Distribution {
            bins: bins.into_iter().map(|(k, c)| (k as f64, c)).collect(),
            overflow: 0,
            max_us: Some(max),
        }
    }

    /// An exponential-tailed latency: 5 µs floor, mean excess 4 µs (p99 ≈ 23 µs).
    fn latency(scale: f64) -> impl Fn(f64) -> f64 {
        move |u: f64| scale * (5.0 - 4.0 * (1.0 - u).ln())
    }

    #[test]
    fn identical_runs_are_unchanged() {
        let a = dist(200_000, latency(1.0));
        for &(name, q) in &QUANTILES {
            assert_eq!(compare_quantile(name, q, &a, &a).change, Change::Unchanged);
        }
        assert_eq!(compare_max(&a, &a).change, Change::Unchanged);
    }

    /// A 10 % shift of the whole distribution (p99 23 → 25.4 µs) is REGRESSED at 200 000
    /// samples, and the reverse is IMPROVED.
    #[test]
    fn a_ten_percent_p99_shift_is_detected() {
        let base = dist(200_000, latency(1.0));
        let new = dist(200_000, latency(1.1));
        let m = compare_quantile("p99", 0.99, &base, &new);
        assert_eq!(m.change, Change::Regressed, "{}", m.why);
        assert!(m.why.starts_with("p99 23 µs ["), "{}", m.why);
        assert_eq!(
            compare_quantile("p99", 0.99, &new, &base).change,
            Change::Improved
        );
        // Too few samples to see it: UNCHANGED, never a guess.
        let small_base = dist(300, latency(1.0));
        let small_new = dist(300, latency(1.1));
        assert_eq!(
            compare_quantile("p99", 0.99, &small_base, &small_new).change,
            Change::Unchanged
        );
    }

    #[test]
    fn order_statistics_read_the_histogram() {
        let d = Distribution {
            bins: vec![(1.0, 2), (3.0, 3)],
            overflow: 1,
            max_us: Some(9000.0),
        };
        assert_eq!(d.samples(), 6);
        assert_eq!(d.order_statistic(1), Some(1.0));
        assert_eq!(d.order_statistic(3), Some(3.0));
        assert_eq!(d.order_statistic(5), Some(3.0));
        assert_eq!(d.order_statistic(6), None, "in the overflow");
        assert_eq!(d.order_statistic(0), None);
        assert_eq!(d.above(1.0), 4);
        // Hostile counts saturate instead of overflowing.
        let huge = Distribution {
            bins: vec![(1.0, u64::MAX), (2.0, u64::MAX)],
            overflow: u64::MAX,
            max_us: None,
        };
        assert_eq!(huge.samples(), u64::MAX);
        assert_eq!(huge.above(0.0), u64::MAX);
        assert_eq!(
            quantile_interval(u64::MAX, 0.5, 0.95).0,
            0,
            "unknown, not computed"
        );
        let e = Estimate::of(&huge, 0.99, 0.95);
        assert_eq!((e.lower, e.upper), (None, None));
        assert_eq!(
            max_shift_p(3, u64::MAX, u64::MAX),
            max_shift_p(3, u64::MAX, u64::MAX)
        );
    }

    fn golden() -> Report {
        serde_json::from_str(include_str!("../golden/pass.json")).unwrap()
    }

    /// Each field of the key, changed alone, is named once, in the right list: the
    /// measurement's own (board, machine; backend, interval, CPUs per scenario) make the runs
    /// unlike; the build's (kernel release, build, config, command line, profile, engine) are
    /// named changes.
    #[test]
    fn every_key_field_that_differs_is_named() {
        type Edit = fn(&mut Report);
        let cases: [(&str, Edit, bool); 11] = [
            (
                "board",
                |r| r.board.as_mut().unwrap().name = "rpi4".into(),
                true,
            ),
            ("machine", |r| r.host.machine = "aarch64".into(), true),
            (
                "kernel release",
                |r| r.host.kernel_release = "6.13.0-rros".into(),
                false,
            ),
            (
                "kernel build",
                |r| r.host.kernel_version = "#2 SMP".into(),
                false,
            ),
            (
                "kernel config sha256",
                |r| r.host.kernel_config_sha256 = Some("ab".repeat(32)),
                false,
            ),
            (
                "kernel command line",
                |r| r.host.cmdline.push_str(" quiet"),
                false,
            ),
            (
                "profile sha256",
                |r| r.profile.sha256 = Some("cd".repeat(32)),
                false,
            ),
            ("engine", |r| r.tool.version = "0.2.0".into(), false),
            ("backend", |r| r.scenarios[0].backend = "evl".into(), true),
            ("interval_us", |r| r.scenarios[0].interval_us += 100, true),
            ("cpus", |r| r.scenarios[0].cpus = "2-3".into(), true),
        ];
        let base = golden();
        let same = compare(&base, &base);
        assert!(same.like_with_like() && same.changes.is_empty() && same.mismatches.is_empty());
        for (field, edit, unlike) in cases {
            let mut new = golden();
            edit(&mut new);
            let c = compare(&base, &new);
            let named: Vec<&String> = c
                .mismatches
                .iter()
                .chain(&c.changes)
                .chain(c.scenarios.iter().flat_map(|s| &s.differences))
                .collect();
            assert_eq!(named.len(), 1, "{field}: {named:?}");
            assert!(
                named[0].starts_with(&format!("{field}: ")),
                "{field}: {named:?}"
            );
            assert_eq!(c.like_with_like(), !unlike, "{field}");
            assert!(c.render().contains(named[0].as_str()), "{field} shown");
        }
    }

    /// A key field one report lacks (an older report, a kernel without /proc/config.gz) is
    /// named as not recorded; both lacking it is no difference.
    #[test]
    fn an_unrecorded_key_field_is_named_not_guessed() {
        let mut base = golden();
        base.host.kernel_config_sha256 = None;
        base.profile.sha256 = None;
        let mut new = golden();
        let c = compare(&base, &new);
        assert_eq!(c.changes.len(), 2, "{:?}", c.changes);
        assert!(
            c.changes.iter().all(|d| d.contains(NOT_RECORDED)),
            "{:?}",
            c.changes
        );
        new.host.kernel_config_sha256 = None;
        new.profile.sha256 = None;
        assert!(compare(&base, &new).changes.is_empty());
    }

    /// A noise threshold keeps a small real shift from being a word and lets a large one
    /// through: 10 % at 200 000 samples is REGRESSED bare, UNCHANGED within 25 %; a tripling
    /// is REGRESSED either way, and the threshold is named.
    #[test]
    fn a_noise_threshold_only_silences_shifts_below_it() {
        let base = dist(200_000, latency(1.0));
        let ten = dist(200_000, latency(1.1));
        let triple = dist(200_000, latency(3.0));
        let m = compare_quantile_with("p99", 0.99, &base, &ten, 0.25);
        assert_eq!(m.change, Change::Unchanged, "{}", m.why);
        assert!(
            m.why
                .ends_with("within the noise threshold, noise threshold 25 %)"),
            "{}",
            m.why
        );
        let m = compare_quantile_with("p99", 0.99, &base, &triple, 0.25);
        assert_eq!(m.change, Change::Regressed, "{}", m.why);
        assert_eq!(
            compare_quantile_with("p50", 0.5, &triple, &base, 0.25).change,
            Change::Improved
        );
        assert_eq!(
            compare_max_with(&base, &triple, 0.25).change,
            Change::Regressed
        );
        assert_eq!(
            compare_max_with(&base, &ten, 0.25).change,
            Change::Unchanged
        );
        // Hostile thresholds are clamped, never a panic.
        let r = golden();
        for noise in [f64::NAN, -1.0, f64::INFINITY] {
            assert_eq!(compare_with(&r, &r, noise).change, Change::Unchanged);
        }
    }

    #[test]
    fn noise_thresholds_read_as_percentages() {
        assert_eq!(parse_noise_threshold("25"), Ok(0.25));
        assert_eq!(parse_noise_threshold("50%"), Ok(0.5));
        assert_eq!(parse_noise_threshold("0"), Ok(0.0));
        for bad in ["-1", "NaN", "inf", "1001", "x", ""] {
            assert!(parse_noise_threshold(bad).is_err(), "{bad}");
        }
    }
}
