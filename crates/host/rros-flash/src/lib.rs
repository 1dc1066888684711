//! Safe, verified writing of wic images to SD cards (and to regular files), for `rros flash`.
//!
//! The pieces, in the order `rros flash` uses them:
//!
//! 1. [`Image::open`] recognises the compression by content (`.wic`, `.wic.bz2`, `.wic.gz`,
//!    `.wic.zst`), finds the `.bmap` beside the image and checks it: its own file checksum,
//!    its structure, and that it fits the image.
//! 2. [`inspect`] looks at the target through a [`SystemView`] (sysfs, mountinfo, swaps — a
//!    fake tree in tests) and [`Target::refusals`] lists every reason not to write it: mounted,
//!    holds `/`, in use by device-mapper, a partition instead of a disk, read-only, too small,
//!    not removable (the only one `--force` waives).
//! 3. [`flash`] checks again, opens a block device with `O_EXCL` (a file target: a temporary
//!    file beside it), writes the mapped ranges (or everything without a bmap) while hashing
//!    each range and comparing it with the bmap, syncs, drops the cache and reads every written
//!    range back to compare again. A file target is replaced only when all of that passed; a
//!    failure on a block device says the card holds a partial image ([`Error::Unfinished`]).
//! 4. [`check_cmdline`] reads the boot partition of what was written and checks that the kernel
//!    command line baked there carries the board profile's isolation parameters.
//!
//! Nothing here prints: progress goes through [`Progress`], results and refusals are values.

mod bmap;
mod bootcheck;
mod error;
mod image;
mod target;
mod write;

pub use bmap::LoadedBmap;
pub use bootcheck::{
    BootCmdline, CmdlineCheck, Mismatch, check_cmdline, compare_cmdline, read_boot_cmdline,
};
pub use error::{Error, Left, RangeMismatch, Stage};
pub use image::{BmapChoice, Compression, Image};
pub use target::{
    BlockTarget, DevId, FileTarget, Refusal, SystemView, Target, inspect, inspect_block,
};
pub use write::{FlashOptions, NoProgress, Outcome, Phase, Progress, Readback, flash};
