//! `audit` and `tune`: thin wrappers over `rros-isolation`, and the audit's place in a run.

use crate::report::{AuditReport, CheckReport, Outcome, Severity, Verdict};
use anyhow::Result;
use rros_board::Board;
use rros_isolation::{ActionOutcome, Audit};
use std::io::Write;
use std::path::Path;

/// The audit as the report records it.
pub fn to_report(audit: &Audit) -> AuditReport {
    // The audit's findings are the contract's type: they go into the report as they are.
    let finding = |f: &rros_isolation::Finding| f.clone();
    let checks = audit
        .checks
        .iter()
        .map(|c| {
            let (outcome, reason) = match &c.outcome {
                rros_isolation::Outcome::Pass => (Outcome::Pass, None),
                rros_isolation::Outcome::Findings { .. } => (Outcome::Finding, None),
                rros_isolation::Outcome::Skipped { reason } => {
                    (Outcome::Skipped, Some(reason.clone()))
                }
            };
            CheckReport {
                rule: c.rule.to_owned(),
                title: c.title.to_owned(),
                outcome,
                reason,
                findings: c.findings().iter().map(finding).collect(),
            }
        })
        .collect();
    let k = &audit.kernel;
    AuditReport {
        verdict: if audit.breaks_profile() {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        kernel: Some(format!(
            "{} (real-time core: {}; {})",
            k.release, k.realtime_core, k.realtime_evidence
        )),
        checks,
        findings: audit.findings().map(finding).collect(),
        error: None,
    }
}

/// Runs the audit; an unreadable system is an ERROR audit, never a panic.
pub fn run_audit(board: &Board, sysroot: &Path) -> (AuditReport, Option<Audit>) {
    match rros_isolation::audit(board, sysroot) {
        Ok(a) => (to_report(&a), Some(a)),
        Err(e) => (unreadable(&e), None),
    }
}

/// The audit of a system that could not be read: verdict ERROR, with the reason and the fix.
fn unreadable(e: &impl std::fmt::Display) -> AuditReport {
    AuditReport::failed(format!(
        "the isolation audit could not read the system: {e}. Run as root (the audit reads /proc/irq and debugfs)."
    ))
}

/// Human text of an audit: every check with its outcome, evidence and fix.
pub fn render_text(report: &AuditReport, board: &str) -> String {
    let mut s = String::new();
    let kernel = report.kernel.as_deref().unwrap_or("unknown");
    s += &format!("audit of board {board} — kernel {kernel}\n");
    for c in &report.checks {
        let tag = match c.outcome {
            Outcome::Pass => "pass",
            Outcome::Finding => {
                if c.findings.iter().any(|f| f.severity == Severity::Error) {
                    "FAIL"
                } else {
                    "warn"
                }
            }
            Outcome::Skipped => "skip",
        };
        s += &format!("  {tag:<5} {:<28} {}\n", c.rule, c.title);
        if let Some(r) = &c.reason {
            s += &format!("        skipped: {r}\n");
        }
        for f in &c.findings {
            let sev = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            s += &format!("        {sev}: {}\n        fix: {}\n", f.evidence, f.fix);
        }
    }
    if let Some(e) = &report.error {
        s += &format!("  ERROR {e}\n");
    }
    let count = |o: Outcome| report.checks.iter().filter(|c| c.outcome == o).count();
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    s += &format!(
        "{} checks: {} pass, {} with findings ({} error(s), {} warning(s)), {} skipped\n",
        report.checks.len(),
        count(Outcome::Pass),
        count(Outcome::Finding),
        errors,
        report.findings.len() - errors,
        count(Outcome::Skipped)
    );
    s += &format!(
        "audit: {}\n",
        match report.verdict {
            Verdict::Pass => "PASS (the live system matches the profile)",
            Verdict::Fail => "FAIL (the live system breaks the profile: apply the fixes above)",
            Verdict::Error => "ERROR (could not read the system)",
            // The audit has no claim to prove; never produced, but never shown as passed.
            Verdict::Inconclusive => "INCONCLUSIVE (not passed)",
        }
    );
    s
}

/// `rros-validate audit`: exit 0 clean, 1 a finding breaks the profile, 2 cannot read.
///
/// `--json` prints the [`AuditReport`] that `report.json` carries as its `audit`: one type of
/// the contract serializes both, so a consumer reads an audit the same way wherever it comes
/// from (an audit that cannot read the system is its `error`, with verdict ERROR).
pub fn cmd_audit(board: &Board, sysroot: &Path, json: bool) -> Result<u8> {
    let (report, unread) = match rros_isolation::audit(board, sysroot) {
        Ok(a) => (to_report(&a), None),
        Err(e) => (unreadable(&e), Some(e)),
    };
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    }
    match unread {
        None if !json => write!(out, "{}", render_text(&report, &board.name))?,
        None => {}
        Some(e) => {
            eprintln!("rros-validate: error: the isolation audit could not read the system: {e}");
            eprintln!("  run as root, or point --sysroot at a captured /proc and /sys");
        }
    }
    Ok(report.verdict.exit_code())
}

/// `rros-validate tune`: applies the runtime tuning; exit 0, or 2 if anything failed.
pub fn cmd_tune(board: &Board, sysroot: &Path, dry_run: bool) -> Result<u8> {
    let actions = match rros_isolation::apply(board, sysroot, dry_run) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "rros-validate: error: cannot apply the tuning of board {}: {e}",
                board.name
            );
            return Ok(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let (mut written, mut failed) = (0, 0);
    for a in &actions {
        let (tag, detail) = match &a.outcome {
            ActionOutcome::Written { was } => {
                written += 1;
                ("written", format!("{} (was {was})", a.value))
            }
            ActionOutcome::WouldWrite { was } => {
                written += 1;
                ("would write", format!("{} (now {was})", a.value))
            }
            ActionOutcome::Unchanged { current } => ("unchanged", current.clone()),
            ActionOutcome::Skipped { reason } => ("skipped", reason.clone()),
            ActionOutcome::Failed { error } => {
                failed += 1;
                ("FAILED", error.clone())
            }
        };
        writeln!(out, "  {tag:<11} {}: {} = {detail}", a.what, a.path)?;
    }
    writeln!(
        out,
        "tune {}: {} action(s), {} {}, {} failed{}",
        board.name,
        actions.len(),
        written,
        if dry_run {
            "would be written"
        } else {
            "written"
        },
        failed,
        if dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    )?;
    Ok(if failed > 0 { 2 } else { 0 })
}
