//! `rros-validate run`: audit, measure every scenario under its load, judge, write the reports.

use crate::audit;
use crate::load::{self, LoadSpec};
use crate::loadwork;
use crate::measure;
use crate::render;
use crate::report::{
    AuditReport, BoardCpus, BoardInfo, ErrorEntry, Host, LoadReport, Percentiles, ProfileRef,
    Report, RunOptions, SCHEMA, ScenarioReport, Threshold, Tool, Verdict,
};
use crate::store::{self, Staging, Store};
use crate::util;
use anyhow::{Context, Result};
use cyclictest::{BackendKind, CompatOptions, EndReason, RunReport, StopToken};
use rros_board::{Board, BoardScenario};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Keeps rros-validate's own work (audit, warm-up, reports) off the measured CPUs: the main
/// thread runs on the housekeeping CPUs (the engine's samplers pin themselves to theirs).
mod affinity {
    /// Pins the calling thread to `cpus`; false if the system refuses.
    pub fn pin(cpus: &[usize]) -> bool {
        cyclictest::sys::set_affinity_current(cpus).is_ok()
    }
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// evl when the running kernel has an RROS/EVL core, else posix.
    Auto,
    Posix,
    Evl,
}

/// Everything `run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub profile: PathBuf,
    pub duration: Option<Duration>,
    pub scenarios: Vec<String>,
    pub output_dir: PathBuf,
    pub keep: usize,
    pub backend: BackendChoice,
    pub audit_only: bool,
    pub sysroot: PathBuf,
    pub evt_probability: Option<f64>,
    pub prometheus: Option<PathBuf>,
    pub warmup: Duration,
    pub load_grace: Duration,
    pub quiet: bool,
    pub cmdline: String,
}

fn note(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("rros-validate: {msg}");
    }
}

fn read_host() -> Host {
    let si = cyclictest::sys::SysInfo::read();
    Host {
        hostname: si.nodename,
        kernel_release: si.release,
        kernel_version: si.version,
        machine: si.machine,
        preempt_rt: si.realtime,
        cmdline: std::fs::read_to_string("/proc/cmdline")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        core: rros_contract::report::CoreInfo::read(std::path::Path::new("/")),
    }
}

fn board_info(b: &Board) -> BoardInfo {
    BoardInfo {
        name: b.name.clone(),
        description: b.description.clone(),
        machine: b.machine.clone(),
        arch: b.arch.to_string(),
        flavour: b.flavour.to_string(),
        cpus: BoardCpus {
            count: b.cpu_count,
            housekeeping: b.housekeeping.to_string(),
            isolated: b.isolated.to_string(),
            oob: b.oob.to_string(),
            measured: b.measured_cpus().to_string(),
        },
    }
}

/// A scenario entry before (or without) measuring.
fn scenario_stub(
    board: &Board,
    s: &BoardScenario,
    duration: Duration,
    backend: BackendKind,
) -> ScenarioReport {
    ScenarioReport {
        name: s.name.clone(),
        description: s.description.clone(),
        verdict: Verdict::Pass,
        reasons: Vec::new(),
        measured: false,
        load: s.load.as_ref().map(|c| LoadReport {
            command: c.clone(),
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
        cpus: board.measured_cpus().to_string(),
        duration_s: duration.as_secs_f64(),
        measured_s: 0.0,
        interval_us: s.interval_us,
        min_samples: s.min_samples,
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
            max_us: f64::from(s.threshold.max_us),
            p99_us: s.threshold.p99_us.map(f64::from),
        },
        margin_us: None,
        bound: None,
        evt: None,
        pm_qos: None,
        per_cpu: Vec::new(),
        warnings: Vec::new(),
    }
}

fn not_run(mut s: ScenarioReport, why: &str) -> ScenarioReport {
    s.verdict = Verdict::Error;
    s.reasons.push(format!("not run: {why}"));
    s
}

/// Which backend measures.
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

/// What measuring one scenario produced.
struct Measured {
    report: ScenarioReport,
    engine: Option<RunReport>,
    /// The engine failed in a way the next scenarios would hit too.
    fatal: Option<String>,
    interrupted: bool,
}

/// Sleeps up to `d`, returning early on a stop request or when the load ended.
fn warm_up(
    d: Duration,
    term: &StopToken,
    load: &mut Option<load::RunningLoad>,
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

#[allow(clippy::too_many_arguments)]
fn measure_scenario(
    board: &Board,
    scenario: &BoardScenario,
    duration: Duration,
    backend: BackendKind,
    staging: &Staging,
    args: &RunArgs,
    term: &StopToken,
    first_thread: usize,
) -> Measured {
    let mut sr = scenario_stub(board, scenario, duration, backend);
    let mut out = Measured {
        report: sr.clone(),
        engine: None,
        fatal: None,
        interrupted: false,
    };
    // The load.
    let mut running = None;
    if let Some(command) = &scenario.load {
        let log_name = format!("load-{}.log", util::safe_name(&scenario.name));
        let spec = LoadSpec {
            command: command.clone(),
            cpus: board.housekeeping.iter().collect(),
            log: staging.path().join(&log_name),
            grace: args.load_grace,
        };
        if let Some(l) = sr.load.as_mut() {
            l.log = Some(log_name);
        }
        match load::start(&spec) {
            Ok(l) => {
                if let Some(lr) = sr.load.as_mut() {
                    lr.pgid = Some(l.pgid);
                }
                running = Some(l);
            }
            Err(e) => {
                out.report = not_run(sr, &format!("{e:#}"));
                return out;
            }
        }
    }
    if let Some(end) = warm_up(args.warmup, term, &mut running) {
        let tail = running
            .as_ref()
            .map(|l| l.log_tail(400))
            .unwrap_or_default();
        if let Some(lr) = sr.load.as_mut() {
            lr.exited_early = true;
            lr.status = end.status.clone();
        }
        out.report = not_run(
            sr,
            &format!(
                "the load ended on its own before the measurement started ({}); a load must run until it is stopped (loop it, e.g. `while :; do …; done`, or use `--timeout 0`). Its output: {}",
                end.status.as_deref().unwrap_or("unknown status"),
                tail.trim()
            ),
        );
        return out;
    }
    if term.is_stopped() {
        drop(running);
        out.interrupted = true;
        out.report = not_run(sr, "the run was interrupted by a signal");
        return out;
    }

    // The measurement; a signal stops the engine, which then returns what it has.
    let cfg = measure::run_config(board, scenario, duration, backend);
    let mut progress = measure::Progress::new(scenario.name.clone());
    let meter = running
        .as_ref()
        .map(|l| loadwork::Meter::start(l.supervisor_pid()));
    let result = cyclictest::run(&cfg, term, &mut progress);
    let work = meter.and_then(loadwork::Meter::finish);

    // The load: did it work during the measurement?
    if scenario.load.is_some() {
        let problem = match &work {
            Some(w) => {
                if let Some(lr) = sr.load.as_mut() {
                    lr.cpu_s = Some(w.cpu_s);
                    lr.cpu_share = Some(w.cpu_share);
                    lr.program_cpu_s = Some(w.program_cpu_s);
                    lr.programs = w.programs.clone();
                }
                // Only a measurement that ran to its end can judge the load.
                w.problem().filter(|_| result.is_ok())
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

    // The load: did it survive the measurement? Then stop and reap it.
    if let Some(mut l) = running {
        let early = l.ended();
        let tail = l.log_tail(400);
        let _ = l.stop();
        if let Some(end) = early {
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
    }

    let rr = match result {
        Ok(rr) => rr,
        Err(e) => {
            let msg = format!("the measurement failed: {e}");
            out.fatal = Some(msg.clone());
            sr.verdict = Verdict::Error;
            sr.reasons.push(msg);
            out.report = sr;
            return out;
        }
    };
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
    sr.per_cpu = measure::per_cpu(&rr, first_thread);
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
    let threshold_ns = i64::from(scenario.threshold.max_us) * 1000;
    let (exceed, exact) = measure::exceedances(&rr, threshold_ns);
    sr.bound = measure::bound(
        sr.samples,
        exceed,
        !exact,
        sr.threshold.max_us,
        scenario.interval_us,
    );
    if let Some(p) = args.evt_probability
        && sr.samples > 0
    {
        sr.evt = Some(measure::evt(&rr, p, scenario.interval_us));
    }
    if rr.end_reason == EndReason::Stopped {
        out.interrupted = true;
        sr.verdict = Verdict::Error;
        sr.reasons.push(format!(
            "interrupted by a signal after {:.1} s of {:.1} s: the numbers are partial",
            sr.measured_s, sr.duration_s
        ));
    }
    sr.judge();
    out.report = sr;
    out.engine = Some(rr);
    out
}

/// A run report with no sampler (for a `cyclictest.json` of a run that measured nothing).
fn empty_engine_report() -> RunReport {
    let cfg = cyclictest::RunConfig::default();
    let now = cyclictest::Timestamp::now();
    RunReport {
        format: cyclictest::report::NATIVE_FORMAT,
        tool: "cyclictest-rs",
        version: "",
        backend: cyclictest::BackendInfo {
            kind: cfg.backend,
            timer: String::new(),
            clock: String::new(),
            clock_resolution_ns: None,
            clocksource: None,
            core: None,
            libevl: None,
        },
        overall: cyclictest::Stats {
            samples: 0,
            missed_periods: 0,
            min_ns: None,
            max_ns: None,
            avg_ns: None,
            last_ns: None,
            sum_ns: 0,
            sum_us_truncated: 0,
            percentiles: cyclictest::Percentiles {
                p50_ns: None,
                p99_ns: None,
                p99_9_ns: None,
                p99_99_ns: None,
            },
            histogram: cyclictest::Histogram::new(cyclictest::HistogramSpec {
                bucket_width_ns: 1000,
                buckets: 1,
            }),
            outliers: Vec::new(),
            overflow_samples: Vec::new(),
        },
        config: cfg,
        start: now.clone(),
        end: now,
        elapsed_ns: 0,
        end_reason: EndReason::Stopped,
        mlocked: false,
        pm_qos: cyclictest::PmQosStatus {
            requested_us: None,
            held: false,
            error: None,
        },
        sysinfo: cyclictest::sys::SysInfo::read(),
        cpus: Vec::new(),
        warnings: Vec::new(),
    }
}

/// `cyclictest.json`: every measured CPU of every scenario as one rt-tests thread, in order
/// (`per_cpu[].rt_tests_thread` in report.json says which is which).
fn rt_tests_json(engines: &[RunReport], cmdline: &str, return_code: i32) -> Result<Vec<u8>> {
    let mut combined = match engines.first() {
        Some(first) => first.clone(),
        None => empty_engine_report(),
    };
    if let Some(last) = engines.last() {
        combined.end = last.end.clone();
    }
    combined.cpus = engines
        .iter()
        .flat_map(|e| e.cpus.iter().cloned())
        .enumerate()
        .map(|(i, mut c)| {
            c.thread = i;
            c
        })
        .collect();
    let opts = CompatOptions {
        cmdline: cmdline.to_owned(),
        nsecs: false,
        histogram: true,
        return_code,
    };
    let mut buf = Vec::new();
    cyclictest::write_rt_tests_json(&combined, &opts, &mut buf)
        .context("cannot render cyclictest.json")?;
    Ok(buf)
}

/// Writes every report file into the staging directory.
fn write_files(
    staging: &Staging,
    report: &Report,
    engines: &[RunReport],
    cmdline: &str,
) -> Result<()> {
    staging.write("report.json", report.to_json().as_bytes())?;
    let junit = render::junit::render(report).context("cannot render junit.xml")?;
    staging.write("junit.xml", junit.as_bytes())?;
    staging.write("histogram.svg", render::svg::render(report)?.as_bytes())?;
    staging.write("summary.md", render::markdown::render(report).as_bytes())?;
    staging.write(
        "cyclictest.json",
        &rt_tests_json(engines, cmdline, i32::from(report.verdict.exit_code()))?,
    )?;
    Ok(())
}

/// Runs everything; returns the exit code. Never panics on a broken system: every failure
/// becomes an ERROR entry with what to do.
pub fn run(args: &RunArgs, term: &StopToken) -> u8 {
    let started = SystemTime::now();
    let store = match Store::open(&args.output_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rros-validate: error: {e:#}");
            println!("{}", rros_contract::VerdictLine::no_run(Verdict::Error));
            return Verdict::Error.exit_code();
        }
    };
    let mut warnings: Vec<String> = Vec::new();
    for stale in store.clean_stale() {
        warnings.push(format!(
            "removed {stale}, left behind by an interrupted run"
        ));
    }

    let mut errors = Vec::new();
    let loaded = rros_board::load_installed_board(&args.profile);
    let board = match loaded {
        Ok((b, profile_warnings)) => {
            warnings.extend(profile_warnings.iter().map(|w| format!("profile: {w}")));
            Some(b)
        }
        Err(e) => {
            let hint = match &e {
                rros_board::LoadError::Read { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    " Install the board's profile there (the image puts it at /etc/rros/board.toml) or pass --profile FILE."
                }
                rros_board::LoadError::Read { .. } | rros_board::LoadError::Untrusted { .. } => "",
                _ => {
                    " Fix the profile (check it on the host with `rros board check`) or pass another with --profile FILE."
                }
            };
            errors.push(ErrorEntry {
                scope: "profile".into(),
                message: format!("{e}.{hint}"),
            });
            None
        }
    };
    let board_name = match &board {
        Some(b) => b.name.clone(),
        None => args
            .profile
            .file_stem()
            .map(|s| util::safe_name(&s.to_string_lossy()))
            .unwrap_or_else(|| "unknown".into()),
    };
    let staging = match store.stage(&format!("{}-{board_name}", util::utc_compact(started))) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rros-validate: error: {e:#}");
            println!("{}", rros_contract::VerdictLine::no_run(Verdict::Error));
            return Verdict::Error.exit_code();
        }
    };
    let mut report = Report {
        schema: SCHEMA.into(),
        run_id: staging.run_id().to_owned(),
        verdict: Verdict::Error,
        summary: String::new(),
        interrupted: false,
        started_at: util::utc_rfc3339(started),
        finished_at: String::new(),
        tool: Tool {
            name: "rros-validate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        host: read_host(),
        profile: ProfileRef {
            path: args.profile.display().to_string(),
        },
        board: board.as_ref().map(board_info),
        options: RunOptions {
            duration_override_s: args.duration.map(|d| d.as_secs_f64()),
            scenarios: args.scenarios.clone(),
            backend: format!("{:?}", args.backend).to_lowercase(),
            audit_only: args.audit_only,
            evt_probability: args.evt_probability,
        },
        audit: AuditReport::failed("not run: the profile could not be loaded".into()),
        scenarios: Vec::new(),
        errors,
        warnings,
    };
    let mut engines: Vec<RunReport> = Vec::new();

    if let Some(board) = &board {
        if !affinity::pin(&measure::cpus_of(&board.housekeeping)) {
            report.warnings.push(format!(
                "could not pin rros-validate to the housekeeping CPUs {}: its own work may disturb the measured CPUs",
                board.housekeeping
            ));
        }
        note(
            args.quiet,
            &format!(
                "board {} ({}), profile {}",
                board.name,
                board.flavour,
                args.profile.display()
            ),
        );
        // Which scenarios.
        let (selected, unknown) = crate::plan::select(board, &args.scenarios, &args.profile);
        for message in unknown {
            report.errors.push(ErrorEntry {
                scope: "options".into(),
                message,
            });
        }
        // The audit (also when it fails: people want the numbers).
        note(args.quiet, "auditing the isolation");
        let (audit_report, audit) = audit::run_audit(board, &args.sysroot);
        if let Some(e) = &audit_report.error {
            report.errors.push(ErrorEntry {
                scope: "audit".into(),
                message: e.clone(),
            });
        }
        report.audit = audit_report;
        let backend = resolve_backend(args.backend, board, audit.as_ref());
        let stubs: Vec<(ScenarioReport, &BoardScenario, Duration)> = selected
            .iter()
            .map(|s| {
                let d = args.duration.unwrap_or(s.duration);
                (scenario_stub(board, s, d, backend), *s, d)
            })
            .collect();

        // An early hint only: a tool named plainly in a load but not on PATH. It cannot change
        // the verdict; the load is proven by the work it does (loadwork).
        for (_, s, _) in &stubs {
            for m in s
                .load
                .as_deref()
                .map(load::missing_tools)
                .unwrap_or_default()
            {
                let hint = format!(
                    "scenario {}: load tool {m}; if the load cannot run, the scenario is ERROR",
                    s.name
                );
                note(args.quiet, &format!("warning: {hint}"));
                report.warnings.push(hint);
            }
        }

        let mut stop_reason: Option<String> = if args.audit_only {
            None
        } else if report.errors.iter().any(|e| e.scope == "options") {
            Some("the options name an unknown scenario".into())
        } else {
            None
        };
        if !args.audit_only {
            let mut first_thread = 0;
            for (stub, s, d) in stubs {
                if let Some(why) = &stop_reason {
                    report.scenarios.push(not_run(stub, why));
                    continue;
                }
                // A duration too short for the scenario's minimum of samples is refused before
                // anything runs: its result could only be "measured too little".
                let periods = rros_board::periods_in(d, s.interval_us);
                if periods < u128::from(s.min_samples) {
                    report.scenarios.push(not_run(
                        stub,
                        &format!(
                            "measured too little: {} holds {periods} period(s) of {} µs, fewer than the {} samples the scenario needs (min_samples); use --duration {} or longer",
                            humantime::format_duration(d),
                            s.interval_us,
                            s.min_samples,
                            humantime::format_duration(rros_board::shortest_duration(
                                s.min_samples,
                                s.interval_us
                            ))
                        ),
                    ));
                    continue;
                }
                if term.is_stopped() {
                    report.interrupted = true;
                    report
                        .scenarios
                        .push(not_run(stub, "the run was interrupted by a signal"));
                    continue;
                }
                note(
                    args.quiet,
                    &format!(
                        "scenario {}: measuring {} on CPU(s) {} ({}), load: {}",
                        s.name,
                        humantime::format_duration(d),
                        board.measured_cpus(),
                        backend.name(),
                        s.load.as_deref().unwrap_or("none")
                    ),
                );
                let m = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    measure_scenario(board, s, d, backend, &staging, args, term, first_thread)
                }))
                .unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Measured {
                        report: not_run(
                            stub.clone(),
                            &format!("internal error (a bug in rros-validate): {what}"),
                        ),
                        engine: None,
                        fatal: Some("internal error".into()),
                        interrupted: false,
                    }
                });
                if let Some(f) = &m.fatal {
                    report.errors.push(ErrorEntry {
                        scope: format!("scenario:{}", s.name),
                        message: f.clone(),
                    });
                    stop_reason = Some(format!("an earlier scenario could not be measured ({f})"));
                }
                report.interrupted |= m.interrupted;
                if let Some(e) = m.engine {
                    first_thread += e.cpus.len();
                    engines.push(e);
                }
                report.scenarios.push(m.report);
            }
        }
    }

    report.finished_at = util::utc_rfc3339(SystemTime::now());
    report.decide();
    finish(args, &store, staging, report, &engines)
}

/// Writes the run directory, moves `latest`, prunes, exports, prints; returns the exit code.
fn finish(
    args: &RunArgs,
    store: &Store,
    staging: Staging,
    mut report: Report,
    engines: &[RunReport],
) -> u8 {
    let final_dir = staging.final_path();
    let dir_text = final_dir.display().to_string();
    let written =
        write_files(&staging, &report, engines, &args.cmdline).and_then(|_| staging.commit());
    if let Err(e) = written {
        eprintln!("rros-validate: error: cannot write the report: {e:#}");
        report.verdict = Verdict::Error;
        println!("{}", report.verdict_line("-"));
        return Verdict::Error.exit_code();
    }
    // An interrupted run keeps its directory, but `latest` stays on the last complete run.
    if !report.interrupted {
        if let Err(e) = store.swap_latest(&report.run_id) {
            eprintln!("rros-validate: warning: {e:#}");
        }
        match store.prune(args.keep) {
            Ok(removed) if !removed.is_empty() => note(
                args.quiet,
                &format!(
                    "pruned {} old run(s): {}",
                    removed.len(),
                    removed.join(", ")
                ),
            ),
            Ok(_) => {}
            Err(e) => eprintln!("rros-validate: warning: cannot prune old runs: {e:#}"),
        }
    }
    if let Some(path) = &args.prometheus {
        let text = render::prom::render(&report, util::unix_seconds(SystemTime::now()));
        if let Err(e) = store::write_atomic(path, text.as_bytes()) {
            eprintln!("rros-validate: warning: cannot write the Prometheus file: {e:#}");
        }
    }
    if !args.quiet {
        print!("{}", render::text::render(&report, &dir_text));
    }
    println!("{}", report.verdict_line(&dir_text));
    report.verdict.exit_code()
}

/// Default output directory.
pub const DEFAULT_OUTPUT: &str = "/var/lib/rros-validate";

/// What `rros-validate report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Junit,
    Markdown,
    Lava,
}

/// `rros-validate report --from-output FILE`: the run named by the last verdict line in FILE.
pub fn cmd_report_from_output(file: &Path, format: ReportFormat) -> Result<u8> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let line = rros_contract::VerdictLine::find_last(&text).with_context(|| {
        format!(
            "{} has no verdict line (`rros-validate: verdict=... run=... dir=...`): the run did not finish",
            file.display()
        )
    })?;
    match line.dir {
        Some(dir) => cmd_report(Path::new("."), Some(&dir), format),
        None => anyhow::bail!(
            "the run in {} wrote no report (verdict {}, run=- dir=-): see its output for why",
            file.display(),
            line.verdict
        ),
    }
}

/// `rros-validate report`: prints a run. `run` may also name a report.json file (a copy taken
/// off the board, a golden report). Exit 0 when printed; 2 when the report cannot be read.
pub fn cmd_report(dir: &Path, run: Option<&str>, format: ReportFormat) -> Result<u8> {
    let (run_dir, path) = match run.map(Path::new) {
        Some(file) if file.is_file() => (
            file.parent().unwrap_or(Path::new(".")).to_owned(),
            file.to_owned(),
        ),
        _ => {
            let run_dir = store::resolve_run(dir, run)?;
            let path = run_dir.join("report.json");
            (run_dir, path)
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let report = Report::from_json(&text, &path.display().to_string())?;
    let out = match format {
        ReportFormat::Json => text,
        ReportFormat::Junit => render::junit::render(&report).context("cannot render JUnit")?,
        ReportFormat::Markdown => render::markdown::render(&report),
        ReportFormat::Lava => rros_contract::render::lava::render(&report),
        ReportFormat::Text => {
            let shown = run_dir.canonicalize().unwrap_or(run_dir);
            render::text::render(&report, &shown.display().to_string())
        }
    };
    print!("{out}");
    Ok(0)
}
