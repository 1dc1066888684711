//! File safety, in one place: every tool of meta-rros reads operator-named paths (profiles,
//! Kconfig fragments, images) and writes results that must survive a crash.
//!
//! - **Reading** ([`open_regular`], [`read_regular`]): `std::fs::read` on `/dev/zero` reads
//!   until memory runs out, and `open` on a FIFO blocks forever waiting for a writer. Here the
//!   open is `O_NONBLOCK | O_NOCTTY`, what the *descriptor* is gets checked (no race with a
//!   path swapped in between), and a regular file is read only up to a cap, one byte past it
//!   to catch a file that grows while read.
//! - **Writing** ([`write_atomic`]): an exclusive temporary file with an unpredictable name
//!   beside the target (a planted symlink cannot redirect it), fsync, rename over the target,
//!   fsync the directory. A reader sees the old file or the new one, whole, and after the call
//!   returns the new one survives a power cut.
//!
//! Before this crate, rros-board, rros-kconfig and rros-flash each had their own reader and
//! three writers differed in durability (only one fsynced).

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a regular file: what it is instead ([`not_regular`]).
    NotRegular(&'static str),
    /// Larger than the cap (the cap, bytes).
    TooLarge(u64),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            ReadError::TooLarge(limit) => write!(f, "it is larger than the {limit}-byte limit"),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What a non-regular file is (`a FIFO (named pipe)`, `a character device`, ...); `None` for
/// a regular file.
pub fn not_regular(meta: &Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    if kind.is_file() {
        None
    } else if kind.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_dir() {
        Some("a directory")
    } else {
        Some("not a regular file")
    }
}

/// Opens for reading without blocking on a FIFO and without taking a controlling terminal
/// (no effect on a regular file's reads). Checks nothing: see [`open_regular`].
pub fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Opens `path` and checks the descriptor is a regular file of at most `limit` bytes.
pub fn open_regular(path: &Path, limit: u64) -> Result<(File, Metadata), ReadError> {
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(kind) = not_regular(&meta) {
        return Err(ReadError::NotRegular(kind));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok((file, meta))
}

/// Reads a regular file of at most `limit` bytes, with its metadata (module docs).
pub fn read_regular(path: &Path, limit: u64) -> Result<(Vec<u8>, Metadata), ReadError> {
    let (file, meta) = open_regular(path, limit)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok((bytes, meta))
}

/// fsync a directory, so a rename or a new entry in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Writes `bytes` to `path` durably and atomically (module docs), with `mode` (e.g. 0o644).
/// The error names what failed: creating the temporary file, writing it, renaming it or
/// syncing the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?
        .to_string_lossy();
    let context =
        |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(context(format!(
            "cannot create a temporary file in {}",
            dir.display()
        )))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(context(format!("cannot write {}", tmp.path().display())))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(context(format!(
            "cannot rename a temporary file to {}",
            path.display()
        )))?;
    sync_dir(dir).map_err(context(format!("cannot sync directory {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        match read_regular(Path::new("/dev/zero"), 10) {
            Err(ReadError::NotRegular(kind)) => assert_eq!(kind, "a character device"),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        match read_regular(&fifo, 10) {
            Err(ReadError::NotRegular(kind)) => assert_eq!(kind, "a FIFO (named pipe)"),
            other => panic!("{other:?}"),
        }
        match read_regular(dir.path(), 10) {
            Err(ReadError::NotRegular(kind)) => assert_eq!(kind, "a directory"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_cap_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap().0, b"12345");
        assert!(matches!(read_regular(&f, 4), Err(ReadError::TooLarge(4))));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("out.json");
        write_atomic(&f, b"one", 0o644).unwrap();
        write_atomic(&f, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
        // A planted symlink at the target is replaced, not followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomic(&link, b"new", 0o644).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
        assert!(write_atomic(&dir.path().join("no/such/dir/x"), b"", 0o644).is_err());
    }
}
