//! LAVA result lines: the [cases](crate::cases) as `lava-test-set` / `lava-test-case` calls.
//!
//! `rros-validate report --format lava` prints them; `lava/rros-lava-report` (POSIX sh, on
//! the board) runs each line as a command, so it never parses JSON. The lines are safe to
//! split on blanks without quoting: names are reduced to LAVA's `[-_a-zA-Z0-9.]`, results and
//! numbers have no blanks. Lines starting with `#` are for people (errors, the verdict):
//!
//! ```text
//! # verdict FAIL
//! # error (scenario:idle): ...
//! lava-test-set start audit
//! lava-test-case nohz-full --result fail
//! lava-test-set stop
//! lava-test-set start scenarios
//! lava-test-case idle --result fail --measurement 812.3 --units us
//! lava-test-set stop
//! lava-test-case rros-validate-errors --result fail --measurement 1 --units errors
//! lava-test-case rros-validate --result fail
//! ```
//!
//! The `rros-validate` case passes only on a PASS verdict: a FAIL and an ERROR both fail it
//! (the `# verdict` line tells them apart).

use crate::cases::{Case, Status, Suite, cases};
use crate::report::{Report, Verdict};

/// A name LAVA accepts: `[-_a-zA-Z0-9.]`, anything else becomes `_`.
pub fn clean(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn result(status: Status) -> &'static str {
    match status {
        Status::Pass => "pass",
        Status::Skip => "skip",
        Status::Fail | Status::Error => "fail",
    }
}

fn set(out: &mut String, name: &str, cases: &[&Case]) {
    if cases.is_empty() {
        return;
    }
    out.push_str(&format!("lava-test-set start {name}\n"));
    for c in cases {
        out.push_str(&format!(
            "lava-test-case {} --result {}",
            clean(&c.id),
            result(c.status)
        ));
        if let Some(max) = c.max_us {
            out.push_str(&format!(" --measurement {max} --units us"));
        }
        out.push('\n');
    }
    out.push_str("lava-test-set stop\n");
}

/// The report as LAVA result lines (module docs).
pub fn render(report: &Report) -> String {
    let all = cases(report);
    let mut out = format!("# verdict {}\n", report.verdict);
    for e in &report.errors {
        out.push_str(&format!(
            "# error ({}): {}\n",
            one_line(&e.scope),
            one_line(&e.message)
        ));
    }
    let of = |suite| all.iter().filter(|c| c.suite == suite).collect::<Vec<_>>();
    set(&mut out, "audit", &of(Suite::Audit));
    set(&mut out, "scenarios", &of(Suite::Latency));
    if !report.errors.is_empty() {
        out.push_str(&format!(
            "lava-test-case rros-validate-errors --result fail --measurement {} --units errors\n",
            report.errors.len()
        ));
    }
    let verdict = if report.verdict == Verdict::Pass {
        "pass"
    } else {
        "fail"
    };
    out.push_str(&format!(
        "lava-test-case rros-validate --result {verdict}\n"
    ));
    out
}
