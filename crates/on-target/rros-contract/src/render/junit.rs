//! `junit.xml`: the report's [cases](crate::cases) as JUnit, for CI dashboards.

use crate::cases::{Case, Status, Suite, cases};
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
            ts.add_test_case(test_case(c, classname.clone()));
        }
        junit.add_test_suite(ts);
    }
    junit.to_string()
}

/// One case as a JUnit `<testcase>` of `classname`: named by its id (and title), its status,
/// time and output.
fn test_case(c: &Case, classname: String) -> TestCase {
    let name = match &c.title {
        Some(title) => format!("{}: {title}", c.id),
        None => c.id.clone(),
    };
    let mut case = TestCase::new(name, status(c.status, &c.message, &c.details));
    case.set_classname(classname);
    if let Some(t) = c.time_s {
        case.set_time(Duration::from_secs_f64(t));
    }
    if !c.output.is_empty() {
        case.set_system_out(c.output.clone());
    }
    case
}

/// One `<testsuite>` of a report that gathers many runs (a fleet: one per board).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedSuite {
    /// The suite's name (the board's).
    pub name: String,
    /// Its cases: a run's [`cases`], plus what the consumer adds.
    pub cases: Vec<Case>,
    /// `(name, value)` properties of the suite (target, verdict, run id…).
    pub properties: Vec<(String, String)>,
    /// Its wall time, seconds.
    pub time_s: Option<f64>,
}

/// Renders many suites into one JUnit report titled `title`: one `<testsuite>` per entry, each
/// case's classname `<prefix>.<suite name>.<case suite>`, so a dashboard groups a fleet by
/// board, then by run, audit and latency. The same case mapping as [`render`].
pub fn render_suites(
    title: &str,
    prefix: &str,
    suites: &[NamedSuite],
) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new(title);
    for suite in suites {
        let mut ts = TestSuite::new(suite.name.clone());
        for (name, value) in &suite.properties {
            ts.add_property((name.as_str(), value.as_str()));
        }
        if let Some(t) = suite.time_s {
            ts.set_time(Duration::from_secs_f64(t.max(0.0)));
        }
        for c in &suite.cases {
            let classname = format!("{prefix}.{}.{}", suite.name, c.suite.as_str());
            ts.add_test_case(test_case(c, classname));
        }
        junit.add_test_suite(ts);
    }
    junit.to_string()
}

#[cfg(test)]
mod many_tests {
    use super::*;

    fn case(suite: Suite, id: &str, status: Status, message: &str) -> Case {
        Case {
            suite,
            id: id.into(),
            title: None,
            status,
            message: message.into(),
            details: String::new(),
            output: String::new(),
            max_us: None,
            time_s: None,
        }
    }

    #[test]
    fn many_suites_keep_their_cases_counts_and_properties_apart() {
        let suites = [
            NamedSuite {
                name: "a".into(),
                cases: vec![
                    case(Suite::Run, "run", Status::Pass, ""),
                    case(Suite::Latency, "idle", Status::Fail, "max 900 us > 100 us"),
                ],
                properties: vec![("verdict".into(), "FAIL".into())],
                time_s: Some(2.5),
            },
            NamedSuite {
                name: "b <&>".into(),
                cases: vec![case(
                    Suite::Run,
                    "acceptance",
                    Status::Error,
                    "no \"answer\"",
                )],
                ..NamedSuite::default()
            },
        ];
        let xml = render_suites("rros accept", "rros.accept", &suites).unwrap();
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert!(
            xml.contains(
                r#"<testsuites name="rros accept" tests="3" skipped="0" failures="1" errors="1">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testsuite name="a" tests="2" skipped="0" errors="0" failures="1" time="2.500">"#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(r#"classname="rros.accept.a.latency""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<property name="verdict" value="FAIL"/>"#),
            "{xml}"
        );
        assert!(xml.contains("b &lt;&amp;&gt;"), "{xml}");
        assert!(
            xml.contains("<error message=\"no &quot;answer&quot;\""),
            "{xml}"
        );
    }
}
