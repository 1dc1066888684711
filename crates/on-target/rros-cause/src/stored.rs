//! The evidence of one scenario as the run directory keeps it (`evidence-<scenario>.json`),
//! so that the analysis can be re-run on a stored run (`rros-validate analyze`): after a
//! change to the rules, on a copy of a run taken off a board, or to see every cause rather
//! than the report's top ones.
//!
//! Everything [`analyse`] needs besides the verdict is here: the captured deltas, the
//! engine's worst samples and the context. The label (failure, warning, record) is taken
//! from the scenario's entry in report.json by [`label_of`], the same rule the run used, so
//! a re-analysis of an unchanged run gives the analysis the run wrote.
//!
//! Compact JSON (no indentation): the ring holds up to [`crate::capture::RING`] intervals.

use crate::capture::Evidence;
use crate::rules::{Context, Sample, analyse};
use rros_contract::Verdict;
use rros_contract::analysis::{Analysis, AnalysisLabel, thin_margin};
use rros_contract::report::ScenarioReport;
use serde::{Deserialize, Serialize};

/// The format tag of an evidence file; bumped when its meaning changes.
pub const FORMAT: &str = "rros-cause-evidence/1";

/// The file of `scenario`'s evidence in a run directory.
pub fn file_name(scenario: &str) -> String {
    format!("evidence-{scenario}.json")
}

/// One scenario's stored evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub format: String,
    pub scenario: String,
    pub context: Context,
    /// The engine's kept worst samples.
    pub samples: Vec<Sample>,
    pub evidence: Evidence,
}

impl Stored {
    pub fn new(scenario: &str, context: Context, samples: Vec<Sample>, evidence: Evidence) -> Self {
        Stored {
            format: FORMAT.to_owned(),
            scenario: scenario.to_owned(),
            context,
            samples,
            evidence,
        }
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an evidence file; `name` (its path) is what an error names.
    pub fn from_json(text: &str, name: &str) -> Result<Stored, String> {
        let format = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| format!("{name}: not an evidence file (invalid JSON: {e})"))?
            .get("format")
            .and_then(|f| f.as_str().map(str::to_owned));
        match format.as_deref() {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "{name}: field `format` is {other:?}, this rros-validate reads {FORMAT:?}; analyse it with the rros-validate that wrote it"
                ));
            }
            None => {
                return Err(format!(
                    "{name}: no field `format` ({FORMAT:?}): not an evidence file written by rros-validate"
                ));
            }
        }
        serde_json::from_str(text).map_err(|e| format!("{name}: damaged evidence file: {e}"))
    }

    /// The analysis, labelled from the scenario's judged report entry.
    pub fn analyse(&self, sr: &ScenarioReport) -> Analysis {
        analyse(&self.evidence, &self.context, &self.samples, label_of(sr))
    }
}

/// How a scenario's analysis is shown: a FAIL's as the failure, a PASS with a thin margin's
/// as a warning, any other only kept in the report.
pub fn label_of(sr: &ScenarioReport) -> AnalysisLabel {
    match sr.verdict {
        Verdict::Fail => AnalysisLabel::Failure,
        Verdict::Pass if thin_margin(sr.max_us, sr.threshold.max_us) => AnalysisLabel::Warning,
        _ => AnalysisLabel::Record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Delta, TaskRun};

    fn stored() -> Stored {
        let d = Delta {
            from_ns: 1_000_000_000,
            to_ns: 2_000_000_000,
            tasks: vec![TaskRun {
                tid: 4242,
                pid: 4242,
                comm: "hog".into(),
                cpu: 1,
                policy: 1,
                rt_priority: 99,
                run_ns: 400_000_000,
            }],
            ..Delta::default()
        };
        let evidence = Evidence {
            cpus: vec![1],
            total: d.clone(),
            intervals: vec![d],
            missing: ["/dev/cpu/1/msr".to_owned()].into(),
            ..Evidence::default()
        };
        let context = Context {
            priority: 90,
            out_of_band: false,
            housekeeping: "0".into(),
            start_ns: 1_000_000_000,
        };
        let samples = vec![Sample {
            cpu: 1,
            latency_ns: 900_000,
            mono_ns: 1_500_000_000,
        }];
        Stored::new("idle", context, samples, evidence)
    }

    #[test]
    fn a_stored_evidence_reads_back_as_written() {
        let s = stored();
        let back = Stored::from_json(&s.to_json(), "evidence-idle.json").unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn another_format_or_a_foreign_file_is_refused_with_its_name() {
        let text = stored().to_json().replace(FORMAT, "rros-cause-evidence/9");
        let e = Stored::from_json(&text, "run/evidence-idle.json").unwrap_err();
        assert!(
            e.starts_with("run/evidence-idle.json: field `format` is \"rros-cause-evidence/9\""),
            "{e}"
        );
        let e = Stored::from_json("{\"verdict\":\"PASS\"}", "x.json").unwrap_err();
        assert!(e.contains("x.json: no field `format`"), "{e}");
        let e = Stored::from_json("not json", "x.json").unwrap_err();
        assert!(e.starts_with("x.json: not an evidence file"), "{e}");
        let broken = stored()
            .to_json()
            .replace("\"samples\":[", "\"samples\":[7,");
        let e = Stored::from_json(&broken, "x.json").unwrap_err();
        assert!(e.starts_with("x.json: damaged evidence file"), "{e}");
    }

    /// A hand-edited or damaged file that still parses (intervals out of order, samples
    /// before the start, counts at their limits) is analysed without a panic.
    #[test]
    fn hostile_evidence_is_analysed_without_a_panic() {
        let mut s = stored();
        let mut late = s.evidence.intervals[0].clone();
        late.from_ns = u64::MAX - 1;
        late.to_ns = 3;
        late.tasks[0].run_ns = u64::MAX;
        s.evidence.intervals.insert(0, late.clone());
        s.evidence.total = late;
        s.context.start_ns = u64::MAX;
        s.samples.push(Sample {
            cpu: u32::MAX,
            latency_ns: i64::MIN,
            mono_ns: 0,
        });
        let back = Stored::from_json(&s.to_json(), "x.json").unwrap();
        let sr: ScenarioReport = serde_json::from_value(serde_json::json!({
            "name": "idle", "description": "", "verdict": "FAIL", "reasons": [],
            "measured": true, "load": null, "backend": "posix", "cpus": "1",
            "duration_s": 1.0, "measured_s": 1.0, "interval_us": 1000, "min_samples": 1,
            "priority": 90, "samples": 1, "overruns": 0, "min_us": 1.0, "avg_us": 1.0,
            "max_us": 900.0, "percentiles": {"p50_us": 1.0, "p99_us": 1.0, "p99_9_us": null,
            "p99_99_us": null}, "threshold": {"max_us": 100.0, "p99_us": null},
            "margin_us": -800.0, "bound": null, "evt": null, "pm_qos": null, "per_cpu": [],
            "warnings": []
        }))
        .expect("a minimal scenario entry");
        let a = back.analyse(&sr);
        assert_eq!(a.label, AnalysisLabel::Failure);
        assert!(
            a.causes.iter().any(|c| c.evidence.contains("`hog`")),
            "{a:?}"
        );
    }
}
