//! The docs' crate tables against `cargo metadata` of both workspaces.
//!
//! `docs/ARCHITECTURE.md` ("## Crates": crate, kind, job, depends on) and
//! `docs/CONTRIBUTING.md` ("## Layout and ownership": path, what) describe the crates of the
//! host workspace (root `Cargo.toml`, `crates/host/*`) and of the on-target one
//! (`crates/on-target/Cargo.toml`). Hand-written tables drift: a new crate goes unlisted, a new
//! path dependency never becomes an arrow. These tests read the truth from
//! `cargo metadata --format-version 1 --no-deps` of each manifest and fail naming the crate,
//! the doc, and the exact line to add or the arrow to fix.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The two workspaces' manifests, relative to the checkout.
const MANIFESTS: &[&str] = &["Cargo.toml", "crates/on-target/Cargo.toml"];

/// One crate as `cargo metadata` describes it.
#[derive(Debug)]
struct Crate {
    /// Its directory relative to the checkout, e.g. `crates/on-target/rros-board`.
    dir: String,
    /// `lib`, `bin`, `lib + bin`, or `tests` (a crate of tests only), as the ARCHITECTURE
    /// table writes it.
    kind: String,
    /// Project crates it depends on (normal and build dependencies, optional ones included;
    /// for a crate of tests only, its dev-dependencies).
    deps: BTreeSet<String>,
    /// Its `description` in Cargo.toml, the job a new row starts from.
    description: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

fn metadata(manifest: &str) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(root().join(manifest))
        .output()
        .unwrap_or_else(|err| panic!("cannot run {cargo} metadata: {err}"));
    assert!(
        out.status.success(),
        "cargo metadata --manifest-path {manifest} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Every crate of both workspaces, by package name.
fn crates() -> BTreeMap<String, Crate> {
    let root = root().canonicalize().expect("checkout root");
    let mut packages = Vec::new();
    for manifest in MANIFESTS {
        let meta = metadata(manifest);
        packages.extend(meta["packages"].as_array().expect("packages").clone());
    }
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    let mut crates = BTreeMap::new();
    for p in &packages {
        let manifest = Path::new(p["manifest_path"].as_str().expect("manifest_path"));
        let dir = manifest
            .parent()
            .expect("crate directory")
            .strip_prefix(&root)
            .expect("crate inside the checkout")
            .to_string_lossy()
            .into_owned();
        let kinds: BTreeSet<&str> = p["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .flat_map(|t| t["kind"].as_array().expect("kind").iter())
            .filter_map(Value::as_str)
            .collect();
        let all_deps = p["dependencies"].as_array().expect("dependencies");
        // A library with dev-dependencies only is a crate of tests whose lib holds just its
        // module doc (on-target-props): it is `tests` in the table too.
        let only_dev_deps =
            !all_deps.is_empty() && all_deps.iter().all(|d| d["kind"].as_str() == Some("dev"));
        let kind = match (kinds.contains("lib"), kinds.contains("bin")) {
            (true, true) => "lib + bin",
            (false, true) => "bin",
            (true, false) if only_dev_deps => "tests",
            (true, false) => "lib",
            (false, false) => "tests",
        };
        let deps = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| kind == "tests" || d["kind"].as_str() != Some("dev"))
            .filter_map(|d| d["name"].as_str())
            .filter(|name| names.contains(*name))
            .map(str::to_owned)
            .collect();
        crates.insert(
            p["name"].as_str().expect("name").to_owned(),
            Crate {
                dir,
                kind: kind.to_owned(),
                deps,
                description: p["description"]
                    .as_str()
                    .map(|d| d.trim().trim_end_matches('.').to_owned())
                    .unwrap_or_else(|| "<its job>".into()),
            },
        );
    }
    crates
}

/// The rows of the first table under `heading` in `doc`: cells without the outer pipes.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join(doc)).expect(doc);
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .skip_while(|l| !l.starts_with('|'));
    let mut rows = Vec::new();
    // Header and separator.
    lines.next();
    lines.next();
    for line in lines.take_while(|l| l.starts_with('|')) {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        rows.push(inner.split('|').map(|c| c.trim().to_owned()).collect());
    }
    assert!(!rows.is_empty(), "{doc} has no table under `{heading}`");
    rows
}

/// The `backticked` words of a cell.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// A word that names (or looks like it names) a crate of this project.
fn crate_like(word: &str) -> bool {
    word.starts_with("rros") || word.ends_with("-rs")
}

fn arrows(deps: &BTreeSet<String>) -> String {
    if deps.is_empty() {
        "—".into()
    } else {
        deps.iter()
            .map(|d| format!("`{d}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[test]
fn architecture_crate_table_matches_cargo_metadata() {
    const DOC: &str = "docs/ARCHITECTURE.md";
    let crates = crates();
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for row in table(DOC, "## Crates") {
        let [name_cell, kind, _job, depends] = &row[..] else {
            problems.push(format!(
                "{DOC}: the row `{}` needs 4 cells (crate, kind, job, depends on)",
                row.join(" | ")
            ));
            continue;
        };
        let Some(name) = ticked(name_cell).first().map(|s| s.to_string()) else {
            problems.push(format!("{DOC}: the row `{name_cell}` names no `crate`"));
            continue;
        };
        let Some(krate) = crates.get(&name) else {
            problems.push(format!(
                "{DOC}: `{name}` is in the crate table but in neither workspace (cargo metadata of {}); remove its row or fix the name",
                MANIFESTS.join(", ")
            ));
            continue;
        };
        listed.insert(name.clone());
        if *kind != krate.kind {
            problems.push(format!(
                "{DOC}: `{name}` is a {} (its targets), but its row says kind `{kind}`; write `{}`",
                krate.kind, krate.kind
            ));
        }
        let written: BTreeSet<String> = ticked(depends)
            .into_iter()
            .filter(|w| crate_like(w))
            .map(str::to_owned)
            .collect();
        for dep in krate.deps.difference(&written) {
            problems.push(format!(
                "{DOC}: `{name}` depends on `{dep}` ({}/Cargo.toml), but its row has no arrow to it; add `{dep}` to its \"depends on\" cell",
                krate.dir
            ));
        }
        for dep in written.difference(&krate.deps) {
            problems.push(format!(
                "{DOC}: `{name}`'s row names `{dep}` in \"depends on\", but {}/Cargo.toml has no dependency on it; remove it from that cell",
                krate.dir
            ));
        }
    }
    for (name, krate) in &crates {
        if !listed.contains(name) {
            problems.push(format!(
                "{DOC}: crate `{name}` ({}) has no row in the table under \"## Crates\"; add:\n    | `{name}` | {} | {} | {} |",
                krate.dir,
                krate.kind,
                krate.description,
                arrows(&krate.deps)
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn contributing_layout_lists_every_crate() {
    const DOC: &str = "docs/CONTRIBUTING.md";
    let crates = crates();
    let dirs: BTreeMap<&str, (&str, &Crate)> = crates
        .iter()
        .map(|(name, c)| (c.dir.as_str(), (name.as_str(), c)))
        .collect();
    let mut problems = Vec::new();
    let mut listed = BTreeSet::new();
    for row in table(DOC, "## Layout and ownership") {
        let Some(path) = row
            .first()
            .and_then(|c| ticked(c).first().map(|s| s.to_string()))
        else {
            continue;
        };
        if !path.starts_with("crates/") {
            continue;
        }
        if path.ends_with('/') {
            // A folder row (`crates/host/`), not a crate.
            continue;
        }
        if dirs.contains_key(path.as_str()) {
            listed.insert(path);
        } else {
            problems.push(format!(
                "{DOC}: the layout table lists `{path}`, which is no crate of either workspace; fix the path or remove the row"
            ));
        }
    }
    for (dir, (name, krate)) in &dirs {
        if !listed.contains(*dir) {
            problems.push(format!(
                "{DOC}: crate `{name}` has no row in the table under \"## Layout and ownership\"; add:\n    | `{dir}` | {} |",
                krate.description
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_checks_can_fail() {
    // The table reader and the arrow parser see what a broken doc would say.
    assert_eq!(
        ticked("`rros-board`, `rros-files`, serde"),
        ["rros-board", "rros-files"]
    );
    assert!(crate_like("cyclictest-rs") && crate_like("rros-remote") && !crate_like("evl"));
    assert_eq!(arrows(&BTreeSet::new()), "—");
    // Both workspaces answer, each with its own crates.
    let crates = crates();
    assert!(
        crates
            .get("rros")
            .is_some_and(|c| c.dir == "crates/host/rros")
    );
    assert!(
        crates
            .get("rros-validate")
            .is_some_and(|c| c.dir == "crates/on-target/rros-validate" && c.kind == "bin")
    );
    assert!(crates["rros-isolation"].deps.contains("rros-board"));
}
