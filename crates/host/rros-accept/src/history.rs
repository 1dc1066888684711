//! `rros accept --history DIR`: every run's summary appended to a history the user owns, and
//! an SVG trend of p99 and max per board and scenario over the runs, with the budget lines
//! (OSADL's long-term plot, for one board). Plain files, no server:
//!
//! - `DIR/history.jsonl`: one JSON object per line, one line per board and scenario of each
//!   run ([`Entry`]: time, verdict, p50/p99/max, budgets, samples and the comparison key).
//! - `DIR/trend-<board>-<scenario>.svg`: the plot, redrawn after each run from the whole file.
//!
//! **Appends are atomic per run.** A run's lines are built in memory and written with one
//! `write` to a file opened `O_APPEND`, then `fsync`ed: the kernel places each `O_APPEND`
//! write at the end of the file at the moment it happens, so two acceptances appending at once
//! never overwrite each other, and an older line is never rewritten. Rewrite-and-rename would
//! also be atomic, but it copies the whole history every run and loses one of two concurrent
//! appends (the later rename wins). What a crash or a full disk can leave is a partial last
//! line: the reader skips it and names it (file and line) on stderr, never fails on it, and
//! the next append starts on a fresh line (a newline is written first when the file does not
//! end with one), so one torn line never spoils the next.

use crate::report::BoardResult;
use plotters::prelude::*;
use rros_contract::Report;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The `schema` of every line.
pub const SCHEMA: &str = "rros-history/1";
/// The history file in DIR.
pub const FILE: &str = "history.jsonl";

/// What makes two runs comparable ([`rros_contract::compare`]'s key), as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub board: String,
    pub machine: String,
    pub kernel_release: String,
    pub kernel_version: String,
    pub kernel_config_sha256: Option<String>,
    pub cmdline: String,
    pub profile_sha256: Option<String>,
    pub backend: String,
    pub engine: String,
}

/// One board and scenario of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub schema: String,
    /// When the run finished (RFC 3339, UTC; the report's `finished_at`).
    pub time: String,
    /// The board's name in acceptance (its folder under `--out`).
    pub board: String,
    pub run: String,
    pub scenario: String,
    /// The scenario's verdict.
    pub verdict: String,
    pub samples: u64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
    /// The budget: `threshold.max_us` and `threshold.p99_us`.
    pub budget_max_us: f64,
    pub budget_p99_us: Option<f64>,
    pub key: Key,
}

/// The history's lines for one run's report.
pub fn entries(board: &str, report: &Report) -> Vec<Entry> {
    let key = |backend: &str| Key {
        board: report
            .board
            .as_ref()
            .map_or_else(String::new, |b| b.name.clone()),
        machine: report.host.machine.clone(),
        kernel_release: report.host.kernel_release.clone(),
        kernel_version: report.host.kernel_version.clone(),
        kernel_config_sha256: report.host.kernel_config_sha256.clone(),
        cmdline: report.host.cmdline.clone(),
        profile_sha256: report.profile.sha256.clone(),
        backend: backend.to_owned(),
        engine: format!("{} {}", report.tool.name, report.tool.version),
    };
    report
        .scenarios
        .iter()
        .map(|s| Entry {
            schema: SCHEMA.into(),
            time: report.finished_at.clone(),
            board: board.to_owned(),
            run: report.run_id.clone(),
            scenario: s.name.clone(),
            verdict: s.verdict.as_str().into(),
            samples: s.samples,
            p50_us: s.percentiles.p50_us,
            p99_us: s.percentiles.p99_us,
            max_us: s.max_us,
            budget_max_us: s.threshold.max_us,
            budget_p99_us: s.threshold.p99_us,
            key: key(&s.backend),
        })
        .collect()
}

/// The lines of an acceptance's boards (those whose report came home); the boards without
/// one are named in the second list.
pub fn of_results(results: &[BoardResult]) -> (Vec<Entry>, Vec<String>) {
    let (mut out, mut none) = (Vec::new(), Vec::new());
    for r in results {
        let report = r
            .local_dir
            .as_ref()
            .ok_or_else(|| "no run came home".to_owned())
            .and_then(|d| crate::baseline::read_report(&d.join("report.json")));
        match report {
            Ok(report) => out.extend(entries(&r.name, &report)),
            Err(why) => none.push(format!("{}: {why}", r.name)),
        }
    }
    (out, none)
}

/// Appends `entries` to `DIR/history.jsonl` in one `O_APPEND` write, then `fsync` (see the
/// module docs for why). Creates DIR and the file when needed. Returns the file's path.
pub fn append(dir: &Path, entries: &[Entry]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE);
    let mut text = String::new();
    for e in entries {
        text.push_str(&serde_json::to_string(e).map_err(io::Error::other)?);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)?;
    // A torn last line (a crash mid-append) must not swallow this run's first line.
    if file.metadata()?.len() > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            text.insert(0, '\n');
        }
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}

/// The history as read: the entries, and each line skipped, named (`FILE:LINE: why`).
#[derive(Debug, Default)]
pub struct History {
    pub entries: Vec<Entry>,
    pub skipped: Vec<String>,
}

/// Reads `DIR/history.jsonl` (none yet: empty). A line that is not a whole entry of this
/// schema (torn by a crash, edited by hand) is skipped and named, never fatal.
pub fn read(dir: &Path) -> io::Result<History> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
        Err(e) => return Err(e),
    };
    let mut h = History::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let why = match serde_json::from_slice::<Entry>(line) {
            Ok(e) if e.schema == SCHEMA => {
                h.entries.push(e);
                continue;
            }
            Ok(e) => format!("schema {:?}, not {SCHEMA}", e.schema),
            Err(e) => format!("not a history entry ({e})"),
        };
        h.skipped
            .push(format!("{}:{}: skipped: {why}", path.display(), i + 1));
    }
    Ok(h)
}

const P99: RGBColor = RGBColor(31, 119, 180);
const MAX: RGBColor = RGBColor(148, 103, 189);
/// The budgets' colours, as in `histogram.svg`.
const BUDGET: RGBColor = RGBColor(214, 39, 40);
const P99_BUDGET: RGBColor = RGBColor(255, 127, 14);

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    format!("cannot draw the trend: {e}")
}

/// The trend's chart: runs in history order over latency in µs, log scale.
type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::combinators::LogCoord<f64>,
    >,
>;

/// What a series plots of a run.
type Metric = fn(&Entry) -> Option<f64>;

/// The y range: every value and budget with room, at least 0.5 µs at the bottom.
fn y_range(runs: &[&Entry]) -> (f64, f64) {
    let values = runs.iter().flat_map(|e| {
        [e.p99_us, e.max_us, Some(e.budget_max_us), e.budget_p99_us]
            .into_iter()
            .flatten()
    });
    let (lo, hi) = values.fold((f64::MAX, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    ((lo.max(1.0) / 2.0).max(0.5), hi * 2.0)
}

/// The title and axes: x the run's place in the history, y latency on a log scale.
fn axes<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    runs: &[&Entry],
    (y_lo, y_hi): (f64, f64),
) -> Result<Chart<'a, 'b>, String> {
    let (first, last) = (runs[0], runs[runs.len() - 1]);
    let title = format!(
        "{} · {}: p99 and max over {} run(s), {} … {}",
        first.board,
        first.scenario,
        runs.len(),
        first.time,
        last.time
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..runs.len() as f64 + 0.5, (y_lo..y_hi).log_scale())
        .map_err(draw_error)?;
    let run_label = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 1.0 {
            format!("{i:.0}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("run (history order)")
        .y_desc("latency (µs, log scale)")
        .x_label_formatter(&run_label)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(draw_error)?;
    Ok(chart)
}

/// `(run number, value)` of each run that has the metric, clamped to the bottom of the plot.
fn points(runs: &[&Entry], f: Metric, y_lo: f64) -> Vec<(f64, f64)> {
    runs.iter()
        .enumerate()
        .filter_map(|(i, e)| Some(((i + 1) as f64, f(e)?.max(y_lo))))
        .collect()
}

/// p99 and max: a line with a dot per run each.
fn draw_metrics(chart: &mut Chart<'_, '_>, runs: &[&Entry], y_lo: f64) -> Result<(), String> {
    let metrics: [(&str, RGBColor, Metric); 2] =
        [("p99", P99, |e| e.p99_us), ("max", MAX, |e| e.max_us)];
    for (name, colour, f) in metrics {
        let pts = points(runs, f, y_lo);
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(draw_error)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))
            .map_err(draw_error)?;
    }
    Ok(())
}

/// The budgets as dashed lines: each run's held from half a run before it to half after, so
/// a budget changed by a new profile shows as a step.
fn draw_budgets(chart: &mut Chart<'_, '_>, runs: &[&Entry], y_lo: f64) -> Result<(), String> {
    let budgets: [(&str, RGBColor, Metric); 2] = [
        ("budget (max)", BUDGET, |e| Some(e.budget_max_us)),
        ("budget (p99)", P99_BUDGET, |e| e.budget_p99_us),
    ];
    for (name, colour, f) in budgets {
        let pts: Vec<(f64, f64)> = points(runs, f, y_lo)
            .into_iter()
            .flat_map(|(x, y)| [(x - 0.5, y), (x + 0.5, y)])
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(DashedLineSeries::new(pts, 8, 5, colour.stroke_width(2)))
            .map_err(draw_error)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    Ok(())
}

/// The SVG trend of one board's scenario: p99 and max (µs, log scale) per run in history
/// order, the max budget (and the p99 budget, if any) as dashed lines over the same runs.
pub fn trend_svg(runs: &[&Entry]) -> Result<String, String> {
    if runs.is_empty() {
        return Err("no runs to plot".into());
    }
    let y = y_range(runs);
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (1000, 460)).into_drawing_area();
        area.fill(&WHITE).map_err(draw_error)?;
        let mut chart = axes(&area, runs, y)?;
        draw_metrics(&mut chart, runs, y.0)?;
        draw_budgets(&mut chart, runs, y.0)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(draw_error)?;
        area.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// A file-name part from a board or scenario name: anything but `[A-Za-z0-9._-]` is `_`.
fn file_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Redraws `DIR/trend-<board>-<scenario>.svg` from the whole history for each board and
/// scenario in `which`, atomically (a reader sees the old plot or the new one). Returns the
/// plots written.
pub fn write_trends(
    dir: &Path,
    history: &History,
    which: &[(String, String)],
) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (board, scenario) in which {
        let runs: Vec<&Entry> = history
            .entries
            .iter()
            .filter(|e| &e.board == board && &e.scenario == scenario)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let svg = trend_svg(&runs).map_err(io::Error::other)?;
        let path = dir.join(format!(
            "trend-{}-{}.svg",
            file_part(board),
            file_part(scenario)
        ));
        rros_files::write_atomic(&path, svg.as_bytes(), 0o644)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> Report {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../on-target/rros-contract/golden/pass.json"),
        )
        .unwrap();
        Report::from_json(&text, "golden").unwrap()
    }

    /// Three runs of the golden report with the p99 and max growing.
    fn three_runs() -> Vec<Entry> {
        let mut all = Vec::new();
        for i in 0..3u32 {
            let mut r = golden();
            r.run_id = format!("2026010{}T000000Z-qemux86-64", i + 1);
            r.finished_at = format!("2026-01-0{}T00:00:00Z", i + 1);
            for s in &mut r.scenarios {
                s.percentiles.p99_us = Some(10.0 + 5.0 * f64::from(i));
                s.max_us = Some(40.0 + 20.0 * f64::from(i));
            }
            all.extend(entries("vboard", &r));
        }
        all
    }

    #[test]
    fn a_recorded_history_reads_back_and_plots_its_series_and_budget() {
        let dir = tempfile::tempdir().unwrap();
        let runs = three_runs();
        for run in runs.chunks(runs.len() / 3) {
            append(dir.path(), run).unwrap();
        }
        let h = read(dir.path()).unwrap();
        assert!(h.skipped.is_empty(), "{:?}", h.skipped);
        assert_eq!(h.entries, runs);
        let scenario = runs[0].scenario.clone();
        let budget = runs[0].budget_max_us;
        let written =
            write_trends(dir.path(), &h, &[("vboard".to_owned(), scenario.clone())]).unwrap();
        assert_eq!(
            written,
            [dir.path().join(format!("trend-vboard-{scenario}.svg"))]
        );
        let svg = std::fs::read_to_string(&written[0]).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains(&format!("vboard · {scenario}: p99 and max over 3 run(s)")));
        // The legend names both series and the budget; each run is a point of each series.
        for label in ["p99", "max", "budget (max)", "budget (p99)"] {
            assert!(
                svg.lines().any(|l| l.trim() == label),
                "{label} in the legend"
            );
        }
        assert_eq!(svg.matches("<circle").count(), 6, "3 runs × (p99, max)");
        // The series are lines (one polyline each) and the budget a dashed line: at least
        // the two series and the budget's dashes.
        let dashes = |colour: &str| svg.matches(&format!("stroke=\"{colour}\"")).count();
        assert!(
            dashes("#D62728") >= 10,
            "dashed budget line {budget} µs drawn"
        );
        assert!(dashes("#FF7F0E") >= 10, "dashed p99 budget line drawn");
        // p99 and max: one line and one legend mark each.
        assert_eq!(dashes("#1F77B4"), 2);
        assert_eq!(dashes("#9467BD"), 2);
    }

    /// A garbage line and a torn last line are skipped and named; the next append starts on
    /// a line of its own, so it reads back whole.
    #[test]
    fn corrupt_lines_are_skipped_and_named_never_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let runs = three_runs();
        append(dir.path(), &runs[..1]).unwrap();
        let path = dir.path().join(FILE);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"garbage, not JSON\n").unwrap();
        let torn = serde_json::to_string(&runs[1]).unwrap();
        f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
        drop(f);
        let h = read(dir.path()).unwrap();
        assert_eq!(h.entries, runs[..1]);
        assert_eq!(h.skipped.len(), 2, "{:?}", h.skipped);
        assert!(h.skipped[0].starts_with(&format!(
            "{}:2: skipped: not a history entry",
            path.display()
        )));
        assert!(h.skipped[1].starts_with(&format!("{}:3: skipped", path.display())));
        // After the torn line, a new run's lines are whole.
        append(dir.path(), &runs[2..3]).unwrap();
        let h = read(dir.path()).unwrap();
        assert_eq!(h.entries, [runs[0].clone(), runs[2].clone()]);
        assert_eq!(h.skipped.len(), 2);
        // Another schema is skipped too, and no history at all is empty.
        std::fs::write(&path, r#"{"schema":"rros-history/9"}"#).unwrap();
        assert!(read(dir.path()).unwrap().skipped[0].contains("not a history entry"));
        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path()).unwrap().entries.is_empty());
    }

    #[test]
    fn entries_carry_the_key_and_numbers() {
        let r = golden();
        let e = entries("vb", &r);
        assert_eq!(e.len(), r.scenarios.len());
        assert_eq!(e[0].key.kernel_config_sha256, r.host.kernel_config_sha256);
        assert_eq!(e[0].key.profile_sha256, r.profile.sha256);
        assert_eq!(e[0].key.engine, format!("rros-validate {}", r.tool.version));
        assert_eq!(e[0].p99_us, r.scenarios[0].percentiles.p99_us);
        assert_eq!(e[0].budget_max_us, r.scenarios[0].threshold.max_us);
        assert_eq!(file_part("a b/c"), "a_b_c");
    }
}
