//! `rros accept --baseline DIR`: did this build get worse than the last accepted one?
//!
//! The baseline is read before anything is measured (a plan: every board's baseline found,
//! read and checked, or named as missing), and each board's new run is compared with it
//! after acceptance by the one comparison of the project, `rros_contract::compare` (the same
//! as `rros-validate compare`): per scenario REGRESSED / UNCHANGED / IMPROVED with p50, p99,
//! p99.9 and max, their intervals and the key fields that differ.
//!
//! What the baseline does to acceptance ([`Outcome::verdict`]): a REGRESSED board does not
//! pass (FAIL, a JUnit failure per regressed scenario); a baseline that cannot be read, or
//! runs that are not like with like (another board, backend, interval or CPUs) without
//! `--allow-mismatch`, are ERROR (the comparison could not be made); a board without a
//! baseline is named and changes nothing, so a fleet can grow.

use crate::verdict::Verdict;
use rros_contract::Report;
use rros_contract::compare::{self, Change, Comparison};
use std::path::{Path, PathBuf};

/// Where a board's baseline run was looked for, and what was found.
#[derive(Debug, Clone)]
pub enum Found {
    /// The baseline run's report.
    Report { path: PathBuf, report: Box<Report> },
    /// No baseline for the board (named, not fatal): why.
    Missing(String),
    /// A baseline exists but cannot be read: why (ERROR).
    Unreadable(String),
}

/// Reads a `report.json` through the contract's reader.
pub fn read_report(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Report::from_json(&text, &path.display().to_string()).map_err(|e| e.to_string())
}

/// The run folder `DIR/<board>/<run>` a previous `rros accept` wrote for `board`, as its
/// `accept.json` names it.
fn from_accept_json(dir: &Path, board: &str) -> Result<Option<PathBuf>, String> {
    let path = dir.join("accept.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not JSON ({e}); give a run folder instead",
            path.display()
        )
    })?;
    let entry = doc["boards"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"].as_str() == Some(board)));
    let Some(entry) = entry else {
        return Ok(None);
    };
    let Some(run) = entry["run"].as_str() else {
        return Err(format!(
            "{}: board {board} has no run (its verdict was {}): no baseline to compare with",
            path.display(),
            entry["verdict"].as_str().unwrap_or("?")
        ));
    };
    Ok(Some(dir.join(board).join(run).join("report.json")))
}

/// The newest run folder under `DIR/<board>/` that holds a `report.json` (run ids start with
/// their UTC time, so the greatest name is the newest).
fn newest_run(board_dir: &Path) -> Option<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(board_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "latest" && e.file_name() != "boot")
        .map(|e| e.path().join("report.json"))
        .filter(|p| p.is_file())
        .collect();
    runs.sort();
    runs.pop()
}

/// Finds and reads `board`'s baseline in `dir`: a `report.json` file, a run folder (holding
/// `report.json`: the baseline of every board), a previous `rros accept --out` folder (its
/// `accept.json` names each board's run; else the newest run under `DIR/<board>/`).
pub fn find(dir: &Path, board: &str) -> Found {
    let read = |path: PathBuf| match read_report(&path) {
        Ok(report) => Found::Report {
            path,
            report: Box::new(report),
        },
        Err(e) => Found::Unreadable(e),
    };
    if dir.is_file() {
        return read(dir.to_path_buf());
    }
    if dir.join("report.json").is_file() {
        return read(dir.join("report.json"));
    }
    match from_accept_json(dir, board) {
        Err(e) => return Found::Unreadable(e),
        Ok(Some(path)) if path.is_file() => return read(path),
        Ok(Some(path)) => {
            return Found::Missing(format!(
                "{} names {} for board {board}, which is not there",
                dir.join("accept.json").display(),
                path.display()
            ));
        }
        Ok(None) => {}
    }
    match newest_run(&dir.join(board)) {
        Some(path) => read(path),
        None => Found::Missing(format!(
            "no baseline run for board {board} in {} (neither in its accept.json nor a run folder under {})",
            dir.display(),
            dir.join(board).display()
        )),
    }
}

/// One board's new run against its baseline.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Compared: the baseline's run id and report path, and the comparison.
    Compared {
        base_run: String,
        base_path: PathBuf,
        comparison: Box<Comparison>,
        /// Not like with like, and `--allow-mismatch` was not given: the words are not used.
        refused: bool,
    },
    /// No baseline for this board: named, changes nothing.
    Missing(String),
    /// The baseline, or the new run's report, could not be read: ERROR.
    Unreadable(String),
    /// The new run has no report to compare (the board's run was ERROR already).
    NoNewRun(String),
}

impl Outcome {
    /// What the baseline adds to the board's acceptance: FAIL when REGRESSED, ERROR when the
    /// comparison could not be made (unreadable, or refused as unlike), else PASS.
    pub fn verdict(&self) -> Verdict {
        match self {
            Outcome::Compared { refused: true, .. } | Outcome::Unreadable(_) => Verdict::Error,
            Outcome::Compared { comparison, .. } if comparison.change == Change::Regressed => {
                Verdict::Fail
            }
            _ => Verdict::Pass,
        }
    }

    /// One line for the terminal and the summary.
    pub fn line(&self) -> String {
        match self {
            Outcome::Compared {
                base_run,
                comparison,
                refused: false,
                ..
            } => format!("{} against baseline run {base_run}", comparison.change),
            Outcome::Compared {
                base_run,
                comparison,
                refused: true,
                ..
            } => format!(
                "not compared with baseline run {base_run}: not like with like ({}); pass --allow-mismatch to compare anyway",
                unlike(comparison).join("; ")
            ),
            Outcome::Missing(why) => format!("no baseline: {why}"),
            Outcome::Unreadable(why) => format!("baseline unreadable: {why}"),
            Outcome::NoNewRun(why) => format!("not compared: {why}"),
        }
    }
}

/// The key fields that make two runs unlike, each named (run-level, then per scenario).
pub fn unlike(c: &Comparison) -> Vec<String> {
    let mut out = c.mismatches.clone();
    for s in &c.scenarios {
        out.extend(s.differences.iter().map(|d| format!("{}: {d}", s.name)));
    }
    out
}

/// A board's baseline comparison.
#[derive(Debug, Clone)]
pub struct BoardBaseline {
    pub board: String,
    pub outcome: Outcome,
}

/// How a comparison is made: `--allow-mismatch` and `--noise-threshold` (a fraction,
/// `rros_contract::compare::compare_with`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    pub allow_mismatch: bool,
    pub noise: f64,
}

/// Compares `board`'s new run (its run folder, `None` when it has none) with what
/// [`find`] found.
pub fn judge(board: &str, found: &Found, new_run: Option<&Path>, rules: Rules) -> BoardBaseline {
    let outcome = match (found, new_run) {
        (Found::Missing(why), _) => Outcome::Missing(why.clone()),
        (Found::Unreadable(why), _) => Outcome::Unreadable(why.clone()),
        (Found::Report { .. }, None) => {
            Outcome::NoNewRun("the board's run brought no report home".into())
        }
        (Found::Report { path, report }, Some(dir)) => {
            match read_report(&dir.join("report.json")) {
                Err(e) => Outcome::Unreadable(format!("the new run: {e}")),
                Ok(new) => {
                    let comparison = compare::compare_with(report, &new, rules.noise);
                    Outcome::Compared {
                        base_run: report.run_id.clone(),
                        base_path: path.clone(),
                        refused: !rules.allow_mismatch && !comparison.like_with_like(),
                        comparison: Box::new(comparison),
                    }
                }
            }
        }
    };
    BoardBaseline {
        board: board.to_owned(),
        outcome,
    }
}

/// The baseline's verdict over boards, added up as a fleet's ([`crate::fleet_verdict`]: FAIL
/// when any regressed, else ERROR when any could not be compared); PASS for none.
pub fn verdict(baselines: &[BoardBaseline]) -> Verdict {
    if baselines.is_empty() {
        return Verdict::Pass;
    }
    crate::verdict::fleet_verdict(baselines.iter().map(|b| b.outcome.verdict()))
}

/// Acceptance's verdict with the baseline: the boards' verdict and [`verdict`] added up as a
/// fleet's, so a regression makes a passing acceptance FAIL.
pub fn with_baseline(boards: Verdict, baselines: &[BoardBaseline]) -> Verdict {
    crate::verdict::fleet_verdict([boards, verdict(baselines)])
}

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "?".into(), |v| format!("{v:.0}"))
}

/// A metric's cell: `BASE [lo, hi] → NEW [lo, hi] µs` (max without interval).
fn cell(m: &compare::MetricChange) -> String {
    let e = |e: &compare::Estimate| {
        if e.lower.is_none() && e.upper.is_none() && m.metric == "max" {
            us(e.value)
        } else {
            format!("{} [{}, {}]", us(e.value), us(e.lower), us(e.upper))
        }
    };
    let word = match m.change {
        Change::Unchanged => String::new(),
        c => format!(" **{c}**"),
    };
    format!("{} → {} µs{word}", e(&m.base), e(&m.new))
}

/// `summary.md`'s section: per board the line, the key fields that moved, and per scenario
/// the word with each metric's numbers and 95 % intervals.
pub fn summary_section(baselines: &[BoardBaseline]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("\n## Against the baseline\n");
    for b in baselines {
        let _ = writeln!(s, "\n### {} — {}\n", b.board, b.outcome.line());
        let Outcome::Compared {
            base_path,
            comparison: c,
            ..
        } = &b.outcome
        else {
            continue;
        };
        let _ = writeln!(s, "- baseline report: `{}`", base_path.display());
        for d in &c.changes {
            let _ = writeln!(s, "- changed: {d}");
        }
        for d in unlike(c) {
            let _ = writeln!(s, "- not like with like: {d}");
        }
        for u in &c.unmatched {
            let _ = writeln!(s, "- not compared: {u}");
        }
        s.push_str(
            "\n| scenario | change | samples | p50 (µs) | p99 (µs) | p99.9 (µs) | max (µs) |\n|---|---|---|---|---|---|---|\n",
        );
        for sc in &c.scenarios {
            let cells: Vec<String> = sc.metrics.iter().map(cell).collect();
            let _ = writeln!(
                s,
                "| {} | **{}** | {} → {} | {} |",
                sc.name,
                sc.change,
                sc.base_samples,
                sc.new_samples,
                cells.join(" | ")
            );
        }
        let noise = if c.noise > 0.0 {
            format!(
                "; noise threshold {:.0} % (shifts below it are no word)",
                c.noise * 100.0
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "\nIntervals: distribution-free {:.0} % order-statistic intervals; max: exchangeability test (see docs/validation.md){noise}.",
            compare::CONFIDENCE * 100.0
        );
    }
    s
}

fn estimate_json(e: &compare::Estimate) -> serde_json::Value {
    serde_json::json!({ "value_us": e.value, "lower_us": e.lower, "upper_us": e.upper })
}

/// `accept.json`'s `baseline` entry of a board.
pub fn to_json(b: &BoardBaseline) -> serde_json::Value {
    use serde_json::json;
    let mut v = json!({
        "board": b.board,
        "verdict": b.outcome.verdict().as_str(),
        "summary": b.outcome.line(),
    });
    if let Outcome::Compared {
        base_run,
        base_path,
        comparison: c,
        refused,
    } = &b.outcome
    {
        v["base_run"] = json!(base_run);
        v["base_report"] = json!(base_path.display().to_string());
        v["change"] = json!(c.change.as_str());
        v["noise_threshold"] = json!(c.noise);
        v["refused"] = json!(refused);
        v["like_with_like"] = json!(c.like_with_like());
        v["not_like_with_like"] = json!(unlike(c));
        v["changed"] = json!(c.changes);
        v["not_compared"] = json!(c.unmatched);
        v["scenarios"] = c
            .scenarios
            .iter()
            .map(|sc| {
                json!({
                    "name": sc.name,
                    "change": sc.change.as_str(),
                    "base_samples": sc.base_samples,
                    "new_samples": sc.new_samples,
                    "metrics": sc.metrics.iter().map(|m| json!({
                        "metric": m.metric,
                        "change": m.change.as_str(),
                        "base": estimate_json(&m.base),
                        "new": estimate_json(&m.new),
                        "why": m.why,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
    }
    v
}

/// The board's JUnit cases for the baseline: `baseline:<scenario>` per compared scenario (a
/// REGRESSED one is a failure), or one `baseline` case (an error when the comparison could
/// not be made, skipped when there is no baseline).
pub fn cases(b: &BoardBaseline) -> Vec<rros_contract::cases::Case> {
    use rros_contract::cases::{Case, Status, Suite};
    let case = |id: String, status: Status, message: String, details: String| Case {
        suite: Suite::Run,
        id,
        title: None,
        status,
        message: if status == Status::Pass {
            String::new()
        } else {
            message.clone()
        },
        details,
        output: message,
        max_us: None,
        time_s: None,
    };
    let one = |status| {
        vec![case(
            "baseline".into(),
            status,
            b.outcome.line(),
            String::new(),
        )]
    };
    match &b.outcome {
        Outcome::Compared { refused: true, .. } | Outcome::Unreadable(_) => one(Status::Error),
        Outcome::Missing(_) | Outcome::NoNewRun(_) => one(Status::Skip),
        Outcome::Compared {
            base_run,
            comparison,
            ..
        } => comparison
            .scenarios
            .iter()
            .map(|sc| {
                let status = if sc.change == Change::Regressed {
                    Status::Fail
                } else {
                    Status::Pass
                };
                let why: Vec<&str> = sc.metrics.iter().map(|m| m.why.as_str()).collect();
                case(
                    format!("baseline:{}", sc.name),
                    status,
                    format!("{} against baseline run {base_run}", sc.change),
                    why.join("\n"),
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> String {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../on-target/rros-contract/golden/pass.json"),
        )
        .unwrap()
    }

    /// A run folder `dir/<board>/<run>/report.json` holding the golden PASS with `edit`.
    fn run_dir(dir: &Path, board: &str, run: &str, edit: impl Fn(&mut Report)) -> PathBuf {
        let mut r = Report::from_json(&golden(), "golden").unwrap();
        r.run_id = run.into();
        edit(&mut r);
        let d = dir.join(board).join(run);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("report.json"), r.to_json()).unwrap();
        d
    }

    fn slower(r: &mut Report) {
        for s in &mut r.scenarios {
            s.max_us = s.max_us.map(|m| m * 3.0);
            for c in &mut s.per_cpu {
                c.histogram.range_us = 100_000.0;
                for b in &mut c.histogram.bins {
                    b.0 = (b.0 * 3.0).floor();
                }
            }
        }
    }

    #[test]
    fn finds_the_run_accept_json_names_then_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        run_dir(dir.path(), "b1", "20260101T000000Z-b1", |_| {});
        run_dir(dir.path(), "b1", "20260102T000000Z-b1", |_| {});
        // Without accept.json: the newest run.
        let Found::Report { report, .. } = find(dir.path(), "b1") else {
            panic!()
        };
        assert_eq!(report.run_id, "20260102T000000Z-b1");
        // accept.json names the older one: that is the accepted run.
        std::fs::write(
            dir.path().join("accept.json"),
            r#"{"boards":[{"name":"b1","run":"20260101T000000Z-b1","verdict":"PASS"},{"name":"b2","run":null,"verdict":"ERROR"}]}"#,
        )
        .unwrap();
        let Found::Report { report, .. } = find(dir.path(), "b1") else {
            panic!()
        };
        assert_eq!(report.run_id, "20260101T000000Z-b1");
        // A board with no run, a board never accepted: named, not found.
        assert!(
            matches!(find(dir.path(), "b2"), Found::Unreadable(w) if w.contains("board b2 has no run"))
        );
        assert!(
            matches!(find(dir.path(), "b3"), Found::Missing(w) if w.contains("no baseline run for board b3"))
        );
        // A run folder or report.json: the baseline of any board.
        let one = dir.path().join("b1/20260102T000000Z-b1");
        assert!(matches!(find(&one, "zz"), Found::Report { .. }));
        assert!(matches!(
            find(&one.join("report.json"), "zz"),
            Found::Report { .. }
        ));
        // A corrupt report: unreadable, naming the file.
        std::fs::write(one.join("report.json"), "{").unwrap();
        assert!(matches!(find(&one, "zz"), Found::Unreadable(w) if w.contains("report.json")));
    }

    #[test]
    fn the_words_decide_the_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let base = run_dir(dir.path(), "b", "20260101T000000Z-b", |_| {});
        let same = run_dir(dir.path(), "b", "20260102T000000Z-b", |_| {});
        let worse = run_dir(dir.path(), "b", "20260103T000000Z-b", slower);
        let other = run_dir(dir.path(), "b", "20260104T000000Z-b", |r| {
            r.scenarios[0].interval_us = 200;
        });
        let found = find(&base, "b");
        let unchanged = judge("b", &found, Some(&same), Rules::default());
        assert_eq!(unchanged.outcome.verdict(), Verdict::Pass);
        assert!(
            unchanged
                .outcome
                .line()
                .starts_with("UNCHANGED against baseline run 20260101T000000Z-b")
        );
        let regressed = judge("b", &found, Some(&worse), Rules::default());
        assert_eq!(regressed.outcome.verdict(), Verdict::Fail);
        assert!(regressed.outcome.line().starts_with("REGRESSED"));
        let refused = judge("b", &found, Some(&other), Rules::default());
        assert_eq!(refused.outcome.verdict(), Verdict::Error);
        assert!(
            refused.outcome.line().contains("idle: interval_us"),
            "{}",
            refused.outcome.line()
        );
        assert_eq!(
            judge(
                "b",
                &found,
                Some(&other),
                Rules {
                    allow_mismatch: true,
                    noise: 0.0
                }
            )
            .outcome
            .verdict(),
            Verdict::Pass
        );
        let missing = judge(
            "b",
            &Found::Missing("none".into()),
            Some(&same),
            Rules::default(),
        );
        assert_eq!(missing.outcome.verdict(), Verdict::Pass);
        assert_eq!(
            judge("b", &found, None, Rules::default()).outcome.verdict(),
            Verdict::Pass
        );
        assert_eq!(verdict(&[unchanged.clone(), missing]), Verdict::Pass);
        assert_eq!(verdict(&[unchanged, regressed.clone()]), Verdict::Fail);
        assert_eq!(verdict(std::slice::from_ref(&refused)), Verdict::Error);
        assert_eq!(verdict(&[regressed.clone(), refused]), Verdict::Fail);
        assert_eq!(verdict(&[]), Verdict::Pass);
        assert_eq!(
            with_baseline(Verdict::Pass, std::slice::from_ref(&regressed)),
            Verdict::Fail
        );
        assert_eq!(
            with_baseline(Verdict::Inconclusive, &[]),
            Verdict::Inconclusive
        );
        assert_eq!(with_baseline(Verdict::Error, &[regressed]), Verdict::Fail);
    }
}
