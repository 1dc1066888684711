//! One scenario, measured under its load: start the load, warm up, measure, prove the load
//! worked and survived, stop it, and turn the engine's numbers into the report's.
//!
//! Each of these is its own function over a [`ScenarioRun`] (what the step needs) and the
//! scenario's report entry, in the order they happen.

use super::cause::NotRun;
use super::plan::Step;
use crate::load::{self, LoadSpec, RunningLoad};
use crate::report::{
    LoadReport, Percentiles, ScenarioReport, StopReason, Stopped, Threshold, Verdict,
};
use crate::store::Staging;
use crate::{loadwork, measure};
use cyclictest::{BackendKind, EndReason, RunReport, StopToken};
use rros_board::Board;
use std::time::{Duration, Instant};

/// The bytes of a load's log quoted in a reason.
const LOG_TAIL: usize = 400;

/// What measuring one step needs.
pub struct ScenarioRun<'a> {
    pub board: &'a Board,
    pub step: &'a Step,
    pub backend: BackendKind,
    pub staging: &'a Staging,
    pub term: &'a StopToken,
    /// The `cyclictest.json` thread index of the first measured CPU.
    pub first_thread: usize,
    pub warmup: Duration,
    pub load_grace: Duration,
    pub evt_probability: Option<f64>,
    /// Capture the evidence of why around the measurement.
    pub cause_capture: bool,
}

/// What measuring one scenario produced.
pub struct Measured {
    pub report: ScenarioReport,
    pub engine: Option<RunReport>,
    /// The engine failed in a way the next scenarios would hit too.
    pub fatal: Option<String>,
    pub interrupted: bool,
}

impl Measured {
    fn refused(report: ScenarioReport, why: NotRun) -> Measured {
        Measured {
            interrupted: why == NotRun::Interrupted,
            report: report.not_run(why),
            engine: None,
            fatal: None,
        }
    }
}

/// A scenario's entry before (or without) measuring.
pub fn stub(board: &Board, step: &Step, backend: BackendKind) -> ScenarioReport {
    let s = &step.scenario;
    ScenarioReport {
        name: s.name.clone(),
        description: s.description.clone(),
        verdict: Verdict::Pass,
        reasons: Vec::new(),
        measured: false,
        load: step.load.as_ref().map(|l| LoadReport {
            command: l.command.clone(),
            pgid: None,
            cpus: board.housekeeping.to_string(),
            exited_early: false,
            status: None,
            log: None,
            nice: load::LOAD_NICE,
            cpu_s: None,
            cpu_share: None,
            program_cpu_s: None,
            programs: Vec::new(),
        }),
        backend: backend.name().into(),
        cpus: step.cpus.to_string(),
        duration_s: step.duration.as_secs_f64(),
        measured_s: 0.0,
        interval_us: s.interval_us,
        min_samples: step.budget.min_samples,
        priority: s.priority,
        samples: 0,
        overruns: 0,
        min_us: None,
        avg_us: None,
        max_us: None,
        percentiles: Percentiles {
            p50_us: None,
            p99_us: None,
            p99_9_us: None,
            p99_99_us: None,
        },
        threshold: Threshold {
            max_us: f64::from(step.budget.max_us),
            p99_us: step.budget.p99_us.map(f64::from),
        },
        margin_us: None,
        bound: None,
        claim: s.claim.map(rros_contract::ClaimReport::unjudged),
        stopped: None,
        evt: None,
        pm_qos: None,
        per_cpu: Vec::new(),
        warnings: Vec::new(),
        analysis: None,
    }
}

/// Measures one step under its load.
pub fn measure(ctx: &ScenarioRun, mut sr: ScenarioReport) -> Measured {
    let mut running = match start_load(ctx, &mut sr) {
        Ok(l) => l,
        Err(why) => return Measured::refused(sr, why),
    };
    if let Some(why) = warm_up(ctx, &mut sr, &mut running) {
        return Measured::refused(sr, why);
    }
    // The measurement; a signal stops the engine, which then returns what it has, and so
    // does `--until-proven` (the step's `until`) once the claim is proven or the budget
    // exceeded.
    let mut cfg = measure::run_config(
        ctx.board,
        &ctx.step.scenario,
        ctx.step.duration,
        ctx.backend,
    );
    cfg.until = ctx.step.until;
    let mut progress = measure::Progress::new(ctx.step.scenario.name.clone());
    let meter = running
        .as_ref()
        .map(|l| loadwork::Meter::start(l.supervisor_pid()));
    let watch = super::evidence::Watch::start(ctx.board, ctx.cause_capture);
    let result = cyclictest::run(&cfg, ctx.term, &mut progress);
    let evidence = watch.finish();
    let work = meter.and_then(loadwork::Meter::finish);
    if ctx.step.load.is_some() {
        check_load_work(&mut sr, work, result.is_ok());
    }
    if let Some(l) = running {
        reap_load(&mut sr, l);
    }
    match result {
        Ok(rr) => measured(ctx, sr, rr, evidence),
        Err(e) => engine_failed(sr, &e),
    }
}

/// Starts the step's load (none: `Ok(None)`), recording its log and process group.
fn start_load(ctx: &ScenarioRun, sr: &mut ScenarioReport) -> Result<Option<RunningLoad>, NotRun> {
    let Some(planned) = &ctx.step.load else {
        return Ok(None);
    };
    let spec = LoadSpec {
        command: planned.command.clone(),
        cpus: planned.cpus.clone(),
        log: ctx.staging.path().join(&planned.log_name),
        grace: ctx.load_grace,
    };
    if let Some(l) = sr.load.as_mut() {
        l.log = Some(planned.log_name.clone());
    }
    let l = load::start(&spec).map_err(|e| NotRun::LoadStart(format!("{e:#}")))?;
    if let Some(lr) = sr.load.as_mut() {
        lr.pgid = Some(l.pgid);
    }
    Ok(Some(l))
}

/// Lets the load run for the warm-up; refuses the step if the load ended or a signal came.
/// A step without a load has nothing to warm up and starts measuring at once (the warm-up
/// lets a load reach its steady state; sleeping before an idle measurement adds only time).
fn warm_up(
    ctx: &ScenarioRun,
    sr: &mut ScenarioReport,
    running: &mut Option<RunningLoad>,
) -> Option<NotRun> {
    let warmup = if running.is_some() {
        ctx.warmup
    } else {
        Duration::ZERO
    };
    if let Some(end) = wait_warm(warmup, ctx.term, running) {
        let output = running
            .as_ref()
            .map(|l| l.log_tail(LOG_TAIL))
            .unwrap_or_default();
        if let Some(lr) = sr.load.as_mut() {
            lr.exited_early = true;
            lr.status = end.status.clone();
        }
        return Some(NotRun::LoadEndedEarly {
            status: end.status,
            output,
        });
    }
    if ctx.term.is_stopped() {
        // Stops and reaps the load before the report is written.
        drop(running.take());
        return Some(NotRun::Interrupted);
    }
    None
}

/// Sleeps up to `d`, returning early on a stop request or when the load ended.
fn wait_warm(
    d: Duration,
    term: &StopToken,
    load: &mut Option<RunningLoad>,
) -> Option<load::LoadEnd> {
    let end = Instant::now() + d;
    while Instant::now() < end && !term.is_stopped() {
        if let Some(l) = load.as_mut()
            && let Some(e) = l.ended()
        {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

/// Did the load work during the measurement? Records its CPU time; ERROR if nothing proves
/// it ran (only a measurement that ran to its end can judge the load's share).
fn check_load_work(sr: &mut ScenarioReport, work: Option<loadwork::Work>, completed: bool) {
    let problem = match &work {
        Some(w) => {
            if let Some(lr) = sr.load.as_mut() {
                lr.cpu_s = Some(w.cpu_s);
                lr.cpu_share = Some(w.cpu_share);
                lr.program_cpu_s = Some(w.program_cpu_s);
                lr.programs = w.programs.clone();
            }
            w.problem().filter(|_| completed)
        }
        None => Some(
            "the load's CPU time could not be watched (no thread for the meter), so nothing proves it ran".into(),
        ),
    };
    if let Some(p) = problem {
        sr.verdict = Verdict::Error;
        sr.reasons.push(p);
    }
}

/// Stops and reaps the load; ERROR if it had ended on its own during the measurement.
fn reap_load(sr: &mut ScenarioReport, mut l: RunningLoad) {
    let early = l.ended();
    let tail = l.log_tail(LOG_TAIL);
    let _ = l.stop();
    let Some(end) = early else {
        return;
    };
    if let Some(lr) = sr.load.as_mut() {
        lr.exited_early = true;
        lr.status = end.status.clone();
    }
    sr.verdict = Verdict::Error;
    sr.reasons.push(format!(
        "the load ended on its own during the measurement ({}), so part of it ran without load; make the load run until it is stopped. Its output: {}",
        end.status.as_deref().unwrap_or("unknown status"),
        tail.trim()
    ));
}

/// The engine could not measure: ERROR, and fatal for the scenarios after it.
fn engine_failed(mut sr: ScenarioReport, e: &impl std::fmt::Display) -> Measured {
    let msg = format!("the measurement failed: {e}");
    sr.verdict = Verdict::Error;
    sr.reasons.push(msg.clone());
    Measured {
        report: sr,
        engine: None,
        fatal: Some(msg),
        interrupted: false,
    }
}

/// The engine's numbers in the report entry, judged against the budget.
fn measured(
    ctx: &ScenarioRun,
    mut sr: ScenarioReport,
    rr: RunReport,
    evidence: Option<rros_cause::Evidence>,
) -> Measured {
    record_numbers(&mut sr, &rr, ctx.first_thread);
    record_tail(&mut sr, &rr, ctx);
    sr.stopped = Some(stopped(&rr, ctx.step.until.is_some()));
    let interrupted = rr.end_reason == EndReason::Stopped;
    if interrupted {
        sr.verdict = Verdict::Error;
        sr.reasons.push(format!(
            "interrupted by a signal after {:.1} s of {:.1} s: the numbers are partial",
            sr.measured_s, sr.duration_s
        ));
    }
    sr.judge();
    super::evidence::analyse(&mut sr, evidence, &rr, ctx.board, ctx.staging);
    Measured {
        report: sr,
        engine: Some(rr),
        fatal: None,
        interrupted,
    }
}

/// Why the engine ended, in the report's words (`until_proven`: the step had an `until`).
fn stopped(rr: &RunReport, until_proven: bool) -> Stopped {
    Stopped {
        reason: match rr.end_reason {
            EndReason::Target => StopReason::Proven,
            EndReason::Exceeded => StopReason::Exceeded,
            EndReason::Duration | EndReason::Loops => StopReason::Cap,
            EndReason::Stopped => StopReason::Signal,
        },
        until_proven,
        samples: rr.overall.samples,
        after_s: rr.elapsed_ns as f64 / 1e9,
    }
}

/// Samples, latencies, percentiles, per-CPU numbers and the PM QoS state.
fn record_numbers(sr: &mut ScenarioReport, rr: &RunReport, first_thread: usize) {
    sr.measured = true;
    sr.measured_s = rr.elapsed_ns as f64 / 1e9;
    sr.backend = rr.backend.kind.name().into();
    let o = &rr.overall;
    sr.samples = o.samples;
    sr.overruns = o.missed_periods;
    sr.min_us = o.min_ns.map(|v| v as f64 / 1000.0);
    sr.avg_us = o.avg_ns.map(|v| v / 1000.0);
    sr.max_us = o.max_ns.map(|v| v as f64 / 1000.0);
    sr.percentiles = measure::percentiles(o);
    sr.margin_us = sr.max_us.map(|m| sr.threshold.max_us - m);
    sr.per_cpu = measure::per_cpu(rr, first_thread);
    sr.warnings = rr.warnings.clone();
    sr.pm_qos = Some(
        match (&rr.pm_qos.requested_us, rr.pm_qos.held, &rr.pm_qos.error) {
            (None, _, _) => "not requested (system as configured)".into(),
            (Some(v), true, _) => format!("{v} µs held on /dev/cpu_dma_latency"),
            (Some(v), false, e) => format!(
                "{v} µs requested but not held: {}",
                e.as_deref().unwrap_or("unknown")
            ),
        },
    );
}

/// What the tail says beyond the maximum: the exceedance bound and the extreme-value estimate.
fn record_tail(sr: &mut ScenarioReport, rr: &RunReport, ctx: &ScenarioRun) {
    let interval_us = ctx.step.scenario.interval_us;
    let threshold_ns = i64::from(ctx.step.budget.max_us) * 1000;
    let (exceed, exact) = measure::exceedances(rr, threshold_ns);
    sr.bound = measure::bound(sr.samples, exceed, !exact, sr.threshold.max_us, interval_us);
    if let Some(p) = ctx.evt_probability
        && sr.samples > 0
    {
        sr.evt = Some(measure::evt(rr, p, interval_us));
    }
}
