//! `rros flash`: write a wic image to an SD card (or a file), verified, and check the kernel
//! command line baked into it. The work is in the `rros-flash` library; this module asks,
//! shows progress and maps outcomes to exit codes (0 written and verified, 1 the image, its
//! bmap, the card or the command line is bad, 2 refused or could not do it).

use crate::project;
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rros_board::{Board, CmdlineDelivery};
use rros_flash::{
    BmapChoice, FlashOptions, Image, Phase, Progress, Refusal, SystemView, Target, check_cmdline,
    flash, inspect,
};
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct FlashArgs {
    /// The image: .wic, .wic.bz2, .wic.gz or .wic.zst (the compression is recognised by content).
    pub image: PathBuf,
    /// The whole SD card (e.g. /dev/sdb, /dev/mmcblk0, /dev/disk/by-id/…), or a regular file to
    /// write a copy to.
    pub device: PathBuf,
    /// The block map. Default: the .bmap beside the image (x.wic.bmap for x.wic.bz2), if any.
    #[arg(long, value_name = "FILE", conflicts_with = "no_bmap")]
    pub bmap: Option<PathBuf>,
    /// Ignore any bmap: write every byte (slower); the read-back compares a SHA-256 of it all.
    #[arg(long)]
    pub no_bmap: bool,
    /// After writing, check that the boot partition's kernel command line carries this board's
    /// isolation parameters (a board name such as rpi4, or a profile path).
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Write a disk that does not look removable (an internal eMMC, a reader reporting
    /// removable=0, a loop device). Waives nothing else: mounted, root, too small stay refused.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &FlashArgs, root: Option<&Path>) -> Result<ExitCode> {
    let board = args
        .board
        .as_deref()
        .map(|b| load_board(b, root))
        .transpose()?;
    if let Some(board) = &board
        && board.cmdline_delivery == CmdlineDelivery::Qemu
    {
        bail!(
            "--board {}: its kernel command line is given to QEMU, not baked into an image, so there is nothing to check on a card; leave out --board",
            board.name
        );
    }
    let choice = match (&args.bmap, args.no_bmap) {
        (Some(path), _) => BmapChoice::File(path.clone()),
        (None, true) => BmapChoice::Ignore,
        (None, false) => BmapChoice::Auto,
    };
    let mut image = match Image::open(&args.image, &choice) {
        Ok(image) => image,
        Err(err) => return Ok(failed(&err)),
    };
    let view = SystemView::host();
    let target = match inspect(&args.device, &view) {
        Ok(target) => target,
        Err(err) => return Ok(failed(&err)),
    };
    let mut progress = Bar::new();
    if matches!(target, Target::Block(_)) && image.size().is_none() {
        eprintln!(
            "rros: no bmap: decompressing {} once to learn its size (a .bmap beside the image saves this pass)",
            args.image.display()
        );
        if let Err(err) = image.measure(&mut progress) {
            progress.done();
            return Ok(failed(&err));
        }
        progress.done();
    }

    let mut others = vec![args.image.as_path()];
    if let Some(map) = &image.bmap {
        others.push(&map.path);
    }
    let (waived, refused): (Vec<Refusal>, Vec<Refusal>) = target
        .refusals(image.size(), &others)
        .into_iter()
        .partition(|r| args.force && r.waived_by_force());
    if !refused.is_empty() {
        eprintln!("rros: refusing to write {}:", args.device.display());
        for r in &refused {
            eprintln!("  - {r}");
        }
        return Ok(ExitCode::from(2));
    }
    for r in &waived {
        if let Refusal::NotRemovable { transport } = r {
            eprintln!(
                "rros: --force: {} does not look removable ({transport}); writing it anyway",
                args.device.display()
            );
        }
    }

    eprintln!("image   {}", describe_image(&image));
    let needs_confirmation = match &target {
        Target::Block(b) => {
            eprintln!("target  {} — {}", args.device.display(), b.describe());
            true
        }
        Target::File(f) => {
            let what = match f.existing_len {
                Some(len) => format!("existing file of {len} bytes, replaced"),
                None => "new file".to_owned(),
            };
            eprintln!("target  {} ({what})", args.device.display());
            f.existing_len.is_some_and(|len| len > 0)
        }
    };
    if needs_confirmation && !args.yes && !confirm(&args.device)? {
        return Ok(ExitCode::from(2));
    }

    let options = FlashOptions {
        force: args.force,
        view,
    };
    let outcome = flash(&mut image, &args.device, &options, &mut progress);
    progress.done();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => return Ok(failed(&err)),
    };
    let what = match &outcome.bmap {
        Some(_) => format!(
            "{} mapped in {} ranges",
            size(outcome.written),
            outcome.ranges
        ),
        None => format!("all {}", size(outcome.written)),
    };
    println!(
        "wrote {what} of {} to {}: each range checked as written and read back ({})",
        args.image.display(),
        args.device.display(),
        outcome.readback
    );
    if let Some(sha) = &outcome.sha256 {
        println!("sha256 {sha}");
    }

    let Some(board) = board else {
        return Ok(ExitCode::SUCCESS);
    };
    match check_cmdline(&args.device, &board) {
        Ok(check) => {
            let place = format!("partition {}, {}", check.found.partition, check.found.file);
            if check.ok() {
                println!(
                    "kernel command line ({place}) carries every isolation parameter of {}",
                    board.name
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "rros: the kernel command line ({place}) does not match board {}:",
                    board.name
                );
                for m in &check.mismatches {
                    eprintln!("  - {m}");
                }
                eprintln!("  found: {}", check.found.cmdline);
                eprintln!(
                    "  the image was built for another profile, or the profile changed since: run `rros board render` and rebuild the image"
                );
                Ok(ExitCode::from(1))
            }
        }
        Err(err) => {
            eprintln!("rros: {err}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Prints the error; exit 1 when the image, bmap or card is bad, 2 when it could not be done.
fn failed(err: &rros_flash::Error) -> ExitCode {
    eprintln!("rros: {err}");
    ExitCode::from(if err.is_verification_failure() { 1 } else { 2 })
}

fn describe_image(image: &Image) -> String {
    let mut out = format!("{} ({}", image.path.display(), image.compression);
    if let Some(s) = image.size() {
        out.push_str(&format!(", {}", size(s)));
    }
    match &image.bmap {
        Some(map) => out.push_str(&format!(
            "; bmap {} {}: {} mapped in {} ranges)",
            map.version,
            map.path.display(),
            size(map.mapped_bytes),
            map.range_count()
        )),
        None => out.push_str("; no bmap: every byte is written)"),
    }
    out
}

fn size(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}

/// Asks on the terminal; `false` (and why) when the answer is not `yes` or there is no terminal.
fn confirm(device: &Path) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!(
            "rros: not written: no terminal to confirm on; pass --yes to write {} without asking",
            device.display()
        );
        return Ok(false);
    }
    eprint!(
        "Everything on {} will be overwritten. Type yes to continue: ",
        device.display()
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if answer.trim() == "yes" {
        Ok(true)
    } else {
        eprintln!("rros: not written");
        Ok(false)
    }
}

/// A board name under `board/`, or a profile path.
fn load_board(board: &str, root: Option<&Path>) -> Result<Board> {
    let path = if board.contains('/') || board.ends_with(".toml") {
        PathBuf::from(board)
    } else {
        let path = project::root(root)?
            .join("board")
            .join(format!("{board}.toml"));
        if !path.is_file() {
            bail!(
                "--board {board}: no {} (give a board name from `rros board list` or a profile path)",
                path.display()
            );
        }
        path
    };
    Ok(rros_board::load_board(&path)?.0)
}

/// Progress bars on a terminal; one line per phase otherwise.
struct Bar {
    tty: bool,
    bar: Option<ProgressBar>,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            tty: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Progress for Bar {
    fn phase(&mut self, phase: Phase, total: u64) {
        self.done();
        let what = match phase {
            Phase::Measure => "decompressing",
            Phase::Write => "writing",
            Phase::Verify => "reading back",
        };
        if !self.tty {
            if phase == Phase::Measure {
                eprintln!("rros: {what} {} of compressed image", size(total));
            } else if total > 0 {
                eprintln!("rros: {what} {}", size(total));
            } else {
                eprintln!("rros: {what}");
            }
            return;
        }
        let bar = if total > 0 {
            ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:>12} [{bar:32}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            )
        } else {
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template(
                    "{msg:>12} {spinner} {binary_bytes} {binary_bytes_per_sec}",
                )
                .expect("valid template"),
            )
        };
        bar.set_message(what);
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
}
