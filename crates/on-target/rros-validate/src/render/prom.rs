//! Prometheus text exposition for node_exporter's textfile collector (`--prometheus FILE`).
//! Only the newest run is exposed; the file is replaced atomically.

use rros_contract::report::{Report, Verdict};

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(report: &Report, finished_unix: f64) -> String {
    let board = esc(report.board.as_ref().map_or("unknown", |b| b.name.as_str()));
    let mut s = String::new();
    let mut family = |name: &str, help: &str, kind: &str, samples: Vec<(String, f64)>| {
        s += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in samples {
            s += &format!("{name}{{{labels}}} {v}\n");
        }
    };
    let verdicts = [Verdict::Pass, Verdict::Fail, Verdict::Error];
    family(
        "rros_validate_verdict",
        "Verdict of the newest rros-validate run: 1 for the verdict it had, 0 for the others.",
        "gauge",
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
        "rros_validate_last_run_timestamp_seconds",
        "When the newest run finished (Unix time).",
        "gauge",
        vec![(
            format!("board=\"{board}\",run=\"{}\"", esc(&report.run_id)),
            finished_unix,
        )],
    );
    let count = |sev: rros_contract::report::Severity| {
        report
            .audit
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .count() as f64
    };
    family(
        "rros_validate_audit_findings",
        "Isolation audit findings of the newest run, by severity.",
        "gauge",
        vec![
            (
                format!("board=\"{board}\",severity=\"error\""),
                count(rros_contract::report::Severity::Error),
            ),
            (
                format!("board=\"{board}\",severity=\"warning\""),
                count(rros_contract::report::Severity::Warning),
            ),
        ],
    );
    let per =
        |f: &dyn Fn(&rros_contract::report::ScenarioReport) -> Option<f64>| -> Vec<(String, f64)> {
            report
                .scenarios
                .iter()
                .filter_map(|sc| {
                    f(sc).map(|v| {
                        (
                            format!("board=\"{board}\",scenario=\"{}\"", esc(&sc.name)),
                            v,
                        )
                    })
                })
                .collect()
        };
    family(
        "rros_validate_scenario_pass",
        "1 if the scenario passed, 0 if it failed or could not be measured.",
        "gauge",
        per(&|sc| Some(f64::from(u8::from(sc.verdict == Verdict::Pass)))),
    );
    family(
        "rros_validate_samples",
        "Latency samples taken.",
        "gauge",
        per(&|sc| Some(sc.samples as f64)),
    );
    family(
        "rros_validate_overruns",
        "Missed periods (overruns).",
        "gauge",
        per(&|sc| Some(sc.overruns as f64)),
    );
    family(
        "rros_validate_latency_max_seconds",
        "Largest wake-up latency measured.",
        "gauge",
        per(&|sc| sc.max_us.map(|v| v / 1e6)),
    );
    family(
        "rros_validate_latency_p99_seconds",
        "99th percentile of the wake-up latency (1 µs resolution).",
        "gauge",
        per(&|sc| sc.percentiles.p99_us.map(|v| v / 1e6)),
    );
    family(
        "rros_validate_latency_threshold_seconds",
        "The profile's budget for the largest latency.",
        "gauge",
        per(&|sc| Some(sc.threshold.max_us / 1e6)),
    );
    family(
        "rros_validate_exceedance_probability_upper",
        "95 % upper bound on P(latency > budget) per sample.",
        "gauge",
        per(&|sc| sc.bound.as_ref().map(|b| b.probability_upper)),
    );
    s
}
