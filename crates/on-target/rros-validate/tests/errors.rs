//! Everything that keeps a run from measuring is ERROR (exit 2) with a message that says
//! what to do — and a run never passes on nothing.

mod common;

use common::*;
use std::process::Output;

fn run_in(
    dir: &std::path::Path,
    profile: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let out_dir = dir.join("out");
    let mut args = vec![
        "run",
        "--profile",
        profile.to_str().unwrap(),
        "--output-dir",
        out_dir.to_str().unwrap(),
        "--duration",
        "2s",
        "--warmup",
        "200ms",
    ];
    args.extend_from_slice(extra);
    run(&args, env)
}

/// Asserts ERROR (exit 2, verdict line, report.json with an error entry) and returns all
/// the text the user saw (stdout + stderr) plus the report.
fn assert_error(out: &Output) -> (String, serde_json::Value) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "ERROR expected:\n{all}");
    let (verdict, _, dir) = verdict_line(out);
    assert_eq!(verdict, "ERROR");
    let r = report_json(std::path::Path::new(&dir));
    assert_eq!(r["verdict"], "ERROR");
    assert!(
        !r["errors"].as_array().unwrap().is_empty(),
        "an ERROR names its cause"
    );
    let measured: u64 = r["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["samples"].as_u64().unwrap())
        .sum();
    if measured == 0 {
        assert_ne!(r["verdict"], "PASS", "never PASS on zero samples");
    }
    (all, r)
}

#[test]
fn missing_profile() {
    let t = tempfile::tempdir().unwrap();
    let out = run_in(t.path(), &t.path().join("board.toml"), &[], &[]);
    let (all, r) = assert_error(&out);
    assert!(
        all.contains("cannot read board profile") && all.contains("--profile"),
        "{all}"
    );
    assert_eq!(r["errors"][0]["scope"], "profile");
    assert!(r["board"].is_null());
    assert!(
        r["run_id"].as_str().unwrap().ends_with("-board"),
        "run id from the file name"
    );
}

#[test]
fn malformed_profile() {
    let t = tempfile::tempdir().unwrap();
    let p = profile_variant(t.path(), |s| s.replace("[cpus]", "[cpus\n"));
    let (all, _) = assert_error(&run_in(t.path(), &p, &[], &[]));
    assert!(
        all.contains("is not a valid board profile") && all.contains("rros board check"),
        "{all}"
    );
}

#[test]
fn profile_breaking_a_rule() {
    let t = tempfile::tempdir().unwrap();
    let p = profile_variant(t.path(), |s| {
        s.replace("isolated = \"1\"", "isolated = \"0\"")
    });
    let (all, _) = assert_error(&run_in(t.path(), &p, &[], &[]));
    assert!(
        all.contains("error(s)") && all.contains("cpus.isolated"),
        "{all}"
    );
}

/// A tool named plainly in a load but not on PATH is an early hint (a warning naming the
/// package), which cannot change the verdict: here `dd` does the load's work, so the run is
/// judged on its numbers, and the report shows who worked.
#[test]
fn missing_load_tool_is_a_hint_naming_the_package() {
    let t = tempfile::tempdir().unwrap();
    let p = profile_variant(
        t.path(),
        with_load("no-such-load-tool-x1 --spin & dd if=/dev/zero of=/dev/null bs=64k"),
    );
    let out = run_in(
        t.path(),
        &p,
        &[
            "--scenario",
            "hackbench",
            "--sysroot",
            isolated_sysroot().to_str().unwrap(),
        ],
        &[],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("`no-such-load-tool-x1` is not installed"),
        "{all}"
    );
    let (_, _, dir) = verdict_line(&out);
    let r = report_json(std::path::Path::new(&dir));
    let s = &r["scenarios"][0];
    assert_eq!(s["measured"], true, "{all}");
    assert!(
        s["load"]["programs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "dd"),
        "{s}"
    );
    assert!(r["warnings"].to_string().contains("no-such-load-tool-x1"));
}

#[test]
fn unknown_scenario() {
    let t = tempfile::tempdir().unwrap();
    let p = shipped_profile("qemux86-64");
    let (all, _) = assert_error(&run_in(t.path(), &p, &["--scenario", "nope"], &[]));
    assert!(
        all.contains("no scenario `nope`") && all.contains("idle, hackbench"),
        "{all}"
    );
}

/// Without the right to SCHED_FIFO (no CAP_SYS_NICE, RLIMIT_RTPRIO 0) nothing is measured.
#[test]
fn no_realtime_privileges() {
    let t = tempfile::tempdir().unwrap();
    let p = shipped_profile("qemux86-64");
    let out_dir = t.path().join("out");
    let args = [
        "run",
        "--profile",
        p.to_str().unwrap(),
        "--output-dir",
        out_dir.to_str().unwrap(),
        "--duration",
        "1s",
        "--scenario",
        "idle",
    ];
    let out = if is_root() {
        // Root without CAP_SYS_NICE (and RLIMIT_RTPRIO forced to 0).
        std::process::Command::new("setpriv")
            .args([
                "--bounding-set",
                "-sys_nice",
                "--inh-caps",
                "-sys_nice",
                "prlimit",
                "--rtprio=0",
                "--",
            ])
            .arg(BIN)
            .args(args)
            .output()
            .expect("setpriv (util-linux) is needed by this test")
    } else {
        run(&args, &[])
    };
    let (all, r) = assert_error(&out);
    assert!(
        all.contains("SCHED_FIFO priority 90 refused") && all.contains("CAP_SYS_NICE"),
        "{all}"
    );
    assert_eq!(r["scenarios"][0]["samples"], 0);
}

/// A load that stops by itself would leave the measurement unloaded: ERROR, with its status.
#[test]
fn load_that_ends_early() {
    let t = tempfile::tempdir().unwrap();
    let p = profile_variant(t.path(), with_load("echo starting; exit 3"));
    let (all, r) = assert_error(&run_in(t.path(), &p, &["--scenario", "hackbench"], &[]));
    assert!(
        all.contains("ended on its own")
            && all.contains("exit status 3")
            && all.contains("starting"),
        "{all}"
    );
    assert_eq!(r["scenarios"][0]["load"]["exited_early"], true);
}

/// Usage errors are exit 2 too (clap).
#[test]
fn usage_errors_exit_2() {
    let out = run(&["run", "--duration", "soon"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["run", "--keep", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["run", "--duration", "0s"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("longer than zero"));
    let out = run(&["run", "--evt-probability", "1.5"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The service logs exactly one line: `run --quiet` prints only the verdict line.
#[test]
fn quiet_run_prints_one_line() {
    let t = tempfile::tempdir().unwrap();
    let out = run_in(t.path(), &t.path().join("missing.toml"), &["--quiet"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("rros-validate: verdict=ERROR run="),
        "{stdout}"
    );
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}
