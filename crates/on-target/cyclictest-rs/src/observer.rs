//! Cancellation ([`StopToken`]) and progress reporting ([`Observer`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Ends a run early: samplers poll it once per period and finish with full results.
/// Clone it freely; [`StopToken::flag`] can be registered with `signal-hook`.
#[derive(Debug, Clone, Default)]
pub struct StopToken(Arc<AtomicBool>);

impl StopToken {
    /// A token that is not set.
    pub fn new() -> StopToken {
        StopToken::default()
    }

    /// Asks the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`stop`](Self::stop) was called.
    #[inline(always)]
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The underlying flag (e.g. for `signal_hook::flag::register`).
    pub fn flag(&self) -> &Arc<AtomicBool> {
        &self.0
    }
}

/// A snapshot of one sampler's running statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LiveStats {
    /// Sampler thread index.
    pub thread: usize,
    /// Its CPU.
    pub cpu: usize,
    /// Samples so far.
    pub samples: u64,
    /// Missed periods so far.
    pub missed_periods: u64,
    /// Smallest latency so far (ns).
    pub min_ns: Option<i64>,
    /// Mean latency so far (ns; approximate while running).
    pub avg_ns: Option<f64>,
    /// Largest latency so far (ns).
    pub max_ns: Option<i64>,
    /// Latest latency (ns).
    pub last_ns: Option<i64>,
    /// The sampler has finished.
    pub done: bool,
}

/// What an [`Observer`] is shown, from the main thread, every
/// [`Observer::progress_interval`].
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Time since the samplers started.
    pub elapsed: Duration,
    /// Expected total run time, if bounded by loops or duration.
    pub expected: Option<Duration>,
    /// One entry per sampler thread.
    pub threads: &'a [LiveStats],
}

impl Progress<'_> {
    /// Estimated time left.
    pub fn eta(&self) -> Option<Duration> {
        self.expected.map(|e| e.saturating_sub(self.elapsed))
    }
}

/// Receives progress from the main thread while the samplers run (never from a sampler).
/// Library code never prints: the binary's observer draws the terminal display.
pub trait Observer {
    /// How often [`on_progress`](Self::on_progress) is called (default 250 ms).
    fn progress_interval(&self) -> Duration {
        Duration::from_millis(250)
    }

    /// Called once the samplers are set up, just before they start.
    fn on_start(&mut self, _threads: usize, _expected: Option<Duration>) {}

    /// Called periodically, and once more when all samplers have finished.
    fn on_progress(&mut self, _progress: &Progress<'_>) {}
}

/// Does nothing.
impl Observer for () {}

/// Wraps a closure as an [`Observer`].
pub struct FnObserver<F: FnMut(&Progress<'_>)>(pub F);

impl<F: FnMut(&Progress<'_>)> Observer for FnObserver<F> {
    fn on_progress(&mut self, progress: &Progress<'_>) {
        (self.0)(progress)
    }
}

/// Per-sampler atomics the hot loop publishes with relaxed stores (no RMW, no lock), on
/// its own cache line so samplers on different CPUs do not share one.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Live {
    pub(crate) samples: AtomicU64,
    pub(crate) missed: AtomicU64,
    pub(crate) min: AtomicI64,
    pub(crate) max: AtomicI64,
    pub(crate) sum: AtomicI64,
    pub(crate) last: AtomicI64,
    pub(crate) done: AtomicBool,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            samples: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(i64::MIN),
            sum: AtomicI64::new(0),
            last: AtomicI64::new(0),
            done: AtomicBool::new(false),
        }
    }

    pub(crate) fn snapshot(&self, thread: usize, cpu: usize) -> LiveStats {
        let samples = self.samples.load(Ordering::Relaxed);
        let some = samples > 0;
        LiveStats {
            thread,
            cpu,
            samples,
            missed_periods: self.missed.load(Ordering::Relaxed),
            min_ns: some.then(|| self.min.load(Ordering::Relaxed)),
            avg_ns: some.then(|| self.sum.load(Ordering::Relaxed) as f64 / samples as f64),
            max_ns: some.then(|| self.max.load(Ordering::Relaxed)),
            last_ns: some.then(|| self.last.load(Ordering::Relaxed)),
            done: self.done.load(Ordering::Acquire),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_token_is_shared() {
        let a = StopToken::new();
        let b = a.clone();
        assert!(!b.is_stopped());
        a.stop();
        assert!(b.is_stopped());
        assert!(b.flag().load(Ordering::Relaxed));
    }

    #[test]
    fn live_snapshot() {
        let l = Live::new();
        assert_eq!(l.snapshot(0, 1).min_ns, None);
        l.samples.store(2, Ordering::Relaxed);
        l.sum.store(30, Ordering::Relaxed);
        l.min.store(10, Ordering::Relaxed);
        l.max.store(20, Ordering::Relaxed);
        let s = l.snapshot(0, 1);
        assert_eq!(
            (s.min_ns, s.max_ns, s.avg_ns),
            (Some(10), Some(20), Some(15.0))
        );
        let p = Progress {
            elapsed: Duration::from_secs(3),
            expected: Some(Duration::from_secs(5)),
            threads: &[s],
        };
        assert_eq!(p.eta(), Some(Duration::from_secs(2)));
    }
}
