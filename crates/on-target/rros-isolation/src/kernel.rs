//! Which kernel is running, and which real-time core it carries.

use crate::sysroot::{Sysroot, SysrootError};
use rros_board::Flavour;
use serde::Serialize;

/// The real-time core of the running kernel: one type and one detection for every on-target
/// crate, owned by `rros-rtcore`.
pub use rros_rtcore::RealtimeCore;

/// The core a profile flavour asks for.
pub(crate) fn core_of_flavour(flavour: Flavour) -> RealtimeCore {
    match flavour {
        Flavour::PreemptRt => RealtimeCore::PreemptRt,
        Flavour::Rros => RealtimeCore::Rros,
        Flavour::Evl => RealtimeCore::Evl,
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

pub(crate) const EVL_CPUS: &str = "sys/devices/virtual/evl/control/cpus";

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
    let (realtime_core, realtime_evidence) = detect_core(root)?;
    Ok(KernelInfo {
        release,
        version,
        realtime_core,
        realtime_evidence,
        cmdline,
        online_cpus,
    })
}

/// `rros-rtcore`'s detection, read through the sysroot (so what it reads is the sysroot's).
fn detect_core(root: &Sysroot) -> Result<(RealtimeCore, String), SysrootError> {
    let found = rros_rtcore::detect_with(root)?;
    Ok((found.core, found.evidence.to_string()))
}

impl rros_rtcore::SysFiles for Sysroot {
    type Error = SysrootError;

    fn exists(&self, rel: &str) -> bool {
        Sysroot::exists(self, rel)
    }

    fn read_opt(&self, rel: &str) -> Result<Option<String>, SysrootError> {
        Sysroot::read_opt(self, rel)
    }
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
