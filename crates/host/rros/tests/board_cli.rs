//! `rros board` as a user runs it: exit codes (0 valid, 1 invalid, 2 usage), messages that name
//! the file and field, and `render --check` catching generated files that drifted.

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

fn rros(root: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rros").unwrap();
    cmd.current_dir(root).env_remove("RROS_ROOT");
    cmd
}

/// A throwaway project: board/ (copies of the shipped profiles) and an empty meta-rros/.
fn scratch_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("board")).unwrap();
    fs::create_dir_all(dir.path().join("meta-rros")).unwrap();
    for entry in fs::read_dir(repo_root().join("board")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(
            &path,
            dir.path().join("board").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    dir
}

#[test]
fn shipped_profiles_check_clean() {
    rros(&repo_root())
        .args(["board", "check"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok      board/rpi4.toml"))
        .stdout(predicate::str::contains("ok      board/qemux86-64.toml"));
}

#[test]
fn shipped_generated_files_are_current() {
    rros(&repo_root())
        .args(["board", "render", "--check"])
        .assert()
        .code(0);
}

#[test]
fn cmdline_of_rpi4_and_nuc() {
    let out = rros(&repo_root())
        .args(["board", "cmdline", "rpi4"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let line = String::from_utf8(out).unwrap();
    for param in [
        "isolcpus=managed_irq,domain,2-3",
        "nohz_full=2-3",
        "rcu_nocbs=2-3",
        "irqaffinity=0-1",
        "rros.oobcpus_arg=2-3",
    ] {
        assert!(
            line.split_whitespace().any(|p| p == param),
            "{param} missing: {line}"
        );
    }
    rros(&repo_root())
        .args(["board", "cmdline", "board/nuc.toml"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("evl.oobcpus=2-3")
                .and(predicate::str::contains("rros.").not()),
        );
}

#[test]
fn invalid_profiles_exit_1_naming_file_and_field() {
    let project = scratch_project();
    let board = project.path().join("board");
    let rpi4 = fs::read_to_string(board.join("rpi4.toml")).unwrap();
    let cases = [
        (
            "reversed.toml",
            rpi4.replace(r#"isolated = "2-3""#, r#"isolated = "3-1""#),
            "cpus.isolated",
        ),
        (
            "range.toml",
            rpi4.replace(r#"isolated = "2-3""#, r#"isolated = "0-99""#),
            "cpus.isolated",
        ),
        (
            "unknown.toml",
            rpi4.replace("[tuning]", "[tuning]\nturbo = true"),
            "turbo",
        ),
        (
            "types.toml",
            rpi4.replace("count = 4", "count = \"4\""),
            "count",
        ),
        (
            "oob.toml",
            rpi4.replace(r#"oob = "2-3""#, r#"oob = "1-3""#),
            "cpus.oob",
        ),
    ];
    for (file, text, field) in &cases {
        let name = file.trim_end_matches(".toml");
        let text = text.replace(r#"name = "rpi4""#, &format!(r#"name = "{name}""#));
        fs::write(board.join(file), text).unwrap();
        rros(project.path())
            .args(["board", "check", &format!("board/{file}")])
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains(format!("board/{file}"))
                    .and(predicate::str::contains(*field)),
            )
            .stdout(predicate::str::contains("invalid"));
    }
    // Checking all: every invalid one is reported, the valid ones still say ok.
    rros(project.path())
        .args(["board", "check"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("ok      board/rpi4.toml"))
        .stdout(predicate::str::contains("invalid board/oob.toml"))
        .stdout(predicate::str::contains("invalid board/types.toml"));
    // Commands that need a valid board refuse an invalid one with exit 1.
    rros(project.path())
        .args(["board", "cmdline", "oob"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("oob-subset-isolated"));
}

#[test]
fn usage_errors_exit_2() {
    rros(&repo_root())
        .args(["board", "check", "board/no-such.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such.toml"));
    rros(&repo_root())
        .args(["board", "show", "no-such"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("known: imx8mp-evk"));
    rros(&repo_root())
        .args(["board", "frobnicate"])
        .assert()
        .code(2);
    let elsewhere = tempfile::tempdir().unwrap();
    rros(elsewhere.path())
        .args(["board", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--root"));
}

#[test]
fn render_writes_then_check_detects_drift() {
    let project = scratch_project();
    let root = project.path();
    rros(root)
        .args(["board", "render", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing"));
    rros(root)
        .args(["board", "render"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "wrote meta-rros/conf/rros-boards/rpi4.inc",
        ));
    rros(root)
        .args(["board", "render", "--check"])
        .assert()
        .code(0);
    // The generated files equal the ones checked into the repository.
    for file in [
        "meta-rros/conf/rros-boards/rpi4.inc",
        "meta-rros/recipes-core/rros-tuning/files/nuc/99-rros-isolation.conf",
    ] {
        assert_eq!(
            fs::read_to_string(root.join(file)).unwrap(),
            fs::read_to_string(repo_root().join(file)).unwrap(),
            "{file}"
        );
    }
    // A profile edit makes the include stale.
    let profile = root.join("board/qemuarm64.toml");
    let text = fs::read_to_string(&profile)
        .unwrap()
        .replace(r#"housekeeping = "0-1""#, r#"housekeeping = "0""#)
        .replace(r#"isolated = "2-3""#, r#"isolated = "1-3""#);
    fs::write(&profile, text).unwrap();
    rros(root)
        .args(["board", "render", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("qemuarm64.inc: out of date"));
    // A removed profile leaves orphans, which --check reports and render removes.
    rros(root).args(["board", "render"]).assert().code(0);
    fs::remove_file(root.join("board/nuc.toml")).unwrap();
    rros(root)
        .args(["board", "render", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "nuc.inc: generated for a board that has no profile",
        ));
    rros(root)
        .args(["board", "render"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "removed meta-rros/conf/rros-boards/nuc.inc",
        ));
    assert!(
        !root
            .join("meta-rros/recipes-core/rros-tuning/files/nuc")
            .exists()
    );
    rros(root)
        .args(["board", "render", "--check"])
        .assert()
        .code(0);
}

#[test]
fn list_and_show() {
    rros(&repo_root())
        .args(["board", "list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("qemux86-64").and(predicate::str::contains("preempt-rt")));
    rros(&repo_root())
        .args(["board", "show", "imx8mp-evk"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("imx8mp-lpddr4-evk")
                .and(predicate::str::contains("cmdline        isolcpus=")),
        );
}

/// Issue #12 findings 1, 2, 5, 7, 8 through `rros board check`: every hostile profile is
/// refused (exit 1 naming the field, or exit 2 for a file that is not a profile at all),
/// quickly, without a hang or an out-of-memory kill.
#[test]
fn board_check_refuses_hostile_profiles() {
    let project = scratch_project();
    let board = project.path().join("board");
    let qemu = fs::read_to_string(board.join("qemux86-64.toml")).unwrap();
    let cases = [
        (
            "count.toml",
            qemu.replace("count = 2", "count = 4294967295"),
            "cpus.count",
            "NR_CPUS is at most 8192",
        ),
        (
            "overflow.toml",
            qemu.replacen(r#"duration = "30s""#, r#"duration = "1000000000000h""#, 1),
            "scenario[0].duration",
            "365 days",
        ),
        (
            "short.toml",
            qemu.replacen(r#"duration = "30s""#, r#"duration = "500us""#, 1),
            "scenario[0].duration",
            "fewer than the 1000 samples",
        ),
        (
            "interval.toml",
            qemu.replacen("interval_us = 1000", "interval_us = 4294967295", 1),
            "scenario[0].interval_us",
            "1 µs to 1 s",
        ),
    ];
    for (file, text, field, hint) in &cases {
        let name = file.trim_end_matches(".toml");
        let text = text.replace(r#"name = "qemux86-64""#, &format!(r#"name = "{name}""#));
        fs::write(board.join(file), text).unwrap();
        rros(project.path())
            .args(["board", "check", &format!("board/{file}")])
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(1)
            .stderr(predicate::str::contains(*field).and(predicate::str::contains(*hint)));
    }
    let fifo = board.join("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo (coreutils) is needed by this test");
    assert!(made.success());
    for (path, kind) in [
        ("/dev/zero", "a character device"),
        ("board/fifo.toml", "a FIFO"),
    ] {
        rros(project.path())
            .args(["board", "check", path])
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(kind).and(predicate::str::contains(path)));
    }
}

/// Issue #12 finding 12: `board render` wrote through `.NAME.tmp`, a predictable name, so a
/// symlink planted there redirected the write. It now writes through an exclusive temporary
/// file with an unpredictable name.
#[test]
fn render_never_writes_through_a_planted_symlink() {
    let project = scratch_project();
    let root = project.path();
    let victim = root.join("victim");
    fs::write(&victim, "precious").unwrap();
    let dir = root.join("meta-rros/conf/rros-boards");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(".rpi4.inc.tmp")).unwrap();
    rros(root)
        .args(["board", "render"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "wrote meta-rros/conf/rros-boards/rpi4.inc",
        ));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let written = dir.join("rpi4.inc");
    assert!(fs::symlink_metadata(&written).unwrap().is_file());
    assert!(fs::read_to_string(&written).unwrap().contains("rpi4"));
}
