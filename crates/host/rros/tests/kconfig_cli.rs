//! `rros kconfig check` against hostile input (issue #12, findings 8 and 9), as a user runs it:
//! each reproduction exits 2 with a message naming the file (and line) and the fix, and never
//! crashes (a stack overflow aborts with a signal) or hangs.

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

fn rros(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rros").unwrap();
    cmd.current_dir(dir)
        .env_remove("RROS_ROOT")
        .timeout(Duration::from_secs(60));
    cmd
}

/// A tree (`tree/`) whose drivers/Kconfig depends on `expr` at line 3, and a fragment.
fn setup(expr: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("drivers")).unwrap();
    fs::write(tree.join("Kconfig"), "config A\n\tbool \"a\"\n").unwrap();
    fs::write(
        tree.join("drivers/Kconfig"),
        format!("config X\n\tbool \"x\"\n\tdepends on {expr}\n"),
    )
    .unwrap();
    fs::write(dir.path().join("rros.cfg"), "CONFIG_X=y\n").unwrap();
    dir
}

#[test]
fn kconfig_check_refuses_twenty_thousand_nested_parentheses() {
    let dir = setup(&format!("{}A{}", "(".repeat(20_000), ")".repeat(20_000)));
    rros(dir.path())
        .args(["kconfig", "check", "rros.cfg", "--tree", "tree"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tree/drivers/Kconfig:3: "))
        .stderr(predicate::str::contains("nests deeper than 256 levels"));
}

#[test]
fn kconfig_check_refuses_two_hundred_thousand_nots() {
    let dir = setup(&format!("{}A", "!".repeat(200_000)));
    rros(dir.path())
        .args(["kconfig", "check", "rros.cfg", "--tree", "tree"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tree/drivers/Kconfig:3: "))
        .stderr(predicate::str::contains("fix or remove it"));
}

#[test]
fn kconfig_check_refuses_dev_zero_as_a_fragment() {
    let dir = setup("A");
    rros(dir.path())
        .args(["kconfig", "check", "/dev/zero", "--tree", "tree"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "config fragment /dev/zero is a character device, not a regular file",
        ));
}

#[test]
fn kconfig_check_refuses_a_fifo_fragment_without_waiting() {
    let dir = setup("A");
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe.cfg"))
        .status()
        .unwrap();
    assert!(status.success());
    // The 60 s timeout of `rros` turns a hang into a failure here.
    rros(dir.path())
        .args(["kconfig", "check", "pipe.cfg", "--tree", "tree"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "config fragment pipe.cfg is a FIFO (named pipe), not a regular file: save the fragment to a file",
        ));
}

#[test]
fn kconfig_check_still_passes_a_sane_tree() {
    let dir = setup("A && !(A || A)");
    rros(dir.path())
        .args(["kconfig", "check", "rros.cfg", "--tree", "tree"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("0 unknown"));
}
