//! The side-by-side summary of a run over several virtual boards (the A/B pair: PREEMPT_RT
//! against Dovetail + EVL, and the `posix` against the `evl` backend on the same EVL kernel).
//!
//! Each board was booted and accepted alone, one after the other, under the same acceptance;
//! this module only puts their `report.json`s side by side: per scenario and board the samples,
//! p50, p99 and max, with the backend that measured and the kernel it ran on named. It renders
//! from the reports (the contract's [`Report`]), so it cannot disagree with them.
//!
//! Two files in the run's output folder: `ab-summary.md` (for people) and `ab-summary.json`
//! (schema [`SCHEMA`], for programs).

use rros_accept::Verdict;
use rros_contract::Report;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The `schema` of `ab-summary.json`.
pub const SCHEMA: &str = "rros-vboard-ab/1";

/// The kernel a board ran, as far as it is known: from the report (what the guest's kernel
/// said) and from the image (what it was built from).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kernel {
    /// `uname -r` on the guest.
    pub release: Option<String>,
    /// `uname -v` on the guest (build number, flags, build date).
    pub version: Option<String>,
    /// The real-time core and its ABI (`evl ABI 26`), from the report's `host.core`.
    pub core: Option<String>,
    /// What the image says the kernel was built from: Debian's package, or the EVL tree's
    /// commit (or its content key) and the ABIs.
    pub built_from: Option<String>,
}

impl Kernel {
    /// Fills what the report knows: release, version, core.
    pub fn from_report(report: &Report, built_from: Option<String>) -> Kernel {
        Kernel {
            release: Some(report.host.kernel_release.clone()).filter(|s| !s.is_empty()),
            version: Some(report.host.kernel_version.clone()).filter(|s| !s.is_empty()),
            core: report.host.core.as_ref().map(|c| match c.abi {
                Some(abi) => format!("{} ABI {abi}", c.name),
                None => format!("{} (ABI not exposed)", c.name),
            }),
            built_from,
        }
    }

    /// One line: `5.13.0 #1 SMP IRQPIPE …; evl ABI 26; built from …`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (&self.release, &self.version) {
            (Some(r), Some(v)) => parts.push(format!("{r} {v}")),
            (Some(r), None) => parts.push(r.clone()),
            (None, _) => parts.push("release unknown".into()),
        }
        if let Some(core) = &self.core {
            parts.push(core.clone());
        }
        if let Some(b) = &self.built_from {
            parts.push(format!("built from {b}"));
        }
        parts.join("; ")
    }
}

/// One board of the run (one boot, one acceptance).
#[derive(Debug, Clone)]
pub struct Entry {
    /// How the run names it: the board, with the backend when one was forced
    /// (`qemux86-64-evl (posix)`).
    pub label: String,
    pub board: String,
    /// The backend asked for (`None`: `auto`).
    pub backend: Option<String>,
    pub verdict: Verdict,
    /// Why FAIL or ERROR.
    pub reason: Option<String>,
    pub kernel: Kernel,
    /// The board's `report.json`, when one came home.
    pub report: Option<Report>,
    /// QEMU start to verdict, seconds.
    pub boot_to_verdict_s: Option<f64>,
    /// `Some(why)`: the boot-time validation's run was taken as the acceptance run.
    pub reused: Option<String>,
    /// Where its reports are.
    pub run_dir: Option<PathBuf>,
}

fn us(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `ab-summary.md`.
pub fn markdown(entries: &[Entry], title: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {title}\n");
    let _ = writeln!(
        md,
        "Each board was booted and accepted alone, one after the other, under the same acceptance. \
         Under QEMU TCG a vCPU is a host thread the host preempts at will: these numbers prove the \
         plumbing, not real-time behaviour.\n"
    );
    let _ = writeln!(
        md,
        "| board | verdict | backend asked | kernel | boot-to-verdict | measurement |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for e in entries {
        let _ = writeln!(
            md,
            "| {} | {}{} | {} | {} | {} | {} |",
            cell(&e.label),
            e.verdict,
            e.reason
                .as_deref()
                .map_or(String::new(), |r| format!(": {}", cell(r))),
            e.backend.as_deref().unwrap_or("auto"),
            cell(&e.kernel.describe()),
            e.boot_to_verdict_s
                .map_or("–".into(), |s| format!("{s:.1} s")),
            match (&e.reused, &e.report) {
                (Some(_), Some(r)) =>
                    format!("boot-time run {} reused (why: below)", cell(&r.run_id)),
                (Some(_), None) => "boot-time run reused (why: below)".into(),
                (None, Some(r)) => format!("measured by acceptance (run {})", cell(&r.run_id)),
                (None, None) => "no report".into(),
            }
        );
    }
    let _ = writeln!(
        md,
        "\n| scenario | board | backend | samples | p50 µs | p99 µs | max µs | budget max µs | verdict |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for name in scenario_names(entries) {
        for e in entries {
            match e
                .report
                .as_ref()
                .and_then(|r| r.scenarios.iter().find(|s| s.name == name))
            {
                Some(s) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        cell(&name),
                        cell(&e.label),
                        cell(&s.backend),
                        s.samples,
                        us(s.percentiles.p50_us),
                        us(s.percentiles.p99_us),
                        us(s.max_us),
                        s.threshold.max_us,
                        s.verdict
                    );
                }
                None => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | – | – | – | – | – | – | not measured |",
                        cell(&name),
                        cell(&e.label)
                    );
                }
            }
        }
    }
    for e in entries {
        if let Some(why) = &e.reused {
            let _ = writeln!(
                md,
                "\n{}: the boot-time validation's run stands for the acceptance run, because: {why}.",
                e.label
            );
        }
    }
    md
}

/// Every scenario name of the entries' reports, in first-seen order.
fn scenario_names(entries: &[Entry]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in entries
        .iter()
        .filter_map(|e| e.report.as_ref())
        .flat_map(|r| &r.scenarios)
    {
        if !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    names
}

/// `ab-summary.json`.
pub fn json(entries: &[Entry]) -> Value {
    let boards: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "label": e.label,
                "board": e.board,
                "backend_requested": e.backend.as_deref().unwrap_or("auto"),
                "verdict": e.verdict.as_str(),
                "reason": e.reason,
                "kernel": {
                    "release": e.kernel.release,
                    "version": e.kernel.version,
                    "core": e.kernel.core,
                    "built_from": e.kernel.built_from,
                },
                "boot_to_verdict_s": e.boot_to_verdict_s,
                "reused_boot_run": e.reused,
                "run_id": e.report.as_ref().map(|r| r.run_id.clone()),
                "run_dir": e.run_dir.as_ref().map(|d| d.display().to_string()),
                "scenarios": e.report.as_ref().map_or(Vec::new(), |r| r.scenarios.iter().map(|s| json!({
                    "name": s.name,
                    "backend": s.backend,
                    "verdict": s.verdict.as_str(),
                    "samples": s.samples,
                    "duration_s": s.duration_s,
                    "p50_us": s.percentiles.p50_us,
                    "p99_us": s.percentiles.p99_us,
                    "max_us": s.max_us,
                    "budget_max_us": s.threshold.max_us,
                })).collect()),
            })
        })
        .collect();
    json!({ "schema": SCHEMA, "boards": boards })
}

/// Writes `ab-summary.md` and `ab-summary.json` into `out` (each atomically); returns their
/// paths.
pub fn write(out: &Path, entries: &[Entry], title: &str) -> std::io::Result<Vec<PathBuf>> {
    let md = out.join("ab-summary.md");
    let js = out.join("ab-summary.json");
    rros_files::write_atomic(&md, markdown(entries, title).as_bytes(), 0o644)?;
    let mut text = serde_json::to_string_pretty(&json(entries)).map_err(std::io::Error::other)?;
    text.push('\n');
    rros_files::write_atomic(&js, text.as_bytes(), 0o644)?;
    Ok(vec![md, js])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's golden reports: what every consumer is tested against.
    fn golden(name: &str) -> Report {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../on-target/rros-contract/golden")
            .join(name);
        Report::from_json(&std::fs::read_to_string(&path).unwrap(), "golden").unwrap()
    }

    fn entries() -> Vec<Entry> {
        let rt = golden("pass.json");
        let mut evl = golden("pass.json");
        for s in &mut evl.scenarios {
            s.backend = "evl".into();
            s.samples += 1;
            s.max_us = Some(123.4);
        }
        evl.host.kernel_release = "5.13.0".into();
        evl.host.kernel_version = "#1 SMP IRQPIPE".into();
        evl.host.core = Some(rros_contract::report::CoreInfo {
            name: "evl".into(),
            abi: Some(26),
            sysfs: "/sys/devices/virtual/evl/control".into(),
        });
        let fail = golden("fail.json");
        vec![
            Entry {
                label: "qemux86-64".into(),
                board: "qemux86-64".into(),
                backend: None,
                verdict: Verdict::Pass,
                reason: None,
                kernel: Kernel::from_report(&rt, Some("Debian linux-image-rt-amd64".into())),
                report: Some(rt),
                boot_to_verdict_s: Some(118.04),
                reused: Some("boot-time run of this boot".into()),
                run_dir: None,
            },
            Entry {
                label: "qemux86-64-evl".into(),
                board: "qemux86-64-evl".into(),
                backend: Some("evl".into()),
                verdict: Verdict::Pass,
                reason: None,
                kernel: Kernel::from_report(&evl, Some("tree key 4ae96d6f".into())),
                report: Some(evl),
                boot_to_verdict_s: None,
                reused: None,
                run_dir: None,
            },
            Entry {
                label: "qemux86-64-evl (posix)".into(),
                board: "qemux86-64-evl".into(),
                backend: Some("posix".into()),
                verdict: Verdict::Fail,
                reason: Some("max | over".into()),
                kernel: Kernel::from_report(&fail, None),
                report: Some(fail),
                boot_to_verdict_s: Some(99.0),
                reused: None,
                run_dir: None,
            },
            Entry {
                label: "broken".into(),
                board: "broken".into(),
                backend: None,
                verdict: Verdict::Error,
                reason: Some("boot failed".into()),
                kernel: Kernel::default(),
                report: None,
                boot_to_verdict_s: None,
                reused: None,
                run_dir: None,
            },
        ]
    }

    #[test]
    fn markdown_puts_every_scenario_of_every_board_side_by_side() {
        let e = entries();
        let md = markdown(&e, "A/B");
        let names = scenario_names(&e);
        assert!(!names.is_empty());
        for name in &names {
            for entry in &e {
                let row = format!("| {name} | {} |", cell(&entry.label));
                assert_eq!(md.matches(&row).count(), 1, "{row} once in:\n{md}");
            }
        }
        // The numbers come from the reports.
        let s = &e[0].report.as_ref().unwrap().scenarios[0];
        assert!(md.contains(&format!(
            "| {} | qemux86-64 | {} | {} | {} | {} | {} |",
            s.name,
            s.backend,
            s.samples,
            us(s.percentiles.p50_us),
            us(s.percentiles.p99_us),
            us(s.max_us)
        )));
        assert!(md.contains("| qemux86-64-evl | evl | "), "{md}");
        assert!(md.contains(" | 123 | "), "{md}");
        // Kernels, backends, reuse, timings and errors are named; pipes cannot break a row.
        assert!(md.contains("5.13.0 #1 SMP IRQPIPE; evl ABI 26; built from tree key 4ae96d6f"));
        assert!(md.contains(&format!(
            "| boot-time run {} reused (why: below) |",
            e[0].report.as_ref().unwrap().run_id
        )));
        assert!(md.contains(
            "qemux86-64: the boot-time validation's run stands for the acceptance run, because: boot-time run of this boot."
        ));
        assert!(md.contains("118.0 s"));
        assert!(md.contains("FAIL: max \\| over"));
        assert!(
            md.contains("| broken | ERROR: boot failed | auto | release unknown | – | no report |")
        );
        assert!(md.contains("| broken | – | – | – | – | – | – | not measured |"));
        assert!(md.contains("not real-time behaviour"));
    }

    #[test]
    fn json_names_backend_kernel_and_numbers_per_board() {
        let e = entries();
        let v = json(&e);
        assert_eq!(v["schema"], SCHEMA);
        let boards = v["boards"].as_array().unwrap();
        assert_eq!(boards.len(), 4);
        assert_eq!(boards[0]["backend_requested"], "auto");
        assert_eq!(boards[1]["backend_requested"], "evl");
        assert_eq!(boards[1]["kernel"]["core"], "evl ABI 26");
        assert_eq!(boards[1]["kernel"]["release"], "5.13.0");
        assert_eq!(boards[1]["scenarios"][0]["backend"], "evl");
        assert_eq!(boards[1]["scenarios"][0]["max_us"], 123.4);
        let want = &e[0].report.as_ref().unwrap().scenarios[0];
        assert_eq!(boards[0]["scenarios"][0]["samples"], want.samples);
        assert_eq!(
            boards[0]["scenarios"][0]["p99_us"],
            json!(want.percentiles.p99_us)
        );
        assert_eq!(boards[0]["reused_boot_run"], "boot-time run of this boot");
        assert_eq!(boards[2]["verdict"], "FAIL");
        assert_eq!(boards[3]["verdict"], "ERROR");
        assert_eq!(boards[3]["scenarios"], json!([]));
        assert_eq!(boards[3]["kernel"]["release"], Value::Null);
    }

    #[test]
    fn both_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write(dir.path(), &entries(), "A/B").unwrap();
        assert_eq!(paths.len(), 2);
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(&paths[1]).unwrap()).unwrap();
        assert_eq!(back, json(&entries()));
        assert!(
            std::fs::read_to_string(&paths[0])
                .unwrap()
                .starts_with("# A/B")
        );
    }
}
