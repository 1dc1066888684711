//! The isolation rules: the one place that decides whether a board profile makes sense.
//!
//! Every rule has a stable id (shown as `error[oob-subset-isolated]`), names the profile field
//! it is about, and says how to fix it. [`validate`] runs all of them and returns every
//! finding at once; only a profile without errors becomes a [`Board`], the checked form that
//! renderers and the on-target audit work from.

use crate::cpulist::MAX_CPU;
use crate::cpulist::{CpuListError, CpuSet};
use crate::profile::{
    Arch, Claim, CmdlineDelivery, DEFAULT_MIN_SAMPLES, Flavour, Profile, SCHEMA_VERSION, Scenario,
    SmtPolicy, Threshold, Tuning,
};
use cyclictest::{MAX_DURATION, MAX_INTERVAL_NS, MIN_INTERVAL_NS};
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
    /// The board-wide `claim`, the default of every scenario (each scenario's resolved claim
    /// is [`BoardScenario::claim`]).
    pub claim: Option<Claim>,
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
    /// What a PASS must prove: the scenario's `claim`, else the board's (none: no claim).
    pub claim: Option<Claim>,
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

/// One profile rule: a stable id, what it checks, how a finding is fixed, and the check.
///
/// [`RULES`] are run once per profile, [`SCENARIO_RULES`] once per `[[scenario]]`, each in
/// table order; every finding a rule reports carries its id (`plain-text` is the one check
/// several fields share, so the table lists it for each of them).
pub struct Rule<F> {
    /// Stable id, shown as `error[id]` and matched by tests and tools.
    pub id: &'static str,
    /// What the rule checks.
    pub checks: &'static str,
    /// What to do about a finding (each message says it for the values at hand).
    pub fix: &'static str,
    run: F,
}

/// The check of a rule over a context `C`.
pub type Check<C> = fn(&C, &mut Out<'_>);
/// A rule of the whole profile.
pub type ProfileRule = Rule<fn(&ProfileCtx<'_>, &mut Out<'_>)>;
/// A rule of one `[[scenario]]`.
pub type ScenarioRule = Rule<fn(&ScenarioCtx<'_>, &mut Out<'_>)>;

impl<F> fmt::Debug for Rule<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("checks", &self.checks)
            .finish()
    }
}

/// Where a rule reports: its findings carry the rule's id.
pub struct Out<'a> {
    rule: &'static str,
    findings: &'a mut Vec<Finding>,
}

impl Out<'_> {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, field.into(), message.into());
    }

    fn warning(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, field.into(), message.into());
    }

    fn push(&mut self, severity: Severity, field: String, message: String) {
        self.findings.push(Finding {
            severity,
            rule: self.rule,
            field,
            message,
        });
    }
}

/// What the profile rules read: the profile, and what is parsed once for all of them.
pub struct ProfileCtx<'a> {
    profile: &'a Profile,
    /// The profile's file name without `.toml`, when it came from a file.
    file_stem: Option<&'a str>,
    /// `cpus.count` when Linux can have that many CPUs, else 0: no range or partition check
    /// runs against a count that is wrong anyway, and nothing is sized by it.
    count: u32,
    housekeeping: Result<CpuSet, CpuListError>,
    isolated: Result<CpuSet, CpuListError>,
    oob: Result<CpuSet, CpuListError>,
}

impl<'a> ProfileCtx<'a> {
    fn new(profile: &'a Profile, file_stem: Option<&'a str>) -> Self {
        let cpus = &profile.cpus;
        let count = if cpus.count > MAX_CPU_COUNT {
            0
        } else {
            cpus.count
        };
        Self {
            profile,
            file_stem,
            count,
            housekeeping: CpuSet::parse(&cpus.housekeeping),
            isolated: CpuSet::parse(&cpus.isolated),
            oob: CpuSet::parse(&cpus.oob),
        }
    }

    /// The three CPU lists with their field names and text, in profile order.
    fn cpulists(&self) -> [(&'static str, &str, &Result<CpuSet, CpuListError>); 3] {
        let cpus = &self.profile.cpus;
        [
            ("cpus.housekeeping", &cpus.housekeeping, &self.housekeeping),
            ("cpus.isolated", &cpus.isolated, &self.isolated),
            ("cpus.oob", &cpus.oob, &self.oob),
        ]
    }

    fn hk(&self) -> Option<&CpuSet> {
        self.housekeeping.as_ref().ok()
    }

    fn iso(&self) -> Option<&CpuSet> {
        self.isolated.as_ref().ok()
    }

    fn flavour(&self) -> Flavour {
        self.profile.kernel.flavour
    }

    fn tuning(&self) -> &Tuning {
        &self.profile.tuning
    }
}

/// What the scenario rules read: one `[[scenario]]`, its place, and its parsed duration.
pub struct ScenarioCtx<'a> {
    index: usize,
    scenario: &'a Scenario,
    /// The scenarios before this one (names are unique among them).
    earlier: &'a [Scenario],
    duration: Result<Duration, humantime::DurationError>,
    /// The board's `[claim]`, the default of every scenario.
    board_claim: Option<Claim>,
    /// How many CPUs are measured (0 when the CPU lists are broken).
    measured_cpus: usize,
}

impl ScenarioCtx<'_> {
    /// The dotted path of one of the scenario's fields, e.g. `scenario[1].duration`.
    fn at(&self, field: &str) -> String {
        format!("scenario[{}].{field}", self.index)
    }

    /// The duration when it is one a run may have (above zero, at most 365 days).
    fn valid_duration(&self) -> Option<Duration> {
        self.duration
            .as_ref()
            .ok()
            .filter(|d| !d.is_zero() && **d <= MAX_DURATION)
            .copied()
    }

    fn interval_ok(&self) -> bool {
        INTERVAL_US_RANGE.contains(&self.scenario.interval_us)
    }

    fn min_samples(&self) -> u64 {
        self.scenario.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES)
    }

    /// The claim that applies: the scenario's, else the board's.
    fn claim(&self) -> Option<Claim> {
        self.scenario.claim.or(self.board_claim)
    }

    /// Where the claim that applies is written.
    fn claim_field(&self) -> String {
        if self.scenario.claim.is_some() {
            self.at("claim")
        } else {
            "claim".into()
        }
    }

    /// How many periods the scenario's duration holds, when duration and interval are valid.
    fn periods(&self) -> Option<u128> {
        let d = self.valid_duration()?;
        self.interval_ok()
            .then(|| periods_in(d, self.scenario.interval_us))
    }
}

/// The profile rules, in the order they run and report.
pub const RULES: &[ProfileRule] = &[
    Rule {
        id: "schema-version",
        checks: "the profile's schema version is the one this tool reads",
        fix: "write the profile for the supported schema",
        run: schema_version,
    },
    Rule {
        id: "name-format",
        checks: "the board name is non-empty and uses only letters, digits, `-` and `_`",
        fix: "rename the board",
        run: name_format,
    },
    Rule {
        id: "name-matches-file",
        checks: "the board name is the profile's file name",
        fix: "rename the board or the file",
        run: name_matches_file,
    },
    Rule {
        id: "plain-text",
        checks: "`machine` can be carried into BitBake unchanged",
        fix: "remove quotes, backslashes, `$` and line breaks",
        run: plain_machine,
    },
    Rule {
        id: "machine-set",
        checks: "the Yocto MACHINE is set",
        fix: "set the MACHINE of the BSP",
        run: machine_set,
    },
    Rule {
        id: "flavour-arch",
        checks: "RROS is chosen only for arm64",
        fix: "use flavour \"evl\" or \"preempt-rt\" on other architectures",
        run: flavour_arch,
    },
    Rule {
        id: "kernel-nr-cpus",
        checks: "an RROS board has no more CPUs than rros_defconfig's CONFIG_NR_CPUS",
        fix: "use a kernel configured for the board or list fewer CPUs",
        run: kernel_nr_cpus,
    },
    Rule {
        id: "cpu-count",
        checks: "cpus.count is between 1 and Linux's largest NR_CPUS",
        fix: "give the number of CPUs the board has",
        run: cpu_count,
    },
    Rule {
        id: "cpulist-syntax",
        checks: "the CPU lists are kernel cpulists",
        fix: "write e.g. \"0-1,3\"",
        run: cpulist_syntax,
    },
    Rule {
        id: "cpus-in-range",
        checks: "every listed CPU exists on a board of cpus.count CPUs",
        fix: "fix the list or cpus.count",
        run: cpus_in_range,
    },
    Rule {
        id: "housekeeping-nonempty",
        checks: "there is a housekeeping CPU",
        fix: "list CPU 0 at least",
        run: housekeeping_nonempty,
    },
    Rule {
        id: "boot-cpu-housekeeping",
        checks: "the boot CPU 0 is housekeeping, never isolated",
        fix: "add 0 to cpus.housekeeping, isolate other CPUs",
        run: boot_cpu_housekeeping,
    },
    Rule {
        id: "isolated-nonempty",
        checks: "there is an isolated CPU for the real-time work",
        fix: "isolate at least one CPU",
        run: isolated_nonempty,
    },
    Rule {
        id: "housekeeping-isolated-disjoint",
        checks: "no CPU is both housekeeping and isolated",
        fix: "put each CPU in one list",
        run: housekeeping_isolated_disjoint,
    },
    Rule {
        id: "cpus-partition",
        checks: "every CPU is housekeeping or isolated",
        fix: "add the CPU to one of them",
        run: cpus_partition,
    },
    Rule {
        id: "oob-required",
        checks: "a dual kernel names its out-of-band CPUs",
        fix: "set cpus.oob to the isolated CPUs",
        run: oob_required,
    },
    Rule {
        id: "oob-needs-dual-kernel",
        checks: "out-of-band CPUs are named only for a dual kernel",
        fix: "remove cpus.oob or use flavour \"rros\"/\"evl\"",
        run: oob_needs_dual_kernel,
    },
    Rule {
        id: "oob-subset-isolated",
        checks: "every out-of-band CPU is isolated",
        fix: "add it to cpus.isolated or drop it from cpus.oob",
        run: oob_subset_isolated,
    },
    Rule {
        id: "governor-known",
        checks: "the cpufreq governor is one of mainline Linux",
        fix: "use one of GOVERNORS",
        run: governor_known,
    },
    Rule {
        id: "governor-performance",
        checks: "(warning) the governor keeps the clock still",
        fix: "use \"performance\"",
        run: governor_performance,
    },
    Rule {
        id: "timer-migration",
        checks: "(warning) timers do not migrate onto isolated CPUs",
        fix: "set tuning.timer_migration = false",
        run: timer_migration,
    },
    Rule {
        id: "vm-stat-interval",
        checks: "the vmstat interval is at least 1 second",
        fix: "give a positive number of seconds",
        run: vm_stat_interval,
    },
    Rule {
        id: "smt-arch",
        checks: "(warning) `nosmt` is not asked for on arm64, which has no SMT",
        fix: "use tuning.smt = \"none\"",
        run: smt_arch,
    },
    Rule {
        id: "plain-text",
        checks: "each extra kernel parameter can be carried into BitBake unchanged",
        fix: "remove quotes, backslashes, `$` and line breaks",
        run: plain_extra_cmdline,
    },
    Rule {
        id: "cmdline-arg",
        checks: "each extra kernel parameter is one word",
        fix: "give each parameter its own entry",
        run: cmdline_arg,
    },
    Rule {
        id: "cmdline-rendered",
        checks: "no extra kernel parameter is one the renderer owns",
        fix: "set the profile field the parameter is rendered from",
        run: cmdline_rendered,
    },
    Rule {
        id: "rpi-config-delivery",
        checks: "config.txt lines are given only for Raspberry Pi boards",
        fix: "remove tuning.rpi_config",
        run: rpi_config_delivery,
    },
    Rule {
        id: "plain-text",
        checks: "each config.txt line can be carried into BitBake unchanged",
        fix: "remove quotes, backslashes, `$` and line breaks",
        run: plain_rpi_config,
    },
    Rule {
        id: "scenario-present",
        checks: "the profile has at least one scenario",
        fix: "add a [[scenario]]",
        run: scenario_present,
    },
];

/// The rules of each `[[scenario]]`, in the order they run and report.
pub const SCENARIO_RULES: &[ScenarioRule] = &[
    Rule {
        id: "scenario-name",
        checks: "the scenario name is non-empty and uses only letters, digits, `-` and `_`",
        fix: "rename the scenario",
        run: scenario_name,
    },
    Rule {
        id: "scenario-unique",
        checks: "no two scenarios share a name",
        fix: "give each scenario its own name",
        run: scenario_unique,
    },
    Rule {
        id: "scenario-duration",
        checks: "the duration parses, is above zero and at most 365 days",
        fix: "write e.g. \"60s\", \"5m\" or \"24h\"",
        run: scenario_duration,
    },
    Rule {
        id: "scenario-interval",
        checks: "interval_us is in the engine's range",
        fix: "use e.g. 200 or 1000",
        run: scenario_interval,
    },
    Rule {
        id: "scenario-min-samples",
        checks: "min_samples is at least 1",
        fix: "leave it out or give at least 1",
        run: scenario_min_samples,
    },
    Rule {
        id: "scenario-samples",
        checks: "the duration holds min_samples periods of interval_us",
        fix: "measure longer or lower min_samples",
        run: scenario_samples,
    },
    Rule {
        id: "scenario-samples-margin",
        checks: "(warning) the duration holds 10 % more periods than min_samples",
        fix: "measure a little longer",
        run: scenario_samples_margin,
    },
    Rule {
        id: "scenario-claim",
        checks: "the claim's exceedance and confidence lie strictly between 0 and 1",
        fix: "write e.g. claim = { exceedance = 1e-6, confidence = 0.95 }",
        run: scenario_claim,
    },
    Rule {
        id: "scenario-claim-provable",
        checks: "the duration holds the samples the claim needs on the measured CPUs",
        fix: "measure longer or state a weaker claim",
        run: scenario_claim_provable,
    },
    Rule {
        id: "scenario-priority",
        checks: "the priority is SCHED_FIFO's 1..=99",
        fix: "give a priority in 1..=99",
        run: scenario_priority,
    },
    Rule {
        id: "threshold-positive",
        checks: "the thresholds are positive",
        fix: "give a positive number of µs",
        run: threshold_positive,
    },
    Rule {
        id: "threshold-order",
        checks: "p99_us is not above max_us",
        fix: "lower p99_us or raise max_us",
        run: threshold_order,
    },
    Rule {
        id: "scenario-load",
        checks: "a load command is not empty",
        fix: "leave `load` out for an idle scenario",
        run: scenario_load,
    },
];

/// Runs `rules` over `ctx`, appending their findings.
fn run_rules<C>(rules: &[Rule<Check<C>>], ctx: &C, findings: &mut Vec<Finding>) {
    for rule in rules {
        (rule.run)(
            ctx,
            &mut Out {
                rule: rule.id,
                findings,
            },
        );
    }
}

/// Runs every rule over `profile`. `file_stem` is the profile's file name without `.toml`, when
/// it came from a file, so the name can be checked against it.
pub fn validate(profile: &Profile, file_stem: Option<&str>) -> Validation {
    let ctx = ProfileCtx::new(profile, file_stem);
    let mut findings = Vec::new();
    run_rules(RULES, &ctx, &mut findings);
    let measured_cpus = match (&ctx.oob, &ctx.isolated) {
        (Ok(oob), _) if !oob.is_empty() => oob.len(),
        (_, Ok(isolated)) => isolated.len(),
        _ => 0,
    };
    let scenarios: Vec<ScenarioCtx<'_>> = profile
        .scenarios
        .iter()
        .enumerate()
        .map(|(index, scenario)| ScenarioCtx {
            index,
            scenario,
            earlier: &profile.scenarios[..index],
            duration: humantime::parse_duration(&scenario.duration),
            board_claim: profile.claim,
            measured_cpus,
        })
        .collect();
    for scenario in &scenarios {
        run_rules(SCENARIO_RULES, scenario, &mut findings);
    }
    let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
    let board = if has_errors {
        None
    } else {
        board(&ctx, &scenarios)
    };
    Validation { board, findings }
}

/// The checked board of a profile no rule reported an error for.
fn board(ctx: &ProfileCtx<'_>, scenarios: &[ScenarioCtx<'_>]) -> Option<Board> {
    let profile = ctx.profile;
    let scenarios = scenarios
        .iter()
        .map(|s| {
            Some(BoardScenario {
                name: s.scenario.name.clone(),
                description: s.scenario.description.clone(),
                load: s.scenario.load.clone(),
                duration: s.valid_duration()?,
                interval_us: s.scenario.interval_us,
                min_samples: s.min_samples(),
                priority: s.scenario.priority,
                threshold: s.scenario.threshold,
                claim: s.claim(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Board {
        name: profile.name.clone(),
        description: profile.description.clone(),
        machine: profile.machine.clone(),
        arch: profile.arch,
        flavour: profile.kernel.flavour,
        cmdline_delivery: profile.kernel.cmdline_delivery,
        cpu_count: ctx.count,
        housekeeping: ctx.housekeeping.clone().ok()?,
        isolated: ctx.isolated.clone().ok()?,
        oob: ctx.oob.clone().ok()?,
        tuning: profile.tuning.clone(),
        claim: profile.claim,
        scenarios,
    })
}

// --- the profile rules -----------------------------------------------------------------------

/// Letters, digits, `-` and `_`, at least one: names files, BitBake values and test cases.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// Rendered strings end up inside double-quoted BitBake values and on the kernel command line.
fn plain_text(out: &mut Out<'_>, field: &str, value: &str) {
    if value.contains(['"', '\\', '\n', '\r', '$']) {
        out.error(
            field,
            format!("\"{}\" contains a quote, backslash, `$` or line break, which cannot be carried into BitBake and the kernel command line unchanged; remove it", value.escape_debug()),
        );
    }
}

fn schema_version(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let schema = ctx.profile.schema;
    if schema != SCHEMA_VERSION {
        out.error(
            "schema",
            format!("version {schema} is not supported; this tool reads schema = {SCHEMA_VERSION}"),
        );
    }
}

fn name_format(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let name = &ctx.profile.name;
    if !is_name(name) {
        out.error("name", format!("\"{}\" must be non-empty and use only letters, digits, `-` and `_` (it names files and BitBake values)", name.escape_debug()));
    }
}

fn name_matches_file(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if let Some(stem) = ctx.file_stem
        && stem != ctx.profile.name
    {
        out.error(
            "name",
            format!(
                "\"{}\" differs from the file name \"{stem}.toml\"; rename one so they match",
                ctx.profile.name
            ),
        );
    }
}

fn plain_machine(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    plain_text(out, "machine", &ctx.profile.machine);
}

fn machine_set(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.profile.machine.trim().is_empty() {
        out.error(
            "machine",
            "empty; set the Yocto MACHINE of the BSP, e.g. \"raspberrypi4-64\"",
        );
    }
}

fn flavour_arch(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.flavour() == Flavour::Rros && ctx.profile.arch != Arch::Aarch64 {
        out.error(
            "kernel.flavour",
            format!("RROS exists only for arm64 upstream, and this board is {}; use flavour = \"evl\" (Dovetail + EVL, same libevl API) or \"preempt-rt\"", ctx.profile.arch),
        );
    }
}

fn kernel_nr_cpus(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let count = ctx.profile.cpus.count;
    if ctx.flavour() == Flavour::Rros && count > RROS_NR_CPUS && count <= MAX_CPU_COUNT {
        out.error(
            "cpus.count",
            format!("{count} CPUs, but the RROS kernel is built for at most {RROS_NR_CPUS} (CONFIG_NR_CPUS of rros_defconfig): Linux starts none beyond it and the RROS core would ignore cpus.oob; use a kernel configured for this board or list at most {RROS_NR_CPUS} CPUs"),
        );
    }
}

fn cpu_count(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let count = ctx.profile.cpus.count;
    if count == 0 {
        out.error(
            "cpus.count",
            "must be at least 1 (the number of CPUs the board has)",
        );
    } else if count > MAX_CPU_COUNT {
        out.error(
            "cpus.count",
            format!("{count} is more CPUs than Linux supports (NR_CPUS is at most {MAX_CPU_COUNT}); give the number of CPUs the board has"),
        );
    }
}

fn cpulist_syntax(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    for (field, text, parsed) in ctx.cpulists() {
        if let Err(err) = parsed {
            out.error(field, format!("\"{text}\": {err}"));
        }
    }
}

fn cpus_in_range(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let count = ctx.count;
    for (field, _, parsed) in ctx.cpulists() {
        let Ok(set) = parsed else { continue };
        let beyond = set.beyond(count);
        if !beyond.is_empty() && count > 0 {
            out.error(
                field,
                format!(
                    "CPU {beyond} does not exist on a {count}-CPU board (valid: {}); fix the list or cpus.count",
                    CpuSet::first_n(count)
                ),
            );
        }
    }
}

fn housekeeping_nonempty(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.hk().is_some_and(CpuSet::is_empty) {
        out.error("cpus.housekeeping", "empty; the kernel needs at least one housekeeping CPU (and nohz_full refuses to run without one): list CPU 0 at least");
    }
}

fn boot_cpu_housekeeping(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if let Some(hk) = ctx.hk()
        && !hk.is_empty()
        && !hk.contains(0)
    {
        out.error("cpus.housekeeping", format!("\"{hk}\" lacks the boot CPU 0, which nohz_full and the timekeeping duty never leave; add 0"));
    }
    if ctx.iso().is_some_and(|iso| iso.contains(0)) {
        out.error(
            "cpus.isolated",
            "contains the boot CPU 0, which cannot be nohz_full; isolate other CPUs",
        );
    }
}

fn isolated_nonempty(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.iso().is_some_and(CpuSet::is_empty) {
        out.error(
            "cpus.isolated",
            "empty; isolate at least one CPU to run the real-time work on",
        );
    }
}

fn housekeeping_isolated_disjoint(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let (Some(hk), Some(iso)) = (ctx.hk(), ctx.iso()) else {
        return;
    };
    let both = hk.intersection(iso);
    if !both.is_empty() {
        out.error(
            "cpus.isolated",
            format!("CPU {both} is both housekeeping and isolated; a CPU is one or the other"),
        );
    }
}

fn cpus_partition(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let (Some(hk), Some(iso)) = (ctx.hk(), ctx.iso()) else {
        return;
    };
    if ctx.count == 0 {
        return;
    }
    let unassigned = CpuSet::first_n(ctx.count).difference(&hk.union(iso));
    if !unassigned.is_empty() {
        out.error("cpus.housekeeping", format!("CPU {unassigned} is in neither housekeeping nor isolated; add it to one of them (housekeeping, unless it runs real-time work)"));
    }
}

fn oob_required(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let flavour = ctx.flavour();
    if flavour.is_dual_kernel() && ctx.oob.as_ref().is_ok_and(CpuSet::is_empty) {
        out.error("cpus.oob", format!("empty, but a {flavour} kernel needs its out-of-band CPUs named (the kernel default names CPUs this board may not have); set it to the isolated CPUs"));
    }
}

fn oob_needs_dual_kernel(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let flavour = ctx.flavour();
    if let Ok(oob) = &ctx.oob
        && !flavour.is_dual_kernel()
        && !oob.is_empty()
    {
        out.error("cpus.oob", format!("\"{oob}\" is set, but {flavour} has no out-of-band stage; remove it or use flavour \"rros\"/\"evl\""));
    }
}

fn oob_subset_isolated(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let (Ok(oob), Some(iso)) = (&ctx.oob, ctx.iso()) else {
        return;
    };
    let outside = oob.difference(iso);
    if !outside.is_empty() {
        out.error("cpus.oob", format!("CPU {outside} is out-of-band but not isolated; in-band tasks would run there too: add it to cpus.isolated or drop it from cpus.oob"));
    }
}

fn governor_known(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let governor = &ctx.tuning().governor;
    if !GOVERNORS.contains(&governor.as_str()) {
        out.error(
            "tuning.governor",
            format!(
                "\"{}\" is not a cpufreq governor; use one of {}",
                governor.escape_debug(),
                GOVERNORS.join(", ")
            ),
        );
    }
}

fn governor_performance(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    let governor = &ctx.tuning().governor;
    if GOVERNORS.contains(&governor.as_str()) && governor != "performance" {
        out.warning("tuning.governor", format!("\"{governor}\" changes the clock under the real-time work (costs ten to a hundred µs on wake-up); \"performance\" is the usual choice"));
    }
}

fn timer_migration(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.tuning().timer_migration {
        out.warning(
            "tuning.timer_migration",
            "true lets timers migrate onto isolated CPUs; set it to false",
        );
    }
}

fn vm_stat_interval(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.tuning().vm_stat_interval == 0 {
        out.error("tuning.vm_stat_interval", "must be at least 1 second");
    }
}

fn smt_arch(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.tuning().smt == SmtPolicy::Off && ctx.profile.arch == Arch::Aarch64 {
        out.warning(
            "tuning.smt",
            "\"off\" on an arm64 board without SMT has no effect; use \"none\"",
        );
    }
}

/// `tuning.extra_cmdline[i]` with its entry.
fn extra_cmdline<'a>(ctx: &'a ProfileCtx<'_>) -> impl Iterator<Item = (String, &'a str)> {
    ctx.tuning()
        .extra_cmdline
        .iter()
        .enumerate()
        .map(|(i, arg)| (format!("tuning.extra_cmdline[{i}]"), arg.as_str()))
}

fn plain_extra_cmdline(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    for (field, arg) in extra_cmdline(ctx) {
        plain_text(out, &field, arg);
    }
}

fn cmdline_arg(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    for (field, arg) in extra_cmdline(ctx) {
        if arg.trim().is_empty() || arg.contains(char::is_whitespace) {
            out.error(
                field,
                format!(
                    "\"{}\" must be one kernel parameter without spaces; give each its own entry",
                    arg.escape_debug()
                ),
            );
        }
    }
}

fn cmdline_rendered(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    for (field, arg) in extra_cmdline(ctx) {
        let key = arg.split('=').next().unwrap_or_default();
        if let Some((_, owner)) = RENDERED_PARAMS.iter().find(|(param, _)| *param == key) {
            out.error(
                field,
                format!("`{key}` is rendered from {owner}; set that instead of passing it by hand"),
            );
        }
    }
}

fn rpi_config_delivery(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if !ctx.tuning().rpi_config.is_empty()
        && ctx.profile.kernel.cmdline_delivery != CmdlineDelivery::RpiCmdline
    {
        out.error("tuning.rpi_config", "config.txt lines only exist on Raspberry Pi boards (cmdline_delivery = \"rpi-cmdline\"); remove them");
    }
}

fn plain_rpi_config(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    for (i, line) in ctx.tuning().rpi_config.iter().enumerate() {
        plain_text(out, &format!("tuning.rpi_config[{i}]"), line);
    }
}

fn scenario_present(ctx: &ProfileCtx<'_>, out: &mut Out<'_>) {
    if ctx.profile.scenarios.is_empty() {
        out.error("scenario", "no [[scenario]]; add at least one (e.g. an idle run) so the board has a budget to meet");
    }
}

// --- the scenario rules ----------------------------------------------------------------------

fn scenario_name(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let name = &s.scenario.name;
    if name.trim().is_empty() || !is_name(name) {
        out.error(s.at("name"), format!("\"{}\" must be non-empty and use only letters, digits, `-` and `_` (it names report files and test cases)", name.escape_debug()));
    }
}

fn scenario_unique(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let name = &s.scenario.name;
    // An invalid name is scenario-name's finding; an earlier one with the same text is too.
    if is_name(name) && s.earlier.iter().any(|e| e.name == *name) {
        out.error(
            s.at("name"),
            format!("\"{name}\" is used by an earlier scenario; give each scenario its own name"),
        );
    }
}

fn scenario_duration(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let text = s.scenario.duration.escape_debug();
    match &s.duration {
        Ok(d) if *d > MAX_DURATION => out.error(
            s.at("duration"),
            format!(
                "\"{text}\" is longer than the 365 days a run may last; write e.g. \"60s\", \"5m\" or \"24h\""
            ),
        ),
        Ok(d) if d.is_zero() => out.error(
            s.at("duration"),
            "is zero; measure for some time, e.g. \"60s\"",
        ),
        Ok(_) => {}
        Err(err) => out.error(
            s.at("duration"),
            format!(
                "\"{text}\": {err}; write e.g. \"60s\", \"5m\" or \"24h\" (at most 365 days)"
            ),
        ),
    }
}

fn scenario_interval(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    if !s.interval_ok() {
        out.error(
            s.at("interval_us"),
            format!(
                "{} is outside {}..={} (the sampling period in µs the engine accepts, 1 µs to 1 s); use e.g. 200 or 1000",
                s.scenario.interval_us,
                INTERVAL_US_RANGE.start(),
                INTERVAL_US_RANGE.end()
            ),
        );
    }
}

fn scenario_min_samples(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    if s.min_samples() == 0 {
        out.error(
            s.at("min_samples"),
            format!("0 would let a run that measured nothing pass; leave it out (default {DEFAULT_MIN_SAMPLES}) or give at least 1"),
        );
    }
}

fn scenario_samples(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let min_samples = s.min_samples();
    let Some(periods) = s.periods().filter(|_| min_samples > 0) else {
        return;
    };
    if periods < u128::from(min_samples) {
        let interval_us = s.scenario.interval_us;
        out.error(
            s.at("duration"),
            format!(
                "\"{}\" holds {periods} period(s) of {interval_us} µs, fewer than the {min_samples} samples a scenario needs (min_samples{}); measure at least {} or lower min_samples",
                s.scenario.duration.escape_debug(),
                if s.scenario.min_samples.is_some() { "" } else { ", default" },
                humantime::format_duration(shortest_duration(min_samples, interval_us))
            ),
        );
    }
}

fn scenario_claim(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let Some(claim) = s.claim() else {
        return;
    };
    if let Some((field, value)) = claim.invalid() {
        out.error(
            format!("{}.{field}", s.claim_field()),
            format!(
                "{value} is not a probability strictly between 0 and 1; write e.g. claim = {{ exceedance = 1e-6, confidence = 0.95 }}"
            ),
        );
    }
}

fn scenario_claim_provable(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let Some(claim) = s.claim().filter(|c| c.invalid().is_none()) else {
        return;
    };
    let (Some(periods), cpus) = (s.periods(), s.measured_cpus) else {
        return;
    };
    if cpus == 0 {
        return;
    }
    let needed = claim.samples_needed();
    let most = periods.saturating_mul(cpus as u128);
    if most < u128::from(needed) {
        let per_cpu = needed.div_ceil(cpus as u64);
        let interval_us = s.scenario.interval_us;
        let weakest = rros_contract::claim::zero_exceedance_bound(
            u64::try_from(most).unwrap_or(u64::MAX),
            claim.confidence,
        );
        out.error(
            s.at("duration"),
            format!(
                "\"{}\" holds at most {most} samples ({periods} period(s) of {interval_us} µs on {cpus} measured CPU(s)), fewer than the {needed} that prove {} ({}): such a run can only be INCONCLUSIVE; measure at least {} or state a claim of at least {weakest:.2e}",
                s.scenario.duration.escape_debug(),
                claim,
                s.claim_field(),
                humantime::format_duration(shortest_duration(per_cpu, interval_us)),
            ),
        );
    }
}

fn scenario_samples_margin(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let min_samples = s.min_samples();
    let Some(periods) = s.periods().filter(|_| min_samples > 0) else {
        return;
    };
    let wanted = u128::from(min_samples);
    if periods >= wanted && periods < wanted + u128::from(min_samples / 10) {
        out.warning(
            s.at("duration"),
            format!(
                "\"{}\" holds {periods} period(s) of {} µs, within 10 % of min_samples = {min_samples}: periods lost to overruns or a late start make the run ERROR (measured too little); measure a little longer",
                s.scenario.duration.escape_debug(),
                s.scenario.interval_us
            ),
        );
    }
}

fn scenario_priority(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let priority = s.scenario.priority;
    if !(1..=99).contains(&priority) {
        out.error(
            s.at("priority"),
            format!("{priority} is outside SCHED_FIFO's 1..=99"),
        );
    }
}

fn threshold_positive(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let threshold = s.scenario.threshold;
    if threshold.max_us == 0 {
        out.error(s.at("threshold.max_us"), "must be a positive number of µs");
    }
    if threshold.p99_us == Some(0) {
        out.error(
            s.at("threshold.p99_us"),
            "must be a positive number of µs (or left out)",
        );
    }
}

fn threshold_order(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    let Threshold { max_us, p99_us } = s.scenario.threshold;
    if let Some(p99) = p99_us
        && p99 > max_us
        && max_us > 0
    {
        out.error(s.at("threshold.p99_us"), format!("{p99} µs is above max_us = {max_us} µs; the 99th percentile cannot exceed the maximum"));
    }
}

fn scenario_load(s: &ScenarioCtx<'_>, out: &mut Out<'_>) {
    if let Some(load) = &s.scenario.load
        && load.trim().is_empty()
    {
        out.error(
            s.at("load"),
            "is empty; leave `load` out for an idle scenario",
        );
    }
}
