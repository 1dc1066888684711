//! `rros-validate audit --list-files` prints the audit's own file list (rros-isolation's
//! AUDIT_FILES), which `scripts/capture-sysroot` copies; it needs no profile.

use std::process::Command;

#[test]
fn audit_list_files_prints_the_isolation_crates_list() {
    let out = Command::new(env!("CARGO_BIN_EXE_rros-validate"))
        .args([
            "audit",
            "--list-files",
            "--profile",
            "/nonexistent/board.toml",
        ])
        .output()
        .expect("rros-validate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(text, rros_isolation::audit_file_list());
    assert!(text.lines().any(|l| l == "file proc/cmdline"), "{text}");
}
