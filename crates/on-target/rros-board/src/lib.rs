//! Board profiles for meta-rros, and the single owner of the CPU-isolation rules.
//!
//! A profile (`board/<name>.toml`) says which CPUs keep the system running, which are isolated
//! for real-time work and which belong to the dual kernel's out-of-band stage, plus tuning and
//! the acceptance scenarios with their latency budgets. From it this crate renders everything
//! the board needs at boot (kernel command line, sysctl.d, the BitBake include the Yocto layer
//! reads), and the on-target audit checks the live system against the same [`Board`].
//!
//! Nothing here measures or touches the running system: that is `cyclictest-rs` and
//! `rros-validate`. Everything that decides what a *correct* isolation is lives here.

pub mod cpulist;
pub mod file;
pub mod profile;
pub mod render;
pub mod rules;

pub use cpulist::{CpuListError, CpuSet};
pub use profile::{
    Arch, Claim, CmdlineDelivery, DEFAULT_MIN_SAMPLES, Flavour, Profile, SmtPolicy, Threshold,
    Tuning,
};
/// The claim statistics (the contract owns them), for the tools that show a board's claims.
pub use rros_contract::claim;
pub use rules::{
    Board, BoardScenario, Finding, INTERVAL_US_RANGE, MAX_CPU_COUNT, Severity, Validation,
    periods_in, shortest_duration, validate,
};

use std::path::{Path, PathBuf};

/// Errors reading a profile before any rule can run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read board profile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("refusing board profile {path}: {reason}")]
    Untrusted { path: PathBuf, reason: String },
    #[error("{path} is not a valid board profile: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} has {} error(s):\n{}", errors.len(), errors.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n"))]
    Invalid { path: PathBuf, errors: Vec<Finding> },
    #[error("cannot list board profiles in {path}: {source}")]
    ListDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Parses profile text. `origin` names the file in messages.
pub fn parse_profile(text: &str, origin: &Path) -> Result<Profile, LoadError> {
    toml::from_str(text).map_err(|err| LoadError::Parse {
        path: origin.to_owned(),
        // toml's message already quotes the line and points at the key or value.
        message: err.to_string().trim_end().to_owned(),
    })
}

/// Reads and validates a profile file of the board directory (`board/<name>.toml`): the
/// board, plus any warnings. The profile's `name` must match the file name.
pub fn load_board(path: &Path) -> Result<(Board, Vec<Finding>), LoadError> {
    into_board(path, check_file(path)?)
}

/// Reads and validates a profile installed under a fixed name, such as `/etc/rros/board.toml`
/// on a target: every rule applies except that the file name matches the profile's `name`.
///
/// This is the profile `rros-validate` runs loads from, as root: when the caller is root,
/// a profile (or its directory) that anyone but root can change is refused
/// ([`file::trust_problem`]).
pub fn load_installed_board(path: &Path) -> Result<(Board, Vec<Finding>), LoadError> {
    let (text, meta) = read_text(path)?;
    if let Some(reason) = file::check_trust(path, &meta) {
        return Err(LoadError::Untrusted {
            path: path.to_owned(),
            reason,
        });
    }
    into_board(path, validate(&parse_profile(&text, path)?, None))
}

/// Reads and validates a profile at any path for a read-only use (`rros-validate plan`): every
/// rule except that the file name matches the profile's `name`, and no trust check, because
/// nothing is run from it. `/etc/rros/board.toml` on a board and `board/<name>.toml` in a
/// checkout both load.
pub fn load_board_to_read(path: &Path) -> Result<(Board, Vec<Finding>), LoadError> {
    let (text, _) = read_text(path)?;
    into_board(path, validate(&parse_profile(&text, path)?, None))
}

fn into_board(path: &Path, validation: Validation) -> Result<(Board, Vec<Finding>), LoadError> {
    match validation.board {
        Some(board) => Ok((board, validation.findings)),
        None => Err(LoadError::Invalid {
            path: path.to_owned(),
            errors: validation
                .findings
                .into_iter()
                .filter(|f| f.severity == Severity::Error)
                .collect(),
        }),
    }
}

/// Reads a profile's text: regular files of at most [`file::MAX_PROFILE_BYTES`] only.
fn read_text(path: &Path) -> Result<(String, std::fs::Metadata), LoadError> {
    file::read_regular(path, file::MAX_PROFILE_BYTES).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_profile(path: &Path) -> Result<Profile, LoadError> {
    parse_profile(&read_text(path)?.0, path)
}

/// Reads a profile file and runs every rule over it.
pub fn check_file(path: &Path) -> Result<Validation, LoadError> {
    let profile = read_profile(path)?;
    let stem = path.file_stem().and_then(|s| s.to_str());
    Ok(validate(&profile, stem))
}

/// The profile files (`*.toml`) of a board directory, sorted by name.
pub fn profile_paths(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::ListDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| LoadError::ListDir {
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}
