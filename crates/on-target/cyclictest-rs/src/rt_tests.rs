//! cyclictest-compatible output: the rt-tests 2.x JSON (`--json`), the summary line and the
//! text histogram. Values are in cyclictest's unit: µs truncated per sample, or ns (`-N`).
//!
//! The JSON reproduces rt-tests' `rt_write_json()` + cyclictest's `write_stats()` byte for
//! byte in layout, quirks included: the keys `"cmdline:"` and `"rt_test_version:"` end in a
//! colon, the version is `%1.2f`, `resolution_in_ns` is 1 with `-N` and 0 without, the
//! histogram lists only non-empty buckets (and is `{}` without `-h`), there is no overflow
//! count. Unlike rt-tests, strings are JSON-escaped and an empty thread prints 0 for
//! min/max/avg instead of 1000000/0/`-nan`.

use std::io::{self, Write};

use crate::report::{CpuStats, RunReport};

/// The rt-tests version whose JSON schema this output follows (`rt_test_version:`).
pub(crate) const RT_TESTS_SCHEMA_VERSION: f64 = 2.40;

/// How to render the cyclictest-compatible output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatOptions {
    /// The command line, as rt-tests records it (`"cmdline:"`).
    pub cmdline: String,
    /// `-N`: values in ns; otherwise µs truncated.
    pub nsecs: bool,
    /// `-h` was given: include the histogram.
    pub histogram: bool,
    /// Exit status recorded as `return_code`.
    pub return_code: i32,
}

impl CompatOptions {
    fn unit_ns(&self) -> i64 {
        if self.nsecs { 1 } else { 1000 }
    }
}

/// Converts ns to cyclictest's unit (truncation toward zero, like its `calcdiff`).
pub(crate) fn to_unit(ns: i64, nsecs: bool) -> i64 {
    if nsecs { ns } else { ns / 1000 }
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Writes the rt-tests 2.x JSON for `report` (rt-tests' exact layout).
pub fn write_rt_tests_json<W: Write>(
    report: &RunReport,
    opts: &CompatOptions,
    mut f: W,
) -> io::Result<()> {
    let si = &report.sysinfo;
    writeln!(f, "{{")?;
    writeln!(f, "  \"file_version\": 1,")?;
    writeln!(f, "  \"cmdline:\": {},", js(&opts.cmdline))?;
    writeln!(
        f,
        "  \"rt_test_version:\": \"{RT_TESTS_SCHEMA_VERSION:1.2}\","
    )?;
    writeln!(f, "  \"start_time\": {},", js(&report.start.local))?;
    writeln!(f, "  \"end_time\": {},", js(&report.end.local))?;
    writeln!(f, "  \"return_code\": {},", opts.return_code)?;
    writeln!(f, "  \"sysinfo\": {{")?;
    writeln!(f, "    \"sysname\": {},", js(&si.sysname))?;
    writeln!(f, "    \"nodename\": {},", js(&si.nodename))?;
    writeln!(f, "    \"release\": {},", js(&si.release))?;
    writeln!(f, "    \"version\": {},", js(&si.version))?;
    writeln!(f, "    \"machine\": {},", js(&si.machine))?;
    writeln!(f, "    \"realtime\": {}", i32::from(si.realtime))?;
    writeln!(f, "  }},")?;
    writeln!(f, "  \"num_threads\": {},", report.cpus.len())?;
    writeln!(f, "  \"resolution_in_ns\": {},", u32::from(opts.nsecs))?;
    writeln!(f, "  \"thread\": {{")?;
    let unit = opts.unit_ns() as u64;
    for (i, c) in report.cpus.iter().enumerate() {
        let s = &c.stats;
        writeln!(f, "    \"{i}\": {{")?;
        write!(f, "      \"histogram\": {{")?;
        if opts.histogram {
            let bins = s.histogram.by_unit(unit);
            for (j, (k, n)) in bins.iter().enumerate() {
                write!(f, "{}", if j > 0 { ",\n" } else { "\n" })?;
                write!(f, "        \"{k}\": {n}")?;
            }
            if !bins.is_empty() {
                writeln!(f)?;
            }
        }
        writeln!(f, "      }},")?;
        writeln!(f, "      \"cycles\": {},", s.samples)?;
        writeln!(
            f,
            "      \"min\": {},",
            to_unit(s.min_ns.unwrap_or(0), opts.nsecs)
        )?;
        writeln!(
            f,
            "      \"max\": {},",
            to_unit(s.max_ns.unwrap_or(0), opts.nsecs)
        )?;
        writeln!(f, "      \"avg\": {:.2},", s.compat_avg(opts.nsecs))?;
        writeln!(f, "      \"cpu\": {},", c.cpu)?;
        writeln!(f, "      \"node\": {}", c.node)?;
        writeln!(
            f,
            "    }}{}",
            if i + 1 == report.cpus.len() { "" } else { "," }
        )?;
    }
    writeln!(f, "  }}")?;
    writeln!(f, "}}")
}

/// cyclictest's summary line for one thread:
/// `T:%2d (%5d) P:%2d I:%ld C:%7lu Min:%7ld Act:%5ld Avg:%5ld Max:%8ld` (µs), or with `-N`
/// `… Act:%8ld Avg:%8ld …` (ns). `interval_us` is the period in µs.
pub fn summary_line(c: &CpuStats, priority: i32, interval_us: u64, nsecs: bool) -> String {
    let s = &c.stats;
    let u = |v: Option<i64>| to_unit(v.unwrap_or(0), nsecs);
    let avg = s.compat_avg(nsecs) as i64;
    if nsecs {
        format!(
            "T:{:2} ({:5}) P:{:2} I:{} C:{:7} Min:{:7} Act:{:8} Avg:{:8} Max:{:8}",
            c.thread,
            c.tid,
            priority,
            interval_us,
            s.samples,
            u(s.min_ns),
            u(s.last_ns),
            avg,
            u(s.max_ns)
        )
    } else {
        format!(
            "T:{:2} ({:5}) P:{:2} I:{} C:{:7} Min:{:7} Act:{:5} Avg:{:5} Max:{:8}",
            c.thread,
            c.tid,
            priority,
            interval_us,
            s.samples,
            u(s.min_ns),
            u(s.last_ns),
            avg,
            u(s.max_ns)
        )
    }
}

/// cyclictest's text histogram (`-h`, rt-tests 2.4 layout): one `%06d` row per bucket
/// `0..buckets` (in the output unit) with tab-separated per-thread counts (plus a total
/// column with `histofall` and more than one thread), then `# Total:`, `# Min/Avg/Max
/// Latencies:`, `# Histogram Overflows:` and the overflow sample indices.
pub fn write_text_histogram<W: Write>(
    report: &RunReport,
    opts: &CompatOptions,
    rows: u64,
    histofall: bool,
    mut f: W,
) -> io::Result<()> {
    let all = histofall && report.cpus.len() > 1;
    writeln!(f, "# Histogram")?;
    let totals = write_histogram_rows(report, opts.unit_ns() as u64, rows, all, &mut f)?;
    // Rows beyond `rows` (when the native histogram is wider) count as overflow here.
    let overflow: Vec<u64> = report
        .cpus
        .iter()
        .zip(&totals)
        .map(|(c, total)| c.stats.samples - total)
        .collect();
    write_histogram_summary(report, opts, &totals, &overflow, all, &mut f)?;
    write_overflow_cycles(report, &overflow, &mut f)?;
    writeln!(f)
}

/// The `%06d` rows `0..rows` with each thread's count (and the total column with `all`);
/// returns the counts written per thread (then the total column's).
fn write_histogram_rows<W: Write>(
    report: &RunReport,
    unit: u64,
    rows: u64,
    all: bool,
    f: &mut W,
) -> io::Result<Vec<u64>> {
    let per_thread: Vec<Vec<(u64, u64)>> = report
        .cpus
        .iter()
        .map(|c| c.stats.histogram.by_unit(unit))
        .collect();
    let n = report.cpus.len();
    let mut cursor = vec![0usize; n];
    let mut totals = vec![0u64; n + 1];
    for row in 0..rows {
        write!(f, "{row:06} ")?;
        let mut sum = 0u64;
        for t in 0..n {
            let bins = &per_thread[t];
            let mut count = 0;
            while cursor[t] < bins.len() && bins[cursor[t]].0 <= row {
                if bins[cursor[t]].0 == row {
                    count = bins[cursor[t]].1;
                }
                cursor[t] += 1;
            }
            write!(f, "{count:06}")?;
            if t + 1 < n {
                write!(f, "\t")?;
            }
            totals[t] += count;
            sum += count;
        }
        if all {
            write!(f, "\t{sum:06}")?;
            totals[n] += sum;
        }
        writeln!(f)?;
    }
    Ok(totals)
}

/// `# Total:`, `# Min/Avg/Max Latencies:` and `# Histogram Overflows:` (with `all`, the
/// total column's value last on Total, Max and Overflows, as cyclictest prints them).
fn write_histogram_summary<W: Write>(
    report: &RunReport,
    opts: &CompatOptions,
    totals: &[u64],
    overflow: &[u64],
    all: bool,
    f: &mut W,
) -> io::Result<()> {
    let n = report.cpus.len();
    let mut tot: Vec<String> = totals[..n].iter().map(|v| format!("{v:09}")).collect();
    if all {
        tot.push(format!("{:09}", totals[n]));
    }
    summary_line_of(f, "Total", tot)?;
    let in_unit = |ns: Option<i64>| format!("{:05}", to_unit(ns.unwrap_or(0), opts.nsecs));
    summary_line_of(
        f,
        "Min Latencies",
        report.cpus.iter().map(|c| in_unit(c.stats.min_ns)),
    )?;
    summary_line_of(
        f,
        "Avg Latencies",
        report
            .cpus
            .iter()
            .map(|c| format!("{:05}", c.stats.compat_avg(opts.nsecs) as i64)),
    )?;
    let mut maxes: Vec<String> = report
        .cpus
        .iter()
        .map(|c| in_unit(c.stats.max_ns))
        .collect();
    if all {
        let m = report.cpus.iter().filter_map(|c| c.stats.max_ns).max();
        maxes.push(in_unit(m));
    }
    summary_line_of(f, "Max Latencies", maxes)?;
    let mut ov: Vec<String> = overflow.iter().map(|v| format!("{v:05}")).collect();
    if all {
        ov.push(format!("{:05}", overflow.iter().sum::<u64>()));
    }
    summary_line_of(f, "Histogram Overflows", ov)
}

/// One `# LABEL: v v v` line.
fn summary_line_of<W: Write>(
    f: &mut W,
    label: &str,
    vals: impl IntoIterator<Item = String>,
) -> io::Result<()> {
    write!(f, "# {label}:")?;
    for v in vals {
        write!(f, " {v}")?;
    }
    writeln!(f)
}

/// `# Histogram Overflow at cycle number:` and each thread's logged overflow samples (with
/// `# NNNNN others` when more overflowed than were logged).
fn write_overflow_cycles<W: Write>(
    report: &RunReport,
    overflow: &[u64],
    f: &mut W,
) -> io::Result<()> {
    writeln!(f, "# Histogram Overflow at cycle number:")?;
    for (t, c) in report.cpus.iter().enumerate() {
        write!(f, "# Thread {t}:")?;
        let logged = &c.stats.overflow_samples;
        for i in logged {
            write!(f, " {i:05}")?;
        }
        if (logged.len() as u64) < overflow[t] {
            write!(f, " # {:05} others", overflow[t] - logged.len() as u64)?;
        }
        writeln!(f)?;
    }
    Ok(())
}
