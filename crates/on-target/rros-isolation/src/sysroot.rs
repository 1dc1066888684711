//! Reading (and, for [`crate::apply`], writing) `/proc` and `/sys` under a root directory: `/`
//! on the target, a captured tree (`scripts/capture-sysroot`) in tests and bug reports.
//!
//! Paths are given relative to the root (`proc/cmdline`); messages meant for the board's user
//! show them as they are on the target (`/proc/cmdline`), errors show where the file really is.

use rros_board::CpuSet;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Could not read (or make sense of) a file the audit or the tuning needs.
#[derive(Debug, thiserror::Error)]
pub enum SysrootError {
    #[error("cannot read {}: {source}{}", path.display(), missing_hint(source))]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot list {}: {source}", path.display())]
    List { path: PathBuf, source: io::Error },
    #[error("{}: cannot parse {content:?}: {message}", path.display())]
    Parse {
        path: PathBuf,
        content: String,
        message: String,
    },
}

fn missing_hint(source: &io::Error) -> &'static str {
    if source.kind() == io::ErrorKind::NotFound {
        " (the audit needs it; a captured sysroot must hold what scripts/capture-sysroot copies)"
    } else {
        ""
    }
}

/// The error type of [`crate::audit`]: the binary maps it to exit code 2.
pub type AuditError = SysrootError;
/// The error type of [`crate::apply`].
pub type ApplyError = SysrootError;

/// What the audit takes from a system, in one place: `scripts/capture-sysroot` copies exactly
/// this (through `rros-validate audit --list-files`, which prints [`audit_file_list`]), and
/// the tests run every rule with the reader recording ([`crate::audit_recorded`]) to prove
/// nothing a rule reads is missing here. A new rule that reads a new file fails that test
/// until its file is listed, so a capture never falls behind the rules.
///
/// Patterns are relative to the root; a component may end in `[0-9]*` (a number: an IRQ, a
/// CPU, a C-state), which is also how bash globs it.
pub const AUDIT_FILES: &[Capture] = &[
    // Kernel identity and command line.
    Capture::File("proc/cmdline"),
    Capture::File("proc/version"),
    Capture::File("proc/sys/kernel/osrelease"),
    Capture::File("sys/kernel/realtime"),
    // Scheduler sysctls.
    Capture::File("proc/sys/kernel/timer_migration"),
    Capture::File("proc/sys/kernel/sched_rt_runtime_us"),
    Capture::File("proc/sys/kernel/sched_rt_period_us"),
    // IRQs.
    Capture::File("proc/interrupts"),
    Capture::File("proc/irq/default_smp_affinity"),
    Capture::File("proc/irq/[0-9]*/smp_affinity_list"),
    Capture::File("proc/irq/[0-9]*/effective_affinity_list"),
    Capture::File("sys/kernel/debug/irq/irqs/[0-9]*"),
    // CPUs.
    Capture::File("sys/devices/system/cpu/online"),
    Capture::File("sys/devices/system/cpu/possible"),
    Capture::File("sys/devices/system/cpu/present"),
    Capture::File("sys/devices/system/cpu/isolated"),
    Capture::File("sys/devices/system/cpu/nohz_full"),
    Capture::File("sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"),
    Capture::File("sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_available_governors"),
    Capture::File("sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list"),
    Capture::File("sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[0-9]*/name"),
    Capture::File("sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[0-9]*/latency"),
    Capture::File("sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[0-9]*/disable"),
    Capture::File("sys/kernel/debug/sched/fair_server/cpu[0-9]*/runtime"),
    // Unbound workqueues.
    Capture::File("sys/devices/virtual/workqueue/cpumask"),
    // Real-time core: EVL's and RROS's control devices.
    Capture::File("sys/devices/virtual/evl/control/cpus"),
    Capture::File("sys/devices/virtual/rros/control/dev"),
    Capture::Marker("dev/rros/control"),
    Capture::Marker("dev/evl/control"),
    // irqbalance: whether it runs, its banned-CPU settings.
    Capture::Process {
        name: "irqbalance",
        env_prefix: "IRQBALANCE_",
    },
    Capture::File("etc/default/irqbalance"),
    Capture::File("etc/sysconfig/irqbalance"),
];

/// One entry of [`AUDIT_FILES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// Every file matching the pattern, copied.
    File(&'static str),
    /// An empty file that only says the path exists (a device node).
    Marker(&'static str),
    /// Of each process whose `comm` is `name`: `proc/<pid>/comm`, and of `proc/<pid>/environ`
    /// only the variables starting with `env_prefix` (nothing else of any process is taken).
    Process {
        name: &'static str,
        env_prefix: &'static str,
    },
}

impl Capture {
    /// The path patterns this entry takes.
    pub fn patterns(&self) -> Vec<&'static str> {
        match self {
            Self::File(pattern) | Self::Marker(pattern) => vec![pattern],
            Self::Process { .. } => vec!["proc/[0-9]*/comm", "proc/[0-9]*/environ"],
        }
    }

    /// Whether a capture by this entry holds what `access` needs: the file read, or, for a
    /// directory listed or a path looked for, something inside it (or the path itself).
    pub fn covers(&self, access: &Access) -> bool {
        self.patterns().iter().any(|pattern| {
            let pattern: Vec<&str> = pattern.split('/').collect();
            let path: Vec<&str> = access.path().split('/').collect();
            let prefix = path.len() <= pattern.len()
                && path
                    .iter()
                    .zip(&pattern)
                    .all(|(p, g)| component_matches(g, p));
            match access {
                Access::Read(_) => prefix && path.len() == pattern.len(),
                Access::Exists(_) => prefix,
                Access::List(_) => prefix && path.len() < pattern.len(),
            }
        })
    }
}

/// One path component against one pattern component (`cpu[0-9]*`: `cpu` and a number).
fn component_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix("[0-9]*") {
        Some(prefix) => name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit())),
        None => pattern == name,
    }
}

/// [`AUDIT_FILES`] as `scripts/capture-sysroot` reads it (`rros-validate audit --list-files`):
/// one entry a line, `file PATTERN`, `marker PATH` or `process NAME ENV_PREFIX`.
pub fn audit_file_list() -> String {
    AUDIT_FILES
        .iter()
        .map(|capture| match capture {
            Capture::File(pattern) => format!("file {pattern}\n"),
            Capture::Marker(path) => format!("marker {path}\n"),
            Capture::Process { name, env_prefix } => format!("process {name} {env_prefix}\n"),
        })
        .collect()
}

/// A path the reader was asked for, relative to the root, as [`crate::audit_recorded`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// A file read (present or not).
    Read(String),
    /// A path looked for.
    Exists(String),
    /// A directory listed.
    List(String),
}

impl Access {
    pub fn path(&self) -> &str {
        match self {
            Self::Read(path) | Self::Exists(path) | Self::List(path) => path,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Sysroot {
    root: PathBuf,
    /// Every path asked for, when recording ([`Sysroot::recording`]).
    record: Option<Arc<Mutex<BTreeSet<Access>>>>,
}

impl Sysroot {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            record: None,
        }
    }

    /// A reader that records every path it is asked for into `record`.
    pub(crate) fn recording(root: &Path, record: Arc<Mutex<BTreeSet<Access>>>) -> Self {
        Self {
            root: root.to_owned(),
            record: Some(record),
        }
    }

    fn note(&self, access: impl FnOnce() -> Access) {
        if let Some(record) = &self.record {
            // A poisoned record only means another reader panicked: keep recording.
            record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(access());
        }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The path as it is on the target, for evidence and fixes.
    pub(crate) fn shown(rel: &str) -> String {
        format!("/{rel}")
    }

    /// A file the audit cannot do without.
    pub(crate) fn read(&self, rel: &str) -> Result<String, SysrootError> {
        self.note(|| Access::Read(rel.to_owned()));
        let path = self.path(rel);
        std::fs::read_to_string(&path).map_err(|source| SysrootError::Read { path, source })
    }

    /// A file that may be absent (no cpufreq in a VM, debugfs not mounted): `None` then; any
    /// other failure is an error.
    pub(crate) fn read_opt(&self, rel: &str) -> Result<Option<String>, SysrootError> {
        self.note(|| Access::Read(rel.to_owned()));
        let path = self.path(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SysrootError::Read { path, source }),
        }
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.note(|| Access::Exists(rel.to_owned()));
        self.path(rel).exists()
    }

    /// Names in a directory, `None` when it does not exist.
    pub(crate) fn list(&self, rel: &str) -> Result<Option<Vec<String>>, SysrootError> {
        self.note(|| Access::List(rel.to_owned()));
        let path = self.path(rel);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SysrootError::List { path, source }),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SysrootError::List {
                path: path.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(Some(names))
    }

    /// A directory that must exist.
    pub(crate) fn require_dir(&self, rel: &str) -> Result<(), SysrootError> {
        match self.list(rel)? {
            Some(_) => Ok(()),
            None => Err(SysrootError::Read {
                path: self.path(rel),
                source: io::Error::from(io::ErrorKind::NotFound),
            }),
        }
    }

    /// Numbered entries `<prefix><n>` of a directory (`cpu0`, `state1`, `42`), sorted by number.
    pub(crate) fn numbered(&self, rel: &str, prefix: &str) -> Result<Vec<u32>, SysrootError> {
        let mut numbers: Vec<u32> = self
            .list(rel)?
            .unwrap_or_default()
            .iter()
            .filter_map(|name| name.strip_prefix(prefix)?.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    pub(crate) fn parse_error(
        &self,
        rel: &str,
        content: &str,
        message: impl Into<String>,
    ) -> SysrootError {
        SysrootError::Parse {
            path: self.path(rel),
            content: content.trim_end().to_owned(),
            message: message.into(),
        }
    }

    /// A cpulist file (`0-1,3`); `(null)` (an unallocated mask, e.g. `nohz_full` when not
    /// configured) and blank are the empty set.
    pub(crate) fn cpulist(&self, rel: &str, text: &str) -> Result<CpuSet, SysrootError> {
        let trimmed = text.trim();
        if trimmed == "(null)" {
            return Ok(CpuSet::new());
        }
        CpuSet::parse(trimmed).map_err(|err| self.parse_error(rel, text, err.to_string()))
    }

    /// A hex CPU mask file (`3`, `00000000,0000000f`).
    pub(crate) fn hex_mask(&self, rel: &str, text: &str) -> Result<CpuSet, SysrootError> {
        crate::parse::parse_hex_mask(text).map_err(|message| self.parse_error(rel, text, message))
    }

    /// Writes `value` and a newline, as `echo value > file` does; never creates a file.
    pub(crate) fn write(&self, rel: &str, value: &str) -> io::Result<()> {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.path(rel))?;
        // One write(2), as the kernel's sysfs/procfs handlers want the whole value at once.
        file.write_all(format!("{value}\n").as_bytes())
    }
}
