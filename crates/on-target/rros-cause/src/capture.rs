//! The capture thread: snapshots at the start, every [`PERIOD`], and at the end, from a
//! thread of its own pinned to the housekeeping CPUs. The samplers are never touched: the
//! capture reads files the kernel keeps anyway, so the hot path is unchanged.
//!
//! Only the deltas are kept: the whole run's, and a ring of the last [`RING`] intervals
//! (about ten minutes at 100 ms), each bounded in size, so a long run costs bounded memory.

use crate::snapshot::{Delta, Probe, Snapshot};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Time between two periodic snapshots.
pub const PERIOD: Duration = Duration::from_millis(100);
/// Intervals kept.
pub const RING: usize = 6000;

/// What the capture saw.
#[derive(Debug, Clone, Default)]
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
    pub missing: BTreeSet<&'static str>,
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
        Evidence {
            cpus: self.probe.cpus.clone(),
            total: Delta::between(&self.first, &self.last, &self.probe.cpus),
            intervals: self.ring.into(),
            dropped: self.dropped,
            missing: self.missing,
        }
    }
}

/// A running capture.
pub struct Capture {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Evidence>>,
}

impl Capture {
    /// Starts capturing on a thread pinned to `housekeeping` (left as inherited if the
    /// system refuses, or when empty). The first snapshot is taken before this returns.
    pub fn start(probe: Probe, housekeeping: &[usize]) -> std::io::Result<Capture> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let cpus = housekeeping.to_vec();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("rros-cause".into())
            .spawn(move || {
                pin(&cpus);
                let mut rec = Recorder::start(probe);
                let _ = ready_tx.send(());
                let mut next = std::time::Instant::now() + PERIOD;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                    if std::time::Instant::now() >= next {
                        rec.tick();
                        next += PERIOD;
                    }
                }
                rec.finish()
            })?;
        let _ = ready_rx.recv();
        Ok(Capture {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops, with a last snapshot; `None` if the thread panicked.
    pub fn finish(mut self) -> Option<Evidence> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take()?.join().ok()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
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
