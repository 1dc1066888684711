//! `rros-validate run --until-proven` on this machine, end to end (issue #17): the real
//! binary and real measurements end a scenario long before its cap once the claim is proven,
//! at once when the budget is exceeded, and at the cap when unproven. The fake-clock tests of
//! the three ends are the engine's (cyclictest-rs `engine::until`).
//!
//! The audit reads a captured isolated sysroot (rros-isolation's fixtures), so the verdict
//! depends on the measurement only.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The cap every test gives: far above what proving takes.
const CAP: &str = "60s";

fn run_until_proven(profile: &Path, out_dir: &Path) -> (std::process::Output, Duration) {
    run_until_proven_for(profile, out_dir, CAP)
}

fn run_until_proven_for(
    profile: &Path,
    out_dir: &Path,
    cap: &str,
) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = run(
        &[
            "run",
            "--profile",
            profile.to_str().unwrap(),
            "--sysroot",
            isolated_sysroot().to_str().unwrap(),
            "--scenario",
            "idle",
            "--until-proven",
            "--duration",
            cap,
            "--warmup",
            "0s",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    (out, started.elapsed())
}

/// The shipped emulated profile's claim, 3e-3 at 95 %, needs 998 samples; its `min_samples`
/// (1000 per measured CPU, one CPU) makes it 1000 at 1 ms: about 1 s of a 60 s cap. A budget
/// no hiccup of a shared machine reaches, so that this is about the stopping rule.
#[test]
fn a_claim_of_3e_3_at_1_ms_is_proven_in_about_a_second_of_a_60_s_cap() {
    let out_dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(out_dir.path(), |t| {
        t.replace(
            "threshold = { max_us = 2500000, p99_us = 50000 }",
            "threshold = { max_us = 200000 }",
        )
    });
    let (out, took) = run_until_proven(&profile, out_dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("idle: stopped: claim proven after"),
        "{stdout}"
    );
    let r = report_json(&out_dir.path().join("latest"));
    let s = &r["scenarios"][0];
    assert_eq!(s["verdict"], "PASS", "{s}");
    assert_eq!(s["stopped"]["reason"], "proven", "{s}");
    assert_eq!(s["stopped"]["until_proven"], true);
    let samples = s["samples"].as_u64().unwrap();
    assert!(samples >= 1000, "min_samples on the one CPU: {samples}");
    assert_eq!(s["claim"]["proven"], true);
    assert_eq!(s["claim"]["samples_needed"], 998);
    let measured = s["measured_s"].as_f64().unwrap();
    // 1000 periods of 1 ms, plus the 10 ms check: far from the 60 s cap even on a loaded
    // machine.
    assert!(measured < 15.0, "measured {measured} s of a {CAP} cap");
    assert!(
        took < Duration::from_secs(40),
        "the whole run took {took:?}"
    );
    assert_eq!(s["duration_s"], 60.0, "the cap is recorded as the duration");
}

/// A budget of 1 µs, which no timer wake-up of this machine meets: the scenario ends as soon
/// as its CPU has its `min_samples` (1000 at 1 ms: a measurement that counts), FAIL, without
/// waiting for the cap.
#[test]
fn an_exceeded_budget_ends_the_scenario_at_once_as_a_fail() {
    let out_dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(out_dir.path(), |t| {
        t.replace(
            "threshold = { max_us = 2500000, p99_us = 50000 }",
            "threshold = { max_us = 1 }",
        )
    });
    let (out, took) = run_until_proven(&profile, out_dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let r = report_json(&out_dir.path().join("latest"));
    let s = &r["scenarios"][0];
    assert_eq!(s["verdict"], "FAIL", "{s}");
    assert_eq!(s["stopped"]["reason"], "exceeded", "{s}");
    assert!(s["max_us"].as_f64().unwrap() > 1.0);
    assert!(s["samples"].as_u64().unwrap() >= 1000, "{s}");
    assert!(s["measured_s"].as_f64().unwrap() < 15.0, "{s}");
    assert!(
        took < Duration::from_secs(40),
        "the whole run took {took:?}"
    );
}

/// A claim of 1e-3 (2995 samples) cannot be proven at 1 ms on one CPU within a 2 s cap:
/// the cap ends it, INCONCLUSIVE, and the report says so.
#[test]
fn the_cap_ends_an_unproven_scenario_as_inconclusive() {
    let out_dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(out_dir.path(), |t| {
        t.replace(
            "claim = { exceedance = 3e-3, confidence = 0.95 }",
            "claim = { exceedance = 1e-3, confidence = 0.95 }",
        )
    });
    let (out, _) = run_until_proven_for(&profile, out_dir.path(), "2s");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("idle: stopped: the cap of 2 s was reached after"),
        "{stdout}"
    );
    let r = report_json(&out_dir.path().join("latest"));
    let s = &r["scenarios"][0];
    assert_eq!(s["verdict"], "INCONCLUSIVE", "{s}");
    assert_eq!(s["stopped"]["reason"], "cap", "{s}");
    assert_eq!(s["claim"]["proven"], false);
    let measured = s["measured_s"].as_f64().unwrap();
    // The 2 s cap (a late last wake-up on a loaded machine may add a little).
    assert!((1.9..10.0).contains(&measured), "{measured}");
}

/// `plan --until-proven` names the target and the cap, and its JSON carries them.
#[test]
fn plan_shows_the_target_and_the_cap() {
    let profile = shipped_profile("qemux86-64");
    let args = |json: bool| {
        let mut a = vec![
            "plan",
            "--profile",
            profile.to_str().unwrap(),
            "--until-proven",
            "--duration",
            "5m",
        ];
        if json {
            a.push("--json");
        }
        run(&a, &[])
    };
    let out = args(false);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("idle: until 998 samples prove its claim, at most 5m"),
        "{stdout}"
    );
    let out = args(true);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["until_proven"], true);
    assert_eq!(plan["scenarios"][0]["until_samples"], 998);
    assert_eq!(plan["scenarios"][0]["duration_s"], 300.0);
    // Without the option the plan is what it always was.
    let out = run(
        &["plan", "--profile", profile.to_str().unwrap(), "--json"],
        &[],
    );
    let plain = text(&out.stdout);
    assert!(
        !plain.contains("until_proven") && !plain.contains("until_samples"),
        "{plain}"
    );
}
