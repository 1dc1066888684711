//! `rros kconfig`: check kernel config fragments against a kernel source tree.
//!
//! `rros kconfig check FRAGMENT... --tree DIR` reads every `Kconfig*` file of the tree and
//! reports fragment symbols the tree does not define (exit 1, as `merge_config.sh` would drop
//! them silently), plus warnings where the fragments visibly contradict the tree (a symbol set
//! while they disable its dependency, a selected symbol they disable, two members of one
//! choice, a symbol set twice). Warnings alone exit 0.

use anyhow::Context;
use clap::{Args, Subcommand};
use rros_kconfig::{Fragment, KconfigTree, LoadOptions, check};
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
    }
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
