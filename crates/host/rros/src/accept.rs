//! `rros accept`: run `rros-validate` on one board or a fleet over SSH, bring the reports home,
//! write `junit.xml` + `summary.md` (+ `accept.json`); exit 0 PASS, 1 FAIL, 2 ERROR,
//! 3 INCONCLUSIVE. With `--baseline DIR` each board's run is compared with its previous one
//! (a REGRESSED scenario makes acceptance FAIL: exit 1); with `--history DIR` every run's
//! summary is appended to a history and its trend plotted.

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rros_accept::baseline::{self, BoardBaseline, Found};
use rros_accept::history;
use rros_accept::run::human;
use rros_accept::{Endpoint, Event, Options, Phase, Target, Verdict};
use rros_remote::process::Stream;
use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct AcceptArgs {
    /// The board: [user@]host[:port] (user root and port 22 unless given).
    #[arg(
        long,
        value_name = "[USER@]HOST[:PORT]",
        required_unless_present = "targets",
        conflicts_with = "targets"
    )]
    target: Option<String>,
    /// Many boards, accepted in parallel: one target per line, `#` comments, optional
    /// `name=`, `identity=`, `known_hosts=` (see docs/acceptance.md).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Private key to log in with (default: ssh's choice; per board in --targets).
    #[arg(long, value_name = "KEY")]
    identity: Option<PathBuf>,
    /// Name of the board given with --target: its folder under --out and its test suite
    /// (default: the host, plus `_PORT` when the port is not 22).
    #[arg(long, value_name = "NAME", conflicts_with = "targets")]
    name: Option<String>,
    /// Measure each scenario this long instead of the profile's duration (e.g. 30s, 10m).
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Run only this scenario (repeatable; default: all of the board's profile).
    #[arg(long = "scenario", value_name = "S")]
    scenarios: Vec<String>,
    /// Where the reports go: DIR/junit.xml, DIR/summary.md, DIR/accept.json, and each board's
    /// run in DIR/<board>/<run-id>/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Time bound on a board's measuring step (default: the run plan's timeout, as `rros-validate plan` gives it).
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Bound on each SSH connection attempt (TCP connect, then the SSH banner; key exchange
    /// and login get as long again). Connect and banner failures are tried 3 times.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,
    /// After the link breaks mid-run, how long to keep trying to reach the board to tell a
    /// reboot (a new boot id) from a lost link. Raise it for boards that boot slowly.
    #[arg(long, value_name = "D", default_value = "2m", value_parser = humantime::parse_duration)]
    reconnect_window: Duration,
    /// Known-hosts file, checked strictly (default: yours; a new host is accepted on first
    /// contact, a changed host key is refused).
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Boards measured at once with --targets (0: all at once).
    #[arg(long, value_name = "N", default_value_t = 0)]
    jobs: usize,
    /// Compare each board's run with its baseline: a previous --out folder (each board's
    /// run as its accept.json names it), a run folder or a report.json. REGRESSED makes
    /// acceptance FAIL (exit 1); runs not like with like are ERROR (exit 2) unless
    /// --allow-mismatch; a board without a baseline is named and not compared.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// With --baseline: compare runs that are not like with like (another board, backend,
    /// interval or CPUs), with a warning, instead of refusing.
    #[arg(long, requires = "baseline")]
    allow_mismatch: bool,
    /// With --baseline: shifts smaller than this percentage of the baseline's bound are no
    /// word, even when the intervals are apart (boards whose environment moves between runs,
    /// such as an emulator on a shared host). Default 0: the intervals alone decide.
    #[arg(long, value_name = "PCT", default_value = "0", requires = "baseline",
          value_parser = rros_contract::compare::parse_noise_threshold)]
    noise_threshold: f64,
    /// Append each board's run (per scenario: time, verdict, p50/p99/max, budget, samples,
    /// key) to DIR/history.jsonl and redraw DIR/trend-<board>-<scenario>.svg.
    #[arg(long, value_name = "DIR")]
    history: Option<PathBuf>,
}

pub fn run(args: &AcceptArgs) -> Result<ExitCode> {
    let endpoints = endpoints(args)?;
    let opts = Options {
        duration: args.duration,
        scenarios: args.scenarios.clone(),
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        reconnect_window: args.reconnect_window,
        ..Options::default()
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create --out {}", args.out.display()))?;
    let out = args
        .out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.out.display()))?;
    // The baselines are found and read before anything is measured.
    let baselines = find_baselines(args, &endpoints)?;
    let progress = Progress::new(endpoints.iter().map(|e| e.name.as_str()));
    progress.line(&format!(
        "accepting {} board(s): {}",
        endpoints.len(),
        endpoints
            .iter()
            .map(|e| format!("{} ({})", e.name, e.target))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let observe = |name: &str, event: Event<'_>| progress.event(name, event);
    let results = rros_accept::accept_fleet(&endpoints, &opts, &out, args.jobs, &observe);
    progress.finish();
    let compared: Vec<BoardBaseline> = baselines
        .iter()
        .map(|(board, found)| {
            let run = results.iter().find(|r| &r.name == board);
            let dir = run.and_then(|r| r.local_dir.as_deref());
            let rules = baseline::Rules {
                allow_mismatch: args.allow_mismatch,
                noise: args.noise_threshold,
            };
            baseline::judge(board, found, dir, rules)
        })
        .collect();
    let written = rros_accept::write_reports_with(&out, &results, &compared)
        .with_context(|| format!("cannot write the reports into {}", out.display()))?;
    let boards = rros_accept::fleet_verdict(results.iter().map(|r| r.verdict));
    let verdict = baseline::with_baseline(boards, &compared);
    print_baselines(&compared);
    if let Some(dir) = &args.history {
        record_history(dir, &results)?;
    }
    print_results(&results, verdict, &out, &written);
    Ok(ExitCode::from(verdict.exit_code()))
}

/// Each board's baseline, found and read (`baseline::find`), for `--baseline`.
fn find_baselines(args: &AcceptArgs, endpoints: &[Endpoint]) -> Result<Vec<(String, Found)>> {
    let Some(dir) = &args.baseline else {
        return Ok(Vec::new());
    };
    if !dir.exists() {
        bail!(
            "--baseline {}: no such file or folder; give a previous --out folder, a run folder or a report.json",
            dir.display()
        );
    }
    Ok(endpoints
        .iter()
        .map(|e| (e.name.clone(), baseline::find(dir, &e.name)))
        .collect())
}

/// Each board's comparison with its baseline: the line, what moved, the scenarios' words.
fn print_baselines(compared: &[BoardBaseline]) {
    for b in compared {
        println!("baseline {}: {}", b.board, b.outcome.line());
        if let baseline::Outcome::Compared {
            comparison,
            refused,
            ..
        } = &b.outcome
        {
            if !comparison.like_with_like() && !refused {
                eprintln!(
                    "rros accept: warning: {}: the runs are not like with like ({}): the words compare different things",
                    b.board,
                    baseline::unlike(comparison).join("; ")
                );
            }
            if !refused {
                for line in comparison.render().lines() {
                    println!("  {line}");
                }
            }
        }
    }
}

/// `--history DIR`: appends the runs, names the skipped lines on stderr, redraws the trends.
fn record_history(dir: &Path, results: &[rros_accept::BoardResult]) -> Result<()> {
    let (entries, none) = history::of_results(results);
    for why in none {
        eprintln!("rros accept: history: nothing recorded for {why}");
    }
    let file = history::append(dir, &entries)
        .with_context(|| format!("cannot append to the history in {}", dir.display()))?;
    let read = history::read(dir).with_context(|| format!("cannot read {}", file.display()))?;
    for skipped in &read.skipped {
        eprintln!("rros accept: history: {skipped}");
    }
    let mut which: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.board.clone(), e.scenario.clone()))
        .collect();
    which.dedup();
    let plots = history::write_trends(dir, &read, &which)
        .with_context(|| format!("cannot draw the trends into {}", dir.display()))?;
    println!(
        "history: {} ({} line(s) added, {} in all); trend: {}",
        file.display(),
        entries.len(),
        read.entries.len(),
        plots
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn endpoints(args: &AcceptArgs) -> Result<Vec<Endpoint>> {
    let mut endpoints = match (&args.target, &args.targets) {
        (Some(text), _) => {
            let target = Target::parse(text).map_err(|e| anyhow::anyhow!("--target: {e}"))?;
            let mut endpoint = Endpoint::new(target);
            endpoint.identity = args.identity.clone();
            if let Some(name) = &args.name {
                if !rros_accept::target::is_board_name(name) {
                    bail!(
                        "--name {name:?}: use letters, digits, '.', '_' and '-', not starting with '.'"
                    );
                }
                endpoint.name = name.clone();
            }
            vec![endpoint]
        }
        (None, Some(file)) => rros_accept::parse_targets_file(file, args.identity.as_deref())?,
        (None, None) => bail!("give --target [USER@]HOST[:PORT] or --targets FILE"),
    };
    if let Some(known) = &args.known_hosts {
        for e in &mut endpoints {
            e.known_hosts.get_or_insert_with(|| known.clone());
        }
    }
    for e in &endpoints {
        for (what, path) in [("identity", &e.identity), ("known_hosts", &e.known_hosts)] {
            if let Some(p) = path
                && !p.is_file()
            {
                bail!("{}: {what} file {} does not exist", e.name, p.display());
            }
        }
    }
    Ok(endpoints)
}

/// The closing lines: one per board, the verdict, where the reports are.
pub(crate) fn print_results(
    results: &[rros_accept::BoardResult],
    verdict: Verdict,
    out: &Path,
    written: &[PathBuf],
) {
    for r in results {
        let run = r
            .local_dir
            .as_ref()
            .map(|d| format!(" — {}", d.display()))
            .unwrap_or_default();
        println!("{:<5} {}{run}", r.verdict.as_str(), r.name);
        if let Some(reason) = &r.reason {
            println!("      {reason}");
        }
    }
    println!("verdict: {verdict}");
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    println!("reports: {} ({})", out.display(), names.join(", "));
}

/// Progress on stderr: a spinner per board on a terminal, plain time-stamped lines otherwise.
pub(crate) struct Progress {
    start: Instant,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    pub(crate) verbose: bool,
}

impl Progress {
    pub(crate) fn new<'a>(boards: impl IntoIterator<Item = &'a str>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let multi = tty.then(MultiProgress::new);
        let mut bars = HashMap::new();
        if let Some(multi) = &multi {
            let style =
                ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} [{elapsed:>4}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
            for name in boards {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.insert(name.to_owned(), bar);
            }
        }
        Progress {
            start: Instant::now(),
            multi,
            bars: Mutex::new(bars),
            verbose: false,
        }
    }

    /// A line that stays, stamped with the time since start.
    pub(crate) fn line(&self, text: &str) {
        let stamped = format!("[{:>6.1}s] {text}", self.start.elapsed().as_secs_f64());
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(stamped);
            }
            None => eprintln!("{stamped}"),
        }
    }

    /// Shown on the spinner only (a terminal), or as a line when verbose.
    pub(crate) fn transient(&self, board: &str, text: &str) {
        if self.verbose {
            self.line(&format!("  {text}"));
        } else if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(board).cloned()) {
            bar.set_message(text.to_owned());
        }
    }

    fn set_message(&self, board: &str, text: &str) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(board).cloned()) {
            bar.set_message(text.to_owned());
        }
    }

    pub(crate) fn event(&self, board: &str, event: Event<'_>) {
        match event {
            Event::Phase(phase) => {
                let text = match &phase {
                    Phase::Connecting => "connecting".to_owned(),
                    Phase::Waiting { reason, timeout } => {
                        format!("waiting: {reason} (up to {})", human(*timeout))
                    }
                    Phase::Measuring { timeout } => {
                        format!(
                            "measuring: rros-validate run (time bound {})",
                            human(*timeout)
                        )
                    }
                    Phase::Reconnecting => "the link broke: trying to reach the board again".into(),
                    Phase::Fetching => "fetching the reports".into(),
                    Phase::Done(verdict) => format!("{verdict}"),
                };
                self.line(&format!("{board}: {text}"));
                self.set_message(board, &text);
                if let Phase::Done(_) = phase
                    && let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(board))
                {
                    bar.finish_and_clear();
                }
            }
            Event::Output(stream, text) => {
                let text = text.trim_end();
                if text.is_empty() {
                    return;
                }
                // rros-validate's progress is on stderr; its report on stdout.
                let mark = if stream == Stream::Stderr { "|" } else { ">" };
                self.line(&format!("{board} {mark} {text}"));
            }
            Event::Note(text) => self.line(&format!("{board}: {text}")),
        }
    }

    pub(crate) fn finish(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, bar) in bars.drain() {
                bar.finish_and_clear();
            }
        }
    }
}
