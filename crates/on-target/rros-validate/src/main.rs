//! `rros-validate`: the on-target latency validation service of meta-rros.
//!
//! `audit` checks the live CPU isolation against the board profile, `tune` applies its
//! runtime part, `run` audits, measures every scenario under its load and writes the reports
//! with a PASS / FAIL / ERROR / INCONCLUSIVE verdict (exit 0 / 1 / 2 / 3), `report` prints a
//! run, `analyze` runs the analysis of why again on a stored run. See
//! `docs/validation.md`.

mod audit;
mod compare;
mod load;
mod loadwork;
mod measure;
mod plan;
mod render;
use rros_contract::report;
mod run;
mod settle;
mod show;
mod stats;
mod store;
mod util;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const DEFAULT_PROFILE: &str = "/etc/rros/board.toml";

#[derive(Parser)]
#[command(
    name = "rros-validate",
    version,
    about = "Prove on the board that it meets its latency budget: audit, tune, run, report",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ProfileArg {
    /// The board profile.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PROFILE, env = "RROS_PROFILE")]
    profile: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Audit the live CPU isolation against the profile (exit 0 clean, 1 a finding breaks the
    /// profile, 2 cannot read).
    Audit {
        #[command(flatten)]
        profile: ProfileArg,
        /// Root of the /proc and /sys to audit (a captured tree, for tests and bug reports).
        #[arg(long, value_name = "DIR", default_value = "/")]
        sysroot: PathBuf,
        /// Print the audit as JSON.
        #[arg(long)]
        json: bool,
        /// Print the files the audit reads (what scripts/capture-sysroot copies) and exit.
        #[arg(long, conflicts_with = "json")]
        list_files: bool,
    },
    /// Apply the runtime tuning (governor, IRQ affinity, workqueue cpumask, fair server): the
    /// boot service rros-tune.service (exit 0, or 2 if anything failed).
    Tune {
        #[command(flatten)]
        profile: ProfileArg,
        #[arg(long, value_name = "DIR", default_value = "/")]
        sysroot: PathBuf,
        /// Show what would be written; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Audit, measure every scenario under its load, write the reports (exit 0 PASS, 1 FAIL,
    /// 2 ERROR, 3 INCONCLUSIVE: within budget, too few samples to prove the claim).
    Run(RunCli),
    /// Print a run (default: the newest) in one of the contract's renderings.
    Report {
        /// A run id, `latest`, a run directory, or a report.json file.
        run: Option<String>,
        #[arg(long, value_name = "DIR", default_value = run::DEFAULT_OUTPUT)]
        output_dir: PathBuf,
        /// What to print: the terminal view, report.json as it is, JUnit XML, Markdown, LAVA
        /// result lines (`lava-test-case ...`, run by rros-lava-report), or the verdict alone
        /// (`verdict`: PASS, FAIL or ERROR, for scripts).
        #[arg(long, value_enum, default_value_t = show::ReportFormat::Text)]
        format: show::ReportFormat,
        /// Same as --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// The run whose verdict line is the last in FILE (a saved `rros-validate run`
        /// output), read by the contract's verdict-line parser: no consumer parses it itself.
        #[arg(long, value_name = "FILE", conflicts_with = "run")]
        from_output: Option<PathBuf>,
    },
    /// Run the analysis of why (issue #16) again on a stored run's evidence and print every
    /// cause; --write puts it in the run's report.json, summary.md and junit.xml (exit 0, or
    /// 2 if the run or its evidence cannot be read).
    Analyze {
        /// A run id, `latest`, a run directory, or a report.json file (default: the newest).
        run: Option<String>,
        #[arg(long, value_name = "DIR", default_value = run::DEFAULT_OUTPUT)]
        output_dir: PathBuf,
        /// Print the analyses as JSON.
        #[arg(long)]
        json: bool,
        /// Replace the analysis in report.json (and summary.md, junit.xml) with this one.
        #[arg(long)]
        write: bool,
    },
    /// Compare two runs per scenario (p50, p99, p99.9 with distribution-free intervals, and
    /// max): REGRESSED / UNCHANGED / IMPROVED (exit 1 if any scenario REGRESSED, else 0;
    /// 2 if a run cannot be read or the runs are not like with like).
    Compare {
        /// The reference run: a run id, `latest`, a run directory, or a report.json file.
        base: String,
        /// The run to judge against it (same forms).
        new: String,
        #[arg(long, value_name = "DIR", default_value = run::DEFAULT_OUTPUT)]
        output_dir: PathBuf,
        /// Compare even when board, machine, backend, interval or CPUs differ (warns).
        #[arg(long)]
        allow_mismatch: bool,
        /// Shifts smaller than this percentage of BASE's bound are no word, even when the
        /// intervals are apart (for boards whose environment moves between runs, such as an
        /// emulator on a shared host). Default 0: the intervals alone decide.
        #[arg(long, value_name = "PCT", default_value = "0", value_parser = rros_contract::compare::parse_noise_threshold)]
        noise_threshold: f64,
    },
    /// Wait until the board is quiet (every CPU under --busy-below busy for --quiet-for in a
    /// row), at most --max: the boot-time unit's ExecStartPre. Prints one line saying how it
    /// ended; always exit 0 (a board still busy at --max is measured anyway).
    Settle {
        /// The longest wait: seconds (`30`) or a duration (`45s`, `2m`).
        #[arg(long, value_name = "D", default_value = "30", value_parser = settle_duration)]
        max: Duration,
        /// How long in a row every CPU must be quiet.
        #[arg(long, value_name = "D", default_value = "3s", value_parser = settle_duration)]
        quiet_for: Duration,
        /// A CPU is quiet below this busy share, in percent of its time (iowait counts as
        /// busy).
        #[arg(long, value_name = "PCT", default_value_t = 20.0, value_parser = percent)]
        busy_below: f64,
        /// Root of the /proc to read (for tests).
        #[arg(long, value_name = "DIR", default_value = "/")]
        sysroot: PathBuf,
    },
    /// Show what `run` with these options would measure, and the timeout a consumer should
    /// allow it (exit 2 if the profile or a scenario is wrong).
    Plan {
        #[command(flatten)]
        plan: PlanCli,
        /// Print the plan as JSON (schema rros-validate-plan/1).
        #[arg(long)]
        json: bool,
    },
}

/// The options that shape a run's plan: `run` and `plan` take the same.
#[derive(Args)]
struct PlanCli {
    #[command(flatten)]
    profile: ProfileArg,
    /// Measure each scenario this long instead of the profile's duration (e.g. 5s, 10m, 24h).
    #[arg(long, value_parser = positive_duration)]
    duration: Option<Duration>,
    /// Run only this scenario (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Measure each scenario only until its claim is proven (its samples, all measured CPUs
    /// pooled, reach the claim's samples_needed without an exceedance: PASS) or its budget is
    /// exceeded (FAIL at once); its duration, or --duration, is the cap (INCONCLUSIVE if
    /// still unproven then).
    #[arg(long)]
    until_proven: bool,
    /// Only audit; measure nothing.
    #[arg(long)]
    audit_only: bool,
    /// How long each load runs before measuring starts (a scenario without a load starts at
    /// once).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Between SIGTERM and SIGKILL when a load is stopped.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    load_grace: Duration,
}

#[derive(Args)]
struct RunCli {
    #[command(flatten)]
    plan: PlanCli,
    /// Where the runs go: DIR/<run-id>/ and the symlink DIR/latest.
    #[arg(long, value_name = "DIR", default_value = run::DEFAULT_OUTPUT)]
    output_dir: PathBuf,
    /// How many runs to keep in DIR (the one `latest` points to is never removed).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    keep: u32,
    /// Timer backend: evl on a RROS/EVL kernel, posix otherwise (auto).
    #[arg(long, value_enum, default_value_t = run::BackendChoice::Auto)]
    backend: run::BackendChoice,
    /// Root of the /proc and /sys the audit reads.
    #[arg(long, value_name = "DIR", default_value = "/")]
    sysroot: PathBuf,
    /// Per-sample exceedance probability of the tail (extreme-value) estimate; 0 turns it off.
    #[arg(long, value_name = "P", default_value = "1e-9", value_parser = probability)]
    evt_probability: f64,
    /// Also write Prometheus metrics to FILE (for node_exporter's textfile collector).
    #[arg(long, value_name = "FILE")]
    prometheus: Option<PathBuf>,
    /// Print only the final verdict line (for the journal).
    #[arg(long, short)]
    quiet: bool,
    /// Capture no evidence for the analysis of why (issue #16): no `analysis` in report.json,
    /// no evidence-*.json. For benchmarks of the capture's cost; it never touches the
    /// samplers either way.
    #[arg(long)]
    no_cause_capture: bool,
}

/// A duration above zero and at most the engine's 365 days (`5s`, `10m`, `24h`).
fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        Ok(d) if d > cyclictest::MAX_DURATION => {
            Err("longer than the 365 days a run may last (use e.g. 5s, 10m, 24h)".into())
        }
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (use e.g. 5s, 10m, 24h; at most 365 days)")),
    }
}

/// `settle`'s durations: plain seconds (what `RROS_VALIDATE_SETTLE=30` in the unit gives),
/// or a duration with its unit; at most an hour.
fn settle_duration(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("{e} (use seconds, e.g. 30, or a duration, e.g. 45s, 2m)"))?,
    };
    if d > Duration::from_secs(3600) {
        return Err("at most an hour (3600)".into());
    }
    Ok(d)
}

/// A percentage from 0 to 100.
fn percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err("must be a percentage from 0 to 100, e.g. 20".into()),
    }
}

/// A per-sample probability in [0, 1).
fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) => Ok(p),
        _ => Err("must be a probability from 0 (no estimate) to below 1, e.g. 1e-9".into()),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(load::SUPERVISOR_ARG) {
        return ExitCode::from(load::supervise_main(&argv[2..]));
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit {
            list_files: true, ..
        } => {
            print!("{}", rros_isolation::audit_file_list());
            Ok(0)
        }
        Command::Audit {
            profile,
            sysroot,
            json,
            list_files: false,
        } => with_board(&profile, |b| audit::cmd_audit(b, &sysroot, json)),
        Command::Tune {
            profile,
            sysroot,
            dry_run,
        } => with_board(&profile, |b| audit::cmd_tune(b, &sysroot, dry_run)),
        Command::Report {
            run,
            output_dir,
            format,
            json,
            from_output,
        } => {
            let format = if json {
                show::ReportFormat::Json
            } else {
                format
            };
            match from_output {
                Some(file) => show::cmd_report_from_output(&file, format),
                None => show::cmd_report(&output_dir, run.as_deref(), format),
            }
        }
        Command::Analyze {
            run,
            output_dir,
            json,
            write,
        } => show::cmd_analyze(&output_dir, run.as_deref(), json, write),
        Command::Compare {
            base,
            new,
            output_dir,
            allow_mismatch,
            noise_threshold,
        } => compare::cmd_compare(&output_dir, &base, &new, allow_mismatch, noise_threshold),
        Command::Settle {
            max,
            quiet_for,
            busy_below,
            sysroot,
        } => Ok(settle::cmd_settle(
            settle::Rule {
                busy_below: busy_below / 100.0,
                quiet_for,
                max,
                window: Duration::from_secs(1),
            },
            &sysroot,
        )),
        Command::Plan { plan: p, json } => plan::cmd_plan(&p.plan_args(), json),
        Command::Run(r) => Ok(run::run(&r.run_args(&argv), &stop_on_signals())),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("rros-validate: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// SIGTERM/SIGINT/SIGHUP set the engine's stop token: the measurement ends, the load is
/// reaped and an interrupted report is written. A second signal while the first is handled
/// ends the process at once (the loads still die: their supervisor sees its lifeline close).
fn stop_on_signals() -> cyclictest::StopToken {
    let stop = cyclictest::StopToken::new();
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 2, Arc::clone(stop.flag()));
        let _ = signal_hook::flag::register(sig, Arc::clone(stop.flag()));
    }
    stop
}

impl PlanCli {
    fn plan_args(&self) -> plan::PlanArgs<'_> {
        plan::PlanArgs {
            profile: &self.profile.profile,
            duration: self.duration,
            scenarios: &self.scenarios,
            until_proven: self.until_proven,
            audit_only: self.audit_only,
            warmup: self.warmup,
            load_grace: self.load_grace,
        }
    }
}

impl RunCli {
    /// What `run` is asked to do; `argv` is recorded in `cyclictest.json`.
    fn run_args(self, argv: &[String]) -> run::RunArgs {
        run::RunArgs {
            profile: self.plan.profile.profile,
            duration: self.plan.duration,
            scenarios: self.plan.scenarios,
            output_dir: self.output_dir,
            keep: self.keep as usize,
            backend: self.backend,
            audit_only: self.plan.audit_only,
            sysroot: self.sysroot,
            evt_probability: (self.evt_probability > 0.0).then_some(self.evt_probability),
            prometheus: self.prometheus,
            warmup: self.plan.warmup,
            load_grace: self.plan.load_grace,
            quiet: self.quiet,
            cause_capture: !self.no_cause_capture,
            cmdline: argv.join(" "),
            until_proven: self.plan.until_proven,
        }
    }
}

/// Loads the profile for `audit`/`tune`; a missing or invalid profile is exit 2 with the fix.
fn with_board(
    p: &ProfileArg,
    f: impl FnOnce(&rros_board::Board) -> anyhow::Result<u8>,
) -> anyhow::Result<u8> {
    match rros_board::load_installed_board(&p.profile) {
        Ok((board, _)) => f(&board),
        Err(e) => {
            eprintln!("rros-validate: error: {e}");
            eprintln!(
                "  pass the board profile with --profile FILE (the image installs it as {DEFAULT_PROFILE})"
            );
            Ok(2)
        }
    }
}
