//! What can go wrong, each message naming the file, the place and what to do.

use crate::image::Compression;
use crate::target::Refusal;
use std::fmt;
use std::path::PathBuf;

/// Where a range checksum was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// While the image was read and written: the image (or its bmap) is corrupt.
    Write,
    /// Reading the device back after the write: the device did not keep what was written.
    ReadBack,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Write => "while writing",
            Stage::ReadBack => "reading back",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{}: the {format} stream is corrupt or truncated (after {offset} bytes of image): {source}",
        path.display()
    )]
    Decompress {
        path: PathBuf,
        format: Compression,
        offset: u64,
        source: std::io::Error,
    },

    #[error(
        "{}: the image ends after {got} bytes, but {expected} bytes were expected ({why}): the image is truncated, or the bmap belongs to another image",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        got: u64,
        expected: u64,
        why: &'static str,
    },

    #[error(
        "{}: the image is longer than the {expected} bytes its bmap {} gives: the bmap belongs to another image (use the .bmap made with this image, or --no-bmap)",
        path.display(), bmap.display()
    )]
    LongerThanBmap {
        path: PathBuf,
        bmap: PathBuf,
        expected: u64,
    },

    #[error("{}: {message}", bmap.display())]
    Bmap { bmap: PathBuf, message: String },

    #[error(
        "{}: the bmap file is corrupt: its own checksum is {actual}, it says {expected}; get the .bmap again (or pass --no-bmap)",
        bmap.display()
    )]
    BmapFileChecksum {
        bmap: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("{0}")]
    RangeChecksum(Box<RangeMismatch>),

    #[error(
        "{}: reading back {length} bytes gives sha256 {actual}, but {expected} was written: the device does not hold the image (failing card or reader)",
        device.display()
    )]
    ReadBackMismatch {
        device: PathBuf,
        length: u64,
        expected: String,
        actual: String,
    },

    #[error(
        "{}: the image changed while it was being flashed: sha256 {actual} now, {expected} when it was measured",
        path.display()
    )]
    ImageChanged {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("refusing to write {}:\n{}", device.display(), list(refusals))]
    Refused {
        device: PathBuf,
        refusals: Vec<Refusal>,
    },

    #[error(
        "{}: the image does not fit: the device holds {device_size} bytes and the image is longer; nothing after byte {device_size} was written: use a bigger card",
        device.display()
    )]
    DeviceFull { device: PathBuf, device_size: u64 },

    #[error("{}: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },

    #[error("{}: cannot check the kernel command line: {message}", path.display())]
    BootConfig { path: PathBuf, message: String },

    /// The write or its verification failed after the target was opened for writing; says
    /// what the target now holds.
    #[error("{cause}\n{}", left.describe(target))]
    Unfinished {
        target: PathBuf,
        left: Left,
        cause: Box<Error>,
    },
}

/// What a failed flash left on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Bytes of the image were written to the device before the failure.
    PartialImage,
    /// Nothing was written to the device.
    Untouched,
    /// A file target: the copy went to a temporary file beside it, now removed; the target
    /// keeps its old contents (or still does not exist).
    FileKept,
}

impl Left {
    fn describe(self, target: &std::path::Path) -> String {
        let target = target.display();
        match self {
            Left::PartialImage => format!(
                "{target} now holds a partial image: do not boot it; write it again with a good image"
            ),
            Left::Untouched => format!("nothing was written to {target}"),
            Left::FileKept => format!(
                "{target} was left as it was: the copy went to a temporary file beside it, now removed"
            ),
        }
    }
}

/// A mapped range whose SHA-256 is not the bmap's.
#[derive(Debug)]
pub struct RangeMismatch {
    pub stage: Stage,
    /// The image (stage Write) or the device (stage ReadBack).
    pub path: PathBuf,
    pub bmap: PathBuf,
    /// `first-last` block numbers as in the bmap.
    pub blocks: String,
    pub offset: u64,
    pub length: u64,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for RangeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: checksum mismatch {} blocks {} (bytes {}..{}): sha256 {}, the bmap {} says {}; {}",
            self.path.display(),
            self.stage,
            self.blocks,
            self.offset,
            self.offset + self.length,
            self.actual,
            self.bmap.display(),
            self.expected,
            match self.stage {
                Stage::Write => {
                    "the image or its bmap is corrupt"
                }
                Stage::ReadBack => {
                    "the device does not hold what was written: the card or the reader is failing"
                }
            }
        )
    }
}

fn list(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| format!("  - {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    /// The image, its bmap or the written device is bad (checksum, truncation, mismatch): the
    /// "checked thing is bad" class (exit 1), as opposed to "could not do it" (refusals, I/O,
    /// usage; exit 2).
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self.cause(),
            Error::Decompress { .. }
                | Error::Truncated { .. }
                | Error::LongerThanBmap { .. }
                | Error::Bmap { .. }
                | Error::BmapFileChecksum { .. }
                | Error::RangeChecksum { .. }
                | Error::ReadBackMismatch { .. }
                | Error::ImageChanged { .. }
        )
    }

    /// The error itself, or for [`Error::Unfinished`] what made the flash fail.
    pub fn cause(&self) -> &Error {
        match self {
            Error::Unfinished { cause, .. } => cause.cause(),
            other => other,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
