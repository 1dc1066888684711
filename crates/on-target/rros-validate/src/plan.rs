//! `rros-validate plan`: what a `run` with the same options would measure, and how long a
//! consumer should wait for it (the contract's [`Plan`], one timeout formula for all).

use anyhow::{Result, bail};
use rros_board::{Board, BoardScenario};
use rros_contract::plan::{Plan, PlannedScenario};
use std::path::Path;
use std::time::Duration;

/// What `run` and `plan` share of their options.
pub struct PlanArgs<'a> {
    pub profile: &'a Path,
    pub duration: Option<Duration>,
    pub scenarios: &'a [String],
    pub until_proven: bool,
    pub audit_only: bool,
    pub warmup: Duration,
    pub load_grace: Duration,
}

/// The scenarios `names` select (all when empty), in the order given, and one message per
/// name the profile lacks. `run` records those as errors; `plan` refuses.
pub fn select<'b>(
    board: &'b Board,
    names: &[String],
    profile: &Path,
) -> (Vec<&'b BoardScenario>, Vec<String>) {
    if names.is_empty() {
        return (board.scenarios.iter().collect(), Vec::new());
    }
    let mut selected = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match board.scenario(name) {
            Some(s) => selected.push(s),
            None => unknown.push(format!(
                "no scenario `{name}` in {}; its scenarios are: {}",
                profile.display(),
                board
                    .scenarios
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    (selected, unknown)
}

/// The plan of a run of `board` with `args`; an unknown scenario name is an error, as it
/// is for `run`.
pub fn make(board: &Board, args: &PlanArgs) -> Result<Plan> {
    // The very steps `run` executes.
    let asked = crate::run::StepOptions {
        duration: args.duration,
        until_proven: args.until_proven,
    };
    let (steps, unknown) = crate::run::steps_of(board, args.scenarios, asked, args.profile);
    if let Some(first) = unknown.into_iter().next() {
        bail!(first);
    }
    let scenarios = steps.iter().map(|s| s.planned()).collect();
    let mut plan = Plan::new(
        board.name.clone(),
        args.profile.display().to_string(),
        scenarios,
        args.audit_only,
        args.warmup.as_secs_f64(),
        args.load_grace.as_secs_f64(),
    );
    plan.until_proven = args.until_proven;
    Ok(plan)
}

/// How long a scenario measures: its duration, or with `--until-proven` its target and cap.
fn scenario_length(s: &PlannedScenario, until_proven: bool) -> String {
    let d = humantime::format_duration(Duration::from_secs_f64(s.duration_s));
    match (until_proven, s.until_samples) {
        (true, Some(n)) => format!("until {n} samples prove its claim, at most {d}"),
        (true, None) => format!("{d} (no claim to prove: the whole duration)"),
        (false, _) => d.to_string(),
    }
}

/// `rros-validate plan [--json]`. Reads the profile without the ownership check (nothing is
/// run or written) and without the file-name rule, so it works on a host checkout
/// (`board/<name>.toml`) and on the board (`/etc/rros/board.toml`) alike.
pub fn cmd_plan(args: &PlanArgs, json: bool) -> Result<u8> {
    let (board, _) = match rros_board::load_board_to_read(args.profile) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("rros-validate: error: {e}");
            return Ok(2);
        }
    };
    let plan = match make(&board, args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rros-validate: error: {e:#}");
            return Ok(2);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(0);
    }
    println!("board {} ({})", plan.board, plan.profile);
    if plan.audit_only {
        println!("  audit only: no scenario is measured");
    }
    for s in &plan.scenarios {
        println!(
            "  {}: {}{}",
            s.name,
            scenario_length(s, plan.until_proven),
            if s.load { " under load" } else { "" }
        );
    }
    println!(
        "measuring {}, allow {} for the whole run",
        humantime::format_duration(Duration::from_secs_f64(plan.measure_s)),
        humantime::format_duration(Duration::from_secs(plan.timeout_s))
    );
    Ok(0)
}
