//! The run plan: what `rros-validate run` will measure, and the one timeout a consumer should
//! allow it.
//!
//! `rros-validate plan --json` prints it for the profile and options a run would get. `rros
//! accept`, the OEQA case and `lava/render` take their timeouts from it, so they cannot
//! disagree (before this, three formulas did, and one fell back to 60 s on `1h30m`).
//!
//! # The timeout
//!
//! ```text
//! timeout_s = ceil( 2 × Σ duration_i                            measuring, doubled for slack
//!                 + Σ (warmup + load_grace + SCENARIO_OVERHEAD_S)  each load's start and stop,
//!                                                                  statistics and plots
//!                 + RUN_OVERHEAD_S )                               start-up, audit, reports
//! ```
//!
//! With `--until-proven` a scenario's `duration_s` is its cap: it may end much earlier (when
//! its claim is proven, or its budget exceeded), never later, so the same timeout holds.
//!
//! It covers the whole run from its start to its verdict line: `run --quiet` prints nothing
//! meanwhile, so a consumer timing out on silence needs all of it. Booting the board or
//! stopping the boot-time run is the consumer's own part.

use serde::{Deserialize, Serialize};

/// The `schema` value of `plan --json`.
pub const PLAN_SCHEMA: &str = "rros-validate-plan/1";
/// Per scenario, beyond its warm-up and the load's grace: statistics, plots, reaping.
pub const SCENARIO_OVERHEAD_S: f64 = 20.0;
/// Per run: start-up, the audit and writing the reports.
pub const RUN_OVERHEAD_S: f64 = 120.0;
/// `run --warmup`'s default, seconds.
pub const DEFAULT_WARMUP_S: f64 = 1.0;
/// `run --load-grace`'s default, seconds.
pub const DEFAULT_LOAD_GRACE_S: f64 = 2.0;

/// One scenario as the run will measure it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedScenario {
    pub name: String,
    /// Measuring time (the profile's, or `--duration`), seconds.
    pub duration_s: f64,
    /// It runs a load beside the measurement.
    pub load: bool,
    /// With `--until-proven` (added with issue #17; absent otherwise): the samples, all
    /// measured CPUs pooled, that end the scenario early (its claim's `samples_needed`);
    /// `duration_s` is then its cap. `None` with `--until-proven`: no claim, the whole
    /// duration is measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_samples: Option<u64>,
}

/// What a run will do, and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA`].
    pub schema: String,
    pub board: String,
    /// The profile the plan was made from.
    pub profile: String,
    /// In the order they run; only the audit runs when empty and `audit_only`.
    pub scenarios: Vec<PlannedScenario>,
    pub audit_only: bool,
    pub warmup_s: f64,
    pub load_grace_s: f64,
    /// `--until-proven`: each scenario measures until its claim is proven, its budget is
    /// exceeded, or its `duration_s` (the cap) runs out (added with issue #17; absent when
    /// false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub until_proven: bool,
    /// Σ `duration_s`.
    pub measure_s: f64,
    /// What a consumer should allow the whole run (see the module docs), whole seconds.
    pub timeout_s: u64,
}

impl Plan {
    /// The plan of a run, with its timeout.
    pub fn new(
        board: String,
        profile: String,
        scenarios: Vec<PlannedScenario>,
        audit_only: bool,
        warmup_s: f64,
        load_grace_s: f64,
    ) -> Plan {
        let measured: Vec<f64> = if audit_only {
            Vec::new()
        } else {
            scenarios.iter().map(|s| s.duration_s).collect()
        };
        Plan {
            schema: PLAN_SCHEMA.into(),
            board,
            profile,
            measure_s: measured.iter().sum(),
            timeout_s: timeout_s(&measured, warmup_s, load_grace_s),
            scenarios,
            audit_only,
            warmup_s,
            load_grace_s,
            until_proven: false,
        }
    }
}

/// The one timeout formula (module docs), in whole seconds, rounded up.
pub fn timeout_s(durations_s: &[f64], warmup_s: f64, load_grace_s: f64) -> u64 {
    let per_scenario = warmup_s + load_grace_s + SCENARIO_OVERHEAD_S;
    let total: f64 = durations_s
        .iter()
        .map(|d| 2.0 * d + per_scenario)
        .sum::<f64>()
        + RUN_OVERHEAD_S;
    total.ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formula() {
        // Two scenarios of 30 s with the default 1 s warm-up and 2 s grace:
        // 2×60 + 2×(1+2+20) + 120 = 286.
        assert_eq!(timeout_s(&[30.0, 30.0], 1.0, 2.0), 286);
        // 1h30m is 5400 s, never a fallback.
        assert_eq!(timeout_s(&[5400.0], 1.0, 2.0), 10800 + 23 + 120);
        // Only the audit.
        assert_eq!(timeout_s(&[], 1.0, 2.0), 120);
        assert_eq!(timeout_s(&[0.5], 0.0, 0.0), 141);
    }

    #[test]
    fn audit_only_measures_nothing() {
        let s = PlannedScenario {
            name: "idle".into(),
            duration_s: 60.0,
            load: false,
            until_samples: None,
        };
        let p = Plan::new("b".into(), "p".into(), vec![s], true, 1.0, 2.0);
        assert_eq!((p.measure_s, p.timeout_s), (0.0, 120));
    }
}
