//! Which real-time core the running kernel carries: RROS, EVL, PREEMPT_RT, or none.
//!
//! **Why a crate of its own.** Three crates asked this question, each its own way: libevl-rs
//! looked for the control device (`/dev/rros/control`, `/dev/evl/control`), rros-isolation for
//! the device or its sysfs class and for PREEMPT_RT, and cyclictest-rs read `/sys/kernel/realtime`
//! alone. They could disagree about one board. The owner has to sit below all of them:
//! libevl-rs is the lowest of the three, but its job is the libevl FFI (linked under a feature,
//! with a build script), and PREEMPT_RT has nothing to do with libevl. This crate has no
//! dependency but serde, so any on-target crate can use it without a cycle, and the answer
//! is one typed [`Detection`].
//!
//! **What is read**, under a root directory (`/` on the board; a captured sysroot or a
//! temporary tree in tests), first match wins:
//!
//! | core | evidence |
//! |---|---|
//! | [`RealtimeCore::Rros`] | `/dev/rros/control` or `/sys/devices/virtual/rros/control` (RROS registers the device class `rros` with a `control` device) |
//! | [`RealtimeCore::Evl`] | `/dev/evl/control` or `/sys/devices/virtual/evl` (EVL's class `evl`) |
//! | [`RealtimeCore::PreemptRt`] | `/sys/kernel/realtime` reads `1` (`kernel/ksysfs.c`, `CONFIG_PREEMPT_RT`), or the word `PREEMPT_RT` in `/proc/version` (`scripts/mkcompile_h` puts it in `UTS_VERSION`) |
//! | [`RealtimeCore::None`] | none of these |
//!
//! The dual kernels come first: a Dovetail kernel is never PREEMPT_RT, and its core is what
//! the measurement must attach to. [`PROBED_FILES`] lists every path read, for tools that
//! capture a sysroot. Callers that record what they read (rros-isolation's `Sysroot`) go
//! through their own reader by implementing [`SysFiles`].
//!
//! ```no_run
//! let found = rros_rtcore::detect()?;
//! println!("{} ({})", found.core, found.evidence);
//! # Ok::<(), std::io::Error>(())
//! ```

use serde::Serialize;
use std::fmt;
use std::io;
use std::path::Path;

/// RROS' control device node.
pub const RROS_DEV: &str = "dev/rros/control";
/// RROS' control device in sysfs (present even without devtmpfs).
pub const RROS_SYSFS: &str = "sys/devices/virtual/rros/control";
/// EVL's control device node.
pub const EVL_DEV: &str = "dev/evl/control";
/// EVL's device class in sysfs.
pub const EVL_SYSFS: &str = "sys/devices/virtual/evl";
/// `1` on a PREEMPT_RT kernel.
pub const SYS_KERNEL_REALTIME: &str = "sys/kernel/realtime";
/// The kernel's version line (`PREEMPT_RT` among its build flags).
pub const PROC_VERSION: &str = "proc/version";

/// Every path the detection reads or tests, relative to the root, in the order it does.
pub const PROBED_FILES: [&str; 6] = [
    RROS_DEV,
    RROS_SYSFS,
    EVL_DEV,
    EVL_SYSFS,
    SYS_KERNEL_REALTIME,
    PROC_VERSION,
];

/// The real-time core of the running kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RealtimeCore {
    /// Single kernel with `CONFIG_PREEMPT_RT`.
    PreemptRt,
    /// Dovetail + RROS.
    Rros,
    /// Dovetail + EVL (Xenomai 4).
    Evl,
    /// None of them: a stock kernel.
    None,
}

impl RealtimeCore {
    /// The name used in reports and profiles (`preempt-rt`, `rros`, `evl`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            RealtimeCore::PreemptRt => "preempt-rt",
            RealtimeCore::Rros => "rros",
            RealtimeCore::Evl => "evl",
            RealtimeCore::None => "none",
        }
    }

    /// RROS or EVL: a core that serves the libevl API, so the `evl` backend can attach to it.
    pub fn serves_libevl(self) -> bool {
        matches!(self, RealtimeCore::Rros | RealtimeCore::Evl)
    }
}

impl fmt::Display for RealtimeCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What made the detection conclude. `Display` is the sentence reports show, with paths as
/// they are on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// This path (one of [`PROBED_FILES`]) exists.
    Exists(&'static str),
    /// [`SYS_KERNEL_REALTIME`] reads `1`.
    SysKernelRealtime,
    /// [`PROC_VERSION`] has the word `PREEMPT_RT`.
    ProcVersion,
    /// Nothing was found.
    Nothing,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Exists(rel) => write!(f, "/{rel} exists"),
            Evidence::SysKernelRealtime => write!(f, "/{SYS_KERNEL_REALTIME} = 1"),
            Evidence::ProcVersion => write!(f, "/{PROC_VERSION} says PREEMPT_RT"),
            Evidence::Nothing => write!(
                f,
                "no /{RROS_DEV} or /{RROS_SYSFS}, no /{EVL_DEV} or /{EVL_SYSFS}, \
                 no /{SYS_KERNEL_REALTIME} = 1, no PREEMPT_RT in /{PROC_VERSION}"
            ),
        }
    }
}

/// The answer: which core, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    pub core: RealtimeCore,
    pub evidence: Evidence,
}

/// Read access to `/dev`, `/sys` and `/proc` under some root. Paths are relative to it
/// (`sys/kernel/realtime`). [`Path`] implements it for a plain directory.
pub trait SysFiles {
    type Error;
    /// Whether the path exists (a device node, a file or a directory).
    fn exists(&self, rel: &str) -> bool;
    /// The file's text; `Ok(None)` if it does not exist, an error for any other failure.
    fn read_opt(&self, rel: &str) -> Result<Option<String>, Self::Error>;
}

impl SysFiles for Path {
    type Error = io::Error;

    fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    fn read_opt(&self, rel: &str) -> Result<Option<String>, io::Error> {
        match std::fs::read_to_string(self.join(rel)) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io::Error::new(
                err.kind(),
                format!("cannot read {}: {err}", self.join(rel).display()),
            )),
        }
    }
}

/// The ABI a dual-kernel core serves, as its control device publishes it in sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreAbi {
    /// The ABI level (`EVL_ABI_LEVEL`) from the control device's `abi` attribute; `None` when
    /// the attribute is missing or holds no number.
    pub level: Option<u32>,
    /// The sysfs control folder it was read from, as on the target (`/sys/...`).
    pub sysfs: String,
}

impl RealtimeCore {
    /// The sysfs control folder of a dual-kernel core (RROS, EVL); `None` for the others.
    pub fn control_sysfs(self) -> Option<&'static str> {
        match self {
            RealtimeCore::Rros => Some(RROS_SYSFS),
            RealtimeCore::Evl => Some("sys/devices/virtual/evl/control"),
            RealtimeCore::PreemptRt | RealtimeCore::None => None,
        }
    }
}

/// The ABI `core` serves on the system under `root`: `None` for PREEMPT_RT and a plain kernel,
/// and when the core's control folder is absent (detected by its device node only).
pub fn abi_in(core: RealtimeCore, root: &Path) -> Option<CoreAbi> {
    let dir = core.control_sysfs()?;
    let path = root.join(dir);
    path.is_dir().then(|| CoreAbi {
        level: std::fs::read_to_string(path.join("abi"))
            .ok()
            .and_then(|t| t.trim().parse().ok()),
        sysfs: format!("/{dir}"),
    })
}

/// The core of the running system (root `/`).
pub fn detect() -> io::Result<Detection> {
    detect_in(Path::new("/"))
}

/// The core of the system whose `/dev`, `/sys` and `/proc` are under `root`.
pub fn detect_in(root: &Path) -> io::Result<Detection> {
    detect_with(root)
}

/// The detection through the caller's own reader (see [`SysFiles`]).
pub fn detect_with<F: SysFiles + ?Sized>(files: &F) -> Result<Detection, F::Error> {
    let found = |core, evidence| Ok(Detection { core, evidence });
    for (core, rel) in [
        (RealtimeCore::Rros, RROS_DEV),
        (RealtimeCore::Rros, RROS_SYSFS),
        (RealtimeCore::Evl, EVL_DEV),
        (RealtimeCore::Evl, EVL_SYSFS),
    ] {
        if files.exists(rel) {
            return found(core, Evidence::Exists(rel));
        }
    }
    if let Some(text) = files.read_opt(SYS_KERNEL_REALTIME)?
        && text.trim() == "1"
    {
        return found(RealtimeCore::PreemptRt, Evidence::SysKernelRealtime);
    }
    if let Some(version) = files.read_opt(PROC_VERSION)?
        && version.split_whitespace().any(|word| word == "PREEMPT_RT")
    {
        return found(RealtimeCore::PreemptRt, Evidence::ProcVersion);
    }
    found(RealtimeCore::None, Evidence::Nothing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// rros-isolation's captured and hand-written sysroots: one per core.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../rros-isolation/tests/fixtures")
            .join(name)
    }

    #[test]
    fn each_fixture_sysroot_has_its_core() {
        for (name, core, evidence) in [
            (
                "qemuarm64-rros",
                RealtimeCore::Rros,
                "/dev/rros/control exists",
            ),
            (
                "nuc-evl",
                RealtimeCore::Evl,
                "/sys/devices/virtual/evl exists",
            ),
            (
                "qemux86-64-isolated",
                RealtimeCore::PreemptRt,
                "/sys/kernel/realtime = 1",
            ),
            (
                "dev-machine-not-isolated",
                RealtimeCore::None,
                "no /dev/rros/control or /sys/devices/virtual/rros/control, no /dev/evl/control \
                 or /sys/devices/virtual/evl, no /sys/kernel/realtime = 1, no PREEMPT_RT in \
                 /proc/version",
            ),
        ] {
            let found = detect_in(&fixture(name)).unwrap();
            assert_eq!(found.core, core, "{name}");
            assert_eq!(found.evidence.to_string(), evidence, "{name}");
        }
    }

    /// A temporary root with the given files (empty text for a device node).
    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn core_of(files: &[(&str, &str)]) -> Detection {
        detect_in(root(files).path()).unwrap()
    }

    #[test]
    fn every_marker_alone() {
        let cases = [
            (RROS_DEV, "", RealtimeCore::Rros, Evidence::Exists(RROS_DEV)),
            (
                "sys/devices/virtual/rros/control/dev",
                "250:0\n",
                RealtimeCore::Rros,
                Evidence::Exists(RROS_SYSFS),
            ),
            (EVL_DEV, "", RealtimeCore::Evl, Evidence::Exists(EVL_DEV)),
            (
                "sys/devices/virtual/evl/control/cpus",
                "2-3\n",
                RealtimeCore::Evl,
                Evidence::Exists(EVL_SYSFS),
            ),
            (
                SYS_KERNEL_REALTIME,
                "1\n",
                RealtimeCore::PreemptRt,
                Evidence::SysKernelRealtime,
            ),
            (
                PROC_VERSION,
                "Linux version 6.12.43+deb13-rt-amd64 (debian-kernel@lists.debian.org) #1 SMP \
                 PREEMPT_RT Debian 6.12.43-1 (2025-08-27)\n",
                RealtimeCore::PreemptRt,
                Evidence::ProcVersion,
            ),
        ];
        for (rel, text, core, evidence) in cases {
            assert_eq!(
                core_of(&[(rel, text)]),
                Detection { core, evidence },
                "{rel}"
            );
        }
    }

    #[test]
    fn nothing_is_none() {
        let none = Detection {
            core: RealtimeCore::None,
            evidence: Evidence::Nothing,
        };
        assert_eq!(core_of(&[]), none);
        // Look-alikes are not markers.
        assert_eq!(
            core_of(&[
                (SYS_KERNEL_REALTIME, "0\n"),
                (
                    PROC_VERSION,
                    "Linux version 6.18.44 #1 SMP PREEMPT_DYNAMIC PREEMPT_RTX @0\n"
                ),
                ("dev/rros/other", ""),
                ("sys/devices/virtual/evlx/control", ""),
            ]),
            none
        );
    }

    #[test]
    fn the_dual_kernel_wins_over_preempt_rt_and_rros_over_evl() {
        let rt = [(SYS_KERNEL_REALTIME, "1\n")];
        let evl = [(EVL_DEV, "")];
        let rros = [(RROS_SYSFS, "")];
        assert_eq!(core_of(&[evl[0], rt[0]]).core, RealtimeCore::Evl);
        assert_eq!(core_of(&[rros[0], evl[0], rt[0]]).core, RealtimeCore::Rros);
        // The device node is named before its sysfs entry.
        let both = core_of(&[(RROS_DEV, ""), (RROS_SYSFS, "")]);
        assert_eq!(both.evidence, Evidence::Exists(RROS_DEV));
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        // A directory where a file should be: reading it fails with something else than
        // "not found", which must not pass for "not PREEMPT_RT".
        let dir = root(&[]);
        std::fs::create_dir_all(dir.path().join(SYS_KERNEL_REALTIME)).unwrap();
        let err = detect_in(dir.path()).unwrap_err();
        assert!(err.to_string().contains("sys/kernel/realtime"), "{err}");
    }

    #[test]
    fn names_and_libevl() {
        let all = [
            RealtimeCore::PreemptRt,
            RealtimeCore::Rros,
            RealtimeCore::Evl,
            RealtimeCore::None,
        ];
        let names: Vec<String> = all.iter().map(|c| format!("{c:>5}")).collect();
        assert_eq!(names, ["preempt-rt", " rros", "  evl", " none"]);
        let serves: Vec<bool> = all.iter().map(|c| c.serves_libevl()).collect();
        assert_eq!(serves, [false, true, true, false]);
    }

    /// A reader that records what it was asked, as rros-isolation's `Sysroot` does.
    #[test]
    fn detect_with_reads_only_the_probed_files() {
        struct Recording(std::cell::RefCell<Vec<String>>);
        impl SysFiles for Recording {
            type Error = std::convert::Infallible;
            fn exists(&self, rel: &str) -> bool {
                self.0.borrow_mut().push(rel.to_owned());
                false
            }
            fn read_opt(&self, rel: &str) -> Result<Option<String>, Self::Error> {
                self.0.borrow_mut().push(rel.to_owned());
                Ok(None)
            }
        }
        let files = Recording(Default::default());
        assert_eq!(detect_with(&files).unwrap().core, RealtimeCore::None);
        assert_eq!(files.0.into_inner(), PROBED_FILES);
    }

    #[test]
    fn the_abi_of_a_dual_kernel_core_is_read_from_its_control_folder() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(
            abi_in(RealtimeCore::Evl, r),
            None,
            "no control folder: no ABI"
        );
        assert_eq!(abi_in(RealtimeCore::PreemptRt, r), None);
        let evl = r.join("sys/devices/virtual/evl/control");
        std::fs::create_dir_all(&evl).unwrap();
        let none = CoreAbi {
            level: None,
            sysfs: "/sys/devices/virtual/evl/control".into(),
        };
        assert_eq!(abi_in(RealtimeCore::Evl, r), Some(none));
        std::fs::write(evl.join("abi"), "26\n").unwrap();
        assert_eq!(abi_in(RealtimeCore::Evl, r).unwrap().level, Some(26));
        std::fs::write(evl.join("abi"), "x\n").unwrap();
        assert_eq!(abi_in(RealtimeCore::Evl, r).unwrap().level, None);
        let rros = r.join("sys/devices/virtual/rros/control");
        std::fs::create_dir_all(&rros).unwrap();
        std::fs::write(rros.join("abi"), "1").unwrap();
        assert_eq!(abi_in(RealtimeCore::Rros, r).unwrap().level, Some(1));
        assert_eq!(abi_in(RealtimeCore::None, r), None);
    }
}
