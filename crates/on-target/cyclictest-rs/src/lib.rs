//! `cyclictest` — the meta-rros timer-latency measurement engine.
//!
//! One sampler thread per measured CPU, pinned and scheduled (SCHED_FIFO by default), sleeps
//! to absolute deadlines on a fixed period and records `latency = wake time − programmed
//! expiry` in ns. Backends: [`BackendKind::Posix`] (`clock_nanosleep`) and
//! [`BackendKind::Evl`] (libevl on RROS/EVL; cargo feature `evl`).
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

pub mod backend;
pub mod config;
pub mod cpuset;
pub mod engine;
pub mod error;
pub mod histogram;
pub mod observer;
pub mod report;
pub mod rt_tests;
pub mod stats;
pub mod sys;

pub use backend::{Backend, BackendInfo, SampleClock};
pub use config::{BackendKind, HistogramSpec, Policy, RunConfig};
pub use engine::{check_cpus, check_cpus_against, run};
pub use error::Error;
pub use histogram::Histogram;
pub use observer::{FnObserver, LiveStats, Observer, Progress, StopToken};
pub use report::{CpuStats, EndReason, PmQosStatus, RunReport, Timestamp};
pub use rt_tests::{CompatOptions, summary_line, write_rt_tests_json, write_text_histogram};
pub use stats::{Outlier, Percentiles, Stats};
