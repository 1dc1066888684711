//! `rros flash` as a user runs it, writing to regular files: a verified copy succeeds, a
//! truncated image fails with exit 1, a missing image is refused, and replacing an existing file
//! without a terminal to confirm on needs `--yes`.

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;
use std::path::Path;

fn rros(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rros").unwrap();
    cmd.current_dir(dir).env_remove("RROS_ROOT");
    cmd
}

/// A small "image": 1 MiB of non-repeating bytes (no partition table; enough for a raw copy).
fn image_bytes() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Compresses `path` with the real gzip into `path.gz`; `None` when gzip is not installed.
fn gzip(path: &Path) -> Option<Vec<u8>> {
    let status = std::process::Command::new("gzip")
        .args(["-k", "-f"])
        .arg(path)
        .status()
        .ok()?;
    status
        .success()
        .then(|| fs::read(path.with_extension("wic.gz")).ok())
        .flatten()
}

#[test]
fn raw_and_compressed_copies_are_written_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let data = image_bytes();
    fs::write(dir.path().join("board.wic"), &data).unwrap();
    rros(dir.path())
        .args(["flash", "board.wic", "copy.img", "--yes"])
        .assert()
        .code(0);
    assert_eq!(fs::read(dir.path().join("copy.img")).unwrap(), data);

    let Some(compressed) = gzip(&dir.path().join("board.wic")) else {
        eprintln!("notice: gzip not installed; compressed copy not tested");
        return;
    };
    rros(dir.path())
        .args(["flash", "board.wic.gz", "copy2.img", "--yes"])
        .assert()
        .code(0);
    assert_eq!(fs::read(dir.path().join("copy2.img")).unwrap(), data);

    // A truncated stream is an error, never a success.
    fs::write(
        dir.path().join("cut.wic.gz"),
        &compressed[..compressed.len() / 2],
    )
    .unwrap();
    rros(dir.path())
        .args(["flash", "cut.wic.gz", "copy3.img", "--yes"])
        .assert()
        .code(1)
        .stderr(predicate::str::is_empty().not());
}

#[test]
fn missing_image_and_no_confirmation_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    rros(dir.path())
        .args(["flash", "nothing.wic", "copy.img", "--yes"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing.wic"));
    assert!(
        !dir.path().join("copy.img").exists(),
        "nothing may be written"
    );

    fs::write(dir.path().join("board.wic"), image_bytes()).unwrap();
    // Replacing an existing file with no terminal to confirm on and no --yes: refuse, keep it.
    fs::write(dir.path().join("copy.img"), b"precious").unwrap();
    rros(dir.path())
        .args(["flash", "board.wic", "copy.img"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(fs::read(dir.path().join("copy.img")).unwrap(), b"precious");
}

/// Issue #12, finding 17: a stream cut mid-way fails (exit 1) and the existing copy it was to
/// replace keeps its contents; the message says so.
#[test]
fn flash_of_a_cut_stream_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("board.wic"), image_bytes()).unwrap();
    let Some(compressed) = gzip(&dir.path().join("board.wic")) else {
        eprintln!("notice: gzip not installed; cut stream not tested");
        return;
    };
    fs::write(
        dir.path().join("cut.wic.gz"),
        &compressed[..compressed.len() / 2],
    )
    .unwrap();
    fs::write(dir.path().join("copy.img"), b"precious").unwrap();
    rros(dir.path())
        .args(["flash", "cut.wic.gz", "copy.img", "--yes"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the gzip stream is corrupt or truncated",
        ))
        .stderr(predicate::str::contains(
            "copy.img was left as it was: the copy went to a temporary file beside it, now removed",
        ));
    assert_eq!(fs::read(dir.path().join("copy.img")).unwrap(), b"precious");
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("rros-flash")),
        "temporary file left: {names:?}"
    );
}

/// Issue #12, finding 17: a FIFO as the image is refused at once (exit 2), saying why.
#[test]
fn flash_refuses_a_fifo_as_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("stream.wic"))
        .status()
        .unwrap();
    assert!(status.success());
    rros(dir.path())
        .args(["flash", "stream.wic", "copy.img", "--yes"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "stream.wic: it is a FIFO (named pipe), not a regular file",
        ))
        .stderr(predicate::str::contains("save it to a file first"));
    assert!(!dir.path().join("copy.img").exists());
}
