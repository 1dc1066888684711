//! The board profile as written in `board/<name>.toml`.
//!
//! These types mirror the file one to one (`deny_unknown_fields` everywhere, so a misspelt key
//! is an error, not a silently ignored setting). CPU lists and durations stay text here: the
//! rules in [`crate::rules`] parse them, so one profile reports *all* its problems with the
//! field that holds each, instead of stopping at the first.

pub use rros_contract::Claim;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The profile format version this crate reads.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile format version; must be [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Short name; equals the file stem (`rpi4` for `board/rpi4.toml`).
    pub name: String,
    pub description: String,
    /// The Yocto `MACHINE` of the BSP layer.
    pub machine: String,
    pub arch: Arch,
    pub kernel: Kernel,
    pub cpus: Cpus,
    #[serde(default)]
    pub tuning: Tuning,
    /// What a PASS of every scenario must prove unless the scenario states its own `claim`
    /// (none: a PASS claims only that the budget was never exceeded).
    #[serde(default)]
    pub claim: Option<Claim>,
    /// Acceptance scenarios, run in order.
    #[serde(rename = "scenario", default)]
    pub scenarios: Vec<Scenario>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    Aarch64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub flavour: Flavour,
    pub cmdline_delivery: CmdlineDelivery,
}

/// Which real-time kernel the board runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// Dovetail + RROS (arm64 only upstream).
    Rros,
    /// Dovetail + EVL: the dual kernel where RROS has no port (x86-64); same libevl API.
    Evl,
    /// Single-kernel PREEMPT_RT: the baseline to compare the dual kernels with.
    PreemptRt,
}

impl Flavour {
    /// Dual kernels have an out-of-band stage and take an OOB CPU set.
    pub fn is_dual_kernel(self) -> bool {
        matches!(self, Flavour::Rros | Flavour::Evl)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Rros => "rros",
            Flavour::Evl => "evl",
            Flavour::PreemptRt => "preempt-rt",
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How the kernel command line reaches the kernel on this board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CmdlineDelivery {
    /// meta-raspberrypi's `rpi-cmdline` recipe (`cmdline.txt` from `CMDLINE`).
    RpiCmdline,
    /// U-Boot reading `extlinux.conf` (`UBOOT_EXTLINUX_KERNEL_ARGS`).
    UbootExtlinux,
    /// The wic kickstart's `bootloader --append=` (EFI boards).
    WksBootloader,
    /// runqemu's `QB_KERNEL_CMDLINE_APPEND` (and the virtual board's `-append`).
    Qemu,
}

impl CmdlineDelivery {
    pub fn as_str(self) -> &'static str {
        match self {
            CmdlineDelivery::RpiCmdline => "rpi-cmdline",
            CmdlineDelivery::UbootExtlinux => "uboot-extlinux",
            CmdlineDelivery::WksBootloader => "wks-bootloader",
            CmdlineDelivery::Qemu => "qemu",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpus {
    /// Number of CPUs the board has (all of them, online or not).
    pub count: u32,
    /// CPUs that keep the OS running: IRQs, kthreads, RCU callbacks, the load. Must hold CPU 0.
    pub housekeeping: String,
    /// CPUs taken away from the scheduler and the tick for the real-time work.
    pub isolated: String,
    /// Out-of-band CPUs of the dual kernel (a subset of `isolated`); empty for PREEMPT_RT.
    #[serde(default)]
    pub oob: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// cpufreq governor set on every CPU.
    pub governor: String,
    /// `kernel.timer_migration`: off keeps timers where they were armed (off the isolated CPUs).
    pub timer_migration: bool,
    /// RT throttling (`kernel.sched_rt_runtime_us` 950000); off (-1) lets a measuring thread run.
    pub rt_throttling: bool,
    /// PM QoS CPU latency (µs) held through `/dev/cpu_dma_latency` while measuring; none = as configured.
    pub pm_qos_us: Option<u32>,
    /// Full dynticks on the isolated CPUs (`nohz_full=`).
    pub nohz_full: bool,
    /// `vm.stat_interval` seconds (vmstat work on isolated CPUs).
    pub vm_stat_interval: u32,
    pub smt: SmtPolicy,
    /// More kernel parameters for this board (e.g. `tsc=reliable`), appended as they are.
    pub extra_cmdline: Vec<String>,
    /// Raspberry Pi `config.txt` lines (only with `cmdline_delivery = "rpi-cmdline"`).
    pub rpi_config: Vec<String>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            governor: "performance".into(),
            timer_migration: false,
            rt_throttling: false,
            pm_qos_us: Some(0),
            nohz_full: true,
            vm_stat_interval: 10,
            smt: SmtPolicy::None,
            extra_cmdline: Vec::new(),
            rpi_config: Vec::new(),
        }
    }
}

impl SmtPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtPolicy::None => "none",
            SmtPolicy::Off => "off",
            SmtPolicy::Keep => "keep",
        }
    }
}

/// What to do about simultaneous multithreading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SmtPolicy {
    /// The CPU has no SMT.
    None,
    /// Turn SMT off at boot (`nosmt`): a sibling thread shares the core's pipeline and caches.
    Off,
    /// Keep SMT; the audit then checks that siblings of isolated CPUs are isolated too.
    Keep,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Shell command of the background load (run on housekeeping CPUs); none = idle.
    #[serde(default)]
    pub load: Option<String>,
    /// How long to measure, e.g. `"60s"`, `"5m"`, `"24h"`.
    pub duration: String,
    /// Sampling period in µs (1 to 1 000 000: the engine's range).
    #[serde(default = "default_interval_us")]
    pub interval_us: u32,
    /// Fewest samples per measured CPU for the scenario to mean something (default
    /// [`DEFAULT_MIN_SAMPLES`]); a run that ends with fewer is ERROR, and `duration` must
    /// allow at least this many periods of `interval_us`.
    #[serde(default)]
    pub min_samples: Option<u64>,
    /// SCHED_FIFO priority of the sampling threads.
    #[serde(default = "default_priority")]
    pub priority: u32,
    pub threshold: Threshold,
    /// What a PASS must prove, e.g. `{ exceedance = 1e-6, confidence = 0.95 }` (default: the
    /// board's `[claim]`). Within budget but short of it, the scenario is INCONCLUSIVE.
    #[serde(default)]
    pub claim: Option<Claim>,
}

/// Fewest samples per measured CPU a scenario needs unless its `min_samples` says otherwise.
///
/// 1000 samples is the smallest run whose maximum says anything: the rule of three gives a
/// per-sample exceedance bound of 3/1000 at 95 % confidence, and a 99th percentile rests on
/// ten samples above it. It is 1 s at a 1 ms period, 0.2 s at 200 µs.
pub const DEFAULT_MIN_SAMPLES: u64 = 1000;

fn default_interval_us() -> u32 {
    200
}

fn default_priority() -> u32 {
    90
}

/// Latency budget of a scenario; any limit exceeded makes the scenario FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Worst-case wake-up latency allowed, µs.
    pub max_us: u32,
    /// 99th percentile allowed, µs (optional).
    #[serde(default)]
    pub p99_us: Option<u32>,
}
