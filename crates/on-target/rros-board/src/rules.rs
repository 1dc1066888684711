//! The isolation rules: the one place that decides whether a board profile makes sense.
//!
//! Every rule has a stable id (shown as `error[oob-subset-isolated]`), names the profile field
//! it is about, and says how to fix it. [`validate`] runs all of them and returns every
//! finding at once; only a profile without errors becomes a [`Board`], the checked form that
//! renderers and the on-target audit work from.

use crate::cpulist::CpuSet;
use crate::cpulist::MAX_CPU;
use crate::profile::{
    Arch, CmdlineDelivery, DEFAULT_MIN_SAMPLES, Flavour, Profile, SCHEMA_VERSION, Scenario,
    Threshold, Tuning,
};
use cyclictest::{MAX_DURATION, MAX_INTERVAL_NS, MIN_INTERVAL_NS};
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// The project's one severity (the contract's): a profile finding is as bad as an audit one.
pub use rros_contract::Severity;

/// One broken (or doubtful) rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Stable rule id, e.g. `boot-cpu-housekeeping`.
    pub rule: &'static str,
    /// Dotted path of the profile field, e.g. `cpus.oob` or `scenario[1].threshold.max_us`.
    pub field: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}[{}] {}: {}", self.rule, self.field, self.message)
    }
}

/// A profile that passed every rule, with its CPU lists and durations parsed.
#[derive(Debug, Clone)]
pub struct Board {
    pub name: String,
    pub description: String,
    pub machine: String,
    pub arch: Arch,
    pub flavour: Flavour,
    pub cmdline_delivery: CmdlineDelivery,
    pub cpu_count: u32,
    pub housekeeping: CpuSet,
    pub isolated: CpuSet,
    /// Empty unless the flavour is a dual kernel.
    pub oob: CpuSet,
    pub tuning: Tuning,
    pub scenarios: Vec<BoardScenario>,
}

impl Board {
    /// The CPUs the latency is measured on: the OOB CPUs of a dual kernel, else the isolated ones.
    pub fn measured_cpus(&self) -> &CpuSet {
        if self.oob.is_empty() {
            &self.isolated
        } else {
            &self.oob
        }
    }

    pub fn scenario(&self, name: &str) -> Option<&BoardScenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct BoardScenario {
    pub name: String,
    pub description: String,
    pub load: Option<String>,
    pub duration: Duration,
    pub interval_us: u32,
    /// Fewest samples per measured CPU for a valid measurement.
    pub min_samples: u64,
    pub priority: u32,
    pub threshold: Threshold,
}

/// The most CPUs a board may have: the kernel's largest `NR_CPUS` (8192 on arm64 and x86-64).
pub const MAX_CPU_COUNT: u32 = MAX_CPU + 1;

/// The sampling period range of `interval_us`: the engine's (1 µs to 1 s).
pub const INTERVAL_US_RANGE: std::ops::RangeInclusive<u32> =
    (MIN_INTERVAL_NS / 1000) as u32..=(MAX_INTERVAL_NS / 1000) as u32;

/// How many whole periods of `interval_us` fit in `duration`: the most samples a run of it
/// can take per CPU.
pub fn periods_in(duration: Duration, interval_us: u32) -> u128 {
    duration.as_nanos() / (u128::from(interval_us.max(1)) * 1000)
}

/// The shortest duration that holds `min_samples` periods of `interval_us`.
pub fn shortest_duration(min_samples: u64, interval_us: u32) -> Duration {
    let ns = u128::from(min_samples) * u128::from(interval_us) * 1000;
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// The outcome of [`validate`]: the board when no rule reports an error, and all findings.
#[derive(Debug)]
pub struct Validation {
    pub board: Option<Board>,
    pub findings: Vec<Finding>,
}

impl Validation {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
}

/// Kernel parameters the renderer owns; setting them by hand in `extra_cmdline` would fight it.
pub const RENDERED_PARAMS: &[(&str, &str)] = &[
    ("isolcpus", "cpus.isolated"),
    ("nohz_full", "cpus.isolated and tuning.nohz_full"),
    ("rcu_nocbs", "cpus.isolated"),
    ("irqaffinity", "cpus.housekeeping"),
    ("rros.oobcpus_arg", "cpus.oob"),
    ("evl.oobcpus", "cpus.oob"),
    ("nosmt", "tuning.smt = \"off\""),
];

/// CPUs the RROS kernel of meta-rros can bring up and name in `rros.oobcpus_arg`: its
/// `rros_defconfig` (BUPT-OS/RROS 0ada3bc, arch/arm64/configs/rros_defconfig) sets
/// `CONFIG_NR_CPUS=256`. Linux starts no CPU numbered beyond it, and `cpulist_parse()` refuses a
/// list naming one, after which the RROS core silently runs out-of-band on every online CPU
/// (kernel/rros/init.rs). docs/reference/rros-evl.md.
pub const RROS_NR_CPUS: u32 = 256;

/// cpufreq governors of mainline Linux.
pub const GOVERNORS: &[&str] = &[
    "performance",
    "powersave",
    "schedutil",
    "ondemand",
    "conservative",
    "userspace",
];

struct Checker {
    findings: Vec<Finding>,
}

impl Checker {
    fn error(&mut self, rule: &'static str, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, rule, field, message);
    }

    fn warning(
        &mut self,
        rule: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(Severity::Warning, rule, field, message);
    }

    fn push(
        &mut self,
        severity: Severity,
        rule: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            rule,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parses a cpulist field and range-checks it; `None` when it does not parse.
    fn cpulist(&mut self, field: &str, text: &str, count: u32) -> Option<CpuSet> {
        match CpuSet::parse(text) {
            Ok(set) => {
                let beyond = set.beyond(count);
                if !beyond.is_empty() && count > 0 {
                    self.error(
                        "cpus-in-range",
                        field,
                        format!(
                            "CPU {beyond} does not exist on a {count}-CPU board (valid: {}); fix the list or cpus.count",
                            CpuSet::first_n(count)
                        ),
                    );
                }
                Some(set)
            }
            Err(err) => {
                self.error("cpulist-syntax", field, format!("\"{text}\": {err}"));
                None
            }
        }
    }

    /// Rendered strings end up inside double-quoted BitBake values and on the kernel command line.
    fn plain_text(&mut self, field: &str, value: &str) {
        if value.contains(['"', '\\', '\n', '\r', '$']) {
            self.error(
                "plain-text",
                field,
                format!("\"{}\" contains a quote, backslash, `$` or line break, which cannot be carried into BitBake and the kernel command line unchanged; remove it", value.escape_debug()),
            );
        }
    }
}

/// Runs every rule over `profile`. `file_stem` is the profile's file name without `.toml`, when
/// it came from a file, so the name can be checked against it.
pub fn validate(profile: &Profile, file_stem: Option<&str>) -> Validation {
    let mut c = Checker {
        findings: Vec::new(),
    };

    if profile.schema != SCHEMA_VERSION {
        c.error(
            "schema-version",
            "schema",
            format!(
                "version {} is not supported; this tool reads schema = {SCHEMA_VERSION}",
                profile.schema
            ),
        );
    }
    if !profile
        .name
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        || profile.name.is_empty()
    {
        c.error("name-format", "name", format!("\"{}\" must be non-empty and use only letters, digits, `-` and `_` (it names files and BitBake values)", profile.name.escape_debug()));
    }
    if let Some(stem) = file_stem
        && stem != profile.name
    {
        c.error(
            "name-matches-file",
            "name",
            format!(
                "\"{}\" differs from the file name \"{stem}.toml\"; rename one so they match",
                profile.name
            ),
        );
    }
    c.plain_text("machine", &profile.machine);
    if profile.machine.trim().is_empty() {
        c.error(
            "machine-set",
            "machine",
            "empty; set the Yocto MACHINE of the BSP, e.g. \"raspberrypi4-64\"",
        );
    }

    // Kernel flavour against the architecture.
    let flavour = profile.kernel.flavour;
    if flavour == Flavour::Rros && profile.arch != Arch::Aarch64 {
        c.error(
            "flavour-arch",
            "kernel.flavour",
            format!("RROS exists only for arm64 upstream, and this board is {}; use flavour = \"evl\" (Dovetail + EVL, same libevl API) or \"preempt-rt\"", profile.arch),
        );
    }

    // CPU sets. The count is bounded before anything sized by it is built.
    let mut count = profile.cpus.count;
    if flavour == Flavour::Rros && count > RROS_NR_CPUS && count <= MAX_CPU_COUNT {
        c.error(
            "kernel-nr-cpus",
            "cpus.count",
            format!("{count} CPUs, but the RROS kernel is built for at most {RROS_NR_CPUS} (CONFIG_NR_CPUS of rros_defconfig): Linux starts none beyond it and the RROS core would ignore cpus.oob; use a kernel configured for this board or list at most {RROS_NR_CPUS} CPUs"),
        );
    }
    if count == 0 {
        c.error(
            "cpu-count",
            "cpus.count",
            "must be at least 1 (the number of CPUs the board has)",
        );
    } else if count > MAX_CPU_COUNT {
        c.error(
            "cpu-count",
            "cpus.count",
            format!("{count} is more CPUs than Linux supports (NR_CPUS is at most {MAX_CPU_COUNT}); give the number of CPUs the board has"),
        );
        // No range or partition check against a count that is wrong anyway (and nothing
        // sized by it): 0 skips them, as for a zero count.
        count = 0;
    }
    let hk = c.cpulist("cpus.housekeeping", &profile.cpus.housekeeping, count);
    let iso = c.cpulist("cpus.isolated", &profile.cpus.isolated, count);
    let oob = c.cpulist("cpus.oob", &profile.cpus.oob, count);

    if let Some(hk) = &hk {
        if hk.is_empty() {
            c.error("housekeeping-nonempty", "cpus.housekeeping", "empty; the kernel needs at least one housekeeping CPU (and nohz_full refuses to run without one): list CPU 0 at least");
        } else if !hk.contains(0) {
            c.error("boot-cpu-housekeeping", "cpus.housekeeping", format!("\"{hk}\" lacks the boot CPU 0, which nohz_full and the timekeeping duty never leave; add 0"));
        }
    }
    if let Some(iso) = &iso {
        if iso.is_empty() {
            c.error(
                "isolated-nonempty",
                "cpus.isolated",
                "empty; isolate at least one CPU to run the real-time work on",
            );
        }
        if iso.contains(0) {
            c.error(
                "boot-cpu-housekeeping",
                "cpus.isolated",
                "contains the boot CPU 0, which cannot be nohz_full; isolate other CPUs",
            );
        }
    }
    if let (Some(hk), Some(iso)) = (&hk, &iso) {
        let both = hk.intersection(iso);
        if !both.is_empty() {
            c.error(
                "housekeeping-isolated-disjoint",
                "cpus.isolated",
                format!("CPU {both} is both housekeeping and isolated; a CPU is one or the other"),
            );
        }
        if count > 0 {
            let unassigned = CpuSet::first_n(count).difference(&hk.union(iso));
            if !unassigned.is_empty() {
                c.error("cpus-partition", "cpus.housekeeping", format!("CPU {unassigned} is in neither housekeeping nor isolated; add it to one of them (housekeeping, unless it runs real-time work)"));
            }
        }
    }
    if let Some(oob) = &oob {
        if flavour.is_dual_kernel() {
            if oob.is_empty() {
                c.error("oob-required", "cpus.oob", format!("empty, but a {flavour} kernel needs its out-of-band CPUs named (the kernel default names CPUs this board may not have); set it to the isolated CPUs"));
            }
        } else if !oob.is_empty() {
            c.error("oob-needs-dual-kernel", "cpus.oob", format!("\"{oob}\" is set, but {flavour} has no out-of-band stage; remove it or use flavour \"rros\"/\"evl\""));
        }
        if let Some(iso) = &iso {
            let outside = oob.difference(iso);
            if !outside.is_empty() {
                c.error("oob-subset-isolated", "cpus.oob", format!("CPU {outside} is out-of-band but not isolated; in-band tasks would run there too: add it to cpus.isolated or drop it from cpus.oob"));
            }
        }
    }

    // Tuning.
    let tuning = &profile.tuning;
    if !GOVERNORS.contains(&tuning.governor.as_str()) {
        c.error(
            "governor-known",
            "tuning.governor",
            format!(
                "\"{}\" is not a cpufreq governor; use one of {}",
                tuning.governor.escape_debug(),
                GOVERNORS.join(", ")
            ),
        );
    } else if tuning.governor != "performance" {
        c.warning("governor-performance", "tuning.governor", format!("\"{}\" changes the clock under the real-time work (costs ten to a hundred µs on wake-up); \"performance\" is the usual choice", tuning.governor));
    }
    if tuning.timer_migration {
        c.warning(
            "timer-migration",
            "tuning.timer_migration",
            "true lets timers migrate onto isolated CPUs; set it to false",
        );
    }
    if tuning.vm_stat_interval == 0 {
        c.error(
            "vm-stat-interval",
            "tuning.vm_stat_interval",
            "must be at least 1 second",
        );
    }
    if tuning.smt == crate::profile::SmtPolicy::Off && profile.arch == Arch::Aarch64 {
        c.warning(
            "smt-arch",
            "tuning.smt",
            "\"off\" on an arm64 board without SMT has no effect; use \"none\"",
        );
    }
    for (i, arg) in tuning.extra_cmdline.iter().enumerate() {
        let field = format!("tuning.extra_cmdline[{i}]");
        c.plain_text(&field, arg);
        if arg.trim().is_empty() || arg.contains(char::is_whitespace) {
            c.error(
                "cmdline-arg",
                field.clone(),
                format!(
                    "\"{}\" must be one kernel parameter without spaces; give each its own entry",
                    arg.escape_debug()
                ),
            );
        }
        let key = arg.split('=').next().unwrap_or_default();
        if let Some((_, owner)) = RENDERED_PARAMS.iter().find(|(param, _)| *param == key) {
            c.error(
                "cmdline-rendered",
                field,
                format!("`{key}` is rendered from {owner}; set that instead of passing it by hand"),
            );
        }
    }
    if !tuning.rpi_config.is_empty()
        && profile.kernel.cmdline_delivery != CmdlineDelivery::RpiCmdline
    {
        c.error("rpi-config-delivery", "tuning.rpi_config", "config.txt lines only exist on Raspberry Pi boards (cmdline_delivery = \"rpi-cmdline\"); remove them");
    }
    for (i, line) in tuning.rpi_config.iter().enumerate() {
        c.plain_text(&format!("tuning.rpi_config[{i}]"), line);
    }

    // Scenarios.
    if profile.scenarios.is_empty() {
        c.error("scenario-present", "scenario", "no [[scenario]]; add at least one (e.g. an idle run) so the board has a budget to meet");
    }
    let mut names = BTreeSet::new();
    let mut scenarios = Vec::new();
    for (i, s) in profile.scenarios.iter().enumerate() {
        if let Some(scenario) = check_scenario(&mut c, i, s, &mut names) {
            scenarios.push(scenario);
        }
    }

    let has_errors = c.findings.iter().any(|f| f.severity == Severity::Error);
    let board = match (hk, iso, oob) {
        (Some(housekeeping), Some(isolated), Some(oob)) if !has_errors => Some(Board {
            name: profile.name.clone(),
            description: profile.description.clone(),
            machine: profile.machine.clone(),
            arch: profile.arch,
            flavour,
            cmdline_delivery: profile.kernel.cmdline_delivery,
            cpu_count: count,
            housekeeping,
            isolated,
            oob,
            tuning: profile.tuning.clone(),
            scenarios,
        }),
        _ => None,
    };
    Validation {
        board,
        findings: c.findings,
    }
}

fn check_scenario(
    c: &mut Checker,
    i: usize,
    s: &Scenario,
    names: &mut BTreeSet<String>,
) -> Option<BoardScenario> {
    let at = |field: &str| format!("scenario[{i}].{field}");
    let mut ok = true;
    if s.name.trim().is_empty()
        || !s
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        c.error("scenario-name", at("name"), format!("\"{}\" must be non-empty and use only letters, digits, `-` and `_` (it names report files and test cases)", s.name.escape_debug()));
        ok = false;
    } else if !names.insert(s.name.clone()) {
        c.error(
            "scenario-unique",
            at("name"),
            format!(
                "\"{}\" is used by an earlier scenario; give each scenario its own name",
                s.name
            ),
        );
        ok = false;
    }
    let duration = match humantime::parse_duration(&s.duration) {
        Ok(d) if d > MAX_DURATION => {
            c.error(
                "scenario-duration",
                at("duration"),
                format!(
                    "\"{}\" is longer than the 365 days a run may last; write e.g. \"60s\", \"5m\" or \"24h\"",
                    s.duration.escape_debug()
                ),
            );
            None
        }
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            c.error(
                "scenario-duration",
                at("duration"),
                "is zero; measure for some time, e.g. \"60s\"",
            );
            None
        }
        Err(err) => {
            c.error(
                "scenario-duration",
                at("duration"),
                format!(
                    "\"{}\": {err}; write e.g. \"60s\", \"5m\" or \"24h\" (at most 365 days)",
                    s.duration.escape_debug()
                ),
            );
            None
        }
    };
    let interval_ok = INTERVAL_US_RANGE.contains(&s.interval_us);
    if !interval_ok {
        c.error(
            "scenario-interval",
            at("interval_us"),
            format!(
                "{} is outside {}..={} (the sampling period in µs the engine accepts, 1 µs to 1 s); use e.g. 200 or 1000",
                s.interval_us,
                INTERVAL_US_RANGE.start(),
                INTERVAL_US_RANGE.end()
            ),
        );
        ok = false;
    }
    let min_samples = s.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES);
    if min_samples == 0 {
        c.error(
            "scenario-min-samples",
            at("min_samples"),
            format!("0 would let a run that measured nothing pass; leave it out (default {DEFAULT_MIN_SAMPLES}) or give at least 1"),
        );
        ok = false;
    } else if let Some(d) = duration
        && interval_ok
        && periods_in(d, s.interval_us) < u128::from(min_samples)
    {
        c.error(
            "scenario-samples",
            at("duration"),
            format!(
                "\"{}\" holds {} period(s) of {} µs, fewer than the {min_samples} samples a scenario needs (min_samples{}); measure at least {} or lower min_samples",
                s.duration.escape_debug(),
                periods_in(d, s.interval_us),
                s.interval_us,
                if s.min_samples.is_some() { "" } else { ", default" },
                humantime::format_duration(shortest_duration(min_samples, s.interval_us))
            ),
        );
        ok = false;
    } else if let Some(d) = duration
        && interval_ok
        && periods_in(d, s.interval_us) < u128::from(min_samples) + u128::from(min_samples / 10)
    {
        c.warning(
            "scenario-samples-margin",
            at("duration"),
            format!(
                "\"{}\" holds {} period(s) of {} µs, within 10 % of min_samples = {min_samples}: periods lost to overruns or a late start make the run ERROR (measured too little); measure a little longer",
                s.duration.escape_debug(),
                periods_in(d, s.interval_us),
                s.interval_us
            ),
        );
    }
    if !(1..=99).contains(&s.priority) {
        c.error(
            "scenario-priority",
            at("priority"),
            format!("{} is outside SCHED_FIFO's 1..=99", s.priority),
        );
        ok = false;
    }
    if s.threshold.max_us == 0 {
        c.error(
            "threshold-positive",
            at("threshold.max_us"),
            "must be a positive number of µs",
        );
        ok = false;
    }
    match s.threshold.p99_us {
        Some(0) => {
            c.error(
                "threshold-positive",
                at("threshold.p99_us"),
                "must be a positive number of µs (or left out)",
            );
            ok = false;
        }
        Some(p99) if p99 > s.threshold.max_us && s.threshold.max_us > 0 => {
            c.error("threshold-order", at("threshold.p99_us"), format!("{p99} µs is above max_us = {} µs; the 99th percentile cannot exceed the maximum", s.threshold.max_us));
            ok = false;
        }
        _ => {}
    }
    if let Some(load) = &s.load
        && load.trim().is_empty()
    {
        c.error(
            "scenario-load",
            at("load"),
            "is empty; leave `load` out for an idle scenario",
        );
        ok = false;
    }
    Some(BoardScenario {
        name: s.name.clone(),
        description: s.description.clone(),
        load: s.load.clone(),
        duration: duration?,
        interval_us: s.interval_us,
        min_samples,
        priority: s.priority,
        threshold: s.threshold,
    })
    .filter(|_| ok)
}
