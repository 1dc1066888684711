//! The result of a run ([`RunReport`]) and its native JSON form.

use std::io::{self, Write};
use std::time::SystemTime;

use serde::Serialize;

use crate::backend::BackendInfo;
use crate::config::RunConfig;
use crate::stats::Stats;
use crate::sys::SysInfo;

/// Identifies the native JSON schema.
pub const NATIVE_FORMAT: &str = "cyclictest-rs/1";

/// A wall-clock instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timestamp {
    /// ns since the Unix epoch.
    pub unix_ns: u64,
    /// Local time as rt-tests writes it (`%a, %d %b %Y %T %z`).
    pub local: String,
}

impl Timestamp {
    /// Now.
    pub fn now() -> Timestamp {
        let d = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            unix_ns: d.as_nanos() as u64,
            local: crate::sys::format_rfc2822_local(d.as_secs() as i64),
        }
    }
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// Every sampler completed its loop count.
    Loops,
    /// The duration elapsed.
    Duration,
    /// The [`StopToken`](crate::StopToken) was set (e.g. SIGINT/SIGTERM).
    Stopped,
    /// [`Until::samples`](crate::Until::samples) were taken (every sampler with at least
    /// `per_cpu`) without a latency above [`Until::above_ns`](crate::Until::above_ns).
    Target,
    /// A latency above [`Until::above_ns`](crate::Until::above_ns) was seen.
    Exceeded,
}

/// What happened to the PM QoS request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PmQosStatus {
    /// Requested value (µs), `None` = not requested (system as configured).
    pub requested_us: Option<i32>,
    /// The request was held on `/dev/cpu_dma_latency` for the whole run.
    pub held: bool,
    /// Why it could not be held.
    pub error: Option<String>,
}

/// Statistics of one sampler thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuStats {
    /// Sampler thread index (cyclictest's `T:`).
    pub thread: usize,
    /// The CPU it was pinned to.
    pub cpu: usize,
    /// Its kernel thread id.
    pub tid: i32,
    /// NUMA node of the CPU.
    pub node: i32,
    /// Its statistics.
    pub stats: Stats,
}

/// Everything a run measured. Serializes to the native JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// [`NATIVE_FORMAT`].
    pub format: &'static str,
    /// `cyclictest-rs`.
    pub tool: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// Backend and clock.
    pub backend: BackendInfo,
    /// The configuration measured.
    pub config: RunConfig,
    /// When the samplers started.
    pub start: Timestamp,
    /// When the last sampler finished.
    pub end: Timestamp,
    /// Monotonic time from start to end, ns.
    pub elapsed_ns: u64,
    /// Why the run ended.
    pub end_reason: EndReason,
    /// Memory was locked (mlockall) during the run.
    pub mlocked: bool,
    /// PM QoS request status.
    pub pm_qos: PmQosStatus,
    /// The system measured.
    pub sysinfo: SysInfo,
    /// One entry per sampler thread.
    pub cpus: Vec<CpuStats>,
    /// All threads merged.
    pub overall: Stats,
    /// Things that did not stop the run but weaken what it proves.
    pub warnings: Vec<String>,
}

impl RunReport {
    /// Writes the native JSON report (pretty-printed, trailing newline).
    pub fn write_native_json<W: Write>(&self, mut w: W) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut w, self).map_err(io::Error::other)?;
        w.write_all(b"\n")
    }
}
