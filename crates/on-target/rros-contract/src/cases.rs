//! The one mapping from a report to test cases.
//!
//! JUnit (`junit.xml`, `report --format junit`) and LAVA (`report --format lava`) are two
//! renderings of the same [`Case`] list, so a dashboard and a LAVA result page cannot tell
//! different stories about one run:
//!
//! | suite   | one case per                          | passes when                          |
//! |---------|---------------------------------------|--------------------------------------|
//! | run     | the run (`run`)                       | no entry in `errors`, not interrupted |
//! | audit   | audit rule (`checks[]`)               | no finding of severity `error`; skipped rules are skips |
//! | audit   | finding whose rule has no check       | its severity is `warning`            |
//! | audit   | the audit (`audit`) when it has no checks | its verdict is PASS (ERROR when it could not read) |
//! | latency | scenario (`scenarios[]`)              | its verdict is PASS (ERROR when it could not measure) |
//!
//! Scenario cases carry their worst latency (`max_us`) as the measurement.

use crate::report::{Outcome, Report, Severity, Verdict};

/// The group a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Run,
    Audit,
    Latency,
}

impl Suite {
    /// `run`, `audit`, `latency`.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Run => "run",
            Suite::Audit => "audit",
            Suite::Latency => "latency",
        }
    }
}

/// A case's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// Measured or read, and bad.
    Fail,
    /// Could not measure or read.
    Error,
    /// Not checked (the rule does not apply here).
    Skip,
}

/// One test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub suite: Suite,
    /// Stable name: the rule id, the scenario name, `run` or `audit`.
    pub id: String,
    /// A human title (audit rules), if any.
    pub title: Option<String>,
    pub status: Status,
    /// One line: why it did not pass (or why skipped).
    pub message: String,
    /// More on a failure (findings, numbers).
    pub details: String,
    /// Everything worth logging, also on a pass.
    pub output: String,
    /// The scenario's worst latency, µs.
    pub max_us: Option<f64>,
    /// Measured time, seconds.
    pub time_s: Option<f64>,
}

impl Case {
    fn new(suite: Suite, id: impl Into<String>, status: Status) -> Case {
        Case {
            suite,
            id: id.into(),
            title: None,
            status,
            message: String::new(),
            details: String::new(),
            output: String::new(),
            max_us: None,
            time_s: None,
        }
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn by_verdict(v: Verdict) -> Status {
    match v {
        Verdict::Pass => Status::Pass,
        // Not passed: a JUnit <failure>, so no consumer counts it green.
        Verdict::Inconclusive | Verdict::Fail => Status::Fail,
        Verdict::Error => Status::Error,
    }
}

/// The report's test cases, suite by suite (run, audit, latency).
pub fn cases(report: &Report) -> Vec<Case> {
    let mut out = Vec::new();

    // Run-level errors (profile, tools, output): without this case a run that could not even
    // start would look green to a consumer that only counts failures.
    let mut run = Case::new(Suite::Run, "run", Status::Pass);
    if !report.errors.is_empty() || report.interrupted {
        let text: Vec<String> = report
            .errors
            .iter()
            .map(|e| format!("[{}] {}", e.scope, e.message))
            .collect();
        run.status = Status::Error;
        run.message = if report.interrupted {
            "interrupted".into()
        } else {
            format!("{} error(s)", text.len())
        };
        run.details = text.join("\n");
    }
    run.output = format!("verdict={} {}", report.verdict, report.summary);
    out.push(run);

    let audit = &report.audit;
    if let Some(err) = &audit.error {
        let mut c = Case::new(Suite::Audit, "audit", Status::Error);
        c.message = "the audit could not read the system".into();
        c.details = err.clone();
        out.push(c);
    } else if audit.checks.is_empty() {
        out.push(Case::new(Suite::Audit, "audit", by_verdict(audit.verdict)));
    }
    let finding_text = |f: &crate::Finding| {
        format!(
            "{}[{}] {}\n  fix: {}",
            f.severity, f.rule, f.evidence, f.fix
        )
    };
    for c in &audit.checks {
        let details: Vec<String> = c.findings.iter().map(finding_text).collect();
        let broken = c.findings.iter().find(|f| f.severity == Severity::Error);
        let mut case = Case::new(Suite::Audit, c.rule.clone(), Status::Pass);
        case.title = Some(c.title.clone());
        match (c.outcome, broken) {
            (Outcome::Pass, _) => {}
            (Outcome::Skipped, _) => {
                case.status = Status::Skip;
                case.message = c.reason.clone().unwrap_or_default();
            }
            (Outcome::Finding, Some(f)) => {
                case.status = Status::Fail;
                case.message = f.evidence.clone();
                case.details = details.join("\n");
            }
            // Warnings only: the profile holds; the warnings go to the output.
            (Outcome::Finding, None) => {}
        }
        if c.outcome == Outcome::Finding {
            case.output = details.join("\n");
        }
        out.push(case);
    }
    // A finding whose rule is not among the checks still gets a case.
    let mut orphans: Vec<&str> = Vec::new();
    for f in &audit.findings {
        if !audit.checks.iter().any(|c| c.rule == f.rule) && !orphans.contains(&f.rule.as_str()) {
            orphans.push(&f.rule);
        }
    }
    for rule in orphans {
        let findings: Vec<_> = audit.findings.iter().filter(|f| f.rule == rule).collect();
        let mut case = Case::new(Suite::Audit, rule, Status::Pass);
        case.output = findings
            .iter()
            .map(|f| finding_text(f))
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(f) = findings.iter().find(|f| f.severity == Severity::Error) {
            case.status = Status::Fail;
            case.message = f.evidence.clone();
            case.details = case.output.clone();
        }
        out.push(case);
    }

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
        let mut case = Case::new(Suite::Latency, s.name.clone(), by_verdict(s.verdict));
        case.output = numbers.clone();
        if let Some(b) = &s.bound {
            case.output += &format!("\n{}", b.statement);
        }
        if let Some(e) = &s.evt {
            case.output += &format!("\n{}", e.statement);
        }
        let cause = s.analysis.as_ref().filter(|a| a.shown());
        if let Some(line) = cause.and_then(|a| a.top_line()) {
            case.output += &format!("\n{line}");
        }
        if s.verdict != Verdict::Pass {
            case.message = s.reasons.join("; ");
            if let Some(line) = cause.and_then(|a| a.top_line()) {
                case.message += &format!("; {line}");
            }
            case.details = numbers;
        }
        case.max_us = s.max_us;
        case.time_s = Some(s.measured_s.max(0.0));
        out.push(case);
    }
    out
}
