//! `cyclictest-rs`: cyclictest's common options over the `cyclictest` engine.

mod args;
mod progress;

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use cyclictest::MAX_BUCKETS;
use cyclictest::{
    CompatOptions, HistogramSpec, Observer, Policy, RunConfig, RunReport, StopToken, summary_line,
    write_rt_tests_json, write_text_histogram,
};

use args::{Args, USAGE, UsageError};

enum Failure {
    Usage(String),
    Run(anyhow::Error),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e.0)
    }
}

/// Keeps glibc's heap small: `mlockall(MCL_FUTURE)` makes every heap page resident, and
/// by default each thread that allocates gets its own arena plus 128 KiB of top padding.
#[cfg(target_env = "gnu")]
fn tune_malloc() {
    // SAFETY: mallopt only changes allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_TOP_PAD, 16 * 1024);
        // The runtime's first allocation already grew the heap with the default padding.
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn tune_malloc() {}

fn main() {
    tune_malloc();
    let argv: Vec<String> = std::env::args().collect();
    let code = match real_main(&argv) {
        Ok(()) => 0,
        Err(Failure::Usage(e)) => {
            eprintln!("cyclictest-rs: {e}\nTry `cyclictest-rs --help`.");
            2
        }
        Err(Failure::Run(e)) => {
            eprintln!("cyclictest-rs: error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Turns the options into an engine configuration (plus notices for stderr).
fn build_config(a: &Args) -> Result<(RunConfig, Vec<String>), UsageError> {
    let mut notices = Vec::new();
    let cpus = sampler_cpus(a);
    let (policy, priority) = scheduling(a, cpus.len(), &mut notices)?;
    let (histogram, overflow_log) = histogram_of(a)?;
    let config = RunConfig {
        cpus,
        policy,
        priority,
        interval_ns: a
            .interval_us
            .checked_mul(1000)
            .ok_or_else(|| UsageError(format!("interval {} µs is too long", a.interval_us)))?,
        loops: (a.loops > 0).then_some(a.loops),
        duration_ns: a.duration_s.map(|s| s.saturating_mul(1_000_000_000)),
        histogram,
        outliers: a.outliers,
        overflow_log,
        mlock: a.mlock,
        pm_qos_us: (!a.default_system).then_some(a.latency_us),
        main_affinity: a.main_affinity.clone(),
        backend: a.backend,
        until: None,
    };
    config.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok((config, notices))
}

/// One CPU per sampler thread, as cyclictest picks them: `-a` (else the allowed CPUs), `-t`
/// threads (`-t` alone or `-S`: one per CPU), round robin over the set.
fn sampler_cpus(a: &Args) -> Vec<usize> {
    let mut allowed = cyclictest::allowed_cpus();
    if allowed.is_empty() {
        allowed = cyclictest::online_cpus();
    }
    let set: Vec<usize> = match &a.affinity {
        Some(Some(list)) if !a.smp => list.clone(),
        _ => allowed,
    };
    let threads = if a.smp {
        set.len()
    } else {
        match a.threads {
            None => 1,
            Some(None) => set.len(),
            Some(Some(n)) => n,
        }
    };
    (0..threads).map(|i| set[i % set.len()]).collect()
}

/// The policy and priority. cyclictest: -p selects SCHED_FIFO unless --policy says rr; a
/// real-time policy without a priority defaults to threads + 1.
fn scheduling(
    a: &Args,
    threads: usize,
    notices: &mut Vec<String>,
) -> Result<(Policy, i32), UsageError> {
    let mut policy = a.policy.unwrap_or(Policy::Other);
    let mut priority = a.priority.unwrap_or(0);
    if a.priority.is_some() && !policy.is_realtime() {
        if a.policy.is_some() && priority > 0 {
            return Err(UsageError(format!(
                "--policy {} takes no priority, but -p {priority} was given: use --policy fifo \
                 or rr with -p, or drop -p",
                policy.short_name()
            )));
        }
        policy = Policy::Fifo;
    }
    if policy.is_realtime() && priority == 0 {
        priority = threads as i32 + 1;
        notices.push(format!("defaulting realtime priority to {priority}"));
    }
    if !(0..=99).contains(&priority) {
        return Err(UsageError(format!(
            "priority {priority} is out of range: use 1-99 for SCHED_FIFO/SCHED_RR"
        )));
    }
    Ok((policy, priority))
}

/// The native histogram and how many overflow samples to log: `-h ROWS` in the output unit
/// (µs, ns with `--nsecs`), else 10 ms of 1 µs buckets; `--bucket-ns` sets the width.
fn histogram_of(a: &Args) -> Result<(HistogramSpec, usize), UsageError> {
    let unit: u64 = if a.nsecs { 1 } else { 1000 };
    let (histogram, overflow_log) = match a.histogram {
        Some(rows) => {
            let width = a.bucket_ns.unwrap_or(unit);
            let buckets = (rows * unit).div_ceil(width);
            (
                HistogramSpec {
                    bucket_width_ns: width,
                    buckets: buckets as usize,
                },
                rows as usize,
            )
        }
        None => {
            let width = a.bucket_ns.unwrap_or(1000);
            let buckets = 10_000_000u64.div_ceil(width).max(1);
            (
                HistogramSpec {
                    bucket_width_ns: width,
                    buckets: buckets as usize,
                },
                0,
            )
        }
    };
    if histogram.buckets > MAX_BUCKETS {
        return Err(UsageError(format!(
            "{} histogram buckets needed ({} ns range / {} ns buckets): use at most {MAX_BUCKETS}; \
             widen --bucket-ns or shorten -h",
            histogram.buckets,
            histogram.range_ns(),
            histogram.bucket_width_ns
        )));
    }
    Ok((histogram, overflow_log))
}

fn open_out(path: &Path) -> anyhow::Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdout().lock()));
    }
    let f = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Box::new(io::BufWriter::new(f)))
}

fn real_main(argv: &[String]) -> Result<(), Failure> {
    let a = args::parse(argv.get(1..).unwrap_or(&[]))?;
    if a.help {
        print!("{USAGE}");
        return Ok(());
    }
    if a.version {
        println!("cyclictest-rs {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let (config, notices) = build_config(&a)?;
    cyclictest::check_cpus(&config.cpus, config.main_affinity.as_deref())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    for n in &notices {
        eprintln!("{n}");
    }

    let stop = StopToken::new();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping ends the process at once.
        signal_hook::flag::register_conditional_shutdown(sig, 130, stop.flag().clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.flag().clone()))
            .context("cannot install the SIGINT/SIGTERM handlers")
            .map_err(Failure::Run)?;
    }

    let mut term =
        (!a.quiet && io::stderr().is_terminal()).then(|| progress::TermProgress::new(a.nsecs));
    let observer: &mut dyn Observer = match term.as_mut() {
        Some(t) => t,
        None => &mut (),
    };
    let result = cyclictest::run(&config, &stop, observer);
    if let Some(t) = term.as_mut() {
        t.clear();
    }
    let report = result.map_err(|e| Failure::Run(e.into()))?;
    output(&a, argv, &config, &report).map_err(Failure::Run)
}

fn output(a: &Args, argv: &[String], config: &RunConfig, report: &RunReport) -> anyhow::Result<()> {
    let opts = CompatOptions {
        cmdline: argv.join(" "),
        nsecs: a.nsecs,
        histogram: a.histogram.is_some(),
        return_code: 0,
    };
    for w in &report.warnings {
        eprintln!("cyclictest-rs: warning: {w}");
    }
    let mut out = io::stdout().lock();
    if report.pm_qos.held
        && let Some(v) = report.pm_qos.requested_us
    {
        writeln!(out, "# /dev/cpu_dma_latency set to {v}us")?;
    }
    let interval_us = config.interval_ns / 1000;
    if !(a.quiet && a.histogram.is_some()) {
        for c in &report.cpus {
            writeln!(
                out,
                "{}",
                summary_line(c, config.priority, interval_us, a.nsecs)
            )?;
        }
    }
    if !a.quiet {
        let unit = if a.nsecs { 1 } else { 1000 };
        let range = config.histogram.range_ns() / unit;
        let p = |v: Option<u64>| v.map_or(format!(">={range}"), |v| (v / unit).to_string());
        for c in &report.cpus {
            let s = &c.stats;
            let q = &s.percentiles;
            writeln!(
                out,
                "# T:{:2} missed periods: {}  p50: {}  p99: {}  p99.9: {}  p99.99: {}  ({})",
                c.thread,
                s.missed_periods,
                p(q.p50_ns),
                p(q.p99_ns),
                p(q.p99_9_ns),
                p(q.p99_99_ns),
                if a.nsecs { "ns" } else { "µs" }
            )?;
        }
    }
    if let Some(rows) = a.histogram {
        match &a.histfile {
            Some(path) => {
                let mut f = open_out(path)?;
                write_text_histogram(report, &opts, rows, a.histofall, &mut f)?;
                f.flush()?;
            }
            None => write_text_histogram(report, &opts, rows, a.histofall, &mut out)?,
        }
    }
    out.flush()?;
    drop(out);
    if let Some(path) = &a.json {
        let mut f = open_out(path)?;
        write_rt_tests_json(report, &opts, &mut f)
            .and_then(|_| f.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &a.json_native {
        let mut f = open_out(path)?;
        report
            .write_native_json(&mut f)
            .and_then(|_| f.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Result<RunConfig, String> {
        let a = args::parse(&s.split_whitespace().collect::<Vec<_>>()).map_err(|e| e.0)?;
        build_config(&a).map(|c| c.0).map_err(|e| e.0)
    }

    #[test]
    fn maps_cyclictest_semantics() {
        let c = cfg("-m -p 80 -t 1 -a 0 -i 200 -l 20000 -h 2000").unwrap();
        assert_eq!(
            (c.policy, c.priority, c.cpus.clone()),
            (Policy::Fifo, 80, vec![0])
        );
        assert_eq!((c.interval_ns, c.loops), (200_000, Some(20_000)));
        assert_eq!(
            c.histogram,
            HistogramSpec {
                bucket_width_ns: 1000,
                buckets: 2000
            }
        );
        assert_eq!(c.overflow_log, 2000);
        assert_eq!(c.pm_qos_us, Some(0));
        let c = cfg("-h 400 -N").unwrap();
        assert_eq!(
            c.histogram,
            HistogramSpec {
                bucket_width_ns: 1,
                buckets: 400
            }
        );
        assert_eq!((c.policy, c.priority), (Policy::Other, 0));
        let c = cfg("-h 10 --bucket-ns 250").unwrap();
        assert_eq!(c.histogram.buckets, 40);
        let c = cfg("--policy fifo -t 3 -a 0").unwrap();
        assert_eq!((c.priority, c.cpus.clone()), (4, vec![0, 0, 0]));
        let c = cfg("--default-system -D 1m").unwrap();
        assert_eq!((c.pm_qos_us, c.duration_ns), (None, Some(60_000_000_000)));
        let c = cfg("-p 5 --policy rr").unwrap();
        assert_eq!(c.policy, Policy::Rr);
    }

    #[test]
    fn rejects_inconsistent_options() {
        assert!(cfg("-p 100").unwrap_err().contains("out of range"));
        assert!(
            cfg("--policy other -p 10")
                .unwrap_err()
                .contains("takes no priority")
        );
        assert!(cfg("-h 1000000 -N --bucket-ns 1").is_ok());
        assert!(
            cfg("-h 1000000 --bucket-ns 1")
                .unwrap_err()
                .contains("--bucket-ns")
        );
    }
}
