//! The parsers on a fixture tree written from real formats (this machine's /proc, a
//! sysfs cpuidle/cpufreq/thermal tree, the msr device as a file, an EVL thread element):
//! two snapshots of a 4-CPU board measuring CPU 3, and what the analysis makes of them.

use rros_cause::snapshot::{IrqDelta, TaskRun};
use rros_cause::{Context, Delta, Probe, Recorder, Sample, analyse};
use rros_contract::analysis::{AnalysisLabel, Confidence};
use std::path::PathBuf;

fn probe(snap: &str) -> Probe {
    Probe {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(snap),
        cpus: vec![3],
        pid: 999,
        evl_prefix: "cyclictest-rs:999:".into(),
        tick_ns: 10_000_000,
    }
}

fn delta() -> Delta {
    let start = probe("start").snapshot(1_000_000_000);
    let end = probe("end").snapshot(21_000_000_000);
    assert!(start.missing.is_empty(), "{:?}", start.missing);
    Delta::between(&start, &end, &[3])
}

#[test]
fn every_source_is_read_and_only_the_measured_cpu_counts() {
    let d = delta();
    assert!(d.irqs.contains(&IrqDelta {
        irq: "45".into(),
        device: "eth0".into(),
        movable: true,
        cpu: 3,
        count: 812,
    }));
    assert!(
        d.irqs
            .iter()
            .all(|i| i.cpu == 3 && i.irq != "TLB" && i.irq != "1")
    );
    assert!(d.softirqs.contains(&("NET_RX".into(), 3, 88)));
    assert_eq!(
        d.ticks,
        vec![(
            3,
            rros_cause::sources::CpuTicks {
                irq: 6,
                softirq: 0,
                steal: 0
            }
        )]
    );
    assert_eq!(
        d.tasks[0],
        TaskRun {
            tid: 123,
            pid: 123,
            comm: "foo".into(),
            cpu: 3,
            policy: 1,
            rt_priority: 99,
            run_ns: 1_200_000_000,
        }
    );
    assert!(
        d.tasks.iter().all(|t| t.comm != "sshd"),
        "sshd ran on CPU 0"
    );
    assert!(
        d.tasks.iter().all(|t| t.comm != "sampler-0"),
        "our sampler is not a culprit"
    );
    assert_eq!(d.samplers, vec![("sampler-0".into(), 10000, 4)]);
    assert!(d.idle.contains(&(3, "C6".into(), 214)));
    assert_eq!(d.freq, vec![(3, 2, Some(2_400_000))]);
    assert!(d.throttle.is_empty());
    assert_eq!(d.smi, vec![(3, 3)]);
    assert_eq!(d.evl, vec![("cyclictest-rs:999:0".into(), 17, 4)]);
}

#[test]
fn the_analysis_names_the_rt_hog_first_with_its_fix() {
    let mut rec = Recorder::start(probe("start"));
    let mut end = probe("end").snapshot(0);
    end.mono_ns = rros_cause::monotonic_ns() + 1_000_000_000;
    rec.push(end);
    let ev = rec.evidence();
    assert_eq!(ev.cpus, vec![3]);
    let worst = ev.intervals[0].from_ns + 10;
    let cx = Context {
        priority: 80,
        out_of_band: true,
        housekeeping: "0-2".into(),
        start_ns: ev.intervals[0].from_ns,
    };
    let a = analyse(
        &ev,
        &cx,
        &[Sample {
            cpu: 3,
            latency_ns: 150_000,
            mono_ns: worst,
        }],
        AnalysisLabel::Failure,
    );
    let top = &a.causes[0];
    assert_eq!(top.confidence, Confidence::High);
    let named: Vec<&str> = a.causes.iter().map(|c| c.rule.as_str()).collect();
    for rule in [
        "in-band-switch",
        "smi",
        "foreign-task",
        "device-irq",
        "c-state",
        "cpufreq",
    ] {
        assert!(named.contains(&rule), "{rule} missing from {named:?}");
    }
    let hog = a
        .causes
        .iter()
        .find(|c| c.evidence.contains("`foo`"))
        .unwrap();
    assert!(
        hog.evidence.contains("pid 123") && hog.evidence.contains("SCHED_FIFO 99"),
        "{}",
        hog.evidence
    );
    assert!(
        hog.evidence.contains("1200.0 ms on CPU 3"),
        "{}",
        hog.evidence
    );
    assert!(hog.fix.contains("taskset -apc 0-2 123"), "{}", hog.fix);
    assert_eq!(a.worst[0].cpu, 3);
    assert!(
        a.worst[0].interval.contains("IRQ 45 (eth0) ×812"),
        "{}",
        a.worst[0].interval
    );
    assert!(a.unchecked.is_empty(), "{:?}", a.unchecked);
    let irq = a.causes.iter().find(|c| c.rule == "device-irq").unwrap();
    assert!(
        irq.evidence.starts_with(
            "IRQ 45 (eth0) fired 812 time(s) on CPU 3 during the run; its affinity is 0-3"
        ),
        "{}",
        irq.evidence
    );
}

#[test]
fn a_missing_tree_is_unchecked_not_an_error() {
    let mut p = probe("start");
    p.root = PathBuf::from("/nonexistent/rros-cause");
    let s = p.snapshot(0);
    assert!(s.missing.contains("/proc/interrupts"));
    assert!(s.irqs.is_empty() && s.tasks.is_empty());
}
