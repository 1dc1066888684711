//! Carries out a [`RunPlan`] step by step: pin, audit, resolve the backend, then measure each
//! scenario in order, recording what happened in the report.
//!
//! Each step is a small function; what stops a scenario is a typed [`NotRun`], and the one
//! piece of state that changes between steps (an engine failure the next steps would hit
//! too) lives in [`Execution`], not in a message.

use super::cause::NotRun;
use super::plan::{RunPlan, Step};
use super::scenario::{self, Measured, ScenarioRun};
use super::{BackendChoice, note};
use crate::audit;
use crate::report::{ErrorEntry, Report, ScenarioReport};
use crate::store::Staging;
use cyclictest::{BackendKind, RunReport, StopToken};
use rros_board::Board;
use rros_contract::report::ErrorScope;

/// Executes `plan` into `report`; returns the engine reports of the measured scenarios.
pub fn execute(
    plan: &RunPlan,
    staging: &Staging,
    term: &StopToken,
    report: &mut Report,
) -> Vec<RunReport> {
    let Ok(board) = &plan.board else {
        return Vec::new();
    };
    pin_to_housekeeping(board, report);
    keep_heap(report);
    note(
        plan.quiet,
        &format!(
            "board {} ({}), profile {}",
            board.name,
            board.flavour,
            plan.profile.display()
        ),
    );
    let audited = audit_step(plan, board, report);
    let backend = resolve_backend(plan.backend, board, audited.as_ref());
    for hint in &plan.hints {
        note(plan.quiet, &format!("warning: {hint}"));
        report.warnings.push(hint.clone());
    }
    if plan.audit_only {
        return Vec::new();
    }
    let mut run = Execution {
        plan,
        board,
        staging,
        term,
        backend,
        stop: plan.refusal(),
        first_thread: 0,
        engines: Vec::new(),
    };
    for step in &plan.steps {
        let stub = scenario::stub(board, step, backend);
        let done = run.step(step, stub, report);
        report.scenarios.push(done);
    }
    run.engines
}

/// Keeps rros-validate's own `free`s off the measured CPUs from here to the end of the run
/// ([`cyclictest::keep_heap`]): memory given back to the kernel is a TLB shootdown on every
/// CPU our threads ran on, and the evidence of each scenario spans its warm-up and reaping.
fn keep_heap(report: &mut Report) {
    if !cyclictest::keep_heap() {
        report.warnings.push(
            "could not keep rros-validate's heap (mallopt needs glibc): memory it gives back may send TLB shootdowns to the measured CPUs, which the analysis then lists as ipi causes".into(),
        );
    }
}

/// Keeps rros-validate's own work (audit, warm-up, reports) off the measured CPUs.
fn pin_to_housekeeping(board: &Board, report: &mut Report) {
    if !super::affinity::pin(&crate::measure::cpus_of(&board.housekeeping)) {
        report.warnings.push(format!(
            "could not pin rros-validate to the housekeeping CPUs {}: its own work may disturb the measured CPUs",
            board.housekeeping
        ));
    }
}

/// The audit (also when it fails: people want the numbers).
fn audit_step(plan: &RunPlan, board: &Board, report: &mut Report) -> Option<rros_isolation::Audit> {
    note(plan.quiet, "auditing the isolation");
    let (audit_report, audit) = audit::run_audit(board, &plan.sysroot);
    if let Some(e) = &audit_report.error {
        report
            .errors
            .push(ErrorEntry::new(ErrorScope::Audit, e.clone()));
    }
    report.audit = audit_report;
    audit
}

/// Which backend measures: `auto` is evl on a running RROS/EVL core (as audited; the
/// profile's flavour when the audit could not read the kernel), else posix.
fn resolve_backend(
    choice: BackendChoice,
    board: &Board,
    kernel: Option<&rros_isolation::Audit>,
) -> BackendKind {
    match choice {
        BackendChoice::Posix => BackendKind::Posix,
        BackendChoice::Evl => BackendKind::Evl,
        BackendChoice::Auto => {
            let dual = match kernel {
                Some(a) => matches!(
                    a.kernel.realtime_core,
                    rros_isolation::RealtimeCore::Rros | rros_isolation::RealtimeCore::Evl
                ),
                None => board.flavour.is_dual_kernel(),
            };
            if dual {
                BackendKind::Evl
            } else {
                BackendKind::Posix
            }
        }
    }
}

/// The state of a run between its steps.
struct Execution<'a> {
    plan: &'a RunPlan,
    board: &'a Board,
    staging: &'a Staging,
    term: &'a StopToken,
    backend: BackendKind,
    /// Set once nothing more may be measured (an unknown scenario, an engine failure).
    stop: Option<NotRun>,
    /// The `cyclictest.json` thread index of the next measured CPU.
    first_thread: usize,
    engines: Vec<RunReport>,
}

impl Execution<'_> {
    /// One scenario: refused, or measured; its engine failure stops the next ones.
    fn step(&mut self, step: &Step, stub: ScenarioReport, report: &mut Report) -> ScenarioReport {
        if let Some(why) = self.refusal(step) {
            report.interrupted |= why == NotRun::Interrupted;
            return stub.not_run(why);
        }
        self.announce(step);
        let m = self.measure(step, stub);
        if let Some(f) = &m.fatal {
            report.errors.push(ErrorEntry::new(
                ErrorScope::Scenario(&step.scenario.name),
                f.clone(),
            ));
            self.stop = Some(NotRun::EarlierFailed(f.clone()));
        }
        report.interrupted |= m.interrupted;
        if let Some(st) = m.report.stopped.as_ref().filter(|st| st.until_proven) {
            let said = st.statement(m.report.duration_s);
            note(
                self.plan.quiet,
                &format!("scenario {}: {said}", step.scenario.name),
            );
        }
        if let Some(e) = m.engine {
            self.first_thread += e.cpus.len();
            self.engines.push(e);
        }
        m.report
    }

    /// Why `step` is not measured: the run stopped, the plan refused it, or a signal came.
    fn refusal(&self, step: &Step) -> Option<NotRun> {
        self.stop
            .clone()
            .or_else(|| step.refused.clone())
            .or_else(|| self.term.is_stopped().then_some(NotRun::Interrupted))
    }

    fn announce(&self, step: &Step) {
        let how_long = match &step.until {
            Some(u) => format!(
                "until {} samples prove its claim (at most {})",
                u.samples,
                humantime::format_duration(step.duration)
            ),
            None => humantime::format_duration(step.duration).to_string(),
        };
        note(
            self.plan.quiet,
            &format!(
                "scenario {}: measuring {how_long} on CPU(s) {} ({}), load: {}",
                step.scenario.name,
                step.cpus,
                self.backend.name(),
                step.load.as_ref().map_or("none", |l| l.command.as_str())
            ),
        );
    }

    /// Measures `step`; a panic in rros-validate becomes an ERROR scenario, not a crash.
    fn measure(&self, step: &Step, stub: ScenarioReport) -> Measured {
        let ctx = ScenarioRun {
            board: self.board,
            step,
            backend: self.backend,
            staging: self.staging,
            term: self.term,
            first_thread: self.first_thread,
            warmup: self.plan.warmup,
            load_grace: self.plan.load_grace,
            evt_probability: self.plan.evt_probability,
            cause_capture: self.plan.cause_capture,
        };
        let fallback = stub.clone();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scenario::measure(&ctx, stub)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Measured {
                report: fallback.not_run(NotRun::Internal(what)),
                engine: None,
                fatal: Some("internal error".into()),
                interrupted: false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn crate_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn board(name: &str) -> Board {
        let path = crate_dir().join(format!("../../../board/{name}.toml"));
        rros_board::load_board(&path).expect("shipped profile").0
    }

    fn audited(board: &Board, fixture: &str) -> rros_isolation::Audit {
        let root = crate_dir()
            .join("../rros-isolation/tests/fixtures")
            .join(fixture);
        rros_isolation::audit(board, Path::new(&root)).expect("fixture audit")
    }

    /// `auto` follows the audited kernel: evl on an EVL core, posix without one, whatever
    /// the profile says; the profile's flavour only when the kernel could not be read.
    #[test]
    fn auto_backend_follows_the_audited_kernel() {
        let nuc = board("nuc");
        let qemu = board("qemux86-64");
        let evl = audited(&nuc, "nuc-evl");
        let plain = audited(&qemu, "dev-machine-not-isolated");
        let auto = |b: &Board, a: Option<&rros_isolation::Audit>| {
            resolve_backend(BackendChoice::Auto, b, a)
        };
        assert_eq!(auto(&nuc, Some(&evl)), BackendKind::Evl);
        assert_eq!(auto(&nuc, Some(&plain)), BackendKind::Posix);
        assert_eq!(auto(&nuc, None), BackendKind::Evl, "nuc is a dual kernel");
        assert_eq!(auto(&qemu, None), BackendKind::Posix);
        let posix = resolve_backend(BackendChoice::Posix, &nuc, Some(&evl));
        assert_eq!(posix, BackendKind::Posix, "an explicit choice wins");
    }
}
