//! The rules on evidence recorded on the virtual board (tests/vboard/run, block 2b: the
//! qemux86-64 guest under QEMU TCG, Debian's PREEMPT_RT 6.1 kernel, CPU 1 isolated), as the
//! run directory keeps it (`evidence-<scenario>.json`, copied into `tests/fixtures/vboard/`):
//!
//! - `intact-idle.json`, `intact-hackbench.json`: the tier's PASS run, nothing broken;
//! - `fifo99-hog-idle.json`: a busy SCHED_FIFO 99 `rros-hog` (pid 807) pinned to CPU 1, the
//!   run FAILed (max 4.2 s);
//! - `irq29-virtio-net-idle.json`: the virtio-net receive IRQ 29 (`virtio1-input.0`) moved
//!   onto CPU 1 with SSH traffic through it, the profile's budget lowered to 1 ms (FAIL);
//! - `irq27-thread-idle.json`: IRQ 27 (`virtio2-input`, the guest's virtio-rng: the tier's
//!   first pick of the NIC's IRQ was wrong) with its affinity set to CPU 1: its hard IRQ did
//!   not fire there during the measurement, its PREEMPT_RT thread ran 4.4 ms there.
//!
//! - `evl-intact-idle.json`, `evl-intact-hackbench.json`: the EVL board (`qemux86-64-evl`,
//!   Linux 5.13 + Dovetail + EVL ABI 26, the `evl` backend: out of band on oob CPU 1), a
//!   10 s PASS run, nothing broken.
//!
//! The EVL run first showed three false causes at "high": Dovetail's local timer (IRQ 4354
//! on the synthetic SIPIC chip, affinity 0, once per sample on CPU 1) as a device IRQ to
//! move, the sampler itself as a foreign task (EVL renames an attached thread to its
//! element name, `cyclictest-rs:1`), and the in-band tick and irq_work relays (IRQs 25, 24).
//!
//! The intact run once had two false causes above informational: `ktimers/1` (the
//! PREEMPT_RT timer softirq thread, FIFO 1, 6.7 ms in 30 s, with a `taskset` fix that cannot
//! apply to a per-CPU kernel thread) and one involuntary switch of the sampler (its own move
//! to CPU 1 when it pins itself).

use rros_cause::Stored;
use rros_contract::analysis::{Analysis, AnalysisLabel, Confidence};
use std::path::Path;

fn analysis(name: &str) -> Analysis {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vboard")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let s = Stored::from_json(&text, name).unwrap();
    // As a FAIL, so that every cause the rules find counts.
    rros_cause::analyse(&s.evidence, &s.context, &s.samples, AnalysisLabel::Failure)
}

/// The causes an intact run must not have: any above "informational".
fn above_informational(a: &Analysis) -> Vec<&rros_contract::analysis::Cause> {
    a.causes
        .iter()
        .filter(|c| c.confidence < Confidence::Informational)
        .collect()
}

#[test]
fn the_intact_virtual_board_runs_have_no_cause_above_informational() {
    for name in ["intact-idle.json", "intact-hackbench.json"] {
        let a = analysis(name);
        let above = above_informational(&a);
        assert!(above.is_empty(), "{name}: {above:#?}");
        // The per-CPU timer thread is still listed, as informational.
        assert!(
            a.causes.iter().any(|c| c.evidence.contains("`ktimers/1`")),
            "{name}: {:#?}",
            a.causes
        );
    }
}

#[test]
fn the_intact_evl_board_runs_have_no_cause_above_informational() {
    for name in ["evl-intact-idle.json", "evl-intact-hackbench.json"] {
        let a = analysis(name);
        let above = above_informational(&a);
        assert!(above.is_empty(), "{name}: {above:#?}");
        // The pipeline's timer is listed as what it is, and the sampler is not a task.
        assert!(
            a.causes
                .iter()
                .any(|c| c.evidence.starts_with("IRQ 4354 (interrupt)")
                    && c.evidence
                        .contains("a per-CPU interrupt of the interrupt pipeline")),
            "{name}: {:#?}",
            a.causes
        );
        assert!(
            !a.causes
                .iter()
                .any(|c| c.evidence.starts_with("task `cyclictest-rs")),
            "{name}: {:#?}",
            a.causes
        );
    }
}

#[test]
fn the_fifo_99_hog_on_the_isolated_cpu_is_the_top_cause() {
    let a = analysis("fifo99-hog-idle.json");
    let top = a.top(1).next().expect("a cause");
    assert_eq!(top.rule, "foreign-task");
    assert_eq!(top.confidence, Confidence::High);
    assert!(
        top.evidence
            .starts_with("task `rros-hog` (pid 807, tid 807, SCHED_FIFO 99) ran ")
            && top.evidence.contains(" on CPU 1"),
        "{}",
        top.evidence
    );
    assert!(top.fix.contains("taskset -apc 0 807"), "{}", top.fix);
}

/// IRQ 27 had its affinity set to CPU 1, but only its PREEMPT_RT thread
/// `irq/27-virtio2-input` ran there: the thread is the cause, and its fix is the IRQ's
/// affinity.
#[test]
fn an_irq_thread_alone_on_the_isolated_cpu_names_its_irq() {
    let a = analysis("irq27-thread-idle.json");
    let top = a.top(1).next().expect("a cause");
    assert_eq!(top.rule, "foreign-task");
    assert!(
        top.evidence
            .starts_with("task `irq/27-virtio2-input` (pid 175"),
        "{}",
        top.evidence
    );
    assert!(
        top.fix.contains("IRQ 27") && top.fix.contains("/proc/irq/27/smp_affinity_list"),
        "{}",
        top.fix
    );
}

/// Derived from the recording: IRQ 27 itself fired on CPU 1 as well. Then the IRQ is the top
/// cause, with its thread's time in its evidence, and the thread alone ranks below it.
#[test]
fn an_irq_that_fired_on_the_isolated_cpu_outranks_its_own_thread() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vboard/irq27-thread-idle.json");
    let mut s = Stored::from_json(&std::fs::read_to_string(path).unwrap(), "irq27").unwrap();
    let fired = rros_cause::snapshot::IrqDelta {
        irq: "27".into(),
        device: "PCI-MSIX-0000:00:02.0 1-edge virtio2-input.0".into(),
        movable: true,
        cpu: 1,
        count: 150,
    };
    s.evidence.total.irqs.push(fired.clone());
    for d in &mut s.evidence.intervals {
        d.irqs.push(fired.clone());
    }
    s.evidence.irq_affinity.insert("27".into(), "1".into());
    let a = rros_cause::analyse(&s.evidence, &s.context, &s.samples, AnalysisLabel::Failure);
    let top = a.top(1).next().expect("a cause");
    assert_eq!(top.rule, "device-irq", "{:#?}", a.causes);
    assert!(
        top.evidence
            .starts_with("IRQ 27 (PCI-MSIX-0000:00:02.0 1-edge virtio2-input.0) fired 150 time(s) on CPU 1 during the run; its affinity is 1; its thread ran 4.4 ms there"),
        "{}",
        top.evidence
    );
    let thread = a
        .causes
        .iter()
        .position(|c| c.evidence.contains("`irq/27-virtio2-input`"))
        .expect("the thread is still listed");
    assert!(thread > 0);
    assert!(
        a.causes[thread].confidence > top.confidence,
        "{:#?}",
        a.causes[thread]
    );
}

/// The IRQ case of the tier, recorded: IRQ 29 fired 6569 times on CPU 1 and its thread ran
/// 2.5 s there; NET_RX ran 6757 times. Before the thread's time was counted in its IRQ, the
/// thread (2.5 s, raised to high) and NET_RX (more events than the IRQ) both ranked above
/// the IRQ itself.
#[test]
fn the_virtio_net_irq_moved_onto_the_isolated_cpu_is_the_top_cause() {
    let a = analysis("irq29-virtio-net-idle.json");
    let top = a.top(1).next().expect("a cause");
    assert_eq!(top.rule, "device-irq", "{:#?}", a.causes);
    assert!(
        top.evidence.starts_with(
            "IRQ 29 (virtio1-input.0) fired 6569 time(s) on CPU 1 during the run; its affinity is 1; its thread ran 2494.2 ms there"
        ),
        "{}",
        top.evidence
    );
    assert!(
        top.fix.contains("echo 0 > /proc/irq/29/smp_affinity_list"),
        "{}",
        top.fix
    );
}
