//! `rros accept` as a user runs it, against hostile or absurd input: never a panic, exit 2
//! with a message that names what is wrong.

use assert_cmd::Command;
use predicates::prelude::*;

fn rros() -> Command {
    let mut cmd = Command::cargo_bin("rros").unwrap();
    cmd.env_remove("RROS_ROOT");
    cmd
}

/// A port on 127.0.0.1 where nothing listens.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Finding 6 of issue #12: `--duration 300000000000years` panicked in the timeout arithmetic.
#[test]
fn an_absurd_duration_is_exit_2_never_a_panic() {
    let out = tempfile::tempdir().unwrap();
    for duration in [
        "300000000000years",
        "500000000years",
        "18446744073709551615s",
    ] {
        rros()
            .args(["accept", "--connect-timeout", "2s", "--duration", duration])
            .arg("--target")
            .arg(format!("root@127.0.0.1:{}", dead_port()))
            .arg("--out")
            .arg(out.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("panicked").not());
    }
}

/// Finding 14 of issue #12: a user or host that ssh would read as an option is refused
/// before ssh runs, on the command line and in a fleet file.
#[test]
fn a_target_that_looks_like_an_ssh_option_is_refused() {
    let out = tempfile::tempdir().unwrap();
    rros()
        .args(["accept", "--target=-oProxyCommand=id@host", "--out"])
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("starts with '-'"));
    let fleet = out.path().join("fleet.txt");
    std::fs::write(&fleet, "root@-oProxyCommand=id name=evil\n").unwrap();
    rros()
        .args(["accept", "--targets"])
        .arg(&fleet)
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("fleet.txt:1")
                .and(predicate::str::contains("starts with '-'")),
        );
}

/// `--baseline` that does not exist is refused before any board is reached, naming it;
/// `--allow-mismatch` means nothing without `--baseline`.
#[test]
fn a_missing_baseline_folder_is_refused_up_front() {
    let out = tempfile::tempdir().unwrap();
    rros()
        .args([
            "accept",
            "--connect-timeout",
            "2s",
            "--baseline",
            "/nonexistent/base",
        ])
        .arg("--target")
        .arg(format!("root@127.0.0.1:{}", dead_port()))
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--baseline /nonexistent/base: no such file or folder",
        ));
    assert!(!out.path().join("accept.json").exists(), "nothing was run");
    rros()
        .args(["accept", "--allow-mismatch", "--target", "root@127.0.0.1:1"])
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--baseline"));
}
