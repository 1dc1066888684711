//! `rros board`: the board profiles in `board/`, their isolation rules and generated files.

use crate::project;
use anyhow::{Context, Result};
use clap::Subcommand;
use rros_board::render::{self, INCLUDE_DIR, Rendered, TUNING_FILES_DIR};
use rros_board::{Board, Finding, LoadError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BoardCommand {
    /// List the board profiles with their CPU split.
    List,
    /// Show one profile in full, with what it renders to.
    Show {
        /// Board name (e.g. rpi4) or path to a profile file.
        board: String,
    },
    /// Check profiles against the isolation rules (default: every board/*.toml).
    /// Exit 0 = all valid, 1 = a profile is invalid, 2 = usage error.
    Check {
        /// Profile files to check.
        paths: Vec<PathBuf>,
    },
    /// Print the kernel command-line additions of a board.
    Cmdline {
        /// Board name (e.g. rpi4) or path to a profile file.
        board: String,
    },
    /// Write the generated files (BitBake include, sysctl.d) for every profile.
    Render {
        /// Write nothing; exit 1 when a generated file is missing, stale or orphaned.
        #[arg(long)]
        check: bool,
    },
}

pub fn run(command: &BoardCommand, root: Option<&Path>) -> Result<ExitCode> {
    match command {
        BoardCommand::List => list(root),
        BoardCommand::Show { board } => show(&resolve(board, root)?),
        BoardCommand::Check { paths } => check(paths, root),
        BoardCommand::Cmdline { board } => cmdline(&resolve(board, root)?),
        BoardCommand::Render { check } => render_all(root, *check),
    }
}

/// A board argument is a path when it looks like one, else a name under `board/`.
fn resolve(board: &str, root: Option<&Path>) -> Result<PathBuf> {
    if board.contains('/') || board.ends_with(".toml") {
        return Ok(PathBuf::from(board));
    }
    let dir = project::root(root)?.join("board");
    let path = dir.join(format!("{board}.toml"));
    if !path.is_file() {
        let known = names(&dir).unwrap_or_default().join(", ");
        anyhow::bail!(
            "no board named \"{board}\" in {} (known: {known})",
            dir.display()
        );
    }
    Ok(path)
}

fn names(dir: &Path) -> Result<Vec<String>> {
    Ok(rros_board::profile_paths(dir)?
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect())
}

fn print_findings(path: &Path, findings: &[Finding]) {
    for finding in findings {
        eprintln!("{}: {finding}", shown(path).display());
    }
}

/// A path as the user would type it: relative to the current directory when below it.
fn shown(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_owned))
        .unwrap_or_else(|| path.to_owned())
}

/// Loads a board for commands that need a valid one: invalid → findings on stderr, exit 1.
fn load_or_report(path: &Path) -> Result<Result<Board, ExitCode>> {
    match rros_board::load_board(path) {
        Ok((board, warnings)) => {
            print_findings(path, &warnings);
            Ok(Ok(board))
        }
        Err(LoadError::Invalid { errors, .. }) => {
            print_findings(path, &errors);
            eprintln!(
                "{}: invalid profile; fix the errors above (`rros board check` lists them all)",
                shown(path).display()
            );
            Ok(Err(ExitCode::from(1)))
        }
        Err(err @ LoadError::Parse { .. }) => {
            eprintln!("{err}");
            Ok(Err(ExitCode::from(1)))
        }
        Err(err) => Err(err.into()),
    }
}

fn list(root: Option<&Path>) -> Result<ExitCode> {
    let dir = project::root(root)?.join("board");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12} {:<20} {:<8} {:<11} {:<15} {:>4}  {:<12} {:<12} {:<8}",
        "NAME",
        "MACHINE",
        "ARCH",
        "KERNEL",
        "CMDLINE VIA",
        "CPUS",
        "HOUSEKEEPING",
        "ISOLATED",
        "OOB"
    )?;
    let mut code = ExitCode::SUCCESS;
    for path in rros_board::profile_paths(&dir)? {
        match rros_board::load_board(&path) {
            Ok((b, _)) => writeln!(
                out,
                "{:<12} {:<20} {:<8} {:<11} {:<15} {:>4}  {:<12} {:<12} {:<8}",
                b.name,
                b.machine,
                b.arch,
                b.flavour,
                b.cmdline_delivery.as_str(),
                b.cpu_count,
                b.housekeeping,
                b.isolated,
                if b.oob.is_empty() {
                    "-".to_owned()
                } else {
                    b.oob.to_string()
                }
            )?,
            Err(_) => {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                writeln!(
                    out,
                    "{stem:<12} invalid profile: run `rros board check {}`",
                    path.display()
                )?;
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

fn show(path: &Path) -> Result<ExitCode> {
    let board = match load_or_report(path)? {
        Ok(board) => board,
        Err(code) => return Ok(code),
    };
    let t = &board.tuning;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} — {}", board.name, board.description)?;
    writeln!(out, "  machine        {} ({})", board.machine, board.arch)?;
    writeln!(
        out,
        "  kernel         {} (command line via {})",
        board.flavour,
        board.cmdline_delivery.as_str()
    )?;
    writeln!(
        out,
        "  cpus           {} in all: housekeeping {}, isolated {}, out-of-band {}",
        board.cpu_count,
        board.housekeeping,
        board.isolated,
        if board.oob.is_empty() {
            "-".to_owned()
        } else {
            board.oob.to_string()
        }
    )?;
    writeln!(out, "  measured on    {}", board.measured_cpus())?;
    writeln!(
        out,
        "  tuning         governor {}, timer migration {}, RT throttling {}, PM QoS {}, nohz_full {}, SMT {}",
        t.governor,
        on_off(t.timer_migration),
        on_off(t.rt_throttling),
        t.pm_qos_us
            .map_or("as configured".to_owned(), |us| format!("{us} µs")),
        on_off(t.nohz_full),
        t.smt.as_str()
    )?;
    if !t.rpi_config.is_empty() {
        writeln!(out, "  config.txt     {}", t.rpi_config.join(" | "))?;
    }
    writeln!(
        out,
        "  claim          {}",
        board.claim.map_or(
            "none by default (a PASS claims only that no sample exceeded the budget)".to_owned(),
            |c| format!("{c} by default")
        )
    )?;
    writeln!(out, "  scenarios")?;
    let cpus = board.measured_cpus().len();
    for s in &board.scenarios {
        let p99 = s
            .threshold
            .p99_us
            .map(|us| format!(", p99 ≤ {us} µs"))
            .unwrap_or_default();
        writeln!(
            out,
            "    {:<12} {:>6}, every {} µs at FIFO {}: max ≤ {} µs{p99}; load: {}",
            s.name,
            humantime_short(s.duration),
            s.interval_us,
            s.priority,
            s.threshold.max_us,
            s.load.as_deref().unwrap_or("none")
        )?;
        if let Some(c) = s.claim {
            let needed = c.samples_needed();
            writeln!(
                out,
                "    {:<12} claim {c}: {needed} samples without an exceedance, {:.0} s at {} µs on {cpus} CPU(s)",
                "",
                rros_board::claim::more_time_s(needed, s.interval_us, cpus).ceil(),
                s.interval_us
            )?;
        }
    }
    writeln!(out, "  cmdline        {}", render::cmdline(&board))?;
    writeln!(out, "  sysctl.d/{}:", render::SYSCTL_FILE)?;
    for line in render::sysctl(&board)
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        writeln!(out, "    {line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn humantime_short(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn check(paths: &[PathBuf], root: Option<&Path>) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        let dir = project::root(root)?.join("board");
        let found = rros_board::profile_paths(&dir)?;
        anyhow::ensure!(
            !found.is_empty(),
            "no profiles (*.toml) in {}",
            dir.display()
        );
        found
    } else {
        paths.to_vec()
    };
    let mut invalid = 0;
    for path in &paths {
        match rros_board::check_file(path) {
            Ok(validation) => {
                print_findings(path, &validation.findings);
                let errors = validation.errors().count();
                if errors == 0 {
                    println!("ok      {}", shown(path).display());
                } else {
                    println!("invalid {} ({errors} error(s))", shown(path).display());
                    invalid += 1;
                }
            }
            Err(err @ LoadError::Parse { .. }) => {
                eprintln!("{err}");
                println!("invalid {}", shown(path).display());
                invalid += 1;
            }
            Err(LoadError::Read { path, source }) => {
                anyhow::bail!("cannot read {}: {source}", path.display());
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn cmdline(path: &Path) -> Result<ExitCode> {
    match load_or_report(path)? {
        Ok(board) => {
            println!("{}", render::cmdline(&board));
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

fn render_all(root: Option<&Path>, check_only: bool) -> Result<ExitCode> {
    let root = project::root(root)?;
    let mut wanted: Vec<Rendered> = Vec::new();
    let mut invalid = false;
    for path in rros_board::profile_paths(&root.join("board"))? {
        match load_or_report(&path)? {
            Ok(board) => wanted.extend(render::rendered_files(&board)),
            Err(_) => invalid = true,
        }
    }
    if invalid {
        eprintln!("rros: nothing rendered: fix the invalid profiles first");
        return Ok(ExitCode::from(1));
    }
    let mut problems = 0;
    for file in &wanted {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).ok();
        match (
            current.as_deref() == Some(file.content.as_str()),
            check_only,
        ) {
            (true, _) => {}
            (false, true) => {
                let what = if current.is_some() {
                    "out of date"
                } else {
                    "missing"
                };
                eprintln!(
                    "{}: {what}; run `rros board render` and commit the result",
                    file.path
                );
                problems += 1;
            }
            (false, false) => {
                write_atomically(&path, &file.content)?;
                println!("wrote {}", file.path);
            }
        }
    }
    for orphan in orphans(&root, &wanted)? {
        if check_only {
            eprintln!(
                "{orphan}: generated for a board that has no profile any more; run `rros board render`"
            );
            problems += 1;
        } else {
            let path = root.join(&orphan);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .with_context(|| format!("cannot remove stale {orphan}"))?;
            println!("removed {orphan}");
        }
    }
    if check_only {
        if problems == 0 {
            println!("generated files are up to date ({} files)", wanted.len());
        }
        return Ok(if problems == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// Generated files (and per-board tuning folders) that no current profile renders.
fn orphans(root: &Path, wanted: &[Rendered]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let includes = root.join(INCLUDE_DIR);
    if includes.is_dir() {
        for entry in std::fs::read_dir(&includes)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let rel = format!("{INCLUDE_DIR}/{name}");
            if name.ends_with(".inc") && !wanted.iter().any(|w| w.path == rel) {
                found.push(rel);
            }
        }
    }
    let tuning = root.join(TUNING_FILES_DIR);
    if tuning.is_dir() {
        for entry in std::fs::read_dir(&tuning)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{TUNING_FILES_DIR}/{name}");
            if entry.file_type()?.is_dir()
                && !wanted
                    .iter()
                    .any(|w| w.path.starts_with(&format!("{rel}/")))
            {
                found.push(rel);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes through `rros-files`' durable atomic writer (an exclusive temporary file under an
/// unpredictable name, fsync, rename, directory fsync): a reader never sees half a file, and a
/// symlink planted in the folder cannot redirect the write.
fn write_atomically(path: &Path, content: &str) -> Result<()> {
    let dir = path.parent().context("generated path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    rros_files::write_atomic(path, content.as_bytes(), 0o644)
        .with_context(|| format!("cannot replace {}", path.display()))
}
