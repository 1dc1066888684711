//! `scripts/capture-sysroot` copies exactly what the audit reads. The list is
//! `rros_isolation::AUDIT_FILES` (the script reads it from `rros-validate audit --list-files`,
//! here from a file of `audit_file_list()`): every path any rule reads, on every fixture with
//! every board profile, is in it (the reader records them), and re-capturing any fixture with
//! it gives the same tree back, byte for byte.

mod common;

use rros_isolation::{AUDIT_FILES, Access, Capture, audit_file_list, audit_recorded};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURES: &[&str] = &[
    "dev-machine-not-isolated",
    "qemux86-64-isolated",
    "qemuarm64-rros",
    "nuc-evl",
];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/capture-sysroot")
}

/// Every shipped board profile.
fn boards() -> Vec<rros_board::Board> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../board");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 5,
        "board profiles in {}: {names:?}",
        dir.display()
    );
    names.iter().map(|n| common::board(n)).collect()
}

/// Every path the audit asks for: all boards on all fixtures, and on a fixture where
/// irqbalance runs with an environment and config files (no fixture has it).
fn recorded() -> BTreeSet<Access> {
    let irqbalance = common::Scratch::of("qemux86-64-isolated");
    irqbalance
        .write("proc/4242/comm", "irqbalance\n")
        .write(
            "proc/4242/environ",
            "IRQBALANCE_BANNED_CPULIST=1\0PATH=/bin\0",
        )
        .write("proc/77/comm", "sshd\n")
        .write("etc/default/irqbalance", "IRQBALANCE_BANNED_CPULIST=1\n");
    let mut roots: Vec<PathBuf> = FIXTURES.iter().map(|f| common::fixture(f)).collect();
    roots.push(irqbalance.root.clone());
    let mut all = BTreeSet::new();
    for board in boards() {
        for root in &roots {
            let (audit, accesses) = audit_recorded(&board, root);
            audit.unwrap_or_else(|err| panic!("{} on {}: {err}", board.name, root.display()));
            all.extend(accesses);
        }
    }
    all
}

fn uncovered<'a>(captures: &[Capture], accesses: &'a BTreeSet<Access>) -> Vec<&'a Access> {
    accesses
        .iter()
        .filter(|a| !captures.iter().any(|c| c.covers(a)))
        .collect()
}

#[test]
fn the_file_list_covers_every_path_the_rules_read() {
    let accesses = recorded();
    // The recording really saw the rules at work, not just the kernel identity.
    for path in [
        "proc/cmdline",
        "proc/interrupts",
        "sys/devices/system/cpu/isolated",
        "proc/4242/environ",
        "etc/default/irqbalance",
    ] {
        assert!(
            accesses.contains(&Access::Read(path.into())),
            "{path} was not read: {accesses:?}"
        );
    }
    assert!(accesses.iter().any(|a| a.path().contains("/cpuidle/state")));
    let missing = uncovered(AUDIT_FILES, &accesses);
    assert!(
        missing.is_empty(),
        "the audit reads paths rros_isolation::AUDIT_FILES (crates/on-target/rros-isolation/src/sysroot.rs) does not list, so scripts/capture-sysroot would not copy them; add a Capture for each: {missing:?}"
    );
}

#[test]
fn a_file_left_out_of_the_list_is_caught() {
    let accesses = recorded();
    let without: Vec<Capture> = AUDIT_FILES
        .iter()
        .copied()
        .filter(|c| *c != Capture::File("sys/devices/system/cpu/isolated"))
        .collect();
    assert_eq!(
        uncovered(&without, &accesses),
        [&Access::Read("sys/devices/system/cpu/isolated".into())]
    );
    // Numbered components match numbers only.
    let irq = Capture::File("proc/irq/[0-9]*/smp_affinity_list");
    assert!(irq.covers(&Access::Read("proc/irq/42/smp_affinity_list".into())));
    assert!(irq.covers(&Access::List("proc/irq".into())));
    assert!(!irq.covers(&Access::Read("proc/irq/default_smp_affinity".into())));
    assert!(!irq.covers(&Access::Read("proc/irq/42".into())));
}

/// `audit_file_list()` in a file, as the script's `--list` takes it.
fn list_file(dir: &Path) -> PathBuf {
    let path = dir.join("audit-files");
    std::fs::write(&path, audit_file_list()).unwrap();
    path
}

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
    let scratch = tempfile::tempdir().unwrap();
    let list = list_file(scratch.path());
    for name in FIXTURES {
        let dest = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(script())
            .arg("--list")
            .arg(&list)
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
    let script = script();
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

#[test]
fn capture_takes_only_irqbalance_and_its_irqbalance_variables() {
    let scratch = common::Scratch::of("qemux86-64-isolated");
    scratch
        .write("proc/4242/comm", "irqbalance\n")
        .write(
            "proc/4242/environ",
            "HOME=/root\0IRQBALANCE_BANNED_CPULIST=1\0",
        )
        .write("proc/77/comm", "sshd\n")
        .write("proc/77/environ", "SECRET=x\0");
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("capture");
    let out = Command::new("bash")
        .arg(script())
        .arg("--list")
        .arg(list_file(work.path()))
        .arg("--from")
        .arg(&scratch.root)
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = tree(&dest);
    assert_eq!(got["proc/4242/comm"], b"irqbalance\n");
    assert_eq!(got["proc/4242/environ"], b"IRQBALANCE_BANNED_CPULIST=1\0");
    assert!(
        !got.keys().any(|k| k.starts_with("proc/77")),
        "{:?}",
        got.keys()
    );
}

#[test]
fn capture_refuses_a_list_it_does_not_know() {
    let work = tempfile::tempdir().unwrap();
    let list = work.path().join("list");
    std::fs::write(&list, "file proc/cmdline\nfolder sys\n").unwrap();
    let out = Command::new("bash")
        .arg(script())
        .arg("--list")
        .arg(&list)
        .arg("--from")
        .arg(common::fixture("qemux86-64-isolated"))
        .arg(work.path().join("capture"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown entry `folder sys"));
}
