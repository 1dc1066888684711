//! The `analysis` section of a scenario in `report.json`: why the latency was what it was.
//!
//! rros-cause fills it from counters captured around the measurement (IRQs, tasks, C-states,
//! SMIs, in-band switches); this module owns its shape and the one definition of a *thin*
//! margin, under which a PASS gets the same analysis labelled as a warning. The section is
//! optional and additive (schema `rros-validate/1` is unchanged for readers that ignore it).

use serde::{Deserialize, Serialize};

/// A PASS whose maximum is above this share of the budget has a thin margin.
pub const THIN_MARGIN: f64 = 0.8;

/// True when `max_us` is above [`THIN_MARGIN`] of `budget_us` (and within the budget or not:
/// the verdict decides that).
pub fn thin_margin(max_us: Option<f64>, budget_us: f64) -> bool {
    max_us.is_some_and(|m| budget_us > 0.0 && m > THIN_MARGIN * budget_us)
}

/// How sure a cause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// The evidence names it and lines up with the worst samples, or cannot be benign.
    High,
    /// The evidence names it; it may or may not have made the worst samples.
    Medium,
    /// Plausible, small.
    Low,
    /// Seen, and normal on a healthy system: not a cause.
    Informational,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
            Confidence::Informational => "informational",
        }
    }
}

/// What the analysis is for: explaining a FAIL, warning about a thin PASS, or a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisLabel {
    /// The scenario FAILed: these are its likely causes.
    Failure,
    /// PASS, but the maximum is above [`THIN_MARGIN`] of the budget.
    Warning,
    /// PASS with margin (or not judged): kept for the record.
    Record,
}

/// One likely cause, with its evidence and the fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// The rule that found it (`device-irq`, `foreign-task`, `smi`, ...).
    pub rule: String,
    pub confidence: Confidence,
    /// What was seen: numbers, names, CPUs.
    pub evidence: String,
    pub fix: String,
}

/// One of the worst samples, next to what happened in the capture interval it fell in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorstSample {
    pub cpu: u32,
    pub latency_us: f64,
    /// Seconds since the measurement started.
    pub at_s: f64,
    /// What changed on its CPU in that interval (empty: nothing the capture counts, or the
    /// interval was not kept).
    pub interval: String,
}

/// The scenario's analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub label: AnalysisLabel,
    /// Most likely first.
    pub causes: Vec<Cause>,
    /// The worst samples, worst first.
    pub worst: Vec<WorstSample>,
    /// What could not be checked (a source the kernel or the permissions did not give).
    pub unchecked: Vec<String>,
}

impl Analysis {
    /// The causes worth showing: above informational, at most `n`.
    pub fn top(&self, n: usize) -> impl Iterator<Item = &Cause> {
        self.causes
            .iter()
            .filter(|c| c.confidence < Confidence::Informational)
            .take(n)
    }

    /// Shown in the summaries: a FAIL's causes, or a thin PASS's as a warning.
    pub fn shown(&self) -> bool {
        self.label != AnalysisLabel::Record
    }

    /// The line the summaries put above the causes; `None` when not shown.
    pub fn heading(&self, max_us: Option<f64>, budget_us: f64) -> Option<String> {
        let max = max_us.map_or("-".into(), |m| format!("{m:.1}"));
        let what = match self.label {
            AnalysisLabel::Record => return None,
            AnalysisLabel::Failure => "why it failed".to_owned(),
            AnalysisLabel::Warning => format!(
                "warning: thin margin, max {max} µs is above {:.0} % of the {budget_us} µs budget",
                THIN_MARGIN * 100.0
            ),
        };
        Some(if self.top(1).next().is_some() {
            format!("{what}, most likely first:")
        } else if self.unchecked.is_empty() {
            format!("{what}: nothing the captured counters show explains it")
        } else {
            format!(
                "{what}: nothing the captured counters show explains it; not checked: {}",
                self.unchecked.join("; ")
            )
        })
    }

    /// The top cause in one line (for a JUnit message, a fleet summary).
    pub fn top_line(&self) -> Option<String> {
        self.top(1).next().map(|c| {
            format!(
                "likely cause ({}): {}; fix: {}",
                c.confidence.as_str(),
                c.evidence,
                c.fix
            )
        })
    }
}

/// How many causes the summaries show.
pub const SHOWN: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_is_above_eighty_percent() {
        assert!(thin_margin(Some(81.0), 100.0));
        assert!(!thin_margin(Some(80.0), 100.0));
        assert!(!thin_margin(None, 100.0));
        assert!(thin_margin(Some(120.0), 100.0));
    }

    #[test]
    fn top_skips_informational() {
        let c = |confidence| Cause {
            rule: "r".into(),
            confidence,
            evidence: String::new(),
            fix: String::new(),
        };
        let a = Analysis {
            label: AnalysisLabel::Failure,
            causes: vec![c(Confidence::High), c(Confidence::Informational)],
            worst: vec![],
            unchecked: vec![],
        };
        assert_eq!(a.top(5).count(), 1);
        let json = serde_json::to_string(&a.causes[0]).unwrap();
        assert!(json.contains("\"confidence\":\"high\""), "{json}");
    }
}
