//! `junit.xml`: one testcase per audit rule and per scenario, for CI dashboards and LAVA.

use crate::report::{Outcome, Report, Severity, Verdict};
use anyhow::{Context, Result};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn failure(kind: NonSuccessKind, message: &str, description: &str) -> TestCaseStatus {
    let mut st = TestCaseStatus::non_success(kind);
    st.set_message(message);
    if !description.is_empty() {
        st.set_description(description);
    }
    st
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> Result<String> {
    let board = report.board.as_ref().map_or("unknown", |b| b.name.as_str());
    let mut junit = quick_junit::Report::new(format!("rros-validate {board} {}", report.run_id));

    // Run-level errors (profile, tools, output): without this testcase a run that could not
    // even start would look green to a consumer that only counts failures.
    let mut run_suite = TestSuite::new("rros-validate.run");
    let status = if report.errors.is_empty() && !report.interrupted {
        TestCaseStatus::success()
    } else {
        let text: Vec<String> = report
            .errors
            .iter()
            .map(|e| format!("[{}] {}", e.scope, e.message))
            .collect();
        let message = if report.interrupted {
            "interrupted".to_string()
        } else {
            format!("{} error(s)", text.len())
        };
        failure(NonSuccessKind::Error, &message, &text.join("\n"))
    };
    let mut case = TestCase::new("run", status);
    case.set_classname("rros-validate.run");
    case.set_system_out(format!("verdict={} {}", report.verdict, report.summary));
    run_suite.add_test_case(case);
    junit.add_test_suite(run_suite);

    let mut audit = TestSuite::new("rros-validate.audit");
    if let Some(err) = &report.audit.error {
        let mut case = TestCase::new(
            "audit",
            failure(
                NonSuccessKind::Error,
                "the audit could not read the system",
                err,
            ),
        );
        case.set_classname("rros-validate.audit");
        audit.add_test_case(case);
    }
    for c in &report.audit.checks {
        let details: Vec<String> = c
            .findings
            .iter()
            .map(|f| {
                let sev = if f.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                };
                format!("{sev}[{}] {}\n  fix: {}", f.rule, f.evidence, f.fix)
            })
            .collect();
        let status = match c.outcome {
            Outcome::Pass => TestCaseStatus::success(),
            Outcome::Skipped => {
                let mut st = TestCaseStatus::skipped();
                st.set_message(c.reason.clone().unwrap_or_default());
                st
            }
            Outcome::Finding if c.findings.iter().any(|f| f.severity == Severity::Error) => {
                let first = c
                    .findings
                    .iter()
                    .find(|f| f.severity == Severity::Error)
                    .map(|f| f.evidence.as_str());
                failure(
                    NonSuccessKind::Failure,
                    first.unwrap_or(&c.title),
                    &details.join("\n"),
                )
            }
            // Warnings only: the profile holds; the warnings go to the output.
            Outcome::Finding => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(format!("{}: {}", c.rule, c.title), status);
        case.set_classname("rros-validate.audit");
        if c.outcome == Outcome::Finding {
            case.set_system_out(details.join("\n"));
        }
        audit.add_test_case(case);
    }
    junit.add_test_suite(audit);

    let mut latency = TestSuite::new("rros-validate.latency");
    for s in &report.scenarios {
        let numbers = format!(
            "samples={} overruns={} max_us={} p99_us={} threshold_max_us={} threshold_p99_us={} margin_us={} cpus={} backend={}",
            s.samples,
            s.overruns,
            opt(s.max_us),
            opt(s.percentiles.p99_us),
            s.threshold.max_us,
            opt(s.threshold.p99_us),
            opt(s.margin_us),
            s.cpus,
            s.backend
        );
        let mut out = numbers.clone();
        if let Some(b) = &s.bound {
            out += &format!("\n{}", b.statement);
        }
        if let Some(e) = &s.evt {
            out += &format!("\n{}", e.statement);
        }
        let status = match s.verdict {
            Verdict::Pass => TestCaseStatus::success(),
            Verdict::Fail => failure(NonSuccessKind::Failure, &s.reasons.join("; "), &numbers),
            Verdict::Error => failure(NonSuccessKind::Error, &s.reasons.join("; "), &numbers),
        };
        let mut case = TestCase::new(s.name.clone(), status);
        case.set_classname("rros-validate.latency");
        case.set_time(Duration::from_secs_f64(s.measured_s.max(0.0)));
        case.set_system_out(out);
        latency.add_test_case(case);
    }
    junit.add_test_suite(latency);
    junit.to_string().context("cannot render junit.xml")
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}
