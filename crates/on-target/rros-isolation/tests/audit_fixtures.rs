//! The audit on whole fixtures: a real non-isolated machine, a correctly isolated PREEMPT_RT
//! system, a RROS board and an EVL board (see tests/fixtures/README.md for where each comes from).

mod common;

use common::{Scratch, audit, board, dump, fixture, rules_with_findings};
use rros_isolation::{Outcome, RULES, RealtimeCore, Severity, SysrootError};

fn statuses(audit: &rros_isolation::Audit) -> Vec<(&'static str, &'static str)> {
    audit
        .checks
        .iter()
        .map(|c| {
            let status = match c.outcome {
                Outcome::Pass => "pass",
                Outcome::Findings { .. } => "findings",
                Outcome::Skipped { .. } => "skipped",
            };
            (c.rule, status)
        })
        .collect()
}

#[test]
fn every_rule_is_reported_in_order_with_unique_ids() {
    let audit = audit(&board("qemux86-64"), "qemux86-64-isolated");
    let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let reported: Vec<&str> = audit.checks.iter().map(|c| c.rule).collect();
    assert_eq!(reported, ids);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    for rule in RULES {
        assert!(
            rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{} is not kebab-case",
            rule.id
        );
    }
}

#[test]
fn correctly_isolated_preempt_rt_system_has_no_findings() {
    let audit = audit(&board("qemux86-64"), "qemux86-64-isolated");
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
    assert!(!audit.breaks_profile());
    assert_eq!(audit.kernel.realtime_core, RealtimeCore::PreemptRt);
    assert_eq!(audit.kernel.release, "6.18.44-fc-v669");
    assert_eq!(audit.kernel.online_cpus, "0-1");
    assert_eq!(
        statuses(&audit),
        [
            ("realtime-core", "pass"),
            ("oob-cpus", "skipped"),
            ("cmdline", "pass"),
            ("isolated-cpus", "pass"),
            ("nohz-full", "pass"),
            ("smt-siblings", "pass"),
            ("irq-affinity", "pass"),
            ("default-irq-affinity", "pass"),
            ("irqbalance", "pass"),
            ("workqueue-cpumask", "pass"),
            ("timer-migration", "pass"),
            ("rt-throttling", "pass"),
            ("fair-server", "skipped"),
            ("cpufreq-governor", "skipped"),
            ("cpuidle", "pass"),
        ]
    );
    let Outcome::Skipped { reason } = &audit.check("cpufreq-governor").unwrap().outcome else {
        unreachable!()
    };
    assert!(reason.contains("no cpufreq driver"), "{reason}");
    let Outcome::Skipped { reason } = &audit.check("fair-server").unwrap().outcome else {
        unreachable!()
    };
    assert!(reason.contains("debugfs is not mounted"), "{reason}");
}

#[test]
fn real_non_isolated_machine_breaks_the_profile_where_expected() {
    let audit = audit(&board("qemux86-64"), "dev-machine-not-isolated");
    assert!(audit.breaks_profile());
    assert_eq!(audit.kernel.realtime_core, RealtimeCore::None);
    assert_eq!(
        rules_with_findings(&audit),
        [
            "realtime-core",
            "cmdline",
            "isolated-cpus",
            "nohz-full",
            "irq-affinity",
            "default-irq-affinity",
            "workqueue-cpumask",
            "timer-migration",
            "rt-throttling",
        ],
        "{}",
        dump(&audit)
    );
    assert!(audit.findings().all(|f| f.severity == Severity::Error));

    // Every rendered parameter is missing; nothing after `--` (init's arguments) counts.
    let cmdline: Vec<&str> = audit
        .check("cmdline")
        .unwrap()
        .findings()
        .iter()
        .map(|f| f.evidence.as_str())
        .collect();
    assert_eq!(
        cmdline,
        [
            "/proc/cmdline has no `isolcpus`",
            "/proc/cmdline has no `nohz_full`",
            "/proc/cmdline has no `rcu_nocbs`",
            "/proc/cmdline has no `irqaffinity`",
            "/proc/cmdline has no `skew_tick`",
            "/proc/cmdline has no `nosoftlockup`",
            "/proc/cmdline has no `nowatchdog`",
            "/proc/cmdline has no `nmi_watchdog`",
            "/proc/cmdline has no `rcupdate.rcu_expedited`",
        ]
    );

    // Exactly the IRQs whose effective affinity is the would-be isolated CPU 1.
    let irq_fixes: Vec<&str> = audit
        .check("irq-affinity")
        .unwrap()
        .findings()
        .iter()
        .map(|f| f.fix.split(" (").next().unwrap())
        .collect();
    let expected: Vec<String> = [25, 26, 29, 31, 33, 35, 36, 38, 40, 42]
        .iter()
        .map(|irq| format!("echo 0 > /proc/irq/{irq}/smp_affinity_list"))
        .collect();
    assert_eq!(irq_fixes, expected);
    let first = &audit.check("irq-affinity").unwrap().findings()[0];
    assert_eq!(
        first.evidence,
        "IRQ 25 (IO-APIC 6-edge ACPI:Ged) is served by isolated CPU 1: /proc/irq/25/effective_affinity_list = 1 (smp_affinity_list = 0-1)"
    );

    let one = |rule: &str| {
        let findings = audit.check(rule).unwrap().findings();
        assert_eq!(findings.len(), 1, "{rule}: {findings:?}");
        findings[0].clone()
    };
    assert_eq!(
        one("isolated-cpus").evidence,
        "/sys/devices/system/cpu/isolated = (empty), the profile isolates 1"
    );
    assert_eq!(
        one("nohz-full").evidence,
        "/sys/devices/system/cpu/nohz_full does not exist: the kernel is built without CONFIG_NO_HZ_FULL"
    );
    assert_eq!(
        one("default-irq-affinity").fix,
        "echo 1 > /proc/irq/default_smp_affinity (at boot `irqaffinity=0` on the kernel command line sets it)"
    );
    assert!(
        one("timer-migration")
            .fix
            .starts_with("sysctl -w kernel.timer_migration=0;")
    );
    assert!(
        one("rt-throttling")
            .fix
            .starts_with("sysctl -w kernel.sched_rt_runtime_us=-1;")
    );
    assert!(
        one("realtime-core")
            .evidence
            .starts_with("the running kernel 6.18.44-fc-v669 has real-time core `none`")
    );
}

#[test]
fn rros_board_is_clean_and_per_cpu_irqs_are_exempt() {
    // arch_timer and arm-pmu are GIC PPIs whose mask names every CPU; IRQ 3 has no handler.
    let audit = audit(&board("qemuarm64"), "qemuarm64-rros");
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
    assert_eq!(audit.kernel.realtime_core, RealtimeCore::Rros);
    assert_eq!(audit.kernel.realtime_evidence, "/dev/rros/control exists");
    let Outcome::Skipped { reason } = &audit.check("fair-server").unwrap().outcome else {
        panic!("fair-server should be skipped on 5.13")
    };
    assert!(
        reason.contains("predates the fair deadline server"),
        "{reason}"
    );
    assert!(matches!(
        audit.check("oob-cpus").unwrap().outcome,
        Outcome::Skipped { .. }
    ));
    assert!(matches!(
        audit.check("cpuidle").unwrap().outcome,
        Outcome::Skipped { .. }
    ));
}

#[test]
fn evl_board_is_clean() {
    let audit = audit(&board("nuc"), "nuc-evl");
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
    assert_eq!(audit.kernel.realtime_core, RealtimeCore::Evl);
    // Everything that can be checked is checked: nothing skipped but what needs no check.
    let skipped: Vec<&str> = audit
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
        .map(|c| c.rule)
        .collect();
    assert_eq!(skipped, Vec::<&str>::new());
}

#[test]
fn wrong_realtime_core_is_one_finding() {
    // A RROS profile on a board whose kernel has no RROS.
    let scratch = Scratch::of("qemuarm64-rros");
    scratch.remove("dev/rros/control");
    let audit = scratch.audit(&board("qemuarm64"));
    common::assert_only(
        &audit,
        &rros_isolation::Finding {
            rule: "realtime-core".into(),
            severity: Severity::Error,
            evidence: "the running kernel 5.13.19-rros has real-time core `none` (no /dev/rros/control or /sys/devices/virtual/rros/control, no /dev/evl/control or /sys/devices/virtual/evl, no /sys/kernel/realtime = 1, no PREEMPT_RT in /proc/version); the profile's flavour is `rros`".into(),
            fix: "boot the Dovetail + RROS kernel of meta-rros (linux-rros, CONFIG_Rros=y); it creates /dev/rros/control".into(),
        },
    );
    // The EVL profile on the RROS fixture: the core is there, but the wrong one.
    let mut evl = board("qemuarm64");
    evl.flavour = rros_board::Flavour::Evl;
    let audit = rros_isolation::audit(&evl, &fixture("qemuarm64-rros")).unwrap();
    let finding = &audit.check("realtime-core").unwrap().findings()[0];
    assert!(
        finding
            .evidence
            .contains("real-time core `rros` (/dev/rros/control exists)"),
        "{}",
        finding.evidence
    );
}

#[test]
fn unreadable_essentials_are_errors_not_findings() {
    for (rel, what) in [
        ("proc/cmdline", "proc/cmdline"),
        ("proc/version", "proc/version"),
        ("sys/devices/system/cpu/isolated", "isolated"),
        ("proc/interrupts", "proc/interrupts"),
    ] {
        let scratch = Scratch::of("qemux86-64-isolated");
        scratch.remove(rel);
        let err = rros_isolation::audit(&board("qemux86-64"), &scratch.root).unwrap_err();
        assert!(matches!(err, SysrootError::Read { .. }), "{rel}: {err:?}");
        assert!(err.to_string().contains(what), "{err}");
    }
    let scratch = Scratch::of("qemux86-64-isolated");
    scratch.write("sys/devices/system/cpu/isolated", "1-x\n");
    let err = rros_isolation::audit(&board("qemux86-64"), &scratch.root).unwrap_err();
    assert!(matches!(err, SysrootError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("\"1-x\""), "{err}");

    let missing = std::env::temp_dir().join("rros-isolation-no-such-sysroot");
    assert!(rros_isolation::audit(&board("qemux86-64"), &missing).is_err());
}

#[test]
fn json_has_flat_findings_and_every_check() {
    let audit = audit(&board("qemux86-64"), "dev-machine-not-isolated");
    let json = serde_json::to_value(&audit).unwrap();
    assert_eq!(json["board"], "qemux86-64");
    assert_eq!(json["breaks_profile"], true);
    assert_eq!(json["kernel"]["realtime_core"], "none");
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), audit.findings().count());
    for finding in findings {
        let keys: Vec<&str> = finding
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["evidence", "fix", "rule", "severity"]);
        assert!(["error", "warning"].contains(&finding["severity"].as_str().unwrap()));
    }
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), RULES.len());
    assert_eq!(checks[0]["rule"], "realtime-core");
    assert_eq!(checks[0]["outcome"]["status"], "findings");
    assert_eq!(checks[1]["outcome"]["status"], "skipped");
    assert!(checks[1]["outcome"]["reason"].is_string());
    assert_eq!(
        checks[5]["outcome"],
        serde_json::json!({ "status": "pass" })
    );

    let clean =
        serde_json::to_value(common::audit(&board("qemux86-64"), "qemux86-64-isolated")).unwrap();
    assert_eq!(clean["breaks_profile"], false);
    assert_eq!(clean["findings"], serde_json::json!([]));
}

#[test]
fn findings_display_with_severity_rule_and_fix() {
    let audit = audit(&board("qemux86-64"), "dev-machine-not-isolated");
    let text = audit.check("workqueue-cpumask").unwrap().findings()[0].to_string();
    assert_eq!(
        text,
        "error[workqueue-cpumask] /sys/devices/virtual/workqueue/cpumask = 3 (CPUs 0-1) includes isolated CPU 1: unbound kernel work runs there\n    fix: echo 1 > /sys/devices/virtual/workqueue/cpumask (rros-validate tune does this at boot)"
    );
}
