//! The plan of a run, built and checked before anything is measured.
//!
//! Everything a run will do is decided here from the options and the profile: the board,
//! the scenarios with their durations, CPUs, loads and budgets, the backend choice, the
//! audit's sysroot and where the reports go. Whatever can be known to stop a scenario before
//! it starts (an unknown `--scenario`, a duration too short for `min_samples`) is a typed
//! [`NotRun`] in the plan, so the executor only carries it out.
//!
//! What a PASS needs (the contract's `Report::decide` judges it): the audit clean, no error,
//! and every step measured with at least its `min_samples` per CPU within its [`Budget`] (or
//! `audit_only`).

use super::cause::NotRun;
use super::{BackendChoice, RunArgs};
use crate::{load, util};
use rros_board::{Board, BoardScenario};
use rros_contract::plan::PlannedScenario;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A checked run, ready to execute.
pub struct RunPlan {
    /// The profile file, as given.
    pub profile: PathBuf,
    /// The board, or the message (with its fix) saying why the profile cannot be loaded;
    /// then nothing but the report is done.
    pub board: Result<Board, String>,
    /// The profile's own warnings, `profile: …`.
    pub profile_warnings: Vec<String>,
    /// One message per `--scenario` the profile lacks (the run then measures nothing).
    pub unknown_scenarios: Vec<String>,
    /// The scenarios, in the order they run.
    pub steps: Vec<Step>,
    /// Load tools named plainly but not on PATH: hints only (the load's work is the proof).
    pub load_hints: Vec<String>,
    pub audit_only: bool,
    /// `--duration`, overriding every scenario's.
    pub duration_override: Option<Duration>,
    /// `--scenario` as given (empty: all).
    pub scenario_names: Vec<String>,
    /// Root of the /proc and /sys the audit reads.
    pub sysroot: PathBuf,
    /// `auto` is resolved from the audited kernel when the run executes.
    pub backend: BackendChoice,
    pub warmup: Duration,
    pub load_grace: Duration,
    pub evt_probability: Option<f64>,
    pub output: OutputPlan,
    pub quiet: bool,
    /// Capture the evidence of why around each measurement (rros-cause).
    pub cause_capture: bool,
}

/// Where and how the reports are stored.
pub struct OutputPlan {
    pub dir: PathBuf,
    pub keep: usize,
    pub prometheus: Option<PathBuf>,
    /// The command line, recorded in `cyclictest.json`.
    pub cmdline: String,
}

/// One scenario as it will be measured.
pub struct Step {
    pub scenario: BoardScenario,
    /// The profile's, or `--duration`.
    pub duration: Duration,
    /// The CPUs measured: the OOB CPUs of a dual kernel, else the isolated ones.
    pub cpus: rros_board::CpuSet,
    pub load: Option<PlannedLoad>,
    pub budget: Budget,
    /// Known before the run starts: the step cannot be measured.
    pub refused: Option<NotRun>,
}

/// A scenario's load: its command, the housekeeping CPUs it is pinned to, its log.
pub struct PlannedLoad {
    pub command: String,
    pub cpus: Vec<u32>,
    /// The log's file name in the run directory.
    pub log_name: String,
}

/// What a step's numbers must meet to PASS.
pub struct Budget {
    pub max_us: u32,
    pub p99_us: Option<u32>,
    /// Fewest samples per measured CPU for the numbers to count at all.
    pub min_samples: u64,
}

impl RunPlan {
    /// The plan of a run with `args`: loads the profile and checks every scenario.
    pub fn build(args: &RunArgs) -> RunPlan {
        let (board, profile_warnings) = load_profile(args);
        let (steps, unknown_scenarios, load_hints) = match &board {
            Ok(b) => plan_steps(b, args),
            Err(_) => Default::default(),
        };
        RunPlan {
            profile: args.profile.clone(),
            board,
            profile_warnings,
            unknown_scenarios,
            steps,
            load_hints,
            audit_only: args.audit_only,
            duration_override: args.duration,
            scenario_names: args.scenarios.clone(),
            sysroot: args.sysroot.clone(),
            backend: args.backend,
            warmup: args.warmup,
            load_grace: args.load_grace,
            evt_probability: args.evt_probability,
            output: OutputPlan {
                dir: args.output_dir.clone(),
                keep: args.keep,
                prometheus: args.prometheus.clone(),
                cmdline: args.cmdline.clone(),
            },
            quiet: args.quiet,
            cause_capture: args.cause_capture,
        }
    }

    /// `YYYYmmddTHHMMSSZ-<board>`: the board's name, or the profile's file name when it
    /// could not be loaded.
    pub fn run_id(&self, started: SystemTime) -> String {
        let board_name = match &self.board {
            Ok(b) => b.name.clone(),
            Err(_) => self
                .profile
                .file_stem()
                .map(|s| util::safe_name(&s.to_string_lossy()))
                .unwrap_or_else(|| "unknown".into()),
        };
        format!("{}-{board_name}", util::utc_compact(started))
    }

    /// Why nothing may be measured at all, if something says so.
    pub fn refusal(&self) -> Option<NotRun> {
        (!self.unknown_scenarios.is_empty()).then_some(NotRun::UnknownScenario)
    }
}

/// The board of `--profile`, with its warnings; or the error with what to do.
fn load_profile(args: &RunArgs) -> (Result<Board, String>, Vec<String>) {
    match rros_board::load_installed_board(&args.profile) {
        Ok((b, warnings)) => (
            Ok(b),
            warnings.iter().map(|w| format!("profile: {w}")).collect(),
        ),
        Err(e) => (Err(format!("{e}.{}", profile_fix(&e))), Vec::new()),
    }
}

/// The fix for a profile that cannot be loaded (a sentence with a leading blank, or none).
fn profile_fix(e: &rros_board::LoadError) -> &'static str {
    match e {
        rros_board::LoadError::Read { source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            " Install the board's profile there (the image puts it at /etc/rros/board.toml) or pass --profile FILE."
        }
        rros_board::LoadError::Read { .. } | rros_board::LoadError::Untrusted { .. } => "",
        _ => {
            " Fix the profile (check it on the host with `rros board check`) or pass another with --profile FILE."
        }
    }
}

/// The selected scenarios as steps, the unknown names, and the load hints.
fn plan_steps(board: &Board, args: &RunArgs) -> (Vec<Step>, Vec<String>, Vec<String>) {
    let (steps, unknown) = steps_of(board, &args.scenarios, args.duration, &args.profile);
    let hints = steps.iter().flat_map(load_hints).collect();
    (steps, unknown, hints)
}

/// The steps `names` select (all when empty) with `duration` overriding the profile's, and
/// one message per name the profile lacks. `rros-validate plan` shows the same steps.
pub fn steps_of(
    board: &Board,
    names: &[String],
    duration: Option<Duration>,
    profile: &Path,
) -> (Vec<Step>, Vec<String>) {
    let (selected, unknown) = crate::plan::select(board, names, profile);
    let steps = selected
        .into_iter()
        .map(|s| plan_step(board, s, duration.unwrap_or(s.duration)))
        .collect();
    (steps, unknown)
}

impl Step {
    /// The step as the contract's plan states it (`plan --json`).
    pub fn planned(&self) -> PlannedScenario {
        PlannedScenario {
            name: self.scenario.name.clone(),
            duration_s: self.duration.as_secs_f64(),
            load: self.load.is_some(),
        }
    }
}

fn plan_step(board: &Board, s: &BoardScenario, duration: Duration) -> Step {
    let periods = rros_board::periods_in(duration, s.interval_us);
    let refused = (periods < u128::from(s.min_samples)).then_some(NotRun::TooShort {
        duration,
        interval_us: s.interval_us,
        min_samples: s.min_samples,
        periods,
    });
    Step {
        scenario: s.clone(),
        duration,
        cpus: board.measured_cpus().clone(),
        load: s.load.as_ref().map(|command| PlannedLoad {
            command: command.clone(),
            cpus: board.housekeeping.iter().collect(),
            log_name: format!("load-{}.log", util::safe_name(&s.name)),
        }),
        budget: Budget {
            max_us: s.threshold.max_us,
            p99_us: s.threshold.p99_us,
            min_samples: s.min_samples,
        },
        refused,
    }
}

/// An early hint only: a tool named plainly in a load but not on PATH. It cannot change the
/// verdict; the load is proven by the work it does (loadwork).
fn load_hints(step: &Step) -> Vec<String> {
    let Some(l) = &step.load else {
        return Vec::new();
    };
    load::missing_tools(&l.command)
        .into_iter()
        .map(|m| {
            format!(
                "scenario {}: load tool {m}; if the load cannot run, the scenario is ERROR",
                step.scenario.name
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(profile: PathBuf, scenarios: &[&str], duration: Option<Duration>) -> RunArgs {
        RunArgs {
            profile,
            duration,
            scenarios: scenarios.iter().map(|s| s.to_string()).collect(),
            output_dir: "/nonexistent/out".into(),
            keep: 3,
            backend: BackendChoice::Auto,
            audit_only: false,
            sysroot: "/".into(),
            evt_probability: None,
            prometheus: None,
            warmup: Duration::from_secs(1),
            load_grace: Duration::from_secs(2),
            quiet: true,
            cause_capture: true,
            cmdline: "rros-validate run".into(),
        }
    }

    fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../../board/{name}.toml"))
    }

    #[test]
    fn a_plan_has_every_scenario_with_its_cpus_load_and_budget() {
        let plan = RunPlan::build(&args(shipped("qemux86-64"), &[], None));
        let board = plan.board.as_ref().expect("the shipped profile loads");
        assert!(plan.unknown_scenarios.is_empty() && plan.refusal().is_none());
        let names: Vec<&str> = plan
            .steps
            .iter()
            .map(|s| s.scenario.name.as_str())
            .collect();
        assert_eq!(names, ["idle", "hackbench"]);
        for step in &plan.steps {
            assert_eq!(step.duration, step.scenario.duration);
            assert_eq!(&step.cpus, board.measured_cpus());
            assert_eq!(step.budget.max_us, step.scenario.threshold.max_us);
            assert!(step.refused.is_none(), "{:?}", step.refused);
        }
        assert!(plan.steps[0].load.is_none());
        let load = plan.steps[1].load.as_ref().unwrap();
        assert_eq!(load.log_name, "load-hackbench.log");
        assert_eq!(load.cpus, board.housekeeping.iter().collect::<Vec<_>>());
        assert_eq!(plan.output.keep, 3);
        assert!(plan.run_id(SystemTime::UNIX_EPOCH).ends_with("-qemux86-64"));
    }

    /// Refusals are known before anything runs: an unknown name stops every step, a
    /// duration too short for min_samples refuses the step.
    #[test]
    fn refusals_are_planned() {
        let plan = RunPlan::build(&args(shipped("qemux86-64"), &["idle", "nope"], None));
        assert_eq!(plan.unknown_scenarios.len(), 1);
        assert!(plan.unknown_scenarios[0].contains("no scenario `nope`"));
        assert_eq!(plan.refusal(), Some(NotRun::UnknownScenario));
        assert_eq!(plan.steps.len(), 1, "the known one stays planned");

        let short = Duration::from_millis(500);
        let plan = RunPlan::build(&args(shipped("qemux86-64"), &["idle"], Some(short)));
        assert_eq!(plan.steps[0].duration, short);
        assert!(matches!(
            plan.steps[0].refused,
            Some(NotRun::TooShort { periods: 500, .. })
        ));
    }

    #[test]
    fn a_missing_profile_is_an_error_with_its_fix() {
        let plan = RunPlan::build(&args("/nonexistent/my-board.toml".into(), &[], None));
        let e = plan.board.as_ref().expect_err("no board");
        assert!(e.contains("pass --profile FILE"), "{e}");
        assert!(plan.steps.is_empty());
        assert!(plan.run_id(SystemTime::UNIX_EPOCH).ends_with("-my-board"));
    }
}
