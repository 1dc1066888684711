//! Loads are always reaped and `latest` is never damaged: when rros-validate is killed with
//! SIGKILL, crashes (SIGABRT), or is stopped with SIGTERM.

mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A previous, complete run in `out` (audit only: quick), returning its report bytes.
fn previous_run(out: &Path) -> (String, Vec<u8>) {
    let p = shipped_profile("qemux86-64");
    let o = run(
        &[
            "run",
            "--audit-only",
            "--profile",
            p.to_str().unwrap(),
            "--output-dir",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        o.status.code().is_some_and(|c| c < 2),
        "{}",
        text(&o.stdout)
    );
    let id = verdict_line(&o).1;
    (id, std::fs::read(out.join("latest/report.json")).unwrap())
}

/// Starts a long run whose load is a shell with a background job, a job that leaves the
/// process group (setsid) and a foreground job, each with a unique marker; returns once all
/// three are running.
fn start_loaded_run(dir: &Path, out: &Path, marker: &str) -> Child {
    let load = format!("sleep {marker}1 & setsid sleep {marker}2 & sleep {marker}3");
    let profile = profile_variant(dir, with_load(&load));
    let child = Command::new(BIN)
        .args([
            "run",
            "--scenario",
            "hackbench",
            "--duration",
            "60s",
            "--warmup",
            "0s",
            "--profile",
        ])
        .arg(&profile)
        .arg("--output-dir")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || processes_with(marker)
            .iter()
            .filter(|p| p.1.starts_with("sleep"))
            .count()
            == 3),
        "the load did not start: {:?}",
        processes_with(marker)
    );
    child
}

fn marker(n: u32) -> String {
    // `sleep 4000.<pid><n><k>`: a number of seconds no other process uses.
    format!("4000.{}{n}", std::process::id())
}

fn assert_load_gone(marker: &str) {
    assert!(
        wait_until(Duration::from_secs(15), || processes_with(marker)
            .is_empty()),
        "load processes survived: {:?}",
        processes_with(marker)
    );
}

fn kill_and_check(signal: i32, n: u32) {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let (prev_id, prev_report) = previous_run(&out);
    let m = marker(n);
    let mut child = start_loaded_run(t.path(), &out, &m);
    // SAFETY: kill on our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed by a signal: {status:?}");
    assert_load_gone(&m);
    // The previous run is still `latest`, byte for byte; the killed one left only a temp dir.
    assert_eq!(
        std::fs::read_link(out.join("latest"))
            .unwrap()
            .to_str()
            .unwrap(),
        prev_id
    );
    assert_eq!(
        std::fs::read(out.join("latest/report.json")).unwrap(),
        prev_report
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    // The next run removes the leftover and says so.
    let (next_id, _) = previous_run(&out);
    assert_ne!(next_id, prev_id);
    let r = report_json(&out.join("latest"));
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("left behind")),
        "{r:#}"
    );
    assert!(
        !std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
    );
}

#[test]
fn sigkill_reaps_the_load_and_keeps_latest() {
    kill_and_check(libc::SIGKILL, 1);
}

#[test]
fn crash_reaps_the_load_and_keeps_latest() {
    kill_and_check(libc::SIGABRT, 2);
}

/// SIGTERM: the engine stops, the load is reaped, an interrupted ERROR report is written to
/// its own directory and `latest` stays on the last complete run.
#[test]
fn sigterm_writes_an_interrupted_report() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let (prev_id, _) = previous_run(&out);
    let m = marker(3);
    let mut child = start_loaded_run(t.path(), &out, &m);
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(
        wait_until(Duration::from_secs(20), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "did not stop on SIGTERM"
    );
    assert_eq!(child.wait().unwrap().code(), Some(2), "interrupted = ERROR");
    assert_load_gone(&m);
    assert_eq!(
        std::fs::read_link(out.join("latest"))
            .unwrap()
            .to_str()
            .unwrap(),
        prev_id
    );
    let interrupted: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.join("report.json").is_file() && !p.ends_with(&prev_id) && !p.ends_with("latest")
        })
        .collect();
    assert_eq!(interrupted.len(), 1, "{interrupted:?}");
    let r = report_json(&interrupted[0]);
    assert_eq!(r["verdict"], "ERROR");
    assert_eq!(r["interrupted"], true);
    let s = &r["scenarios"][0];
    assert!(
        s["samples"].as_u64().unwrap() > 0,
        "the partial numbers are kept"
    );
    assert!(s["reasons"].to_string().contains("interrupted"), "{s:#}");
}
