//! The parsers, one per kernel file, each a pure function of the file's text.
//!
//! The text is hostile by assumption (a fixture, a truncated read, a kernel that prints
//! something new): a parser skips what it does not understand and never panics. What is
//! read is bounded by [`crate::snapshot::Reader`], not here.

use std::collections::BTreeMap;

/// One line of `/proc/interrupts`: `45:  0  812  IR-PCI-MSI 524288-edge  eth0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrqLine {
    /// The first column without its colon: a number (`45`) or a name (`LOC`, `RES`).
    pub irq: String,
    /// What follows the counts: chip, hardware IRQ and the device (`eth0`), or the
    /// description of an architecture interrupt (`Local timer interrupts`).
    pub desc: String,
    /// Count per CPU column (index = position in the header).
    pub counts: Vec<u64>,
}

impl IrqLine {
    /// The device's name: the last word of the description (`eth0`), or the description.
    pub fn device(&self) -> &str {
        if self.is_device() {
            self.desc.split_whitespace().last().unwrap_or("")
        } else {
            self.desc.as_str()
        }
    }

    /// A numbered (device) IRQ, whose affinity can be set in `/proc/irq/N/`.
    pub fn is_device(&self) -> bool {
        !self.irq.is_empty() && self.irq.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The CPU numbers of a `/proc/interrupts` or `/proc/softirqs` header (`CPU0 CPU1 CPU3`).
fn header_cpus(line: &str) -> Vec<u32> {
    line.split_whitespace()
        .filter_map(|w| w.strip_prefix("CPU")?.parse().ok())
        .collect()
}

/// `/proc/interrupts`: the header's CPUs and the lines. Counts are keyed by CPU number, so a
/// CPU offline (absent from the header) is simply absent.
pub fn parse_interrupts(text: &str) -> Vec<(String, String, BTreeMap<u32, u64>)> {
    let mut lines = text.lines();
    let Some(cpus) = lines.next().map(header_cpus) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in lines {
        let Some((irq, rest)) = line.split_once(':') else {
            continue;
        };
        let irq = irq.trim();
        if irq.is_empty() {
            continue;
        }
        let mut words = rest.split_whitespace().peekable();
        let mut counts = BTreeMap::new();
        for &cpu in &cpus {
            match words.peek().and_then(|w| w.parse::<u64>().ok()) {
                Some(n) => {
                    counts.insert(cpu, n);
                    words.next();
                }
                None => break,
            }
        }
        let desc = words.collect::<Vec<_>>().join(" ");
        out.push((irq.to_owned(), desc, counts));
    }
    out
}

/// `/proc/softirqs`: name → count per CPU.
pub fn parse_softirqs(text: &str) -> Vec<(String, BTreeMap<u32, u64>)> {
    let mut lines = text.lines();
    let Some(cpus) = lines.next().map(header_cpus) else {
        return Vec::new();
    };
    lines
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let counts = cpus
                .iter()
                .zip(rest.split_whitespace())
                .filter_map(|(&c, w)| Some((c, w.parse().ok()?)))
                .collect();
            Some((name.trim().to_owned(), counts))
        })
        .collect()
}

/// Time a CPU spent serving interrupts, softirqs, and stolen by a hypervisor, in clock ticks
/// (`USER_HZ`) as `/proc/stat` counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CpuTicks {
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

/// `/proc/stat`'s `cpuN` lines, each CPU with its counters in proc(5)'s order: user nice
/// system idle iowait irq softirq steal guest guest_nice. The aggregate `cpu` line is skipped.
fn stat_cpu_lines(text: &str) -> impl Iterator<Item = (u32, Vec<u64>)> + '_ {
    text.lines().filter_map(|line| {
        let mut w = line.split_whitespace();
        let cpu: u32 = w.next()?.strip_prefix("cpu")?.parse().ok()?;
        Some((cpu, w.map_while(|x| x.parse().ok()).collect()))
    })
}

/// `/proc/stat`'s `cpuN` lines: user nice system idle iowait irq softirq steal ...
pub fn parse_stat(text: &str) -> BTreeMap<u32, CpuTicks> {
    stat_cpu_lines(text)
        .filter_map(|(cpu, v)| {
            Some((
                cpu,
                CpuTicks {
                    irq: *v.get(5)?,
                    softirq: *v.get(6)?,
                    steal: v.get(7).copied().unwrap_or(0),
                },
            ))
        })
        .collect()
}

/// How much of its time a CPU spent doing anything, in clock ticks: `busy` is every counter
/// but `idle` (iowait counts as busy: a boot still reading its disk is not quiet), `total`
/// all of them (guest time is already inside user time, so it is not added twice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuUse {
    pub busy: u64,
    pub total: u64,
}

/// `/proc/stat`'s `cpuN` lines as busy and total ticks per CPU.
pub fn parse_stat_use(text: &str) -> BTreeMap<u32, CpuUse> {
    stat_cpu_lines(text)
        .filter_map(|(cpu, v)| {
            let counted = v.get(..8).unwrap_or(&v[..]);
            let idle = *v.get(3)?;
            let total: u64 = counted.iter().sum();
            Some((
                cpu,
                CpuUse {
                    busy: total - idle,
                    total,
                },
            ))
        })
        .collect()
}

/// What `/proc/PID/task/TID/stat` says about one thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStat {
    pub tid: u32,
    pub comm: String,
    /// The CPU it last ran on.
    pub cpu: u32,
    /// `sched_setscheduler` policy number (0 OTHER, 1 FIFO, 2 RR, 3 BATCH, 5 IDLE, 6 DEADLINE).
    pub policy: u32,
    /// Real-time priority (0 for the non-real-time policies).
    pub rt_priority: u32,
    /// utime + stime, clock ticks.
    pub ticks: u64,
}

/// `/proc/PID/task/TID/stat`. The command is between the first `(` and the *last* `)`: a
/// task may name itself `a) R 1 (`.
pub fn parse_task_stat(text: &str) -> Option<TaskStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let tid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_owned();
    // Fields after the command, numbered from 3 (state) as proc(5) does.
    let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(TaskStat {
        tid,
        comm,
        ticks: field(14)?.saturating_add(field(15)?),
        cpu: u32::try_from(field(39)?).ok()?,
        rt_priority: u32::try_from(field(40)?).ok()?,
        policy: u32::try_from(field(41)?).ok()?,
    })
}

/// `/proc/PID/task/TID/schedstat`: time on a CPU, ns (the first of three numbers).
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of a `status` file.
pub fn parse_ctxt_switches(text: &str) -> Option<(u64, u64)> {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    Some((
        get("voluntary_ctxt_switches:")?,
        get("nonvoluntary_ctxt_switches:")?,
    ))
}

/// The EVL thread element's `stats`: in-band switches (ISW), context switches (CSW),
/// system calls, remote wake-ups, CPU time (ns) and CPU share; libevl's `evl-ps` reads the
/// same five numbers (`utils/evl-ps.c`, `collect_statistics`).
pub fn parse_evl_stats(text: &str) -> Option<(u64, u64)> {
    let mut w = text.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((w.next()??, w.next()??))
}

/// A single unsigned number (a sysfs attribute).
pub fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The name of a scheduling policy number.
pub fn policy_name(policy: u32) -> &'static str {
    match policy {
        0 => "SCHED_OTHER",
        1 => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        _ => "SCHED_?",
    }
}

/// FIFO, RR or DEADLINE: a task that can preempt a real-time sampler of lower priority.
pub fn is_realtime(policy: u32) -> bool {
    matches!(policy, 1 | 2 | 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERRUPTS: &str = "           CPU0       CPU1       \n \
         24:          1          0  IO-APIC   5-edge      ACPI:Ged\n \
         41:      31704         17 PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx\n\
        NMI:          0          0   Non-maskable interrupts\n\
        LOC:   35813512   33402215   Local timer interrupts\n\
        ERR:          0\n";

    #[test]
    fn interrupts_per_cpu_with_device_names() {
        let l = parse_interrupts(INTERRUPTS);
        assert_eq!(l.len(), 5);
        assert_eq!(l[1].0, "41");
        assert_eq!(l[1].2[&1], 17);
        assert_eq!(l[1].1, "PCI-MSIX-0000:00:04.0 1-edge virtio3-rx");
        assert_eq!(l[3].1, "Local timer interrupts");
        assert_eq!(l[4].2.len(), 1, "ERR has one count");
        let line = IrqLine {
            irq: l[1].0.clone(),
            desc: l[1].1.clone(),
            counts: vec![],
        };
        assert_eq!(line.device(), "virtio3-rx");
    }

    #[test]
    fn softirqs_and_stat() {
        let s = parse_softirqs(
            "                    CPU0       CPU1\n          HI:          0          3\n       TIMER:     489158     567649\n",
        );
        assert_eq!(s[1].0, "TIMER");
        assert_eq!(s[1].1[&1], 567649);
        let st = parse_stat(
            "cpu  717122 1475112 342190 305164 5027 0 2790 12753 0 0\ncpu1 363849 743966 167253 142754 3437 7 2675 6657 0 0\nintr 1 2\n",
        );
        assert_eq!(st.len(), 1);
        assert_eq!(
            st[&1],
            CpuTicks {
                irq: 7,
                softirq: 2675,
                steal: 6657
            }
        );
    }

    #[test]
    fn cpu_use_counts_everything_but_idle_and_not_guest_twice() {
        let text = "cpu  9 9 9 9 9 9 9 9 9 9\n\
                    cpu0 10 1 5 100 4 2 3 0 7 0\n\
                    cpu1 0 0 0 50\n\
                    intr 1 2 3\n";
        let u = parse_stat_use(text);
        // user 10 (its guest 7 inside) + nice 1 + system 5 + iowait 4 + irq 2 + softirq 3.
        assert_eq!(
            u[&0],
            CpuUse {
                busy: 25,
                total: 125
            }
        );
        // An old kernel's short line: what is there counts.
        assert_eq!(u[&1], CpuUse { busy: 0, total: 50 });
        assert_eq!(u.len(), 2, "the aggregate line is not a CPU");
    }

    #[test]
    fn task_stat_with_a_hostile_name() {
        let t = parse_task_stat(
            "15315 (a) R 1 (x) R 15307 15307 10643 0 -1 4194304 99 0 0 0 120 30 0 0 -51 0 1 0 1433635 6184960 413 18446744073709551615 1 1 1 0 0 0 0 0 0 0 0 0 17 3 99 1 0 0 0 1 1 1 1 1 1 1 0\n",
        )
        .expect("parsed");
        assert_eq!(t.tid, 15315);
        assert_eq!(t.comm, "a) R 1 (x");
        assert_eq!(t.ticks, 150);
        assert_eq!((t.cpu, t.rt_priority, t.policy), (3, 99, 1));
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in [
            "",
            "(",
            ")(",
            "1 (x)",
            "CPU0\n:\n1:",
            "\u{0}\u{ff}",
            "cpu9999999999999 1",
            "x: 1 2 3",
        ] {
            let _ = parse_interrupts(text);
            let _ = parse_softirqs(text);
            let _ = parse_stat(text);
            assert!(parse_task_stat(text).is_none());
            let _ = parse_schedstat(text);
            assert!(parse_ctxt_switches(text).is_none());
            let _ = parse_evl_stats(text);
        }
    }

    #[test]
    fn switches_and_evl_stats() {
        assert_eq!(
            parse_ctxt_switches(
                "Name:\tx\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t2\n"
            ),
            Some((5, 2))
        );
        assert_eq!(
            parse_evl_stats("17 12034 3 0 123456 1\n"),
            Some((17, 12034))
        );
        assert_eq!(parse_schedstat("763976 287257 4\n"), Some(763976));
    }
}
