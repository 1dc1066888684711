//! Proof that a scenario's load really worked while the latency was measured.
//!
//! Guessing the load's tools from its shell text was both bypassable (`while :; do sh -c
//! 'hackbench …'; done` with hackbench missing spins the shell and passed) and wrong the other
//! way (`${HB:-hackbench}` was "missing" with hackbench installed). So the load is watched
//! instead: a [`Meter`] thread samples the load's process tree from `/proc` while the engine
//! measures, and the scenario is judged on what it saw ([`Work::problem`]):
//!
//! - **CPU time of the whole tree** (`cpu_s`): user + system time of every process under
//!   the load supervisor, plus what its reaped children used (`cutime`/`cstime` of the
//!   supervisor and of each live process), at the end minus at the start of the measurement.
//!   This is the kernel's own accounting, so nothing that ran is missed (in clock ticks,
//!   normally 10 ms). Below [`MIN_CPU_SHARE`] of the measured time, the load did no work.
//! - **Which programs did that work** (`programs`, `program_cpu_s`): a process whose name is
//!   a shell ([`SHELLS`]) is the glue; any other process's own CPU time seen growing between
//!   two samples (every [`SAMPLE_PERIOD`]) is a load program's work. Own CPU time is read in
//!   nanoseconds (`/proc/PID/schedstat`, the main thread) and in ticks for the whole process
//!   (`/proc/PID/stat`), whichever is larger: ticks alone would miss the many short workers of
//!   hackbench, each under 10 ms. This is a lower bound (what a program did after the last
//!   sample before it exited is missed), never an overcount. When the
//!   programs' share is below [`MIN_PROGRAM_SHARE`], the load's CPU went to the shell: a loop
//!   around a missing tool (`while :; do sh -c 'hackbench …'; done`, `nice rt-app` with
//!   rt-app missing) spins on "command not found". That is ERROR. A busy loop in pure shell
//!   (`while :; do :; done`) is refused the same way: it is not a representative load, so
//!   use a tool (stress-ng, hackbench, dd).
//!
//! Both verdicts can only turn a PASS or FAIL into ERROR, never the other way.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the load's process tree is sampled. Every 200 ms costs well under 1 % of a
/// housekeeping CPU on a board with a few hundred processes.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(200);

/// The least CPU a load's process tree must use during the measurement, as a share of one CPU
/// over the measured time (1 %). A load below it (a `sleep`, a tool that blocks at once) did
/// no work the latency could suffer from.
pub const MIN_CPU_SHARE: f64 = 0.01;

/// The least CPU the load's programs (not the shell) must be seen using, as a share of one CPU
/// over the measured time (0.5 %). Lower than [`MIN_CPU_SHARE`] because it is a sampled lower
/// bound: a hackbench loop whose runs last a few ms is seen at several percent, a loop around
/// a missing tool behind a wrapper (`nice`, `env`) at a few hundredths of a percent.
pub const MIN_PROGRAM_SHARE: f64 = 0.005;

/// Process names (`comm`) that are shells: their own CPU time is not a load program's.
pub const SHELLS: &[&str] = &["sh", "dash", "bash", "ash", "busybox", "ksh", "mksh", "zsh"];

/// One process of the tree, as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    ppid: i32,
    comm: String,
    starttime: u64,
    /// utime + stime, ticks.
    own: u64,
    /// Own CPU time in ns: the larger of `own` in ns and the main thread's schedstat.
    own_ns: u64,
    /// cutime + cstime (reaped children), ticks.
    children: u64,
}

fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let f: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Proc {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        comm,
        own: n(11)?.saturating_add(n(12)?),
        own_ns: 0,
        children: n(13)?.saturating_add(n(14)?),
        starttime: n(19)?,
    })
}

fn all_processes() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| parse_stat(pid, &fs::read_to_string(format!("/proc/{pid}/stat")).ok()?))
        .collect()
}

/// Own CPU time of `p` in ns, as precisely as /proc tells.
fn own_ns(p: &Proc) -> u64 {
    let ticks_ns = p.own.saturating_mul(1_000_000_000 / tick_hz());
    let main_thread_ns = fs::read_to_string(format!("/proc/{}/schedstat", p.pid))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    ticks_ns.max(main_thread_ns)
}

/// The supervisor (if alive) and every process below it.
struct Snapshot {
    root: Option<Proc>,
    tree: Vec<Proc>,
}

fn snapshot(root: i32) -> Snapshot {
    let all = all_processes();
    let mut kids: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, p) in all.iter().enumerate() {
        kids.entry(p.ppid).or_default().push(i);
    }
    let mut tree = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &i in kids.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            // A pid can only be below the root once; the guard keeps a racy /proc from looping.
            if tree.len() < 1_000_000 {
                let mut p = all[i].clone();
                p.own_ns = own_ns(&p);
                todo.push(p.pid);
                tree.push(p);
            }
        }
    }
    Snapshot {
        root: all.iter().find(|p| p.pid == root).cloned(),
        tree,
    }
}

impl Snapshot {
    /// CPU ticks the whole tree has used so far (processes alive, and those reaped within it).
    fn total(&self) -> u64 {
        let reaped = self.root.as_ref().map_or(0, |r| r.children);
        self.tree.iter().fold(reaped, |t, p| {
            t.saturating_add(p.own).saturating_add(p.children)
        })
    }
}

/// What the load did during the measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// CPU time of the load's whole process tree, seconds.
    pub cpu_s: f64,
    /// `cpu_s` over the measured wall-clock time: 1.0 is one CPU kept busy.
    pub cpu_share: f64,
    /// CPU time seen in programs other than the shell, seconds (a lower bound).
    pub program_cpu_s: f64,
    /// Programs other than the shell seen using CPU time, by name.
    pub programs: Vec<String>,
    /// How many times the tree was sampled.
    pub samples: u64,
    /// Wall-clock time watched, seconds.
    pub wall_s: f64,
}

impl Work {
    /// Why this work does not prove the load ran, or `None` when it does.
    pub fn problem(&self) -> Option<String> {
        if self.cpu_share < MIN_CPU_SHARE {
            return Some(format!(
                "the load did no real work: its processes used {:.2} s of CPU in {:.1} s of measurement ({:.2} % of one CPU, below the {:.0} % a load must use). Check that its tools are installed and that it does not just wait; run it by hand on the board to see",
                self.cpu_s,
                self.wall_s,
                self.cpu_share * 100.0,
                MIN_CPU_SHARE * 100.0
            ));
        }
        let program_share = if self.wall_s > 0.0 {
            self.program_cpu_s / self.wall_s
        } else {
            0.0
        };
        if program_share < MIN_PROGRAM_SHARE {
            return Some(format!(
                "the load ran no program but the shell: of its {:.2} s of CPU, programs other than {} were seen using {:.3} s ({}), below the {:.1} % of one CPU a load's programs must use. That is what a loop around a missing tool does: the shell fails to find it, again and again. Install the tools the load calls (hackbench: rt-tests) and run the load by hand on the board to see its errors; a pure-shell busy loop is not accepted as a load either",
                self.cpu_s,
                SHELLS.join("/"),
                self.program_cpu_s,
                if self.programs.is_empty() {
                    "none".to_owned()
                } else {
                    self.programs.join(", ")
                },
                MIN_PROGRAM_SHARE * 100.0
            ));
        }
        None
    }
}

/// Watches a load's process tree from the supervisor down; [`Meter::finish`] says what it did.
pub struct Meter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Work>>,
}

impl Meter {
    /// Starts watching the tree under `supervisor` (the load supervisor's pid).
    pub fn start(supervisor: i32) -> Meter {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("load-meter".into())
            .spawn(move || watch(supervisor, &flag, SAMPLE_PERIOD))
            .ok();
        Meter { stop, thread }
    }

    /// Stops watching; `None` if the watcher could not run (then nothing is proven).
    pub fn finish(mut self) -> Option<Work> {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.take()?;
        t.thread().unpark();
        t.join().ok()
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn is_shell(comm: &str) -> bool {
    SHELLS.contains(&comm)
}

/// The watcher: a first snapshot, one every `period`, a last one when stopped.
fn watch(root: i32, stop: &AtomicBool, period: Duration) -> Work {
    let started = Instant::now();
    let first = snapshot(root);
    let start_total = first.total();
    // Per process (pid, start time): its own CPU ns at the last sample.
    let mut last: HashMap<(i32, u64), u64> = first
        .tree
        .iter()
        .map(|p| ((p.pid, p.starttime), p.own_ns))
        .collect();
    let mut programs = BTreeSet::new();
    let mut program_ns: u64 = 0;
    let mut end_total = start_total;
    let mut samples = 1;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping {
            std::thread::park_timeout(period);
        }
        let snap = snapshot(root);
        samples += 1;
        // The tree's total only grows; a racy read (a child reaped between two /proc files)
        // must not shrink it.
        end_total = end_total.max(snap.total());
        for p in &snap.tree {
            let before = last.insert((p.pid, p.starttime), p.own_ns).unwrap_or(0);
            if p.own_ns > before && !is_shell(&p.comm) {
                program_ns = program_ns.saturating_add(p.own_ns - before);
                programs.insert(p.comm.clone());
            }
        }
        if stopping || stop.load(Ordering::Relaxed) {
            if !stopping {
                continue; // one more, final sample
            }
            break;
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let ticks = end_total.saturating_sub(start_total);
    let cpu_s = ticks as f64 / tick_hz() as f64;
    Work {
        cpu_s,
        program_cpu_s: program_ns as f64 / 1e9,
        cpu_share: if wall_s > 0.0 { cpu_s / wall_s } else { 0.0 },
        programs: programs.into_iter().collect(),
        samples,
        wall_s,
    }
}

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
fn tick_hz() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_with_odd_names() {
        let line = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 5 1 20 0 1 0 987654 1000 10 18446744073709551615";
        let p = parse_stat(4242, line).unwrap();
        assert_eq!(p.comm, "we ird) name)");
        assert_eq!((p.ppid, p.own, p.children, p.starttime), (1, 10, 6, 987654));
        assert!(parse_stat(1, "1 (x) S").is_none());
        assert!(parse_stat(1, "garbage").is_none());
    }

    fn work(cpu_share: f64, programs: &[&str]) -> Work {
        Work {
            cpu_s: cpu_share * 10.0,
            cpu_share,
            program_cpu_s: if programs.is_empty() {
                0.0
            } else {
                cpu_share * 5.0
            },
            programs: programs.iter().map(|s| s.to_string()).collect(),
            samples: 50,
            wall_s: 10.0,
        }
    }

    #[test]
    fn idle_or_shell_only_loads_prove_nothing() {
        assert!(work(0.0, &[]).problem().unwrap().contains("no real work"));
        assert!(
            work(0.005, &["hackbench"])
                .problem()
                .unwrap()
                .contains("below the 1 %")
        );
        assert!(
            work(0.9, &[])
                .problem()
                .unwrap()
                .contains("no program but the shell")
        );
        assert_eq!(work(0.9, &["hackbench"]).problem(), None);
        // A loop of `nice rt-app` with rt-app missing: `nice` shows up, with next to no CPU.
        let mut w = work(0.9, &["nice"]);
        w.program_cpu_s = 0.002; // what a 5 s loop of `nice rt-app` showed
        assert!(w.program_cpu_s / w.wall_s < MIN_PROGRAM_SHARE);
        let p = w.problem().unwrap();
        assert!(
            p.contains("no program but the shell") && p.contains("(nice)"),
            "{p}"
        );
    }

    /// A real tree: a shell looping over a busy program, watched for a second.
    #[test]
    fn meter_sees_a_busy_program_and_its_cpu_time() {
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("while :; do timeout 0.3 yes >/dev/null; done")
            .spawn()
            .unwrap();
        // Watch from a parent we own: the test process's pid is the tree root.
        let meter = Meter::start(std::process::id() as i32);
        std::thread::sleep(Duration::from_millis(1200));
        let w = meter.finish().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        // The machine may be shared: a busy `yes` still gets far more than the threshold.
        assert!(w.cpu_share > MIN_CPU_SHARE && w.cpu_s > 0.0, "{w:?}");
        assert!(w.programs.iter().any(|p| p == "yes"), "{w:?}");
        assert!(
            w.program_cpu_s > 0.0 && w.program_cpu_s <= w.cpu_s + 0.05,
            "{w:?}"
        );
        assert!(w.samples >= 3, "{w:?}");
    }
}
