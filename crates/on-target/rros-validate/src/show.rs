//! `rros-validate report`: prints a stored run in one of the contract's renderings.

use crate::render;
use crate::report::Report;
use crate::store;
use anyhow::{Context, Result};
use std::path::Path;

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
