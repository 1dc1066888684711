//! Kconfig tree reader and config-fragment checker.
//!
//! A kernel config fragment (`CONFIG_X=y`, `# CONFIG_X is not set`) only means something
//! against one kernel tree: a symbol that tree does not define is silently dropped by
//! `merge_config.sh`, and a symbol whose dependencies the fragment itself switches off never
//! reaches the final `.config` either. This crate finds both before a multi-hour build does.
//!
//! * [`KconfigTree`] reads every `Kconfig*` file below a kernel source directory and records,
//!   per symbol, where it is defined, what it depends on (its own `depends on`, plus the
//!   enclosing `if`, `menu` and `choice` blocks) and what it selects.
//! * [`Fragment`] parses a fragment file.
//! * [`check`] reports fragment symbols the tree does not define, and warns where the
//!   fragments visibly contradict the tree: a symbol set while the fragments disable one of its
//!   dependencies, a selected symbol the fragments disable, two members of one choice set, a
//!   symbol set twice to different values.
//!
//! "Visibly" is meant literally: only symbols the fragments themselves assign take part in the
//! evaluation. Anything else is unknown, and an unknown never produces a warning.
//!
//! * [`Resolve`] runs the tree's own Kconfig (`make <defconfig>`, the fragments, `make
//!   olddefconfig`) and [`stick`] lists every fragment value the final `.config` does not
//!   hold, with the symbol whose dependency, `select` or choice dropped it.
//!
//! Symbol names are case-sensitive, as in Kconfig: RROS's core is `CONFIG_Rros`, and
//! `CONFIG_RROS` is reported as unknown (with the spelling the tree uses as a hint).

mod check;
mod expr;
mod fragment;
mod parse;
mod read;
mod resolve;
mod tree;

pub use check::{Origin, Report, UnknownSymbol, Warning, WarningKind, check};
pub use expr::{CompareOp, Expr, Lookup, MAX_EXPR_DEPTH, Operand, TooDeep, Tristate};
pub use fragment::{Assignment, Fragment, FragmentError, FragmentIssue, Value};
pub use read::{MAX_FRAGMENT_BYTES, MAX_KCONFIG_FILE_BYTES, MAX_KCONFIG_TREE_BYTES};
pub use resolve::{
    Cause, DotConfig, Drop, DropKind, Resolution, Resolve, ResolveError, TOOLCHAIN_SYMBOLS,
    kconfig_arch, merge, stick,
};
pub use tree::{Definition, KconfigTree, LoadOptions, Select, SymbolKind, TreeError};
