//! `rros vboard`: the virtual board — a Debian 12 PREEMPT_RT image of qemux86-64 made from this
//! checkout, booted under QEMU and accepted over SSH. A development stand-in for the Yocto
//! image, not a replacement for it.

use crate::accept::{Progress, print_results};
use crate::project;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use rros_accept::Verdict;
use rros_vboard::{Accel, BuildRequest, Observer, RunRequest, sources};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

#[derive(Subcommand)]
pub enum VboardCommand {
    /// Build the disk image (cached: rebuilt only when an input changes). Needs root.
    Build(BuildArgs),
    /// Boot the image under QEMU, accept it over SSH, power off; prints the verdict, the
    /// reports' folder and the boot-to-verdict time. Exit 0 PASS, 1 FAIL, 2 ERROR.
    Run(RunArgs),
}

#[derive(Args)]
pub struct BuildArgs {
    /// The board: qemux86-64 (PREEMPT_RT) or qemux86-64-evl (Dovetail + EVL). Repeat it to
    /// run several boards one after the other under the same acceptance, with a side-by-side
    /// summary (ab-summary.md/.json); `NAME:BACKEND` forces rros-validate's backend for that
    /// entry (`qemux86-64-evl:posix`: in-band on the EVL kernel).
    #[arg(
        long = "board",
        value_name = "NAME[:BACKEND]",
        default_value = "qemux86-64"
    )]
    boards: Vec<String>,
    /// Cache folder for base root filesystems and images.
    #[arg(long, value_name = "DIR", env = "RROS_VBOARD_CACHE")]
    cache: Option<PathBuf>,
    /// Debian archive to build from (default: the Debian archives of this host's apt sources).
    #[arg(long, value_name = "URL")]
    mirror: Option<String>,
    /// The rros-validate binary to install (default: `cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate`
    /// in this checkout, now).
    #[arg(long, value_name = "FILE")]
    validate_bin: Option<PathBuf>,
    /// Rebuild even when the cache holds an image for the same inputs.
    #[arg(long)]
    rebuild: bool,
    /// Show every line of the build tools' output.
    #[arg(long, short)]
    verbose: bool,
    #[command(flatten)]
    evl: EvlArgs,
}

/// The EVL board's sources (boards of flavour `evl`, e.g. qemux86-64-evl).
#[derive(Args)]
pub struct EvlArgs {
    /// EVL kernel source tree (Linux + Dovetail + EVL core), built with x86_64_defconfig and
    /// the layer's fragments.
    #[arg(long, value_name = "DIR", env = rros_vboard::evl::ENV_KERNEL_SRC)]
    kernel_src: Option<PathBuf>,
    /// libevl source tree whose EVL_ABI_PREREQ the kernel serves.
    #[arg(long, value_name = "DIR", env = rros_vboard::evl::ENV_LIBEVL_SRC)]
    libevl_src: Option<PathBuf>,
    /// C compiler for the kernel and libevl (default: gcc-11 when installed, else gcc).
    #[arg(long, value_name = "CC", env = rros_vboard::evl::ENV_KERNEL_CC)]
    kernel_cc: Option<String>,
    /// make -j for the kernel and libevl (default: the host's CPU count).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Posix,
    Evl,
}

impl BackendArg {
    fn as_str(self) -> &'static str {
        match self {
            BackendArg::Auto => "auto",
            BackendArg::Posix => "posix",
            BackendArg::Evl => "evl",
        }
    }
}

/// One `--board NAME[:BACKEND]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BoardSpec {
    name: String,
    /// `None`: rros-validate's `auto`.
    backend: Option<String>,
}

impl BoardSpec {
    fn parse(spec: &str, default_backend: Option<BackendArg>) -> Result<BoardSpec> {
        let (name, backend) = match spec.split_once(':') {
            Some((name, b)) => {
                let backend = BackendArg::from_str(b, false).map_err(|_| {
                    anyhow::anyhow!(
                        "--board {spec}: unknown backend {b:?}: use NAME:posix, NAME:evl or NAME:auto"
                    )
                })?;
                (name, Some(backend))
            }
            None => (spec, default_backend),
        };
        if name.is_empty() || name.contains('/') {
            bail!("--board {spec}: not a board name (a file name in board/ without .toml)");
        }
        Ok(BoardSpec {
            name: name.to_owned(),
            backend: backend
                .filter(|b| !matches!(b, BackendArg::Auto))
                .map(|b| b.as_str().to_owned()),
        })
    }

    /// `qemux86-64-evl` or `qemux86-64-evl (posix)`.
    fn label(&self) -> String {
        match &self.backend {
            Some(b) => format!("{} ({b})", self.name),
            None => self.name.clone(),
        }
    }

    /// The entry's folder under `--out` when several boards run.
    fn folder(&self) -> String {
        match &self.backend {
            Some(b) => format!("{}-{b}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum AccelArg {
    /// KVM when /dev/kvm works, else TCG.
    Auto,
    Kvm,
    Tcg,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Measure each scenario this long.
    #[arg(long, value_name = "D", default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Run only this scenario (repeatable; default: all of the profile's).
    #[arg(long = "scenario", value_name = "S")]
    scenarios: Vec<String>,
    /// Where the reports go (default: build/vboard in the checkout).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Boot without the profile's isolation parameters: the audit must then FAIL.
    #[arg(long)]
    no_isolation: bool,
    /// Leave the guest running after the verdict; prints how to log in and stop it.
    #[arg(long)]
    keep_running: bool,
    /// Mask the boot-time validation for this boot (kernel command line
    /// systemd.mask=rros-validate.service): acceptance starts right after boot instead of
    /// after the board's own run. Faster for iterating; the image is unchanged.
    #[arg(long)]
    no_boot_validation: bool,
    #[arg(long, value_enum, default_value = "auto")]
    accel: AccelArg,
    /// Bound on boot until SSH answers.
    #[arg(long, value_name = "D", default_value = "300s", value_parser = humantime::parse_duration)]
    boot_timeout: Duration,
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1536)]
    memory: u32,
    /// rros-validate's timer backend for every board not given one with `--board NAME:BACKEND`
    /// (default: auto, evl on an EVL kernel, posix otherwise).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Always measure anew: never take the boot-time validation's run as the acceptance run,
    /// even when it is provably the same run (same profile bytes, binary, scenarios,
    /// durations and backend, in this boot).
    #[arg(long)]
    fresh: bool,
    /// Time bound on the measuring step (default: the run plan's timeout, as `rros-validate plan` gives it).
    #[arg(long, value_name = "D", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Bound on each SSH connection attempt to the guest (TCP connect, then the banner; the
    /// login gets as long again). Emulated guests under load answer slowly: the default is
    /// three times `rros accept`'s.
    #[arg(long, value_name = "D", default_value = "30s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,
}

pub fn run(command: &VboardCommand, root: Option<&Path>) -> Result<ExitCode> {
    match command {
        VboardCommand::Build(args) => build(args, root),
        VboardCommand::Run(args) => run_board(args, root),
    }
}

/// The progress printer as the virtual board's observer.
struct Shown<'a>(&'a Progress);

impl Observer for Shown<'_> {
    fn step(&self, text: &str) {
        self.0.line(text);
    }
    fn note(&self, text: &str) {
        self.0.line(text);
    }
    fn detail(&self, text: &str) {
        self.0.transient("vboard", text);
    }
    fn accept(&self, board: &str, event: rros_accept::Event<'_>) {
        self.0.event(board, event);
    }
}

fn build_request(
    args: &BuildArgs,
    board: &str,
    root: &Path,
    progress: &Progress,
) -> Result<BuildRequest> {
    let cache_dir = match &args.cache {
        Some(dir) => dir.clone(),
        None => rros_vboard::default_cache_dir()
            .context("no cache folder: set HOME or XDG_CACHE_HOME, or pass --cache DIR")?,
    };
    let sources = match &args.mirror {
        Some(url) => sources::from_mirror(url),
        None => sources::from_host(Path::new("/"))
            .context("cannot read the host's apt sources (/etc/apt/sources.list*)")?,
    };
    if sources.is_empty() {
        bail!(
            "this host's apt sources name no Debian archive to build from: pass --mirror URL (a Debian archive serving bookworm)"
        );
    }
    let evl = evl_parts(args, board, root, &cache_dir, progress)?;
    let validate_bin = match (&evl, &args.validate_bin) {
        (Some(parts), _) => parts.validate_bin.clone(),
        (None, Some(path)) => path.clone(),
        (None, None) => build_validate(root, progress)?,
    };
    Ok(BuildRequest {
        root: root.to_owned(),
        board: board.to_owned(),
        cache_dir,
        sources,
        validate_bin,
        rebuild: args.rebuild,
        evl,
    })
}

/// For a board of flavour `evl`: the kernel, libevl and rros-validate built from the given
/// trees (cached). `None` for other boards.
fn evl_parts(
    args: &BuildArgs,
    board: &str,
    root: &Path,
    cache_dir: &Path,
    progress: &Progress,
) -> Result<Option<rros_vboard::evl::EvlParts>> {
    let profile = root.join("board").join(format!("{board}.toml"));
    let Ok((board, _)) = rros_board::load_board(&profile) else {
        return Ok(None); // the image stage reports the profile's problem
    };
    if board.flavour != rros_board::Flavour::Evl {
        return Ok(None);
    }
    let (Some(kernel_src), Some(libevl_src)) = (&args.evl.kernel_src, &args.evl.libevl_src) else {
        bail!(
            "board {} runs an EVL kernel built from source: give --kernel-src DIR and --libevl-src DIR (or set {} and {})",
            board.name,
            rros_vboard::evl::ENV_KERNEL_SRC,
            rros_vboard::evl::ENV_LIBEVL_SRC
        );
    };
    let cc = args.evl.kernel_cc.clone().unwrap_or_else(|| {
        if rros_vboard::build::find_program("gcc-11").is_some() {
            "gcc-11".into()
        } else {
            "gcc".into()
        }
    });
    let req = rros_vboard::evl::EvlRequest {
        root: root.to_owned(),
        kernel_src: kernel_src
            .canonicalize()
            .with_context(|| format!("--kernel-src {}", kernel_src.display()))?,
        libevl_src: libevl_src
            .canonicalize()
            .with_context(|| format!("--libevl-src {}", libevl_src.display()))?,
        cc,
        jobs: args
            .evl
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        cache_dir: cache_dir.to_owned(),
        rebuild: args.rebuild,
    };
    let parts = rros_vboard::evl::build_parts(&req, &Shown(progress))?;
    progress.line(&format!("EVL parts: {}", parts.describe()));
    Ok(Some(parts))
}

/// The on-target workspace of the checkout: rros-validate is built there.
const ON_TARGET: &str = "crates/on-target";

/// `cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate` in the
/// checkout; returns the binary's path.
fn build_validate(root: &Path, progress: &Progress) -> Result<PathBuf> {
    if !root
        .join("crates/on-target/rros-validate/Cargo.toml")
        .is_file()
    {
        bail!(
            "{} has no crates/on-target/rros-validate: pass --validate-bin FILE",
            root.display()
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = Command::new(&cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root.join(ON_TARGET))
        .output()
        .context("cannot run cargo (install Rust with rustup, or pass --validate-bin FILE)")?;
    if !metadata.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&metadata.stderr).trim()
        );
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&metadata.stdout).context("cargo metadata printed no JSON")?;
    let target_dir = doc["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata names no target directory")?;
    progress.line("building rros-validate for the guest: cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate");
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "rros-validate"])
        .current_dir(root.join(ON_TARGET))
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!(
            "cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate failed ({status})"
        );
    }
    Ok(target_dir.join("release").join("rros-validate"))
}

fn build(args: &BuildArgs, root: Option<&Path>) -> Result<ExitCode> {
    let root = project::root(root)?;
    let mut progress = Progress::new(["vboard"]);
    progress.verbose = args.verbose;
    let mut names: Vec<String> = Vec::new();
    for spec in &args.boards {
        let spec = BoardSpec::parse(spec, None)?;
        if !names.contains(&spec.name) {
            names.push(spec.name);
        }
    }
    for name in &names {
        let req = build_request(args, name, &root, &progress)?;
        let image = rros_vboard::build(&req, &Shown(&progress));
        let image = match image {
            Ok(image) => image,
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        };
        println!("image: {}", image.dir.display());
        println!(
            "board: {}  kernel: {}  isolation: {}",
            image.board.name, image.kernel_release, image.isolation_cmdline
        );
        if image.cached {
            println!("cached (inputs unchanged; --rebuild to build anew)");
        } else {
            println!(
                "built in {:.1} s (base root filesystem {:.1} s{}, image {:.1} s)",
                (image.base_time + image.image_time).as_secs_f64(),
                image.base_time.as_secs_f64(),
                if image.base_time.is_zero() {
                    ", cached"
                } else {
                    ""
                },
                image.image_time.as_secs_f64()
            );
        }
    }
    progress.finish();
    Ok(ExitCode::SUCCESS)
}

fn run_board(args: &RunArgs, root: Option<&Path>) -> Result<ExitCode> {
    let root = project::root(root)?;
    let specs = args
        .build
        .boards
        .iter()
        .map(|s| BoardSpec::parse(s, args.backend))
        .collect::<Result<Vec<_>>>()?;
    let mut folders: Vec<String> = Vec::new();
    for spec in &specs {
        if folders.contains(&spec.folder()) {
            bail!(
                "--board {} is given twice: each board (and backend) runs once",
                spec.label()
            );
        }
        folders.push(spec.folder());
    }
    if specs.len() > 1 && args.keep_running {
        bail!("--keep-running leaves one guest up: give one --board");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("build").join("vboard"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out.canonicalize().context("cannot resolve --out")?;
    let mut entries = Vec::new();
    let mut verdicts = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        if specs.len() > 1 {
            println!(
                "=== board {} of {}: {} (one guest at a time)",
                i + 1,
                specs.len(),
                spec.label()
            );
        }
        // One board: its reports in --out as always; several: each in its own folder.
        let board_out = if specs.len() > 1 {
            out.join(spec.folder())
        } else {
            out.clone()
        };
        let (verdict, entry) = match run_one(args, &root, spec, &board_out) {
            Ok(done) => done,
            // One board alone: its error is the run's. Several: the others still run, and the
            // summary shows this one as ERROR.
            Err(e) if specs.len() > 1 => {
                println!("ERROR {}: {e:#}", spec.label());
                let entry = rros_vboard::summary::Entry {
                    label: spec.label(),
                    board: spec.name.clone(),
                    backend: spec.backend.clone(),
                    verdict: Verdict::Error,
                    reason: Some(format!("{e:#}")),
                    kernel: Default::default(),
                    report: None,
                    boot_to_verdict_s: None,
                    reused: None,
                    run_dir: None,
                };
                (Verdict::Error, entry)
            }
            Err(e) => return Err(e),
        };
        verdicts.push(verdict);
        entries.push(entry);
    }
    if specs.len() > 1 {
        let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
        let title = format!("Virtual boards side by side: {}", labels.join(" | "));
        let written = rros_vboard::summary::write(&out, &entries, &title)
            .with_context(|| format!("cannot write the summary into {}", out.display()))?;
        println!("=== side by side");
        print!("{}", rros_vboard::summary::markdown(&entries, &title));
        for path in written {
            println!("summary: {}", path.display());
        }
    }
    let verdict = rros_accept::fleet_verdict(verdicts.iter().copied());
    if specs.len() > 1 {
        println!("verdict of all boards: {verdict}");
    }
    Ok(ExitCode::from(verdict.exit_code()))
}

/// Boots and accepts one board into `out`; prints its results; returns its verdict and its
/// entry of the side-by-side summary.
fn run_one(
    args: &RunArgs,
    root: &Path,
    spec: &BoardSpec,
    out: &Path,
) -> Result<(Verdict, rros_vboard::summary::Entry)> {
    let mut progress = Progress::new(["vboard"]);
    progress.verbose = args.build.verbose;
    let build = build_request(&args.build, &spec.name, root, &progress)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let built_from = match &build.evl {
        Some(parts) => parts.describe(),
        None => "Debian 12 linux-image-rt-amd64 (PREEMPT_RT)".to_owned(),
    };
    let req = RunRequest {
        build,
        accel: match args.accel {
            AccelArg::Auto => Accel::Auto,
            AccelArg::Kvm => Accel::Kvm,
            AccelArg::Tcg => Accel::Tcg,
        },
        memory_mib: args.memory,
        isolation: !args.no_isolation,
        boot_timeout: args.boot_timeout,
        keep_running: args.keep_running,
        mask_boot_validation: args.no_boot_validation,
        reuse_boot_run: !args.fresh,
        accept: rros_accept::Options {
            duration: Some(args.duration),
            scenarios: args.scenarios.clone(),
            timeout: args.timeout,
            connect_timeout: args.connect_timeout,
            // A guest that reboots mid-run shuts down, then boots within its boot bound.
            reconnect_window: args.boot_timeout.saturating_mul(2),
            backend: spec.backend.clone(),
            ..rros_accept::Options::default()
        },
        out: out.to_owned(),
    };
    let outcome = rros_vboard::run(&req, &Shown(&progress));
    progress.finish();
    let outcome = outcome?;
    print_results(
        std::slice::from_ref(&outcome.result),
        outcome.verdict(),
        out,
        &outcome.reports,
    );
    let t = &outcome.timings;
    if let Some(total) = t.boot_to_verdict {
        println!(
            "boot-to-verdict: {:.1} s ({}; SSH after {:.1} s, {}; {} per scenario; image {})",
            total.as_secs_f64(),
            outcome.accel.map_or("?", |a| a.as_str()).to_uppercase(),
            t.boot_to_ssh.unwrap_or_default().as_secs_f64(),
            match (&outcome.reused, t.boot_to_measuring) {
                (Some(_), _) => "the boot-time run reused, not measured twice".to_owned(),
                (None, Some(m)) => format!("measuring from {:.1} s", m.as_secs_f64()),
                (None, None) => "not measured".to_owned(),
            },
            humantime::format_duration(args.duration),
            if outcome.image.as_ref().is_some_and(|i| i.cached) {
                "cached".to_owned()
            } else {
                format!("built in {:.1} s", t.build.as_secs_f64())
            }
        );
    }
    match &outcome.reused {
        Some(why) => {
            println!(
                "report: the boot-time validation's run, reused as the acceptance run, because:"
            );
            for line in why {
                println!("  - {line}");
            }
        }
        None => {
            if let Some(why) = &outcome.not_reused {
                println!("report: measured by acceptance (boot-time run not reused: {why})");
            }
        }
    }
    match &outcome.boot_service_verdict {
        Some(line) => println!("boot-time service: {line}"),
        None if t.boot_to_ssh.is_some() => {
            println!(
                "boot-time service: no verdict in the journal (see {}/rros-validate.journal)",
                outcome.evidence_dir.display()
            )
        }
        None => {}
    }
    println!("boot evidence: {}", outcome.evidence_dir.display());
    if let Some(kept) = &outcome.kept {
        println!("still running (pid {}): {}", kept.pid, kept.ssh);
        println!(
            "stop it with: kill {}   (details: {})",
            kept.pid,
            kept.env_file.display()
        );
    }
    let report = outcome
        .result
        .local_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(d.join("report.json")).ok())
        .and_then(|t| rros_contract::Report::from_json(&t, "report.json").ok());
    // Without an image, nothing was built from anything.
    let built_from = outcome.image.as_ref().map(|_| built_from);
    let kernel = match &report {
        Some(r) => rros_vboard::summary::Kernel::from_report(r, built_from),
        None => rros_vboard::summary::Kernel {
            release: outcome.result.kernel.clone(),
            built_from,
            ..Default::default()
        },
    };
    let entry = rros_vboard::summary::Entry {
        label: spec.label(),
        board: spec.name.clone(),
        backend: spec.backend.clone(),
        verdict: outcome.verdict(),
        reason: outcome.result.reason.clone(),
        kernel,
        report,
        boot_to_verdict_s: t.boot_to_verdict.map(|d| d.as_secs_f64()),
        reused: outcome.reused.as_ref().map(|why| why.join("; ")),
        run_dir: outcome.result.local_dir.clone(),
    };
    Ok((outcome.verdict(), entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_specs_carry_a_backend_or_the_default() {
        let spec = BoardSpec::parse("qemux86-64-evl:posix", None).unwrap();
        assert_eq!(spec.name, "qemux86-64-evl");
        assert_eq!(spec.backend.as_deref(), Some("posix"));
        assert_eq!(spec.label(), "qemux86-64-evl (posix)");
        assert_eq!(spec.folder(), "qemux86-64-evl-posix");
        let plain = BoardSpec::parse("qemux86-64", None).unwrap();
        assert_eq!(
            (plain.backend.clone(), plain.folder()),
            (None, "qemux86-64".into())
        );
        let forced = BoardSpec::parse("qemux86-64", Some(BackendArg::Evl)).unwrap();
        assert_eq!(forced.backend.as_deref(), Some("evl"));
        // auto is rros-validate's default: nothing is forced.
        assert_eq!(BoardSpec::parse("b:auto", None).unwrap().backend, None);
        let err = BoardSpec::parse("b:rt", None).unwrap_err().to_string();
        assert!(err.contains("unknown backend \"rt\""), "{err}");
        assert!(BoardSpec::parse(":posix", None).is_err());
        assert!(BoardSpec::parse("../x", None).is_err());
    }
}
