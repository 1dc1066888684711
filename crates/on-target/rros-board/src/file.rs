//! Reading a profile safely: regular files only, bounded in size, and (for root) trusted.
//!
//! Why this exists: a profile path is operator input. `/dev/zero` as a profile used to read
//! until memory ran out and a FIFO blocked forever, in `rros board check` and in
//! `rros-validate` alike, so both read through [`read_regular`]. And `rros-validate` runs a
//! profile's `load` commands as root: a profile that anyone but root can change is a way to
//! root, so [`trust_problem`] refuses it when the reader is root.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The largest profile accepted: 1 MiB. Real profiles are a few KiB.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// What kind of file `meta` describes, for messages.
pub fn kind_of(meta: &Metadata) -> &'static str {
    if meta.file_type().is_symlink() {
        return "a symbolic link";
    }
    rros_files::not_regular(meta).unwrap_or("a regular file")
}

/// The bounded reader's refusal as a profile reader says it.
fn profile_error(e: rros_files::ReadError, max: u64) -> io::Error {
    match e {
        rros_files::ReadError::Io(e) => e,
        rros_files::ReadError::NotRegular(kind) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {kind}, not a regular file; pass the profile file itself"),
        ),
        rros_files::ReadError::TooLarge(_) => io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is larger than the {max}-byte limit for a profile (real ones are a few KiB); is it the right file?"
            ),
        ),
    }
}

/// Opens `path` without blocking (a FIFO would otherwise wait for a writer) and checks it is a
/// regular file of at most `max` bytes (`rros-files`). Returns the open file and its metadata.
pub fn open_regular(path: &Path, max: u64) -> io::Result<(File, Metadata)> {
    rros_files::open_regular(path, max).map_err(|e| profile_error(e, max))
}

/// Reads a regular file of at most `max` bytes as UTF-8 text. Refuses FIFOs, devices and
/// directories without blocking, and never reads more than `max + 1` bytes (a file that grows
/// while it is read is refused too).
pub fn read_regular(path: &Path, max: u64) -> io::Result<(String, Metadata)> {
    let (bytes, meta) = rros_files::read_regular(path, max).map_err(|e| profile_error(e, max))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    Ok((text, meta))
}

/// Owner and mode of a file or directory, as far as trust goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub uid: u32,
    pub mode: u32,
}

impl From<&Metadata> for Ownership {
    fn from(m: &Metadata) -> Self {
        Ownership {
            uid: m.uid(),
            mode: m.mode(),
        }
    }
}

/// Why a profile must not be used by `euid`, or `None` when it may.
///
/// Only root is protected (`euid == 0`): root runs the profile's loads, so the file and the
/// directory holding it must be owned by root and writable by nobody else (a directory with
/// the sticky bit, like `/tmp`, cannot have a root-owned file replaced and is accepted).
pub fn trust_problem(
    euid: u32,
    path: &Path,
    file: Ownership,
    dir: Option<(&Path, Ownership)>,
) -> Option<String> {
    if euid != 0 {
        return None;
    }
    let p = path.display();
    if file.uid != 0 {
        return Some(format!(
            "it is owned by uid {} and rros-validate runs as root, running the profile's `load` commands as root: only root may own it; fix: chown root:root {p} && chmod go-w {p}",
            file.uid
        ));
    }
    if file.mode & 0o022 != 0 {
        return Some(format!(
            "it is writable by {} (mode {:04o}) and rros-validate runs the profile's `load` commands as root; fix: chmod go-w {p}",
            if file.mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            file.mode & 0o7777
        ));
    }
    if let Some((dir, d)) = dir {
        let sticky = d.mode & 0o1000 != 0;
        let dp = dir.display();
        if d.uid != 0 && !sticky {
            return Some(format!(
                "its directory {dp} is owned by uid {}, who can replace the profile that root runs loads from; fix: chown root:root {dp} && chmod go-w {dp}, or install the profile elsewhere (the image uses /etc/rros)",
                d.uid
            ));
        }
        if d.mode & 0o022 != 0 && !sticky {
            return Some(format!(
                "its directory {dp} is writable by others (mode {:04o}), who can replace the profile that root runs loads from; fix: chmod go-w {dp}",
                d.mode & 0o7777
            ));
        }
    }
    None
}

/// [`trust_problem`] for the file at `path` (already opened as `meta`) and the current user.
/// Both the directory named in `path` and the one really holding the file (when `path` is or
/// passes through a symlink) must be safe: either one's owner could swap the profile.
pub fn check_trust(path: &Path, meta: &Metadata) -> Option<String> {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        return None;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| absolute.clone());
    let mut dirs: Vec<&Path> = Vec::new();
    for d in [absolute.parent(), real.parent()].into_iter().flatten() {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    if dirs.is_empty() {
        return trust_problem(euid, path, Ownership::from(meta), None);
    }
    dirs.into_iter().find_map(|d| {
        let dir_meta = std::fs::metadata(d).ok()?;
        trust_problem(
            euid,
            path,
            Ownership::from(meta),
            Some((d, Ownership::from(&dir_meta))),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_FILE: Ownership = Ownership {
        uid: 0,
        mode: 0o100644,
    };
    const ROOT_DIR: Ownership = Ownership {
        uid: 0,
        mode: 0o40755,
    };

    #[test]
    fn profile_trust_refuses_files_others_can_change_when_root() {
        let p = Path::new("/etc/rros/board.toml");
        let d = Path::new("/etc/rros");
        assert_eq!(trust_problem(0, p, ROOT_FILE, Some((d, ROOT_DIR))), None);
        // Not root: nothing is run as root, nothing to protect.
        let nobody_666 = Ownership {
            uid: 65534,
            mode: 0o100666,
        };
        assert_eq!(trust_problem(1000, p, nobody_666, None), None);
        let m = trust_problem(0, p, nobody_666, Some((d, ROOT_DIR))).unwrap();
        assert!(m.contains("uid 65534"), "{m}");
        assert!(
            m.contains("chown root:root /etc/rros/board.toml && chmod go-w /etc/rros/board.toml"),
            "{m}"
        );
        let world = Ownership {
            uid: 0,
            mode: 0o100666,
        };
        let m = trust_problem(0, p, world, None).unwrap();
        assert!(m.contains("everyone") && m.contains("0666") && m.contains("chmod go-w"));
        let group = Ownership {
            uid: 0,
            mode: 0o100664,
        };
        assert!(trust_problem(0, p, group, None).unwrap().contains("group"));
        let open_dir = Ownership {
            uid: 0,
            mode: 0o40777,
        };
        assert!(
            trust_problem(0, p, ROOT_FILE, Some((d, open_dir)))
                .unwrap()
                .contains("directory /etc/rros")
        );
        let user_dir = Ownership {
            uid: 1000,
            mode: 0o40755,
        };
        assert!(
            trust_problem(0, p, ROOT_FILE, Some((d, user_dir)))
                .unwrap()
                .contains("uid 1000")
        );
        // /tmp: sticky, so a root-owned file in it cannot be replaced.
        let tmp = Ownership {
            uid: 0,
            mode: 0o41777,
        };
        assert_eq!(trust_problem(0, p, ROOT_FILE, Some((d, tmp))), None);
    }

    /// A symlink in a directory others may write is as unsafe as the file itself being
    /// writable: they could point it elsewhere. (Root only: the check protects root.)
    #[test]
    fn profile_trust_checks_the_directory_of_a_symlink_too() {
        use std::os::unix::fs::PermissionsExt;
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("skipped: the trust check applies to root only");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let file = real.join("board.toml");
        std::fs::write(&file, "x").unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(check_trust(&file, &meta), None);
        let open = t.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = open.join("board.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let m = check_trust(&link, &meta).unwrap();
        assert!(m.contains("writable by others (mode 0777)"), "{m}");
        // And the other way round: a safe link to a file in an open directory.
        let safe = t.path().join("safe");
        std::fs::create_dir(&safe).unwrap();
        let inside = open.join("real.toml");
        std::fs::write(&inside, "x").unwrap();
        std::os::unix::fs::symlink(&inside, safe.join("board.toml")).unwrap();
        let m = check_trust(
            &safe.join("board.toml"),
            &std::fs::metadata(&inside).unwrap(),
        );
        assert!(m.unwrap().contains("0777"));
    }

    #[test]
    fn profile_read_refuses_fifos_devices_and_huge_files() {
        let e = read_regular(Path::new("/dev/zero"), MAX_PROFILE_BYTES).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_regular(dir.path(), MAX_PROFILE_BYTES).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Must not block waiting for a writer.
        let e = read_regular(&fifo, MAX_PROFILE_BYTES).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; 2000]).unwrap();
        let e = read_regular(&big, 1000).unwrap_err();
        assert!(e.to_string().contains("1000-byte limit"), "{e}");
        assert_eq!(read_regular(&big, 2000).unwrap().0.len(), 2000);
        std::fs::write(&big, [0xff, 0xfe]).unwrap();
        assert!(
            read_regular(&big, 2000)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }
}
