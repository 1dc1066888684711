//! Acceptance of meta-rros boards from a host.
//!
//! `rros accept` (and `rros vboard run`) drive this: over the system `ssh`, run
//! `rros-validate run` on the board (the on-target contract in `docs/CONTRIBUTING.md`), follow
//! its output, tell a reboot or a lost link from a verdict, bring the run folder home with
//! `scp`, and write `junit.xml`, `summary.md` and `accept.json` for one board or a fleet.
//!
//! Verdicts: PASS and FAIL come only from the board's own verdict (its last stdout line, its
//! exit code and its `report.json` must agree); everything that prevents a verdict — an
//! unreachable board, a timeout, a reboot mid-run, a missing `rros-validate`, reports that did
//! not come home — is ERROR with a message that says what to do. Nothing here prints: progress
//! goes to an [`run::Observer`].
//!
//! The plumbing under it — bounded subprocess runs, the multiplexed `ssh`/`scp` session, what
//! ssh's complaints mean, SSH targets — is `rros-remote`'s, shared with `rros vboard`. The
//! contract with the board (report types, verdict line, timeout formula, test cases and their
//! JUnit rendering) is `rros-contract`'s.

pub mod baseline;
pub mod history;
pub mod report;
pub mod run;
pub mod target;
pub mod verdict;

pub use report::{
    BoardResult, ErrorKind, REPORT_FILES, ReportSummary, write_reports, write_reports_with,
};
pub use rros_remote::ssh::Programs;
pub use run::{
    Budget, Event, Observer, Options, Phase, Plan, PlanError, accept_board, accept_fleet,
};
pub use target::{Endpoint, Target, parse_targets_file};
pub use verdict::{Verdict, fleet_verdict};
