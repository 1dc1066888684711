//! `scripts/capture-sysroot` copies exactly what the audit reads: re-capturing any fixture
//! gives the same tree back, byte for byte (so the script's file list and the fixtures agree).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn recapturing_a_fixture_reproduces_it() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/capture-sysroot");
    for name in [
        "dev-machine-not-isolated",
        "qemux86-64-isolated",
        "qemuarm64-rros",
        "nuc-evl",
    ] {
        let dest = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(&script)
            .arg("--from")
            .arg(common::fixture(name))
            .arg(dest.path())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (want, got) = (tree(&common::fixture(name)), tree(dest.path()));
        let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: not captured {missing:?}, unexpected {extra:?}"
        );
        for (rel, bytes) in &want {
            assert_eq!(&got[rel], bytes, "{name}: {rel} differs");
        }
    }
}

#[test]
fn capture_refuses_bad_usage() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/capture-sysroot");
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("dest");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--from")
        .arg(scratch.path().join("no-such-sysroot"))
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dest.exists());
}
