//! Taking the boot-time validation's run as the acceptance run — when, and only when, it is the
//! run acceptance would have made.
//!
//! A freshly booted board runs `rros-validate.service`: the whole profile, audit included,
//! after a settle. Acceptance waits for it, then measures everything again, so a virtual
//! board's boot-to-verdict was the boot-time run *plus* a second run of the same thing
//! (190–225 s under TCG, issue #13). When the boot-time run is, provably, what acceptance
//! would run now, measuring twice proves nothing more; its report is taken instead, and the
//! output and `reused.txt` say so and why.
//!
//! Provably means every one of these holds ([`judge`]); any one missing refuses the reuse and
//! acceptance measures as always:
//!
//! - the verdict line is in **this boot's** journal (`journalctl -b`), names a run folder, and
//!   its `report.json` has that run id and verdict;
//! - the unit ran exactly the command line of the checkout's unit file (no drop-in changed it);
//! - `/etc/rros/board.toml` on the guest has the bytes of the requested profile and
//!   `/usr/bin/rros-validate` those of the requested binary (sha256), and neither file changed
//!   during this boot (modified before the boot started);
//! - the report is of this board and profile file, not interrupted, with the backend asked for
//!   (`auto` unless forced), not audit-only, and measured exactly the scenarios asked for, each
//!   for the duration asked for;
//! - it could measure: an ERROR report is not reused (measuring again is then the fix), but a
//!   FAIL is — a measured failure is never re-rolled.

use rros_contract::{Report, Verdict, VerdictLine};
use std::collections::BTreeMap;

/// The profile path the boot-time unit and acceptance both read.
pub const PROFILE_ON_BOARD: &str = "/etc/rros/board.toml";
/// The binary the unit runs.
pub const VALIDATE_ON_BOARD: &str = "/usr/bin/rros-validate";

/// What acceptance would run now.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub board: String,
    /// sha256 of the profile bytes the image was built with.
    pub profile_sha256: String,
    /// sha256 of the rros-validate binary the image was built with.
    pub validate_sha256: String,
    /// Each scenario to measure and its duration in seconds, in any order.
    pub scenarios: Vec<(String, f64)>,
    /// `--backend` if forced; `None` is rros-validate's `auto`.
    pub backend: Option<String>,
    /// The unit's `ExecStart=` as the checkout's unit file has it.
    pub exec_start: String,
}

/// What the guest says about its boot-time run (gathered by [`GATHER_SCRIPT`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The service's last verdict line in this boot's journal.
    pub verdict_line: Option<String>,
    /// `argv[]` of the unit's `ExecStart` as systemd ran it.
    pub exec_argv: Option<String>,
    pub profile_sha256: Option<String>,
    pub validate_sha256: Option<String>,
    /// Boot time (`btime` of /proc/stat) and the two files' modification times, in seconds.
    pub boot_time: Option<u64>,
    pub profile_mtime: Option<u64>,
    pub validate_mtime: Option<u64>,
    /// The run folder the script took from the verdict line, and its `report.json`, read in
    /// the same call. The caller uses them only when the folder is the one the verdict line
    /// names once parsed ([`VerdictLine`]); otherwise it reads the report itself.
    pub report_dir: Option<String>,
    pub report: Option<String>,
}

/// The line after which [`GATHER_SCRIPT`] prints the run's `report.json`, to the end.
const REPORT_MARK: &str = "--- report.json ---";

/// One SSH call that gathers [`Found`], as `key=value` lines, then the run's `report.json`
/// after [`REPORT_MARK`] when the verdict line names a folder that has one.
pub const GATHER_SCRIPT: &str = "\
line=\"$(journalctl -b --no-pager -o cat -u rros-validate.service | grep 'rros-validate: verdict=' | tail -n 1)\"; \
printf 'line=%s\\n' \"$line\"; \
printf 'exec=%s\\n' \"$(systemctl show -p ExecStart --value rros-validate.service | head -n 1)\"; \
printf 'profile=%s\\n' \"$(sha256sum < /etc/rros/board.toml | cut -d' ' -f1)\"; \
printf 'validate=%s\\n' \"$(sha256sum < /usr/bin/rros-validate | cut -d' ' -f1)\"; \
printf 'btime=%s\\n' \"$(sed -n 's/^btime //p' /proc/stat)\"; \
printf 'profile_mtime=%s\\n' \"$(stat -c %Y /etc/rros/board.toml)\"; \
printf 'validate_mtime=%s\\n' \"$(stat -c %Y /usr/bin/rros-validate)\"; \
dir=\"${line##* dir=}\"; \
if [ -n \"$line\" ] && [ -r \"$dir/report.json\" ]; then \
printf 'report_dir=%s\\n--- report.json ---\\n' \"$dir\"; cat \"$dir/report.json\"; fi";

impl Found {
    /// Reads [`GATHER_SCRIPT`]'s output.
    pub fn parse(stdout: &str) -> Found {
        let (head, report) = match stdout.split_once(&format!("\n{REPORT_MARK}\n")) {
            Some((head, report)) => (head, Some(report.to_owned())),
            None => (stdout, None),
        };
        let fields: BTreeMap<&str, &str> = head
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k, v.trim()))
            .collect();
        let text = |k: &str| {
            fields
                .get(k)
                .filter(|v| !v.is_empty())
                .map(|v| (*v).to_owned())
        };
        let number = |k: &str| fields.get(k).and_then(|v| v.parse().ok());
        let report_dir = text("report_dir");
        Found {
            verdict_line: text("line"),
            exec_argv: text("exec").and_then(|e| exec_argv(&e)),
            profile_sha256: text("profile"),
            validate_sha256: text("validate"),
            boot_time: number("btime"),
            profile_mtime: number("profile_mtime"),
            validate_mtime: number("validate_mtime"),
            report: report.filter(|_| report_dir.is_some()),
            report_dir,
        }
    }

    /// The run's `report.json` as gathered, if it was read from `dir` (the folder the parsed
    /// verdict line names).
    pub fn report_of(&self, dir: &str) -> Option<&str> {
        (self.report_dir.as_deref() == Some(dir))
            .then_some(self.report.as_deref())
            .flatten()
    }
}

/// `{ path=/usr/bin/x ; argv[]=/usr/bin/x run --a ; ignore_errors=no ; … }` → `/usr/bin/x run --a`.
pub fn exec_argv(show: &str) -> Option<String> {
    let start = show.find("argv[]=")? + "argv[]=".len();
    let rest = &show[start..];
    let end = rest.find(" ;").unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned()).filter(|s| !s.is_empty())
}

/// The `ExecStart=` value of a unit file's text (the last one wins, as in systemd; a leading
/// `-`, `@`, `:`, `+` or `!` prefix is dropped).
pub fn unit_exec_start(unit: &str) -> Option<String> {
    unit.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("ExecStart="))
        .map(|v| {
            v.trim_start_matches(['-', '@', ':', '+', '!'])
                .trim()
                .to_owned()
        })
        .filter(|v| !v.is_empty())
}

/// Whether the boot-time run may stand for the acceptance run: `Ok(why)` — the facts that make
/// it the same run, for the output and `reused.txt` — or `Err(why not)`, the first mismatch.
/// `report` is the run's `report.json` (read from the folder the verdict line names).
pub fn judge(
    wanted: &Wanted,
    found: &Found,
    report: Option<&Report>,
) -> Result<Vec<String>, String> {
    let line_text = found.verdict_line.as_deref().ok_or(
        "no verdict of rros-validate.service in this boot's journal (masked with --no-boot-validation, or it did not finish)",
    )?;
    let line = VerdictLine::parse(line_text)
        .map_err(|e| format!("the boot-time verdict line cannot be read: {e}"))?;
    let run = line
        .run
        .as_deref()
        .ok_or("the boot-time run made no run folder")?;
    if line.verdict == Verdict::Error {
        return Err(format!(
            "the boot-time run {run} could not measure (ERROR): measuring anew"
        ));
    }
    let argv = found
        .exec_argv
        .as_deref()
        .ok_or("systemd does not say which command rros-validate.service ran")?;
    if argv != wanted.exec_start {
        return Err(format!(
            "rros-validate.service ran `{argv}`, not the unit file's `{}` (a drop-in changed it)",
            wanted.exec_start
        ));
    }
    same_file(
        PROFILE_ON_BOARD,
        found.profile_sha256.as_deref(),
        &wanted.profile_sha256,
        "the requested profile",
    )?;
    same_file(
        VALIDATE_ON_BOARD,
        found.validate_sha256.as_deref(),
        &wanted.validate_sha256,
        "the requested rros-validate",
    )?;
    let boot = found
        .boot_time
        .ok_or("the guest's boot time (/proc/stat btime) is unknown")?;
    for (path, mtime) in [
        (PROFILE_ON_BOARD, found.profile_mtime),
        (VALIDATE_ON_BOARD, found.validate_mtime),
    ] {
        match mtime {
            Some(m) if m <= boot => {}
            Some(m) => {
                return Err(format!(
                    "{path} was modified during this boot ({m} > boot time {boot}): the boot-time run may have used other bytes"
                ));
            }
            None => return Err(format!("the modification time of {path} is unknown")),
        }
    }
    let report =
        report.ok_or_else(|| format!("the boot-time run {run} has no readable report.json"))?;
    if report.run_id != run {
        return Err(format!(
            "report.json is of run {}, the journal's verdict line of run {run}",
            report.run_id
        ));
    }
    if report.verdict != line.verdict {
        return Err(format!(
            "report.json says {}, the journal's verdict line {}",
            report.verdict, line.verdict
        ));
    }
    if report.interrupted {
        return Err(format!("the boot-time run {run} was interrupted"));
    }
    let board = report.board.as_ref().map(|b| b.name.as_str());
    if board != Some(wanted.board.as_str()) {
        return Err(format!(
            "the boot-time run is of board {}, not {}",
            board.unwrap_or("(none)"),
            wanted.board
        ));
    }
    if report.profile.path != PROFILE_ON_BOARD {
        return Err(format!(
            "the boot-time run read the profile {}, not {PROFILE_ON_BOARD}",
            report.profile.path
        ));
    }
    let backend = wanted.backend.as_deref().unwrap_or("auto");
    if report.options.backend != backend {
        return Err(format!(
            "the boot-time run used backend {}, this run asks for {backend}",
            report.options.backend
        ));
    }
    if report.options.audit_only {
        return Err("the boot-time run only audited".into());
    }
    let mut want: Vec<(&str, f64)> = wanted
        .scenarios
        .iter()
        .map(|(n, d)| (n.as_str(), *d))
        .collect();
    let mut got: Vec<(&str, f64)> = report
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.duration_s))
        .collect();
    want.sort_by(|a, b| a.0.cmp(b.0));
    got.sort_by(|a, b| a.0.cmp(b.0));
    let same = want.len() == got.len()
        && want
            .iter()
            .zip(&got)
            .all(|(w, g)| w.0 == g.0 && (w.1 - g.1).abs() < 1e-6);
    if !same {
        let show = |v: &[(&str, f64)]| {
            v.iter()
                .map(|(n, d)| format!("{n} {d} s"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "the boot-time run measured [{}], this run asks for [{}]",
            show(&got),
            show(&want)
        ));
    }
    Ok(vec![
        format!("run {run} of rros-validate.service, in this boot's journal ({line_text})"),
        format!("the unit ran `{argv}`, as the unit file says"),
        format!(
            "{PROFILE_ON_BOARD} sha256 {} and {VALIDATE_ON_BOARD} sha256 {}: the requested profile and binary, unchanged since boot",
            short(&wanted.profile_sha256),
            short(&wanted.validate_sha256)
        ),
        format!(
            "backend {backend}; scenarios {}: what this run asks for",
            want.iter()
                .map(|(n, d)| format!("{n} {d} s"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ])
}

fn same_file(path: &str, got: Option<&str>, want: &str, what: &str) -> Result<(), String> {
    match got {
        Some(g) if g == want => Ok(()),
        Some(g) => Err(format!(
            "{path} on the board (sha256 {}) is not {what} (sha256 {})",
            short(g),
            short(want)
        )),
        None => Err(format!("the sha256 of {path} on the board is unknown")),
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const EXEC: &str = "/usr/bin/rros-validate run --quiet --profile /etc/rros/board.toml --output-dir /var/lib/rros-validate";

    /// The contract's golden PASS report, made the boot-time run of board `qemux86-64`.
    fn report() -> Report {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../on-target/rros-contract/golden/pass.json");
        let mut r = Report::from_json(&std::fs::read_to_string(path).unwrap(), "golden").unwrap();
        r.run_id = "20261207T030000Z-qemux86-64".into();
        r.board.as_mut().unwrap().name = "qemux86-64".into();
        r.profile.path = PROFILE_ON_BOARD.into();
        r.options.backend = "auto".into();
        r
    }

    fn wanted(r: &Report) -> Wanted {
        Wanted {
            board: "qemux86-64".into(),
            profile_sha256: "a".repeat(64),
            validate_sha256: "b".repeat(64),
            scenarios: r
                .scenarios
                .iter()
                .rev()
                .map(|s| (s.name.clone(), s.duration_s))
                .collect(),
            backend: None,
            exec_start: EXEC.into(),
        }
    }

    fn found() -> Found {
        Found::parse(&format!(
            "line=rros-validate: verdict=PASS run=20261207T030000Z-qemux86-64 dir=/var/lib/rros-validate/20261207T030000Z-qemux86-64\n\
             exec={{ path=/usr/bin/rros-validate ; argv[]={EXEC} ; ignore_errors=no ; start_time=[Mon] ; pid=420 ; code=exited ; status=0 }}\n\
             profile={}\nvalidate={}\nbtime=1000\nprofile_mtime=900\nvalidate_mtime=1000\n",
            "a".repeat(64),
            "b".repeat(64)
        ))
    }

    #[test]
    fn the_gathered_facts_are_read() {
        let f = found();
        assert_eq!(f.exec_argv.as_deref(), Some(EXEC));
        assert_eq!(f.boot_time, Some(1000));
        assert_eq!(f.validate_mtime, Some(1000));
        assert!(f.verdict_line.unwrap().contains("verdict=PASS"));
        let empty = Found::parse("line=\nexec=\nprofile=\nbtime=x\n");
        assert_eq!(empty, Found::default());
    }

    #[test]
    fn the_report_gathered_in_the_same_call_is_kept_with_its_folder() {
        let dir = "/var/lib/rros-validate/20261207T030000Z-qemux86-64";
        let head = format!(
            "system=running\nservice=inactive\nline=rros-validate: verdict=PASS run=20261207T030000Z-qemux86-64 dir={dir}\nbtime=1000\nreport_dir={dir}\n"
        );
        let f = Found::parse(&format!("{head}{REPORT_MARK}\n{{\"a\": \"b=c\"}}\n"));
        assert_eq!(f.boot_time, Some(1000));
        assert_eq!(f.report_of(dir), Some("{\"a\": \"b=c\"}\n"));
        // Another folder than the parsed verdict line's: not used.
        assert_eq!(f.report_of("/var/lib/rros-validate/other"), None);
        // The report's own `key=value`-looking text never becomes a field.
        let tricky = Found::parse(&format!("{head}{REPORT_MARK}\nbtime=5\nprofile=x\n"));
        assert_eq!(tricky.boot_time, Some(1000));
        assert_eq!(tricky.profile_sha256, None);
        // No report section (no folder, or no report.json in it).
        let none = Found::parse("line=x\nbtime=1\n");
        assert_eq!((none.report_dir, none.report), (None, None));
    }

    #[test]
    fn the_gather_script_takes_the_folder_from_the_verdict_line() {
        // The script's own `${line##* dir=}` on a real verdict line, in a real sh.
        let line = "rros-validate: verdict=FAIL run=20261207T030000Z-qemux86-64 dir=/var/lib/rros-validate/20261207T030000Z-qemux86-64";
        let start = GATHER_SCRIPT.find("dir=\"$").unwrap();
        let expansion = &GATHER_SCRIPT[start..GATHER_SCRIPT[start..].find(';').unwrap() + start];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("line='{line}'; {expansion}; printf %s \"$dir\""))
            .output()
            .unwrap();
        let dir = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            Some(dir.as_str()),
            VerdictLine::parse(line).unwrap().dir.as_deref()
        );
    }

    #[test]
    fn the_unit_files_exec_start_is_read() {
        let unit = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../on-target/rros-validate/systemd/rros-validate.service"),
        )
        .unwrap();
        assert_eq!(unit_exec_start(&unit).as_deref(), Some(EXEC));
        assert_eq!(
            unit_exec_start("ExecStart=-/bin/a\nExecStart=+/bin/b x\n").as_deref(),
            Some("/bin/b x")
        );
        assert_eq!(unit_exec_start("[Service]\n"), None);
    }

    #[test]
    fn a_matching_boot_time_run_is_reused_and_says_why() {
        let r = report();
        let why = judge(&wanted(&r), &found(), Some(&r)).unwrap();
        let text = why.join("\n");
        assert!(text.contains("this boot's journal"), "{text}");
        assert!(text.contains("aaaaaaaaaaaa"), "{text}");
        assert!(text.contains("backend auto"), "{text}");
        // A FAIL is a measurement: reused, never re-rolled.
        let mut fail = report();
        fail.verdict = Verdict::Fail;
        let mut f = found();
        f.verdict_line = f.verdict_line.map(|l| l.replace("PASS", "FAIL"));
        assert!(judge(&wanted(&fail), &f, Some(&fail)).is_ok());
    }

    /// Every way the boot-time run can differ from what is asked refuses the reuse.
    #[test]
    fn every_mismatch_refuses_the_reuse() {
        let r = report();
        type Case = (
            &'static str,
            Box<dyn Fn(&mut Wanted, &mut Found, &mut Option<Report>)>,
        );
        let cases: Vec<Case> = vec![
            ("journal", Box::new(|_, f, _| f.verdict_line = None)),
            (
                "cannot be read",
                Box::new(|_, f, _| {
                    f.verdict_line = Some("rros-validate: verdict=MAYBE run=x dir=/x".into())
                }),
            ),
            (
                "no run folder",
                Box::new(|_, f, _| {
                    f.verdict_line = Some("rros-validate: verdict=FAIL run=- dir=-".into())
                }),
            ),
            (
                "ERROR",
                Box::new(|_, f, r| {
                    f.verdict_line = f.verdict_line.take().map(|l| l.replace("PASS", "ERROR"));
                    r.as_mut().unwrap().verdict = Verdict::Error;
                }),
            ),
            ("which command", Box::new(|_, f, _| f.exec_argv = None)),
            (
                "a drop-in",
                Box::new(|_, f, _| f.exec_argv = Some(format!("{EXEC} --duration 5s"))),
            ),
            (
                "not the requested profile",
                Box::new(|w, _, _| w.profile_sha256 = "c".repeat(64)),
            ),
            (
                "sha256 of /etc/rros/board.toml",
                Box::new(|_, f, _| f.profile_sha256 = None),
            ),
            (
                "not the requested rros-validate",
                Box::new(|_, f, _| f.validate_sha256 = Some("d".repeat(64))),
            ),
            ("boot time", Box::new(|_, f, _| f.boot_time = None)),
            (
                "modified during this boot",
                Box::new(|_, f, _| f.profile_mtime = Some(1001)),
            ),
            (
                "modified during this boot",
                Box::new(|_, f, _| f.validate_mtime = Some(2000)),
            ),
            (
                "modification time",
                Box::new(|_, f, _| f.validate_mtime = None),
            ),
            ("no readable report", Box::new(|_, _, r| *r = None)),
            (
                "is of run",
                Box::new(|_, _, r| r.as_mut().unwrap().run_id = "other".into()),
            ),
            (
                "report.json says",
                Box::new(|_, _, r| r.as_mut().unwrap().verdict = Verdict::Fail),
            ),
            (
                "interrupted",
                Box::new(|_, _, r| r.as_mut().unwrap().interrupted = true),
            ),
            (
                "of board",
                Box::new(|w, _, _| w.board = "qemux86-64-evl".into()),
            ),
            (
                "of board",
                Box::new(|_, _, r| r.as_mut().unwrap().board = None),
            ),
            (
                "read the profile",
                Box::new(|_, _, r| r.as_mut().unwrap().profile.path = "/tmp/p.toml".into()),
            ),
            (
                "asks for posix",
                Box::new(|w, _, _| w.backend = Some("posix".into())),
            ),
            (
                "asks for auto",
                Box::new(|_, _, r| r.as_mut().unwrap().options.backend = "evl".into()),
            ),
            (
                "only audited",
                Box::new(|_, _, r| r.as_mut().unwrap().options.audit_only = true),
            ),
            ("asks for", Box::new(|w, _, _| w.scenarios[0].1 += 1.0)),
            (
                "asks for",
                Box::new(|w, _, _| {
                    w.scenarios.pop();
                }),
            ),
            (
                "asks for",
                Box::new(|w, _, _| w.scenarios.push(("stress".into(), 30.0))),
            ),
            (
                "asks for",
                Box::new(|w, _, _| w.scenarios[0].0 = "other".into()),
            ),
        ];
        for (want_in_reason, change) in cases {
            let (mut w, mut f, mut rep) = (wanted(&r), found(), Some(r.clone()));
            change(&mut w, &mut f, &mut rep);
            let why = judge(&w, &f, rep.as_ref()).expect_err(want_in_reason);
            assert!(
                why.contains(want_in_reason),
                "expected `{want_in_reason}` in: {why}"
            );
        }
    }
}
