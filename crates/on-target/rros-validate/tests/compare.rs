//! `rros-validate compare` end to end on the contract's golden reports: identical runs are
//! UNCHANGED (exit 0), a run whose whole distribution moved up is REGRESSED (exit 1), and
//! runs of different boards are refused (exit 2) unless --allow-mismatch.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../rros-contract/golden/{name}"))
}

/// pass.json with `edit` applied, written into `dir`.
fn variant(dir: &Path, name: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden("pass.json")).unwrap()).unwrap();
    edit(&mut v);
    let path = dir.join(name);
    std::fs::write(&path, v.to_string()).unwrap();
    path
}

/// Every latency of every scenario times `factor` (histogram bins and the maximum).
fn scaled(factor: f64) -> impl Fn(&mut serde_json::Value) {
    move |v| {
        for s in v["scenarios"].as_array_mut().unwrap() {
            s["max_us"] = (s["max_us"].as_f64().unwrap() * factor).into();
            for cpu in s["per_cpu"].as_array_mut().unwrap() {
                for bin in cpu["histogram"]["bins"].as_array_mut().unwrap() {
                    bin[0] = (bin[0].as_f64().unwrap() * factor).floor().into();
                }
                cpu["histogram"]["range_us"] = 100000.0.into();
            }
        }
    }
}

#[test]
fn identical_runs_are_unchanged() {
    let p = golden("pass.json");
    let out = run(&["compare", p.to_str().unwrap(), p.to_str().unwrap()], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("idle: UNCHANGED (5000 → 5000 samples)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("UNCHANGED p99 4 µs [4, 4] → 4 µs [4, 4]"),
        "{stdout}"
    );
    assert!(stdout.ends_with("compare: UNCHANGED\n"), "{stdout}");
}

#[test]
fn a_shifted_distribution_is_regressed_and_back_is_improved() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden("pass.json");
    let slower = variant(dir.path(), "slower.json", scaled(3.0));
    let out = run(
        &["compare", base.to_str().unwrap(), slower.to_str().unwrap()],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("idle: REGRESSED"), "{stdout}");
    assert!(
        stdout
            .contains("REGRESSED p50 2 µs [2, 4] → 6 µs [6, 12] (95 % intervals apart: NEW above)"),
        "{stdout}"
    );
    assert!(stdout.ends_with("compare: REGRESSED\n"), "{stdout}");
    let out = run(
        &["compare", slower.to_str().unwrap(), base.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).ends_with("compare: IMPROVED\n"));
}

#[test]
fn unlike_runs_are_refused_or_warned() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden("pass.json");
    let other = variant(dir.path(), "other.json", |v| {
        v["board"]["name"] = "rpi4".into();
        v["scenarios"][0]["interval_us"] = 200.into();
    });
    let args = ["compare", base.to_str().unwrap(), other.to_str().unwrap()];
    let out = run(&args, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to compare unlike runs: board: \"qemux86-64\" → \"rpi4\"; idle: interval_us: \"1000\" → \"200\""),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-mismatch"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
    let out = run(&[&args[..], &["--allow-mismatch"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("warning: the runs are not like with like"));
    // A kernel change is what a comparison is for: named, never refused.
    let newer = variant(dir.path(), "newer.json", |v| {
        v["host"]["kernel_release"] = "6.19.0-rt1".into();
    });
    let out = run(
        &["compare", base.to_str().unwrap(), newer.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("changed: kernel release:"),
        "{}",
        text(&out.stdout)
    );
    // A missing run is exit 2, naming it.
    let out = run(
        &["compare", base.to_str().unwrap(), "/nonexistent/run"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NEW"), "{}", text(&out.stderr));
}

/// A new build's key (kernel configuration, profile and engine changed) is named field by
/// field on stdout, and compared: like with like, exit by the words.
#[test]
fn a_new_builds_key_fields_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden("pass.json");
    let newer = variant(dir.path(), "newer.json", |v| {
        v["host"]["kernel_config_sha256"] = "ab".repeat(32).into();
        v["profile"]["sha256"] = "cd".repeat(32).into();
        v["tool"]["version"] = "9.9.9".into();
    });
    let out = run(
        &["compare", base.to_str().unwrap(), newer.to_str().unwrap()],
        &[],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for field in [
        "changed: kernel config sha256: \"5d2f",
        "changed: profile sha256: \"0f1e",
        "changed: engine: \"rros-validate 0.1.0\" → \"rros-validate 9.9.9\"",
    ] {
        assert!(stdout.contains(field), "{field}: {stdout}");
    }
}

/// `--noise-threshold`: a tripling is REGRESSED bare and within a 300 % threshold no word; a
/// threshold that is not a percentage is exit 2, naming it.
#[test]
fn a_noise_threshold_silences_shifts_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = golden("pass.json");
    let slower = variant(dir.path(), "slower.json", scaled(3.0));
    let args = ["compare", base.to_str().unwrap(), slower.to_str().unwrap()];
    let out = run(&[&args[..], &["--noise-threshold", "300"]].concat(), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("noise threshold 300 %"), "{stdout}");
    assert!(stdout.ends_with("compare: UNCHANGED\n"), "{stdout}");
    let out = run(&[&args[..], &["--noise-threshold", "10"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&[&args[..], &["--noise-threshold", "lots"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a percentage"),
        "{}",
        text(&out.stderr)
    );
}
