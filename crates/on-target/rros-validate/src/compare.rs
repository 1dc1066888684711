//! `rros-validate compare BASE NEW`: did this build get worse? Reads two runs (run
//! directories, run ids in the output directory, or report.json files) and prints, per
//! scenario, p50 / p99 / p99.9 / max with their intervals and REGRESSED / UNCHANGED /
//! IMPROVED. The statistics are the contract's (`rros_contract::compare`); this module only
//! finds the reports and decides the exit code.

use crate::store;
use anyhow::{Context, Result};
use rros_contract::Report;
use rros_contract::compare::{self, Change};
use std::path::{Path, PathBuf};

/// Exit codes: 0 UNCHANGED or IMPROVED, 1 REGRESSED, 2 cannot read or not like with like.
/// `noise` is the noise threshold (a fraction; `compare::compare_with`).
pub fn cmd_compare(
    dir: &Path,
    base: &str,
    new: &str,
    allow_mismatch: bool,
    noise: f64,
) -> Result<u8> {
    let base = read(dir, base).context("BASE")?;
    let new = read(dir, new).context("NEW")?;
    let c = compare::compare_with(&base, &new, noise);
    if !c.like_with_like() {
        let mut what: Vec<String> = c.mismatches.clone();
        for s in &c.scenarios {
            what.extend(s.differences.iter().map(|d| format!("{}: {d}", s.name)));
        }
        if !allow_mismatch {
            eprintln!(
                "rros-validate: refusing to compare unlike runs: {}; compare runs of one board and scenario setup, or pass --allow-mismatch to compare anyway",
                what.join("; ")
            );
            return Ok(2);
        }
        eprintln!(
            "rros-validate: warning: the runs are not like with like ({}): the words below compare different things",
            what.join("; ")
        );
    }
    println!("BASE {}  NEW {}", base.run_id, new.run_id);
    print!("{}", c.render());
    Ok(match c.change {
        Change::Regressed => 1,
        Change::Unchanged | Change::Improved => 0,
    })
}

/// A report.json file, or a run (id, `latest`, directory) as `report` finds it.
fn read(dir: &Path, run: &str) -> Result<Report> {
    let path: PathBuf = if Path::new(run).is_file() {
        PathBuf::from(run)
    } else {
        store::resolve_run(dir, Some(run))?.join("report.json")
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Report::from_json(&text, &path.display().to_string())?)
}
