//! `rros-validate run`: audit, measure every scenario under its load, judge, write the reports.
//!
//! A run is four stages, one module each, so that data flows one way and each stage can be
//! read (and tested) alone:
//!
//! 1. [`plan`]: the plan is built and checked before anything is measured: the profile, the
//!    scenarios with their durations, CPUs, loads and budgets, the backend choice, the output,
//!    and every reason known in advance why a scenario cannot be measured.
//! 2. [`execute`]: the plan is carried out step by step (pin, audit, backend, then each
//!    scenario, which [`scenario`] measures under its load, with [`evidence`] captured
//!    around it for the analysis of why). What stops a scenario is a typed
//!    [`cause::NotRun`], never a message recognised later.
//! 3. The contract judges: `Report::decide` (rros-contract) sets the verdict from the parts.
//! 4. [`output`]: the reports are rendered, stored atomically and the verdict line printed.
//!
//! Why: `run` used to be one 240-line function that decided, measured, rendered and stored,
//! with the data walking back into it after every step; a change to one concern had to be
//! threaded through all of them.

mod cause;
mod evidence;
mod execute;
mod key;
mod output;
mod plan;
mod scenario;

pub use plan::{StepOptions, steps_of};

use crate::report::{
    AuditReport, BoardCpus, BoardInfo, ErrorEntry, Host, ProfileRef, Report, RunOptions, SCHEMA,
    Tool, Verdict,
};
use crate::store::Store;
use crate::util;
use cyclictest::StopToken;
use plan::RunPlan;
use rros_board::Board;
use rros_contract::report::ErrorScope;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Keeps rros-validate's own work (audit, warm-up, reports) off the measured CPUs: the main
/// thread runs on the housekeeping CPUs (the engine's samplers pin themselves to theirs).
mod affinity {
    /// Pins the calling thread to `cpus`; false if the system refuses.
    pub fn pin(cpus: &[usize]) -> bool {
        cyclictest::set_affinity_current(cpus).is_ok()
    }
}

/// Default output directory.
pub const DEFAULT_OUTPUT: &str = "/var/lib/rros-validate";

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
    /// Capture evidence for the analysis (`--no-cause-capture` turns it off).
    pub cause_capture: bool,
    pub cmdline: String,
    /// `--until-proven`: each scenario ends once its claim is proven or its budget exceeded;
    /// its duration (or `--duration`) is the cap.
    pub until_proven: bool,
}

fn note(quiet: bool, msg: &str) {
    if !quiet {
        eprintln!("rros-validate: {msg}");
    }
}

/// Runs everything; returns the exit code. Never panics on a broken system: every failure
/// becomes an ERROR entry with what to do.
pub fn run(args: &RunArgs, term: &StopToken) -> u8 {
    let started = SystemTime::now();
    let plan = RunPlan::build(args);
    let store = match Store::open(&plan.output.dir) {
        Ok(s) => s,
        Err(e) => return no_report(&e),
    };
    let stale = store.clean_stale();
    let staging = match store.stage(&plan.run_id(started)) {
        Ok(s) => s,
        Err(e) => return no_report(&e),
    };
    let mut report = new_report(&plan, staging.run_id(), started, &stale);
    let engines = execute::execute(&plan, &staging, term, &mut report);
    report.finished_at = util::utc_rfc3339(SystemTime::now());
    report.decide();
    output::finish(&plan.output, plan.quiet, &store, staging, report, &engines)
}

/// A run that cannot even get a directory: ERROR, `run=- dir=-`.
fn no_report(e: &anyhow::Error) -> u8 {
    eprintln!("rros-validate: error: {e:#}");
    println!("{}", rros_contract::VerdictLine::no_run(Verdict::Error));
    Verdict::Error.exit_code()
}

/// The report before anything is executed: what the plan knows, ERROR until decided.
fn new_report(plan: &RunPlan, run_id: &str, started: SystemTime, stale: &[String]) -> Report {
    let mut warnings: Vec<String> = stale
        .iter()
        .map(|s| format!("removed {s}, left behind by an interrupted run"))
        .collect();
    warnings.extend(plan.profile_warnings.iter().cloned());
    let mut errors = Vec::new();
    if let Err(message) = &plan.board {
        errors.push(ErrorEntry::new(ErrorScope::Profile, message.clone()));
    }
    for message in &plan.unknown_scenarios {
        errors.push(ErrorEntry::new(ErrorScope::Options, message.clone()));
    }
    Report {
        schema: SCHEMA.into(),
        run_id: run_id.to_owned(),
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
            path: plan.profile.display().to_string(),
            sha256: key::profile_sha256(&plan.profile),
        },
        board: plan.board.as_ref().ok().map(board_info),
        options: run_options(plan),
        audit: AuditReport::failed("not run: the profile could not be loaded".into()),
        scenarios: Vec::new(),
        errors,
        warnings,
    }
}

/// The options as report.json records them.
fn run_options(plan: &RunPlan) -> RunOptions {
    RunOptions {
        duration_override_s: plan.duration_override.map(|d| d.as_secs_f64()),
        scenarios: plan.scenario_names.clone(),
        backend: format!("{:?}", plan.backend).to_lowercase(),
        audit_only: plan.audit_only,
        evt_probability: plan.evt_probability,
    }
}

fn read_host() -> Host {
    let si = cyclictest::SysInfo::read();
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
        core: read_core(),
        kernel_config_sha256: key::kernel_config_sha256(std::path::Path::new("/proc/config.gz")),
    }
}

/// The dual-kernel core beside Linux and the ABI it serves, from the one detection
/// (rros-rtcore); `None` for PREEMPT_RT, a plain kernel, or a detection that failed.
fn read_core() -> Option<rros_contract::report::CoreInfo> {
    let core = rros_rtcore::detect().ok()?.core;
    let abi = rros_rtcore::abi_in(core, std::path::Path::new("/"))?;
    Some(rros_contract::report::CoreInfo {
        name: core.as_str().to_owned(),
        abi: abi.level,
        sysfs: abi.sysfs,
    })
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
