//! The on-target contract of meta-rros: what `rros-validate` promises to every consumer.
//!
//! `rros accept` (host, over SSH), the OEQA case (testimage), LAVA's `rros-lava-report`, the
//! virtual-board tier and CI dashboards all read a validation run. Before this crate each had
//! its own idea of the report, the verdict line and the timeout; drift hid there. Now one
//! crate owns:
//!
//! - [`report`]: the versioned `report.json` types ([`Report`], [`Verdict`], [`Severity`],
//!   [`Finding`]), the verdict rules, and [`Report::from_json`], the one reader
//!   (tolerant of added fields, strict on the fields decisions are made with);
//! - [`analysis`]: a scenario's ranked causes (issue #16) and the one definition of a thin
//!   margin;
//! - [`claim`]: what a PASS must prove (a scenario's claim), the one zero-exceedance bound
//!   formula, and the INCONCLUSIVE verdict it leads to;
//! - [`compare`]: two runs' distributions compared per scenario (p50, p99, p99.9 with
//!   order-statistic intervals, max by exchangeability): REGRESSED / UNCHANGED / IMPROVED;
//! - [`verdict_line`]: `rros-validate: verdict=PASS run=<id> dir=<dir>` and its only parser;
//! - [`plan`]: the run plan (scenarios, durations) and the one timeout formula a consumer
//!   should allow a run;
//! - [`cases`]: the one mapping from a report to test cases, rendered as JUnit and LAVA
//!   result lines; [`render`] also holds the Markdown and terminal views of a report.
//!
//! It runs on the board (rros-validate links it), so it stays small: serde, serde_json,
//! thiserror and quick-junit.

pub mod analysis;
pub mod cases;
pub mod claim;
pub mod compare;
pub mod plan;
pub mod render;
pub mod report;
pub mod verdict_line;

pub use claim::{Claim, ClaimReport};
pub use report::{Finding, Report, Severity, Verdict};
pub use verdict_line::VerdictLine;

/// What can go wrong reading the contract's documents.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// Not JSON, or a field a decision is made with is missing or of the wrong type.
    #[error("{what} is not an {schema} document: {source}")]
    Json {
        what: String,
        schema: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A schema this reader does not know (another major version).
    #[error(
        "{what} has schema {found:?}; this reader knows {expected:?} (a newer rros-validate wrote it: update the reader)"
    )]
    Schema {
        what: String,
        found: String,
        expected: &'static str,
    },
    /// A line that is not a verdict line.
    #[error("not a verdict line ({why}): {line:?}")]
    VerdictLine { line: String, why: &'static str },
}
