//! Which kernel is running, and which real-time core it carries.

use crate::sysroot::{Sysroot, SysrootError};
use rros_board::Flavour;
use serde::Serialize;
use std::fmt;

/// The real-time core of the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RealtimeCore {
    /// Single kernel with `CONFIG_PREEMPT_RT`.
    PreemptRt,
    /// Dovetail + RROS (`/dev/rros/control`, class `rros`).
    Rros,
    /// Dovetail + EVL (`/sys/devices/virtual/evl/`).
    Evl,
    /// None of them: a stock kernel.
    None,
}

impl RealtimeCore {
    pub fn as_str(self) -> &'static str {
        match self {
            RealtimeCore::PreemptRt => "preempt-rt",
            RealtimeCore::Rros => "rros",
            RealtimeCore::Evl => "evl",
            RealtimeCore::None => "none",
        }
    }

    /// The core a profile flavour asks for.
    pub fn of_flavour(flavour: Flavour) -> Self {
        match flavour {
            Flavour::PreemptRt => RealtimeCore::PreemptRt,
            Flavour::Rros => RealtimeCore::Rros,
            Flavour::Evl => RealtimeCore::Evl,
        }
    }
}

impl fmt::Display for RealtimeCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What the audit found out about the running kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelInfo {
    /// `uname -r`, e.g. `6.12.43+deb13-rt-amd64`.
    pub release: String,
    /// The `/proc/version` line.
    pub version: String,
    pub realtime_core: RealtimeCore,
    /// Why `realtime_core` was concluded: the file that said so.
    pub realtime_evidence: String,
    /// `/proc/cmdline` as read.
    pub cmdline: String,
    /// Online CPUs (`/sys/devices/system/cpu/online`).
    pub online_cpus: String,
}

pub(crate) const RROS_DEV: &str = "dev/rros/control";
pub(crate) const RROS_SYSFS: &str = "sys/devices/virtual/rros/control";
pub(crate) const EVL_SYSFS: &str = "sys/devices/virtual/evl";
pub(crate) const EVL_CPUS: &str = "sys/devices/virtual/evl/control/cpus";
pub(crate) const REALTIME: &str = "sys/kernel/realtime";

pub(crate) fn read_kernel(root: &Sysroot) -> Result<KernelInfo, SysrootError> {
    let version = root.read("proc/version")?.trim().to_owned();
    let release = match root.read_opt("proc/sys/kernel/osrelease")? {
        Some(text) => text.trim().to_owned(),
        // "Linux version 6.1.0-rt ..." — the third word.
        None => version
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_owned(),
    };
    let cmdline = root.read("proc/cmdline")?.trim_end().to_owned();
    let online = root.read("sys/devices/system/cpu/online")?;
    let online_cpus = root
        .cpulist("sys/devices/system/cpu/online", &online)?
        .to_string();
    let (realtime_core, realtime_evidence) = detect_core(root, &version)?;
    Ok(KernelInfo {
        release,
        version,
        realtime_core,
        realtime_evidence,
        cmdline,
        online_cpus,
    })
}

/// RROS and EVL by their control device (RROS registers the device class `rros` with a
/// `control` device, node `/dev/rros/control`; EVL the class `evl`), PREEMPT_RT by
/// `/sys/kernel/realtime` = 1 or `PREEMPT_RT` in `/proc/version`.
fn detect_core(root: &Sysroot, version: &str) -> Result<(RealtimeCore, String), SysrootError> {
    for rel in [RROS_DEV, RROS_SYSFS] {
        if root.exists(rel) {
            return Ok((
                RealtimeCore::Rros,
                format!("{} exists", Sysroot::shown(rel)),
            ));
        }
    }
    if root.exists(EVL_SYSFS) {
        return Ok((
            RealtimeCore::Evl,
            format!("{} exists", Sysroot::shown(EVL_SYSFS)),
        ));
    }
    if let Some(text) = root.read_opt(REALTIME)?
        && text.trim() == "1"
    {
        return Ok((
            RealtimeCore::PreemptRt,
            format!("{} = 1", Sysroot::shown(REALTIME)),
        ));
    }
    if version.split_whitespace().any(|w| w == "PREEMPT_RT") {
        return Ok((
            RealtimeCore::PreemptRt,
            "/proc/version says PREEMPT_RT".to_owned(),
        ));
    }
    Ok((
        RealtimeCore::None,
        format!(
            "no {}, no {}, no {} = 1, no PREEMPT_RT in /proc/version",
            Sysroot::shown(RROS_DEV),
            Sysroot::shown(EVL_SYSFS),
            Sysroot::shown(REALTIME)
        ),
    ))
}

/// `(major, minor)` of a release string like `6.12.43+deb13-rt-amd64`.
pub(crate) fn major_minor(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_numbers() {
        assert_eq!(major_minor("6.12.43+deb13-rt-amd64"), Some((6, 12)));
        assert_eq!(major_minor("5.13.19-rros"), Some((5, 13)));
        assert_eq!(major_minor("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(major_minor("garbage"), None);
    }
}
