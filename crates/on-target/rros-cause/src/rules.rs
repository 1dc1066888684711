//! The analysis: a table of rules, each turning the captured [`Evidence`] into causes with
//! their evidence (numbers, names), a confidence and the fix. Pure: no file is read here, so
//! every rule is tested on synthetic evidence. `docs/validation.md` ("Why did it fail?")
//! describes them; keep the two in step.
//!
//! Ranking: confidence first, then the CPU time the culprit took (an estimate for counts)
//! weighted by how many of the worst samples fell in an interval where it was active. A
//! culprit active in the worst samples' intervals is raised one confidence level
//! (informational stays informational: the samplers' own timer is active in every interval).

use crate::capture::Evidence;
use crate::snapshot::Delta;
use crate::sources::{is_realtime, policy_name};
use rros_contract::analysis::{Analysis, AnalysisLabel, Cause, Confidence, WorstSample};

/// A rough cost of one interrupt or softirq, ms, to rank counts against CPU times.
const IRQ_MS: f64 = 0.01;

/// The worst samples looked at, worst first.
pub const WORST: usize = 5;

/// One of the engine's kept worst samples.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub cpu: u32,
    pub latency_ns: i64,
    /// Wake-up time on CLOCK_MONOTONIC, ns.
    pub mono_ns: u64,
}

/// What the analysis knows besides the evidence.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Context {
    /// The samplers' real-time priority.
    pub priority: u32,
    /// The samplers ran out of band (EVL/RROS backend).
    pub out_of_band: bool,
    /// The housekeeping CPUs, for the fixes (`0`, `0-1`).
    pub housekeeping: String,
    /// When the measurement started, CLOCK_MONOTONIC ns.
    pub start_ns: u64,
}

type RuleFn = fn(&Ctx, &mut Vec<Found>);

/// One rule of the analysis.
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    run: RuleFn,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "in-band-switch",
        title: "an out-of-band sampler switched to the in-band (Linux) domain",
        run: in_band_switch,
    },
    Rule {
        id: "steal",
        title: "a hypervisor took time from a measured CPU",
        run: steal,
    },
    Rule {
        id: "smi",
        title: "system management interrupts (firmware) ran",
        run: smi,
    },
    Rule {
        id: "thermal-throttle",
        title: "a measured CPU was thermally throttled",
        run: thermal,
    },
    Rule {
        id: "foreign-task",
        title: "a task other than the samplers ran on a measured CPU",
        run: foreign_task,
    },
    Rule {
        id: "device-irq",
        title: "a device IRQ was served by a measured CPU",
        run: device_irq,
    },
    Rule {
        id: "ipi",
        title: "inter-processor interrupts hit a measured CPU",
        run: ipi,
    },
    Rule {
        id: "softirq",
        title: "softirq work ran on a measured CPU",
        run: softirq,
    },
    Rule {
        id: "sampler-preempted",
        title: "a sampler was preempted",
        run: sampler_preempted,
    },
    Rule {
        id: "c-state",
        title: "a measured CPU slept in a deep idle state",
        run: c_state,
    },
    Rule {
        id: "cpufreq",
        title: "a measured CPU changed frequency",
        run: cpufreq,
    },
];

/// A cause before ranking.
struct Found {
    rule: &'static str,
    confidence: Confidence,
    /// Worst samples in whose interval the culprit was active.
    aligned: usize,
    /// Rough CPU time the culprit took, ms (see [`IRQ_MS`]), for ranking within a
    /// confidence level and alignment: it makes an IRQ count and a task's time comparable.
    score: f64,
    evidence: String,
    fix: String,
}

impl Found {
    /// The rank within a confidence level: the CPU time taken, times one plus the worst
    /// samples it lines up with. On a busy CPU everything lines up with something; a
    /// second of a FIFO 99 hog still outranks a hundred disk interrupts.
    fn weight(&self) -> f64 {
        self.score * (1.0 + self.aligned as f64)
    }
}

struct Ctx<'a> {
    ev: &'a Evidence,
    cx: &'a Context,
    /// The worst samples with the interval each fell in.
    worst: Vec<(Sample, Option<&'a Delta>)>,
    rule: &'static str,
}

impl Ctx<'_> {
    /// How many worst samples fell in an interval where `active(delta, cpu)` holds. Only a
    /// short interval says anything: one that spans most of the run (a starved capture on a
    /// slow board took three snapshots in 10 s) holds every worst sample by chance, so an
    /// interval longer than a quarter of the run never counts.
    fn aligned(&self, active: impl Fn(&Delta, u32) -> bool) -> usize {
        let run_ns = self.ev.total.to_ns.saturating_sub(self.ev.total.from_ns);
        self.worst
            .iter()
            .filter(|(s, d)| {
                d.is_some_and(|d| {
                    d.to_ns.saturating_sub(d.from_ns).saturating_mul(4) <= run_ns
                        && active(d, s.cpu)
                })
            })
            .count()
    }

    fn found(
        &self,
        base: Confidence,
        aligned: usize,
        score: f64,
        evidence: String,
        fix: String,
    ) -> Found {
        let confidence = if aligned > 0 { raise(base) } else { base };
        let evidence = if aligned > 0 {
            format!(
                "{evidence}; {aligned} of the {} worst samples fell in the same intervals between snapshots",
                self.worst.len()
            )
        } else {
            evidence
        };
        Found {
            rule: self.rule,
            confidence,
            aligned,
            score,
            evidence,
            fix,
        }
    }
}

fn raise(c: Confidence) -> Confidence {
    match c {
        // What is normal stays normal, whenever it happened.
        Confidence::Informational => Confidence::Informational,
        Confidence::Low => Confidence::Medium,
        Confidence::Medium | Confidence::High => Confidence::High,
    }
}

fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// The interval `mono_ns` fell in.
fn interval_of(ev: &Evidence, mono_ns: u64) -> Option<&Delta> {
    let i = ev.intervals.partition_point(|d| d.to_ns <= mono_ns);
    ev.intervals
        .get(i)
        .filter(|d| d.from_ns <= mono_ns && mono_ns < d.to_ns)
}

/// Runs every rule; the causes are ranked, the worst samples placed in their intervals.
pub fn analyse(ev: &Evidence, cx: &Context, samples: &[Sample], label: AnalysisLabel) -> Analysis {
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.latency_ns));
    sorted.truncate(WORST);
    let worst: Vec<(Sample, Option<&Delta>)> = sorted
        .iter()
        .map(|s| (*s, interval_of(ev, s.mono_ns)))
        .collect();
    let mut found = Vec::new();
    for rule in RULES {
        let ctx = Ctx {
            ev,
            cx,
            worst: worst.clone(),
            rule: rule.id,
        };
        (rule.run)(&ctx, &mut found);
    }
    found.sort_by(|a, b| {
        a.confidence
            .cmp(&b.confidence)
            .then(b.weight().total_cmp(&a.weight()))
    });
    let mut unchecked: Vec<String> = ev.missing.iter().map(|s| s.to_string()).collect();
    if cx.out_of_band && ev.total.evl.is_empty() {
        unchecked.push(
            "in-band switches of the out-of-band samplers: no /sys/devices/virtual/evl/thread/<sampler>/stats (RROS exports no per-thread counters)".into(),
        );
    }
    if ev.dropped > 0 {
        unchecked.push(format!(
            "the first {} capture intervals were dropped from the ring: worst samples in them are not placed",
            ev.dropped
        ));
    }
    Analysis {
        label,
        causes: found
            .into_iter()
            .map(|f| Cause {
                rule: f.rule.to_owned(),
                confidence: f.confidence,
                evidence: f.evidence,
                fix: f.fix,
            })
            .collect(),
        worst: worst
            .iter()
            .map(|(s, d)| WorstSample {
                cpu: s.cpu,
                latency_us: s.latency_ns as f64 / 1000.0,
                at_s: s.mono_ns.saturating_sub(cx.start_ns) as f64 / 1e9,
                interval: d.map(|d| describe(d, s.cpu)).unwrap_or_default(),
            })
            .collect(),
        unchecked,
    }
}

/// What happened on `cpu` in an interval, briefly.
pub fn describe(d: &Delta, cpu: u32) -> String {
    let mut parts: Vec<String> = Vec::new();
    for i in d.irqs.iter().filter(|i| i.cpu == cpu && i.irq != "LOC") {
        parts.push(format!("IRQ {} ({}) ×{}", i.irq, i.device, i.count));
    }
    for t in d.tasks.iter().filter(|t| t.cpu == cpu).take(3) {
        parts.push(format!("{} (pid {}) {}", t.comm, t.tid, ms(t.run_ns)));
    }
    for (c, n) in d.smi.iter().filter(|(c, _)| *c == cpu) {
        parts.push(format!("SMI ×{n} (CPU {c})"));
    }
    for (_, state, n) in d.idle.iter().filter(|(c, s, _)| *c == cpu && deep(s)) {
        parts.push(format!("{state} ×{n}"));
    }
    for (name, isw, _) in d.evl.iter().filter(|(_, isw, _)| *isw > 0) {
        parts.push(format!("{name} in-band ×{isw}"));
    }
    parts.join(", ")
}

fn in_band_switch(c: &Ctx, out: &mut Vec<Found>) {
    for (name, isw, _) in c.ev.total.evl.iter().filter(|(_, isw, _)| *isw > 0) {
        let aligned = c.aligned(|d, _| d.evl.iter().any(|(n, i, _)| n == name && *i > 0));
        out.push(c.found(
            Confidence::High,
            aligned,
            *isw as f64 * 1.0,
            format!("out-of-band sampler {name} switched in-band {isw} time(s): those samples were measured by Linux, not by the real-time core"),
            "a sampler must make no in-band call: this is a bug in the measurement path (a system call, a page fault: memory not locked, a signal); report it with the kernel and libevl versions".into(),
        ));
    }
}

fn steal(c: &Ctx, out: &mut Vec<Found>) {
    for (cpu, t) in c.ev.total.ticks.iter().filter(|(_, t)| t.steal > 0) {
        let aligned =
            c.aligned(|d, s| s == *cpu && d.ticks.iter().any(|(x, t)| x == cpu && t.steal > 0));
        out.push(c.found(
            Confidence::High,
            aligned,
            t.steal as f64 * 10.0,
            format!("the hypervisor took {} tick(s) from CPU {cpu} (steal time in /proc/stat)", t.steal),
            "a virtual machine cannot hold a hard budget while its vCPUs are descheduled: pin the vCPUs to isolated host CPUs, or measure on the real board".into(),
        ));
    }
}

fn smi(c: &Ctx, out: &mut Vec<Found>) {
    let total: u64 =
        c.ev.total
            .smi
            .iter()
            .map(|(_, n)| n)
            .max()
            .copied()
            .unwrap_or(0);
    if total == 0 {
        return;
    }
    let aligned = c.aligned(|d, _| !d.smi.is_empty());
    out.push(c.found(
        Confidence::High,
        aligned,
        total as f64 * 1.0,
        format!("{total} SMI(s) during the run (MSR_SMI_COUNT)"),
        "firmware cause, no software fix: disable the BIOS features that use SMM (legacy USB emulation, power/thermal management by firmware), or choose another board".into(),
    ));
}

fn thermal(c: &Ctx, out: &mut Vec<Found>) {
    for (cpu, n) in &c.ev.total.throttle {
        let aligned = c.aligned(|d, s| s == *cpu && d.throttle.iter().any(|(x, _)| x == cpu));
        out.push(c.found(
            Confidence::High,
            aligned,
            *n as f64 * 100.0,
            format!("CPU {cpu} was thermally throttled {n} time(s) during the run"),
            "improve the cooling (heatsink, fan, airflow) or lower the load; a throttled CPU runs slower and late".into(),
        ));
    }
}

/// Per-CPU kernel threads (`ksoftirqd/3`, `kworker/3:1`, `migration/3`; on PREEMPT_RT also
/// `ktimers/3`, the timer softirq at SCHED_FIFO 1, and `irq_work/3`): bound to the CPU.
fn per_cpu_kthread(comm: &str) -> bool {
    [
        "ksoftirqd/",
        "ktimers/",
        "irq_work/",
        "kworker/",
        "migration/",
        "cpuhp/",
        "rcuc/",
        "rcuop/",
        "idle_inject/",
    ]
    .iter()
    .any(|p| comm.starts_with(p))
}

fn foreign_task(c: &Ctx, out: &mut Vec<Found>) {
    for t in &c.ev.total.tasks {
        let aligned = c.aligned(|d, s| s == t.cpu && d.tasks.iter().any(|x| x.tid == t.tid));
        let rt = is_realtime(t.policy);
        let irq_thread = t.comm.starts_with("irq/");
        // Only a real-time task at or above the samplers' priority preempts them; the others
        // delay them through what they do in the kernel (locks, non-preemptible sections).
        let kthread_moment = per_cpu_kthread(&t.comm) && t.run_ns < 1_000_000;
        // A per-CPU kernel thread below the samplers serves the CPU's own timers, RCU and
        // work: normal up to 1 % of the run (`ktimers/1` at FIFO 1 took 6.7 ms of an intact
        // 30 s run on the virtual board's PREEMPT_RT guest).
        let kthread_housekeeping = per_cpu_kthread(&t.comm)
            && !(rt && t.rt_priority >= c.cx.priority)
            && t.run_ns.saturating_mul(100) < c.ev.total.to_ns.saturating_sub(c.ev.total.from_ns);
        let base = if kthread_moment || kthread_housekeeping {
            // `migration/3` is FIFO 99 on every kernel: a moment of it is the scheduler's.
            Confidence::Informational
        } else if rt && t.rt_priority >= c.cx.priority {
            Confidence::High
        } else if irq_thread && irq_fired_on(c, &t.comm, t.cpu) {
            // The IRQ itself fired here: `device-irq` names it, with this thread's time.
            Confidence::Low
        } else if irq_thread {
            Confidence::Medium
        } else if rt || (t.run_ns >= 1_000_000 && !per_cpu_kthread(&t.comm)) {
            Confidence::Low
        } else {
            Confidence::Informational
        };
        let prio = if rt {
            format!("{} {}", policy_name(t.policy), t.rt_priority)
        } else {
            policy_name(t.policy).to_owned()
        };
        let fix = if irq_thread {
            let irq = irq_of_thread(&t.comm).unwrap_or("N");
            format!(
                "this is the thread of IRQ {irq}: move the IRQ to the housekeeping CPUs (`echo {} > /proc/irq/{irq}/smp_affinity_list`)",
                c.cx.housekeeping
            )
        } else if per_cpu_kthread(&t.comm) {
            "a per-CPU kernel thread: its work comes from this CPU (timers, workqueues, RCU callbacks); check the audit's nohz_full, rcu_nocbs and workqueue cpumask findings".into()
        } else {
            format!(
                "move it to the housekeeping CPUs {hk}: `taskset -apc {hk} {pid}` now, `CPUAffinity={hk}` in its systemd unit for good",
                hk = c.cx.housekeeping,
                pid = t.pid
            )
        };
        out.push(c.found(
            base,
            aligned,
            t.run_ns as f64 / 1e6,
            format!(
                "task `{}` (pid {}, tid {}, {prio}) ran {} on CPU {}",
                t.comm,
                t.pid,
                t.tid,
                ms(t.run_ns),
                t.cpu
            ),
            fix,
        ));
    }
}

/// The IRQ of a threaded handler (`irq/27-virtio2-input` → `27`).
fn irq_of_thread(comm: &str) -> Option<&str> {
    comm.strip_prefix("irq/")?.split('-').next()
}

/// Whether the IRQ whose thread is `comm` fired on `cpu` during the run.
fn irq_fired_on(c: &Ctx, comm: &str, cpu: u32) -> bool {
    irq_of_thread(comm).is_some_and(|irq| {
        c.ev.total
            .irqs
            .iter()
            .any(|i| i.movable && i.irq == irq && i.cpu == cpu)
    })
}

/// On an interrupt pipeline (Dovetail), a numbered IRQ that fires on a CPU its affinity
/// excludes is per-CPU by nature: the pipeline's own timer and its in-band tick and irq_work
/// relays (`/proc/interrupts` shows them as numbered lines, the local timer on the synthetic
/// SIPIC chip). On an out-of-band run that is the samplers' own clock, as `LOC` is in band.
fn pipeline_per_cpu(c: &Ctx, irq: &str, cpu: u32) -> bool {
    c.cx.out_of_band
        && c.ev
            .irq_affinity
            .get(irq)
            .and_then(|a| a.parse::<rros_board::CpuSet>().ok())
            .is_some_and(|set| !set.contains(cpu))
}

fn device_irq(c: &Ctx, out: &mut Vec<Found>) {
    for i in c.ev.total.irqs.iter().filter(|i| i.movable) {
        if pipeline_per_cpu(c, &i.irq, i.cpu) {
            out.push(c.found(
                Confidence::Informational,
                0,
                i.count as f64 * IRQ_MS,
                format!(
                    "IRQ {} ({}) ×{} on CPU {}, outside its affinity {}: a per-CPU interrupt of the interrupt pipeline (its timer, in-band tick or work relay)",
                    i.irq,
                    i.device,
                    i.count,
                    i.cpu,
                    c.ev.irq_affinity.get(&i.irq).map_or("", String::as_str)
                ),
                "nothing to move: it is the out-of-band core's own timer or relays the in-band tick; check the audit's nohz_full finding if the in-band tick fires often".into(),
            ));
            continue;
        }
        let aligned =
            c.aligned(|d, s| s == i.cpu && d.irqs.iter().any(|x| x.irq == i.irq && x.cpu == i.cpu));
        let base = if i.count >= 10 {
            Confidence::High
        } else {
            Confidence::Medium
        };
        // On PREEMPT_RT (or `threadirqs`) the handler's work is its thread's, on the same CPU.
        let thread_ns: u64 =
            c.ev.total
                .tasks
                .iter()
                .filter(|t| t.cpu == i.cpu && irq_of_thread(&t.comm) == Some(i.irq.as_str()))
                .map(|t| t.run_ns)
                .fold(0, u64::saturating_add);
        let thread = if thread_ns > 0 {
            format!("; its thread ran {} there", ms(thread_ns))
        } else {
            String::new()
        };
        out.push(c.found(
            base,
            aligned,
            i.count as f64 * IRQ_MS + thread_ns as f64 / 1e6,
            format!(
                "IRQ {} ({}) fired {} time(s) on CPU {} during the run{}{thread}",
                i.irq,
                i.device,
                i.count,
                i.cpu,
                c.ev.irq_affinity
                    .get(&i.irq)
                    .map(|a| format!("; its affinity is {a}"))
                    .unwrap_or_default()
            ),
            format!(
                "move it to the housekeeping CPUs: `echo {hk} > /proc/irq/{irq}/smp_affinity_list` (rros-isolation applies the profile's IRQ affinity at boot: an IRQ requested later, or irqbalance, escapes it; set IRQBALANCE_BANNED_CPULIST or disable irqbalance)",
                hk = c.cx.housekeeping,
                irq = i.irq
            ),
        ));
    }
}

fn ipi(c: &Ctx, out: &mut Vec<Found>) {
    for i in c.ev.total.irqs.iter().filter(|i| !i.movable) {
        let base = match i.irq.as_str() {
            // Out of band, the interrupt pipeline only logs an in-band IPI while the core
            // runs (its handler waits for the in-band stage): the sampler pays the entry.
            "TLB" | "CAL" | "IPI1" | "IPI2" if c.cx.out_of_band => Confidence::Informational,
            "TLB" | "CAL" | "IPI1" | "IPI2" => Confidence::Low,
            "MCE" | "MCP" | "THR" | "NMI" | "PMI" | "HYP" => Confidence::Medium,
            // The local timer and rescheduling IPIs are the samplers' own wake-ups.
            _ => Confidence::Informational,
        };
        let aligned = if base == Confidence::Informational {
            0
        } else {
            c.aligned(|d, s| s == i.cpu && d.irqs.iter().any(|x| x.irq == i.irq && x.cpu == i.cpu))
        };
        out.push(c.found(
            base,
            aligned,
            i.count as f64 * IRQ_MS,
            format!("{} ({}) ×{} on CPU {}", i.irq, i.device, i.count, i.cpu),
            ipi_fix(&i.irq),
        ));
    }
}

/// What to do about an architecture interrupt, by its `/proc/interrupts` name (x86 names;
/// arm64's IPIs are numbered). `docs/reference/latency.md` §9 has the sources.
fn ipi_fix(irq: &str) -> String {
    match irq {
        "MCP" => "x86 polls every CPU for corrected machine-check errors once per `check_interval` (/sys/devices/system/machinecheck/machinecheck<N>/check_interval, 300 s by default): boot with `mce=ignore_ce` to stop the polling timer and CMCI (corrected errors are then left to the firmware or a monitoring agent), or accept one poll per interval".into(),
        "MCE" => "a machine-check exception is a hardware error, not a tuning matter: read it with `journalctl -k` or rasdaemon".into(),
        "THR" => "thermal threshold interrupts: the CPU is near its thermal limit; improve the cooling (see also the thermal-throttle cause)".into(),
        "NMI" | "PMI" => "non-maskable and performance-monitoring interrupts come from the NMI watchdog or a perf session: boot with `nmi_watchdog=0` and stop perf sampling on the isolated CPUs".into(),
        "HYP" => "hypervisor callback interrupts: the board is a virtual machine; pin its vCPUs on the host".into(),
        _ => "inter-processor interrupts come from work elsewhere: TLB shootdowns when a process whose threads ran on the isolated CPU unmaps memory (munmap, madvise, fork, a `free` giving memory back; x86 counts each under both CAL and TLB), function calls from kernel code (code patching by static keys, expedited RCU): keep other processes' threads off the isolated CPUs and let a real-time process keep its heap (mallopt M_TRIM_THRESHOLD=-1, M_MMAP_MAX=0)".into(),
    }
}

fn softirq(c: &Ctx, out: &mut Vec<Found>) {
    for (name, cpu, n) in &c.ev.total.softirqs {
        let base = match name.as_str() {
            "NET_RX" | "NET_TX" | "BLOCK" | "TASKLET" | "IRQ_POLL" => Confidence::Medium,
            // Timers (the samplers' own), RCU and scheduler balancing run on every CPU.
            _ => Confidence::Informational,
        };
        let aligned = if base == Confidence::Informational {
            0
        } else {
            c.aligned(|d, s| s == *cpu && d.softirqs.iter().any(|(x, y, _)| x == name && y == cpu))
        };
        out.push(c.found(
            base,
            aligned,
            *n as f64 * IRQ_MS,
            format!("softirq {name} ran {n} time(s) on CPU {cpu}"),
            format!("softirqs run where their IRQ fired: move the device IRQ (network, storage) off CPU {cpu}, and keep RPS/XPS masks (/sys/class/net/*/queues/*/rps_cpus) on the housekeeping CPUs"),
        ));
    }
}

/// Involuntary switches of a sampler no cause is looked for below: one every 10 s of the run
/// (the sampler's own move to its CPU when it pins itself is one).
const PREEMPTED_EVERY_NS: u64 = 10_000_000_000;

fn sampler_preempted(c: &Ctx, out: &mut Vec<Found>) {
    let run_ns = c.ev.total.to_ns.saturating_sub(c.ev.total.from_ns);
    for (name, _, involuntary) in c.ev.total.samplers.iter().filter(|(_, _, n)| *n > 0) {
        // Out of band, Linux schedules a sampler only around its measurement (attaching to
        // the core, moving to its CPU); a switch while measuring is an in-band switch, which
        // the core counts and `oob-inband-switch` reports.
        let base = if c.cx.out_of_band || involuntary.saturating_mul(PREEMPTED_EVERY_NS) <= run_ns {
            Confidence::Informational
        } else {
            Confidence::Medium
        };
        out.push(c.found(
            base,
            0,
            *involuntary as f64 * 0.01,
            format!("{name} was preempted {involuntary} time(s) (involuntary context switches) while measuring"),
            format!("something of equal or higher priority ran on its CPU: see the task and IRQ-thread causes; the samplers run at priority {}", c.cx.priority),
        ));
    }
}

/// Idle states with a real exit latency (anything deeper than polling or C1/WFI).
fn deep(state: &str) -> bool {
    !matches!(state, "POLL" | "C1" | "WFI" | "C1_ACPI" | "poll")
}

fn c_state(c: &Ctx, out: &mut Vec<Found>) {
    for (cpu, state, n) in &c.ev.total.idle {
        let base = if deep(state) {
            Confidence::Medium
        } else {
            Confidence::Informational
        };
        let aligned = if deep(state) {
            c.aligned(|d, s| s == *cpu && d.idle.iter().any(|(x, y, _)| x == cpu && y == state))
        } else {
            0
        };
        out.push(c.found(
            base,
            aligned,
            *n as f64 * 0.01,
            format!("CPU {cpu} entered idle state {state} {n} time(s)"),
            "hold PM QoS during the run (profile `tuning.pm_qos_us = 0`, /dev/cpu_dma_latency) or limit the depth at boot (`processor.max_cstate=1 intel_idle.max_cstate=1`, `cpuidle.off=1`)".into(),
        ));
    }
}

fn cpufreq(c: &Ctx, out: &mut Vec<Found>) {
    for (cpu, n, khz) in &c.ev.total.freq {
        let aligned = c.aligned(|d, s| s == *cpu && d.freq.iter().any(|(x, _, _)| x == cpu));
        let now = khz
            .map(|k| format!(", {} MHz at the end", k / 1000))
            .unwrap_or_default();
        out.push(c.found(
            Confidence::Medium,
            aligned,
            *n as f64 * 0.05,
            format!("CPU {cpu} changed frequency {n} time(s){now}"),
            "run the measured CPUs at a fixed frequency: profile `tuning.governor = \"performance\"` (or pin scaling_min_freq = scaling_max_freq)".into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{IrqDelta, TaskRun};
    use crate::sources::CpuTicks;

    const CPU: u32 = 3;

    /// Evidence of a 9 s run `[1 s, 10 s)` whose counters all moved in its first second: the
    /// kept interval `[1 s, 2 s)` holds `d` (short enough for a worst sample in it to mean
    /// something).
    fn evidence(mut d: Delta) -> Evidence {
        d.from_ns = 1_000_000_000;
        d.to_ns = 10_000_000_000;
        let mut first = d.clone();
        first.to_ns = 2_000_000_000;
        Evidence {
            irq_affinity: [("45".to_owned(), "0-3".to_owned())].into(),
            cpus: vec![CPU],
            total: d,
            intervals: vec![first],
            dropped: 0,
            missing: Default::default(),
        }
    }

    fn context() -> Context {
        Context {
            priority: 90,
            out_of_band: false,
            housekeeping: "0-1".into(),
            start_ns: 1_000_000_000,
        }
    }

    /// A worst sample inside the interval (`aligned`) or outside every interval.
    fn sample(aligned: bool) -> Sample {
        Sample {
            cpu: CPU,
            latency_ns: 120_000,
            mono_ns: if aligned {
                1_500_000_000
            } else {
                5_000_000_000
            },
        }
    }

    fn run(d: Delta, aligned: bool) -> Analysis {
        analyse(
            &evidence(d),
            &context(),
            &[sample(aligned)],
            AnalysisLabel::Failure,
        )
    }

    fn top(a: &Analysis) -> &Cause {
        a.top(1).next().expect("a cause above informational")
    }

    fn task(comm: &str, policy: u32, prio: u32, run_ns: u64) -> TaskRun {
        TaskRun {
            tid: 123,
            pid: 123,
            comm: comm.into(),
            cpu: CPU,
            policy,
            rt_priority: prio,
            run_ns,
        }
    }

    /// What a healthy isolated CPU shows: the samplers' own timer, C1 between samples, a
    /// per-CPU kworker for a moment.
    fn intact() -> Delta {
        Delta {
            irqs: vec![IrqDelta {
                irq: "LOC".into(),
                device: "Local timer interrupts".into(),
                movable: false,
                cpu: CPU,
                count: 10_000,
            }],
            softirqs: vec![("TIMER".into(), CPU, 40), ("RCU".into(), CPU, 3)],
            idle: vec![(CPU, "C1".into(), 9_990), (CPU, "POLL".into(), 3)],
            tasks: vec![task("kworker/3:1", 0, 0, 40_000)],
            samplers: vec![("sampler-0".into(), 10_000, 0)],
            ..Delta::default()
        }
    }

    /// The intact CPU plus `count` interrupts of `irq` (a number is `movable`: a device's).
    fn with_irq(irq: &str, device: &str, count: u64) -> Delta {
        let mut d = intact();
        d.irqs.push(IrqDelta {
            irq: irq.into(),
            device: device.into(),
            movable: irq.parse::<u32>().is_ok(),
            cpu: CPU,
            count,
        });
        d
    }

    #[test]
    fn an_intact_run_has_no_cause_above_informational() {
        let a = run(intact(), true);
        assert_eq!(a.top(5).count(), 0, "{:#?}", a.causes);
        assert!(!a.causes.is_empty(), "what was seen is still recorded");
    }

    #[test]
    fn a_worst_sample_in_an_interval_spanning_most_of_the_run_proves_nothing() {
        let mut d = intact();
        d.tasks.push(task("make", 0, 0, 2_000_000));
        let mut ev = evidence(d);
        // One interval for the whole run: every worst sample is "in" it.
        ev.intervals[0].to_ns = ev.total.to_ns;
        let a = analyse(&ev, &context(), &[sample(true)], AnalysisLabel::Failure);
        let make = a
            .causes
            .iter()
            .find(|c| c.evidence.contains("`make`"))
            .unwrap();
        assert_eq!(make.confidence, Confidence::Low, "{make:?}");
        assert!(!make.evidence.contains("worst samples"), "{make:?}");
    }

    #[test]
    fn out_of_band_the_pipelines_per_cpu_irqs_and_the_samplers_setup_are_informational() {
        let mut d = intact();
        // The EVL virtual board's intact run: Dovetail's local timer (IRQ 4354 on the SIPIC
        // chip, affinity 0) fired once per sample on oob CPU 3, the in-band tick relay a few
        // times; the sampler was switched twice by Linux while attaching and pinning.
        for (irq, device, count) in [("4354", "interrupt", 8355), ("25", "tick", 6)] {
            d.irqs.push(IrqDelta {
                irq: irq.into(),
                device: device.into(),
                movable: true,
                cpu: CPU,
                count,
            });
        }
        d.samplers = vec![("cyclictest-rs:1".into(), 8000, 2)];
        // Three in-band function-call IPIs: logged by the pipeline while the core runs.
        d.irqs.push(IrqDelta {
            irq: "CAL".into(),
            device: "Function call interrupts".into(),
            movable: false,
            cpu: CPU,
            count: 3,
        });
        let mut ev = evidence(d);
        ev.irq_affinity = [
            ("4354".to_owned(), "0".to_owned()),
            ("25".to_owned(), "0".to_owned()),
        ]
        .into();
        let oob = Context {
            out_of_band: true,
            ..context()
        };
        let a = analyse(&ev, &oob, &[sample(true)], AnalysisLabel::Failure);
        let above: Vec<_> = a
            .causes
            .iter()
            .filter(|c| c.confidence < Confidence::Informational)
            .collect();
        assert!(above.is_empty(), "{above:#?}");
        assert!(a.causes.iter().any(|c| c.evidence.starts_with("IRQ 4354 (interrupt) ×8355 on CPU 3, outside its affinity 0: a per-CPU interrupt of the interrupt pipeline")), "{:#?}", a.causes);
        // In band, the same IRQ outside its affinity is still a device IRQ to move.
        let a = analyse(&ev, &context(), &[sample(true)], AnalysisLabel::Failure);
        assert_eq!(top(&a).rule, "device-irq");
        assert!(top(&a).evidence.starts_with("IRQ 4354"), "{:?}", top(&a));
    }

    #[test]
    fn device_irq_names_the_irq_the_cpu_and_the_affinity_fix() {
        let a = run(with_irq("45", "eth0", 812), true);
        let c = top(&a);
        assert_eq!(
            (c.rule.as_str(), c.confidence),
            ("device-irq", Confidence::High)
        );
        assert!(
            c.evidence.starts_with(
                "IRQ 45 (eth0) fired 812 time(s) on CPU 3 during the run; its affinity is 0-3;"
            ),
            "{}",
            c.evidence
        );
        assert!(
            c.evidence.contains("1 of the 1 worst samples"),
            "{}",
            c.evidence
        );
        assert!(
            c.fix.contains("echo 0-1 > /proc/irq/45/smp_affinity_list"),
            "{}",
            c.fix
        );
        assert!(a.worst[0].interval.contains("IRQ 45 (eth0) ×812"));
    }

    #[test]
    fn a_realtime_task_at_or_above_the_samplers_is_high() {
        let mut d = intact();
        d.tasks.push(task("foo", 1, 99, 1_200_000_000));
        let c = top(&run(d, false)).clone();
        assert_eq!(
            (c.rule.as_str(), c.confidence),
            ("foreign-task", Confidence::High)
        );
        assert_eq!(
            c.evidence,
            "task `foo` (pid 123, tid 123, SCHED_FIFO 99) ran 1200.0 ms on CPU 3"
        );
        assert!(c.fix.contains("taskset -apc 0-1 123") && c.fix.contains("CPUAffinity=0-1"));
    }

    #[test]
    fn a_small_normal_task_is_low_until_it_lines_up_with_the_worst_sample() {
        let mut d = intact();
        d.tasks.push(task("logger", 0, 0, 2_000_000));
        assert_eq!(top(&run(d.clone(), false)).confidence, Confidence::Low);
        let aligned = run(d, true);
        assert_eq!(top(&aligned).confidence, Confidence::Medium);
        assert!(top(&aligned).evidence.contains("`logger`"));
    }

    #[test]
    fn a_moment_of_a_per_cpu_kernel_thread_is_not_a_cause() {
        let mut d = intact();
        d.tasks.push(task("migration/3", 1, 99, 20_000));
        let a = run(d, true);
        assert_eq!(a.top(5).count(), 0, "{:#?}", a.causes);
    }

    #[test]
    fn an_irq_thread_points_at_its_irq() {
        let mut d = intact();
        d.tasks.push(task("irq/45-eth0", 1, 50, 3_000_000));
        let c = top(&run(d, false)).clone();
        assert_eq!(c.confidence, Confidence::Medium);
        assert!(
            c.fix.contains("/proc/irq/45/smp_affinity_list"),
            "{}",
            c.fix
        );
    }

    #[test]
    fn an_architecture_interrupt_gets_the_fix_of_its_kind() {
        for (irq, device, confidence, fix) in [
            (
                "MCP",
                "Machine check polls",
                Confidence::Medium,
                "mce=ignore_ce",
            ),
            ("TLB", "TLB shootdowns", Confidence::Low, "M_TRIM_THRESHOLD"),
            (
                "CAL",
                "Function call interrupts",
                Confidence::Low,
                "static keys",
            ),
            (
                "NMI",
                "Non-maskable interrupts",
                Confidence::Medium,
                "nmi_watchdog=0",
            ),
        ] {
            let a = run(with_irq(irq, device, 1), false);
            let c = top(&a);
            assert_eq!(
                (c.rule.as_str(), c.confidence),
                ("ipi", confidence),
                "{c:?}"
            );
            assert_eq!(c.evidence, format!("{irq} ({device}) ×1 on CPU {CPU}"));
            assert!(c.fix.contains(fix), "{irq}: {}", c.fix);
        }
    }

    #[test]
    fn smis_are_firmware() {
        let mut d = intact();
        d.smi = vec![(CPU, 3)];
        let a = run(d, true);
        let c = top(&a);
        assert_eq!((c.rule.as_str(), c.confidence), ("smi", Confidence::High));
        assert!(c.evidence.starts_with("3 SMI(s) during the run"));
        assert!(c.fix.starts_with("firmware cause, no software fix"));
    }

    #[test]
    fn deep_c_states_count_shallow_ones_do_not() {
        let mut d = intact();
        d.idle.push((CPU, "C6".into(), 214));
        let c = top(&run(d, false)).clone();
        assert_eq!(
            (c.rule.as_str(), c.confidence),
            ("c-state", Confidence::Medium)
        );
        assert_eq!(c.evidence, "CPU 3 entered idle state C6 214 time(s)");
        assert!(c.fix.contains("processor.max_cstate=1"));
    }

    #[test]
    fn an_in_band_switch_of_an_out_of_band_sampler_is_a_finding() {
        let mut d = intact();
        d.evl = vec![("cyclictest-rs:1:0".into(), 17, 12_000)];
        let c = top(&run(d, false)).clone();
        assert_eq!(
            (c.rule.as_str(), c.confidence),
            ("in-band-switch", Confidence::High)
        );
        assert!(c.evidence.contains("switched in-band 17 time(s)"));
    }

    #[test]
    fn an_out_of_band_run_without_evl_stats_says_it_could_not_check() {
        let mut cx = context();
        cx.out_of_band = true;
        let a = analyse(&evidence(intact()), &cx, &[], AnalysisLabel::Record);
        assert!(a.unchecked[0].contains("RROS exports no per-thread counters"));
    }

    #[test]
    fn steal_thermal_cpufreq_softirq_and_preemption() {
        type Change = Box<dyn Fn(&mut Delta)>;
        let cases: Vec<(Change, &str, Confidence)> = vec![
            (
                Box::new(|d| {
                    d.ticks = vec![(
                        CPU,
                        CpuTicks {
                            steal: 12,
                            ..CpuTicks::default()
                        },
                    )]
                }),
                "steal",
                Confidence::High,
            ),
            (
                Box::new(|d| d.throttle = vec![(CPU, 2)]),
                "thermal-throttle",
                Confidence::High,
            ),
            (
                Box::new(|d| d.freq = vec![(CPU, 6, Some(1_200_000))]),
                "cpufreq",
                Confidence::Medium,
            ),
            (
                Box::new(|d| d.softirqs.push(("NET_RX".into(), CPU, 900))),
                "softirq",
                Confidence::Medium,
            ),
            (
                Box::new(|d| d.samplers = vec![("sampler-0".into(), 10_000, 4)]),
                "sampler-preempted",
                Confidence::Medium,
            ),
        ];
        for (change, rule, confidence) in cases {
            let mut d = intact();
            change(&mut d);
            let a = run(d, false);
            let c = top(&a);
            assert_eq!(
                (c.rule.as_str(), c.confidence),
                (rule, confidence),
                "{:#?}",
                a.causes
            );
            assert_eq!(a.top(5).count(), 1, "one cause at a time: {:#?}", a.causes);
        }
    }

    #[test]
    fn ranking_puts_the_aligned_culprit_first() {
        let mut d = intact();
        d.irqs.push(IrqDelta {
            irq: "45".into(),
            device: "eth0".into(),
            movable: true,
            cpu: CPU,
            count: 5,
        });
        let mut ev = evidence(d);
        // A second, earlier interval where only the hog ran; the worst sample is in it.
        let mut early = Delta {
            from_ns: 0,
            to_ns: 1_000_000_000,
            ..Delta::default()
        };
        early.tasks.push(task("hog", 0, 0, 800_000_000));
        ev.total.tasks.push(task("hog", 0, 0, 800_000_000));
        ev.intervals.insert(0, early);
        let s = Sample {
            cpu: CPU,
            latency_ns: 1,
            mono_ns: 500_000_000,
        };
        let a = analyse(&ev, &context(), &[s], AnalysisLabel::Failure);
        assert!(a.causes[0].evidence.contains("`hog`"), "{:#?}", a.causes);
        assert_eq!(
            a.causes[0].confidence,
            Confidence::Medium,
            "low, raised by the alignment"
        );
        assert_eq!(a.causes[1].rule, "device-irq");
    }
}
