//! The live side of CPU isolation: [`audit`] compares a running system (or a captured tree of
//! its `/proc` and `/sys`) with a board profile and says, rule by rule, what is wrong, with
//! the evidence read and the exact fix; [`apply`] performs the runtime part of the isolation
//! that the boot service (`rros-tune.service`) owns: cpufreq governor, IRQ affinity, the
//! default IRQ mask, the unbound-workqueue cpumask and the fair server on isolated CPUs.
//!
//! The boot-time part (kernel command line, sysctl.d) is rendered by `rros-board`; this crate
//! only checks that it arrived. Every rule and what it reads is described in `docs/audit.md`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (board, _warnings) = rros_board::load_board("/etc/rros/board.toml".as_ref())?;
//! let audit = rros_isolation::audit(&board, "/".as_ref())?;
//! for finding in audit.findings() {
//!     println!("{finding}");
//! }
//! std::process::exit(if audit.breaks_profile() { 1 } else { 0 });
//! # }
//! ```
//!
//! Nothing here prints: callers decide what the user sees.

mod apply;
mod audit;
mod kernel;
pub mod parse;
mod rules;
mod sysroot;

pub use apply::{Action, ActionOutcome, STEPS, Step, apply};
pub use audit::{Audit, Check, Finding, Outcome, RULES, Rule, Severity, audit, audit_recorded};
pub use kernel::{KernelInfo, RealtimeCore};
pub use sysroot::{
    AUDIT_FILES, Access, ApplyError, AuditError, Capture, SysrootError, audit_file_list,
};
