//! The output directory: one directory per run, written atomically, and `latest`.
//!
//! A run writes everything into `DIR/.<run-id>.tmp/`, fsyncs each file and the directory,
//! renames it to `DIR/<run-id>` and fsyncs `DIR`; only then is `latest` swapped (a new
//! symlink under a temporary name renamed over the old one), so a reader sees either the
//! old run or the new one, whole, and a run killed at any point leaves the previous `latest`
//! as it was. One run at a time holds `DIR/.lock` (flock), which also makes leftover
//! `.*.tmp` directories of killed runs safe to delete.
//!
//! rros-validate runs as root, so nothing here may be redirected by a planted link: `DIR`
//! must belong to the user running and be writable by nobody else, `.lock` is opened with
//! `O_NOFOLLOW`, run files are created exclusively in a directory this run just made, and
//! files written next to others' (the Prometheus export) go through an exclusive temporary
//! file with an unpredictable name (`tempfile`) renamed into place.

use anyhow::{Context, Result, bail};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The name of the symlink to the newest completed run.
pub const LATEST: &str = "latest";
const LOCK: &str = ".lock";

/// The output directory, locked for this process.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    _lock: File,
}

/// A run directory being written (`DIR/.<run-id>.tmp`).
#[derive(Debug)]
pub struct Staging {
    parent: PathBuf,
    tmp: PathBuf,
    run_id: String,
}

/// fsync a directory, so a rename or a new entry in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    rros_files::sync_dir(dir).with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// Writes `bytes` to `path` through `rros-files`' durable atomic writer (an exclusive
/// temporary file with an unpredictable name, mode 0644, fsync, rename, directory fsync): a
/// symlink planted in the directory cannot redirect the write, and a reader sees the old file
/// or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(rros_files::write_atomic(path, bytes, 0o644)?)
}

/// Why `dir` must not hold root's output, or `None` when it may: it must be owned by the
/// user running (`euid`) and writable by nobody else, or others could plant links in it.
pub fn dir_problem(dir: &Path, euid: u32, uid: u32, mode: u32) -> Option<String> {
    let d = dir.display();
    if uid != euid {
        return Some(format!(
            "the output directory {d} belongs to uid {uid}, not to the user running (uid {euid}), who could plant links in it; fix: chown {euid} {d} && chmod go-w {d}, or pass another --output-dir"
        ));
    }
    if mode & 0o022 != 0 {
        return Some(format!(
            "the output directory {d} is writable by others (mode {:04o}), who could plant links in it; fix: chmod go-w {d}, or pass another --output-dir",
            mode & 0o7777
        ));
    }
    None
}

/// Whether a directory name looks like a run id (`YYYYmmddTHHMMSSZ-…`).
pub fn is_run_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
}

impl Store {
    /// Creates `dir` if needed and takes its lock; fails if another run holds it.
    pub fn open(dir: &Path) -> Result<Store> {
        fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the output directory {}: create it or pass --output-dir",
                dir.display()
            )
        })?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve the output directory {}", dir.display()))?;
        let meta = fs::metadata(&dir)
            .with_context(|| format!("cannot inspect the output directory {}", dir.display()))?;
        {
            use std::os::unix::fs::MetadataExt;
            let euid = rustix::process::geteuid().as_raw();
            if let Some(problem) = dir_problem(&dir, euid, meta.uid(), meta.mode()) {
                bail!("{problem}");
            }
        }
        let lock_path = dir.join(LOCK);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| {
                if e.raw_os_error() == Some(libc::ELOOP) {
                    anyhow::anyhow!(
                        "{} is a symbolic link, which rros-validate never follows (it would write through it as root); remove it",
                        lock_path.display()
                    )
                } else {
                    anyhow::Error::new(e).context(format!(
                        "cannot write to the output directory {}: run as a user who may write there, or pass --output-dir",
                        dir.display()
                    ))
                }
            })?;
        let lock_meta = lock.metadata()?;
        if !lock_meta.is_file() {
            bail!("{} is not a regular file; remove it", lock_path.display());
        }
        // SAFETY: flock on a valid fd owned by `lock`.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = fs::read_to_string(&lock_path).unwrap_or_default();
            bail!(
                "another rros-validate run (pid {}) is using {}: wait for it to finish (two measurements at once would disturb each other)",
                holder.trim(),
                dir.display()
            );
        }
        lock.set_len(0).ok();
        let _ = writeln!(lock, "{}", std::process::id());
        Ok(Store { dir, _lock: lock })
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes `.*.tmp` directories left by killed runs (safe: we hold the lock).
    pub fn clean_stale(&self) -> Vec<String> {
        let mut removed = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return removed;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let stale_run = name.starts_with('.') && name.ends_with(".tmp") && e.path().is_dir();
            let stale_file = name.starts_with(".latest.tmp-") || name.contains(".prom.tmp-");
            if (stale_run && fs::remove_dir_all(e.path()).is_ok())
                || (stale_file && fs::remove_file(e.path()).is_ok())
            {
                removed.push(name);
            }
        }
        removed
    }

    /// Starts a run directory for `run_id` (made unique with `.2`, `.3`, … if taken).
    pub fn stage(&self, run_id: &str) -> Result<Staging> {
        let mut id = run_id.to_owned();
        let mut n = 1;
        while self.dir.join(&id).exists() || self.dir.join(format!(".{id}.tmp")).exists() {
            n += 1;
            id = format!("{run_id}.{n}");
        }
        let tmp = self.dir.join(format!(".{id}.tmp"));
        fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Staging {
            parent: self.dir.clone(),
            tmp,
            run_id: id,
        })
    }

    /// The run `latest` points to.
    pub fn latest(&self) -> Option<String> {
        latest_of(&self.dir)
    }

    /// Points `latest` at `run_id` atomically.
    pub fn swap_latest(&self, run_id: &str) -> Result<()> {
        let tmp = self.dir.join(format!(".latest.tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(run_id, &tmp)
            .with_context(|| format!("cannot create symlink {}", tmp.display()))?;
        let latest = self.dir.join(LATEST);
        if let Err(e) = fs::rename(&tmp, &latest) {
            let _ = fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("cannot replace {}", latest.display()));
        }
        sync_dir(&self.dir)
    }

    /// Deletes the oldest runs beyond the `keep` newest, never the one `latest` points to.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>> {
        let mut runs = self.runs()?;
        let latest = self.latest();
        let mut removed = Vec::new();
        let excess = runs.len().saturating_sub(keep.max(1));
        for name in runs.drain(..excess) {
            if Some(&name) == latest.as_ref() {
                continue;
            }
            fs::remove_dir_all(self.dir.join(&name)).with_context(|| {
                format!("cannot remove old run {}", self.dir.join(&name).display())
            })?;
            removed.push(name);
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Completed runs, oldest first.
    pub fn runs(&self) -> Result<Vec<String>> {
        list_runs(&self.dir)
    }
}

/// Completed runs in `dir`, oldest first (names sort by time).
pub fn list_runs(dir: &Path) -> Result<Vec<String>> {
    let mut runs: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_run_id(n))
        .collect();
    runs.sort();
    Ok(runs)
}

/// The run `DIR/latest` points to, if any.
pub fn latest_of(dir: &Path) -> Option<String> {
    let target = fs::read_link(dir.join(LATEST)).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// Finds a run directory: `None`/`latest` = the newest completed run, a run id in `dir`, or a
/// path to a run directory.
pub fn resolve_run(dir: &Path, run: Option<&str>) -> Result<PathBuf> {
    match run {
        None | Some(LATEST) => {
            let id = latest_of(dir).with_context(|| {
                format!(
                    "no completed run in {} (no `latest`): run `rros-validate run` first, or pass --output-dir",
                    dir.display()
                )
            })?;
            Ok(dir.join(id))
        }
        Some(r) => {
            let as_path = Path::new(r);
            if as_path.join("report.json").is_file() {
                return Ok(as_path.to_owned());
            }
            let in_dir = dir.join(r);
            if in_dir.join("report.json").is_file() {
                return Ok(in_dir);
            }
            let known = list_runs(dir).unwrap_or_default();
            bail!(
                "no run `{r}` in {}; runs there: {}",
                dir.display(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        }
    }
}

impl Staging {
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The final directory of this run.
    pub fn final_path(&self) -> PathBuf {
        self.parent.join(&self.run_id)
    }

    /// Writes one file of the run and fsyncs it.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.tmp.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Makes the run directory visible under its name (fsync, rename, fsync the parent).
    pub fn commit(self) -> Result<PathBuf> {
        // Files written by others into the staging directory (load logs) are synced too.
        if let Ok(entries) = fs::read_dir(&self.tmp) {
            for e in entries.flatten() {
                if let Ok(f) = File::open(e.path()) {
                    let _ = f.sync_all();
                }
            }
        }
        sync_dir(&self.tmp)?;
        let dest = self.final_path();
        fs::rename(&self.tmp, &dest).with_context(|| {
            format!("cannot rename {} to {}", self.tmp.display(), dest.display())
        })?;
        sync_dir(&self.parent)?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids() {
        assert!(is_run_id("20250101T120000Z-rpi4"));
        assert!(is_run_id("20250101T120000Z-rpi4.2"));
        assert!(!is_run_id("latest"));
        assert!(!is_run_id(".20250101T120000Z-rpi4.tmp"));
        assert!(!is_run_id("20250101T120000Z-"));
    }

    #[test]
    fn stage_commit_latest_prune() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(t.path()).unwrap();
        assert!(
            Store::open(t.path())
                .unwrap_err()
                .to_string()
                .contains("another rros-validate run")
        );
        let mut ids = Vec::new();
        for i in 0..4 {
            let s = store.stage(&format!("2025010{i}T000000Z-b")).unwrap();
            s.write("report.json", b"{}").unwrap();
            let id = s.run_id().to_owned();
            s.commit().unwrap();
            store.swap_latest(&id).unwrap();
            ids.push(id);
        }
        // Same id twice gets a suffix.
        let s = store.stage("20250103T000000Z-b").unwrap();
        assert_eq!(s.run_id(), "20250103T000000Z-b.2");
        drop(s); // killed: leaves a .tmp behind
        assert_eq!(
            store.clean_stale(),
            vec![".20250103T000000Z-b.2.tmp".to_string()]
        );
        assert_eq!(store.latest().as_deref(), Some("20250103T000000Z-b"));
        // Point latest at the oldest: pruning to 1 keeps it and the newest.
        store.swap_latest(&ids[0]).unwrap();
        let removed = store.prune(1).unwrap();
        assert_eq!(removed, vec![ids[1].clone(), ids[2].clone()]);
        assert_eq!(store.runs().unwrap(), vec![ids[0].clone(), ids[3].clone()]);
        assert_eq!(
            resolve_run(t.path(), None).unwrap(),
            store.dir().join(&ids[0])
        );
        assert!(
            resolve_run(t.path(), Some("nope"))
                .unwrap_err()
                .to_string()
                .contains(&ids[3])
        );
    }

    #[test]
    fn atomic_write_replaces() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.prom");
        write_atomic(&p, b"a").unwrap();
        write_atomic(&p, b"b").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"b");
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    }

    /// Issue #12 finding 12: the old temporary name `.x.prom.tmp-<pid>` was predictable and
    /// opened with `File::create`, so a planted symlink redirected root's write.
    #[test]
    fn prometheus_temp_file_never_follows_a_planted_symlink() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let p = t.path().join("x.prom");
        // Plant links at every name the old scheme could have used, and a few more.
        for pid in [std::process::id(), 1, 2, 12345] {
            std::os::unix::fs::symlink(&victim, t.path().join(format!(".x.prom.tmp-{pid}")))
                .unwrap();
        }
        write_atomic(&p, b"metrics").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&p).unwrap(), b"metrics");
        assert!(!fs::symlink_metadata(&p).unwrap().file_type().is_symlink());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644,
            "node_exporter must be able to read it"
        );
    }

    /// Issue #12 finding 11: `DIR/.lock` was opened following symlinks and truncated, so
    /// `ln -s /tmp/victim DIR/.lock` overwrote the victim with a PID.
    #[test]
    fn lock_file_symlink_is_refused_and_victim_untouched() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let out = t.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(".lock")).unwrap();
        let e = Store::open(&out).unwrap_err().to_string();
        assert!(
            e.contains(".lock is a symbolic link") && e.contains("remove it"),
            "{e}"
        );
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    /// Issue #12 finding 11: the output directory's owner and mode are checked.
    #[test]
    fn output_dir_writable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let e = Store::open(t.path()).unwrap_err().to_string();
        assert!(e.contains("writable by others (mode 0777)"), "{e}");
        assert!(e.contains("chmod go-w"), "{e}");
        assert!(!t.path().join(".lock").exists());
        let d = Path::new("/x");
        assert!(
            dir_problem(d, 0, 1000, 0o40755)
                .unwrap()
                .contains("belongs to uid 1000")
        );
        assert!(dir_problem(d, 0, 0, 0o41777).unwrap().contains("1777"));
        assert_eq!(dir_problem(d, 1000, 1000, 0o40700), None);
    }
}
