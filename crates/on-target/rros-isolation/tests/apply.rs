//! The runtime tuning on scratch copies of the fixtures: what it writes, what it leaves, and
//! that the rules it owns turn clean afterwards.

mod common;

use common::{Scratch, board, dump, rules_with_findings};
use rros_isolation::{Action, ActionOutcome, Outcome, apply};

/// What the kernel does after a write to `smp_affinity_list`: the IRQ moves, so its effective
/// affinity becomes (one CPU of) the new mask. A plain file tree needs this done by hand.
fn kernel_moves_irqs(scratch: &Scratch) {
    for entry in std::fs::read_dir(scratch.root.join("proc/irq")).unwrap() {
        let dir = entry.unwrap().path();
        let (mask, effective) = (
            dir.join("smp_affinity_list"),
            dir.join("effective_affinity_list"),
        );
        if !mask.exists() || !effective.exists() {
            continue;
        }
        let first = std::fs::read_to_string(&mask)
            .unwrap()
            .trim()
            .split([',', '-'])
            .next()
            .unwrap()
            .to_owned();
        let current = std::fs::read_to_string(&effective).unwrap();
        if !current.trim().is_empty() {
            std::fs::write(&effective, format!("{first}\n")).unwrap();
        }
    }
}

fn find<'a>(actions: &'a [Action], what: &str) -> &'a Action {
    actions
        .iter()
        .find(|a| a.what.starts_with(what))
        .unwrap_or_else(|| panic!("no action `{what}` in {actions:#?}"))
}

#[test]
fn dry_run_writes_nothing() {
    let scratch = Scratch::of("dev-machine-not-isolated");
    let before = common::audit(&board("qemux86-64"), "dev-machine-not-isolated");
    let actions = apply(&board("qemux86-64"), &scratch.root, true).unwrap();
    // 19 IRQs + default affinity + workqueue; no cpufreq, no fair server on this machine.
    assert_eq!(actions.len(), 21, "{actions:#?}");
    assert!(
        actions
            .iter()
            .all(|a| matches!(a.outcome, ActionOutcome::WouldWrite { .. })),
        "{actions:#?}"
    );
    let irq = find(&actions, "IRQ 42 ");
    assert_eq!(irq.path, "/proc/irq/42/smp_affinity_list");
    assert_eq!(irq.value, "0");
    assert_eq!(irq.outcome, ActionOutcome::WouldWrite { was: "0-1".into() });
    let wq = find(&actions, "unbound workqueue cpumask");
    assert_eq!(wq.path, "/sys/devices/virtual/workqueue/cpumask");
    assert_eq!(wq.value, "1");
    assert_eq!(find(&actions, "default IRQ affinity").value, "1");
    assert_eq!(scratch.audit(&board("qemux86-64")), before);
}

#[test]
fn apply_makes_its_rules_clean_and_leaves_boot_time_ones() {
    let board = board("qemux86-64");
    let scratch = Scratch::of("dev-machine-not-isolated");
    let actions = apply(&board, &scratch.root, false).unwrap();
    assert!(
        actions
            .iter()
            .all(|a| matches!(a.outcome, ActionOutcome::Written { .. })),
        "{actions:#?}"
    );
    assert_eq!(scratch.read("proc/irq/42/smp_affinity_list"), "0\n");
    assert_eq!(scratch.read("proc/irq/default_smp_affinity"), "1\n");
    assert_eq!(scratch.read("sys/devices/virtual/workqueue/cpumask"), "1\n");
    kernel_moves_irqs(&scratch);

    let audit = scratch.audit(&board);
    for rule in ["irq-affinity", "default-irq-affinity", "workqueue-cpumask"] {
        assert_eq!(
            audit.check(rule).unwrap().outcome,
            Outcome::Pass,
            "{rule}: {}",
            dump(&audit)
        );
    }
    // The command line, the kernel and the sysctls are not the tuning's business.
    assert_eq!(
        rules_with_findings(&audit),
        [
            "realtime-core",
            "cmdline",
            "isolated-cpus",
            "nohz-full",
            "timer-migration",
            "rt-throttling"
        ]
    );

    // A second run finds nothing to do.
    let again = apply(&board, &scratch.root, false).unwrap();
    assert!(
        again
            .iter()
            .all(|a| matches!(a.outcome, ActionOutcome::Unchanged { .. })),
        "{again:#?}"
    );
}

#[test]
fn apply_repairs_governor_fair_server_and_a_wandering_irq() {
    let board = board("nuc");
    let scratch = Scratch::of("nuc-evl");
    scratch.write(
        "sys/devices/system/cpu/cpu2/cpufreq/scaling_governor",
        "powersave\n",
    );
    scratch.write(
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
        "ondemand\n",
    );
    scratch.write(
        "sys/kernel/debug/sched/fair_server/cpu3/runtime",
        "50000000\n",
    );
    scratch.write("proc/irq/121/smp_affinity_list", "0-3\n");
    scratch.write("proc/irq/121/effective_affinity_list", "3\n");
    let broken = scratch.audit(&board);
    assert_eq!(
        rules_with_findings(&broken),
        ["irq-affinity", "fair-server", "cpufreq-governor"],
        "{}",
        dump(&broken)
    );

    let actions = apply(&board, &scratch.root, false).unwrap();
    let written: Vec<(&str, &str)> = actions
        .iter()
        .filter(|a| matches!(a.outcome, ActionOutcome::Written { .. }))
        .map(|a| (a.path.as_str(), a.value.as_str()))
        .collect();
    assert_eq!(
        written,
        [
            (
                "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
                "performance"
            ),
            (
                "/sys/devices/system/cpu/cpu2/cpufreq/scaling_governor",
                "performance"
            ),
            ("/proc/irq/121/smp_affinity_list", "0-1"),
            ("/sys/kernel/debug/sched/fair_server/cpu3/runtime", "0"),
        ]
    );
    // Housekeeping CPUs keep their fair server.
    assert_eq!(
        scratch.read("sys/kernel/debug/sched/fair_server/cpu0/runtime"),
        "50000000\n"
    );
    kernel_moves_irqs(&scratch);
    let audit = scratch.audit(&board);
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
}

#[test]
fn per_cpu_irqs_are_skipped_and_handlerless_ones_moved() {
    let scratch = Scratch::of("qemuarm64-rros");
    let actions = apply(&board("qemuarm64"), &scratch.root, false).unwrap();
    let timer = find(&actions, "IRQ 11 ");
    assert!(
        matches!(&timer.outcome, ActionOutcome::Skipped { reason } if reason.contains("GIC-0 PPI 27")),
        "{timer:#?}"
    );
    assert_eq!(scratch.read("proc/irq/11/smp_affinity_list"), "0-3\n");
    // IRQ 3 has no handler yet; moved anyway, so it lands on housekeeping when requested.
    assert_eq!(
        find(&actions, "IRQ 3 ").outcome,
        ActionOutcome::Written { was: "0-3".into() }
    );
    assert_eq!(scratch.read("proc/irq/3/smp_affinity_list"), "0-1\n");
    // Already within housekeeping: left as the administrator pinned it.
    assert_eq!(
        find(&actions, "IRQ 47 ").outcome,
        ActionOutcome::Unchanged {
            current: "0-1".into()
        }
    );
}

#[test]
fn missing_governor_and_debugfs_managed_irq_are_reported() {
    let scratch = Scratch::of("nuc-evl");
    scratch.write(
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "schedutil\n",
    );
    scratch.write(
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_available_governors",
        "schedutil\n",
    );
    scratch.write("proc/irq/122/smp_affinity_list", "2\n");
    scratch.write(
        "sys/kernel/debug/irq/irqs/122",
        "dstate: 0x0\n  IRQD_AFFINITY_MANAGED\n",
    );
    let actions = apply(&board("nuc"), &scratch.root, false).unwrap();
    let governor = find(&actions, "cpu1 cpufreq governor");
    assert!(governor.failed(), "{governor:#?}");
    let irq = find(&actions, "IRQ 122 ");
    assert!(
        matches!(&irq.outcome, ActionOutcome::Skipped { reason } if reason.contains("kernel-managed")),
        "{irq:#?}"
    );
    assert_eq!(scratch.read("proc/irq/122/smp_affinity_list"), "2\n");
}

#[test]
fn apply_needs_proc_irq() {
    let scratch = Scratch::of("qemux86-64-isolated");
    scratch.remove("proc/irq");
    let err = apply(&board("qemux86-64"), &scratch.root, true).unwrap_err();
    assert!(err.to_string().contains("proc/irq"), "{err}");
}

#[test]
fn actions_serialize_with_status() {
    let scratch = Scratch::of("dev-machine-not-isolated");
    let actions = apply(&board("qemux86-64"), &scratch.root, true).unwrap();
    let json = serde_json::to_value(&actions[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "what": "IRQ 24 (IO-APIC 5-edge ACPI:Ged) affinity",
            "path": "/proc/irq/24/smp_affinity_list",
            "value": "0",
            "outcome": { "status": "would_write", "was": "0-1" }
        })
    );
}

/// The tuning's steps are a table like the audit's rules, each named after the audit rule
/// whose finding it removes.
#[test]
fn every_tuning_step_is_named_after_its_audit_rule() {
    let rules: Vec<&str> = rros_isolation::RULES.iter().map(|r| r.id).collect();
    let steps: Vec<&str> = rros_isolation::STEPS.iter().map(|s| s.id).collect();
    assert_eq!(
        steps,
        [
            "cpufreq-governor",
            "irq-affinity",
            "default-irq-affinity",
            "workqueue-cpumask",
            "fair-server"
        ]
    );
    for step in rros_isolation::STEPS {
        assert!(rules.contains(&step.id), "{} is no audit rule", step.id);
        assert!(!step.sets.is_empty());
    }
}
