//! Carrying out a checked [`Plan`] in named steps, each holding what it takes until the run
//! is over:
//!
//! 1. [`pin_main_thread`]: the calling thread onto `main_affinity` (restored afterwards);
//! 2. [`lock_memory`]: `mlockall` (undone afterwards), and the heap kept ([`sys::keep_heap`],
//!    for the rest of the process: a `free` must not interrupt the measured CPUs);
//! 3. [`hold_pm_qos`]: the `/dev/cpu_dma_latency` request (a warning, not an error, if refused);
//! 4. [`measure`]: start the samplers, wait for their setup, open the gate, show progress
//!    (and check the run's `until`), join them;
//! 5. [`into_report`]: each sampler's statistics, the end reason, the merged statistics.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use super::plan::Plan;
use super::sampler::{Joined, SamplerEnd, Shared, sampler};
use super::until;
use crate::backend::{Backend, BackendInfo};
use crate::cpuset::format_cpulist;
use crate::error::{Error, errno_label};
use crate::observer::{Observer, Progress, StopToken};
use crate::report::{CpuStats, NATIVE_FORMAT, PmQosStatus, RunReport, Timestamp};
use crate::stats::{Accumulator, Stats};
use crate::sys;

/// Stack of a sampler thread: small, since `mlockall(MCL_FUTURE)` makes it resident (64 KiB
/// is also libevl's minimum for EVL threads, `EVL_STACK_DEFAULT`).
const SAMPLER_STACK: usize = 64 * 1024;

/// Runs `plan` on `backend`: the steps in order; what a step holds is released in reverse
/// order when this returns, whether the run succeeded or not.
pub(super) fn execute<B: Backend>(
    plan: &Plan<'_>,
    backend: &B,
    stop: &StopToken,
    observer: &mut dyn Observer,
) -> Result<RunReport, Error> {
    let _main = pin_main_thread(plan)?;
    let _memory = lock_memory(plan)?;
    let (_pm_qos, pm_qos) = hold_pm_qos(plan);
    let held = Held {
        backend: backend.info(),
        pm_qos,
    };
    let shared = Shared::new(backend, plan, stop);
    let measured = measure(&shared, observer)?;
    into_report(&shared, measured, held)
}

/// What the steps before the measurement hold, for the report.
struct Held {
    backend: BackendInfo,
    pm_qos: PmQosStatus,
}

/// Restores the main thread's affinity when dropped.
struct MainAffinity(Option<Vec<usize>>);

impl Drop for MainAffinity {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take().filter(|p| !p.is_empty()) {
            let _ = sys::set_affinity_current(&previous);
        }
    }
}

/// Step 1: the calling thread (progress, joins) onto `main_affinity`, off the measured CPUs.
fn pin_main_thread(plan: &Plan<'_>) -> Result<MainAffinity, Error> {
    let Some(cpus) = &plan.config.main_affinity else {
        return Ok(MainAffinity(None));
    };
    let previous = sys::allowed_cpus();
    sys::set_affinity_current(cpus).map_err(|source| Error::MainAffinity {
        cpus: format_cpulist(cpus),
        source,
    })?;
    Ok(MainAffinity(Some(previous)))
}

/// `munlockall` when dropped, if the memory was locked.
struct LockedMemory(bool);

impl Drop for LockedMemory {
    fn drop(&mut self) {
        if self.0 {
            sys::munlockall();
        }
    }
}

/// Step 2: `mlockall(MCL_CURRENT | MCL_FUTURE)`, so that no sample waits for a page fault;
/// and, locked or not, the heap kept, so that no `free` sends the measured CPUs a TLB
/// shootdown (not undone: memory given back later, in the process's own work between
/// measurements, would still reach a measured CPU idling in this address space).
fn lock_memory(plan: &Plan<'_>) -> Result<LockedMemory, Error> {
    sys::keep_heap();
    if !plan.config.mlock {
        return Ok(LockedMemory(false));
    }
    sys::mlockall().map_err(|e| Error::Mlock {
        errno: errno_label(&e),
        rlimit: sys::rlimit_memlock_kib(),
    })?;
    Ok(LockedMemory(true))
}

/// Step 3: the PM QoS request, held (fd open) as long as the returned guard lives. Refused,
/// the run goes on and the status says why (its `error` also becomes a warning).
fn hold_pm_qos(plan: &Plan<'_>) -> (Option<sys::PmQos>, PmQosStatus) {
    let Some(v) = plan.config.pm_qos_us else {
        let status = PmQosStatus {
            requested_us: None,
            held: false,
            error: None,
        };
        return (None, status);
    };
    match sys::PmQos::hold(v) {
        Ok(guard) => {
            let status = PmQosStatus {
                requested_us: Some(v),
                held: true,
                error: None,
            };
            (Some(guard), status)
        }
        Err(e) => {
            let msg = format!(
                "PM QoS request of {v} µs not held: {}: {e} (run as root; without it \
                 idle states add exit latency)",
                sys::CPU_DMA_LATENCY
            );
            let status = PmQosStatus {
                requested_us: Some(v),
                held: false,
                error: Some(msg),
            };
            (None, status)
        }
    }
}

/// What step 4 leaves: every sampler's result, and when the gate opened.
struct Measured {
    joined: Vec<Joined>,
    start_clock: i64,
    start: Timestamp,
    started: Instant,
}

/// When the gate opened, on the three clocks the report uses.
struct Started {
    clock: i64,
    at: Timestamp,
    instant: Instant,
}

/// Step 4: start the samplers, wait until each is set up (the first failure abandons the run
/// before any sample), open the gate, show progress until all are done, join them.
fn measure<B: Backend>(
    shared: &Shared<'_, B>,
    observer: &mut dyn Observer,
) -> Result<Measured, Error> {
    thread::scope(|s| {
        let handles = spawn_samplers(s, shared)?;
        if let Err(e) = await_setup(shared) {
            abandon(shared, handles);
            return Err(e);
        }
        let started = open_gate(shared, observer);
        watch_progress(shared, observer, started.instant);
        Ok(Measured {
            joined: join_samplers(shared, handles),
            start_clock: started.clock,
            start: started.at,
            started: started.instant,
        })
    })
}

type Handles<'scope> = Vec<ScopedJoinHandle<'scope, Joined>>;

/// One named thread per planned sampler, with its storage allocated here (not on the hot
/// path). A failed spawn abandons the ones already started.
fn spawn_samplers<'scope, B: Backend>(
    s: &'scope Scope<'scope, '_>,
    shared: &'scope Shared<'_, B>,
) -> Result<Handles<'scope>, Error> {
    let config = shared.plan.config;
    let mut handles = Vec::with_capacity(shared.plan.threads());
    for &at in &shared.plan.samplers {
        let acc = Accumulator::new(
            config.histogram,
            config.outliers,
            config.overflow_log,
            at.thread,
            at.cpu,
        );
        let spawned = thread::Builder::new()
            .name(format!("sampler-{}", at.thread))
            .stack_size(SAMPLER_STACK)
            .spawn_scoped(s, move || sampler(shared, at, acc));
        match spawned {
            Ok(h) => handles.push(h),
            Err(source) => {
                abandon(shared, handles);
                return Err(Error::Spawn {
                    thread: at.thread,
                    source,
                });
            }
        }
    }
    Ok(handles)
}

/// Waits until every sampler is set up (or failed to be); the first failure, if any.
fn await_setup<B: Backend>(shared: &Shared<'_, B>) -> Result<(), Error> {
    while shared.ready.load(Ordering::Acquire) < shared.plan.threads() {
        thread::park_timeout(Duration::from_millis(20));
    }
    for slot in &shared.setup {
        let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
        match g.take() {
            Some(Err(e)) => return Err(e),
            tid => *g = tid,
        }
    }
    Ok(())
}

/// Lets the samplers through the gate without sampling, and waits for them.
fn abandon<B: Backend>(shared: &Shared<'_, B>, handles: Handles<'_>) {
    shared.abort.store(true, Ordering::Release);
    shared.gate.open();
    for h in handles {
        let _ = h.join();
    }
}

/// Sets the end time from the start (the plan's stop rule), tells the observer, opens the gate.
fn open_gate<B: Backend>(shared: &Shared<'_, B>, observer: &mut dyn Observer) -> Started {
    let clock = sys::clock_ns(libc::CLOCK_MONOTONIC);
    if shared.plan.stop.duration_ns.is_some() {
        let end = shared.plan.stop.end_at(clock);
        shared.end_at.store(end, Ordering::Relaxed);
    }
    let at = Timestamp::now();
    let instant = Instant::now();
    observer.on_start(
        shared.plan.threads(),
        shared.plan.config.expected_duration(),
    );
    shared.gate.open();
    Started { clock, at, instant }
}

/// Shows progress every observer tick (and once at the end) until every sampler is done;
/// checks the run's `until` every [`until::CHECK_EVERY`] meanwhile.
fn watch_progress<B: Backend>(
    shared: &Shared<'_, B>,
    observer: &mut dyn Observer,
    started: Instant,
) {
    let tick = observer.progress_interval().max(Duration::from_millis(1));
    let wake = match shared.plan.stop.until {
        Some(_) => tick.min(until::CHECK_EVERY),
        None => tick,
    };
    let mut snaps = Vec::with_capacity(shared.plan.threads());
    let mut last_tick = Instant::now();
    loop {
        let done = shared.lives.iter().all(|l| l.done.load(Ordering::Acquire));
        if !done {
            until::check_and_halt(shared);
        }
        if done || last_tick.elapsed() >= tick {
            show_progress(shared, observer, started, &mut snaps);
            last_tick = Instant::now();
        }
        if done {
            break;
        }
        let next_tick = tick.saturating_sub(last_tick.elapsed());
        thread::park_timeout(next_tick.min(wake));
    }
}

/// One progress report: every sampler's running values.
fn show_progress<B: Backend>(
    shared: &Shared<'_, B>,
    observer: &mut dyn Observer,
    started: Instant,
    snaps: &mut Vec<crate::observer::LiveStats>,
) {
    snaps.clear();
    snaps.extend(
        shared
            .lives
            .iter()
            .zip(&shared.plan.samplers)
            .map(|(l, at)| l.snapshot(at.thread, at.cpu)),
    );
    observer.on_progress(&Progress {
        elapsed: started.elapsed(),
        expected: shared.plan.config.expected_duration(),
        threads: snaps,
    });
}

/// Every sampler's result, a panic turned into [`Error::SamplerPanicked`].
fn join_samplers<B: Backend>(shared: &Shared<'_, B>, handles: Handles<'_>) -> Vec<Joined> {
    handles
        .into_iter()
        .zip(&shared.plan.samplers)
        .map(|(h, at)| {
            h.join().unwrap_or(Err(Error::SamplerPanicked {
                thread: at.thread,
                cpu: at.cpu,
            }))
        })
        .collect()
}

/// Step 5: the report of a measured run (the first sampler error, if any, fails it).
fn into_report<B: Backend>(
    shared: &Shared<'_, B>,
    measured: Measured,
    held: Held,
) -> Result<RunReport, Error> {
    let elapsed = measured.started.elapsed();
    let end = Timestamp::now();
    let config = shared.plan.config;
    let (cpus, ends) = per_cpu(shared, measured.joined, measured.start_clock)?;
    let parts: Vec<&Stats> = cpus.iter().map(|c| &c.stats).collect();
    let overall = Stats::merge(&parts, config.histogram, config.outliers);
    let missed: u64 = cpus.iter().map(|c| c.stats.missed_periods).sum();
    let mut warnings: Vec<String> = held.pm_qos.error.iter().cloned().collect();
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
        backend: held.backend,
        config: config.clone(),
        start: measured.start,
        end,
        elapsed_ns: elapsed.as_nanos() as u64,
        end_reason: until::end_reason(
            shared.stop.is_stopped(),
            shared.halted.get().copied(),
            &ends,
        ),
        mlocked: config.mlock,
        pm_qos: held.pm_qos,
        sysinfo: sys::SysInfo::read(),
        cpus,
        overall,
        warnings,
    })
}

/// Each sampler's statistics with its tid and NUMA node, and how each ended.
fn per_cpu<B: Backend>(
    shared: &Shared<'_, B>,
    joined: Vec<Joined>,
    start_clock: i64,
) -> Result<(Vec<CpuStats>, Vec<SamplerEnd>), Error> {
    let mut cpus = Vec::with_capacity(joined.len());
    let mut ends = Vec::with_capacity(joined.len());
    for (r, at) in joined.into_iter().zip(&shared.plan.samplers) {
        let (acc, how) = r?;
        cpus.push(CpuStats {
            thread: at.thread,
            cpu: at.cpu,
            tid: tid_of(&shared.setup[at.thread]),
            node: sys::numa_node_of(at.cpu),
            stats: acc.finish(start_clock),
        });
        ends.push(how);
    }
    Ok((cpus, ends))
}

fn tid_of(setup: &Mutex<Option<Result<i32, Error>>>) -> i32 {
    setup
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .and_then(Result::ok)
        .unwrap_or(0)
}
