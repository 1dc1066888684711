//! The audit rules. Each reads what it needs under the sysroot and reports findings with the
//! evidence (what was read, from which file) and the exact fix. `docs/audit.md` describes
//! them one by one; keep the two in step.

use crate::audit::{Finding, Outcome, Rule, Severity};
use crate::kernel::{self, EVL_CPUS, KernelInfo, RealtimeCore};
use crate::parse::{self, IrqLine, Param};
use crate::sysroot::{Sysroot, SysrootError};
use rros_board::{Arch, Board, CmdlineDelivery, CpuSet, Flavour, SmtPolicy, render};
use std::collections::BTreeMap;

pub(crate) type RuleFn = fn(&Ctx, &mut Out) -> Result<(), SysrootError>;

pub(crate) const RULES: &[Rule] = &[
    Rule {
        id: "realtime-core",
        title: "the running kernel has the profile's real-time core",
        run: realtime_core,
    },
    Rule {
        id: "oob-cpus",
        title: "the dual kernel's out-of-band CPUs are the profile's",
        run: oob_cpus,
    },
    Rule {
        id: "cmdline",
        title: "the kernel command line carries every rendered isolation parameter",
        run: cmdline,
    },
    Rule {
        id: "isolated-cpus",
        title: "the isolated CPUs are the profile's",
        run: isolated_cpus,
    },
    Rule {
        id: "nohz-full",
        title: "full dynticks run on the isolated CPUs",
        run: nohz_full,
    },
    Rule {
        id: "smt-siblings",
        title: "no isolated CPU shares its core with a non-isolated one",
        run: smt_siblings,
    },
    Rule {
        id: "irq-affinity",
        title: "no device IRQ is served by an isolated CPU",
        run: irq_affinity,
    },
    Rule {
        id: "default-irq-affinity",
        title: "new IRQs default to the housekeeping CPUs",
        run: default_irq_affinity,
    },
    Rule {
        id: "irqbalance",
        title: "irqbalance cannot move IRQs onto the isolated CPUs",
        run: irqbalance,
    },
    Rule {
        id: "workqueue-cpumask",
        title: "unbound workqueues stay off the isolated CPUs",
        run: workqueue_cpumask,
    },
    Rule {
        id: "timer-migration",
        title: "timer migration is as the profile says",
        run: timer_migration,
    },
    Rule {
        id: "rt-throttling",
        title: "RT throttling is as the profile says",
        run: rt_throttling,
    },
    Rule {
        id: "fair-server",
        title: "the fair server does not throttle real-time threads on isolated CPUs",
        run: fair_server,
    },
    Rule {
        id: "cpufreq-governor",
        title: "the isolated CPUs run the profile's cpufreq governor",
        run: cpufreq_governor,
    },
    Rule {
        id: "cpuidle",
        title: "the isolated CPUs do not sleep deeper than C1 while measured as configured",
        run: cpuidle,
    },
];

pub(crate) const WORKQUEUE_CPUMASK: &str = "sys/devices/virtual/workqueue/cpumask";
pub(crate) const FAIR_SERVER_DIR: &str = "sys/kernel/debug/sched/fair_server";
const DEFAULT_AFFINITY: &str = "proc/irq/default_smp_affinity";
const TIMER_MIGRATION: &str = "proc/sys/kernel/timer_migration";
const RT_RUNTIME: &str = "proc/sys/kernel/sched_rt_runtime_us";
const RT_PERIOD: &str = "proc/sys/kernel/sched_rt_period_us";
const ISOLATED: &str = "sys/devices/system/cpu/isolated";
const NOHZ_FULL: &str = "sys/devices/system/cpu/nohz_full";
const IRQBALANCE_FILES: &[&str] = &["etc/default/irqbalance", "etc/sysconfig/irqbalance"];

pub(crate) fn cpu_dir(cpu: u32) -> String {
    format!("sys/devices/system/cpu/cpu{cpu}")
}

/// What one rule produced.
pub(crate) struct Out {
    rule: &'static str,
    findings: Vec<Finding>,
    skipped: Option<String>,
}

impl Out {
    pub(crate) fn new(rule: &'static str) -> Self {
        Self {
            rule,
            findings: Vec::new(),
            skipped: None,
        }
    }

    fn push(&mut self, severity: Severity, evidence: String, fix: String) {
        self.findings.push(Finding {
            rule: self.rule.to_owned(),
            severity,
            evidence,
            fix,
        });
    }

    fn error(&mut self, evidence: impl Into<String>, fix: impl Into<String>) {
        self.push(Severity::Error, evidence.into(), fix.into());
    }

    fn warning(&mut self, evidence: impl Into<String>, fix: impl Into<String>) {
        self.push(Severity::Warning, evidence.into(), fix.into());
    }

    fn skip(&mut self, reason: impl Into<String>) {
        self.skipped = Some(reason.into());
    }

    pub(crate) fn outcome(self) -> Outcome {
        match self.skipped {
            Some(reason) if self.findings.is_empty() => Outcome::Skipped { reason },
            _ if self.findings.is_empty() => Outcome::Pass,
            _ => Outcome::Findings {
                findings: self.findings,
            },
        }
    }
}

/// What every rule may use: the board, the files, and what was parsed once.
pub(crate) struct Ctx<'a> {
    board: &'a Board,
    root: Sysroot,
    kernel: &'a KernelInfo,
    online: CpuSet,
    /// Last value of each kernel parameter, and how many times the key occurs.
    cmdline: BTreeMap<String, (Param, usize)>,
    interrupts: BTreeMap<u32, IrqLine>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        board: &'a Board,
        root: Sysroot,
        kernel: &'a KernelInfo,
    ) -> Result<Self, SysrootError> {
        let online = CpuSet::parse(&kernel.online_cpus).unwrap_or_default();
        let mut cmdline: BTreeMap<String, (Param, usize)> = BTreeMap::new();
        for param in parse::parse_cmdline(&kernel.cmdline) {
            let entry = cmdline
                .entry(parse::normalize_key(&param.key))
                .or_insert((param.clone(), 0));
            entry.0 = param;
            entry.1 += 1;
        }
        let text = root.read("proc/interrupts")?;
        let interrupts = parse::parse_interrupts(&text)
            .map_err(|message| root.parse_error("proc/interrupts", &text, message))?;
        Ok(Self {
            board,
            root,
            kernel,
            online,
            cmdline,
            interrupts,
        })
    }

    fn iso(&self) -> &CpuSet {
        &self.board.isolated
    }

    fn hk(&self) -> &CpuSet {
        &self.board.housekeeping
    }

    /// "<what the command line needs>, on this board through <delivery>, then reboot".
    fn via_cmdline(&self, what: &str) -> String {
        format!(
            "{what}, on this board through {}, then reboot",
            delivery(self.board.cmdline_delivery)
        )
    }

    fn rendered(&self, key: &str) -> String {
        render::cmdline_params(self.board)
            .into_iter()
            .find(|p| p.split('=').next() == Some(key))
            .unwrap_or_default()
    }
}

/// Where the kernel command line comes from on each kind of board.
pub(crate) fn delivery(delivery: CmdlineDelivery) -> &'static str {
    match delivery {
        CmdlineDelivery::RpiCmdline => {
            "`CMDLINE` of meta-raspberrypi's rpi-cmdline (cmdline.txt on the boot partition)"
        }
        CmdlineDelivery::UbootExtlinux => {
            "`UBOOT_EXTLINUX_KERNEL_ARGS` (the `append` line of /boot/extlinux/extlinux.conf)"
        }
        CmdlineDelivery::WksBootloader => {
            "the wic kickstart's `bootloader --append=` (the options of the EFI boot entry)"
        }
        CmdlineDelivery::Qemu => {
            "`QB_KERNEL_CMDLINE_APPEND` of runqemu (the virtual board's `-append`)"
        }
    }
}

/// `CPU 1`, `CPUs 2-3`.
fn cpus(set: &CpuSet) -> String {
    match set.len() {
        0 => "no CPU".into(),
        1 => format!("CPU {set}"),
        _ => format!("CPUs {set}"),
    }
}

/// A cpulist for evidence: `(empty)` rather than nothing.
fn listed(set: &CpuSet) -> String {
    if set.is_empty() {
        "(empty)".into()
    } else {
        set.to_string()
    }
}

/// A file's content for evidence: trimmed, `(empty)` when blank.
fn quoted(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        "(empty)".into()
    } else {
        text.to_owned()
    }
}

fn shown(rel: &str) -> String {
    Sysroot::shown(rel)
}

// ---------------------------------------------------------------------------------------------

fn realtime_core(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let flavour = ctx.board.flavour;
    let want = kernel::core_of_flavour(flavour);
    let have = ctx.kernel.realtime_core;
    if have != want {
        out.error(
            format!(
                "the running kernel {} has real-time core `{have}` ({}); the profile's flavour is `{flavour}`",
                ctx.kernel.release, ctx.kernel.realtime_evidence
            ),
            match flavour {
                Flavour::PreemptRt => {
                    "boot a PREEMPT_RT kernel (CONFIG_PREEMPT_RT=y: linux-yocto-rt in the image, Debian's linux-image-rt-* in the virtual board); it shows /sys/kernel/realtime = 1"
                }
                Flavour::Rros => {
                    "boot the Dovetail + RROS kernel of meta-rros (linux-rros, CONFIG_Rros=y); it creates /dev/rros/control"
                }
                Flavour::Evl => {
                    "boot the Dovetail + EVL kernel of meta-rros (linux-evl, CONFIG_EVL=y); it creates /sys/devices/virtual/evl/control"
                }
            },
        );
    }
    Ok(())
}

fn oob_cpus(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    match ctx.board.flavour {
        Flavour::PreemptRt => out.skip("PREEMPT_RT has no out-of-band stage"),
        Flavour::Rros => out.skip(
            "RROS publishes no out-of-band CPU set in sysfs; the cmdline rule checks rros.oobcpus_arg",
        ),
        Flavour::Evl if ctx.kernel.realtime_core != RealtimeCore::Evl => {
            out.skip("EVL is not running (see realtime-core)")
        }
        Flavour::Evl => match ctx.root.read_opt(EVL_CPUS)? {
            None => out.skip(format!("EVL runs but {} is absent", shown(EVL_CPUS))),
            Some(text) => {
                let live = ctx.root.cpulist(EVL_CPUS, &text)?;
                if live != ctx.board.oob {
                    out.error(
                        format!(
                            "{} = {}, the profile's out-of-band CPUs are {}",
                            shown(EVL_CPUS),
                            quoted(&text),
                            ctx.board.oob
                        ),
                        ctx.via_cmdline(&format!(
                            "set `evl.oobcpus={}` on the kernel command line",
                            ctx.board.oob
                        )),
                    );
                }
            }
        },
    }
    Ok(())
}

/// Kernel parameters whose value is a cpulist, compared as sets.
const CPULIST_PARAMS: &[&str] = &[
    "nohz_full",
    "rcu_nocbs",
    "irqaffinity",
    "rros.oobcpus_arg",
    "evl.oobcpus",
];

fn same_value(key: &str, live: Option<&str>, want: Option<&str>) -> bool {
    match (live, want) {
        // A flag (`nosoftlockup`, `nosmt`) is there: its optional value only refines it.
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(live), Some(want)) if key == "isolcpus" => {
            let live = parse::parse_isolcpus(live);
            live.is_some() && live == parse::parse_isolcpus(want)
        }
        (Some(live), Some(want)) if CPULIST_PARAMS.contains(&key) => {
            match (CpuSet::parse(live), CpuSet::parse(want)) {
                (Ok(a), Ok(b)) => a == b,
                _ => live == want,
            }
        }
        (Some(live), Some(want)) => live == want,
    }
}

fn cmdline(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let wanted: Vec<Param> = render::cmdline_params(ctx.board)
        .iter()
        .flat_map(|p| parse::parse_cmdline(p))
        .collect();
    for want in wanted {
        let key = parse::normalize_key(&want.key);
        match ctx.cmdline.get(&key) {
            None => out.error(
                format!("/proc/cmdline has no `{}`", want.key),
                ctx.via_cmdline(&format!("add `{}` to the kernel command line", want.text())),
            ),
            Some((live, count))
                if !same_value(&key, live.value.as_deref(), want.value.as_deref()) =>
            {
                let (which, others) = if *count > 1 {
                    (
                        format!(" (the last of {count}, which is the one that counts)"),
                        " and drop the other occurrences".to_owned(),
                    )
                } else {
                    (String::new(), String::new())
                };
                out.error(
                    format!(
                        "/proc/cmdline has `{}`{which}, the profile renders `{}`",
                        live.text(),
                        want.text()
                    ),
                    ctx.via_cmdline(&format!(
                        "replace `{}` with `{}`{others} on the kernel command line",
                        live.text(),
                        want.text()
                    )),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn isolated_cpus(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let board = ctx.board;
    let offline = ctx.iso().difference(&ctx.online);
    if !offline.is_empty() {
        let verb = if offline.len() == 1 { "is" } else { "are" };
        let bring_up: Vec<String> = offline
            .iter()
            .map(|cpu| format!("echo 1 > /sys/devices/system/cpu/cpu{cpu}/online"))
            .collect();
        out.error(
            format!(
                "the profile isolates {}, but {} {verb} not online (/sys/devices/system/cpu/online = {})",
                cpus(ctx.iso()),
                cpus(&offline),
                ctx.kernel.online_cpus
            ),
            format!(
                "check that /etc/rros/board.toml is this board's profile (it describes {} CPUs); if it is, bring them online: {}",
                board.cpu_count,
                bring_up.join("; ")
            ),
        );
    }
    let text = ctx.root.read(ISOLATED)?;
    let live = ctx.root.cpulist(ISOLATED, &text)?;
    if &live != ctx.iso() {
        out.error(
            format!(
                "{} = {}, the profile isolates {}",
                shown(ISOLATED),
                listed(&live),
                ctx.iso()
            ),
            format!(
                "{} (if /proc/cmdline has it already, the kernel refused it: `dmesg | grep -i -e isolcpus -e housekeeping` says why)",
                ctx.via_cmdline(&format!(
                    "boot with `{}` on the kernel command line",
                    ctx.rendered("isolcpus")
                ))
            ),
        );
    }
    Ok(())
}

fn nohz_full(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    if !ctx.board.tuning.nohz_full {
        out.skip("the profile does not ask for full dynticks (tuning.nohz_full = false)");
        return Ok(());
    }
    let param = ctx.rendered("nohz_full");
    match ctx.root.read_opt(NOHZ_FULL)? {
        None => out.error(
            format!(
                "{} does not exist: the kernel is built without CONFIG_NO_HZ_FULL",
                shown(NOHZ_FULL)
            ),
            format!(
                "build the kernel with CONFIG_NO_HZ_FULL=y and {}",
                ctx.via_cmdline(&format!(
                    "boot it with `{param}` on the kernel command line"
                ))
            ),
        ),
        Some(text) => {
            let live = ctx.root.cpulist(NOHZ_FULL, &text)?;
            if &live != ctx.iso() {
                out.error(
                    format!(
                        "{} = {}, the profile wants full dynticks on {}",
                        shown(NOHZ_FULL),
                        quoted(&text),
                        ctx.iso()
                    ),
                    format!(
                        "{} (if /proc/cmdline has it already, the kernel refused it: `dmesg | grep -i nohz` says why)",
                        ctx.via_cmdline(&format!("boot with `{param}` on the kernel command line"))
                    ),
                );
            }
        }
    }
    Ok(())
}

fn smt_siblings(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let mut read_any = false;
    for cpu in ctx.iso().iter() {
        let rel = format!("{}/topology/thread_siblings_list", cpu_dir(cpu));
        let Some(text) = ctx.root.read_opt(&rel)? else {
            continue;
        };
        read_any = true;
        let siblings = ctx.root.cpulist(&rel, &text)?;
        let outside = siblings.difference(ctx.iso());
        if outside.is_empty() {
            continue;
        }
        let fix = match ctx.board.tuning.smt {
            SmtPolicy::Off => format!(
                "the profile turns SMT off (tuning.smt = \"off\") but it is on: {}, or now `echo off > /sys/devices/system/cpu/smt/control`",
                ctx.via_cmdline("make sure `nosmt` is on the kernel command line")
            ),
            SmtPolicy::None | SmtPolicy::Keep => format!(
                "isolate the sibling too (add {outside} to cpus.isolated in the profile, re-render, reboot), or turn SMT off: tuning.smt = \"off\" (`nosmt`), or now `echo off > /sys/devices/system/cpu/smt/control`"
            ),
        };
        out.error(
            format!(
                "isolated CPU {cpu} shares its core with {} ({} = {}), which the profile does not isolate",
                cpus(&outside),
                shown(&rel),
                siblings
            ),
            fix,
        );
    }
    if !read_any {
        out.skip(format!(
            "no /sys/devices/system/cpu/cpuN/topology/thread_siblings_list for isolated {}",
            cpus(ctx.iso())
        ));
    }
    Ok(())
}

/// Whether debugfs (when mounted) flags the IRQ as kernel-managed.
pub(crate) fn is_managed(root: &Sysroot, irq: u32) -> bool {
    root.read_opt(&format!("sys/kernel/debug/irq/irqs/{irq}"))
        .ok()
        .flatten()
        .is_some_and(|text| text.contains("IRQD_AFFINITY_MANAGED"))
}

fn irq_affinity(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    ctx.root.require_dir("proc/irq")?;
    let hk = ctx.hk();
    for irq in ctx.root.numbered("proc/irq", "")? {
        // Not in /proc/interrupts: no handler, it never fires (or a hidden per-CPU IPI).
        let Some(line) = ctx.interrupts.get(&irq) else {
            continue;
        };
        if line.per_cpu_reason().is_some() {
            continue;
        }
        let aff_rel = format!("proc/irq/{irq}/smp_affinity_list");
        let Some(aff_text) = ctx.root.read_opt(&aff_rel)? else {
            continue;
        };
        let aff = ctx.root.cpulist(&aff_rel, &aff_text)?;
        let eff_rel = format!("proc/irq/{irq}/effective_affinity_list");
        let eff = match ctx.root.read_opt(&eff_rel)? {
            Some(text) => Some(ctx.root.cpulist(&eff_rel, &text)?),
            None => None,
        };
        let name = format!("IRQ {irq} ({})", line.desc);
        let evidence = match &eff {
            // An IRQ not started yet has an empty effective mask: it will land in smp_affinity.
            Some(eff) if !eff.is_empty() => {
                let on = eff.intersection(ctx.iso());
                if on.is_empty() {
                    continue;
                }
                format!(
                    "{name} is served by isolated {}: {} = {eff} (smp_affinity_list = {aff})",
                    cpus(&on),
                    shown(&eff_rel)
                )
            }
            _ => {
                let on = aff.intersection(ctx.iso());
                if on.is_empty() {
                    continue;
                }
                format!(
                    "{name} may be served by isolated {}: {} = {aff}",
                    cpus(&on),
                    shown(&aff_rel)
                )
            }
        };
        if is_managed(&ctx.root, irq) {
            out.warning(
                format!("{evidence}; /sys/kernel/debug/irq/irqs/{irq} flags it IRQD_AFFINITY_MANAGED"),
                "none by writing (the kernel owns a managed IRQ's affinity and refuses writes with EIO): it fires for I/O queued from the CPUs in its mask, so keep that I/O off the isolated CPUs",
            );
        } else {
            out.error(
                evidence,
                format!(
                    "echo {hk} > {} (rros-validate tune does this at boot; EIO means a kernel-managed IRQ, which fires for I/O queued from its CPUs: keep that I/O off the isolated CPUs)",
                    shown(&aff_rel)
                ),
            );
        }
    }
    Ok(())
}

fn default_irq_affinity(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let Some(text) = ctx.root.read_opt(DEFAULT_AFFINITY)? else {
        out.skip(format!("no {}", shown(DEFAULT_AFFINITY)));
        return Ok(());
    };
    let mask = ctx.root.hex_mask(DEFAULT_AFFINITY, &text)?;
    let on = mask.intersection(ctx.iso());
    if !on.is_empty() {
        out.error(
            format!(
                "{} = {} ({}) includes isolated {}: IRQs set up from now on may land there",
                shown(DEFAULT_AFFINITY),
                quoted(&text),
                cpus(&mask),
                cpus(&on)
            ),
            format!(
                "echo {} > {} (at boot `{}` on the kernel command line sets it)",
                parse::format_hex_mask(ctx.hk()),
                shown(DEFAULT_AFFINITY),
                ctx.rendered("irqaffinity")
            ),
        );
    }
    Ok(())
}

fn irqbalance(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let mut pid = None;
    for candidate in ctx.root.numbered("proc", "")? {
        // Processes come and go on a live system: a vanished one is simply not irqbalance.
        let comm = ctx
            .root
            .read_opt(&format!("proc/{candidate}/comm"))
            .ok()
            .flatten();
        if comm.is_some_and(|c| c.trim() == "irqbalance") {
            pid = Some(candidate);
            break;
        }
    }
    let Some(pid) = pid else {
        return Ok(());
    };
    // The running process's environment is the truth; the config files are what it was
    // (probably) started with.
    let environ_rel = format!("proc/{pid}/environ");
    let mut sources: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    if let Some(text) = ctx.root.read_opt(&environ_rel).ok().flatten() {
        sources.push((shown(&environ_rel), parse::parse_environ(&text)));
    }
    for rel in IRQBALANCE_FILES {
        if let Some(text) = ctx.root.read_opt(rel).ok().flatten() {
            sources.push((shown(rel), parse::parse_env_file(&text)));
        }
    }
    let mut banned: Option<(String, String, CpuSet)> = None;
    'sources: for (source, vars) in &sources {
        for key in ["IRQBALANCE_BANNED_CPULIST", "IRQBALANCE_BANNED_CPUS"] {
            let Some(value) = vars.get(key).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let set = if key.ends_with("CPULIST") {
                CpuSet::parse(value).ok()
            } else {
                parse::parse_hex_mask(value).ok()
            };
            if let Some(set) = set {
                banned = Some((source.clone(), format!("{key}={value}"), set));
                break 'sources;
            }
        }
    }
    let config = sources
        .iter()
        .map(|(s, _)| s.as_str())
        .find(|s| s.starts_with("/etc/"))
        .unwrap_or("/etc/default/irqbalance")
        .to_owned();
    let stop = "or stop it: `systemctl disable --now irqbalance` (rros-validate tune already places every IRQ)";
    match banned {
        None => out.warning(
            format!(
                "irqbalance runs (pid {pid}) without IRQBALANCE_BANNED_CPULIST ({} read): it keeps IRQs off the isolated CPUs only by its own reading of isolcpus and nohz_full, which any banned list set later replaces",
                if sources.is_empty() {
                    "no environment or config file".to_owned()
                } else {
                    sources
                        .iter()
                        .map(|(s, _)| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            format!(
                "set IRQBALANCE_BANNED_CPULIST={} in {config} and restart irqbalance, {stop}",
                ctx.iso()
            ),
        ),
        Some((source, setting, set)) => {
            let missing = ctx.iso().difference(&set);
            if !missing.is_empty() {
                out.error(
                    format!(
                        "irqbalance runs (pid {pid}) with {setting} ({source}), which leaves isolated {} to it: a banned list replaces irqbalance's own banning of isolated and nohz_full CPUs",
                        cpus(&missing)
                    ),
                    format!(
                        "set IRQBALANCE_BANNED_CPULIST={} in {config} and restart irqbalance, {stop}",
                        set.union(ctx.iso())
                    ),
                );
            }
        }
    }
    Ok(())
}

fn workqueue_cpumask(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let Some(text) = ctx.root.read_opt(WORKQUEUE_CPUMASK)? else {
        out.skip(format!("no {}", shown(WORKQUEUE_CPUMASK)));
        return Ok(());
    };
    let mask = ctx.root.hex_mask(WORKQUEUE_CPUMASK, &text)?;
    let on = mask.intersection(ctx.iso());
    if !on.is_empty() {
        out.error(
            format!(
                "{} = {} ({}) includes isolated {}: unbound kernel work runs there",
                shown(WORKQUEUE_CPUMASK),
                quoted(&text),
                cpus(&mask),
                cpus(&on)
            ),
            format!(
                "echo {} > {} (rros-validate tune does this at boot)",
                parse::format_hex_mask(ctx.hk()),
                shown(WORKQUEUE_CPUMASK)
            ),
        );
    }
    Ok(())
}

/// The persistent home of the sysctls: the rendered sysctl.d file.
fn persist_sysctl() -> String {
    format!(
        "to keep it across boots install /etc/sysctl.d/{} as rendered by `rros board render` (recipe rros-tuning)",
        render::SYSCTL_FILE
    )
}

fn timer_migration(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let Some(text) = ctx.root.read_opt(TIMER_MIGRATION)? else {
        out.skip(format!(
            "no {}: the kernel has no timer migration (CONFIG_NO_HZ_COMMON off), timers stay where they were armed",
            shown(TIMER_MIGRATION)
        ));
        return Ok(());
    };
    let want = u8::from(ctx.board.tuning.timer_migration);
    if text.trim() != want.to_string() {
        out.error(
            format!(
                "{} = {}, the profile wants {want} (tuning.timer_migration = {})",
                shown(TIMER_MIGRATION),
                quoted(&text),
                ctx.board.tuning.timer_migration
            ),
            format!(
                "sysctl -w kernel.timer_migration={want}; {}",
                persist_sysctl()
            ),
        );
    }
    Ok(())
}

fn rt_throttling(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    if ctx.board.tuning.rt_throttling {
        out.skip("the profile keeps RT throttling (tuning.rt_throttling = true)");
        return Ok(());
    }
    let text = ctx.root.read(RT_RUNTIME)?;
    let value = text.trim();
    if value != "-1" {
        let period = ctx
            .root
            .read_opt(RT_PERIOD)?
            .map(|p| p.trim().to_owned())
            .unwrap_or_else(|| "?".into());
        out.error(
            format!(
                "{} = {} (sched_rt_period_us = {period}): real-time threads are stopped once they have run {} us of every {period} us period",
                shown(RT_RUNTIME),
                quoted(&text),
                quoted(&text)
            ),
            format!(
                "sysctl -w kernel.sched_rt_runtime_us=-1; {}",
                persist_sysctl()
            ),
        );
    }
    Ok(())
}

fn fair_server(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    if ctx.board.tuning.rt_throttling {
        out.skip("the profile keeps RT throttling (tuning.rt_throttling = true)");
        return Ok(());
    }
    let present = match ctx.root.list(FAIR_SERVER_DIR) {
        Ok(entries) => entries.is_some(),
        Err(err) => {
            out.skip(format!("cannot read the fair server: {err}"));
            return Ok(());
        }
    };
    if !present {
        let old = kernel::major_minor(&ctx.kernel.release).is_some_and(|v| v < (6, 12));
        if old {
            out.skip(format!(
                "kernel {} predates the fair deadline server (Linux 6.12); sched_rt_runtime_us alone governs throttling",
                ctx.kernel.release
            ));
        } else {
            out.skip(format!(
                "no {}: debugfs is not mounted (`mount -t debugfs none /sys/kernel/debug`, then audit again) or the kernel has no fair server",
                shown(FAIR_SERVER_DIR)
            ));
        }
        return Ok(());
    }
    for cpu in ctx.iso().iter() {
        let rel = format!("{FAIR_SERVER_DIR}/cpu{cpu}/runtime");
        let text = match ctx.root.read_opt(&rel) {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(err) => {
                out.skip(format!("cannot read the fair server: {err}"));
                return Ok(());
            }
        };
        if text.trim() != "0" {
            out.warning(
                format!(
                    "{} = {} ns: on CPU {cpu} the fair server still reserves that much of every period for SCHED_OTHER tasks, preempting real-time threads when such tasks wait",
                    shown(&rel),
                    quoted(&text)
                ),
                format!("echo 0 > {} (rros-validate tune does this at boot)", shown(&rel)),
            );
        }
    }
    Ok(())
}

fn cpufreq_governor(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let want = &ctx.board.tuning.governor;
    let mut read_any = false;
    for cpu in ctx.iso().iter() {
        let rel = format!("{}/cpufreq/scaling_governor", cpu_dir(cpu));
        let Some(text) = ctx.root.read_opt(&rel)? else {
            continue;
        };
        read_any = true;
        let have = text.trim();
        if have == want {
            continue;
        }
        let available_rel = format!("{}/cpufreq/scaling_available_governors", cpu_dir(cpu));
        let available = ctx.root.read_opt(&available_rel)?;
        let fix = match available {
            Some(list) if !list.split_whitespace().any(|g| g == want) => format!(
                "the kernel offers only `{}` on CPU {cpu} ({}): build it with CONFIG_CPU_FREQ_GOV_{}=y",
                list.trim(),
                shown(&available_rel),
                want.to_ascii_uppercase()
            ),
            _ => format!(
                "echo {want} > {} (rros-validate tune does this at boot)",
                shown(&rel)
            ),
        };
        out.error(
            format!(
                "{} = {}, the profile wants {want}",
                shown(&rel),
                quoted(&text)
            ),
            fix,
        );
    }
    if !read_any {
        out.skip(format!(
            "no cpufreq on isolated {} (no /sys/devices/system/cpu/cpuN/cpufreq: no cpufreq driver, as in a VM)",
            cpus(ctx.iso())
        ));
    }
    Ok(())
}

struct IdleState {
    index: u32,
    name: String,
    latency: Option<u32>,
}

fn cpuidle(ctx: &Ctx, out: &mut Out) -> Result<(), SysrootError> {
    let mut read_any = false;
    for cpu in ctx.iso().iter() {
        let dir = format!("{}/cpuidle", cpu_dir(cpu));
        let mut deep = Vec::new();
        // POLL (x86) and the first real state (C1 / WFI) are the shallow ones.
        let mut shallow_seen = false;
        for index in ctx.root.numbered(&dir, "state")? {
            read_any = true;
            let state = format!("{dir}/state{index}");
            let name = ctx
                .root
                .read_opt(&format!("{state}/name"))?
                .unwrap_or_default()
                .trim()
                .to_owned();
            if !shallow_seen {
                shallow_seen = name != "POLL";
                continue;
            }
            let disabled = ctx
                .root
                .read_opt(&format!("{state}/disable"))?
                .is_some_and(|d| d.trim() != "0");
            if disabled {
                continue;
            }
            let latency = ctx
                .root
                .read_opt(&format!("{state}/latency"))?
                .and_then(|l| l.trim().parse().ok());
            deep.push(IdleState {
                index,
                name,
                latency,
            });
        }
        if deep.is_empty() || ctx.board.tuning.pm_qos_us.is_some() {
            // With a PM QoS limit the service holds /dev/cpu_dma_latency while measuring.
            continue;
        }
        let states: Vec<String> = deep
            .iter()
            .map(|s| match s.latency {
                Some(us) => format!("state{} {} (exit latency {us} us)", s.index, s.name),
                None => format!("state{} {}", s.index, s.name),
            })
            .collect();
        let disable: Vec<String> = deep
            .iter()
            .map(|s| format!("echo 1 > /{dir}/state{}/disable", s.index))
            .collect();
        let cap = if ctx.board.arch == Arch::X86_64 {
            ", or cap C-states at boot (`processor.max_cstate=1 intel_idle.max_cstate=0`)"
        } else {
            ""
        };
        out.warning(
            format!(
                "isolated CPU {cpu} may enter idle states deeper than C1: {} (/{dir}/stateN/{{name,latency,disable}}); the profile holds no PM QoS (tuning.pm_qos_us unset), so a measurement runs the system as configured and every wake-up from these states pays their exit latency (with tuning.pm_qos_us set, the service holds /dev/cpu_dma_latency while measuring and only a run of the system as configured is affected)",
                states.join(", ")
            ),
            format!(
                "{}; or set tuning.pm_qos_us = 0 in the profile{cap}",
                disable.join("; ")
            ),
        );
    }
    if !read_any {
        out.skip(format!(
            "no cpuidle states on isolated {} (no cpuidle driver: the CPU idles in the architecture's default halt/WFI)",
            cpus(ctx.iso())
        ));
    }
    Ok(())
}
