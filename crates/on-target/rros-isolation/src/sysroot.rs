//! Reading (and, for [`crate::apply`], writing) `/proc` and `/sys` under a root directory: `/`
//! on the target, a captured tree (`scripts/capture-sysroot`) in tests and bug reports.
//!
//! Paths are given relative to the root (`proc/cmdline`); messages meant for the board's user
//! show them as they are on the target (`/proc/cmdline`), errors show where the file really is.

use rros_board::CpuSet;
use std::io;
use std::path::{Path, PathBuf};

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

#[derive(Debug, Clone)]
pub(crate) struct Sysroot {
    root: PathBuf,
}

impl Sysroot {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
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
        let path = self.path(rel);
        std::fs::read_to_string(&path).map_err(|source| SysrootError::Read { path, source })
    }

    /// A file that may be absent (no cpufreq in a VM, debugfs not mounted): `None` then; any
    /// other failure is an error.
    pub(crate) fn read_opt(&self, rel: &str) -> Result<Option<String>, SysrootError> {
        let path = self.path(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SysrootError::Read { path, source }),
        }
    }

    pub(crate) fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    /// Names in a directory, `None` when it does not exist.
    pub(crate) fn list(&self, rel: &str) -> Result<Option<Vec<String>>, SysrootError> {
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
