//! Errors of the engine. Each message says what to do.

use std::io;

use crate::config::Policy;

/// Symbolic errno name (`EPERM`, …) of an I/O error, else its text.
pub(crate) fn errno_label(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => libevl::errno_name(n),
        None => e.to_string(),
    }
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `cpus` is empty.
    #[error("no CPU to measure: give at least one CPU (e.g. -a 1)")]
    NoCpus,
    /// A CPU number beyond the possible CPUs.
    #[error(
        "CPU {cpu} does not exist: this system's CPUs are {possible}; pick one of the online \
         CPUs ({online})"
    )]
    CpuOutOfRange {
        /// The requested CPU.
        cpu: usize,
        /// The possible CPUs as a cpulist.
        possible: String,
        /// The online CPUs as a cpulist.
        online: String,
    },
    /// A CPU that exists but is offline.
    #[error(
        "CPU {cpu} is offline (online: {online}): bring it online \
         (echo 1 > /sys/devices/system/cpu/cpu{cpu}/online) or pick an online CPU"
    )]
    CpuOffline {
        /// The requested CPU.
        cpu: usize,
        /// The online CPUs as a cpulist.
        online: String,
    },
    /// Priority outside the policy's range.
    #[error("priority {priority} is out of range for {policy}: use {min}-{max}")]
    InvalidPriority {
        /// The policy.
        policy: Policy,
        /// The requested priority.
        priority: i32,
        /// Lowest valid priority.
        min: i32,
        /// Highest valid priority.
        max: i32,
    },
    /// Interval out of range.
    #[error("interval of {0} ns is out of range: use 1 µs to 1 s")]
    InvalidInterval(u64),
    /// `loops == Some(0)`.
    #[error("loops must be at least 1 (leave it unset to run until stopped)")]
    InvalidLoops,
    /// Duration zero or longer than [`MAX_DURATION_NS`](crate::config::MAX_DURATION_NS).
    #[error(
        "duration of {0} ns is out of range: use 1 ns to 365 days (leave it unset to run until stopped)"
    )]
    InvalidDuration(u64),
    /// Bad histogram geometry.
    #[error("invalid histogram: {0}")]
    InvalidHistogram(String),
    /// Too many outliers/overflow indices requested.
    #[error("{0} kept outliers requested: use at most 100000 (overflow log: 1000000)")]
    InvalidOutliers(usize),
    /// Negative PM QoS value.
    #[error("PM QoS latency target {0} µs is negative: use 0 or more")]
    InvalidPmQos(i32),
    /// Empty main affinity.
    #[error("main-thread affinity is empty: give at least one housekeeping CPU")]
    InvalidMainAffinity,
    /// An `until` target of zero samples.
    #[error("until.samples is 0: a run that ends on its sample count needs a target of at least 1")]
    InvalidUntil,
    /// Not allowed to use the RT policy/priority.
    #[error(
        "{policy} priority {priority} refused ({errno}): run as root, or grant CAP_SYS_NICE \
         (e.g. setcap cap_sys_nice+ep on the binary), or raise RLIMIT_RTPRIO \
         (ulimit -r {priority}; it is {rlimit} now)"
    )]
    SchedPermission {
        /// The policy.
        policy: Policy,
        /// The priority.
        priority: i32,
        /// `EPERM` etc.
        errno: String,
        /// Current soft RLIMIT_RTPRIO.
        rlimit: String,
    },
    /// Other `sched_setscheduler` failures.
    #[error("setting {policy} priority {priority} on thread {thread} failed: {source}")]
    Sched {
        /// The policy.
        policy: Policy,
        /// The priority.
        priority: i32,
        /// Sampler index.
        thread: usize,
        /// OS error.
        source: io::Error,
    },
    /// `mlockall` failed.
    #[error(
        "mlockall(MCL_CURRENT|MCL_FUTURE) failed ({errno}): run as root, or grant CAP_IPC_LOCK, \
         or raise RLIMIT_MEMLOCK (ulimit -l unlimited; it is {rlimit} now); or measure without \
         locking memory (--no-mlockall, library: mlock = false)"
    )]
    Mlock {
        /// `EPERM` / `ENOMEM`.
        errno: String,
        /// Current soft RLIMIT_MEMLOCK.
        rlimit: String,
    },
    /// `sched_setaffinity` of a sampler failed.
    #[error(
        "pinning sampler thread {thread} to CPU {cpu} failed: {source}; a cgroup cpuset \
         (systemd AllowedCPUs=, a container) may exclude that CPU: run outside that restriction \
         or measure another CPU"
    )]
    Affinity {
        /// Sampler index.
        thread: usize,
        /// CPU.
        cpu: usize,
        /// OS error.
        source: io::Error,
    },
    /// `sched_setaffinity` of the main thread failed.
    #[error("pinning the main thread to CPUs {cpus} failed: {source}; check --mainaffinity")]
    MainAffinity {
        /// The cpulist.
        cpus: String,
        /// OS error.
        source: io::Error,
    },
    /// Thread creation failed.
    #[error("cannot start sampler thread {thread}: {source}")]
    Spawn {
        /// Sampler index.
        thread: usize,
        /// OS error.
        source: io::Error,
    },
    /// The timer backend failed while sampling.
    #[error(
        "{backend} sleep failed on sampler thread {thread} (CPU {cpu}) after {samples} samples: \
         {message}"
    )]
    Sleep {
        /// Backend name.
        backend: &'static str,
        /// Sampler index.
        thread: usize,
        /// CPU.
        cpu: usize,
        /// Samples taken before the failure.
        samples: u64,
        /// What failed.
        message: String,
    },
    /// libevl failed (evl backend).
    ///
    /// The libevl error is part of the message and deliberately not the error's `source()`:
    /// a reporter that prints the source chain would otherwise say it twice.
    #[error("evl backend on sampler thread {thread} (CPU {cpu}): {error}")]
    Evl {
        /// Sampler index.
        thread: usize,
        /// The CPU the sampler runs on.
        cpu: usize,
        /// The libevl error.
        error: libevl::Error,
    },
    /// The evl backend without the `evl` feature.
    #[error(
        "backend `evl` unavailable: this build has no libevl (rebuild cyclictest-rs with \
         `--features evl` against libevl), or use the posix backend"
    )]
    BackendUnavailable,
    /// A sampler thread panicked.
    #[error("sampler thread {thread} (CPU {cpu}) panicked: this is a bug in cyclictest-rs")]
    SamplerPanicked {
        /// Sampler index.
        thread: usize,
        /// CPU.
        cpu: usize,
    },
}
