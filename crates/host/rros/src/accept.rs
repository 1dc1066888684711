//! `rros accept`: run `rros-validate` on one board or a fleet over SSH, bring the reports home,
//! write `junit.xml` + `summary.md` (+ `accept.json`); exit 0 PASS, 1 FAIL, 2 ERROR.

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
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
    let written = rros_accept::write_reports(&out, &results)
        .with_context(|| format!("cannot write the reports into {}", out.display()))?;
    let verdict = rros_accept::fleet_verdict(results.iter().map(|r| r.verdict));
    print_results(&results, verdict, &out, &written);
    Ok(ExitCode::from(verdict.exit_code()))
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
