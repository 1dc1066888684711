//! Did every fragment value stick? The tree's own Kconfig decides, this module explains.
//!
//! [`check`](crate::check) reasons about fragments by name; only the kernel's Kconfig knows what
//! a merged `.config` really holds. [`resolve`] therefore runs the tree's own tools — `make
//! <defconfig>`, the fragments applied in order (as `merge_config.sh` applies them: a later
//! line replaces an earlier one), `make olddefconfig` — and [`stick`] compares every value the
//! fragments ask for with the final `.config`. Each value that did not stick is explained from
//! the tree's Kconfig files, evaluated against the final `.config` (which assigns every
//! visible symbol, so nothing is unknown any more):
//!
//! * a dependency that is not met, with the symbols in it that are off;
//! * a `select` from a symbol that is on (a fragment cannot switch a selected symbol off);
//! * another member of the same `choice` chosen instead;
//! * a symbol the tree does not define.
//!
//! A dependency is followed down to the symbols that are off by themselves (their own
//! dependencies hold). When every such root cause is a toolchain probe — `HAS_RUST`, which is
//! `$(success,$(RUSTC) --version)` and so `n` without the RROS Rust toolchain — the drop is
//! classified as [`DropKind::NeedsToolchain`], not as a mismatch.

use crate::expr::{Expr, Lookup, Tristate};
use crate::fragment::{Fragment, Value};
use crate::tree::KconfigTree;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Symbols that are `n` only because a toolchain is missing from the build host.
pub const TOOLCHAIN_SYMBOLS: &[&str] = &["HAS_RUST", "RUST_IS_AVAILABLE"];

/// A `.config` as Kconfig wrote it: every symbol it mentions, with its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DotConfig {
    values: BTreeMap<String, Value>,
}

impl DotConfig {
    pub fn parse(text: &str) -> Self {
        let fragment = Fragment::parse(Path::new(".config"), text);
        DotConfig {
            values: fragment
                .assignments
                .into_iter()
                .map(|a| (a.symbol, a.value))
                .collect(),
        }
    }

    pub fn load(path: &Path) -> std::io::Result<Self> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    /// The symbol's value; a symbol the `.config` does not mention is off (`n`).
    pub fn value(&self, symbol: &str) -> Value {
        self.values.get(symbol).cloned().unwrap_or(Value::No)
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Lookup for DotConfig {
    fn tristate(&self, symbol: &str) -> Tristate {
        match self.value(symbol) {
            Value::Yes => Tristate::Yes,
            Value::Module => Tristate::Mod,
            Value::No => Tristate::No,
            _ => Tristate::Unknown,
        }
    }

    fn raw(&self, symbol: &str) -> Option<String> {
        Some(self.value(symbol).raw())
    }
}

/// Why a value did not stick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The tree has no such symbol (`merge_config.sh` drops it silently).
    NotDefined,
    /// A dependency does not hold: the expression, and the symbols in it that are off.
    Dependency { expr: String, off: Vec<String> },
    /// Symbols that are on select it.
    SelectedBy(Vec<String>),
    /// Another member of its choice was chosen.
    ChoiceTakenBy(String),
    /// Kconfig changed it for a reason not found above (no prompt, a range, a default).
    Other,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::NotDefined => write!(f, "the tree does not define it"),
            Cause::Dependency { expr, off } if off.is_empty() => {
                write!(f, "its dependency `{expr}` does not hold")
            }
            Cause::Dependency { expr, off } => write!(
                f,
                "its dependency `{expr}` does not hold ({} off)",
                off.join(", ")
            ),
            Cause::SelectedBy(by) => write!(f, "selected by {}", by.join(", ")),
            Cause::ChoiceTakenBy(other) => write!(f, "its choice has {other} selected instead"),
            Cause::Other => write!(
                f,
                "Kconfig did not keep it, with its dependencies met (a symbol without a prompt, a range or a default)"
            ),
        }
    }
}

/// Whether a drop is a real mismatch or only a missing host toolchain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropKind {
    Mismatch,
    /// Everything that switched it off traces back to [`TOOLCHAIN_SYMBOLS`].
    NeedsToolchain,
}

/// A fragment value the final `.config` does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub fragment: PathBuf,
    pub line: usize,
    pub symbol: String,
    pub wanted: Value,
    pub got: Value,
    pub cause: Cause,
    /// The symbols that are off by themselves at the bottom of the cause (for a dependency).
    pub roots: Vec<String>,
    pub kind: DropKind,
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: CONFIG_{}: wanted {}, got {}: {}",
            self.fragment.display(),
            self.line,
            self.symbol,
            self.wanted.raw(),
            self.got.raw(),
            self.cause
        )?;
        if !self.roots.is_empty() && self.cause != Cause::NotDefined {
            write!(f, "; root cause: {} off", self.roots.join(", "))?;
        }
        if self.kind == DropKind::NeedsToolchain {
            write!(f, " (needs the RROS toolchain)")?;
        }
        Ok(())
    }
}

/// Compares what the fragments ask for (the last assignment of each symbol wins) with the
/// final `.config`, and explains every difference from the tree.
pub fn stick(tree: &KconfigTree, fragments: &[Fragment], config: &DotConfig) -> Vec<Drop> {
    let mut wanted: BTreeMap<&str, (&Path, usize, &Value)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for fragment in fragments {
        for a in &fragment.assignments {
            if wanted
                .insert(&a.symbol, (&fragment.path, a.line, &a.value))
                .is_none()
            {
                order.push(&a.symbol);
            }
        }
    }
    let mut drops = Vec::new();
    for symbol in order {
        let (path, line, value) = wanted[symbol];
        let got = config.value(symbol);
        if same(value, &got) {
            continue;
        }
        let cause = explain(tree, config, symbol, value);
        let roots = match &cause {
            Cause::Dependency { off, .. } => root_causes(tree, config, off),
            _ => Vec::new(),
        };
        let kind = if !roots.is_empty() && roots.iter().all(|r| TOOLCHAIN_SYMBOLS.contains(&&**r)) {
            DropKind::NeedsToolchain
        } else {
            DropKind::Mismatch
        };
        drops.push(Drop {
            fragment: path.to_path_buf(),
            line,
            symbol: symbol.to_owned(),
            wanted: value.clone(),
            got,
            cause,
            roots,
            kind,
        });
    }
    drops
}

/// `CONFIG_X=0x10` and `CONFIG_X=16` are different spellings Kconfig keeps as written, so
/// values compare as text, except that `n` and "absent" are the same.
fn same(wanted: &Value, got: &Value) -> bool {
    wanted == got || (wanted.raw() == got.raw())
}

fn explain(tree: &KconfigTree, config: &DotConfig, symbol: &str, wanted: &Value) -> Cause {
    let definitions = tree.definitions(symbol);
    if definitions.is_empty() {
        return Cause::NotDefined;
    }
    if *wanted == Value::No {
        let by = selectors(tree, config, symbol);
        if !by.is_empty() {
            return Cause::SelectedBy(by);
        }
        return Cause::Other;
    }
    // Kconfig ORs the definitions' visibility: the value is possible when any one of them has
    // every dependency met. Blame the first failing dependency of the first definition.
    let failing: Vec<&Expr> = definitions
        .iter()
        .map(|d| {
            d.depends
                .iter()
                .find(|e| insufficient(e.eval(config), wanted))
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    if let Some(expr) = failing.first() {
        let off: Vec<String> = expr
            .symbols()
            .into_iter()
            .filter(|s| config.tristate(s) == Tristate::No)
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        return Cause::Dependency {
            expr: expr.to_string(),
            off,
        };
    }
    for definition in definitions {
        if let Some(choice) = definition.choice
            && let Some(other) = tree
                .choice_members(choice)
                .find(|m| m.name != symbol && config.tristate(&m.name) == Tristate::Yes)
        {
            return Cause::ChoiceTakenBy(other.name.clone());
        }
    }
    Cause::Other
}

/// Whether a dependency's value keeps the symbol from `wanted` (`m` allows `m` but not `y`).
fn insufficient(dep: Tristate, wanted: &Value) -> bool {
    match dep {
        Tristate::No => true,
        Tristate::Mod => *wanted == Value::Yes,
        _ => false,
    }
}

/// Symbols that are on and select `symbol` (with their `if` condition met).
fn selectors(tree: &KconfigTree, config: &DotConfig, symbol: &str) -> Vec<String> {
    let mut by = BTreeSet::new();
    for definition in tree.all_definitions() {
        if config.tristate(&definition.name) == Tristate::No
            || config.tristate(&definition.name) == Tristate::Unknown
        {
            continue;
        }
        for select in &definition.selects {
            if select.implied || select.target != symbol {
                continue;
            }
            let condition = select
                .condition
                .as_ref()
                .map_or(Tristate::Yes, |c| c.eval(config));
            if condition != Tristate::No {
                by.insert(definition.name.clone());
            }
        }
    }
    by.into_iter().collect()
}

/// Follows symbols that are off down to those that are off by themselves (every dependency of
/// theirs holds, or they are not defined at all).
fn root_causes(tree: &KconfigTree, config: &DotConfig, off: &[String]) -> Vec<String> {
    let mut roots = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = off.to_vec();
    while let Some(symbol) = stack.pop() {
        if !seen.insert(symbol.clone()) || seen.len() > 10_000 {
            continue;
        }
        match explain(tree, config, &symbol, &Value::Yes) {
            Cause::Dependency { off, .. } if !off.is_empty() => stack.extend(off),
            _ => {
                roots.insert(symbol);
            }
        }
    }
    roots.into_iter().collect()
}

/// How to run the tree's own Kconfig.
#[derive(Debug, Clone)]
pub struct Resolve {
    /// The kernel source tree (top-level Makefile and Kconfig).
    pub tree: PathBuf,
    /// `ARCH=` (`x86_64`, `arm64`).
    pub arch: String,
    /// The defconfig target (`x86_64_defconfig`, `rros_defconfig`).
    pub defconfig: String,
    /// Fragments, in merge order.
    pub fragments: Vec<PathBuf>,
    /// The output directory (`O=`); the final `.config` is there.
    pub out: PathBuf,
    /// More `make` variables (`CC=gcc-11`, `CROSS_COMPILE=aarch64-linux-gnu-`).
    pub make_vars: Vec<String>,
}

/// The merged configuration and what did not stick.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub config_path: PathBuf,
    pub config: DotConfig,
    pub drops: Vec<Drop>,
}

impl Resolution {
    /// Drops that are real mismatches (not [`DropKind::NeedsToolchain`]).
    pub fn mismatches(&self) -> impl Iterator<Item = &Drop> {
        self.drops.iter().filter(|d| d.kind == DropKind::Mismatch)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Fragment(#[from] crate::fragment::FragmentError),
    #[error(transparent)]
    Tree(#[from] crate::tree::TreeError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{fragment}:{line}: {message}: fix the line (`CONFIG_X=y` or `# CONFIG_X is not set`)")]
    Malformed {
        fragment: PathBuf,
        line: usize,
        message: String,
    },
    #[error("`{command}` failed in {tree}:\n{output}")]
    Make {
        command: String,
        tree: PathBuf,
        output: String,
    },
}

impl Resolve {
    /// `make ARCH=… O=… <defconfig>`, the fragments applied in order, `make olddefconfig`,
    /// then [`stick`] against the tree's Kconfig files (this architecture only).
    pub fn run(&self) -> Result<Resolution, ResolveError> {
        let fragments = self
            .fragments
            .iter()
            .map(|p| Fragment::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        for fragment in &fragments {
            if let Some(issue) = fragment.issues.first() {
                return Err(ResolveError::Malformed {
                    fragment: fragment.path.clone(),
                    line: issue.line,
                    message: issue.message.clone(),
                });
            }
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ResolveError::Io { path, source }
        };
        std::fs::create_dir_all(&self.out).map_err(io(&self.out))?;
        self.make(&self.defconfig)?;
        let config_path = self.out.join(".config");
        let base = std::fs::read_to_string(&config_path).map_err(io(&config_path))?;
        std::fs::write(&config_path, merge(&base, &fragments)).map_err(io(&config_path))?;
        self.make("olddefconfig")?;
        let config = DotConfig::load(&config_path).map_err(io(&config_path))?;
        let tree = KconfigTree::load_with(
            &self.tree,
            &crate::tree::LoadOptions {
                arch: Some(kconfig_arch(&self.arch).to_owned()),
            },
        )?;
        let drops = stick(&tree, &fragments, &config);
        Ok(Resolution {
            config_path,
            config,
            drops,
        })
    }

    fn make(&self, target: &str) -> Result<(), ResolveError> {
        let mut cmd = Command::new("make");
        cmd.arg("-C")
            .arg(&self.tree)
            .arg(format!("O={}", self.out.display()))
            .arg(format!("ARCH={}", self.arch))
            .args(&self.make_vars)
            .arg(target);
        let shown = format!(
            "make ARCH={} O={} {}{}",
            self.arch,
            self.out.display(),
            self.make_vars
                .iter()
                .map(|v| format!("{v} "))
                .collect::<String>(),
            target
        );
        let output = cmd.output().map_err(|e| ResolveError::Make {
            command: shown.clone(),
            tree: self.tree.clone(),
            output: format!("cannot run make: {e} (apt-get install make gcc flex bison)"),
        })?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        Err(ResolveError::Make {
            command: shown,
            tree: self.tree.clone(),
            output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        })
    }
}

/// The directory below `arch/` for an `ARCH=` value (`x86_64` and `i386` live in `arch/x86`).
pub fn kconfig_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "i386" => "x86",
        other => other,
    }
}

/// Applies fragments to a `.config` as `merge_config.sh` does: each fragment line replaces
/// every line of the same symbol, and goes at the end.
pub fn merge(base: &str, fragments: &[Fragment]) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
    for fragment in fragments {
        for a in &fragment.assignments {
            let set = format!("CONFIG_{}=", a.symbol);
            let unset = format!("# CONFIG_{} is not set", a.symbol);
            lines.retain(|l| !(l.starts_with(&set) || l.trim_end() == unset));
            lines.push(a.spelled());
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KCONFIG: &str = r#"
config HAS_RUST
	def_bool $(success,rustc --version)

config RUST
	bool "Rust support"
	depends on HAS_RUST

config RROS
	bool "The RROS core"
	depends on RUST

config PCI
	bool "PCI"

config NET
	bool "Networking"

config VIRTIO_PCI
	bool "virtio over PCI"
	depends on PCI && NET

config FTRACE
	bool "Tracing"

config EVL
	bool "EVL"
	select FTRACE

choice
	prompt "Timer frequency"
	default HZ_250

config HZ_250
	bool "250 Hz"

config HZ_1000
	bool "1000 Hz"
	depends on !NET

endchoice
"#;

    fn tree() -> KconfigTree {
        KconfigTree::from_sources([("Kconfig", KCONFIG)])
    }

    fn fragment(text: &str) -> Fragment {
        Fragment::parse(Path::new("board.cfg"), text)
    }

    #[test]
    fn a_value_dropped_by_a_dependency_names_the_symbol_that_is_off() {
        // What Kconfig writes when PCI is off: VIRTIO_PCI cannot be y.
        let config = DotConfig::parse("CONFIG_NET=y\n# CONFIG_PCI is not set\n");
        let drops = stick(&tree(), &[fragment("CONFIG_VIRTIO_PCI=y\n")], &config);
        assert_eq!(drops.len(), 1, "{drops:?}");
        let d = &drops[0];
        assert_eq!((d.symbol.as_str(), d.line), ("VIRTIO_PCI", 1));
        assert_eq!(d.got, Value::No);
        assert_eq!(
            d.cause,
            Cause::Dependency {
                expr: "PCI && NET".into(),
                off: vec!["PCI".into()]
            }
        );
        assert_eq!(d.kind, DropKind::Mismatch);
        let text = d.to_string();
        assert!(
            text.starts_with("board.cfg:1: CONFIG_VIRTIO_PCI: wanted y, got n"),
            "{text}"
        );
        assert!(text.contains("PCI off"), "{text}");
    }

    #[test]
    fn values_that_stick_are_not_reported() {
        let config = DotConfig::parse("CONFIG_NET=y\nCONFIG_PCI=y\nCONFIG_VIRTIO_PCI=y\n");
        let drops = stick(
            &tree(),
            &[fragment(
                "CONFIG_VIRTIO_PCI=y\n# CONFIG_FTRACE is not set\n",
            )],
            &config,
        );
        assert!(drops.is_empty(), "{drops:?}");
    }

    #[test]
    fn a_selected_symbol_cannot_be_switched_off() {
        let config = DotConfig::parse("CONFIG_EVL=y\nCONFIG_FTRACE=y\n");
        let drops = stick(
            &tree(),
            &[fragment("CONFIG_EVL=y\n# CONFIG_FTRACE is not set\n")],
            &config,
        );
        assert_eq!(drops.len(), 1, "{drops:?}");
        assert_eq!(drops[0].symbol, "FTRACE");
        assert_eq!(drops[0].line, 2);
        assert_eq!(drops[0].cause, Cause::SelectedBy(vec!["EVL".into()]));
        assert!(drops[0].to_string().contains("selected by EVL"));
    }

    #[test]
    fn a_choice_member_loses_to_the_one_chosen() {
        // HZ_1000 is visible (NET off) but the merged config chose HZ_250.
        let config = DotConfig::parse("# CONFIG_NET is not set\nCONFIG_HZ_250=y\n");
        let drops = stick(&tree(), &[fragment("CONFIG_HZ_1000=y\n")], &config);
        assert_eq!(drops[0].cause, Cause::ChoiceTakenBy("HZ_250".into()));
        // With NET on, the member's own dependency is the reason, not the choice.
        let config = DotConfig::parse("CONFIG_NET=y\nCONFIG_HZ_250=y\n");
        let drops = stick(&tree(), &[fragment("CONFIG_HZ_1000=y\n")], &config);
        assert!(
            matches!(&drops[0].cause, Cause::Dependency { expr, .. } if expr == "!NET"),
            "{drops:?}"
        );
    }

    #[test]
    fn has_rust_alone_is_the_toolchain_not_a_mismatch() {
        let config = DotConfig::parse("# CONFIG_PCI is not set\n");
        let drops = stick(
            &tree(),
            &[fragment("CONFIG_RROS=y\nCONFIG_VIRTIO_PCI=y\n")],
            &config,
        );
        assert_eq!(drops.len(), 2);
        assert_eq!(drops[0].symbol, "RROS");
        assert_eq!(drops[0].roots, vec!["HAS_RUST".to_string()]);
        assert_eq!(drops[0].kind, DropKind::NeedsToolchain);
        assert!(drops[0].to_string().ends_with("(needs the RROS toolchain)"));
        assert_eq!(drops[1].kind, DropKind::Mismatch);
    }

    #[test]
    fn an_undefined_symbol_is_reported() {
        let drops = stick(
            &tree(),
            &[fragment("CONFIG_NO_SUCH=y\n")],
            &DotConfig::default(),
        );
        assert_eq!(drops[0].cause, Cause::NotDefined);
    }

    #[test]
    fn the_last_assignment_wins_and_merge_replaces_lines() {
        let a = fragment("CONFIG_PCI=y\nCONFIG_NET=y\n");
        let b = Fragment::parse(Path::new("b.cfg"), "# CONFIG_PCI is not set\n");
        let merged = merge(
            "CONFIG_PCI=y\n# CONFIG_NET is not set\nCONFIG_EVL=y\n",
            &[a, b.clone()],
        );
        assert_eq!(
            merged,
            "CONFIG_EVL=y\nCONFIG_NET=y\n# CONFIG_PCI is not set\n"
        );
        let config = DotConfig::parse(&merged);
        let drops = stick(&tree(), &[fragment("CONFIG_PCI=y\n"), b], &config);
        assert!(drops.is_empty(), "{drops:?}");
    }
}
