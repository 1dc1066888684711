//! The capture thread: snapshots at the start, every [`PERIOD`], and at the end, from a
//! thread of its own pinned to the housekeeping CPUs. The samplers are never touched: the
//! capture reads files the kernel keeps anyway, so the hot path is unchanged.
//!
//! Only the deltas are kept: the whole run's, and a ring of the last [`RING`] intervals
//! (five minutes at 100 ms), each bounded in size, so a long run costs bounded memory.
//! What lives and dies during the run (the samplers themselves, whose threads and EVL
//! elements are gone at the last snapshot, a short-lived task) is summed over the intervals
//! instead of taken from the first and last snapshots.

use crate::snapshot::{Delta, Probe, Snapshot, TaskRun};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Time between two periodic snapshots, at the shortest.
pub const PERIOD: Duration = Duration::from_millis(100);
/// The share of one housekeeping CPU the capture may take: a snapshot reads every thread's
/// `stat` (a few ms on a desktop, tens of ms on a slow or emulated board), so the next one
/// waits until the snapshot's cost is at most this share of the interval. Intervals grow on
/// a slow board; the housekeeping CPU (sshd, the loads' own work) keeps its time.
pub const MAX_CPU_SHARE: f64 = 0.02;
/// Intervals kept.
pub const RING: usize = 3000;
/// Tasks kept in the whole run's delta, the busiest.
pub const TOTAL_TASKS: usize = 32;

/// What the capture saw.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The measured CPUs.
    pub cpus: Vec<u32>,
    /// From the first snapshot to the last.
    pub total: Delta,
    /// The last [`RING`] intervals, oldest first.
    pub intervals: Vec<Delta>,
    /// Intervals dropped from the ring's front.
    pub dropped: u64,
    /// Sources that could not be read.
    pub missing: BTreeSet<String>,
    /// The affinity, at the end, of each device IRQ that fired on a measured CPU.
    pub irq_affinity: BTreeMap<String, String>,
}

/// CLOCK_MONOTONIC, ns: the clock the samplers time-stamp their wake-ups with.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Folds snapshots into the evidence (the capture thread's state, usable without a thread).
pub struct Recorder {
    probe: Probe,
    first: Snapshot,
    last: Snapshot,
    ring: VecDeque<Delta>,
    dropped: u64,
    missing: BTreeSet<&'static str>,
    sums: Sums,
}

/// What is summed over the intervals.
#[derive(Default)]
struct Sums {
    tasks: BTreeMap<u32, TaskRun>,
    samplers: BTreeMap<String, (u64, u64)>,
    evl: BTreeMap<String, (u64, u64)>,
}

impl Sums {
    fn add(&mut self, d: &Delta) {
        for t in &d.tasks {
            let e = self.tasks.entry(t.tid).or_insert_with(|| TaskRun {
                run_ns: 0,
                ..t.clone()
            });
            e.run_ns = e.run_ns.saturating_add(t.run_ns);
            e.cpu = t.cpu;
        }
        for (name, v, n) in &d.samplers {
            let e = self.samplers.entry(name.clone()).or_default();
            *e = (e.0 + v, e.1 + n);
        }
        for (name, isw, csw) in &d.evl {
            let e = self.evl.entry(name.clone()).or_default();
            *e = (e.0 + isw, e.1 + csw);
        }
    }

    fn into_total(self, total: &mut Delta) {
        let mut tasks: Vec<TaskRun> = self.tasks.into_values().collect();
        tasks.sort_by(|a, b| b.run_ns.cmp(&a.run_ns).then(a.tid.cmp(&b.tid)));
        tasks.truncate(TOTAL_TASKS);
        total.tasks = tasks;
        total.samplers = self
            .samplers
            .into_iter()
            .map(|(k, (v, n))| (k, v, n))
            .collect();
        total.evl = self.evl.into_iter().map(|(k, (i, c))| (k, i, c)).collect();
    }
}

impl Recorder {
    /// Takes the first snapshot.
    pub fn start(probe: Probe) -> Recorder {
        let first = probe.snapshot(monotonic_ns());
        Recorder {
            missing: first.missing.clone(),
            last: first.clone(),
            first,
            probe,
            ring: VecDeque::new(),
            dropped: 0,
            sums: Sums::default(),
        }
    }

    /// Takes a snapshot and keeps the interval since the previous one.
    pub fn tick(&mut self) {
        let next = self.probe.snapshot(monotonic_ns());
        self.push(next);
    }

    /// Keeps the interval up to `next` (tests feed snapshots of their own).
    pub fn push(&mut self, next: Snapshot) {
        let d = Delta::between(&self.last, &next, &self.probe.cpus);
        self.sums.add(&d);
        if self.ring.len() == RING {
            self.ring.pop_front();
            self.dropped += 1;
        }
        self.ring.push_back(d);
        self.missing.extend(next.missing.iter().copied());
        self.last = next;
    }

    /// The evidence, after a last snapshot.
    pub fn finish(mut self) -> Evidence {
        self.tick();
        self.evidence()
    }

    /// The evidence up to the last snapshot taken or pushed.
    pub fn evidence(self) -> Evidence {
        let mut total = Delta::between(&self.first, &self.last, &self.probe.cpus);
        self.sums.into_total(&mut total);
        let irq_affinity = total
            .irqs
            .iter()
            .filter(|i| i.movable)
            .filter_map(|i| Some((i.irq.clone(), self.probe.irq_affinity(&i.irq)?)))
            .collect();
        Evidence {
            irq_affinity,
            cpus: self.probe.cpus.clone(),
            total,
            intervals: self.ring.into(),
            dropped: self.dropped,
            missing: self.missing.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// A running capture.
pub struct Capture {
    /// Dropping or sending on it stops the thread at once (it waits on the other end).
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<Evidence>>,
    /// The capture thread's id, to give it the caller's priority for the last snapshot.
    tid: libc::id_t,
}

impl Capture {
    /// Starts capturing on a thread pinned to `housekeeping` (left as inherited if the
    /// system refuses, or when empty). The first snapshot is taken before this returns.
    pub fn start(probe: Probe, housekeeping: &[usize]) -> std::io::Result<Capture> {
        let (stop, stopped) = mpsc::channel::<()>();
        let cpus = housekeeping.to_vec();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("rros-cause".into())
            .spawn(move || {
                pin(&cpus);
                // The first snapshot at the caller's priority: the measurement waits for it,
                // and the load is already running (at nice 10 it took 20 s under hackbench on
                // an emulated board). Only the periodic ones run in the background.
                let mut rec = Recorder::start(probe);
                lower_priority();
                let _ = ready_tx.send(thread_id());
                let mut wait = PERIOD;
                // Asleep until the next snapshot is due or the capture is stopped: no polling.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                    let began = Instant::now();
                    rec.tick();
                    wait = interval_after(began.elapsed());
                }
                rec.finish()
            })?;
        let tid = ready_rx.recv().unwrap_or(0);
        Ok(Capture {
            stop: Some(stop),
            handle: Some(handle),
            tid,
        })
    }

    /// Stops, with a last snapshot; `None` if the thread panicked.
    ///
    /// The measurement is over by now, but the scenario's load still runs until the caller
    /// reaps it: at nice 10 under a CPU-bound load (hackbench on an emulated board) the
    /// thread gets a fraction of a percent of its CPU, and the caller would wait many seconds
    /// for the last snapshot. So it first gets the caller's priority back (a privileged
    /// caller may raise it; a refusal only leaves it slow).
    pub fn finish(mut self) -> Option<Evidence> {
        self.hurry();
        self.stop.take();
        self.handle.take()?.join().ok()
    }

    /// Gives the capture thread the calling thread's nice value.
    fn hurry(&self) {
        if self.tid == 0 {
            return;
        }
        // SAFETY: getpriority/setpriority on thread ids; errno is this thread's own.
        unsafe {
            *libc::__errno_location() = 0;
            let mine = libc::getpriority(libc::PRIO_PROCESS, thread_id());
            if *libc::__errno_location() == 0 {
                libc::setpriority(libc::PRIO_PROCESS, self.tid, mine);
            }
        }
    }
}

/// The calling thread's kernel id.
fn thread_id() -> libc::id_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The wait before the next snapshot, given what the last one cost: [`PERIOD`], or longer
/// so that the capture takes at most [`MAX_CPU_SHARE`] of its CPU.
pub fn interval_after(cost: Duration) -> Duration {
    PERIOD.max(cost.mul_f64((1.0 - MAX_CPU_SHARE) / MAX_CPU_SHARE))
}

/// nice 10 for the capture thread (Linux sets it per thread), or the caller's own when that
/// is lower already: on the housekeeping CPU, sshd and the scenario's load come first.
fn lower_priority() {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes
    // this thread's nice value, and a refusal is harmless (the capture runs at its default).
    unsafe {
        *libc::__errno_location() = 0;
        let now = libc::getpriority(libc::PRIO_PROCESS, thread_id());
        // Never above the caller's own priority: a caller already at nice 15 keeps 15.
        if *libc::__errno_location() == 0 && now < 10 {
            libc::setpriority(libc::PRIO_PROCESS, thread_id(), 10);
        }
    }
}

fn pin(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET is bounded by its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            if c < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(c, &mut set);
            }
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Task;

    fn snap(mono_ns: u64, sampler: Option<u64>, task_ns: Option<u64>) -> Snapshot {
        let mut s = Snapshot {
            mono_ns,
            ..Snapshot::default()
        };
        if let Some(n) = sampler {
            s.samplers.insert(77, ("sampler-0".into(), n, n / 10));
            s.evl.insert("cyclictest-rs:1:0".into(), (n / 100, n));
        }
        if let Some(run_ns) = task_ns {
            s.tasks.insert(
                5,
                Task {
                    pid: 5,
                    comm: "cron".into(),
                    cpu: 3,
                    policy: 0,
                    rt_priority: 0,
                    run_ns,
                },
            );
        }
        s
    }

    /// The samplers and a short-lived task exist only in the middle snapshots: the whole
    /// run's delta still has them, summed over the intervals.
    #[test]
    fn what_lives_and_dies_during_the_run_is_summed() {
        let mut probe = Probe::live(vec![3]);
        probe.root = "/nonexistent/rros-cause".into();
        let mut rec = Recorder::start(probe);
        rec.push(snap(1, Some(1000), Some(0)));
        rec.push(snap(2, Some(3000), Some(7_000_000)));
        rec.push(snap(3, None, None));
        let ev = rec.evidence();
        assert_eq!(ev.intervals.len(), 3);
        assert_eq!(ev.total.samplers, vec![("sampler-0".into(), 3000, 300)]);
        assert_eq!(ev.total.evl, vec![("cyclictest-rs:1:0".into(), 30, 3000)]);
        assert_eq!(ev.total.tasks.len(), 1);
        assert_eq!(ev.total.tasks[0].run_ns, 7_000_000);
        assert!(ev.missing.contains("/proc/interrupts"));
    }

    #[test]
    fn a_costly_snapshot_stretches_the_interval_to_its_cpu_share() {
        assert_eq!(interval_after(Duration::from_millis(1)), PERIOD);
        // 5 ms a snapshot (this desktop): 245 ms apart, 2 % of a CPU.
        assert_eq!(
            interval_after(Duration::from_millis(5)),
            Duration::from_millis(245)
        );
        // 50 ms (an emulated board): 2.45 s apart.
        let slow = interval_after(Duration::from_millis(50));
        assert_eq!(slow, Duration::from_millis(2450));
        let share = 0.050 / (0.050 + slow.as_secs_f64());
        assert!(share <= MAX_CPU_SHARE + 1e-9, "{share}");
    }

    #[test]
    fn a_live_capture_stops_when_told_and_when_dropped() {
        // Finishing wakes the thread out of its wait and takes the last snapshot.
        let cap = Capture::start(Probe::live(vec![0]), &[]).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        let ev = cap.finish().expect("the capture thread ended normally");
        assert_eq!(ev.cpus, vec![0]);
        assert!(
            !ev.intervals.is_empty(),
            "at least the start-to-end interval"
        );
        // Dropped without finish: the thread still stops (the test would hang otherwise).
        drop(Capture::start(Probe::live(vec![0]), &[]).unwrap());
    }

    /// The nice value of one of this process's threads, from /proc (field 19).
    fn nice_of(tid: libc::id_t) -> i64 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn the_last_snapshot_runs_at_the_callers_priority() {
        let mine = nice_of(thread_id());
        let cap = Capture::start(Probe::live(vec![0]), &[]).unwrap();
        assert_ne!(cap.tid, 0);
        // Asleep between snapshots at nice 10, or the caller's if that is lower already.
        assert_eq!(nice_of(cap.tid), mine.max(10));
        cap.hurry();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(nice_of(cap.tid), mine, "root may raise it back");
        } else {
            // Unprivileged, raising a nice value is refused: it stays low, and finishes.
            assert!(nice_of(cap.tid) >= mine);
        }
        assert!(cap.finish().is_some());
    }
}
