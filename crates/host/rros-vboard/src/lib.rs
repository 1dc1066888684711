//! The virtual board: a development stand-in for the Yocto image of `qemux86-64`.
//!
//! [`build`] makes a bootable ext4 image from Debian 12 packages (the PREEMPT_RT kernel,
//! systemd, sshd, rt-tests, stress-ng) plus what this checkout installs on a real board — the
//! `rros-validate` binary, the board profile, the sysctl.d file and the systemd units, taken
//! from the same places the Yocto layer takes them. [`qemu`] boots it with the profile's
//! kernel command line and forwards SSH to 127.0.0.1; [`session`] runs the whole job: build
//! (cached), boot, acceptance through `rros-accept`, power off, timings. [`reuse`] decides
//! whether the boot-time validation's run may stand for the acceptance run, and [`summary`]
//! puts several boards' runs side by side (the A/B pair).
//!
//! It is not the product image: Debian's RT kernel stands in for `linux-yocto-rt`, and the
//! image is assembled on the host instead of by BitBake.

pub mod build;
pub mod evl;
pub mod qemu;
pub mod reuse;
pub mod session;
pub mod sources;
pub mod summary;

pub use build::{BuildRequest, Image, build};
pub use qemu::{Accel, BootOptions, Vm};
pub use session::{RunOutcome, RunRequest, run};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input from the checkout is missing or wrong.
    #[error("{0}")]
    Input(String),
    /// A program the build or the boot needs is missing or cannot run.
    #[error("{0}")]
    Tool(String),
    #[error("image build failed: {0}")]
    Build(String),
    #[error("boot failed: {0}")]
    Boot(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Receives progress; the library never prints.
pub trait Observer: Sync {
    /// A step begins ("building the base root filesystem").
    fn step(&self, text: &str);
    /// Something worth a line (a fallback, a finding).
    fn note(&self, text: &str);
    /// A line of a build tool's output.
    fn detail(&self, text: &str);
    /// An event of the acceptance run.
    fn accept(&self, board: &str, event: rros_accept::Event<'_>);
}

/// Throws everything away.
pub struct Silent;

impl Observer for Silent {
    fn step(&self, _: &str) {}
    fn note(&self, _: &str) {}
    fn detail(&self, _: &str) {}
    fn accept(&self, _: &str, _: rros_accept::Event<'_>) {}
}

/// The default cache folder: `$XDG_CACHE_HOME/rros/vboard`, else `~/.cache/rros/vboard`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("rros").join("vboard"))
}
