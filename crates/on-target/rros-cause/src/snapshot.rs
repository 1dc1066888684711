//! One snapshot of the counters that explain latency on the measured CPUs, read under a
//! root directory (`/` on the target, a fixture tree in tests), and the [`Delta`] between
//! two of them.
//!
//! Every source is optional: a kernel without cpuidle, a board without an MSR driver, a
//! core without EVL simply contributes nothing, and [`Snapshot::missing`] says what could
//! not be read so that the analysis can say what it could not check.

use crate::sources::{self, CpuTicks};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The most read from one file: `/proc/interrupts` of a 256-CPU server is ~600 KiB.
const READ_LIMIT: u64 = 2 << 20;
/// The most tasks kept per interval (by CPU time), so that a fork storm cannot grow the ring.
pub const TASKS_PER_INTERVAL: usize = 16;
/// `MSR_SMI_COUNT` (Intel SDM vol. 4, "MSRs in processors based on Nehalem": 34H, count of
/// SMIs since reset in bits 31:0).
const MSR_SMI_COUNT: u64 = 0x34;

/// What to read, and where.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `/`, or a fixture tree.
    pub root: PathBuf,
    /// The measured CPUs.
    pub cpus: Vec<u32>,
    /// The process whose `sampler-N` threads are ours (the samplers, not a disturbance).
    pub pid: u32,
    /// The EVL element names of our samplers start with this (`cyclictest-rs:<pid>:`).
    pub evl_prefix: String,
    /// Nanoseconds per `/proc/stat` clock tick (`USER_HZ`).
    pub tick_ns: u64,
}

impl Probe {
    /// The live system: `/`, our own process.
    pub fn live(cpus: Vec<u32>) -> Probe {
        let pid = std::process::id();
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Probe {
            root: PathBuf::from("/"),
            cpus,
            pid,
            evl_prefix: format!("cyclictest-rs:{pid}:"),
            tick_ns: if hz > 0 {
                1_000_000_000 / hz as u64
            } else {
                10_000_000
            },
        }
    }

    /// One of our samplers, by its thread name: `sampler-N`, or its EVL element name once
    /// it attached to the core (`evl_attach_self` renames the thread, and the kernel keeps
    /// only the first 15 bytes: `cyclictest-rs:1` for `cyclictest-rs:165:0`).
    fn is_sampler(&self, comm: &str) -> bool {
        const COMM_LEN: usize = 15;
        comm.starts_with("sampler-")
            || (!self.evl_prefix.is_empty()
                && (comm.starts_with(&self.evl_prefix)
                    || (comm.len() >= COMM_LEN.min(self.evl_prefix.len())
                        && self.evl_prefix.starts_with(comm))))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn read(&self, rel: &Path) -> Option<String> {
        let (bytes, _) = rros_files::read_regular(&self.root.join(rel), READ_LIMIT).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn read_str(&self, rel: &str) -> Option<String> {
        self.read(Path::new(rel))
    }

    fn entries(&self, rel: &str) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.path(rel)) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect()
    }

    /// The CPUs IRQ `irq` may be served by (`/proc/irq/N/smp_affinity_list`, `0-3`).
    pub fn irq_affinity(&self, irq: &str) -> Option<String> {
        if irq.is_empty() || !irq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let text = self.read_str(&format!("proc/irq/{irq}/smp_affinity_list"))?;
        Some(text.trim().to_owned()).filter(|t| !t.is_empty())
    }

    /// Takes a snapshot at `mono_ns` (CLOCK_MONOTONIC, the samplers' clock).
    pub fn snapshot(&self, mono_ns: u64) -> Snapshot {
        let mut s = Snapshot {
            mono_ns,
            ..Snapshot::default()
        };
        self.interrupts(&mut s);
        self.softirqs(&mut s);
        match self.read_str("proc/stat") {
            Some(t) => s.ticks = sources::parse_stat(&t),
            None => {
                s.missing.insert("/proc/stat");
            }
        }
        self.tasks(&mut s);
        for &cpu in &self.cpus {
            self.cpu_files(cpu, &mut s);
        }
        self.evl(&mut s);
        s
    }

    fn interrupts(&self, s: &mut Snapshot) {
        let Some(text) = self.read_str("proc/interrupts") else {
            s.missing.insert("/proc/interrupts");
            return;
        };
        for (irq, desc, counts) in sources::parse_interrupts(&text) {
            let counts = self
                .cpus
                .iter()
                .map(|c| counts.get(c).copied().unwrap_or(0))
                .collect();
            s.irqs.insert(irq, (desc, counts));
        }
    }

    fn softirqs(&self, s: &mut Snapshot) {
        let Some(text) = self.read_str("proc/softirqs") else {
            s.missing.insert("/proc/softirqs");
            return;
        };
        for (name, counts) in sources::parse_softirqs(&text) {
            let counts = self
                .cpus
                .iter()
                .map(|c| counts.get(c).copied().unwrap_or(0))
                .collect();
            s.softirqs.insert(name, counts);
        }
    }

    /// Every thread of every process: ours named `sampler-N` are the samplers, the rest are
    /// candidates (which of them ran on a measured CPU is decided by the delta).
    fn tasks(&self, s: &mut Snapshot) {
        for pid in self.entries("proc") {
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let ours = pid == self.pid.to_string();
            for tid in self.entries(&format!("proc/{pid}/task")) {
                let dir = format!("proc/{pid}/task/{tid}");
                let Some(stat) = self
                    .read_str(&format!("{dir}/stat"))
                    .and_then(|t| sources::parse_task_stat(&t))
                else {
                    continue;
                };
                if ours && self.is_sampler(&stat.comm) {
                    if let Some((v, n)) = self
                        .read_str(&format!("{dir}/status"))
                        .and_then(|t| sources::parse_ctxt_switches(&t))
                    {
                        s.samplers.insert(stat.tid, (stat.comm, v, n));
                    }
                    continue;
                }
                let run_ns = self
                    .read_str(&format!("{dir}/schedstat"))
                    .and_then(|t| sources::parse_schedstat(&t))
                    .unwrap_or(stat.ticks.saturating_mul(self.tick_ns));
                s.tasks.insert(
                    stat.tid,
                    Task {
                        pid: pid.parse().unwrap_or(0),
                        comm: stat.comm,
                        cpu: stat.cpu,
                        policy: stat.policy,
                        rt_priority: stat.rt_priority,
                        run_ns,
                    },
                );
            }
        }
    }

    fn cpu_files(&self, cpu: u32, s: &mut Snapshot) {
        let dir = format!("sys/devices/system/cpu/cpu{cpu}");
        let idle = format!("{dir}/cpuidle");
        for state in self.entries(&idle) {
            let name = self.read_str(&format!("{idle}/{state}/name"));
            let usage = self
                .read_str(&format!("{idle}/{state}/usage"))
                .and_then(|t| sources::parse_u64(&t));
            if let (Some(name), Some(usage)) = (name, usage) {
                s.idle.insert((cpu, name.trim().to_owned()), usage);
            }
        }
        let num = |rel: String| self.read_str(&rel).and_then(|t| sources::parse_u64(&t));
        let trans = num(format!("{dir}/cpufreq/stats/total_trans"));
        let khz = num(format!("{dir}/cpufreq/scaling_cur_freq"));
        if trans.is_some() || khz.is_some() {
            s.freq.insert(cpu, (trans, khz));
        }
        let throttle: Option<u64> = ["core_throttle_count", "package_throttle_count"]
            .iter()
            .filter_map(|f| num(format!("{dir}/thermal_throttle/{f}")))
            .reduce(|a, b| a + b);
        if let Some(t) = throttle {
            s.throttle.insert(cpu, t);
        }
        match self.smi_count(cpu) {
            Some(n) => {
                s.smi.insert(cpu, n);
            }
            None => {
                s.missing.insert("/dev/cpu/N/msr (SMI count)");
            }
        }
    }

    /// `MSR_SMI_COUNT` through the msr driver; `None` where it is absent or refused
    /// (non-x86, no `msr` module, no CAP_SYS_RAWIO).
    fn smi_count(&self, cpu: u32) -> Option<u64> {
        let path = self.path(&format!("dev/cpu/{cpu}/msr"));
        let file = rros_files::open_nonblocking(&path).ok()?;
        let mut buf = [0u8; 8];
        file.read_exact_at(&mut buf, MSR_SMI_COUNT).ok()?;
        Some(u64::from_le_bytes(buf) & 0xffff_ffff)
    }

    fn evl(&self, s: &mut Snapshot) {
        let dir = "sys/devices/virtual/evl/thread";
        for name in self.entries(dir) {
            if !name.starts_with(&self.evl_prefix) {
                continue;
            }
            if let Some((isw, csw)) = self
                .read_str(&format!("{dir}/{name}/stats"))
                .and_then(|t| sources::parse_evl_stats(&t))
            {
                s.evl.insert(name, (isw, csw));
            }
        }
    }
}

/// A thread other than our samplers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub pid: u32,
    pub comm: String,
    /// The CPU it last ran on.
    pub cpu: u32,
    pub policy: u32,
    pub rt_priority: u32,
    /// Time on a CPU since it started, ns.
    pub run_ns: u64,
}

/// The counters at one instant. Per-CPU vectors follow [`Probe::cpus`].
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub mono_ns: u64,
    /// IRQ → (description, count per measured CPU).
    pub irqs: BTreeMap<String, (String, Vec<u64>)>,
    pub softirqs: BTreeMap<String, Vec<u64>>,
    pub ticks: BTreeMap<u32, CpuTicks>,
    pub tasks: BTreeMap<u32, Task>,
    /// Our samplers: tid → (name, voluntary, involuntary context switches).
    pub samplers: BTreeMap<u32, (String, u64, u64)>,
    /// (CPU, C-state name) → entries into it.
    pub idle: BTreeMap<(u32, String), u64>,
    /// CPU → (cpufreq transitions, current kHz).
    pub freq: BTreeMap<u32, (Option<u64>, Option<u64>)>,
    pub throttle: BTreeMap<u32, u64>,
    pub smi: BTreeMap<u32, u64>,
    /// EVL element name → (in-band switches, context switches).
    pub evl: BTreeMap<String, (u64, u64)>,
    /// Sources that could not be read.
    pub missing: BTreeSet<&'static str>,
}

/// An IRQ that fired on a measured CPU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IrqDelta {
    pub irq: String,
    /// The device (`eth0`) or, for an architecture interrupt, its description.
    pub device: String,
    /// A numbered IRQ whose affinity can be moved.
    pub movable: bool,
    pub cpu: u32,
    pub count: u64,
}

/// A thread other than our samplers that used CPU time on a measured CPU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskRun {
    pub tid: u32,
    pub pid: u32,
    pub comm: String,
    pub cpu: u32,
    pub policy: u32,
    pub rt_priority: u32,
    pub run_ns: u64,
}

/// What changed between two snapshots: only what is not zero, on the measured CPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    pub from_ns: u64,
    pub to_ns: u64,
    pub irqs: Vec<IrqDelta>,
    /// (softirq, CPU, count).
    pub softirqs: Vec<(String, u32, u64)>,
    /// (CPU, irq/softirq/steal ticks).
    pub ticks: Vec<(u32, CpuTicks)>,
    pub tasks: Vec<TaskRun>,
    /// (sampler, voluntary, involuntary context switches).
    pub samplers: Vec<(String, u64, u64)>,
    /// (CPU, C-state, entries).
    pub idle: Vec<(u32, String, u64)>,
    /// (CPU, cpufreq transitions, kHz at the end).
    pub freq: Vec<(u32, u64, Option<u64>)>,
    pub throttle: Vec<(u32, u64)>,
    pub smi: Vec<(u32, u64)>,
    /// (EVL sampler, in-band switches, context switches).
    pub evl: Vec<(String, u64, u64)>,
}

impl Delta {
    /// `to - from`, counter by counter; a counter that went down (a CPU unplugged, a task
    /// replaced by one with the same id) counts as zero.
    pub fn between(from: &Snapshot, to: &Snapshot, cpus: &[u32]) -> Delta {
        let measured: BTreeSet<u32> = cpus.iter().copied().collect();
        let mut d = Delta {
            from_ns: from.mono_ns,
            to_ns: to.mono_ns,
            ..Delta::default()
        };
        for (irq, (desc, counts)) in &to.irqs {
            let before = from.irqs.get(irq).map(|(_, c)| c.as_slice()).unwrap_or(&[]);
            for (i, &n) in counts.iter().enumerate() {
                let count = n.saturating_sub(before.get(i).copied().unwrap_or(n));
                if count > 0
                    && let Some(&cpu) = cpus.get(i)
                {
                    let line = sources::IrqLine {
                        irq: irq.clone(),
                        desc: desc.clone(),
                        counts: Vec::new(),
                    };
                    d.irqs.push(IrqDelta {
                        irq: irq.clone(),
                        device: line.device().to_owned(),
                        movable: line.is_device(),
                        cpu,
                        count,
                    });
                }
            }
        }
        for (name, counts) in &to.softirqs {
            let before = from.softirqs.get(name).map(Vec::as_slice).unwrap_or(&[]);
            for (i, &n) in counts.iter().enumerate() {
                let count = n.saturating_sub(before.get(i).copied().unwrap_or(n));
                if count > 0
                    && let Some(&cpu) = cpus.get(i)
                {
                    d.softirqs.push((name.clone(), cpu, count));
                }
            }
        }
        for (&cpu, t) in to.ticks.iter().filter(|(c, _)| measured.contains(c)) {
            let b = from.ticks.get(&cpu).copied().unwrap_or(*t);
            let diff = CpuTicks {
                irq: t.irq.saturating_sub(b.irq),
                softirq: t.softirq.saturating_sub(b.softirq),
                steal: t.steal.saturating_sub(b.steal),
            };
            if diff != CpuTicks::default() {
                d.ticks.push((cpu, diff));
            }
        }
        d.tasks = task_runs(from, to, &measured);
        for (tid, (name, v, n)) in &to.samplers {
            let (bv, bn) = from.samplers.get(tid).map_or((0, 0), |(_, v, n)| (*v, *n));
            let (dv, dn) = (v.saturating_sub(bv), n.saturating_sub(bn));
            if dv > 0 || dn > 0 {
                d.samplers.push((name.clone(), dv, dn));
            }
        }
        for ((cpu, state), &n) in &to.idle {
            let b = from.idle.get(&(*cpu, state.clone())).copied().unwrap_or(n);
            if n > b {
                d.idle.push((*cpu, state.clone(), n - b));
            }
        }
        for (&cpu, &(trans, khz)) in &to.freq {
            let b = from.freq.get(&cpu).and_then(|f| f.0);
            if let (Some(t), Some(b)) = (trans, b)
                && t > b
            {
                d.freq.push((cpu, t - b, khz));
            }
        }
        d.throttle = counter_delta(&from.throttle, &to.throttle);
        d.smi = counter_delta(&from.smi, &to.smi);
        for (name, &(isw, csw)) in &to.evl {
            let (bi, bc) = from.evl.get(name).copied().unwrap_or((0, 0));
            if isw > bi || csw > bc {
                d.evl
                    .push((name.clone(), isw.saturating_sub(bi), csw.saturating_sub(bc)));
            }
        }
        d
    }
}

/// Per-CPU counters that rose. The MSR is 32 bits wide: a wrap counts as the rest of it.
fn counter_delta(from: &BTreeMap<u32, u64>, to: &BTreeMap<u32, u64>) -> Vec<(u32, u64)> {
    to.iter()
        .filter_map(|(&cpu, &n)| {
            let b = *from.get(&cpu)?;
            (n != b).then(|| (cpu, n.wrapping_sub(b) & 0xffff_ffff))
        })
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// Tasks whose CPU time grew while they were seen on a measured CPU (at either end of the
/// interval: a task is only seen where it last ran), the busiest first, at most
/// [`TASKS_PER_INTERVAL`].
fn task_runs(from: &Snapshot, to: &Snapshot, measured: &BTreeSet<u32>) -> Vec<TaskRun> {
    let mut runs: Vec<TaskRun> = to
        .tasks
        .iter()
        .filter_map(|(&tid, t)| {
            let before = from.tasks.get(&tid);
            let run_ns = t.run_ns.saturating_sub(before.map_or(0, |b| b.run_ns));
            let cpu = if measured.contains(&t.cpu) {
                t.cpu
            } else {
                before.map(|b| b.cpu).filter(|c| measured.contains(c))?
            };
            (run_ns > 0).then(|| TaskRun {
                tid,
                pid: t.pid,
                comm: t.comm.clone(),
                cpu,
                policy: t.policy,
                rt_priority: t.rt_priority,
                run_ns,
            })
        })
        .collect();
    runs.sort_by(|a, b| b.run_ns.cmp(&a.run_ns).then(a.tid.cmp(&b.tid)));
    runs.truncate(TASKS_PER_INTERVAL);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_samplers_are_known_by_their_evl_names_too() {
        let probe = Probe {
            evl_prefix: "cyclictest-rs:165:".into(),
            ..Probe::live(vec![1])
        };
        assert!(probe.is_sampler("sampler-0"));
        // What the kernel keeps of `cyclictest-rs:165:0` (15 bytes), seen on the EVL board.
        assert!(probe.is_sampler("cyclictest-rs:1"));
        // A long enough comm (a kernel with a longer TASK_COMM_LEN) keeps the whole prefix.
        assert!(probe.is_sampler("cyclictest-rs:165:0"));
        // Other threads of ours are not samplers.
        for other in [
            "rros-validate",
            "rros-cause",
            "load-meter",
            "cyclictest",
            "",
        ] {
            assert!(!probe.is_sampler(other), "{other}");
        }
        // Another process's element name differs within the 15 bytes only from pid 10000 up,
        // and then the prefix rules it out.
        let wide = Probe {
            evl_prefix: "cyclictest-rs:12345:".into(),
            ..Probe::live(vec![1])
        };
        assert!(wide.is_sampler("cyclictest-rs:1"));
        assert!(!wide.is_sampler("cyclictest-rs:9"));
    }
}
