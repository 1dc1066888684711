//! Reading a fragment or a Kconfig file without trusting the path: `std::fs::read` on
//! `/dev/zero` reads until memory runs out, and on a FIFO it blocks forever in `open`. Both are
//! refused here before anything is read, and a regular file is read only up to a cap.

use std::path::Path;

/// Largest fragment read: a whole `.config` (allmodconfig) is about 300 KiB, a fragment a few
/// lines.
pub const MAX_FRAGMENT_BYTES: u64 = 4 << 20;
/// Largest single `Kconfig*` file read: the largest in the kernel (arch/x86/Kconfig) is under
/// 100 KiB.
pub const MAX_KCONFIG_FILE_BYTES: u64 = 4 << 20;
/// Largest total of all `Kconfig*` files of a tree: the RROS kernel's are about 6 MiB.
pub const MAX_KCONFIG_TREE_BYTES: u64 = 256 << 20;

/// Why a file was not read: the one bounded reader's error.
pub(crate) use rros_files::ReadError;

/// Reads a regular file of at most `limit` bytes (`rros-files`: `O_NONBLOCK` so a FIFO does
/// not block the open, the descriptor checked, one byte past the cap read to catch growth).
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    rros_files::read_regular(path, limit).map(|(bytes, _)| bytes)
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
