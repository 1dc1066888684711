//! The image's inputs, read from a checkout: what is checked before anything is built, and
//! which changes make the cache key change (and which do not).

use rros_vboard::build::{BuildRequest, ENABLED_UNITS, Inputs, UNITS_DIR};
use rros_vboard::sources::{Source, from_mirror};
use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

/// A scratch checkout: the profiles, the rendered tuning files and the units, copied.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    for rel in [
        "board",
        "meta-rros/recipes-core/rros-tuning/files/qemux86-64",
        UNITS_DIR,
    ] {
        let to = dir.path().join(rel);
        fs::create_dir_all(&to).unwrap();
        for entry in fs::read_dir(root.join(rel)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
            }
        }
    }
    dir
}

/// A file that passes for an x86-64 ELF executable (the header is all the build looks at).
fn fake_elf(path: &Path, tail: &[u8]) {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2; // 64-bit
    bytes[5] = 1; // little endian
    bytes[18] = 62; // EM_X86_64
    bytes.extend_from_slice(tail);
    fs::write(path, bytes).unwrap();
}

fn request(root: &Path, board: &str, bin: &Path) -> BuildRequest {
    BuildRequest {
        root: root.to_owned(),
        board: board.into(),
        cache_dir: root.join("cache"),
        sources: from_mirror("http://mirror.example/debian"),
        validate_bin: bin.to_owned(),
        rebuild: false,
        evl: None,
    }
}

#[test]
fn the_shipped_board_reads_clean() {
    let dir = scratch();
    let bin = dir.path().join("rros-validate");
    fake_elf(&bin, b"v1");
    let inputs = Inputs::read(&request(dir.path(), "qemux86-64", &bin)).unwrap();
    assert_eq!(inputs.board.name, "qemux86-64");
    assert_eq!(
        inputs.isolation_cmdline,
        rros_board::render::cmdline(&inputs.board)
    );
    assert!(
        inputs
            .isolation_cmdline
            .contains("isolcpus=managed_irq,domain,1")
    );
    for unit in ENABLED_UNITS {
        assert!(inputs.units.iter().any(|(n, _)| n == unit), "{unit}");
    }
    assert_eq!(
        inputs.profile_text,
        fs::read(repo_root().join("board/qemux86-64.toml")).unwrap(),
        "the profile goes in byte for byte"
    );
}

#[test]
fn the_key_follows_every_input_and_only_the_inputs() {
    let dir = scratch();
    let bin = dir.path().join("rros-validate");
    fake_elf(&bin, b"v1");
    let req = request(dir.path(), "qemux86-64", &bin);
    let a = Inputs::read(&req).unwrap();
    let again = Inputs::read(&req).unwrap();
    assert_eq!(a.image_hash(), again.image_hash(), "same inputs, same key");

    fake_elf(&bin, b"v2");
    let b = Inputs::read(&req).unwrap();
    assert_ne!(
        a.image_hash(),
        b.image_hash(),
        "a new rros-validate is a new image"
    );
    assert_eq!(a.base_hash(), b.base_hash(), "but not a new base");

    let unit = dir.path().join(UNITS_DIR).join("rros-validate.service");
    let mut text = fs::read_to_string(&unit).unwrap();
    text.push_str("\n# changed\n");
    fs::write(&unit, text).unwrap();
    let c = Inputs::read(&req).unwrap();
    assert_ne!(
        b.image_hash(),
        c.image_hash(),
        "a changed unit is a new image"
    );

    let mut other = req.clone();
    other.sources = vec![Source {
        uri: "http://other.example/debian".into(),
        suite: "bookworm".into(),
    }];
    let d = Inputs::read(&other).unwrap();
    assert_ne!(
        c.base_hash(),
        d.base_hash(),
        "another archive is another base"
    );
}

#[test]
fn boards_the_image_cannot_be_are_refused() {
    let dir = scratch();
    let bin = dir.path().join("rros-validate");
    fake_elf(&bin, b"");
    let err = Inputs::read(&request(dir.path(), "rpi4", &bin))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("only x86_64 preempt-rt and evl boards"),
        "{err}"
    );
    let err = Inputs::read(&request(dir.path(), "nope", &bin))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no board profile"), "{err}");
}

#[test]
fn a_stale_sysctl_file_is_refused_with_the_fix() {
    let dir = scratch();
    let bin = dir.path().join("rros-validate");
    fake_elf(&bin, b"");
    let sysctl = dir
        .path()
        .join("meta-rros/recipes-core/rros-tuning/files/qemux86-64/99-rros-isolation.conf");
    fs::write(&sysctl, "kernel.timer_migration = 1\n").unwrap();
    let err = Inputs::read(&request(dir.path(), "qemux86-64", &bin))
        .unwrap_err()
        .to_string();
    assert!(err.contains("rros board render"), "{err}");
}

#[test]
fn missing_units_or_binary_are_named() {
    let dir = scratch();
    let bin = dir.path().join("rros-validate");
    fake_elf(&bin, b"");
    fs::remove_file(dir.path().join(UNITS_DIR).join("rros-tune.service")).unwrap();
    let err = Inputs::read(&request(dir.path(), "qemux86-64", &bin))
        .unwrap_err()
        .to_string();
    assert!(err.contains("rros-tune.service is missing"), "{err}");

    let dir = scratch();
    let err = Inputs::read(&request(dir.path(), "qemux86-64", &dir.path().join("none")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate"
        ),
        "{err}"
    );

    let script = dir.path().join("script");
    fs::write(&script, "#!/bin/sh\n").unwrap();
    let err = Inputs::read(&request(dir.path(), "qemux86-64", &script))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an x86-64 ELF"), "{err}");
}

#[test]
fn no_archive_is_refused() {
    let dir = scratch();
    let bin = dir.path().join("rros-validate");
    fake_elf(&bin, b"");
    let mut req = request(dir.path(), "qemux86-64", &bin);
    req.sources.clear();
    let err = Inputs::read(&req).unwrap_err().to_string();
    assert!(err.contains("--mirror URL"), "{err}");
}
