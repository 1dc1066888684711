//! Helpers shared by the integration tests: fixtures, board profiles, scratch copies.
#![allow(dead_code)]

use rros_board::Board;
use rros_isolation::{Audit, Finding, Outcome};
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A shipped board profile (`board/<name>.toml` of the project).
pub fn board(name: &str) -> Board {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../board")
        .join(format!("{name}.toml"));
    rros_board::load_board(&path)
        .unwrap_or_else(|err| panic!("{err}"))
        .0
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A writable copy of a fixture.
pub struct Scratch {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Scratch {
    pub fn of(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sysroot");
        copy_tree(&fixture(name), &root);
        Self { _dir: dir, root }
    }

    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }

    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.root.join(rel);
        if path.is_dir() {
            std::fs::remove_dir_all(path).unwrap();
        } else {
            std::fs::remove_file(path).unwrap();
        }
        self
    }

    pub fn audit(&self, board: &Board) -> Audit {
        rros_isolation::audit(board, &self.root).unwrap_or_else(|err| panic!("{err}"))
    }
}

pub fn audit(board: &Board, fixture_name: &str) -> Audit {
    rros_isolation::audit(board, &fixture(fixture_name)).unwrap_or_else(|err| panic!("{err}"))
}

/// The findings, for failure messages.
pub fn dump(audit: &Audit) -> String {
    audit
        .findings()
        .map(|f| format!("{f}\n"))
        .collect::<String>()
}

/// The rules that reported a finding.
pub fn rules_with_findings(audit: &Audit) -> Vec<&'static str> {
    audit
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Findings { .. }))
        .map(|c| c.rule)
        .collect()
}

/// Asserts that the audit has exactly this one finding.
pub fn assert_only(audit: &Audit, expected: &Finding) {
    let findings: Vec<&Finding> = audit.findings().collect();
    assert_eq!(
        findings,
        vec![expected],
        "expected exactly one finding; got:\n{}",
        dump(audit)
    );
}
