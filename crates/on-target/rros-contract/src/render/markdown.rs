//! `summary.md`: the run for a human, in a ticket, a merge request or a LAVA result page.

use super::{budget, us};
use crate::report::{Outcome, Report, Severity};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let board = report
        .board
        .as_ref()
        .map_or("unknown board", |b| b.name.as_str());
    s += &format!("# rros-validate: {} — {board}\n\n", report.verdict);
    s += &format!("**{}**: {}\n\n", report.verdict, cell(&report.summary));
    s += &format!(
        "- run: `{}` ({} → {})\n",
        report.run_id, report.started_at, report.finished_at
    );
    if let Some(b) = &report.board {
        s += &format!(
            "- board: `{}` — {} ({}, {}); CPUs: housekeeping `{}`, isolated `{}`, oob `{}`, measured `{}`\n",
            b.name,
            cell(&b.description),
            b.machine,
            b.flavour,
            b.cpus.housekeeping,
            b.cpus.isolated,
            if b.cpus.oob.is_empty() {
                "-"
            } else {
                &b.cpus.oob
            },
            b.cpus.measured
        );
    }
    s += &format!(
        "- host: `{}`, kernel `{}` (PREEMPT_RT: {})\n- profile: `{}`\n- tool: {} {}\n",
        report.host.hostname,
        report.host.kernel_release,
        if report.host.preempt_rt { "yes" } else { "no" },
        report.profile.path,
        report.tool.name,
        report.tool.version
    );
    if report.interrupted {
        s += "- **interrupted**: the run was stopped by a signal; the numbers are partial\n";
    }

    s += "\n## Latency\n\n";
    if report.scenarios.is_empty() {
        s += "No scenario was measured.\n";
    } else {
        s += "| scenario | verdict | samples | overruns | min µs | avg µs | max µs | p99 µs | p99.99 µs | budget max µs | budget p99 µs | margin µs |\n";
        s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for sc in &report.scenarios {
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                cell(&sc.name),
                sc.verdict,
                sc.samples,
                sc.overruns,
                us(sc.min_us),
                us(sc.avg_us),
                us(sc.max_us),
                us(sc.percentiles.p99_us),
                us(sc.percentiles.p99_99_us),
                budget(Some(sc.threshold.max_us)),
                budget(sc.threshold.p99_us),
                us(sc.margin_us)
            );
        }
        s += "\n";
        for sc in &report.scenarios {
            s += &format!("### {}\n\n", sc.name);
            if !sc.description.is_empty() {
                s += &format!("{}\n\n", sc.description);
            }
            s += &format!(
                "- measured on CPU(s) `{}` with the `{}` backend, every {} µs at SCHED_FIFO {} for {:.1} s\n",
                sc.cpus, sc.backend, sc.interval_us, sc.priority, sc.measured_s
            );
            match &sc.load {
                Some(l) => {
                    s += &format!("- load (on CPUs `{}`): `{}`", l.cpus, cell(&l.command));
                    if let Some(st) = &l.status {
                        s += &format!(" — ended on its own: {st}");
                    }
                    s += "\n";
                }
                None => s += "- load: none (idle)\n",
            }
            for r in &sc.reasons {
                s += &format!("- **{}**: {}\n", sc.verdict, cell(r));
            }
            if let Some(b) = &sc.bound {
                s += &format!("- what it proves: {}\n", cell(&b.statement));
            }
            if let Some(e) = &sc.evt {
                s += &format!("- tail: {}\n", cell(&e.statement));
            }
            for w in &sc.warnings {
                s += &format!("- warning: {}\n", cell(w));
            }
            if let Some(a) = &sc.analysis
                && let Some(heading) = a.heading(sc.max_us, sc.threshold.max_us)
            {
                s += &format!("- {}\n", cell(&heading));
                for c in a.top(crate::analysis::SHOWN) {
                    s += &format!(
                        "  - *{}*: {} — fix: {}\n",
                        c.confidence.as_str(),
                        cell(&c.evidence),
                        cell(&c.fix)
                    );
                }
            }
            s += "\n";
        }
        s += "![latency histogram](histogram.svg)\n";
    }

    s += "\n## Isolation audit\n\n";
    s += &format!("Audit: **{}**", report.audit.verdict);
    if let Some(k) = &report.audit.kernel {
        s += &format!(" — kernel {}", cell(k));
    }
    s += "\n\n";
    if let Some(e) = &report.audit.error {
        s += &format!("{}\n\n", cell(e));
    }
    if !report.audit.checks.is_empty() {
        s += "| rule | check | outcome |\n|---|---|---|\n";
        for c in &report.audit.checks {
            let outcome = match c.outcome {
                Outcome::Pass => "pass".to_string(),
                Outcome::Skipped => format!("skipped: {}", cell(c.reason.as_deref().unwrap_or(""))),
                Outcome::Finding => {
                    let e = c
                        .findings
                        .iter()
                        .filter(|f| f.severity == Severity::Error)
                        .count();
                    format!("{e} error(s), {} warning(s)", c.findings.len() - e)
                }
            };
            s += &format!("| `{}` | {} | {outcome} |\n", c.rule, cell(&c.title));
        }
        s += "\n";
    }
    for f in &report.audit.findings {
        let sev = if f.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        s += &format!(
            "- {sev} `{}`: {}  \n  fix: `{}`\n",
            f.rule,
            cell(&f.evidence),
            cell(&f.fix)
        );
    }
    if !report.errors.is_empty() {
        s += "\n## Errors\n\n";
        for e in &report.errors {
            s += &format!("- `{}`: {}\n", e.scope, cell(&e.message));
        }
    }
    if !report.warnings.is_empty() {
        s += "\n## Warnings\n\n";
        for w in &report.warnings {
            s += &format!("- {}\n", cell(w));
        }
    }
    s += "\nFiles: `report.json` (schema `rros-validate/1`), `junit.xml`, `histogram.svg`, `cyclictest.json` (rt-tests schema).\n";
    s
}
