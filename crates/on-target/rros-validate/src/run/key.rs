//! The parts of the comparison key (`rros_contract::compare`) that the report cannot take
//! from elsewhere: the running kernel configuration's hash and the profile's hash. Both are
//! SHA-256 in lowercase hex, so two reports carry the same text for the same bytes whatever
//! wrote them; `sha256sum` gives the same value (`zcat /proc/config.gz | sha256sum`).

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// The most bytes hashed from a decompressed kernel configuration (real ones are about
/// 100–300 KiB): a corrupt or hostile file never makes the run read without end.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of the decompressed text of a gzip'd kernel configuration (`/proc/config.gz`);
/// `None` when it does not exist (`CONFIG_IKCONFIG_PROC` off), cannot be read, is not gzip,
/// or decompresses to more than [`MAX_CONFIG_BYTES`]: an unknown key field, never a guess.
pub fn kernel_config_sha256(path: &Path) -> Option<String> {
    // Never blocks on a FIFO, never reads a device: a regular file, bounded.
    let (file, _) = rros_files::open_regular(path, MAX_CONFIG_BYTES).ok()?;
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(file)
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut text)
        .ok()?;
    if text.is_empty() || text.len() as u64 > MAX_CONFIG_BYTES {
        return None;
    }
    Some(sha256_hex(&text))
}

/// SHA-256 of the profile file's bytes; `None` when it cannot be read, is not a regular
/// file (a FIFO would block the read, a device never end it) or is larger than a profile may
/// be (the run is then ERROR for the profile anyway).
pub fn profile_sha256(path: &Path) -> Option<String> {
    rros_files::read_regular(path, rros_board::file::MAX_PROFILE_BYTES)
        .ok()
        .map(|(bytes, _)| sha256_hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// The FIPS 180-2 test vector: SHA-256("abc").
    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// The config hash is of the decompressed text (what `zcat | sha256sum` prints), so two
    /// gzip encodings of one configuration give one key.
    #[test]
    fn kernel_config_hash_is_of_the_decompressed_text() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"CONFIG_SMP=y\nCONFIG_PREEMPT_RT=y\n";
        let mut paths = Vec::new();
        for (i, level) in [1, 9].into_iter().enumerate() {
            let path = dir.path().join(format!("config{i}.gz"));
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(&path).unwrap(),
                flate2::Compression::new(level),
            );
            gz.write_all(text).unwrap();
            gz.finish().unwrap();
            paths.push(path);
        }
        let want = Some(sha256_hex(text));
        assert_eq!(kernel_config_sha256(&paths[0]), want);
        assert_eq!(kernel_config_sha256(&paths[1]), want);
        // Missing, or not gzip: unknown.
        assert_eq!(kernel_config_sha256(&dir.path().join("absent.gz")), None);
        let plain = dir.path().join("plain");
        std::fs::write(&plain, text).unwrap();
        assert_eq!(kernel_config_sha256(&plain), None);
    }

    #[test]
    fn profile_hash_is_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("board.toml");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(profile_sha256(&path), Some(sha256_hex(b"abc")));
        assert_eq!(profile_sha256(&dir.path().join("absent.toml")), None);
        // A device or a FIFO is no profile: unknown at once, never a hang.
        assert_eq!(profile_sha256(Path::new("/dev/zero")), None);
        assert_eq!(kernel_config_sha256(Path::new("/dev/zero")), None);
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(profile_sha256(&fifo), None);
        assert_eq!(kernel_config_sha256(&fifo), None);
    }
}
