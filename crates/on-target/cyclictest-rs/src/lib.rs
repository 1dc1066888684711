//! `cyclictest` — the meta-rros timer-latency measurement engine.
//!
//! One sampler thread per measured CPU, pinned and scheduled (SCHED_FIFO by default), sleeps
//! to absolute deadlines on a fixed period and records `latency = wake time − programmed
//! expiry` in ns. Backends: [`BackendKind::Posix`] (`clock_nanosleep`) and
//! [`BackendKind::Evl`] (libevl on RROS/EVL; cargo feature `evl`).
//!
//! The API is what a consumer (the `cyclictest-rs` binary, `rros-validate`, `rros-board`'s
//! profile checks) needs, and no more:
//!
//! - **configure**: [`RunConfig`] with its [`BackendKind`] (the backend selection), [`Policy`]
//!   and [`HistogramSpec`]; the bounds every caller checks against ([`MIN_INTERVAL_NS`],
//!   [`MAX_INTERVAL_NS`], [`MAX_DURATION`], [`MAX_BUCKETS`]);
//! - **run**: [`run`] (and [`check_cpus`] to refuse bad CPUs before it), watched through an
//!   [`Observer`] and ended early by a [`StopToken`]; failures are one [`Error`];
//! - **results**: [`RunReport`] with per-CPU [`Stats`], its [`Histogram`] and [`Percentiles`],
//!   and [`Stats::of_series`] to put a recorded series through the same arithmetic;
//! - **rt-tests formats**: [`write_rt_tests_json`], [`summary_line`], [`write_text_histogram`];
//! - **the system around a run**: [`SysInfo`], [`allowed_cpus`], [`online_cpus`],
//!   [`set_affinity_current`] (to keep the caller's own thread off the measured CPUs), and
//!   the cpulist syntax ([`parse_cpulist`], [`format_cpulist`]).
//!
//! The backends, the sampler loop and the syscall wrappers are private.
//!
//! ```no_run
//! use cyclictest::{run, write_rt_tests_json, CompatOptions, RunConfig, StopToken};
//!
//! let cfg = RunConfig {
//!     cpus: vec![2, 3],
//!     priority: 90,
//!     interval_ns: 200_000,
//!     loops: Some(100_000),
//!     ..RunConfig::default()
//! };
//! let stop = StopToken::new(); // clone it to another thread to end the run early
//! let report = run(&cfg, &stop, &mut ())?;
//! for c in &report.cpus {
//!     println!("cpu {}: max {:?} ns, p99 {:?} ns, missed {}", c.cpu, c.stats.max_ns,
//!              c.stats.percentiles.p99_ns, c.stats.missed_periods);
//! }
//! report.write_native_json(std::fs::File::create("report.json")?)?;
//! let opts = CompatOptions { cmdline: "rros-validate".into(), nsecs: false, histogram: true, return_code: 0 };
//! write_rt_tests_json(&report, &opts, std::fs::File::create("rt-tests.json")?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Everything below is private: the API is the re-exports that follow, and nothing else
// (`sys` was public once and rros-validate reached into it; issue #15). The lint keeps a `pub`
// inside a module from pretending to be API.
#![deny(unreachable_pub)]

mod backend;
mod config;
mod cpuset;
mod engine;
mod error;
mod histogram;
mod observer;
mod report;
mod rt_tests;
mod stats;
mod sys;

// Configure a run, and the engine's bounds that a profile is checked against.
pub use config::{
    BackendKind, HistogramSpec, MAX_BUCKETS, MAX_DURATION, MAX_DURATION_NS, MAX_INTERVAL_NS,
    MIN_INTERVAL_NS, Policy, RunConfig, Until,
};
// Run it, watch it, stop it.
pub use engine::{check_cpus, run};
pub use error::Error;
pub use observer::{FnObserver, LiveStats, Observer, Progress, StopToken};
// What it measured.
pub use backend::BackendInfo;
pub use histogram::{Histogram, Ppm};
pub use report::{CpuStats, EndReason, NATIVE_FORMAT, PmQosStatus, RunReport, Timestamp};
pub use stats::{Outlier, Percentiles, Stats};
// rt-tests' output formats.
pub use rt_tests::{CompatOptions, summary_line, write_rt_tests_json, write_text_histogram};
// The system facts a caller needs around a run: the CPUs it may use, pinning its own thread
// off the measured CPUs, and the kernel it runs on.
pub use cpuset::{format_cpulist, parse_cpulist};
pub use sys::{SysInfo, allowed_cpus, keep_heap, online_cpus, set_affinity_current};
