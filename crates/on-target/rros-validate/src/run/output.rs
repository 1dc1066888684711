//! The last stage of a run: render every report from the judged [`Report`], write them into
//! the staging directory, commit it atomically, move `latest`, prune, export and print.
//!
//! Nothing here decides a verdict; a run whose reports cannot be written is ERROR without a
//! directory (`run=- dir=-` is never printed for a written run), and `latest` never moves to
//! an interrupted run.

use super::note;
use super::plan::OutputPlan;
use crate::render;
use crate::report::{Report, Verdict};
use crate::store::{self, Staging, Store};
use crate::util;
use anyhow::{Context, Result};
use cyclictest::{CompatOptions, EndReason, RunReport};
use std::time::SystemTime;

/// Writes the run directory, moves `latest`, prunes, exports, prints; returns the exit code.
pub fn finish(
    out: &OutputPlan,
    quiet: bool,
    store: &Store,
    staging: Staging,
    mut report: Report,
    engines: &[RunReport],
) -> u8 {
    let dir_text = staging.final_path().display().to_string();
    let written =
        write_files(&staging, &report, engines, &out.cmdline).and_then(|_| staging.commit());
    if let Err(e) = written {
        eprintln!("rros-validate: error: cannot write the report: {e:#}");
        report.verdict = Verdict::Error;
        println!("{}", report.verdict_line("-"));
        return Verdict::Error.exit_code();
    }
    // An interrupted run keeps its directory, but `latest` stays on the last complete run.
    if !report.interrupted {
        publish(store, &report.run_id, out.keep, quiet);
    }
    if let Some(path) = &out.prometheus {
        let text = render::prom::render(&report, util::unix_seconds(SystemTime::now()));
        if let Err(e) = store::write_atomic(path, text.as_bytes()) {
            eprintln!("rros-validate: warning: cannot write the Prometheus file: {e:#}");
        }
    }
    if !quiet {
        print!("{}", render::text::render(&report, &dir_text));
    }
    println!("{}", report.verdict_line(&dir_text));
    report.verdict.exit_code()
}

/// Points `latest` at the run and prunes the runs beyond `keep`.
fn publish(store: &Store, run_id: &str, keep: usize, quiet: bool) {
    if let Err(e) = store.swap_latest(run_id) {
        eprintln!("rros-validate: warning: {e:#}");
    }
    match store.prune(keep) {
        Ok(removed) if !removed.is_empty() => note(
            quiet,
            &format!(
                "pruned {} old run(s): {}",
                removed.len(),
                removed.join(", ")
            ),
        ),
        Ok(_) => {}
        Err(e) => eprintln!("rros-validate: warning: cannot prune old runs: {e:#}"),
    }
}

/// Writes every report file into the staging directory.
fn write_files(
    staging: &Staging,
    report: &Report,
    engines: &[RunReport],
    cmdline: &str,
) -> Result<()> {
    staging.write("report.json", report.to_json().as_bytes())?;
    let junit = render::junit::render(report).context("cannot render junit.xml")?;
    staging.write("junit.xml", junit.as_bytes())?;
    staging.write("histogram.svg", render::svg::render(report)?.as_bytes())?;
    staging.write("summary.md", render::markdown::render(report).as_bytes())?;
    staging.write(
        "cyclictest.json",
        &rt_tests_json(engines, cmdline, i32::from(report.verdict.exit_code()))?,
    )?;
    Ok(())
}

/// `cyclictest.json`: every measured CPU of every scenario as one rt-tests thread, in order
/// (`per_cpu[].rt_tests_thread` in report.json says which is which).
fn rt_tests_json(engines: &[RunReport], cmdline: &str, return_code: i32) -> Result<Vec<u8>> {
    let mut combined = match engines.first() {
        Some(first) => first.clone(),
        None => empty_engine_report(),
    };
    if let Some(last) = engines.last() {
        combined.end = last.end.clone();
    }
    combined.cpus = engines
        .iter()
        .flat_map(|e| e.cpus.iter().cloned())
        .enumerate()
        .map(|(i, mut c)| {
            c.thread = i;
            c
        })
        .collect();
    let opts = CompatOptions {
        cmdline: cmdline.to_owned(),
        nsecs: false,
        histogram: true,
        return_code,
    };
    let mut buf = Vec::new();
    cyclictest::write_rt_tests_json(&combined, &opts, &mut buf)
        .context("cannot render cyclictest.json")?;
    Ok(buf)
}

/// A run report with no sampler (for a `cyclictest.json` of a run that measured nothing).
fn empty_engine_report() -> RunReport {
    let cfg = cyclictest::RunConfig::default();
    let now = cyclictest::Timestamp::now();
    RunReport {
        format: cyclictest::NATIVE_FORMAT,
        tool: "cyclictest-rs",
        version: "",
        backend: cyclictest::BackendInfo {
            kind: cfg.backend,
            timer: String::new(),
            clock: String::new(),
            clock_resolution_ns: None,
            clocksource: None,
            core: None,
            libevl: None,
        },
        overall: cyclictest::Stats {
            samples: 0,
            missed_periods: 0,
            min_ns: None,
            max_ns: None,
            avg_ns: None,
            last_ns: None,
            sum_ns: 0,
            sum_us_truncated: 0,
            percentiles: cyclictest::Percentiles {
                p50_ns: None,
                p99_ns: None,
                p99_9_ns: None,
                p99_99_ns: None,
            },
            histogram: cyclictest::Histogram::new(cyclictest::HistogramSpec {
                bucket_width_ns: 1000,
                buckets: 1,
            }),
            outliers: Vec::new(),
            overflow_samples: Vec::new(),
        },
        config: cfg,
        start: now.clone(),
        end: now,
        elapsed_ns: 0,
        end_reason: EndReason::Stopped,
        mlocked: false,
        pm_qos: cyclictest::PmQosStatus {
            requested_us: None,
            held: false,
            error: None,
        },
        sysinfo: cyclictest::SysInfo::read(),
        cpus: Vec::new(),
        warnings: Vec::new(),
    }
}
