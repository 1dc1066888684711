//! `audit`, `tune` and the systemd units.

mod common;

use common::*;
use std::path::Path;

/// The audit of a captured unisolated machine (not of this host: the test must hold on an
/// isolated one too).
#[test]
fn audit_of_an_unisolated_machine_breaks_the_profile() {
    let p = shipped_profile("qemux86-64");
    let sysroot = not_isolated_sysroot();
    let args = [
        "audit",
        "--profile",
        p.to_str().unwrap(),
        "--sysroot",
        sysroot.to_str().unwrap(),
    ];
    let out = run(&args, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    // Every check is listed; findings carry evidence and fix.
    assert!(
        stdout.contains("  pass ") || stdout.contains("  skip "),
        "{stdout}"
    );
    assert!(stdout.contains("  FAIL  cmdline"), "{stdout}");
    assert!(
        stdout.contains("        error: /proc/cmdline has no `isolcpus`"),
        "{stdout}"
    );
    assert!(stdout.contains("        fix: "), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with("audit: FAIL (the live system breaks the profile: apply the fixes above)")
    );

    let json = run(&[&args[..], &["--json"]].concat(), &[]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["verdict"], "FAIL");
    assert!(v["checks"].as_array().unwrap().len() >= 10);
}

/// `audit --json` prints exactly what `report.json` carries as its `audit`: the contract's
/// one type, read back with the contract's reader, and the same JSON value field for field.
#[test]
fn audit_json_is_the_audit_of_report_json() {
    let t = tempfile::tempdir().unwrap();
    let p = shipped_profile("qemux86-64");
    for (sysroot, code) in [(not_isolated_sysroot(), 1), (isolated_sysroot(), 0)] {
        let json = run(
            &[
                "audit",
                "--json",
                "--profile",
                p.to_str().unwrap(),
                "--sysroot",
                sysroot.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(json.status.code(), Some(code), "{}", text(&json.stderr));
        let printed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let typed: rros_contract::report::AuditReport =
            serde_json::from_value(printed.clone()).expect("audit --json is an AuditReport");
        assert_eq!(serde_json::to_value(&typed).unwrap(), printed);

        let out_dir = t.path().join(format!("out-{code}"));
        let run_out = run(
            &[
                "run",
                "--audit-only",
                "--profile",
                p.to_str().unwrap(),
                "--sysroot",
                sysroot.to_str().unwrap(),
                "--output-dir",
                out_dir.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(
            run_out.status.code(),
            Some(code),
            "{}",
            text(&run_out.stdout)
        );
        let (_, _, dir) = verdict_line(&run_out);
        let text = std::fs::read_to_string(Path::new(&dir).join("report.json")).unwrap();
        let report = rros_contract::Report::from_json(&text, "report.json").unwrap();
        assert_eq!(serde_json::to_value(&report.audit).unwrap(), printed);
        assert_eq!(report_json(Path::new(&dir))["audit"], printed);
    }
    // An audit that cannot read the system: the same type, with its error and verdict ERROR.
    let json = run(
        &[
            "audit",
            "--json",
            "--profile",
            p.to_str().unwrap(),
            "--sysroot",
            t.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(json.status.code(), Some(2));
    let typed: rros_contract::report::AuditReport =
        serde_json::from_slice(&json.stdout).expect("an unreadable audit is an AuditReport");
    assert_eq!(typed.verdict, rros_contract::Verdict::Error);
    assert!(
        typed
            .error
            .is_some_and(|e| e.contains("could not read the system"))
    );
}

#[test]
fn audit_of_an_isolated_system_is_clean() {
    let p = shipped_profile("qemux86-64");
    let out = run(
        &[
            "audit",
            "--profile",
            p.to_str().unwrap(),
            "--sysroot",
            isolated_sysroot().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("audit: PASS"));
}

#[test]
fn audit_that_cannot_read_is_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let p = shipped_profile("qemux86-64");
    let out = run(
        &[
            "audit",
            "--profile",
            p.to_str().unwrap(),
            "--sysroot",
            t.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("could not read the system"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "audit",
            "--profile",
            t.path().join("none.toml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--profile FILE"));
}

#[test]
fn tune_applies_to_a_copy_and_dry_run_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../rros-isolation/tests/fixtures/dev-machine-not-isolated"),
        &root,
    );
    let p = shipped_profile("qemux86-64");
    let before = snapshot(&root);
    let dry = run(
        &[
            "tune",
            "--dry-run",
            "--profile",
            p.to_str().unwrap(),
            "--sysroot",
            root.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}{}",
        text(&dry.stdout),
        text(&dry.stderr)
    );
    assert!(
        text(&dry.stdout).contains("would write")
            && text(&dry.stdout).contains("(dry run: nothing was changed)")
    );
    assert_eq!(snapshot(&root), before, "--dry-run wrote something");
    let real = run(
        &[
            "tune",
            "--profile",
            p.to_str().unwrap(),
            "--sysroot",
            root.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        real.status.code(),
        Some(0),
        "{}{}",
        text(&real.stdout),
        text(&real.stderr)
    );
    assert!(
        text(&real.stdout).contains("  written "),
        "{}",
        text(&real.stdout)
    );
    assert_ne!(snapshot(&root), before, "tune wrote nothing");
    // Applied once, nothing is left to write.
    let again = run(
        &[
            "tune",
            "--dry-run",
            "--profile",
            p.to_str().unwrap(),
            "--sysroot",
            root.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        !text(&again.stdout).contains("would write "),
        "{}",
        text(&again.stdout)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push((
                    e.path().display().to_string(),
                    std::fs::read(e.path()).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

const UNITS: [&str; 3] = [
    "rros-tune.service",
    "rros-validate.service",
    "rros-validate.timer",
];

fn unit(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("systemd")
            .join(name),
    )
    .unwrap()
}

/// `systemd-analyze verify` accepts the units (with ExecStart pointed at the built binary,
/// since verify checks that it exists), without a single warning.
#[test]
fn systemd_analyze_verifies_the_units() {
    let t = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for name in UNITS {
        let p = t.path().join(name);
        std::fs::write(&p, unit(name).replace("/usr/bin/rros-validate", BIN)).unwrap();
        paths.push(p);
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(&paths)
        .output()
        .expect("systemd-analyze is needed by this test (apt install systemd)");
    let err = text(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    assert!(
        err.trim().is_empty(),
        "systemd-analyze verify warned:\n{err}"
    );
}

#[test]
fn units_are_hardened_and_wired() {
    let v = unit("rros-validate.service");
    for line in [
        "Type=oneshot",
        "After=multi-user.target rros-tune.service",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/rros-validate",
        "CapabilityBoundingSet=CAP_SYS_NICE CAP_IPC_LOCK",
        "PrivateNetwork=yes",
        "RestrictAddressFamilies=AF_UNIX",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "LockPersonality=yes",
        "SuccessExitStatus=1 3",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            v.lines().any(|l| l == line),
            "rros-validate.service lacks `{line}`"
        );
    }
    let exec = v
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    assert!(
        exec.contains(" run --quiet "),
        "one line to the journal: {exec}"
    );
    let tune = unit("rros-tune.service");
    assert!(
        tune.lines().any(|l| l
            == "Before=sysinit.target shutdown.target rros-validate.service irqbalance.service")
    );
    assert!(
        tune.lines().any(|l| l == "NoNewPrivileges=yes")
            && tune.lines().any(|l| l == "Type=oneshot")
    );
    let timer = unit("rros-validate.timer");
    assert!(timer.lines().any(|l| l == "Unit=rros-validate.service"));
    // No listening socket anywhere: no socket units, no Listen*= lines.
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".socket"), "{name}");
        assert!(
            !std::fs::read_to_string(e.path())
                .unwrap()
                .contains("Listen"),
            "{name}"
        );
    }
    // The ExecStart command lines parse with this binary's CLI.
    for u in ["rros-validate.service", "rros-tune.service"] {
        let exec = unit(u)
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/rros-validate "))
            .unwrap()
            .to_owned();
        let mut args: Vec<&str> = exec.split(' ').collect();
        args.insert(1, "--help");
        let out = run(&args, &[]);
        assert!(
            out.status.success(),
            "{u}: `{exec}` does not parse: {}",
            text(&out.stderr)
        );
    }
    // The settle before the boot-time run: run as the unit runs it, with the unit's own
    // RROS_VALIDATE_SETTLE (plain seconds), and a zero quiet window so it ends at once.
    let v = unit("rros-validate.service");
    let settle_cap = v
        .lines()
        .find_map(|l| l.strip_prefix("Environment=RROS_VALIDATE_SETTLE="))
        .unwrap();
    let pre = v
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre=/usr/bin/rros-validate "))
        .expect("the unit settles with rros-validate before measuring")
        .replace("${RROS_VALIDATE_SETTLE}", settle_cap);
    let mut args: Vec<&str> = pre.split(' ').collect();
    args.extend(["--quiet-for", "0s"]);
    let out = run(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "`{pre}`: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("rros-validate: settled after"),
        "{}",
        text(&out.stdout)
    );
}

/// `plan --json` states the steps `run` would execute (the same planning code), read with the
/// contract's type, and its timeout is the contract's one formula.
#[test]
fn plan_json_states_the_run_steps() {
    let p = shipped_profile("qemux86-64");
    let out = run(
        &[
            "plan",
            "--json",
            "--profile",
            p.to_str().unwrap(),
            "--duration",
            "5s",
            "--scenario",
            "hackbench",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: rros_contract::plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    let steps: Vec<_> = plan
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.duration_s, s.load))
        .collect();
    assert_eq!(steps, [("hackbench", 5.0, true)]);
    assert_eq!(
        plan.timeout_s,
        rros_contract::plan::timeout_s(&[5.0], plan.warmup_s, plan.load_grace_s)
    );
    let unknown = run(
        &[
            "plan",
            "--profile",
            p.to_str().unwrap(),
            "--scenario",
            "nope",
        ],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no scenario `nope`"));
}

/// On a board the profile is installed as `/etc/rros/board.toml`: `plan` reads it there as
/// `run` does (the file-name rule is for the checkout's board directory only).
#[test]
fn plan_reads_the_profile_installed_as_board_toml() {
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("board.toml");
    std::fs::copy(shipped_profile("qemux86-64"), &installed).unwrap();
    let out = run(&["plan", "--profile", installed.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("board qemux86-64"),
        "{}",
        text(&out.stdout)
    );
}

/// `report --format verdict` prints the verdict alone, for scripts (the vboard tier): of the
/// golden reports, and with `--from-output` of every golden verdict line, read by the
/// contract's parser (a journal's noise around it; a broken line is no verdict, exit 2).
#[test]
fn report_format_verdict_reads_golden_reports_and_verdict_lines() {
    let golden = project_root().join("crates/on-target/rros-contract/golden");
    for (file, want) in [
        ("pass.json", "PASS"),
        ("fail.json", "FAIL"),
        ("error.json", "ERROR"),
    ] {
        let path = golden.join(file);
        let out = run(
            &["report", "--format", "verdict", path.to_str().unwrap()],
            &[],
        );
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("{want}\n"), "{file}");
    }
    let cases = std::fs::read_to_string(golden.join("verdict-lines.txt")).unwrap();
    let lines: Vec<&str> = cases.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.len() >= 6, "{cases}");
    let dir = tempfile::tempdir().unwrap();
    for pair in lines.chunks(2) {
        let line = pair[0]
            .strip_prefix('|')
            .and_then(|l| l.strip_suffix('|'))
            .unwrap();
        let want = pair[1].strip_prefix("=> ").unwrap();
        let journal = dir.path().join("journal.txt");
        std::fs::write(
            &journal,
            format!("Started rros-validate.service\nrros-validate: measuring\n{line}\nrros-validate.service: Deactivated successfully.\n"),
        )
        .unwrap();
        let out = run(
            &[
                "report",
                "--format",
                "verdict",
                "--from-output",
                journal.to_str().unwrap(),
            ],
            &[],
        );
        if want == "reject" {
            assert_eq!(
                out.status.code(),
                Some(2),
                "{line:?} was read as a verdict line"
            );
            assert!(text(&out.stderr).contains("no verdict line"), "{line:?}");
        } else {
            let verdict = want.split('\t').next().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{line:?}: {}",
                text(&out.stderr)
            );
            assert_eq!(text(&out.stdout), format!("{verdict}\n"), "{line:?}");
        }
    }
}
