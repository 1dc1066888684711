//! Prometheus text exposition for node_exporter's textfile collector (`--prometheus FILE`).
//! Only the newest run is exposed; the file is replaced atomically.

use rros_contract::report::{Report, ScenarioReport, Severity, Verdict};

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A per-scenario gauge: its name, help text and value (none: the sample is left out).
type ScenarioGauge = (
    &'static str,
    &'static str,
    fn(&ScenarioReport) -> Option<f64>,
);

/// The per-scenario gauges, in the order they are written.
const SCENARIO_GAUGES: &[ScenarioGauge] = &[
    (
        "rros_validate_scenario_pass",
        "1 if the scenario passed, 0 if it failed, was inconclusive or could not be measured.",
        |sc| Some(f64::from(u8::from(sc.verdict == Verdict::Pass))),
    ),
    ("rros_validate_samples", "Latency samples taken.", |sc| {
        Some(sc.samples as f64)
    }),
    (
        "rros_validate_overruns",
        "Missed periods (overruns).",
        |sc| Some(sc.overruns as f64),
    ),
    (
        "rros_validate_latency_max_seconds",
        "Largest wake-up latency measured.",
        |sc| sc.max_us.map(|v| v / 1e6),
    ),
    (
        "rros_validate_latency_p99_seconds",
        "99th percentile of the wake-up latency (1 µs resolution).",
        |sc| sc.percentiles.p99_us.map(|v| v / 1e6),
    ),
    (
        "rros_validate_latency_threshold_seconds",
        "The profile's budget for the largest latency.",
        |sc| Some(sc.threshold.max_us / 1e6),
    ),
    (
        "rros_validate_exceedance_probability_upper",
        "95 % upper bound on P(latency > budget) per sample.",
        |sc| sc.bound.as_ref().map(|b| b.probability_upper),
    ),
];

/// One metric family: HELP, TYPE (gauge) and its samples `(labels, value)`.
fn family(s: &mut String, name: &str, help: &str, samples: Vec<(String, f64)>) {
    *s += &format!("# HELP {name} {help}\n# TYPE {name} gauge\n");
    for (labels, v) in samples {
        *s += &format!("{name}{{{labels}}} {v}\n");
    }
}

pub fn render(report: &Report, finished_unix: f64) -> String {
    let board = esc(report.board.as_ref().map_or("unknown", |b| b.name.as_str()));
    let mut s = String::new();
    run_families(&mut s, report, &board, finished_unix);
    for (name, help, value) in SCENARIO_GAUGES {
        let samples = report
            .scenarios
            .iter()
            .filter_map(|sc| {
                value(sc).map(|v| {
                    (
                        format!("board=\"{board}\",scenario=\"{}\"", esc(&sc.name)),
                        v,
                    )
                })
            })
            .collect();
        family(&mut s, name, help, samples);
    }
    s
}

/// The run's own families: its verdict, when it finished, its audit findings.
fn run_families(s: &mut String, report: &Report, board: &str, finished_unix: f64) {
    // INCONCLUSIVE last, so the older series keep their order.
    let verdicts = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Error,
        Verdict::Inconclusive,
    ];
    family(
        s,
        "rros_validate_verdict",
        "Verdict of the newest rros-validate run: 1 for the verdict it had, 0 for the others.",
        verdicts
            .iter()
            .map(|v| {
                (
                    format!("board=\"{board}\",verdict=\"{v}\""),
                    f64::from(u8::from(*v == report.verdict)),
                )
            })
            .collect(),
    );
    family(
        s,
        "rros_validate_last_run_timestamp_seconds",
        "When the newest run finished (Unix time).",
        vec![(
            format!("board=\"{board}\",run=\"{}\"", esc(&report.run_id)),
            finished_unix,
        )],
    );
    let count = |sev: Severity| {
        report
            .audit
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .count() as f64
    };
    family(
        s,
        "rros_validate_audit_findings",
        "Isolation audit findings of the newest run, by severity.",
        vec![
            (
                format!("board=\"{board}\",severity=\"error\""),
                count(Severity::Error),
            ),
            (
                format!("board=\"{board}\",severity=\"warning\""),
                count(Severity::Warning),
            ),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition of a golden report, whole: the families in order, each with HELP and
    /// TYPE, one sample per verdict, severity and scenario.
    #[test]
    fn exposition_of_a_golden_report() {
        let report = Report::from_json(
            include_str!("../../../rros-contract/golden/fail.json"),
            "fail.json",
        )
        .unwrap();
        let text = render(&report, 1.5);
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let gauge = |n: &str| format!("{n} gauge");
        let mut want = vec![
            gauge("rros_validate_verdict"),
            gauge("rros_validate_last_run_timestamp_seconds"),
            gauge("rros_validate_audit_findings"),
        ];
        want.extend(SCENARIO_GAUGES.iter().map(|g| gauge(g.0)));
        assert_eq!(families, want);
        assert!(text.starts_with(
            "# HELP rros_validate_verdict Verdict of the newest rros-validate run: 1 for the verdict it had, 0 for the others.\n\
             # TYPE rros_validate_verdict gauge\n\
             rros_validate_verdict{board=\"qemux86-64\",verdict=\"PASS\"} 0\n\
             rros_validate_verdict{board=\"qemux86-64\",verdict=\"FAIL\"} 1\n"
        ), "{text}");
        assert!(
            text.contains(
                "rros_validate_audit_findings{board=\"qemux86-64\",severity=\"error\"} 1\n"
            )
        );
        assert!(
            text.contains(
                "# TYPE rros_validate_samples gauge\n\
             rros_validate_samples{board=\"qemux86-64\",scenario=\"idle\"} 5000\n\
             rros_validate_samples{board=\"qemux86-64\",scenario=\"hackbench load\"} 5000\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("\n"));
    }

    /// INCONCLUSIVE is not passed: its own verdict series is 1, and the scenario that could
    /// not prove its claim counts as not passed.
    #[test]
    fn inconclusive_is_not_passed() {
        let report = Report::from_json(
            include_str!("../../../rros-contract/golden/inconclusive.json"),
            "inconclusive.json",
        )
        .unwrap();
        let text = render(&report, 1.5);
        for (line, want) in [
            ("verdict=\"PASS\"}", " 0"),
            ("verdict=\"INCONCLUSIVE\"}", " 1"),
            (
                "rros_validate_scenario_pass{board=\"qemux86-64\",scenario=\"idle\"}",
                " 0",
            ),
        ] {
            assert!(
                text.lines().any(|l| l.contains(line) && l.ends_with(want)),
                "{line}{want} missing: {text}"
            );
        }
    }
}
