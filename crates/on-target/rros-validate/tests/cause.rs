//! Issue #16 on this machine for real: a known disturbance on the measured CPU, and the
//! analysis in report.json must name it with its evidence and fix.
//!
//! The disturbance is `stress-ng` at SCHED_FIFO 99 (above the samplers' 90) pinned to the
//! measured CPU 1, busy 20 % of the time so the machine stays usable. What is asserted is the
//! naming, not a latency: the capture sees the hog's CPU time on CPU 1 whatever the timing.
//! The audit reads a captured sysroot (clean), as in `run.rs`.

mod common;

use common::*;
use std::process::{Command, Stdio};

fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

#[test]
fn a_realtime_hog_on_the_measured_cpu_is_named_with_its_fix() {
    if !is_root() || !have("stress-ng") || !have("chrt") {
        eprintln!("skipped: needs root, stress-ng and chrt (SCHED_FIFO 99 on CPU 1)");
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: needs CPU 1");
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(out_dir.path(), |t| t);
    let mut hog = Command::new("chrt")
        .args(["-f", "99", "taskset", "-c", "1", "stress-ng", "--cpu", "1"])
        .args(["--cpu-load", "20", "--timeout", "30s", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chrt");
    // Let stress-ng start its worker before the measurement.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = run(
        &[
            "run",
            "--profile",
            profile.to_str().unwrap(),
            "--sysroot",
            isolated_sysroot().to_str().unwrap(),
            "--scenario",
            "idle",
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--output-dir",
            out_dir.path().to_str().unwrap(),
        ],
        &[],
    );
    // stress-ng's SIGTERM handler stops its workers.
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(hog.id() as i32, libc::SIGTERM) };
    let _ = hog.wait();
    let (_, _, dir) = verdict_line(&out);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&dir).join("report.json")).unwrap(),
    )
    .unwrap();
    let sc = &report["scenarios"][0];
    let analysis = &sc["analysis"];
    assert!(analysis.is_object(), "no analysis: {sc:#}");
    let causes = analysis["causes"].as_array().unwrap();
    let hog_cause = causes
        .iter()
        .find(|c| c["evidence"].as_str().unwrap().contains("`stress-ng"))
        .unwrap_or_else(|| panic!("stress-ng not named: {causes:#?}"));
    let evidence = hog_cause["evidence"].as_str().unwrap();
    assert_eq!(hog_cause["rule"], "foreign-task");
    assert_eq!(hog_cause["confidence"], "high", "{evidence}");
    assert!(
        evidence.contains("SCHED_FIFO 99") && evidence.contains("on CPU 1"),
        "{evidence}"
    );
    assert!(
        hog_cause["fix"]
            .as_str()
            .unwrap()
            .contains("taskset -apc 0 "),
        "{hog_cause}"
    );
    // The label follows the verdict, and a FAIL's text summary says why.
    let label = analysis["label"].as_str().unwrap();
    match sc["verdict"].as_str().unwrap() {
        "FAIL" => {
            assert_eq!(label, "failure");
            assert!(
                text(&out.stdout).contains("idle: why it failed"),
                "{}",
                text(&out.stdout)
            );
        }
        _ => assert_ne!(label, "failure"),
    }
}

/// A short idle run of the qemux86-64 profile variant in `out`, with extra run options.
fn idle_run(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let profile = profile_variant(out, |t| t);
    let (profile, sysroot) = (
        profile.to_str().unwrap().to_owned(),
        isolated_sysroot().to_str().unwrap().to_owned(),
    );
    let mut args = vec![
        "run",
        "--profile",
        &profile,
        "--sysroot",
        &sysroot,
        "--scenario",
        "idle",
        "--duration",
        "3s",
        "--warmup",
        "0s",
        "--output-dir",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args, &[])
}

/// `rros-validate analyze` on a recorded run gives the analysis the run wrote, from the
/// evidence kept beside the report; `--write` puts it back when report.json lost it.
#[test]
fn analyze_gives_again_the_analysis_the_run_wrote() {
    if !is_root() {
        eprintln!("skipped: needs root (SCHED_FIFO samplers)");
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = idle_run(out_dir.path(), &[]);
    let (_, _, dir) = verdict_line(&out);
    let dir = std::path::Path::new(&dir);
    assert!(dir.join("evidence-idle.json").is_file(), "no evidence kept");
    let recorded = report_json(dir)["scenarios"][0]["analysis"].clone();
    assert!(recorded.is_object(), "the run wrote no analysis");
    let od = out_dir.path().to_str().unwrap();
    let again = run(&["analyze", "latest", "--output-dir", od, "--json"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again[0]["scenario"], "idle");
    assert_eq!(again[0]["analysis"], recorded);
    assert_eq!(again[0]["same_as_recorded"], true);
    let shown = run(&["analyze", dir.to_str().unwrap()], &[]);
    let shown_text = text(&shown.stdout);
    assert!(
        shown_text.starts_with("scenario idle: ")
            && shown_text.contains("report.json records the same analysis"),
        "{shown_text}"
    );

    // report.json without its analysis (as an older run wrote it): --write restores it.
    let mut doc = report_json(dir);
    doc["scenarios"][0]
        .as_object_mut()
        .unwrap()
        .remove("analysis");
    std::fs::write(dir.join("report.json"), doc.to_string()).unwrap();
    let report = dir.join("report.json");
    let written = run(&["analyze", report.to_str().unwrap(), "--write"], &[]);
    assert_eq!(written.status.code(), Some(0), "{}", text(&written.stderr));
    assert!(
        text(&written.stdout).contains("report.json records no analysis"),
        "{}",
        text(&written.stdout)
    );
    assert_eq!(report_json(dir)["scenarios"][0]["analysis"], recorded);
}

/// `--no-cause-capture`: no analysis and no evidence; `analyze` then says which file is
/// missing and why (exit 2), never an empty analysis.
#[test]
fn a_run_without_evidence_cannot_be_analysed_and_says_which_file() {
    if !is_root() {
        eprintln!("skipped: needs root (SCHED_FIFO samplers)");
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out = idle_run(out_dir.path(), &["--no-cause-capture"]);
    let (_, _, dir) = verdict_line(&out);
    let dir = std::path::Path::new(&dir);
    let sc = &report_json(dir)["scenarios"][0];
    assert_eq!(sc["measured"], true, "{sc:#}");
    assert!(
        sc["analysis"].is_null(),
        "an analysis without capture: {sc:#}"
    );
    assert!(!dir.join("evidence-idle.json").exists());
    let od = out_dir.path().to_str().unwrap();
    let again = run(&["analyze", "--output-dir", od], &[]);
    assert_eq!(again.status.code(), Some(2));
    let err = text(&again.stderr);
    let file = dir.canonicalize().unwrap().join("evidence-idle.json");
    let named = err.contains(&format!("{}: no such file", file.display()))
        || err.contains(&format!(
            "{}: no such file",
            dir.join("evidence-idle.json").display()
        ));
    assert!(
        named && err.contains("--no-cause-capture"),
        "the error does not name the missing file: {err}"
    );
}
