//! The golden set: one PASS, one FAIL and one ERROR report (with the load proof), built from
//! the contract's types and checked in under `golden/`, with their LAVA lines and the verdict
//! lines every parser must agree on. Every consumer's tests read them: this crate's, the OEQA
//! case's (tests/layer/test_rros_latency.py), LAVA's reporter's (tests/lava/run) and `rros
//! accept`'s.
//!
//! A test fails when the checked-in set differs from what the types produce now; regenerate
//! with `RROS_REGENERATE_GOLDEN=1 cargo test -p rros-contract --test golden`, and review the
//! diff: a changed field is a contract change (see `report` for versioning).

use rros_contract::report::*;
use rros_contract::{Claim, ClaimReport, ContractError, VerdictLine, render};
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn check(rule: &str, title: &str, outcome: Outcome, findings: Vec<Finding>) -> CheckReport {
    CheckReport {
        rule: rule.into(),
        title: title.into(),
        outcome,
        reason: (outcome == Outcome::Skipped).then(|| "no cpufreq in this system".to_string()),
        findings,
    }
}

fn percentiles(p50: f64, p99: f64) -> Percentiles {
    Percentiles {
        p50_us: Some(p50),
        p99_us: Some(p99),
        p99_9_us: Some(p99 + 2.0),
        p99_99_us: Some(p99 + 5.0),
    }
}

fn scenario(name: &str, load: Option<LoadReport>, samples: u64, max_us: f64) -> ScenarioReport {
    let mut s = ScenarioReport {
        name: name.into(),
        description: format!("{name} scenario"),
        verdict: Verdict::Pass,
        reasons: vec![],
        measured: true,
        load,
        backend: "posix".into(),
        cpus: "1".into(),
        duration_s: 5.0,
        measured_s: 5.0,
        interval_us: 1000,
        min_samples: 1000,
        priority: 90,
        samples,
        overruns: 0,
        min_us: Some(2.5),
        avg_us: Some(4.0),
        max_us: Some(max_us),
        percentiles: percentiles(4.0, 9.0),
        threshold: Threshold {
            max_us: 100.0,
            p99_us: Some(50.0),
        },
        margin_us: Some(100.0 - max_us),
        bound: Some(Bound {
            confidence: 0.95,
            samples,
            exceedances: 0,
            exceedances_at_least: false,
            probability_upper: 0.0006,
            rule_of_three: 3.0 / samples.max(1) as f64,
            mean_seconds_between_exceedances_lower: 1.67,
            statement: format!(
                "with 95 % confidence, P(latency > 100 µs) ≤ 6.0e-4 per sample ({samples} samples, none above)"
            ),
        }),
        claim: None,
        stopped: None,
        evt: None,
        pm_qos: Some("/dev/cpu_dma_latency held at 0".into()),
        per_cpu: vec![CpuReport {
            cpu: 1,
            rt_tests_thread: 0,
            samples,
            overruns: 0,
            min_us: Some(2.5),
            avg_us: Some(4.0),
            max_us: Some(max_us),
            percentiles: percentiles(4.0, 9.0),
            histogram: Histogram {
                bucket_width_us: 1.0,
                range_us: 1000.0,
                overflow: 0,
                bins: vec![
                    (2.0, samples / 2),
                    (4.0, samples - samples / 2 - 1),
                    (max_us.floor(), 1),
                ],
            },
        }],
        warnings: vec![],
        analysis: None,
    };
    if s.max_us.is_none() {
        s.margin_us = None;
    }
    s
}

fn hackbench() -> LoadReport {
    LoadReport {
        command: "hackbench -l 100000".into(),
        pgid: Some(4242),
        cpus: "0".into(),
        exited_early: false,
        status: None,
        log: Some("load-hackbench.log".into()),
        nice: 10,
        cpu_s: Some(4.6),
        cpu_share: Some(0.92),
        program_cpu_s: Some(4.4),
        programs: vec!["hackbench".into()],
    }
}

fn base(verdict_name: &str) -> Report {
    let warn = Finding {
        rule: "cpuidle".into(),
        severity: Severity::Warning,
        evidence: "/sys/devices/system/cpu/cpu1/cpuidle/state2/disable reads 0".into(),
        fix: "rros-validate holds /dev/cpu_dma_latency at 0 during a run".into(),
    };
    Report {
        schema: SCHEMA.into(),
        run_id: format!("20260101T00000{}Z-qemux86-64", verdict_name.len()),
        verdict: Verdict::Pass,
        summary: String::new(),
        interrupted: false,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:20Z".into(),
        tool: Tool {
            name: "rros-validate".into(),
            version: "0.1.0".into(),
        },
        host: Host {
            hostname: "qemux86-64".into(),
            kernel_release: "6.12.0-rros".into(),
            kernel_version: "#1 SMP PREEMPT".into(),
            machine: "x86_64".into(),
            preempt_rt: false,
            cmdline: "isolcpus=1 nohz_full=1 rcu_nocbs=1".into(),
            core: None,
            kernel_config_sha256: Some(
                "5d2f0c8a9e7b31f4c6a2d9e0b8f7c1a3e5d4b6a7c8e9f0a1b2c3d4e5f6a7b8c9".into(),
            ),
        },
        profile: ProfileRef {
            path: "/etc/rros/board.toml".into(),
            sha256: Some("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0".into()),
        },
        board: Some(BoardInfo {
            name: "qemux86-64".into(),
            description: "QEMU x86-64 (virtual board)".into(),
            machine: "qemux86-64".into(),
            arch: "x86_64".into(),
            flavour: "evl".into(),
            cpus: BoardCpus {
                count: 2,
                housekeeping: "0".into(),
                isolated: "1".into(),
                oob: "1".into(),
                measured: "1".into(),
            },
        }),
        options: RunOptions {
            duration_override_s: Some(5.0),
            scenarios: vec![],
            backend: "auto".into(),
            audit_only: false,
            evt_probability: None,
        },
        audit: AuditReport {
            verdict: Verdict::Pass,
            kernel: Some("6.12.0-rros (real-time core: evl; /dev/evl present)".into()),
            checks: vec![
                check("isolated-cpus", "isolated CPUs", Outcome::Pass, vec![]),
                check("nohz-full", "nohz_full CPUs", Outcome::Pass, vec![]),
                check(
                    "cpufreq-governor",
                    "cpufreq governor",
                    Outcome::Skipped,
                    vec![],
                ),
                check(
                    "cpuidle",
                    "cpuidle states",
                    Outcome::Finding,
                    vec![warn.clone()],
                ),
            ],
            findings: vec![warn],
            error: None,
        },
        scenarios: vec![
            scenario("idle", None, 5000, 12.5),
            scenario("hackbench load", Some(hackbench()), 5000, 48.0),
        ],
        errors: vec![],
        warnings: vec![],
    }
}

fn pass() -> Report {
    let mut r = base("pass");
    for s in &mut r.scenarios {
        s.judge();
    }
    r.decide();
    r
}

fn fail() -> Report {
    let mut r = base("fail");
    let broken = Finding {
        rule: "nohz-full".into(),
        severity: Severity::Error,
        evidence: "/sys/devices/system/cpu/nohz_full reads (null), the profile wants 1".into(),
        fix: "boot with nohz_full=1 (rros board render writes it into the image)".into(),
    };
    r.audit.checks[1].outcome = Outcome::Finding;
    r.audit.checks[1].findings = vec![broken.clone()];
    r.audit.findings.insert(0, broken);
    r.audit.verdict = Verdict::Fail;
    r.scenarios[1].max_us = Some(812.3);
    r.scenarios[1].margin_us = Some(100.0 - 812.3);
    for s in &mut r.scenarios {
        s.judge();
    }
    r.decide();
    r
}

/// Within budget, but the idle scenario's claim (1e-4 at 95 %) needs 29 956 samples and it
/// took 5000 before `--until-proven`'s cap (its 5 s): INCONCLUSIVE, never PASS.
fn inconclusive() -> Report {
    let mut r = base("inconclusive");
    r.run_id = "20260101T000009Z-qemux86-64".into();
    r.scenarios[0].claim = Some(ClaimReport::unjudged(Claim {
        exceedance: 1e-4,
        confidence: 0.95,
    }));
    r.scenarios[0].stopped = Some(Stopped {
        reason: StopReason::Cap,
        until_proven: true,
        samples: 5000,
        after_s: 5.0,
    });
    for s in &mut r.scenarios {
        s.judge();
    }
    r.decide();
    r
}

fn error() -> Report {
    let mut r = base("error");
    // The load did no work: the load proof refuses the scenario.
    let s = &mut r.scenarios[1];
    let load = s.load.as_mut().unwrap();
    load.cpu_s = Some(0.0);
    load.cpu_share = Some(0.0);
    load.program_cpu_s = Some(0.0);
    load.programs = vec![];
    load.exited_early = true;
    load.status = Some("exit status 127".into());
    s.verdict = Verdict::Error;
    s.reasons.push("the load did no work: it used 0.0 s of CPU (below 1 % of one CPU); its log load-hackbench.log says why (a missing tool?)".into());
    for s in &mut r.scenarios {
        s.judge();
    }
    r.decide();
    r
}

/// Verdict lines, and what every parser must make of them (`reject` = not a verdict line).
/// (verdict, run, dir) as a parser must read them; `None`: not a verdict line.
type Parsed = Option<(&'static str, &'static str, &'static str)>;

const VERDICT_LINES: &[(&str, Parsed)] = &[
    (
        "rros-validate: verdict=PASS run=20260101T000000Z-rpi4 dir=/var/lib/rros-validate/20260101T000000Z-rpi4",
        Some((
            "PASS",
            "20260101T000000Z-rpi4",
            "/var/lib/rros-validate/20260101T000000Z-rpi4",
        )),
    ),
    (
        "rros-validate: verdict=FAIL run=20260101T000000Z-rpi4 dir=/mnt/my runs/20260101T000000Z-rpi4",
        Some((
            "FAIL",
            "20260101T000000Z-rpi4",
            "/mnt/my runs/20260101T000000Z-rpi4",
        )),
    ),
    (
        "rros-validate: verdict=INCONCLUSIVE run=20260101T000000Z-nuc dir=/var/lib/rros-validate/20260101T000000Z-nuc",
        Some((
            "INCONCLUSIVE",
            "20260101T000000Z-nuc",
            "/var/lib/rros-validate/20260101T000000Z-nuc",
        )),
    ),
    ("rros-validate: verdict=inconclusive run=x dir=/r/x", None),
    (
        "  rros-validate: verdict=ERROR run=- dir=-  ",
        Some(("ERROR", "-", "-")),
    ),
    ("rros-validate: verdict=MAYBE run=x dir=/r/x", None),
    ("rros-validate: verdict=PASS run=x dir=", None),
    ("rros-validate: verdict=PASS run=- dir=/r/x", None),
    ("rros-validate: verdict=PASS run=x dir=-", None),
    ("rros-validate: verdict=PASS run=x dir=/r/y", None),
    ("rros-validate: verdict=PASS run=a b dir=/r/a b", None),
    ("rros-validate: verdict=PASS dir=/r/x run=x", None),
    ("note: rros-validate: verdict=PASS run=x dir=/r/x", None),
];

fn verdict_lines_text() -> String {
    let mut s = String::from(
        "# Verdict lines and what every parser must make of them (generated by crates/on-target/rros-contract/tests/golden.rs).\n\
         # Each case is two lines: the line itself (between the first and last `|`), then\n\
         # `=> VERDICT<TAB>RUN<TAB>DIR` or `=> reject`.\n",
    );
    for (line, want) in VERDICT_LINES {
        s += &format!("|{line}|\n");
        match want {
            Some((v, r, d)) => s += &format!("=> {v}\t{r}\t{d}\n"),
            None => s += "=> reject\n",
        }
    }
    s
}

fn expected_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for (name, report) in [
        ("pass", pass()),
        ("inconclusive", inconclusive()),
        ("fail", fail()),
        ("error", error()),
    ] {
        files.push((format!("{name}.json"), report.to_json()));
        files.push((format!("{name}.lava"), render::lava::render(&report)));
    }
    files.push(("verdict-lines.txt".into(), verdict_lines_text()));
    files
}

#[test]
fn golden_set_is_current() {
    let dir = golden_dir();
    let regenerate = std::env::var_os("RROS_REGENERATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for (name, text) in expected_files() {
        let path = dir.join(&name);
        if regenerate {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "golden files are stale: {stale:?}; regenerate with RROS_REGENERATE_GOLDEN=1 cargo test -p rros-contract --test golden and review the diff"
    );
}

#[test]
fn golden_verdicts_are_what_the_rules_decide() {
    assert_eq!(pass().verdict, Verdict::Pass);
    assert_eq!(fail().verdict, Verdict::Fail);
    let inconclusive = inconclusive();
    assert_eq!(inconclusive.verdict, Verdict::Inconclusive);
    assert_eq!(inconclusive.verdict.exit_code(), 3);
    let claim = inconclusive.scenarios[0].claim.as_ref().unwrap();
    assert_eq!((claim.samples_needed, claim.more_samples), (29_956, 24_956));
    assert!(inconclusive.errors.is_empty());
    assert_eq!(error().verdict, Verdict::Error);
    assert!(
        error()
            .errors
            .iter()
            .any(|e| e.scope == "scenario:hackbench load")
    );
}

#[test]
fn golden_reports_read_back_and_follow_the_schema() {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    for name in ["pass", "fail", "error"] {
        let path = golden_dir().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap();
        let report = Report::from_json(&text, name).unwrap();
        assert_eq!(
            report.to_json(),
            text,
            "{name}: a round trip changes nothing"
        );
        // An independent reader: Python's jsonschema, Draft 2020-12.
        let out = Command::new("python3")
            .args([
                "-c",
                "import json, sys, jsonschema\n\
                 schema = json.load(open(sys.argv[1]))\n\
                 jsonschema.Draft202012Validator.check_schema(schema)\n\
                 jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))",
            ])
            .arg(&schema)
            .arg(&path)
            .output()
            .expect(
                "python3 is needed to check the schema (apt install python3 python3-jsonschema)",
            );
        assert!(
            out.status.success(),
            "{name}.json against the schema (pip install jsonschema if missing): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn reading_is_tolerant_of_additions_and_strict_on_decisions() {
    let text = std::fs::read_to_string(golden_dir().join("pass.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["a_field_from_the_future"] = serde_json::json!({"x": 1});
    v["scenarios"][0]["another"] = serde_json::json!(true);
    let r = Report::from_json(&v.to_string(), "added").unwrap();
    assert_eq!(r.verdict, Verdict::Pass);

    let refuse = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        edit(&mut v);
        Report::from_json(&v.to_string(), "edited").unwrap_err()
    };
    let obj = |v: &mut serde_json::Value, key: &str| {
        v.as_object_mut().unwrap().remove(key);
    };
    refuse(&|v| obj(v, "verdict"));
    refuse(&|v| obj(v, "errors"));
    refuse(&|v| obj(&mut v["scenarios"][0], "samples"));
    refuse(&|v| obj(&mut v["scenarios"][0], "min_samples"));
    refuse(&|v| obj(&mut v["scenarios"][1]["load"], "cpu_share"));
    refuse(&|v| obj(&mut v["scenarios"][1]["load"], "programs"));
    refuse(&|v| v["verdict"] = "OK".into());
    refuse(&|v| v["audit"]["findings"][0]["severity"] = "note".into());
    match refuse(&|v| v["schema"] = "rros-validate/2".into()) {
        ContractError::Schema { found, .. } => assert_eq!(found, "rros-validate/2"),
        e => panic!("{e}"),
    }
}

#[test]
fn verdict_line_parser_agrees_with_the_golden_lines() {
    for (line, want) in VERDICT_LINES {
        let got = VerdictLine::parse(line).ok().map(|l| {
            (
                l.verdict.to_string(),
                l.run.unwrap_or_else(|| "-".into()),
                l.dir.unwrap_or_else(|| "-".into()),
            )
        });
        let want = want.map(|(v, r, d)| (v.to_string(), r.to_string(), d.to_string()));
        assert_eq!(got, want, "{line:?}");
        if let Ok(l) = VerdictLine::parse(line) {
            assert_eq!(VerdictLine::parse(&l.to_string()).unwrap(), l, "round trip");
        }
    }
}

#[test]
fn lava_lines_map_the_cases() {
    let lava = render::lava::render(&fail());
    assert!(lava.starts_with("# verdict FAIL\n"), "{lava}");
    assert!(
        lava.contains("lava-test-case nohz-full --result fail\n"),
        "{lava}"
    );
    assert!(
        lava.contains("lava-test-case cpuidle --result pass\n"),
        "warnings keep the rule passing: {lava}"
    );
    assert!(lava.contains("lava-test-case cpufreq-governor --result skip\n"));
    assert!(
        lava.contains(
            "lava-test-case hackbench_load --result fail --measurement 812.3 --units us\n"
        ),
        "{lava}"
    );
    assert!(lava.ends_with("lava-test-case rros-validate --result fail\n"));
    let lava = render::lava::render(&error());
    assert!(
        lava.contains("# error (scenario:hackbench load): the load did no work"),
        "{lava}"
    );
    assert!(
        lava.contains(
            "lava-test-case rros-validate-errors --result fail --measurement 1 --units errors\n"
        ),
        "{lava}"
    );
    let junit = render::junit::render(&fail()).unwrap();
    assert!(junit.contains("nohz-full: nohz_full CPUs"), "{junit}");
}

/// Issue #16: a FAIL shows its top causes in the text and Markdown views and the JUnit
/// message; a PASS with a thin margin shows them as a warning; the section follows the
/// schema. The golden set carries no analysis (it is optional): old reports stay valid.
#[test]
fn the_analysis_shows_for_a_fail_and_a_thin_pass() {
    use rros_contract::analysis::*;
    let analysis = |label| Analysis {
        label,
        causes: vec![
            Cause {
                rule: "device-irq".into(),
                confidence: Confidence::High,
                evidence: "IRQ 45 (eth0) fired 812 time(s) on CPU 1 during the run".into(),
                fix: "echo 0 > /proc/irq/45/smp_affinity_list".into(),
            },
            Cause {
                rule: "ipi".into(),
                confidence: Confidence::Informational,
                evidence: "LOC (Local timer interrupts) ×5000 on CPU 1".into(),
                fix: "-".into(),
            },
        ],
        worst: vec![WorstSample {
            cpu: 1,
            latency_us: 812.3,
            at_s: 3.2,
            interval: "IRQ 45 (eth0) ×9".into(),
        }],
        unchecked: vec![],
    };
    let mut failed = fail();
    let name = failed.scenarios[1].name.clone();
    failed.scenarios[1].analysis = Some(analysis(AnalysisLabel::Failure));
    let text = render::text::render(&failed, "/x");
    assert!(
        text.contains(&format!("  {name}: why it failed, most likely first:\n    [high] IRQ 45 (eth0) fired 812 time(s) on CPU 1 during the run\n      fix: echo 0 > /proc/irq/45/smp_affinity_list\n")),
        "{text}"
    );
    assert!(
        !text.contains("LOC"),
        "informational causes are not shown: {text}"
    );
    let md = render::markdown::render(&failed);
    assert!(md.contains("  - *high*: IRQ 45 (eth0) fired 812"), "{md}");
    let junit = render::junit::render(&failed).unwrap();
    assert!(
        junit.contains("likely cause (high): IRQ 45 (eth0) fired 812 time(s) on CPU 1"),
        "{junit}"
    );

    let mut thin = pass();
    thin.scenarios[0].max_us = Some(85.0);
    thin.scenarios[0].analysis = Some(analysis(AnalysisLabel::Warning));
    let text = render::text::render(&thin, "/x");
    assert!(
        text.contains("warning: thin margin, max 85.0 µs is above 80 % of the 100 µs budget, most likely first:"),
        "{text}"
    );
    let mut record = pass();
    record.scenarios[0].analysis = Some(analysis(AnalysisLabel::Record));
    assert!(!render::text::render(&record, "/x").contains("IRQ 45"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(&path, failed.to_json()).unwrap();
    let back = Report::from_json(&failed.to_json(), "analysis").unwrap();
    assert_eq!(back.scenarios[1].analysis, failed.scenarios[1].analysis);
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/report.schema.json");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2])))",
        ])
        .arg(&schema)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
