//! `rros kconfig`: check kernel config fragments against a kernel source tree.
//!
//! `rros kconfig check FRAGMENT... --tree DIR` reads every `Kconfig*` file of the tree and
//! reports fragment symbols the tree does not define (exit 1, as `merge_config.sh` would drop
//! them silently), plus warnings where the fragments visibly contradict the tree (a symbol set
//! while they disable its dependency, a selected symbol they disable, two members of one
//! choice, a symbol set twice). Warnings alone exit 0.

use anyhow::Context;
use clap::{Args, Subcommand};
use rros_kconfig::{Fragment, KconfigTree, LoadOptions, Resolve, check};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct KconfigArgs {
    #[command(subcommand)]
    command: KconfigCommand,
}

#[derive(Subcommand, Debug)]
enum KconfigCommand {
    /// Check config fragments (.cfg) against the Kconfig files of a kernel tree.
    Check(CheckArgs),
    /// Merge fragments onto a defconfig with the tree's own Kconfig (make <defconfig>, the
    /// fragments, make olddefconfig) and list every value that did not stick, with the symbol
    /// whose dependency, select or choice dropped it. Exit 1 when any did (drops that only need
    /// the RROS Rust toolchain, HAS_RUST, are listed but do not fail).
    Resolve(ResolveArgs),
}

#[derive(Args, Debug)]
struct ResolveArgs {
    /// Fragment files, in merge order (a later one overrides an earlier one).
    #[arg(required = true, value_name = "FRAGMENT")]
    fragments: Vec<PathBuf>,
    /// Root of the kernel source tree.
    #[arg(long, value_name = "DIR")]
    tree: PathBuf,
    /// ARCH= for make (x86_64, arm64).
    #[arg(long, value_name = "ARCH")]
    arch: String,
    /// The defconfig target to start from (x86_64_defconfig, rros_defconfig).
    #[arg(long, value_name = "TARGET")]
    defconfig: String,
    /// Output directory (O=); the merged .config is left there. Default: a temporary one.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Extra make variables, e.g. --make-var CROSS_COMPILE=aarch64-linux-gnu- (repeatable).
    #[arg(long = "make-var", value_name = "VAR=VALUE")]
    make_vars: Vec<String>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Fragment files, in the order they are merged (a later one overrides an earlier one).
    #[arg(required = true, value_name = "FRAGMENT")]
    fragments: Vec<PathBuf>,

    /// Root of the kernel source tree (the directory holding the top-level Kconfig).
    #[arg(long, value_name = "DIR")]
    tree: PathBuf,

    /// Read only this architecture below arch/ (e.g. arm64), as one kernel build does.
    /// Default: every architecture, so a symbol of any architecture counts as defined.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,
}

pub fn run(args: &KconfigArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        KconfigCommand::Check(check_args) => run_check(check_args),
        KconfigCommand::Resolve(resolve_args) => run_resolve(resolve_args),
    }
}

fn run_resolve(args: &ResolveArgs) -> anyhow::Result<ExitCode> {
    let temp;
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary output directory")?;
            temp.path().to_path_buf()
        }
    };
    let resolve = Resolve {
        tree: args.tree.clone(),
        arch: args.arch.clone(),
        defconfig: args.defconfig.clone(),
        fragments: args.fragments.clone(),
        out,
        make_vars: args.make_vars.clone(),
    };
    let resolution = resolve
        .run()
        .with_context(|| format!("resolving the fragments in {}", args.tree.display()))?;
    for drop in &resolution.drops {
        println!("{drop}");
    }
    let mismatches = resolution.mismatches().count();
    let toolchain = resolution.drops.len() - mismatches;
    println!(
        "{}: {} + {} fragment(s), ARCH={}: {} value(s) did not stick, {} need(s) the RROS toolchain{}",
        args.tree.display(),
        args.defconfig,
        args.fragments.len(),
        args.arch,
        mismatches,
        toolchain,
        if args.out.is_some() {
            format!(" (merged config: {})", resolution.config_path.display())
        } else {
            String::new()
        }
    );
    Ok(if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let options = LoadOptions {
        arch: args.arch.clone(),
    };
    let tree = KconfigTree::load_with(&args.tree, &options)
        .with_context(|| format!("reading the kernel tree {}", args.tree.display()))?;
    let fragments = args
        .fragments
        .iter()
        .map(|path| Fragment::load(path))
        .collect::<Result<Vec<_>, _>>()?;

    let report = check(&tree, &fragments);
    for (path, issue) in &report.issues {
        println!("{}:{}: {issue}", path.display(), issue.line);
    }
    for unknown in &report.unknown {
        println!("{unknown}");
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    println!(
        "checked {} line(s) of {} fragment(s) against {} Kconfig files ({} symbols) in {}: \
         {} unknown, {} malformed, {} warning(s)",
        report.assignments,
        fragments.len(),
        tree.file_count(),
        tree.symbol_count(),
        args.tree.display(),
        report.unknown.len(),
        report.issues.len(),
        report.warnings.len()
    );
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
