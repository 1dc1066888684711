//! Reading a fragment or a Kconfig file without trusting the path: `std::fs::read` on
//! `/dev/zero` reads until memory runs out, and on a FIFO it blocks forever in `open`. Both are
//! refused here before anything is read, and a regular file is read only up to a cap.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Largest fragment read: a whole `.config` (allmodconfig) is about 300 KiB, a fragment a few
/// lines.
pub const MAX_FRAGMENT_BYTES: u64 = 4 << 20;
/// Largest single `Kconfig*` file read: the largest in the kernel (arch/x86/Kconfig) is under
/// 100 KiB.
pub const MAX_KCONFIG_FILE_BYTES: u64 = 4 << 20;
/// Largest total of all `Kconfig*` files of a tree: the RROS kernel's are about 6 MiB.
pub const MAX_KCONFIG_TREE_BYTES: u64 = 256 << 20;

/// Why a file was not read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// Not a regular file: what it is instead (`a FIFO`, `a character device`, ...).
    NotRegular(&'static str),
    /// Larger than the cap (bytes).
    TooLarge(u64),
}

/// Reads a regular file of at most `limit` bytes. Opens with `O_NONBLOCK` so a FIFO does not
/// block the open, then checks what the descriptor really is (no race with a path swap).
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        }));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge(limit));
    }
    // The size may change under us (a growing file): read one byte past the cap to tell.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_zero_is_refused_as_a_character_device() {
        let err = read_regular(Path::new("/dev/zero"), 16).unwrap_err();
        assert!(
            matches!(err, ReadError::NotRegular("a character device")),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_past_the_cap_is_refused_and_one_at_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [b'x'; 17]).unwrap();
        assert!(matches!(
            read_regular(&path, 16).unwrap_err(),
            ReadError::TooLarge(16)
        ));
        assert_eq!(read_regular(&path, 17).unwrap().len(), 17);
    }
}
