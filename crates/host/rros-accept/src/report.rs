//! What a board's `report.json` says, and the host-side reports of a run: `junit.xml`,
//! `summary.md` and `accept.json`, for one board or a fleet.

use crate::baseline::BoardBaseline;
use crate::verdict::{Verdict, fleet_verdict};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The files every `rros-validate run` writes into its run folder (the on-target contract).
pub const REPORT_FILES: [&str; 5] = [
    "report.json",
    "junit.xml",
    "histogram.svg",
    "summary.md",
    "cyclictest.json",
];

/// One audit finding from `report.json`: the contract's type, severity typed.
pub use rros_contract::Finding as AuditFinding;
use rros_contract::Severity;
use rros_contract::cases::{Case, Status, Suite};
use rros_contract::render::junit::{NamedSuite, render_suites};

/// Whether the finding breaks the profile (a warning does not).
pub fn is_breaking(f: &AuditFinding) -> bool {
    f.severity == Severity::Error
}

/// One scenario from `report.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioResult {
    pub name: String,
    pub verdict: Option<Verdict>,
    pub samples: Option<u64>,
    pub max_us: Option<f64>,
    pub threshold_us: Option<f64>,
    pub margin_us: Option<f64>,
    /// The analysis' top cause of a FAIL, or of a PASS with a thin margin (issue #16).
    pub top_cause: Option<String>,
}

/// What the host needs from a board's `report.json` (schema `rros-validate/1`). Unknown
/// fields are ignored, so the schema may grow without breaking acceptance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportSummary {
    pub schema: Option<String>,
    pub verdict: Option<Verdict>,
    pub board: Option<String>,
    pub findings: Vec<AuditFinding>,
    pub scenarios: Vec<ScenarioResult>,
    pub errors: Vec<String>,
    /// The report's test cases, by the contract's one mapping (`rros_contract::cases`): what
    /// the fleet's `junit.xml` shows of this board.
    pub cases: Vec<Case>,
}

/// Reads the parts of `report.json` acceptance shows, through the contract's reader
/// (`rros_contract::Report::from_json`: unknown fields ignored, the decision fields required
/// and typed, another schema major refused).
pub fn parse_report(json_text: &str) -> Result<ReportSummary, String> {
    let report =
        rros_contract::Report::from_json(json_text, "report.json").map_err(|e| e.to_string())?;
    let cases = rros_contract::cases::cases(&report);
    Ok(ReportSummary {
        cases,
        schema: Some(report.schema),
        verdict: Some(report.verdict),
        board: report.board.map(|b| b.name),
        findings: report.audit.findings,
        scenarios: report
            .scenarios
            .into_iter()
            .map(|s| ScenarioResult {
                name: s.name,
                verdict: Some(s.verdict),
                samples: Some(s.samples),
                max_us: s.max_us,
                threshold_us: Some(s.threshold.max_us),
                margin_us: s.margin_us,
                top_cause: s
                    .analysis
                    .as_ref()
                    .filter(|a| a.shown())
                    .and_then(|a| a.top_line()),
            })
            .collect(),
        errors: report.errors.into_iter().map(|e| e.message).collect(),
    })
}

/// How an ERROR came about, for programs reading `accept.json` (`error_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// SSH never got the remote command started (TCP connect, banner, key exchange, login),
    /// after the retries: nothing ran on the board, and the run may safely be tried again.
    CouldNotStart,
    /// The link broke after the remote command had started; the board did not reboot, or
    /// could not be reached again to tell.
    LostMidRun,
    /// The board rebooted during the run (its boot id changed).
    Rebooted,
    /// No verdict within the run's time bound.
    TimedOut,
    /// The board answered, but without a verdict and reports that can be trusted.
    Board,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::CouldNotStart => "could-not-start",
            ErrorKind::LostMidRun => "lost-mid-run",
            ErrorKind::Rebooted => "rebooted",
            ErrorKind::TimedOut => "timed-out",
            ErrorKind::Board => "board",
        }
    }
}

/// Checks `report.json` against what the schema requires of a verdict (schema
/// `rros-validate/1`): the decision fields present and typed, the verdict words known, and a
/// PASS that the schema's own rules allow — no error, not interrupted, a clean audit, and at
/// least one scenario, every one measured with samples and PASS. Returns the report's verdict.
pub fn check_report(json_text: &str) -> Result<Verdict, String> {
    // The contract's reader: the decision fields required and typed (verdict words and
    // severities included), the schema's major checked.
    let report =
        rros_contract::Report::from_json(json_text, "report.json").map_err(|e| e.to_string())?;
    let verdict = report.verdict;
    let audit = report.audit.verdict;
    if report.run_id.is_empty() {
        return Err("run_id is empty".into());
    }
    for (i, f) in report.audit.findings.iter().enumerate() {
        if f.rule.is_empty() || f.evidence.is_empty() || f.fix.is_empty() {
            return Err(format!(
                "audit.findings[{i}] has an empty rule, evidence or fix"
            ));
        }
    }
    for (i, e) in report.errors.iter().enumerate() {
        if e.scope.is_empty() || e.message.is_empty() {
            return Err(format!("errors[{i}] has an empty scope or message"));
        }
    }
    let mut scenario_verdicts = Vec::new();
    for (i, s) in report.scenarios.iter().enumerate() {
        if s.name.is_empty() {
            return Err(format!("scenarios[{i}].name is empty"));
        }
        let v = s.verdict;
        if s.threshold.max_us.is_nan() || s.threshold.max_us <= 0.0 {
            return Err(format!("scenarios[{i}].threshold.max_us is not positive"));
        }
        if v == Verdict::Pass
            && (!s.measured || s.samples == 0 || !s.reasons.is_empty() || s.max_us.is_none())
        {
            return Err(format!(
                "scenario {} says PASS without a measurement (measured {}, {} samples, max {:?}, {} reason(s))",
                s.name,
                s.measured,
                s.samples,
                s.max_us,
                s.reasons.len()
            ));
        }
        scenario_verdicts.push(v);
    }
    if verdict == Verdict::Pass {
        if report.interrupted {
            return Err("PASS, but the run was interrupted".into());
        }
        if !report.errors.is_empty() {
            return Err(format!(
                "PASS with {} error(s) recorded",
                report.errors.len()
            ));
        }
        if audit != Verdict::Pass {
            return Err(format!("PASS, but the audit says {audit}"));
        }
        if !report.options.audit_only {
            if scenario_verdicts.is_empty() {
                return Err("PASS with no scenario measured (zero scenarios is never PASS)".into());
            }
            if let Some(i) = scenario_verdicts.iter().position(|v| *v != Verdict::Pass) {
                return Err(format!(
                    "PASS, but scenario {} says {}",
                    report.scenarios[i].name, scenario_verdicts[i]
                ));
            }
        }
    }
    Ok(verdict)
}

/// The outcome of accepting one board.
#[derive(Debug, Clone)]
pub struct BoardResult {
    /// The board's name (its folder under `--out`).
    pub name: String,
    /// `user@host[:port]`.
    pub target: String,
    pub verdict: Verdict,
    /// One line: why ERROR or FAIL; `None` for a clean PASS.
    pub reason: Option<String>,
    pub kernel: Option<String>,
    pub run_id: Option<String>,
    /// The run folder on the board.
    pub remote_dir: Option<String>,
    /// Where its reports landed on this host.
    pub local_dir: Option<PathBuf>,
    /// Report files the board should have written but that did not come home.
    pub missing: Vec<String>,
    pub report: Option<ReportSummary>,
    pub elapsed: Duration,
    /// For an ERROR: how it came about (`None` for PASS and FAIL).
    pub error_kind: Option<ErrorKind>,
}

impl BoardResult {
    pub fn error(name: &str, target: &str, reason: impl Into<String>, elapsed: Duration) -> Self {
        BoardResult {
            name: name.to_owned(),
            target: target.to_owned(),
            verdict: Verdict::Error,
            reason: Some(reason.into()),
            kernel: None,
            run_id: None,
            remote_dir: None,
            local_dir: None,
            missing: Vec::new(),
            report: None,
            elapsed,
            error_kind: Some(ErrorKind::Board),
        }
    }

    /// An ERROR of the given kind.
    pub fn error_of(
        kind: ErrorKind,
        name: &str,
        target: &str,
        reason: impl Into<String>,
        elapsed: Duration,
    ) -> Self {
        BoardResult {
            error_kind: Some(kind),
            ..BoardResult::error(name, target, reason, elapsed)
        }
    }
}

/// A short reason for a FAIL from the report: the broken audit rules, then the scenarios over
/// budget.
pub fn fail_reason(report: &ReportSummary) -> Option<String> {
    let mut parts = Vec::new();
    // Each broken rule once, in the report's order, with how often it broke.
    let mut rules: Vec<(&str, usize)> = Vec::new();
    let mut total = 0;
    for f in report.findings.iter().filter(|f| is_breaking(f)) {
        total += 1;
        match rules.iter_mut().find(|(r, _)| *r == f.rule) {
            Some((_, n)) => *n += 1,
            None => rules.push((&f.rule, 1)),
        }
    }
    if total > 0 {
        let shown: Vec<String> = rules
            .iter()
            .map(|(r, n)| {
                if *n > 1 {
                    format!("{r} ×{n}")
                } else {
                    (*r).to_owned()
                }
            })
            .collect();
        parts.push(format!("audit: {total} finding(s): {}", shown.join(", ")));
    }
    for s in &report.scenarios {
        if s.verdict == Some(Verdict::Inconclusive) {
            parts.push(format!(
                "scenario {} inconclusive (within budget, too few samples to prove its claim)",
                s.name
            ));
        }
        if s.verdict == Some(Verdict::Fail) {
            let mut part = format!("scenario {} over budget", s.name);
            if let (Some(max), Some(threshold)) = (s.max_us, s.threshold_us) {
                let _ = write!(part, " (max {max} us > {threshold} us)");
            }
            parts.push(part);
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The case acceptance adds to a board's suite: `acceptance`, the host's own judgement (the
/// board reached, the reports home and agreeing with the verdict line). Without a report it is
/// the board's only case.
fn acceptance_case(r: &BoardResult) -> Case {
    let missing: Vec<String> = r
        .missing
        .iter()
        .map(|m| format!("report file {m} did not come home"))
        .collect();
    let status = match r.verdict {
        Verdict::Error => Status::Error,
        Verdict::Fail | Verdict::Inconclusive if r.report.is_none() => Status::Fail,
        _ if !missing.is_empty() => Status::Fail,
        _ => Status::Pass,
    };
    let message = match status {
        Status::Pass | Status::Skip => String::new(),
        _ => r.reason.clone().unwrap_or_else(|| missing.join("; ")),
    };
    let details = if missing.is_empty() || status == Status::Pass {
        message.clone()
    } else {
        missing.join("\n")
    };
    Case {
        suite: Suite::Run,
        id: "acceptance".into(),
        title: None,
        status,
        message,
        details,
        output: format!("verdict={} target={}", r.verdict, r.target),
        max_us: None,
        time_s: Some(r.elapsed.as_secs_f64()),
    }
}

/// A board's `<testsuite>`: the report's cases (run, audit rules, scenarios) and
/// [`acceptance_case`], with the target, verdict, run and kernel as properties.
pub fn board_suite(r: &BoardResult) -> NamedSuite {
    let mut cases = r
        .report
        .as_ref()
        .map(|rep| rep.cases.clone())
        .unwrap_or_default();
    cases.push(acceptance_case(r));
    let mut properties = vec![
        ("target".to_owned(), r.target.clone()),
        ("verdict".to_owned(), r.verdict.as_str().to_owned()),
    ];
    properties.extend(r.run_id.clone().map(|run| ("run".to_owned(), run)));
    properties.extend(r.kernel.clone().map(|k| ("kernel".to_owned(), k)));
    NamedSuite {
        name: r.name.clone(),
        cases,
        properties,
        time_s: Some(r.elapsed.as_secs_f64()),
    }
}

/// JUnit XML for a run, through the contract's renderer: one `<testsuite>` per board, with
/// the cases of its report (run, each audit rule, each scenario: CI shows which part broke)
/// and an `acceptance` case (ERROR before a verdict, or reports missing).
pub fn junit_xml(results: &[BoardResult]) -> String {
    junit_xml_with(results, &[])
}

/// [`junit_xml`], each board's suite with its baseline cases (`baseline::cases`: a REGRESSED
/// scenario is a failure).
pub fn junit_xml_with(results: &[BoardResult], baselines: &[BoardBaseline]) -> String {
    let mut suites: Vec<NamedSuite> = results.iter().map(board_suite).collect();
    for suite in &mut suites {
        for b in baselines.iter().filter(|b| b.board == suite.name) {
            suite.cases.extend(crate::baseline::cases(b));
        }
    }
    // Serializing into memory fails only on a writer error, which a String never gives.
    render_suites("rros accept", "rros.accept", &suites).unwrap_or_default()
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v}"))
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `summary.md`: the verdict, a table of boards, then each board's scenarios and findings.
pub fn summary_md(results: &[BoardResult], out: &Path) -> String {
    summary_md_with(results, out, &[])
}

/// [`summary_md`] with the baseline: the verdict counts it (`baseline::with_baseline`), and
/// a section shows each board's comparison.
pub fn summary_md_with(results: &[BoardResult], out: &Path, baselines: &[BoardBaseline]) -> String {
    let verdict =
        crate::baseline::with_baseline(fleet_verdict(results.iter().map(|r| r.verdict)), baselines);
    let mut s = String::new();
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(s, "# Acceptance: {verdict}\n");
    let _ = writeln!(
        s,
        "{} board(s): {} PASS, {} FAIL, {} ERROR.{}\n",
        results.len(),
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Error),
        match count(Verdict::Inconclusive) {
            0 => String::new(),
            n => format!(" {n} INCONCLUSIVE (within budget, too few samples to prove the claim)."),
        }
    );
    if !baselines.is_empty() {
        let regressed: Vec<&str> = baselines
            .iter()
            .filter(|b| b.outcome.verdict() != Verdict::Pass)
            .map(|b| b.board.as_str())
            .collect();
        let _ = writeln!(
            s,
            "Against the baseline: {}{}.\n",
            crate::baseline::verdict(baselines),
            if regressed.is_empty() {
                String::new()
            } else {
                format!(" ({})", regressed.join(", "))
            }
        );
    }
    s.push_str("| board | target | verdict | run | time | why |\n|---|---|---|---|---|---|\n");
    for r in results {
        let _ = writeln!(
            s,
            "| {} | `{}` | **{}** | {} | {:.0} s | {} |",
            md_cell(&r.name),
            md_cell(&r.target),
            r.verdict,
            r.run_id.as_deref().map_or("-".into(), md_cell),
            r.elapsed.as_secs_f64(),
            r.reason.as_deref().map_or("".into(), md_cell)
        );
    }
    top_causes(&mut s, results);
    if !baselines.is_empty() {
        s.push_str(&crate::baseline::summary_section(baselines));
    }
    for r in results {
        board_section(&mut s, r, out);
    }
    s
}

/// The top cause of each board's failed or thin scenarios, under the fleet table.
fn top_causes(s: &mut String, results: &[BoardResult]) {
    let lines: Vec<String> = results
        .iter()
        .filter_map(|r| Some((r, r.report.as_ref()?)))
        .flat_map(|(r, report)| {
            report.scenarios.iter().filter_map(move |sc| {
                let cause = sc.top_cause.as_deref()?;
                Some(format!(
                    "- {} / {}: {}",
                    md_cell(&r.name),
                    md_cell(&sc.name),
                    md_cell(cause)
                ))
            })
        })
        .collect();
    if !lines.is_empty() {
        s.push_str(
            "
Top causes:

",
        );
        s.push_str(&lines.join("\n"));
        s.push('\n');
    }
}

/// One board's part of `summary.md`: where it ran and why it ended as it did, then its
/// scenarios, audit findings and errors.
fn board_section(s: &mut String, r: &BoardResult, out: &Path) {
    let _ = writeln!(s, "\n## {} — {}\n", r.name, r.verdict);
    let _ = writeln!(s, "- target: `{}`", r.target);
    if let Some(kernel) = &r.kernel {
        let _ = writeln!(s, "- kernel: `{kernel}`");
    }
    if let Some(reason) = &r.reason {
        let _ = writeln!(s, "- why: {reason}");
    }
    if let Some(dir) = &r.local_dir {
        let shown = dir.strip_prefix(out).unwrap_or(dir);
        let _ = writeln!(
            s,
            "- reports: `{}` (board run folder `{}`)",
            shown.display(),
            r.remote_dir.as_deref().unwrap_or("?")
        );
    }
    if !r.missing.is_empty() {
        let _ = writeln!(s, "- missing report files: {}", r.missing.join(", "));
    }
    let Some(report) = &r.report else { return };
    if !report.scenarios.is_empty() {
        s.push_str(
            "\n| scenario | verdict | samples | max (us) | budget (us) | margin (us) |\n|---|---|---|---|---|---|\n",
        );
        for sc in &report.scenarios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                md_cell(&sc.name),
                sc.verdict.map_or("?", Verdict::as_str),
                sc.samples.map_or("?".into(), |n| n.to_string()),
                opt(sc.max_us),
                opt(sc.threshold_us),
                opt(sc.margin_us)
            );
        }
        for sc in &report.scenarios {
            if let Some(cause) = &sc.top_cause {
                let _ = writeln!(s, "\n- {}: {}", md_cell(&sc.name), md_cell(cause));
            }
        }
    }
    if report.findings.is_empty() {
        s.push_str("\nAudit: clean.\n");
    } else {
        s.push_str("\nAudit findings:\n\n");
        for f in &report.findings {
            let _ = writeln!(
                s,
                "- **{}** `{}`: {}\n  - fix: {}",
                f.severity, f.rule, f.evidence, f.fix
            );
        }
    }
    for e in &report.errors {
        let _ = writeln!(s, "- error: {e}");
    }
}

/// `accept.json`: the same facts for programs.
pub fn accept_json(results: &[BoardResult]) -> String {
    accept_json_with(results, &[])
}

/// [`accept_json`] with the baseline: `verdict` counts it, `boards_verdict` is the boards'
/// alone, and `baseline` holds each board's comparison (`baseline::to_json`).
pub fn accept_json_with(results: &[BoardResult], baselines: &[BoardBaseline]) -> String {
    let boards_verdict = fleet_verdict(results.iter().map(|r| r.verdict));
    let verdict = crate::baseline::with_baseline(boards_verdict, baselines);
    let boards: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "target": r.target,
                "verdict": r.verdict.as_str(),
                "error_kind": (r.verdict == Verdict::Error)
                    .then(|| r.error_kind.unwrap_or(ErrorKind::Board).as_str()),
                "reason": r.reason,
                "kernel": r.kernel,
                "run": r.run_id,
                "remote_dir": r.remote_dir,
                "local_dir": r.local_dir.as_ref().map(|p| p.display().to_string()),
                "missing": r.missing,
                "audit_findings": r.report.as_ref().map(|rep| rep.findings.iter().map(|f| json!({
                    "rule": f.rule, "severity": f.severity, "evidence": f.evidence, "fix": f.fix
                })).collect::<Vec<_>>()),
                "elapsed_s": r.elapsed.as_secs_f64(),
            })
        })
        .collect();
    let mut doc = json!({
        "schema": "rros-accept/1",
        "verdict": verdict.as_str(),
        "boards": boards,
    });
    if !baselines.is_empty() {
        doc["boards_verdict"] = json!(boards_verdict.as_str());
        doc["baseline"] = baselines.iter().map(crate::baseline::to_json).collect();
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes `junit.xml`, `summary.md` and `accept.json` into `out`, each durably and atomically
/// (`rros_files::write_atomic`: a reader sees the old file or the new one, whole). Returns
/// their paths.
pub fn write_reports(out: &Path, results: &[BoardResult]) -> io::Result<Vec<PathBuf>> {
    write_reports_with(out, results, &[])
}

/// [`write_reports`] with each board's comparison against its baseline.
pub fn write_reports_with(
    out: &Path,
    results: &[BoardResult],
    baselines: &[BoardBaseline],
) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let files = [
        ("junit.xml", junit_xml_with(results, baselines)),
        ("summary.md", summary_md_with(results, out, baselines)),
        ("accept.json", accept_json_with(results, baselines)),
    ];
    let mut written = Vec::new();
    for (name, content) in files {
        let path = out.join(name);
        rros_files::write_atomic(&path, content.as_bytes(), 0o644)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's golden FAIL report: one breaking finding (nohz-full), one warning
    /// (cpuidle), `idle` within budget and `hackbench load` over it.
    const REPORT: &str = include_str!("../../../on-target/rros-contract/golden/fail.json");
    const STRICT_PASS: &str = include_str!("../../../on-target/rros-contract/golden/pass.json");

    fn result(name: &str, verdict: Verdict, report: Option<ReportSummary>) -> BoardResult {
        BoardResult {
            report,
            verdict,
            reason: (verdict != Verdict::Pass).then(|| format!("{name} <broke> & \"why\"")),
            run_id: Some(format!("20261123T101500Z-{name}")),
            ..BoardResult::error(name, &format!("root@{name}"), "", Duration::from_secs(3))
        }
    }

    #[test]
    fn reads_the_report_through_the_contract() {
        let r = parse_report(REPORT).unwrap();
        assert_eq!(r.schema.as_deref(), Some("rros-validate/1"));
        assert_eq!(r.verdict, Some(Verdict::Fail));
        assert_eq!(r.board.as_deref(), Some("qemux86-64"));
        assert_eq!(r.findings.len(), 2);
        assert!(is_breaking(&r.findings[0]));
        assert!(!is_breaking(&r.findings[1]));
        assert_eq!(r.scenarios[0].threshold_us, Some(100.0));
        assert_eq!(r.scenarios[1].margin_us, Some(100.0 - 812.3));
        assert_eq!(r.scenarios[0].samples, Some(5000));
        // Added fields are fine; a severity the contract does not know is not guessed at.
        let mut v: Value = serde_json::from_str(REPORT).unwrap();
        v["future_field"] = true.into();
        assert!(parse_report(&v.to_string()).is_ok());
        v["audit"]["findings"][1]["severity"] = "note".into();
        assert!(parse_report(&v.to_string()).is_err());
        assert!(parse_report("[1]").is_err());
        assert!(parse_report("{").is_err());
        assert!(parse_report("{}").is_err());
    }

    /// Finding 4 of issue #12: the decision fields are required and typed, and a PASS must be
    /// one the schema's rules allow.
    #[test]
    fn report_json_is_checked_against_the_schema_decision_fields() {
        assert_eq!(check_report(STRICT_PASS), Ok(Verdict::Pass));
        let bad = |edit: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_str(STRICT_PASS).unwrap();
            edit(&mut v);
            check_report(&v.to_string()).unwrap_err()
        };
        assert!(check_report(r#"{"no":"verdict"}"#).is_err());
        assert!(check_report("[]").is_err());
        assert!(bad(&|v| v["verdict"] = "OK".into()).contains("PASS"));
        assert!(bad(&|v| v["schema"] = "rros-validate/9".into()).contains("schema"));
        assert!(bad(&|v| v["interrupted"] = true.into()).contains("interrupted"));
        assert!(
            bad(&|v| v["errors"] = serde_json::json!([{"scope": "run", "message": "m"}]))
                .contains("error")
        );
        assert!(bad(&|v| v["audit"]["verdict"] = "FAIL".into()).contains("audit"));
        assert!(bad(&|v| v["scenarios"] = serde_json::json!([])).contains("zero scenarios"));
        assert!(
            bad(&|v| v["scenarios"][0]["samples"] = 0.into()).contains("without a measurement")
        );
        assert!(
            bad(&|v| v["scenarios"][0]["measured"] = false.into())
                .contains("without a measurement")
        );
        assert!(
            bad(&|v| v["scenarios"][0]["max_us"] = Value::Null).contains("without a measurement")
        );
        assert!(bad(&|v| v["scenarios"][0]["samples"] = "many".into()).contains("invalid type"));
        assert!(
            bad(&|v| {
                v.as_object_mut().unwrap().remove("errors");
            })
            .contains("errors")
        );
        // FAIL and ERROR reports need no measurement, but still the fields.
        let mut fail: Value = serde_json::from_str(STRICT_PASS).unwrap();
        fail["verdict"] = "FAIL".into();
        fail["scenarios"] = serde_json::json!([]);
        assert_eq!(check_report(&fail.to_string()), Ok(Verdict::Fail));
    }

    /// The typed fields are the schema's: every field [`check_report`] requires is required
    /// by `crates/on-target/rros-contract/schema/report.schema.json` too (so a valid report passes).
    #[test]
    fn the_typed_decision_fields_are_required_by_the_schema() {
        let schema: Value = serde_json::from_str(include_str!(
            "../../../on-target/rros-contract/schema/report.schema.json"
        ))
        .unwrap();
        let required = |v: &Value| -> Vec<String> {
            v["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect()
        };
        let top = required(&schema);
        for f in [
            "schema",
            "run_id",
            "verdict",
            "interrupted",
            "options",
            "audit",
            "scenarios",
            "errors",
        ] {
            assert!(top.contains(&f.to_owned()), "{f}");
        }
        let p = &schema["properties"];
        assert!(required(&p["options"]).contains(&"audit_only".to_owned()));
        for f in ["verdict", "findings"] {
            assert!(required(&p["audit"]).contains(&f.to_owned()), "audit.{f}");
        }
        let defs = &schema["$defs"];
        for f in ["rule", "severity", "evidence", "fix"] {
            assert!(
                required(&defs["finding"]).contains(&f.to_owned()),
                "finding.{f}"
            );
        }
        for f in [
            "name",
            "verdict",
            "reasons",
            "measured",
            "samples",
            "max_us",
            "threshold",
        ] {
            assert!(
                required(&defs["scenario"]).contains(&f.to_owned()),
                "scenario.{f}"
            );
        }
        assert!(
            required(&defs["scenario"]["properties"]["threshold"]).contains(&"max_us".to_owned())
        );
        for f in ["scope", "message"] {
            assert!(
                required(&p["errors"]["items"]).contains(&f.to_owned()),
                "errors.{f}"
            );
        }
    }

    #[test]
    fn fail_reason_names_rules_and_scenarios() {
        let mut r = parse_report(REPORT).unwrap();
        let twice = r.findings[0].clone();
        r.findings.push(twice.clone());
        r.findings.push(AuditFinding {
            rule: "isolated-cpus".into(),
            ..twice
        });
        let why = fail_reason(&r).unwrap();
        assert!(
            why.contains("audit: 3 finding(s): nohz-full ×2, isolated-cpus"),
            "{why}"
        );
        let r = parse_report(REPORT).unwrap();
        let why = fail_reason(&r).unwrap();
        assert!(why.contains("audit: 1 finding(s): nohz-full"), "{why}");
        assert!(
            why.contains("scenario hackbench load over budget (max 812.3 us > 100 us)"),
            "{why}"
        );
        assert!(!why.contains("cpuidle"), "warnings do not fail a board");
        assert_eq!(fail_reason(&ReportSummary::default()), None);
    }

    #[test]
    fn junit_counts_and_escapes() {
        let pass = result("a", Verdict::Pass, Some(parse_report(STRICT_PASS).unwrap()));
        let fail = result("b", Verdict::Fail, Some(parse_report(REPORT).unwrap()));
        let err = result("c", Verdict::Error, None);
        let xml = junit_xml(&[pass, fail, err]);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
        // a and b: run, 4 audit rules (one skipped), 2 scenarios, acceptance; b's nohz-full
        // rule and hackbench scenario fail it; c: acceptance only, an error.
        assert!(
            xml.contains(
                r#"<testsuites name="rros accept" tests="17" skipped="2" failures="2" errors="1">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="b" tests="8" skipped="1" errors="0" failures="2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testcase name="hackbench load" classname="rros.accept.b.latency""#)
        );
        assert!(xml.contains(r#"<failure message="max 812.3 µs exceeds the budget of 100 µs">"#));
        assert!(xml.contains(r#"<property name="verdict" value="ERROR"/>"#));
        assert!(xml.contains(r#"<error message="c &lt;broke&gt; &amp; &quot;why&quot;">"#));
        assert_eq!(xml.matches("<testsuite ").count(), 3);
        assert_eq!(xml.matches("</testsuite>").count(), 3);
    }

    /// The host's own case: missing report files fail a board whose run passed, and a
    /// verdict acceptance downgraded to ERROR shows as an error beside the report's cases.
    #[test]
    fn the_acceptance_case_carries_what_the_host_found() {
        let mut pass = result("a", Verdict::Pass, Some(parse_report(STRICT_PASS).unwrap()));
        assert_eq!(acceptance_case(&pass).status, Status::Pass);
        pass.missing = vec!["histogram.svg".into()];
        pass.reason = None;
        let case = acceptance_case(&pass);
        assert_eq!(case.status, Status::Fail);
        assert_eq!(case.message, "report file histogram.svg did not come home");
        pass.verdict = Verdict::Error;
        pass.reason = Some("PASS, but report files are missing: histogram.svg".into());
        let suite = board_suite(&pass);
        let last = suite.cases.last().unwrap();
        assert_eq!(
            (last.id.as_str(), last.status),
            ("acceptance", Status::Error)
        );
        assert!(
            last.message
                .starts_with("PASS, but report files are missing")
        );
        assert_eq!(last.details, "report file histogram.svg did not come home");
        // The report's own cases come first, untouched.
        assert_eq!(
            suite.cases.len(),
            pass.report.as_ref().unwrap().cases.len() + 1
        );
        let control = result("x\u{1}y", Verdict::Error, None);
        let xml = junit_xml(&[control]);
        assert!(
            !xml.contains('\u{1}'),
            "no control characters in the XML: {xml}"
        );
    }

    #[test]
    fn summary_and_json_carry_the_fleet_verdict() {
        let results = [
            result("a", Verdict::Pass, None),
            result("b", Verdict::Fail, Some(parse_report(REPORT).unwrap())),
        ];
        let md = summary_md(&results, Path::new("/out"));
        assert!(md.starts_with("# Acceptance: FAIL\n"));
        assert!(md.contains("2 board(s): 1 PASS, 1 FAIL, 0 ERROR."));
        assert!(
            md.contains("| hackbench load | FAIL | 5000 | 812.3 | 100 | -712.3 |"),
            "{md}"
        );
        assert!(md.contains("`nohz-full`"));
        let doc: Value = serde_json::from_str(&accept_json(&results)).unwrap();
        assert_eq!(doc["verdict"], "FAIL");
        assert_eq!(doc["boards"][1]["audit_findings"][0]["rule"], "nohz-full");
    }

    /// Issue #16: the analysis comes home with report.json, and the summary lists each
    /// board's top cause (under the fleet table and in the board's section).
    #[test]
    fn the_summary_lists_the_top_cause_per_board() {
        let mut doc: Value = serde_json::from_str(REPORT).unwrap();
        doc["scenarios"][1]["analysis"] = json!({
            "label": "failure",
            "causes": [{
                "rule": "foreign-task",
                "confidence": "high",
                "evidence": "task `foo` (pid 123, tid 123, SCHED_FIFO 99) ran 1200.0 ms on CPU 1",
                "fix": "move it to the housekeeping CPUs 0: `taskset -apc 0 123`"
            }],
            "worst": [],
            "unchecked": []
        });
        let report = parse_report(&doc.to_string()).unwrap();
        let results = [result("b", Verdict::Fail, Some(report))];
        let md = summary_md(&results, Path::new("/out"));
        let line = "b / hackbench load: likely cause (high): task `foo` (pid 123, tid 123, SCHED_FIFO 99) ran 1200.0 ms on CPU 1; fix: move it to the housekeeping CPUs 0: `taskset -apc 0 123`";
        assert!(md.contains(&format!("Top causes:\n\n- {line}\n")), "{md}");
        assert!(
            md.contains("\n- hackbench load: likely cause (high): task `foo`"),
            "{md}"
        );
        let plain = summary_md(
            &[result(
                "b",
                Verdict::Fail,
                Some(parse_report(REPORT).unwrap()),
            )],
            Path::new("/out"),
        );
        assert!(
            !plain.contains("Top causes"),
            "no analysis, no list: {plain}"
        );
    }

    #[test]
    fn writes_the_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_reports(dir.path(), &[result("a", Verdict::Pass, None)]).unwrap();
        assert_eq!(written.len(), 3);
        for path in written {
            assert!(path.is_file(), "{}", path.display());
        }
        assert!(
            std::fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp"))
        );
    }

    /// Issue #17: an INCONCLUSIVE report is read as such (never PASS), says why, and makes
    /// the fleet INCONCLUSIVE; summary.md counts it apart.
    #[test]
    fn inconclusive_is_read_and_never_passed() {
        const INCONCLUSIVE: &str =
            include_str!("../../../on-target/rros-contract/golden/inconclusive.json");
        assert_eq!(check_report(INCONCLUSIVE), Ok(Verdict::Inconclusive));
        let summary = parse_report(INCONCLUSIVE).unwrap();
        let why = fail_reason(&summary).unwrap();
        assert!(why.contains("scenario idle inconclusive"), "{why}");
        let pass = result("a", Verdict::Pass, Some(parse_report(STRICT_PASS).unwrap()));
        let short = result("b", Verdict::Inconclusive, Some(summary));
        let md = summary_md(&[pass, short], Path::new("/out"));
        assert!(md.starts_with("# Acceptance: INCONCLUSIVE"), "{md}");
        assert!(
            md.contains("2 board(s): 1 PASS, 0 FAIL, 0 ERROR. 1 INCONCLUSIVE"),
            "{md}"
        );
    }
}
