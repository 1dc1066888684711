//! `junit.xml`: the report's [cases](crate::cases) as JUnit, for CI dashboards.

use crate::cases::{Status, Suite, cases};
use crate::report::Report;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

fn status(status: Status, message: &str, description: &str) -> TestCaseStatus {
    let kind = match status {
        Status::Pass => return TestCaseStatus::success(),
        Status::Skip => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(message);
            return st;
        }
        Status::Fail => NonSuccessKind::Failure,
        Status::Error => NonSuccessKind::Error,
    };
    let mut st = TestCaseStatus::non_success(kind);
    st.set_message(message);
    if !description.is_empty() {
        st.set_description(description);
    }
    st
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let board = report.board.as_ref().map_or("unknown", |b| b.name.as_str());
    let mut junit = quick_junit::Report::new(format!("rros-validate {board} {}", report.run_id));
    let all = cases(report);
    for suite in [Suite::Run, Suite::Audit, Suite::Latency] {
        let classname = format!("rros-validate.{}", suite.as_str());
        let mut ts = TestSuite::new(classname.clone());
        for c in all.iter().filter(|c| c.suite == suite) {
            let name = match &c.title {
                Some(title) => format!("{}: {title}", c.id),
                None => c.id.clone(),
            };
            let mut case = TestCase::new(name, status(c.status, &c.message, &c.details));
            case.set_classname(classname.clone());
            if let Some(t) = c.time_s {
                case.set_time(Duration::from_secs_f64(t));
            }
            if !c.output.is_empty() {
                case.set_system_out(c.output.clone());
            }
            ts.add_test_case(case);
        }
        junit.add_test_suite(ts);
    }
    junit.to_string()
}
