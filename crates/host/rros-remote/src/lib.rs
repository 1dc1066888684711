//! Reaching a board, and running programs, from a host: the plumbing under `rros accept` and
//! `rros vboard`.
//!
//! - [`process`]: any program run with a time bound, its output streamed line by line with a
//!   memory bound (the virtual board's `mmdebstrap`, `tar`, `mkfs.ext4`; `ssh` and `scp`).
//! - [`ssh`]: the system `ssh` and `scp`, non-interactive, one multiplexed connection per board
//!   session, and what ssh's complaints mean ([`ssh::Complaint`]: retry or not, and the hint).
//! - [`target`]: where a board is (`[user@]host[:port]`) and how to log in ([`Endpoint`]).
//!
//! It knows nothing of acceptance, verdicts or images: `rros-accept` and `rros-vboard` both
//! build on it, neither on the other for this.

pub mod process;
pub mod ssh;
pub mod target;

pub use process::{Captured, Stream, run_captured, run_streaming, sanitize};
pub use ssh::{Programs, Ssh};
pub use target::{Endpoint, Target, TargetError};
