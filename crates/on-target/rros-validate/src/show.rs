//! `rros-validate report`: prints a stored run in one of the contract's renderings;
//! `rros-validate analyze`: runs the analysis of why again on a stored run's evidence.

use crate::render;
use crate::report::{Report, ScenarioReport};
use crate::store;
use anyhow::{Context, Result};
use rros_contract::analysis::Analysis;
use std::path::{Path, PathBuf};

/// What `rros-validate report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Junit,
    Markdown,
    Lava,
    /// The verdict alone (`PASS`, `FAIL` or `ERROR`): what a script compares, read by the
    /// contract (with `--from-output`, from the verdict line itself, no report needed).
    Verdict,
}

/// `rros-validate report --from-output FILE`: the run named by the last verdict line in FILE.
pub fn cmd_report_from_output(file: &Path, format: ReportFormat) -> Result<u8> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let line = rros_contract::VerdictLine::find_last(&text).with_context(|| {
        format!(
            "{} has no verdict line (`rros-validate: verdict=... run=... dir=...`): the run did not finish",
            file.display()
        )
    })?;
    if format == ReportFormat::Verdict {
        println!("{}", line.verdict);
        return Ok(0);
    }
    match line.dir {
        Some(dir) => cmd_report(Path::new("."), Some(&dir), format),
        None => anyhow::bail!(
            "the run in {} wrote no report (verdict {}, run=- dir=-): see its output for why",
            file.display(),
            line.verdict
        ),
    }
}

/// `rros-validate report`: prints a run. `run` may also name a report.json file (a copy taken
/// off the board, a golden report). Exit 0 when printed; 2 when the report cannot be read.
pub fn cmd_report(dir: &Path, run: Option<&str>, format: ReportFormat) -> Result<u8> {
    let (run_dir, _, text, report) = load(dir, run)?;
    let out = match format {
        ReportFormat::Json => text,
        ReportFormat::Junit => render::junit::render(&report).context("cannot render JUnit")?,
        ReportFormat::Markdown => render::markdown::render(&report),
        ReportFormat::Lava => rros_contract::render::lava::render(&report),
        ReportFormat::Verdict => format!("{}\n", report.verdict),
        ReportFormat::Text => {
            let shown = run_dir.canonicalize().unwrap_or(run_dir);
            render::text::render(&report, &shown.display().to_string())
        }
    };
    print!("{out}");
    Ok(0)
}

/// A stored run: its directory, its report.json's path, text and parsed report. `run` may
/// be a run id, `latest`, a run directory or a report.json file.
fn load(dir: &Path, run: Option<&str>) -> Result<(PathBuf, PathBuf, String, Report)> {
    let (run_dir, path) = match run.map(Path::new) {
        Some(file) if file.is_file() => (
            file.parent().unwrap_or(Path::new(".")).to_owned(),
            file.to_owned(),
        ),
        _ => {
            let run_dir = store::resolve_run(dir, run)?;
            let path = run_dir.join("report.json");
            (run_dir, path)
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let report = Report::from_json(&text, &path.display().to_string())?;
    Ok((run_dir, path, text, report))
}

/// One scenario's analysis, run again.
#[derive(serde::Serialize)]
struct Reanalysis {
    scenario: String,
    verdict: String,
    /// Whether report.json holds the same analysis (None: it holds none).
    same_as_recorded: Option<bool>,
    analysis: Analysis,
}

/// `rros-validate analyze`: the analysis of every measured scenario of a stored run, from
/// its `evidence-<scenario>.json`, printed with every cause (the report shows the top
/// ones); `write` puts it in report.json, summary.md and junit.xml. Exit 0 when analysed, 2
/// when the run or its evidence cannot be read.
pub fn cmd_analyze(dir: &Path, run: Option<&str>, json: bool, write: bool) -> Result<u8> {
    let (run_dir, path, _, mut report) = load(dir, run)?;
    let mut done = Vec::new();
    for sc in report.scenarios.iter_mut().filter(|s| s.measured) {
        let file = run_dir.join(rros_cause::stored::file_name(&sc.name));
        let stored = read_evidence(&file, &sc.name)?;
        let analysis = stored.analyse(sc);
        done.push(Reanalysis {
            scenario: sc.name.clone(),
            verdict: sc.verdict.to_string(),
            // Through JSON as report.json holds it, so that float parsing cannot differ.
            same_as_recorded: sc
                .analysis
                .as_ref()
                .map(|a| Some(a) == as_stored(&analysis).as_ref()),
            analysis: analysis.clone(),
        });
        sc.analysis = Some(analysis);
    }
    if done.is_empty() {
        anyhow::bail!(
            "{}: no scenario of run {} was measured: there is nothing to analyse",
            path.display(),
            report.run_id
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        for (r, sc) in done
            .iter()
            .zip(report.scenarios.iter().filter(|s| s.measured))
        {
            print!("{}", analysis_text(r, sc));
        }
    }
    if write {
        rewrite(&path, &report)?;
        if !json {
            println!(
                "written: the analysis in {}, summary.md and junit.xml",
                path.display()
            );
        }
    }
    Ok(0)
}

/// The stored evidence of `scenario`, or an error naming the file and what to do.
fn read_evidence(file: &Path, scenario: &str) -> Result<rros_cause::Stored> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{}: no such file: scenario `{scenario}` has no stored evidence (the run was made with --no-cause-capture, or by a rros-validate that kept none); measure it again with this rros-validate to analyse it",
            file.display()
        ),
        Err(e) => anyhow::bail!("cannot read {}: {e}", file.display()),
    };
    rros_cause::Stored::from_json(&text, &file.display().to_string()).map_err(anyhow::Error::msg)
}

/// The terminal view of one scenario's analysis: every cause, the worst samples, what was
/// not checked, and whether report.json says the same.
fn analysis_text(r: &Reanalysis, sc: &ScenarioReport) -> String {
    let a = &r.analysis;
    let max = sc.max_us.map_or("-".into(), |m| format!("{m:.1}"));
    let mut s = format!(
        "scenario {}: {}, max {max} µs, budget {} µs\n",
        sc.name, sc.verdict, sc.threshold.max_us
    );
    let heading = a
        .heading(sc.max_us, sc.threshold.max_us)
        .unwrap_or_else(|| "within budget with margin: the analysis is kept as a record".into());
    s += &format!("  {heading}\n");
    for (i, c) in a.causes.iter().enumerate() {
        s += &format!(
            "  {}. [{}] {}: {}\n     fix: {}\n",
            i + 1,
            c.confidence.as_str(),
            c.rule,
            c.evidence,
            c.fix
        );
    }
    if !a.worst.is_empty() {
        s += "  worst samples:\n";
        for w in &a.worst {
            s += &format!(
                "    CPU {} {:.1} µs at {:.3} s: {}\n",
                w.cpu, w.latency_us, w.at_s, w.interval
            );
        }
    }
    for u in &a.unchecked {
        s += &format!("  not checked: {u}\n");
    }
    s += match r.same_as_recorded {
        Some(true) => "  report.json records the same analysis\n",
        Some(false) => {
            "  report.json records a different analysis (made by other rules): --write replaces it\n"
        }
        None => "  report.json records no analysis: --write adds it\n",
    };
    s
}

/// report.json, summary.md and junit.xml of the run, each replaced atomically.
fn rewrite(path: &Path, report: &Report) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let junit = render::junit::render(report).context("cannot render JUnit")?;
    store::write_atomic(path, report.to_json().as_bytes())?;
    store::write_atomic(
        &dir.join("summary.md"),
        render::markdown::render(report).as_bytes(),
    )?;
    store::write_atomic(&dir.join("junit.xml"), junit.as_bytes())?;
    Ok(())
}

/// `a` as report.json gives it back: written and parsed.
fn as_stored(a: &Analysis) -> Option<Analysis> {
    serde_json::from_str(&serde_json::to_string(a).ok()?).ok()
}
