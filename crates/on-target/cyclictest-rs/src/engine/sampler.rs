//! A sampler thread: set itself up (CPU, policy, backend, storage), wait at the start gate,
//! run the hot loop, report how it ended.
//!
//! The hot loop ([`sample_loop`]) sleeps until `next` (absolute), reads the clock, records
//! `now − next` and advances `next` by one period. If the wake-up came later than one or more
//! following periods, those periods are counted as missed and `next` skips past `now`
//! (cyclictest skips them silently). It allocates nothing, takes no lock and makes no syscall
//! besides the clock read and the sleep; it publishes running values with relaxed atomic
//! stores for the progress display. Everything it needs is decided before it starts (the
//! plan's [`StopRule`]), except the end time: the loop reads it from [`Shared::end_at`] once
//! per period (one relaxed load of a line written at most twice a run), so that the main
//! thread can bring it forward when the run's `until` target is met ([`super::until`]).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread;

use super::plan::{Plan, SamplerPlan, StopRule};
use super::until::Halt;
use crate::backend::{Backend, SampleClock, SleepError};
use crate::error::{Error, errno_label};
use crate::observer::{Live, StopToken};
use crate::stats::Accumulator;
use crate::sys;

/// A start gate the samplers wait at (Mutex + Condvar: no allocation, before the hot loop).
pub(super) struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            open: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    fn wait(&self) {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*g {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    pub(super) fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}

/// How a sampler's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SamplerEnd {
    Loops,
    Duration,
    Stopped,
    Aborted,
}

/// What a sampler thread returns: its storage and how it ended, or why it failed.
pub(super) type Joined = Result<(Accumulator, SamplerEnd), Error>;

/// What the main thread and the samplers share for one run (borrowed by the scoped threads).
pub(super) struct Shared<'a, B> {
    pub(super) backend: &'a B,
    pub(super) plan: &'a Plan<'a>,
    pub(super) stop: &'a StopToken,
    /// Running values, one per sampler, for the progress display.
    pub(super) lives: Vec<Live>,
    /// Each sampler's setup: its tid, or why it could not start.
    pub(super) setup: Vec<Mutex<Option<Result<i32, Error>>>>,
    /// Samplers done with their setup (successful or not).
    pub(super) ready: AtomicUsize,
    pub(super) gate: Gate,
    /// Set before the gate opens when the run is abandoned: samplers leave without sampling.
    pub(super) abort: AtomicBool,
    /// The end time on the backend clock (`StopRule::end_at`), set before the gate opens;
    /// brought forward to `i64::MIN` when the run's `until` target is met.
    pub(super) end_at: AtomicI64,
    /// Why the `until` check ended the run, if it did (set once, before `end_at` moves).
    pub(super) halted: OnceLock<Halt>,
    /// The main thread, unparked on every sampler's progress.
    pub(super) main: thread::Thread,
}

impl<'a, B: Backend> Shared<'a, B> {
    /// The shared state for `plan`'s samplers, to be woken from the calling thread.
    pub(super) fn new(backend: &'a B, plan: &'a Plan<'a>, stop: &'a StopToken) -> Self {
        let n = plan.threads();
        Shared {
            backend,
            plan,
            stop,
            lives: (0..n).map(|_| Live::new()).collect(),
            setup: (0..n).map(|_| Mutex::new(None)).collect(),
            ready: AtomicUsize::new(0),
            gate: Gate::new(),
            abort: AtomicBool::new(false),
            end_at: AtomicI64::new(i64::MAX),
            halted: OnceLock::new(),
            main: thread::current(),
        }
    }

    /// Ends the run for `why`: every sampler leaves after its next sample.
    pub(super) fn halt(&self, why: Halt) {
        if self.halted.set(why).is_ok() {
            self.end_at.store(i64::MIN, Ordering::Relaxed);
        }
    }
}

/// One sampler thread: setup, gate, hot loop, teardown.
pub(super) fn sampler<B: Backend>(
    sh: &Shared<'_, B>,
    at: SamplerPlan,
    mut acc: Accumulator,
) -> Joined {
    sys::block_termination_signals();
    let setup = prepare(sh, at, &mut acc);
    let tid = sys::gettid();
    let (clock, setup_result) = match setup {
        Ok(c) => (Some(c), Ok(tid)),
        Err(e) => (None, Err(e)),
    };
    *sh.setup[at.thread]
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(setup_result);
    sh.ready.fetch_add(1, Ordering::Release);
    sh.main.unpark();
    sh.gate.wait();

    let live = &sh.lives[at.thread];
    let result = match clock {
        Some(clock) if !sh.abort.load(Ordering::Acquire) => {
            let StopRule {
                interval_ns, loops, ..
            } = sh.plan.stop;
            let r = sample_loop(
                &clock,
                &mut acc,
                live,
                sh.stop,
                // validate() bounds it to MAX_INTERVAL_NS (1 s): no wrap.
                i64::try_from(interval_ns).unwrap_or(i64::MAX),
                loops,
                &sh.end_at,
            );
            drop(clock);
            match r {
                Ok(how) => Ok((acc, how)),
                Err(e) => Err(Error::Sleep {
                    backend: sh.plan.backend.name(),
                    thread: at.thread,
                    cpu: at.cpu,
                    samples: acc.samples(),
                    message: sh.backend.describe_sleep_error(e),
                }),
            }
        }
        _ => Ok((acc, SamplerEnd::Aborted)),
    };
    live.done.store(true, Ordering::Release);
    sh.main.unpark();
    result
}

/// The sampler's setup on its own thread: pin to the CPU, take the policy, attach to the
/// backend, touch the storage (so that the hot loop never faults it in).
fn prepare<B: Backend>(
    sh: &Shared<'_, B>,
    at: SamplerPlan,
    acc: &mut Accumulator,
) -> Result<B::Clock, Error> {
    let SamplerPlan { thread, cpu } = at;
    let cfg = sh.plan.config;
    sys::set_affinity_current(&[cpu]).map_err(|source| Error::Affinity {
        thread,
        cpu,
        source,
    })?;
    if let Err(e) = sys::set_scheduler_current(cfg.policy, cfg.priority) {
        return Err(if e.raw_os_error() == Some(libc::EPERM) {
            Error::SchedPermission {
                policy: cfg.policy,
                priority: cfg.priority,
                errno: errno_label(&e),
                rlimit: sys::rlimit_rtprio(),
            }
        } else {
            Error::Sched {
                policy: cfg.policy,
                priority: cfg.priority,
                thread,
                source: e,
            }
        });
    }
    let clock = sh.backend.attach(thread, cpu)?;
    acc.prefault();
    Ok(clock)
}

/// The hot loop. No allocation, no lock, no syscall but `clock.now()`/`clock.sleep_until()`.
#[inline(never)]
fn sample_loop<C: SampleClock>(
    clock: &C,
    acc: &mut Accumulator,
    live: &Live,
    stop: &StopToken,
    interval: i64,
    loops: u64,
    end_at: &AtomicI64,
) -> Result<SamplerEnd, SleepError> {
    let mut next = clock.now() + interval;
    loop {
        if stop.is_stopped() {
            return Ok(SamplerEnd::Stopped);
        }
        if let Err(e) = clock.sleep_until(next) {
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        let now = clock.now();
        acc.record(now - next, now);
        next += interval;
        if now > next {
            // Overrun: periods whose expiry passed while we were late. Skip them, as
            // cyclictest does, but count them (within the run's loop budget).
            let missed = (now - next + interval - 1) / interval;
            next += missed * interval;
            let left = loops.saturating_sub(acc.samples + acc.missed);
            acc.add_missed((missed as u64).min(left));
        }
        live.samples.store(acc.samples, Ordering::Relaxed);
        live.missed.store(acc.missed, Ordering::Relaxed);
        live.min.store(acc.min, Ordering::Relaxed);
        live.max.store(acc.max, Ordering::Relaxed);
        live.sum.store(acc.sum, Ordering::Relaxed);
        live.last.store(acc.last, Ordering::Relaxed);
        if acc.samples + acc.missed >= loops {
            return Ok(SamplerEnd::Loops);
        }
        if now >= end_at.load(Ordering::Relaxed) {
            return Ok(SamplerEnd::Duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::Script;
    use super::*;
    use crate::config::HistogramSpec;

    fn never() -> AtomicI64 {
        AtomicI64::new(i64::MAX)
    }

    fn acc() -> Accumulator {
        Accumulator::new(
            HistogramSpec {
                bucket_width_ns: 1000,
                buckets: 100,
            },
            4,
            4,
            0,
            0,
        )
    }

    #[test]
    fn counts_missed_periods_and_honours_loops() {
        // Period 100; the 3rd wake-up is 350 late: periods 4, 5, 6 are missed.
        let c = Script::new(vec![1, 2, 350, 3, 4, 5, 6, 7, 8, 9]);
        let mut a = acc();
        let live = Live::new();
        let end = sample_loop(&c, &mut a, &live, &StopToken::new(), 100, 10, &never()).unwrap();
        assert_eq!(end, SamplerEnd::Loops);
        assert_eq!(a.missed, 3);
        assert_eq!(a.samples, 7);
        assert_eq!(a.samples + a.missed, 10);
        assert_eq!(a.max, 350);
        assert_eq!(live.samples.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn missed_periods_are_clamped_to_the_loop_budget() {
        let c = Script::new(vec![1, 1, 1000]);
        let mut a = acc();
        sample_loop(
            &c,
            &mut a,
            &Live::new(),
            &StopToken::new(),
            100,
            3,
            &never(),
        )
        .unwrap();
        assert_eq!((a.samples, a.missed), (3, 0));
        let c = Script::new(vec![1000]);
        let mut a = acc();
        sample_loop(
            &c,
            &mut a,
            &Live::new(),
            &StopToken::new(),
            100,
            5,
            &never(),
        )
        .unwrap();
        assert_eq!((a.samples, a.missed), (1, 4));
    }

    #[test]
    fn stops_on_token_and_duration() {
        let c = Script::new(vec![5]);
        let stop = StopToken::new();
        stop.stop();
        let mut a = acc();
        let end = sample_loop(&c, &mut a, &Live::new(), &stop, 100, u64::MAX, &never()).unwrap();
        assert_eq!((end, a.samples), (SamplerEnd::Stopped, 0));
        let mut a = acc();
        let end = sample_loop(
            &c,
            &mut a,
            &Live::new(),
            &StopToken::new(),
            100,
            u64::MAX,
            &AtomicI64::new(1000),
        )
        .unwrap();
        assert_eq!(end, SamplerEnd::Duration);
        assert_eq!(a.samples, 10);
    }
}
