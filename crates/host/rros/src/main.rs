//! `rros`: the host-side command line of meta-rros.
//!
//! One module per subcommand; each exposes its clap arguments and a `run` that returns the
//! process exit code, so `main` only dispatches. Exit codes follow one convention everywhere:
//! 0 = good, 1 = the thing checked is bad (invalid profile, FAIL verdict), 2 = could not check
//! (usage error, unreadable input, broken tooling).

mod accept;
mod board;
mod flash;
mod kconfig;
mod project;
mod vboard;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rros",
    version,
    about = "Build, tune and prove RROS real-time boards",
    propagate_version = true
)]
struct Cli {
    /// The meta-rros checkout (a folder holding board/ and meta-rros/). Default: found upwards
    /// from the current directory.
    #[arg(long, global = true, env = "RROS_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Board profiles: list, show, check, render the kernel command line and generated files.
    #[command(subcommand)]
    Board(board::BoardCommand),
    /// Check kernel config fragments against a kernel tree's Kconfig files.
    Kconfig(kconfig::KconfigArgs),
    /// The virtual board: build a Debian 12 PREEMPT_RT image of qemux86-64 from this checkout,
    /// boot it under QEMU and accept it over SSH (a stand-in for the Yocto image).
    #[command(subcommand)]
    Vboard(vboard::VboardCommand),
    /// Accept boards from this host: run rros-validate over SSH, bring the reports home,
    /// write junit.xml + summary.md; exit 0 PASS, 1 FAIL, 2 ERROR.
    Accept(accept::AcceptArgs),
    /// Write a wic image (.wic, .wic.bz2, .wic.gz, .wic.zst) to an SD card, bmap-aware and
    /// verified, refusing mounted, system and fixed disks; optionally check its kernel command
    /// line against a board. Exit 0 written and verified, 1 bad image/card/cmdline, 2 refused.
    Flash(flash::FlashArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Board(command) => board::run(command, cli.root.as_deref()),
        Command::Kconfig(command) => kconfig::run(command),
        Command::Vboard(command) => vboard::run(command, cli.root.as_deref()),
        Command::Accept(args) => accept::run(args),
        Command::Flash(args) => flash::run(args, cli.root.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rros: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
