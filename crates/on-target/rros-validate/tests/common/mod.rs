//! Helpers shared by the integration tests: the real binary, scratch profiles, processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rros-validate");

pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// A shipped board profile (`board/<name>.toml`).
pub fn shipped_profile(name: &str) -> PathBuf {
    project_root().join("board").join(format!("{name}.toml"))
}

/// A captured /proc + /sys of an isolated qemux86-64 (rros-isolation's test fixture): the
/// audit of the qemux86-64 profile is clean against it.
pub fn isolated_sysroot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rros-isolation/tests/fixtures/qemux86-64-isolated")
}

/// A /proc + /sys captured from a real, unisolated x86-64 VM (rros-isolation's test fixture):
/// the audit of the qemux86-64 profile FAILs against it on any host, isolated or not.
pub fn not_isolated_sysroot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rros-isolation/tests/fixtures/dev-machine-not-isolated")
}

/// Runs the binary with `args` (and extra environment).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("cannot run rros-validate")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A copy of `board/qemux86-64.toml` in `dir` (same file name, as the profile rules want),
/// with `edit` applied to its text.
pub fn profile_variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let original = std::fs::read_to_string(shipped_profile("qemux86-64")).unwrap();
    let path = dir.join("qemux86-64.toml");
    std::fs::write(&path, edit(original)).unwrap();
    path
}

/// Replaces the load of the `hackbench` scenario (the profile's only `load =` line).
pub fn with_load(load: &str) -> impl Fn(String) -> String {
    let load = load.to_owned();
    move |text: String| {
        let mut found = false;
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("load = ") {
                    found = true;
                    format!("load = {}", toml_string(&load))
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert!(found, "the qemux86-64 profile has no load line any more");
        out.join("\n") + "\n"
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The last line of stdout, which `run` promises to be machine-readable, read by the
/// contract's only parser: (verdict, run, dir), `-` for none.
pub fn verdict_line(out: &Output) -> (String, String, String) {
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let line = rros_contract::VerdictLine::parse(last)
        .unwrap_or_else(|e| panic!("last line is not the verdict line: {e}\n{stdout}"));
    (
        line.verdict.to_string(),
        line.run.unwrap_or_else(|| "-".into()),
        line.dir.unwrap_or_else(|| "-".into()),
    )
}

pub fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Pids whose command line contains `marker`.
pub fn processes_with(marker: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        // Zombies have an empty cmdline; only live processes count.
        if cmdline.contains(marker) {
            out.push((pid, cmdline));
        }
    }
    out
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Runs a Python snippet (the tests' independent consumers: jsonschema, junitparser).
pub fn python(script: &str, args: &[&str]) -> Output {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed by the rros-validate tests (apt install python3)");
    let err = text(&out.stderr);
    assert!(
        !err.contains("ModuleNotFoundError"),
        "a Python package the tests need is missing: pip install jsonschema junitparser\n{err}"
    );
    out
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
