//! The run: setup, sampler threads, progress, results.
//!
//! Each sampler thread pins itself to its CPU, sets its scheduling policy, attaches to the
//! backend, touches its preallocated storage and waits at a start gate. Then it loops:
//! sleep until `next` (absolute), read the clock, record `now − next`, advance `next` by
//! one period. If the wake-up came later than one or more following periods, those periods
//! are counted as missed and `next` skips past `now` (cyclictest skips them silently). The
//! loop allocates nothing, takes no lock and makes no syscall besides the clock read and the
//! sleep; it publishes running values with relaxed atomic stores for the progress display.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::backend::posix::Posix;
use crate::backend::{Backend, SampleClock, SleepError};
use crate::config::{BackendKind, RunConfig};
use crate::cpuset::format_cpulist;
use crate::error::{Error, errno_label};
use crate::observer::{Live, Observer, Progress, StopToken};
use crate::report::{CpuStats, EndReason, NATIVE_FORMAT, PmQosStatus, RunReport, Timestamp};
use crate::stats::{Accumulator, Stats};
use crate::sys;

/// Stack of a sampler thread: small, since `mlockall(MCL_FUTURE)` makes it resident (64 KiB
/// is also libevl's minimum for EVL threads, `EVL_STACK_DEFAULT`).
const SAMPLER_STACK: usize = 64 * 1024;

/// Runs one measurement. Blocks until every sampler has finished (loops, duration, or
/// `stop`), calling `observer` from this thread meanwhile. Library code never prints.
///
/// ```no_run
/// use cyclictest::{run, RunConfig, StopToken};
/// let cfg = RunConfig { cpus: vec![1], loops: Some(10_000), interval_ns: 200_000, ..Default::default() };
/// let report = run(&cfg, &StopToken::new(), &mut ())?;
/// println!("max {:?} ns", report.overall.max_ns);
/// # Ok::<(), cyclictest::Error>(())
/// ```
pub fn run(
    config: &RunConfig,
    stop: &StopToken,
    observer: &mut dyn Observer,
) -> Result<RunReport, Error> {
    config.validate()?;
    check_cpus(&config.cpus, config.main_affinity.as_deref())?;
    match config.backend {
        BackendKind::Posix => run_with(&Posix, config, stop, observer),
        BackendKind::Evl => {
            #[cfg(feature = "evl")]
            {
                let evl = crate::backend::evl::Evl::new()?;
                run_with(&evl, config, stop, observer)
            }
            #[cfg(not(feature = "evl"))]
            {
                Err(Error::BackendUnavailable)
            }
        }
    }
}

/// Checks that every CPU exists and is online.
///
/// The calling thread's affinity mask is deliberately *not* a limit: `isolcpus=` takes the
/// isolated CPUs out of every task's default mask, yet pinning a thread onto them is exactly
/// how real-time work gets there. What the kernel really enforces is the cgroup cpuset, and
/// the sampler's own `sched_setaffinity` reports that ([`Error::Affinity`]).
pub fn check_cpus(cpus: &[usize], main: Option<&[usize]>) -> Result<(), Error> {
    let online = sys::online_cpus();
    let possible = sys::cpus_configured();
    let all: Vec<usize> = cpus.iter().chain(main.unwrap_or(&[])).copied().collect();
    check_cpus_against(&all, possible, &online)
}

/// [`check_cpus`] against a given CPU count and online set.
pub(crate) fn check_cpus_against(
    cpus: &[usize],
    possible: usize,
    online: &[usize],
) -> Result<(), Error> {
    let possible = possible
        .max(online.iter().max().map_or(0, |m| m + 1))
        .max(1);
    for &cpu in cpus {
        if cpu >= possible {
            return Err(Error::CpuOutOfRange {
                cpu,
                possible: format!("0-{}", possible - 1),
                online: format_cpulist(online),
            });
        }
        if !online.contains(&cpu) {
            return Err(Error::CpuOffline {
                cpu,
                online: format_cpulist(online),
            });
        }
    }
    Ok(())
}

/// A start gate the samplers wait at (Mutex + Condvar: no allocation, before the hot loop).
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*g {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}

/// How a sampler's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SamplerEnd {
    Loops,
    Duration,
    Stopped,
    Aborted,
}

/// What the samplers share (all borrowed from `run_with`'s frame).
struct Shared<'a, B> {
    backend: &'a B,
    config: &'a RunConfig,
    stop: &'a StopToken,
    lives: &'a [Live],
    setup: &'a [Mutex<Option<Result<i32, Error>>>],
    ready: &'a AtomicUsize,
    gate: &'a Gate,
    abort: &'a AtomicBool,
    end_at: &'a AtomicI64,
    main: thread::Thread,
}

fn run_with<B: Backend>(
    backend: &B,
    config: &RunConfig,
    stop: &StopToken,
    observer: &mut dyn Observer,
) -> Result<RunReport, Error> {
    let mut warnings = Vec::new();
    let previous_affinity = sys::allowed_cpus();
    if let Some(m) = &config.main_affinity {
        sys::set_affinity_current(m).map_err(|source| Error::MainAffinity {
            cpus: format_cpulist(m),
            source,
        })?;
    }
    let result = measure(backend, config, stop, observer, &mut warnings);
    if config.main_affinity.is_some() && !previous_affinity.is_empty() {
        let _ = sys::set_affinity_current(&previous_affinity);
    }
    result
}

fn measure<B: Backend>(
    backend: &B,
    config: &RunConfig,
    stop: &StopToken,
    observer: &mut dyn Observer,
    warnings: &mut Vec<String>,
) -> Result<RunReport, Error> {
    if config.mlock {
        sys::mlockall().map_err(|e| Error::Mlock {
            errno: errno_label(&e),
            rlimit: sys::rlimit_memlock_kib(),
        })?;
    }
    let out = measure_locked(backend, config, stop, observer, warnings);
    if config.mlock {
        sys::munlockall();
    }
    out
}

fn measure_locked<B: Backend>(
    backend: &B,
    config: &RunConfig,
    stop: &StopToken,
    observer: &mut dyn Observer,
    warnings: &mut Vec<String>,
) -> Result<RunReport, Error> {
    // PM QoS: held (fd open) until this function returns.
    let (_pm_guard, pm_qos) = match config.pm_qos_us {
        None => (
            None,
            PmQosStatus {
                requested_us: None,
                held: false,
                error: None,
            },
        ),
        Some(v) => match sys::PmQos::hold(v) {
            Ok(g) => (
                Some(g),
                PmQosStatus {
                    requested_us: Some(v),
                    held: true,
                    error: None,
                },
            ),
            Err(e) => {
                let msg = format!(
                    "PM QoS request of {v} µs not held: {}: {e} (run as root; without it \
                     idle states add exit latency)",
                    sys::CPU_DMA_LATENCY
                );
                warnings.push(msg.clone());
                (
                    None,
                    PmQosStatus {
                        requested_us: Some(v),
                        held: false,
                        error: Some(msg),
                    },
                )
            }
        },
    };

    let n = config.cpus.len();
    let lives: Vec<Live> = (0..n).map(|_| Live::new()).collect();
    let setup: Vec<Mutex<Option<Result<i32, Error>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let ready = AtomicUsize::new(0);
    let gate = Gate {
        open: Mutex::new(false),
        cv: Condvar::new(),
    };
    let abort = AtomicBool::new(false);
    let end_at = AtomicI64::new(i64::MAX);
    let info = backend.info();

    let shared = Shared {
        backend,
        config,
        stop,
        lives: &lives,
        setup: &setup,
        ready: &ready,
        gate: &gate,
        abort: &abort,
        end_at: &end_at,
        main: thread::current(),
    };

    type Joined = Result<(Accumulator, SamplerEnd), Error>;
    let (joined, start_clock, start, started): (Vec<Joined>, i64, Timestamp, Instant) =
        thread::scope(|s| {
            let mut handles = Vec::with_capacity(n);
            for (i, &cpu) in config.cpus.iter().enumerate() {
                let acc = Accumulator::new(
                    config.histogram,
                    config.outliers,
                    config.overflow_log,
                    i,
                    cpu,
                );
                let shared = &shared;
                let spawned = thread::Builder::new()
                    .name(format!("sampler-{i}"))
                    .stack_size(SAMPLER_STACK)
                    .spawn_scoped(s, move || sampler(shared, i, cpu, acc));
                match spawned {
                    Ok(h) => handles.push(h),
                    Err(source) => {
                        abort.store(true, Ordering::Release);
                        gate.open();
                        for h in handles {
                            let _ = h.join();
                        }
                        return Err(Error::Spawn { thread: i, source });
                    }
                }
            }
            // Wait until every sampler is set up (or failed to be).
            while ready.load(Ordering::Acquire) < n {
                thread::park_timeout(Duration::from_millis(20));
            }
            let mut first_err = None;
            for slot in &setup {
                let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
                if first_err.is_none() && matches!(*g, Some(Err(_))) {
                    first_err = g.take().and_then(Result::err);
                }
            }
            if let Some(e) = first_err {
                abort.store(true, Ordering::Release);
                gate.open();
                for h in handles {
                    let _ = h.join();
                }
                return Err(e);
            }

            let start_clock = sys::clock_ns(libc::CLOCK_MONOTONIC);
            if let Some(d) = config.duration_ns {
                // validate() bounds d to a year; checked all the same, never wrapped.
                let end = i64::try_from(d)
                    .ok()
                    .and_then(|d| start_clock.checked_add(d))
                    .unwrap_or(i64::MAX);
                end_at.store(end, Ordering::Relaxed);
            }
            let start = Timestamp::now();
            let started = Instant::now();
            let expected = config.expected_duration();
            observer.on_start(n, expected);
            gate.open();

            let tick = observer.progress_interval().max(Duration::from_millis(1));
            let mut snaps = Vec::with_capacity(n);
            let mut last_tick = Instant::now();
            loop {
                let done = lives.iter().all(|l| l.done.load(Ordering::Acquire));
                if done || last_tick.elapsed() >= tick {
                    snaps.clear();
                    snaps.extend(
                        lives
                            .iter()
                            .enumerate()
                            .map(|(i, l)| l.snapshot(i, config.cpus[i])),
                    );
                    observer.on_progress(&Progress {
                        elapsed: started.elapsed(),
                        expected,
                        threads: &snaps,
                    });
                    last_tick = Instant::now();
                }
                if done {
                    break;
                }
                thread::park_timeout(tick.saturating_sub(last_tick.elapsed()));
            }
            let joined = handles
                .into_iter()
                .enumerate()
                .map(|(i, h)| {
                    h.join().unwrap_or(Err(Error::SamplerPanicked {
                        thread: i,
                        cpu: config.cpus[i],
                    }))
                })
                .collect();
            Ok((joined, start_clock, start, started))
        })?;
    let elapsed = started.elapsed();
    let end = Timestamp::now();

    let mut cpus = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n);
    for (i, r) in joined.into_iter().enumerate() {
        let (acc, how) = r?;
        let tid = setup[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .and_then(Result::ok)
            .unwrap_or(0);
        let cpu = config.cpus[i];
        cpus.push(CpuStats {
            thread: i,
            cpu,
            tid,
            node: sys::numa_node_of(cpu),
            stats: acc.finish(start_clock),
        });
        ends.push(how);
    }
    let end_reason = if stop.is_stopped() || ends.contains(&SamplerEnd::Stopped) {
        EndReason::Stopped
    } else if ends.contains(&SamplerEnd::Duration) {
        EndReason::Duration
    } else {
        EndReason::Loops
    };
    let parts: Vec<&Stats> = cpus.iter().map(|c| &c.stats).collect();
    let overall = Stats::merge(&parts, config.histogram, config.outliers);
    let missed: u64 = cpus.iter().map(|c| c.stats.missed_periods).sum();
    if missed > 0 {
        warnings.push(format!(
            "{missed} period(s) missed: a wake-up came later than the next period (see \
             missed_periods per CPU)"
        ));
    }
    Ok(RunReport {
        format: NATIVE_FORMAT,
        tool: "cyclictest-rs",
        version: env!("CARGO_PKG_VERSION"),
        backend: info,
        config: config.clone(),
        start,
        end,
        elapsed_ns: elapsed.as_nanos() as u64,
        end_reason,
        mlocked: config.mlock,
        pm_qos,
        sysinfo: sys::SysInfo::read(),
        cpus,
        overall,
        warnings: std::mem::take(warnings),
    })
}

/// One sampler thread: setup, gate, hot loop, teardown.
fn sampler<B: Backend>(
    sh: &Shared<'_, B>,
    thread: usize,
    cpu: usize,
    mut acc: Accumulator,
) -> Result<(Accumulator, SamplerEnd), Error> {
    sys::block_termination_signals();
    let cfg = sh.config;
    let setup = (|| {
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
    })();
    let tid = sys::gettid();
    let (clock, setup_result) = match setup {
        Ok(c) => (Some(c), Ok(tid)),
        Err(e) => (None, Err(e)),
    };
    *sh.setup[thread].lock().unwrap_or_else(|e| e.into_inner()) = Some(setup_result);
    sh.ready.fetch_add(1, Ordering::Release);
    sh.main.unpark();
    sh.gate.wait();

    let live = &sh.lives[thread];
    let result = match clock {
        Some(clock) if !sh.abort.load(Ordering::Acquire) => {
            let end_at = sh.end_at.load(Ordering::Relaxed);
            let r = sample_loop(
                &clock,
                &mut acc,
                live,
                sh.stop,
                // validate() bounds it to MAX_INTERVAL_NS (1 s): no wrap.
                i64::try_from(cfg.interval_ns).unwrap_or(i64::MAX),
                cfg.loops.unwrap_or(u64::MAX),
                end_at,
            );
            drop(clock);
            match r {
                Ok(how) => Ok((acc, how)),
                Err(e) => Err(Error::Sleep {
                    backend: cfg.backend.name(),
                    thread,
                    cpu,
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

/// The hot loop. No allocation, no lock, no syscall but `clock.now()`/`clock.sleep_until()`.
#[inline(never)]
fn sample_loop<C: SampleClock>(
    clock: &C,
    acc: &mut Accumulator,
    live: &Live,
    stop: &StopToken,
    interval: i64,
    loops: u64,
    end_at: i64,
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
        if now >= end_at {
            return Ok(SamplerEnd::Duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::config::HistogramSpec;

    /// A fake clock: each sleep "wakes" at deadline + the next scripted latency.
    struct Script {
        now: Cell<i64>,
        lat: Vec<i64>,
        i: Cell<usize>,
    }

    impl SampleClock for Script {
        fn now(&self) -> i64 {
            self.now.get()
        }
        fn sleep_until(&self, deadline: i64) -> Result<(), SleepError> {
            let l = self.lat[self.i.get() % self.lat.len()];
            self.i.set(self.i.get() + 1);
            self.now.set(deadline.max(self.now.get()) + l);
            Ok(())
        }
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
    fn cpu_checks_name_the_problem() {
        let e = |cpus: &[usize]| {
            check_cpus_against(cpus, 4, &[0, 1, 3])
                .unwrap_err()
                .to_string()
        };
        assert!(check_cpus_against(&[0, 1, 1], 4, &[0, 1, 3]).is_ok());
        let m = e(&[8]);
        assert!(
            m.contains("CPU 8 does not exist") && m.contains("0-3") && m.contains("0-1,3"),
            "{m}"
        );
        let m = e(&[2]);
        assert!(
            m.contains("CPU 2 is offline") && m.contains("cpu2/online"),
            "{m}"
        );
        assert!(check_cpus_against(&[3], 4, &[0, 1, 3]).is_ok());
    }

    #[test]
    fn counts_missed_periods_and_honours_loops() {
        // Period 100; the 3rd wake-up is 350 late: periods 4, 5, 6 are missed.
        let c = Script {
            now: Cell::new(0),
            lat: vec![1, 2, 350, 3, 4, 5, 6, 7, 8, 9],
            i: Cell::new(0),
        };
        let mut a = acc();
        let live = Live::new();
        let end = sample_loop(&c, &mut a, &live, &StopToken::new(), 100, 10, i64::MAX).unwrap();
        assert_eq!(end, SamplerEnd::Loops);
        assert_eq!(a.missed, 3);
        assert_eq!(a.samples, 7);
        assert_eq!(a.samples + a.missed, 10);
        assert_eq!(a.max, 350);
        assert_eq!(live.samples.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn missed_periods_are_clamped_to_the_loop_budget() {
        let c = Script {
            now: Cell::new(0),
            lat: vec![1, 1, 1000],
            i: Cell::new(0),
        };
        let mut a = acc();
        sample_loop(
            &c,
            &mut a,
            &Live::new(),
            &StopToken::new(),
            100,
            3,
            i64::MAX,
        )
        .unwrap();
        assert_eq!((a.samples, a.missed), (3, 0));
        let c = Script {
            now: Cell::new(0),
            lat: vec![1000],
            i: Cell::new(0),
        };
        let mut a = acc();
        sample_loop(
            &c,
            &mut a,
            &Live::new(),
            &StopToken::new(),
            100,
            5,
            i64::MAX,
        )
        .unwrap();
        assert_eq!((a.samples, a.missed), (1, 4));
    }

    #[test]
    fn stops_on_token_and_duration() {
        let c = Script {
            now: Cell::new(0),
            lat: vec![5],
            i: Cell::new(0),
        };
        let stop = StopToken::new();
        stop.stop();
        let mut a = acc();
        let end = sample_loop(&c, &mut a, &Live::new(), &stop, 100, u64::MAX, i64::MAX).unwrap();
        assert_eq!((end, a.samples), (SamplerEnd::Stopped, 0));
        let mut a = acc();
        let end = sample_loop(
            &c,
            &mut a,
            &Live::new(),
            &StopToken::new(),
            100,
            u64::MAX,
            1000,
        )
        .unwrap();
        assert_eq!(end, SamplerEnd::Duration);
        assert_eq!(a.samples, 10);
    }
}
