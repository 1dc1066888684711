//! The library API as `rros-validate` uses it: `run` with an observer and a stop token.

use std::time::Duration;

use cyclictest::{
    BackendKind, EndReason, Error, FnObserver, Observer, Policy, Progress, RunConfig, StopToken,
};

fn base() -> RunConfig {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let cpu = cyclictest::allowed_cpus()[0];
    RunConfig {
        cpus: vec![cpu],
        interval_ns: 500_000,
        ..if root {
            RunConfig::default()
        } else {
            RunConfig {
                policy: Policy::Other,
                priority: 0,
                mlock: false,
                pm_qos_us: None,
                ..RunConfig::default()
            }
        }
    }
}

#[test]
fn run_reports_progress_and_results() {
    let cfg = RunConfig {
        loops: Some(400),
        ..base()
    };
    let mut calls = Vec::new();
    let report = cyclictest::run(
        &cfg,
        &StopToken::new(),
        &mut FnObserver(|p: &Progress<'_>| {
            calls.push((p.threads[0].samples, p.threads[0].done, p.expected));
        }),
    )
    .unwrap();
    assert_eq!(report.end_reason, EndReason::Loops);
    let s = &report.cpus[0].stats;
    assert_eq!(s.samples + s.missed_periods, 400);
    assert!(report.cpus[0].tid > 0);
    assert_eq!(report.overall.samples, s.samples);
    assert_eq!(report.backend.kind, BackendKind::Posix);
    assert!(report.elapsed_ns >= 190_000_000, "400 × 0.5 ms");
    // Called at least every 250 ms, and once at the end with every sampler done.
    let last = calls.last().unwrap();
    assert!(last.1 && last.0 == s.samples, "{calls:?}");
    assert_eq!(last.2, Some(Duration::from_millis(200)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    // The native JSON round-trips through serde_json.
    let mut buf = Vec::new();
    report.write_native_json(&mut buf).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(v["cpus"][0]["stats"]["samples"], s.samples);
}

#[test]
fn stop_token_ends_an_unbounded_run() {
    let cfg = base();
    let stop = StopToken::new();
    let s2 = stop.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        s2.stop();
    });
    struct Slow(u32);
    impl Observer for Slow {
        fn progress_interval(&self) -> Duration {
            Duration::from_millis(50)
        }
        fn on_progress(&mut self, _: &Progress<'_>) {
            self.0 += 1;
        }
    }
    let mut obs = Slow(0);
    let report = cyclictest::run(&cfg, &stop, &mut obs).unwrap();
    t.join().unwrap();
    assert_eq!(report.end_reason, EndReason::Stopped);
    assert!(
        report.cpus[0].stats.samples > 100,
        "{}",
        report.cpus[0].stats.samples
    );
    assert!(obs.0 >= 3, "observer called {} times", obs.0);
}

#[test]
fn invalid_config_is_rejected_before_measuring() {
    let cfg = RunConfig {
        priority: 0,
        policy: Policy::Fifo,
        ..base()
    };
    let e = cyclictest::run(&cfg, &StopToken::new(), &mut ()).unwrap_err();
    assert!(matches!(e, Error::InvalidPriority { .. }), "{e}");
    let cfg = RunConfig {
        cpus: vec![5000],
        ..base()
    };
    let e = cyclictest::run(&cfg, &StopToken::new(), &mut ()).unwrap_err();
    assert!(matches!(e, Error::CpuOutOfRange { cpu: 5000, .. }), "{e}");
}

#[cfg(not(feature = "evl"))]
#[test]
fn evl_backend_needs_the_feature() {
    let cfg = RunConfig {
        backend: BackendKind::Evl,
        loops: Some(1),
        ..base()
    };
    let e = cyclictest::run(&cfg, &StopToken::new(), &mut ()).unwrap_err();
    assert!(matches!(e, Error::BackendUnavailable), "{e}");
    assert!(e.to_string().contains("--features evl"));
}
