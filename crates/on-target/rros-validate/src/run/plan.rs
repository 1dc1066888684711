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
//!
//! Every step measures all of the board's measured CPUs at once (`measured_cpus()`: the OOB
//! CPUs of a dual kernel, else the isolated ones), one sampler per CPU, and the claim is
//! judged on their samples pooled. With `--until-proven` a step also carries the engine's
//! [`Until`]: its claim's `samples_needed` pooled (each CPU with at least `min_samples`), and
//! the budget's `max_us` as the latency that ends it early (a FAIL, once every CPU has its
//! `min_samples`); its duration is then the cap.

use super::cause::NotRun;
use super::{BackendChoice, RunArgs};
use crate::{load, util};
use cyclictest::Until;
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
    /// Early warnings that cannot change a verdict: load tools named plainly but not on PATH
    /// (the load's work is the proof), `--until-proven` on a scenario without a claim.
    pub hints: Vec<String>,
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
    /// The profile's, or `--duration`; with `--until-proven`, the cap.
    pub duration: Duration,
    /// `--until-proven` on a scenario with a claim: when the engine ends it early.
    pub until: Option<Until>,
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
        let (steps, unknown_scenarios, hints) = match &board {
            Ok(b) => plan_steps(b, args),
            Err(_) => Default::default(),
        };
        RunPlan {
            profile: args.profile.clone(),
            board,
            profile_warnings,
            unknown_scenarios,
            steps,
            hints,
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

/// The selected scenarios as steps, the unknown names, and the early hints.
fn plan_steps(board: &Board, args: &RunArgs) -> (Vec<Step>, Vec<String>, Vec<String>) {
    let asked = StepOptions {
        duration: args.duration,
        until_proven: args.until_proven,
    };
    let (steps, unknown) = steps_of(board, &args.scenarios, asked, &args.profile);
    let mut hints: Vec<String> = steps.iter().flat_map(load_hints).collect();
    if args.until_proven {
        hints.extend(steps.iter().filter_map(until_hint));
    }
    (steps, unknown, hints)
}

/// The options that shape every step: `--duration` and `--until-proven`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepOptions {
    /// Overrides every scenario's duration (with `until_proven`: the cap).
    pub duration: Option<Duration>,
    pub until_proven: bool,
}

/// The steps `names` select (all when empty) with `asked` applied, and one message per name
/// the profile lacks. `rros-validate plan` shows the same steps.
pub fn steps_of(
    board: &Board,
    names: &[String],
    asked: StepOptions,
    profile: &Path,
) -> (Vec<Step>, Vec<String>) {
    let (selected, unknown) = crate::plan::select(board, names, profile);
    let steps = selected
        .into_iter()
        .map(|s| {
            let mut step = plan_step(board, s, asked.duration.unwrap_or(s.duration));
            if asked.until_proven {
                step.until = until_of(s);
            }
            step
        })
        .collect();
    (steps, unknown)
}

/// `--until-proven` in the engine's terms: the claim's samples pooled over the measured CPUs,
/// each with at least `min_samples` (fewer is ERROR however many the others took), and a
/// latency above the budget's `max_us` ends it as soon as every CPU has its `min_samples`
/// (a FAIL that counts, not a measurement too short to). `None` without a claim: nothing to
/// prove, the whole duration is measured.
pub fn until_of(s: &BoardScenario) -> Option<Until> {
    let claim = s.claim?;
    Some(Until {
        samples: claim.samples_needed(),
        per_cpu: s.min_samples,
        above_ns: Some(i64::from(s.threshold.max_us) * 1000),
    })
}

/// `--until-proven` on a scenario without a claim measures its whole duration: said early.
fn until_hint(step: &Step) -> Option<String> {
    step.until.is_none().then(|| {
        format!(
            "scenario {}: --until-proven, but the profile states no claim for it: it is measured for its whole {}",
            step.scenario.name,
            humantime::format_duration(step.duration)
        )
    })
}

impl Step {
    /// The step as the contract's plan states it (`plan --json`).
    pub fn planned(&self) -> PlannedScenario {
        PlannedScenario {
            name: self.scenario.name.clone(),
            duration_s: self.duration.as_secs_f64(),
            load: self.load.is_some(),
            until_samples: self.until.map(|u| u.samples),
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
        until: None,
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
            until_proven: false,
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

    /// #17: every scenario measures all of the board's measured CPUs at once, one sampler
    /// each, and the claim counts their samples pooled: `--until-proven`'s target is the
    /// claim's `samples_needed` in total, each CPU with its `min_samples`.
    #[test]
    fn every_measured_cpu_is_sampled_and_the_claim_pools_them() {
        use crate::report::{CpuReport, Histogram, Verdict};
        let nuc = shipped("nuc");
        let mut a = args(nuc, &[], None);
        a.until_proven = true;
        let plan = RunPlan::build(&a);
        let board = plan.board.as_ref().expect("the shipped profile loads");
        assert_eq!(board.measured_cpus().to_string(), "2-3", "the oob CPUs");
        for step in &plan.steps {
            assert_eq!(&step.cpus, board.measured_cpus());
            let cfg = crate::measure::run_config(
                board,
                &step.scenario,
                step.duration,
                cyclictest::BackendKind::Posix,
            );
            assert_eq!(cfg.cpus, [2, 3], "one sampler per measured CPU");
            let until = step.until.expect("a claim to prove");
            // 2e-5 at 95 %: 149 786 samples, both CPUs together.
            assert_eq!(until.samples, 149_786);
            assert_eq!(until.per_cpu, step.budget.min_samples);
            assert_eq!(until.above_ns, Some(i64::from(step.budget.max_us) * 1000));
        }
        // Judged pooled: two CPUs of 74 893 clean samples prove what one CPU would need
        // 149 786 for; one sample fewer in all is INCONCLUSIVE.
        let judged = |pooled: u64| {
            let step = &plan.steps[0];
            let mut sr = super::super::scenario::stub(board, step, cyclictest::BackendKind::Posix);
            sr.measured = true;
            sr.samples = pooled;
            sr.max_us = Some(10.0);
            sr.percentiles.p99_us = Some(5.0);
            sr.per_cpu = [2, 3]
                .iter()
                .map(|&cpu| CpuReport {
                    cpu,
                    rt_tests_thread: cpu - 2,
                    samples: pooled / 2,
                    overruns: 0,
                    min_us: Some(1.0),
                    avg_us: Some(2.0),
                    max_us: Some(10.0),
                    percentiles: sr.percentiles.clone(),
                    histogram: Histogram {
                        bucket_width_us: 1.0,
                        range_us: 80.0,
                        overflow: 0,
                        bins: vec![],
                    },
                })
                .collect();
            sr.judge();
            sr.verdict
        };
        assert_eq!(judged(149_786), Verdict::Pass);
        assert_eq!(judged(149_785), Verdict::Inconclusive);
    }

    /// `--until-proven` on a profile without a claim: nothing to prove, so every scenario
    /// runs its whole duration, and the run warns before it starts; without the option no
    /// step carries a target.
    #[test]
    fn until_proven_without_a_claim_measures_the_whole_duration_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("qemux86-64.toml");
        let text = std::fs::read_to_string(shipped("qemux86-64")).unwrap();
        let claimless: String = text
            .lines()
            .filter(|l| !l.starts_with("claim ="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&profile, claimless).unwrap();
        let mut a = args(profile, &["idle"], None);
        a.until_proven = true;
        let plan = RunPlan::build(&a);
        assert!(plan.board.is_ok(), "{:?}", plan.board.err());
        assert!(plan.steps[0].until.is_none());
        assert_eq!(plan.hints.len(), 1, "{:?}", plan.hints);
        assert!(
            plan.hints[0]
                .contains("scenario idle: --until-proven, but the profile states no claim"),
            "{}",
            plan.hints[0]
        );
        let plain = RunPlan::build(&args(shipped("qemux86-64"), &["idle"], None));
        assert!(plain.steps.iter().all(|s| s.until.is_none()));
        assert!(plain.hints.is_empty(), "{:?}", plain.hints);
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
