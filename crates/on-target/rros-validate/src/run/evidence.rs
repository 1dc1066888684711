//! Why a scenario's latency was what it was (issue #16): the evidence captured around its
//! measurement by rros-cause, and the analysis put in its report entry.
//!
//! The capture runs on its own thread on the housekeeping CPUs, started before the engine
//! and stopped after it: nothing is added to the samplers' loop. Its verdict-independent
//! part (what was seen) is kept for every measured scenario; the summaries show it for a
//! FAIL, and for a PASS with a thin margin as a warning (`rros_contract::analysis`). The
//! evidence itself is kept beside the report (`evidence-<scenario>.json`, written into the
//! staging directory, so it appears atomically with the run) for `rros-validate analyze`.

use crate::measure;
use crate::report::ScenarioReport;
use crate::store::Staging;
use cyclictest::{BackendKind, RunReport};
use rros_board::Board;
use rros_cause::{Capture, Context, Evidence, Probe, Sample, Stored};

/// The capture around one measurement (none if its thread could not start: the run goes on
/// without an analysis rather than without a measurement).
pub struct Watch(Option<Capture>);

impl Watch {
    /// Starts capturing the board's measured CPUs from its housekeeping CPUs; `on` false
    /// (`run --no-cause-capture`) captures nothing.
    pub fn start(board: &Board, on: bool) -> Watch {
        if !on {
            return Watch(None);
        }
        let cpus = board.measured_cpus().iter().collect();
        Watch(Capture::start(Probe::live(cpus), &measure::cpus_of(&board.housekeeping)).ok())
    }

    /// Stops capturing, with a last snapshot.
    pub fn finish(self) -> Option<Evidence> {
        self.0.and_then(Capture::finish)
    }
}

/// Puts the analysis of `evidence` in `sr`, after the verdict (which labels it), and keeps
/// the evidence in the run directory (`evidence-<scenario>.json`) for `rros-validate analyze`.
pub fn analyse(
    sr: &mut ScenarioReport,
    evidence: Option<Evidence>,
    rr: &RunReport,
    board: &Board,
    staging: &Staging,
) {
    let Some(ev) = evidence else {
        return;
    };
    let samples: Vec<Sample> = rr
        .cpus
        .iter()
        .flat_map(|c| c.stats.outliers.iter())
        .map(|o| Sample {
            cpu: o.cpu as u32,
            latency_ns: o.latency_ns,
            mono_ns: o.clock_ns.max(0) as u64,
        })
        .collect();
    // The measurement's start on the samplers' clock: a kept sample's time minus its offset.
    let start_ns = rr
        .cpus
        .iter()
        .flat_map(|c| c.stats.outliers.first())
        .map(|o| (o.clock_ns - o.at_ns).max(0) as u64)
        .next()
        .unwrap_or(ev.total.from_ns);
    let cx = Context {
        priority: sr.priority,
        out_of_band: rr.backend.kind == BackendKind::Evl,
        housekeeping: board.housekeeping.to_string(),
        start_ns,
    };
    let stored = Stored::new(&sr.name, cx, samples, ev);
    sr.analysis = Some(stored.analyse(sr));
    let name = rros_cause::stored::file_name(&sr.name);
    if let Err(e) = staging.write(&name, stored.to_json().as_bytes()) {
        sr.warnings.push(format!(
            "the evidence is not kept ({e:#}): `rros-validate analyze` cannot re-run this analysis"
        ));
    }
}
