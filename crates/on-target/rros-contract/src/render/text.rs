//! The terminal view of a run (`rros-validate run` at its end, `rros-validate report`).

use super::{budget, us};
use crate::report::{Report, Severity, Verdict};

pub fn render(report: &Report, dir: &str) -> String {
    let mut s = String::new();
    s += &format!(
        "run {}: {} — {}\n",
        report.run_id, report.verdict, report.summary
    );
    if let Some(b) = &report.board {
        s += &format!(
            "board {} ({}, {}), measured CPUs {}, housekeeping {}\n",
            b.name, b.flavour, b.machine, b.cpus.measured, b.cpus.housekeeping
        );
    }
    s += &format!(
        "host {} kernel {}\n",
        report.host.hostname, report.host.kernel_release
    );
    let a = &report.audit;
    let errors = a
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    s += &format!(
        "audit: {} ({} finding(s): {} error(s), {} warning(s))\n",
        a.verdict,
        a.findings.len(),
        errors,
        a.findings.len() - errors
    );
    if let Some(e) = &a.error {
        s += &format!("  {e}\n");
    }
    for f in &a.findings {
        let sev = if f.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        s += &format!("  {sev}[{}] {}\n      fix: {}\n", f.rule, f.evidence, f.fix);
    }
    if !report.scenarios.is_empty() {
        s += &format!(
            "{:<14} {:<12} {:>10} {:>8} {:>10} {:>8} {:>10} {:>10}\n",
            "scenario",
            "verdict",
            "samples",
            "overruns",
            "max µs",
            "p99 µs",
            "budget µs",
            "margin µs"
        );
        for sc in &report.scenarios {
            let budget_text = match sc.threshold.p99_us {
                Some(p) => format!("{}/{}", sc.threshold.max_us, p),
                None => budget(Some(sc.threshold.max_us)),
            };
            s += &format!(
                "{:<14} {:<12} {:>10} {:>8} {:>10} {:>8} {:>10} {:>10}\n",
                sc.name,
                sc.verdict.as_str(),
                sc.samples,
                sc.overruns,
                us(sc.max_us),
                us(sc.percentiles.p99_us),
                budget_text,
                us(sc.margin_us)
            );
        }
        for sc in &report.scenarios {
            if sc.verdict != Verdict::Pass && !sc.reasons.is_empty() {
                s += &format!("  {}: {}\n", sc.name, sc.reasons.join("; "));
            }
            if let Some(b) = &sc.bound {
                s += &format!("  {}: {}\n", sc.name, b.statement);
            }
            if let Some(c) = sc.claim.as_ref().filter(|c| c.proven) {
                s += &format!(
                    "  {}: claim {} proven: {} samples without an exceedance (needs {}), bound {:.2e}\n",
                    sc.name,
                    c.claim(),
                    sc.samples,
                    c.samples_needed,
                    c.bound.unwrap_or(1.0)
                );
            }
            if let Some(st) = sc.stopped.as_ref().filter(|st| st.until_proven) {
                s += &format!("  {}: {}\n", sc.name, st.statement(sc.duration_s));
            }
            if let Some(e) = &sc.evt {
                s += &format!("  {}: {}\n", sc.name, e.statement);
            }
            if let Some(a) = &sc.analysis
                && let Some(heading) = a.heading(sc.max_us, sc.threshold.max_us)
            {
                s += &format!("  {}: {heading}\n", sc.name);
                for c in a.top(crate::analysis::SHOWN) {
                    s += &format!(
                        "    [{}] {}\n      fix: {}\n",
                        c.confidence.as_str(),
                        c.evidence,
                        c.fix
                    );
                }
            }
        }
    }
    if !report.errors.is_empty() {
        s += "errors:\n";
        for e in &report.errors {
            s += &format!("  [{}] {}\n", e.scope, e.message);
        }
    }
    for w in &report.warnings {
        s += &format!("warning: {w}\n");
    }
    s += &format!("report: {dir}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verdict word fits its column: the numbers after it stay under their headings
    /// (INCONCLUSIVE, the longest, pushed them right).
    #[test]
    fn the_scenario_table_stays_aligned_for_every_verdict() {
        for golden in [
            include_str!("../../golden/pass.json"),
            include_str!("../../golden/fail.json"),
            include_str!("../../golden/inconclusive.json"),
        ] {
            let report: Report = serde_json::from_str(golden).unwrap();
            let text = render(&report, "/run");
            let header = text.lines().find(|l| l.starts_with("scenario ")).unwrap();
            let end_of = |line: &str, word: &str| line.find(word).unwrap() + word.len();
            let samples_end = end_of(header, "samples");
            for sc in &report.scenarios {
                let row = text
                    .lines()
                    .find(|l| l.starts_with(&format!("{:<14} ", sc.name)))
                    .unwrap();
                assert!(row.contains(sc.verdict.as_str()), "{row}");
                let samples = sc.samples.to_string();
                let at = row[14..].find(&format!(" {samples} ")).unwrap() + 15;
                assert_eq!(at + samples.len(), samples_end, "\n{header}\n{row}");
            }
        }
    }
}
