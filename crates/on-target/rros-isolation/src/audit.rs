//! The audit's result types and the entry point.

use crate::kernel::{self, KernelInfo};
use crate::rules::{self, Ctx};
use crate::sysroot::{Access, AuditError, Sysroot};
use rros_board::Board;
use serde::{Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Severity and finding are the contract's: the audit's findings go into `report.json` as
/// they are.
pub use rros_contract::{Finding, Severity};

/// The result of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Findings {
        findings: Vec<Finding>,
    },
    /// The rule does not apply here, or what it reads is optional and absent (no cpufreq in a
    /// VM, debugfs not mounted): nothing was checked.
    Skipped {
        reason: String,
    },
}

/// One rule's check; every rule produces one, also when it passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub rule: &'static str,
    pub title: &'static str,
    pub outcome: Outcome,
}

impl Check {
    pub fn findings(&self) -> &[Finding] {
        match &self.outcome {
            Outcome::Findings { findings } => findings,
            _ => &[],
        }
    }
}

/// A rule of the audit: a stable id and a one-line title (a JUnit testcase name).
#[derive(Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
    pub(crate) run: rules::RuleFn,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("title", &self.title)
            .finish()
    }
}

/// Every rule, in the order the audit runs and reports them.
pub const RULES: &[Rule] = rules::RULES;

/// The audit of one system against one board profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// The profile's board name.
    pub board: String,
    pub kernel: KernelInfo,
    /// One per rule of [`RULES`], in that order.
    pub checks: Vec<Check>,
}

impl Audit {
    /// Every finding of every check, in rule order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.checks.iter().flat_map(Check::findings)
    }

    /// True when a finding is an [`Severity::Error`]: the audit exits 1.
    pub fn breaks_profile(&self) -> bool {
        self.findings().any(|f| f.severity == Severity::Error)
    }

    /// The check of one rule.
    pub fn check(&self, rule: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.rule == rule)
    }
}

/// JSON: `board`, `kernel`, `breaks_profile`, `findings` (flat, as `report.json`'s
/// `audit.findings[]` wants them) and `checks` (every rule with its `status`).
impl Serialize for Audit {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            board: &'a str,
            kernel: &'a KernelInfo,
            breaks_profile: bool,
            findings: Vec<&'a Finding>,
            checks: &'a [Check],
        }
        View {
            board: &self.board,
            kernel: &self.kernel,
            breaks_profile: self.breaks_profile(),
            findings: self.findings().collect(),
            checks: &self.checks,
        }
        .serialize(serializer)
    }
}

/// Audits the system whose `/proc` and `/sys` are under `sysroot` (`/` for the live system)
/// against `board`.
///
/// Fails only when something the audit cannot do without is unreadable or unparseable
/// (`/proc/cmdline`, `/sys/devices/system/cpu/isolated`, …); an optional file that is absent
/// makes its rule [`Outcome::Skipped`].
pub fn audit(board: &Board, sysroot: &Path) -> Result<Audit, AuditError> {
    audit_in(board, Sysroot::new(sysroot))
}

/// [`audit`], with the reader recording every path the audit asks for: what the tests hold
/// against [`crate::AUDIT_FILES`], the list `scripts/capture-sysroot` copies.
pub fn audit_recorded(board: &Board, sysroot: &Path) -> (Result<Audit, AuditError>, Vec<Access>) {
    let record = Arc::new(Mutex::new(BTreeSet::new()));
    let audit = audit_in(board, Sysroot::recording(sysroot, Arc::clone(&record)));
    let accesses = record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();
    (audit, accesses)
}

fn audit_in(board: &Board, root: Sysroot) -> Result<Audit, AuditError> {
    let kernel = kernel::read_kernel(&root)?;
    let ctx = Ctx::new(board, root, &kernel)?;
    let mut checks = Vec::with_capacity(RULES.len());
    for rule in RULES {
        let mut out = rules::Out::new(rule.id);
        (rule.run)(&ctx, &mut out)?;
        checks.push(Check {
            rule: rule.id,
            title: rule.title,
            outcome: out.outcome(),
        });
    }
    Ok(Audit {
        board: board.name.clone(),
        kernel,
        checks,
    })
}
