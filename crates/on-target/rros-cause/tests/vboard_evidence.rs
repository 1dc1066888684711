//! The rules on evidence recorded on the virtual board (tests/vboard/run, block 2b: the
//! qemux86-64 guest under QEMU TCG, Debian's PREEMPT_RT 6.1 kernel, CPU 1 isolated), as the
//! run directory keeps it (`evidence-<scenario>.json`, copied into `tests/fixtures/vboard/`):
//!
//! - `intact-idle.json`, `intact-hackbench.json`: the tier's PASS run, nothing broken;
//! - `fifo99-hog-idle.json`: a busy SCHED_FIFO 99 `rros-hog` (pid 807) pinned to CPU 1, the
//!   run FAILed (max 4.2 s).
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

#[test]
fn the_intact_virtual_board_runs_have_no_cause_above_informational() {
    for name in ["intact-idle.json", "intact-hackbench.json"] {
        let a = analysis(name);
        let above: Vec<_> = a
            .causes
            .iter()
            .filter(|c| c.confidence < Confidence::Informational)
            .collect();
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
