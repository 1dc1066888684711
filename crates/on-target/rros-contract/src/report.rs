//! The run report (`report.json`, schema `rros-validate/1`) and the verdict rules.
//!
//! Every other output (JUnit, SVG, Markdown, Prometheus, LAVA, the terminal) is rendered from
//! this one structure, so they cannot disagree. Latencies are in µs (floating point, from the
//! engine's ns); percentiles are lower bounds of 1 µs histogram buckets.
//!
//! # Versions
//!
//! `schema` is `rros-validate/<major>`. Adding a field keeps the major: readers
//! ([`Report::from_json`]) ignore fields they do not know. Removing or renaming a field, or
//! changing what one means, bumps the major, and a reader refuses a major it does not know.
//! The fields a verdict is decided with (`verdict`, `scenarios[]` with their `verdict`,
//! `samples`, `min_samples`, `errors`, the audit's findings with their `severity`, and the
//! load proof `loads`' `cpu_s`/`cpu_share`/`program_cpu_s`/`programs`) are required: a report
//! without them is refused rather than guessed at. `schema/report.schema.json` states the same
//! and is checked against the golden reports (`golden/`).

use crate::ContractError;
use serde::{Deserialize, Serialize};

/// The `schema` value of `report.json`.
pub const SCHEMA: &str = "rros-validate/1";
/// What every version of the schema starts with; the rest is the major version.
const SCHEMA_FAMILY: &str = "rros-validate/";

/// PASS / INCONCLUSIVE / FAIL / ERROR. Ordered by gravity, so the verdict of a run is the
/// maximum. Only PASS is passed: every consumer treats the other three as not passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Measured, within budget, audit clean, and the samples prove the scenario's claim.
    Pass,
    /// Within budget, but too few samples to prove the scenario's claim ([`crate::claim`]):
    /// not passed, not failed. Exit code 3.
    Inconclusive,
    /// The board is not good: a budget or an isolation rule is broken.
    Fail,
    /// Could not measure or could not read: the tooling broke, not (necessarily) the board.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }

    /// 0 PASS / 1 FAIL / 2 ERROR / 3 INCONCLUSIVE (3 came last, so the older codes kept
    /// their meaning).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Inconclusive => 3,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }

    /// `PASS` / `INCONCLUSIVE` / `FAIL` / `ERROR`, exactly.
    pub fn from_word(word: &str) -> Option<Verdict> {
        match word {
            "PASS" => Some(Verdict::Pass),
            "INCONCLUSIVE" => Some(Verdict::Inconclusive),
            "FAIL" => Some(Verdict::Fail),
            "ERROR" => Some(Verdict::Error),
            _ => None,
        }
    }

    /// The verdict an exit code of `rros-validate` stands for.
    pub fn from_exit_code(code: i32) -> Option<Verdict> {
        match code {
            0 => Some(Verdict::Pass),
            1 => Some(Verdict::Fail),
            2 => Some(Verdict::Error),
            3 => Some(Verdict::Inconclusive),
            _ => None,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// `YYYYmmddTHHMMSSZ-<board>`.
    pub run_id: String,
    pub verdict: Verdict,
    /// One sentence: why this verdict.
    pub summary: String,
    /// The run was stopped by a signal before it finished.
    pub interrupted: bool,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub tool: Tool,
    pub host: Host,
    pub profile: ProfileRef,
    /// `None` when the profile could not be loaded.
    pub board: Option<BoardInfo>,
    pub options: RunOptions,
    pub audit: AuditReport,
    pub scenarios: Vec<ScenarioReport>,
    /// Everything that made the run ERROR, each with what to do.
    pub errors: Vec<ErrorEntry>,
    /// Things that did not change the verdict but weaken what the run proves.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub kernel_release: String,
    pub kernel_version: String,
    pub machine: String,
    /// `/sys/kernel/realtime` reads 1 (PREEMPT_RT).
    pub preempt_rt: bool,
    /// `/proc/cmdline`.
    pub cmdline: String,
    /// The real-time core beside Linux and the ABI it serves, as its sysfs control device
    /// shows it (rros-validate fills it from rros-rtcore's detection); absent without a core (PREEMPT_RT, a plain kernel) and
    /// in reports written before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<CoreInfo>,
    /// SHA-256 (lowercase hex) of the running kernel's configuration: the decompressed text
    /// of `/proc/config.gz`. Part of the comparison key ([`crate::compare`]): two builds of
    /// one release with another configuration are named apart. Absent where the kernel does
    /// not expose its configuration (`CONFIG_IKCONFIG_PROC` off) and in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_config_sha256: Option<String>,
}

/// A dual kernel's real-time core, named in the report so a result says which kernel ABI it
/// was measured on (`uname -r` / `uname -v` name the Linux half: [`Host::kernel_release`],
/// [`Host::kernel_version`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreInfo {
    /// `evl` (Dovetail + EVL) or `rros` (the RROS core).
    pub name: String,
    /// The ABI level the running core serves (`EVL_ABI_LEVEL`), from its `abi` attribute;
    /// `None` when the core has no such attribute.
    pub abi: Option<u32>,
    /// The sysfs folder it was read from.
    pub sysfs: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileRef {
    pub path: String,
    /// SHA-256 (lowercase hex) of the profile file's bytes, as the run read them. Part of
    /// the comparison key ([`crate::compare`]); absent when the file could not be read and
    /// in older reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoardInfo {
    pub name: String,
    pub description: String,
    pub machine: String,
    pub arch: String,
    pub flavour: String,
    pub cpus: BoardCpus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoardCpus {
    pub count: u32,
    pub housekeeping: String,
    pub isolated: String,
    pub oob: String,
    /// Where the latency is measured: the OOB CPUs of a dual kernel, else the isolated ones.
    pub measured: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOptions {
    /// `--duration` (seconds), overriding every scenario's.
    pub duration_override_s: Option<f64>,
    /// `--scenario` names (empty = all).
    pub scenarios: Vec<String>,
    /// `--backend` as given: `auto`, `posix` or `evl`.
    pub backend: String,
    pub audit_only: bool,
    /// Per-sample probability the tail estimate is made at (`None` = no estimate).
    pub evt_probability: Option<f64>,
}

/// The isolation audit, as far as it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditReport {
    /// PASS (clean or warnings only), FAIL (a finding breaks the profile), ERROR (could not read).
    pub verdict: Verdict,
    /// The running kernel as the audit saw it.
    pub kernel: Option<String>,
    pub checks: Vec<CheckReport>,
    /// All findings of all checks, flat.
    pub findings: Vec<Finding>,
    /// Why the audit could not run.
    pub error: Option<String>,
}

impl AuditReport {
    /// An audit that did not run, with the reason (counts as ERROR).
    pub fn failed(error: String) -> AuditReport {
        AuditReport {
            verdict: Verdict::Error,
            kernel: None,
            checks: Vec::new(),
            findings: Vec::new(),
            error: Some(error),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Finding,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// Stable rule id.
    pub rule: String,
    pub title: String,
    pub outcome: Outcome,
    /// Why it was skipped.
    pub reason: Option<String>,
    pub findings: Vec<Finding>,
}

/// How bad a finding is; ordered, so the worst of several is the maximum. The one severity of
/// the project: the audit, the profile checks and the report all use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Weakens the result; does not change the verdict.
    Warning,
    /// Breaks the profile: the run FAILs.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One audit finding: a rule the live system breaks (or weakens), with the evidence and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id (kebab-case).
    pub rule: String,
    pub severity: Severity,
    /// What was read, and from which file (as the path is on the target).
    pub evidence: String,
    /// The exact command or setting that fixes it.
    pub fix: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}[{}] {}\n    fix: {}",
            self.severity, self.rule, self.evidence, self.fix
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// `profile`, `options`, `audit`, `output`, `run`, or `scenario:<name>`: an
    /// [`ErrorScope`] as text.
    pub scope: String,
    pub message: String,
}

impl ErrorEntry {
    /// An entry about `scope`.
    pub fn new(scope: ErrorScope<'_>, message: impl Into<String>) -> ErrorEntry {
        ErrorEntry {
            scope: scope.to_string(),
            message: message.into(),
        }
    }

    /// Whether the entry is about `scope`.
    pub fn is(&self, scope: ErrorScope<'_>) -> bool {
        self.scope == scope.to_string()
    }
}

/// What an [`ErrorEntry`] is about. The report carries it as text (`scope`), so readers of
/// other languages need no enum; code that writes or decides with it uses this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorScope<'a> {
    /// The board profile could not be loaded.
    Profile,
    /// The command line asks for something the profile lacks (an unknown scenario).
    Options,
    /// The isolation audit could not read the system.
    Audit,
    /// The reports could not be written.
    Output,
    /// The run as a whole (interrupted, measured nothing).
    Run,
    /// One scenario could not be measured.
    Scenario(&'a str),
}

impl std::fmt::Display for ErrorScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorScope::Profile => f.write_str("profile"),
            ErrorScope::Options => f.write_str("options"),
            ErrorScope::Audit => f.write_str("audit"),
            ErrorScope::Output => f.write_str("output"),
            ErrorScope::Run => f.write_str("run"),
            ErrorScope::Scenario(name) => write!(f, "scenario:{name}"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Threshold {
    pub max_us: f64,
    pub p99_us: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p99_9_us: Option<f64>,
    pub p99_99_us: Option<f64>,
}

/// The exceedance bound: how much a run with N samples proves about threshold T.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bound {
    pub confidence: f64,
    pub samples: u64,
    /// Samples above the threshold.
    pub exceedances: u64,
    /// `exceedances` is a lower bound (more samples exceeded than the engine kept exactly).
    pub exceedances_at_least: bool,
    /// One-sided upper bound on P(latency > threshold) per sample (Clopper–Pearson; 3/N-like
    /// with no exceedance).
    pub probability_upper: f64,
    /// `3 / samples`.
    pub rule_of_three: f64,
    /// At the sampling period, the bound as a mean time between exceedances (s).
    pub mean_seconds_between_exceedances_lower: f64,
    pub statement: String,
}

/// A peaks-over-threshold estimate, always labelled as such.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvtEstimate {
    /// `estimate` or `refused`.
    pub status: String,
    pub method: String,
    /// POT threshold (µs).
    pub threshold_us: f64,
    pub exceedances: u64,
    pub shape_xi: Option<f64>,
    pub scale_us: Option<f64>,
    pub ks_statistic: Option<f64>,
    pub ks_p_value: Option<f64>,
    /// Per-sample exceedance probability.
    pub probability: f64,
    /// Estimated latency exceeded with that probability.
    pub latency_us: Option<f64>,
    /// Estimated end point of a bounded tail.
    pub end_point_us: Option<f64>,
    pub reason: Option<String>,
    pub statement: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Histogram {
    pub bucket_width_us: f64,
    /// Latencies at or above this are counted in `overflow` only.
    pub range_us: f64,
    pub overflow: u64,
    /// Non-empty buckets: `[lower bound µs, count]`.
    pub bins: Vec<(f64, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuReport {
    pub cpu: usize,
    /// Index of this CPU's thread in `cyclictest.json`.
    pub rt_tests_thread: usize,
    pub samples: u64,
    pub overruns: u64,
    pub min_us: Option<f64>,
    pub avg_us: Option<f64>,
    pub max_us: Option<f64>,
    pub percentiles: Percentiles,
    pub histogram: Histogram,
}

/// A field that must be present, though it may be `null` (serde would read a missing
/// `Option` as `None`: for the load proof, absent must not pass for "not measured").
fn nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub command: String,
    /// Process group the load ran in.
    pub pgid: Option<i32>,
    /// Housekeeping CPUs it was pinned to.
    pub cpus: String,
    /// The load ended on its own before the measurement did.
    pub exited_early: bool,
    /// How it ended on its own (`exit status 1`, `signal 9`), if it did.
    pub status: Option<String>,
    /// Its output, relative to the run directory.
    pub log: Option<String>,
    /// The nice value it ran at (SCHED_OTHER), below the system's services.
    pub nice: i32,
    /// CPU time its whole process tree used during the measurement, seconds (none: not
    /// measured).
    #[serde(deserialize_with = "nullable")]
    pub cpu_s: Option<f64>,
    /// `cpu_s` over the measured time (1.0 = one CPU kept busy).
    #[serde(deserialize_with = "nullable")]
    pub cpu_share: Option<f64>,
    /// CPU time seen in programs other than the shell during the measurement, seconds (a
    /// lower bound: sampled).
    #[serde(deserialize_with = "nullable")]
    pub program_cpu_s: Option<f64>,
    /// The programs (other than the shell) seen using CPU during the measurement.
    pub programs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub description: String,
    pub verdict: Verdict,
    /// Why FAIL or ERROR (empty on PASS).
    pub reasons: Vec<String>,
    /// The scenario was measured (false: skipped by an error or an interruption).
    pub measured: bool,
    pub load: Option<LoadReport>,
    pub backend: String,
    pub cpus: String,
    pub duration_s: f64,
    pub measured_s: f64,
    pub interval_us: u32,
    /// Fewest samples per measured CPU for the scenario to count (profile `min_samples`).
    pub min_samples: u64,
    pub priority: u32,
    pub samples: u64,
    /// Missed periods: wake-ups later than a whole period (cyclictest skips them silently).
    pub overruns: u64,
    pub min_us: Option<f64>,
    pub avg_us: Option<f64>,
    pub max_us: Option<f64>,
    pub percentiles: Percentiles,
    pub threshold: Threshold,
    /// `threshold.max_us − max_us` (negative: over budget).
    pub margin_us: Option<f64>,
    pub bound: Option<Bound>,
    /// What a PASS must prove and whether the samples did ([`crate::claim`]); absent when
    /// the profile states no claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<crate::claim::ClaimReport>,
    /// Why the measurement ended (added with `--until-proven`, issue #17; absent in reports
    /// written before it existed and for scenarios not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    pub evt: Option<EvtEstimate>,
    pub pm_qos: Option<String>,
    pub per_cpu: Vec<CpuReport>,
    /// The engine's own warnings.
    pub warnings: Vec<String>,
    /// Why the latency was what it was (absent in reports written before it existed, and
    /// for scenarios not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<crate::analysis::Analysis>,
}

/// Why a scenario's measurement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// `--until-proven`: the samples (all measured CPUs pooled, each with at least
    /// `min_samples`) reached the claim's `samples_needed` without an exceedance.
    Proven,
    /// `--until-proven`: a latency above `threshold.max_us` was seen (and every CPU had its
    /// `min_samples`); the scenario FAILs, measuring on could not change that.
    Exceeded,
    /// Its duration ran out: the profile's or `--duration`, which is the cap of an
    /// `--until-proven` run.
    Cap,
    /// A signal (SIGTERM, SIGINT, SIGHUP) stopped it: the numbers are partial (ERROR).
    Signal,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Proven => "proven",
            StopReason::Exceeded => "exceeded",
            StopReason::Cap => "cap",
            StopReason::Signal => "signal",
        }
    }
}

/// How and when a scenario's measurement ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    pub reason: StopReason,
    /// `--until-proven` was asked (the scenario's duration was its cap).
    pub until_proven: bool,
    /// Samples when it ended, all measured CPUs.
    pub samples: u64,
    /// Measuring time when it ended, s.
    pub after_s: f64,
}

impl Stopped {
    /// One line for people: `stopped: claim proven after 2995731 samples, 150 s`.
    pub fn statement(&self, cap_s: f64) -> String {
        let (n, t) = (self.samples, self.after_s);
        match self.reason {
            StopReason::Proven => format!("stopped: claim proven after {n} samples, {t:.0} s"),
            StopReason::Exceeded => format!(
                "stopped: budget exceeded after {n} samples, {t:.1} s (a FAIL however long it runs)"
            ),
            StopReason::Cap if self.until_proven => format!(
                "stopped: the cap of {cap_s:.0} s was reached after {n} samples, claim not proven"
            ),
            StopReason::Cap => format!("stopped: its {cap_s:.0} s ran out after {n} samples"),
            StopReason::Signal => {
                format!("stopped: interrupted by a signal after {n} samples, {t:.1} s")
            }
        }
    }
}

impl ScenarioReport {
    /// The scenario was not measured, because of `why` (`measured` stays false): ERROR with
    /// the reason `not run: <why>`. [`Report::decide`] counts it as a consequence of the
    /// run's other errors when there are any, so that the cause is listed once.
    pub fn not_run(mut self, why: impl std::fmt::Display) -> ScenarioReport {
        self.verdict = Verdict::Error;
        self.measured = false;
        self.reasons.push(format!("not run: {why}"));
        self
    }

    /// Applies the budget to the measured numbers: the verdict and its reasons.
    /// ERROR without samples (never PASS on nothing); FAIL above `max_us` or `p99_us`.
    pub fn judge(&mut self) {
        if self.verdict == Verdict::Error {
            return;
        }
        if !self.measured || self.samples == 0 {
            self.verdict = Verdict::Error;
            if self.reasons.is_empty() {
                self.reasons
                    .push("no samples were taken: nothing was measured".into());
            }
            return;
        }
        // Too few samples mean nothing, whatever they say: ERROR, never PASS.
        let short: Vec<String> = if self.per_cpu.is_empty() {
            (self.samples < self.min_samples)
                .then(|| format!("{} samples", self.samples))
                .into_iter()
                .collect()
        } else {
            self.per_cpu
                .iter()
                .filter(|c| c.samples < self.min_samples)
                .map(|c| format!("{} samples on CPU {}", c.samples, c.cpu))
                .collect()
        };
        if !short.is_empty() {
            self.verdict = Verdict::Error;
            self.reasons.push(format!(
                "measured too little: {}, below the minimum of {} (min_samples); measure longer (at least min_samples × interval_us = {} µs × {}) or lower min_samples in the profile",
                short.join(", "),
                self.min_samples,
                self.interval_us,
                self.min_samples
            ));
            return;
        }
        let mut fail = Vec::new();
        if let Some(max) = self.max_us
            && max > self.threshold.max_us
        {
            fail.push(format!(
                "max {max:.1} µs exceeds the budget of {} µs",
                self.threshold.max_us
            ));
        }
        if let Some(limit) = self.threshold.p99_us {
            match self.percentiles.p99_us {
                Some(p99) if p99 > limit => {
                    fail.push(format!("p99 {p99:.0} µs exceeds the budget of {limit} µs"))
                }
                Some(_) => {}
                None => fail.push(format!(
                    "p99 is beyond the histogram range, so above the budget of {limit} µs"
                )),
            }
        }
        if !fail.is_empty() {
            self.verdict = Verdict::Fail;
            self.reasons.extend(fail);
            return;
        }
        self.verdict = Verdict::Pass;
        self.judge_claim();
    }

    /// Within budget: do the samples prove the claim? INCONCLUSIVE (with what it still
    /// needs) when they do not. All measured CPUs' samples are pooled ([`crate::claim`]).
    fn judge_claim(&mut self) {
        let Some(asked) = self.claim.as_ref().map(|c| c.claim()) else {
            return;
        };
        let cpus = self.per_cpu.len().max(1);
        let judged = crate::claim::ClaimReport::judge(asked, self.samples, self.interval_us, cpus);
        if !judged.proven {
            self.verdict = Verdict::Inconclusive;
            self.reasons
                .push(judged.shortfall(self.samples, self.interval_us, cpus));
        }
        self.claim = Some(judged);
    }
}

impl Report {
    /// The run's verdict from its parts: ERROR if anything could not be done, else FAIL if
    /// the audit or any scenario failed, else PASS — and never PASS without a measured sample
    /// (unless only the audit was asked for).
    pub fn decide(&mut self) {
        // Every cause of an ERROR is listed in `errors`, once.
        if self.interrupted && !self.errors.iter().any(|e| e.is(ErrorScope::Run)) {
            self.errors.push(ErrorEntry::new(
                ErrorScope::Run,
                "interrupted by a signal before the run finished: the numbers are partial, \
                 and `latest` still points at the last complete run",
            ));
        }
        let had_errors = !self.errors.is_empty();
        for s in self
            .scenarios
            .iter()
            .filter(|s| s.verdict == Verdict::Error)
        {
            let scope = ErrorScope::Scenario(&s.name);
            // A scenario that was not measured (`not_run`) is the consequence of an error
            // already listed, when there is one; its own entry would say it twice.
            let consequence = !s.measured && had_errors;
            if !consequence && !self.errors.iter().any(|e| e.is(scope)) {
                self.errors
                    .push(ErrorEntry::new(scope, s.reasons.join("; ")));
            }
        }
        let mut v = self.audit.verdict;
        for s in &self.scenarios {
            v = v.max(s.verdict);
        }
        if !self.errors.is_empty() || self.interrupted {
            v = Verdict::Error;
        }
        let measured: u64 = self.scenarios.iter().map(|s| s.samples).sum();
        if v == Verdict::Pass && measured == 0 && !self.options.audit_only {
            v = Verdict::Error;
            self.errors.push(ErrorEntry::new(
                ErrorScope::Run,
                "no scenario was measured (zero samples): a run that measured \
                 nothing never passes; add a [[scenario]] to the profile",
            ));
        }
        self.verdict = v;
        self.summary = self.explain();
    }

    fn explain(&self) -> String {
        if self.interrupted {
            return "interrupted by a signal before the run finished".into();
        }
        match self.verdict {
            Verdict::Error => {
                let first = self.errors.first().map(|e| e.message.clone()).or_else(|| {
                    self.scenarios
                        .iter()
                        .find(|s| s.verdict == Verdict::Error)
                        .and_then(|s| s.reasons.first().map(|r| format!("{}: {r}", s.name)))
                });
                format!(
                    "could not measure: {}",
                    first.unwrap_or_else(|| "see errors".into())
                )
            }
            Verdict::Fail => {
                let mut parts = Vec::new();
                let broken = self
                    .audit
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error);
                let n = broken.count();
                if n > 0 {
                    parts.push(format!("{n} audit finding(s) break the profile"));
                }
                for s in self.scenarios.iter().filter(|s| s.verdict == Verdict::Fail) {
                    parts.push(format!("{}: {}", s.name, s.reasons.join("; ")));
                }
                parts.join("; ")
            }
            Verdict::Inconclusive => {
                let parts: Vec<String> = self
                    .scenarios
                    .iter()
                    .filter(|s| s.verdict == Verdict::Inconclusive)
                    .map(|s| format!("{}: {}", s.name, s.reasons.join("; ")))
                    .collect();
                format!("not proven: {}", parts.join("; "))
            }
            Verdict::Pass => {
                let n = self.scenarios.len();
                if self.options.audit_only {
                    "audit clean (scenarios not run: --audit-only)".into()
                } else {
                    format!("audit clean and all {n} scenario(s) within budget")
                }
            }
        }
    }

    /// The machine-readable last line of `run` (see [`crate::verdict_line`]).
    pub fn verdict_line(&self, dir: &str) -> String {
        crate::VerdictLine {
            verdict: self.verdict,
            run: Some(self.run_id.clone()),
            dir: Some(dir.to_owned()),
        }
        .to_string()
    }

    /// Reads a `report.json` (`what` names it in errors, e.g. its path). Tolerant of fields it
    /// does not know; refuses another major schema and a report missing a field a decision is
    /// made with.
    pub fn from_json(text: &str, what: &str) -> Result<Report, ContractError> {
        #[derive(Deserialize)]
        struct Head {
            schema: String,
        }
        let json = |source| ContractError::Json {
            what: what.to_owned(),
            schema: SCHEMA,
            source,
        };
        let head: Head = serde_json::from_str(text).map_err(json)?;
        let known = head
            .schema
            .strip_prefix(SCHEMA_FAMILY)
            .is_some_and(|major| Some(major) == SCHEMA.strip_prefix(SCHEMA_FAMILY));
        if !known {
            return Err(ContractError::Schema {
                what: what.to_owned(),
                found: head.schema,
                expected: SCHEMA,
            });
        }
        serde_json::from_str(text).map_err(json)
    }

    /// The report as `report.json` writes it (pretty, with a final newline).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report always serializes");
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_the_core_field_still_reads_and_none_is_not_written() {
        let host: Host = serde_json::from_str(
            r##"{"hostname":"h","kernel_release":"6.1","kernel_version":"#1","machine":"x86_64","preempt_rt":true,"cmdline":""}"##,
        )
        .unwrap();
        assert_eq!(host.core, None);
        assert!(!serde_json::to_string(&host).unwrap().contains("core"));
    }

    pub(crate) fn scenario(max: Option<f64>, p99: Option<f64>, samples: u64) -> ScenarioReport {
        ScenarioReport {
            name: "idle".into(),
            description: String::new(),
            verdict: Verdict::Pass,
            reasons: vec![],
            measured: true,
            load: None,
            backend: "posix".into(),
            cpus: "1".into(),
            duration_s: 1.0,
            measured_s: 1.0,
            interval_us: 1000,
            min_samples: 1000,
            priority: 90,
            samples,
            overruns: 0,
            min_us: max,
            avg_us: max,
            max_us: max,
            percentiles: Percentiles {
                p50_us: p99,
                p99_us: p99,
                p99_9_us: p99,
                p99_99_us: p99,
            },
            threshold: Threshold {
                max_us: 100.0,
                p99_us: Some(20.0),
            },
            margin_us: None,
            bound: None,
            claim: None,
            stopped: None,
            evt: None,
            pm_qos: None,
            per_cpu: vec![],
            warnings: vec![],
            analysis: None,
        }
    }

    /// `stopped` is optional: absent reads as `None` and `None` is not written; each reason
    /// has its words.
    #[test]
    fn stopped_is_an_optional_addition_with_its_statement() {
        let mut s = scenario(Some(5.0), Some(1.0), 1000);
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("stopped"));
        let back: ScenarioReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.stopped, None);
        let st = |reason, until_proven| Stopped {
            reason,
            until_proven,
            samples: 2_995_731,
            after_s: 150.4,
        };
        s.stopped = Some(st(StopReason::Proven, true));
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#""stopped":{"reason":"proven","until_proven":true"#),
            "{json}"
        );
        let said = |reason, until| st(reason, until).statement(600.0);
        assert_eq!(
            said(StopReason::Proven, true),
            "stopped: claim proven after 2995731 samples, 150 s"
        );
        assert!(said(StopReason::Exceeded, true).starts_with("stopped: budget exceeded after"));
        assert_eq!(
            said(StopReason::Cap, true),
            "stopped: the cap of 600 s was reached after 2995731 samples, claim not proven"
        );
        assert_eq!(
            said(StopReason::Cap, false),
            "stopped: its 600 s ran out after 2995731 samples"
        );
        assert!(said(StopReason::Signal, false).contains("interrupted by a signal"));
    }

    /// Issue #12 finding 2: `--duration 1ns` or `500us` at a 1000 µs period passed with
    /// `samples=1`. Below `min_samples` the scenario is ERROR, however good the numbers.
    #[test]
    fn too_few_samples_is_error_measured_too_little() {
        let mut s = scenario(Some(5.0), Some(1.0), 1);
        s.judge();
        assert_eq!(s.verdict, Verdict::Error);
        assert!(
            s.reasons[0].starts_with("measured too little: 1 samples"),
            "{:?}",
            s.reasons
        );
        assert!(s.reasons[0].contains("minimum of 1000 (min_samples)"));
        let mut s = scenario(Some(5.0), Some(1.0), 999);
        s.judge();
        assert_eq!(s.verdict, Verdict::Error);
        // Per CPU: one short CPU is enough to refuse.
        let mut s = scenario(Some(5.0), Some(1.0), 3000);
        let cpu = |cpu: usize, samples: u64| CpuReport {
            cpu,
            rt_tests_thread: cpu,
            samples,
            overruns: 0,
            min_us: Some(1.0),
            avg_us: Some(1.0),
            max_us: Some(5.0),
            percentiles: s.percentiles.clone(),
            histogram: Histogram {
                bucket_width_us: 1.0,
                range_us: 10.0,
                overflow: 0,
                bins: vec![],
            },
        };
        s.per_cpu = vec![cpu(1, 2500), cpu(2, 500)];
        s.judge();
        assert_eq!(s.verdict, Verdict::Error);
        assert!(
            s.reasons[0].contains("500 samples on CPU 2"),
            "{:?}",
            s.reasons
        );
        let mut s = scenario(Some(5.0), Some(1.0), 1000);
        s.judge();
        assert_eq!(s.verdict, Verdict::Pass, "exactly the minimum is enough");
    }

    #[test]
    fn judge_applies_the_budget() {
        let mut s = scenario(Some(50.0), Some(10.0), 1000);
        s.judge();
        assert_eq!(s.verdict, Verdict::Pass);
        let mut s = scenario(Some(100.5), Some(10.0), 1000);
        s.judge();
        assert_eq!(s.verdict, Verdict::Fail);
        assert!(s.reasons[0].contains("max 100.5 µs"), "{:?}", s.reasons);
        let mut s = scenario(Some(50.0), Some(21.0), 1000);
        s.judge();
        assert_eq!(s.verdict, Verdict::Fail);
        let mut s = scenario(Some(50.0), None, 1000);
        s.judge();
        assert_eq!(
            s.verdict,
            Verdict::Fail,
            "p99 in the overflow is above any budget"
        );
        let mut s = scenario(None, None, 0);
        s.judge();
        assert_eq!(s.verdict, Verdict::Error, "zero samples never pass");
    }

    #[test]
    fn error_scopes_are_the_report_text() {
        assert_eq!(ErrorScope::Options.to_string(), "options");
        assert_eq!(ErrorScope::Scenario("idle").to_string(), "scenario:idle");
        let e = ErrorEntry::new(ErrorScope::Scenario("idle"), "m");
        assert_eq!(
            (e.scope.as_str(), e.message.as_str()),
            ("scenario:idle", "m")
        );
        assert!(e.is(ErrorScope::Scenario("idle")) && !e.is(ErrorScope::Scenario("load")));
    }

    /// A scenario that was not run because of another listed error is not listed again;
    /// alone, it names the run's cause itself.
    #[test]
    fn a_scenario_not_run_is_listed_once() {
        let report = |errors: Vec<ErrorEntry>| {
            let mut r: Report = serde_json::from_str(include_str!("../golden/pass.json")).unwrap();
            r.scenarios = vec![scenario(None, None, 0).not_run("the load could not start")];
            r.errors = errors;
            r.decide();
            r
        };
        let alone = report(vec![]);
        assert_eq!(alone.verdict, Verdict::Error);
        assert!(!alone.scenarios[0].measured);
        assert_eq!(alone.errors.len(), 1);
        assert!(alone.errors[0].is(ErrorScope::Scenario("idle")));
        assert_eq!(alone.errors[0].message, "not run: the load could not start");
        let caused = report(vec![ErrorEntry::new(
            ErrorScope::Options,
            "no scenario `x`",
        )]);
        assert_eq!(caused.verdict, Verdict::Error);
        assert_eq!(caused.errors.len(), 1, "{:?}", caused.errors);
        assert!(caused.errors[0].is(ErrorScope::Options));
    }

    #[test]
    fn verdict_order() {
        assert!(Verdict::Pass < Verdict::Inconclusive);
        assert!(Verdict::Inconclusive < Verdict::Fail && Verdict::Fail < Verdict::Error);
        assert_eq!(serde_json::to_string(&Verdict::Fail).unwrap(), "\"FAIL\"");
        assert_eq!(
            serde_json::to_string(&Verdict::Inconclusive).unwrap(),
            "\"INCONCLUSIVE\""
        );
        assert_eq!(Verdict::Error.exit_code(), 2);
        for v in [
            Verdict::Pass,
            Verdict::Inconclusive,
            Verdict::Fail,
            Verdict::Error,
        ] {
            assert_eq!(Verdict::from_exit_code(i32::from(v.exit_code())), Some(v));
            assert_eq!(Verdict::from_word(v.as_str()), Some(v));
        }
        assert_eq!(Verdict::Inconclusive.exit_code(), 3);
    }

    /// Within budget but short of the claim: INCONCLUSIVE with what it needs; one sample
    /// more: PASS. Over budget stays FAIL whatever the claim.
    #[test]
    fn the_claim_decides_between_pass_and_inconclusive() {
        let claim = crate::claim::Claim {
            exceedance: 1e-3,
            confidence: 0.95,
        };
        let with_claim = |max, samples| {
            let mut s = scenario(Some(max), Some(10.0), samples);
            s.claim = Some(crate::claim::ClaimReport::unjudged(claim));
            s.judge();
            s
        };
        let short = with_claim(50.0, 2994);
        assert_eq!(short.verdict, Verdict::Inconclusive);
        assert!(
            short.reasons[0].contains("2995 samples, 1 more"),
            "{:?}",
            short.reasons
        );
        assert!(!short.claim.as_ref().unwrap().proven);
        let enough = with_claim(50.0, 2995);
        assert_eq!(enough.verdict, Verdict::Pass, "{:?}", enough.reasons);
        assert!(enough.claim.as_ref().unwrap().proven);
        let over = with_claim(150.0, 2994);
        assert_eq!(over.verdict, Verdict::Fail);
        // A run of a PASS and an INCONCLUSIVE scenario is INCONCLUSIVE, not passed.
        let mut r: Report = serde_json::from_str(include_str!("../golden/pass.json")).unwrap();
        r.scenarios = vec![enough, short];
        r.decide();
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert!(
            r.summary
                .starts_with("not proven: idle: budget never exceeded"),
            "{}",
            r.summary
        );
        assert!(r.errors.is_empty());
    }
}
