//! Acceptance end to end against boards that cannot answer (the real `ssh` against loopback
//! ports), and against stand-in boards: a stand-in `ssh`/`scp` pair that runs the remote
//! command on this machine inside a scratch "board" folder, so every outcome — PASS, FAIL, a
//! missing `rros-validate`, a reboot mid-run, a lost link, a timeout, missing reports, a fleet —
//! is exercised through the same code that talks to real boards.

use rros_accept::{
    Endpoint, Event, Options, Programs, Target, Verdict, accept_board, accept_fleet, fleet_verdict,
    write_reports,
};
use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn quiet(_: &str, _: Event<'_>) {}

fn endpoint(target: &str) -> Endpoint {
    Endpoint::new(Target::parse(target).unwrap())
}

fn real_ssh_opts(connect: u64) -> Options {
    Options {
        connect_timeout: Duration::from_secs(connect),
        ..Options::default()
    }
}

fn have_ssh() -> bool {
    std::process::Command::new("ssh")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_loopback_port_where_nothing_listens_is_error_quickly() {
    if !have_ssh() {
        eprintln!("skipped: no ssh client (apt install openssh-client)");
        return;
    }
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let r = accept_board(
        &endpoint(&format!("root@127.0.0.1:{port}")),
        &real_ssh_opts(5),
        out.path(),
        &quiet,
    );
    assert_eq!(r.verdict, Verdict::Error);
    let reason = r.reason.unwrap();
    assert!(reason.contains("cannot reach root@127.0.0.1"), "{reason}");
    assert!(reason.contains("Connection refused"), "{reason}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_listener_that_never_speaks_ssh_is_error_within_the_connect_timeout() {
    if !have_ssh() {
        eprintln!("skipped: no ssh client");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Accepts and holds connections, silent, until told to stop (bounded to 60 s).
            let mut held = Vec::new();
            let until = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                if let Ok((conn, _)) = listener.accept() {
                    held.push(conn);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let r = accept_board(
        &endpoint(&format!("127.0.0.1:{port}")),
        &real_ssh_opts(3),
        out.path(),
        &quiet,
    );
    let took = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    holder.join().unwrap();
    assert_eq!(r.verdict, Verdict::Error);
    assert!(
        r.reason.as_deref().unwrap().contains("cannot reach"),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(40), "took {took:?}");
}

// ---- stand-in boards ---------------------------------------------------------------------

const FAKE_SSH: &str = r#"#!/bin/bash
# Stand-in for ssh: runs the remote command here, inside the board folder $FAKE_ROOT/<host>.
# Faults a board folder can ask for: `down` (no answer), `probe-fails` / `start-fails` (that
# many connections, for the first contact / for the run, end in a banner timeout before any
# command runs; each is counted in `*-tries`).
ctl=
while [ $# -gt 0 ]; do
  case "$1" in
    -O) ctl=$2; shift 2 ;;
    -o|-i|-p|-E) shift 2 ;;
    --) shift; dest=$1; shift; break ;;
    -*) shift ;;
    *) dest=$1; shift ;;
  esac
done
host=${dest#*@}
b=$FAKE_ROOT/$host
[ -n "$ctl" ] && { echo "$ctl" >> "$b/control-requests" 2>/dev/null; exit 0; }
[ -d "$b" ] || { echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255; }
[ -e "$b/down" ] && { echo "ssh: connect to host $host port 22: Connection timed out" >&2; exit 255; }
cmd=$1
fault() { # fault NAME: fail this connection when NAME's budget is left
  echo x >> "$b/$1-tries"
  local left; left=$(cat "$b/$1" 2>/dev/null || echo 0)
  if [ "$left" -gt 0 ]; then
    echo $((left - 1)) > "$b/$1"
    echo "Connection timed out during banner exchange" >&2
    exit 255
  fi
}
case "$cmd" in
  *boot_id*) fault probe-fails ;;
  *"rros-validate run"*) fault start-fails ;;
esac
cmd=${cmd//\/proc\/sys\/kernel\/random\/boot_id/$b/boot_id}
cmd=${cmd//\/etc\/rros\/board.toml/$b/board.toml}
cmd=${cmd//\/var\/lib\/rros-validate/$b/runs}
export B=$b
PATH=$b/bin:$FAKE_ROOT/tools exec /bin/bash -c "$cmd"
"#;

const FAKE_SCP: &str = r#"#!/bin/bash
# Stand-in for scp -r: copies out of a board folder.
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o|-i|-P) shift 2 ;;
    -*) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
src=${args[0]#*:}
eval "src=$src"
exec cp -r "$src" "${args[1]}/"
"#;

/// Writes the five report files and the verdict line; `$1` verdict, `$2` exit code, `$3` a
/// report file to leave out.
const VALIDATE_WRITES: &str = r#"#!/bin/bash
verdict=$1 code=$2 skip=$3; shift 3
out=; dur=
while [ $# -gt 0 ]; do
  case "$1" in --output-dir) out=$2; shift 2 ;; --duration) dur=$2; shift 2 ;; *) shift ;; esac
done
[ "$1" = run ] && shift
run=20261123T101500Z-fake
mkdir -p "$out/$run"
echo "audit: checking isolation"
echo "measuring idle for ${dur:-default}" >&2
for f in report.json junit.xml histogram.svg summary.md cyclictest.json; do
  [ "$f" = "$skip" ] && continue
  echo x > "$out/$run/$f"
done
# The contract's golden report of that verdict (crates/on-target/rros-contract/golden/), with this run's id.
golden=@GOLDEN@/${verdict,,}.json
if [ "$skip" != report.json ]; then
  json=$(<"$golden")
  printf '%s\n' "${json/\"run_id\": \"20260101T00000[0-9]Z-qemux86-64\"/\"run_id\": \"$run\"}" > "$out/$run/report.json"
fi
# A board whose report.json is something else (the schema tests).
[ -f "$B/report-override.json" ] && cp "$B/report-override.json" "$out/$run/report.json"
echo "rros-validate: verdict=$verdict run=$run dir=$out/$run"
exit "$code"
"#;

struct Lab {
    root: tempfile::TempDir,
    programs: Programs,
}

impl Lab {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let tools = root.path().join("tools");
        fs::create_dir_all(&tools).unwrap();
        for tool in ["cat", "uname", "sleep", "mkdir", "cp", "rm"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap();
            std::os::unix::fs::symlink(real, tools.join(tool)).unwrap();
        }
        // The stand-ins find the boards through FAKE_ROOT, baked in (the environment is
        // process-wide, and every test has its own lab).
        let bake = |body: &str| {
            body.replacen(
                "\n",
                &format!("\nFAKE_ROOT='{}'\n", root.path().display()),
                1,
            )
        };
        let programs = Programs {
            ssh: script(&root.path().join("ssh"), &bake(FAKE_SSH)),
            scp: script(&root.path().join("scp"), &bake(FAKE_SCP)),
        };
        Lab { root, programs }
    }

    /// A board answering as `host`, with `rros-validate` doing `validate` (a script body) or
    /// missing (`None`).
    fn board(&self, host: &str, validate: Option<&str>) -> PathBuf {
        let b = self.root.path().join(host);
        fs::create_dir_all(b.join("bin")).unwrap();
        fs::create_dir_all(b.join("runs")).unwrap();
        fs::write(b.join("boot_id"), "11111111-aaaa\n").unwrap();
        if let Some(body) = validate {
            script(&b.join("bin/rros-validate"), body);
        }
        b
    }

    fn opts(&self) -> Options {
        Options {
            programs: self.programs.clone(),
            connect_timeout: Duration::from_secs(2),
            reconnect_window: Duration::from_secs(3),
            timeout: Some(Duration::from_secs(30)),
            duration: Some(Duration::from_secs(30)),
            ..Options::default()
        }
    }

    fn run(&self, host: &str, opts: &Options, out: &Path) -> rros_accept::BoardResult {
        accept_board(&endpoint(&format!("root@{host}")), opts, out, &quiet)
    }
}

fn script(path: &Path, body: &str) -> PathBuf {
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    path.to_owned()
}

fn validate_script(verdict: &str, code: u8, skip: &str) -> String {
    format!("#!/bin/bash\nexec \"${{0%/*}}/validate-impl\" {verdict} {code} '{skip}' \"$@\"\n")
}

impl Lab {
    /// A board whose rros-validate writes the reports and says `verdict`.
    fn writing_board(&self, host: &str, verdict: &str, code: u8, skip: &str) -> PathBuf {
        let b = self.board(host, Some(&validate_script(verdict, code, skip)));
        let golden = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../on-target/rros-contract/golden"
        );
        script(
            &b.join("bin/validate-impl"),
            &VALIDATE_WRITES.replace("@GOLDEN@", golden),
        );
        b
    }
}

fn lab() -> Lab {
    Lab::new()
}

#[test]
fn pass_brings_every_report_home() {
    let lab = lab();
    lab.writing_board("good", "PASS", 0, "");
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("good", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    assert_eq!(r.reason, None);
    assert_eq!(r.run_id.as_deref(), Some("20261123T101500Z-fake"));
    let local = r.local_dir.clone().unwrap();
    assert_eq!(local, out.path().join("good/20261123T101500Z-fake"));
    for f in rros_accept::REPORT_FILES {
        assert!(local.join(f).is_file(), "{f} not fetched");
    }
    assert_eq!(
        fs::read_link(out.path().join("good/latest")).unwrap(),
        Path::new("20261123T101500Z-fake")
    );
    assert!(r.kernel.is_some());
    write_reports(out.path(), std::slice::from_ref(&r)).unwrap();
    let junit = fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert!(junit.contains("failures=\"0\" errors=\"0\""), "{junit}");
    let summary = fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("# Acceptance: PASS"));
}

#[test]
fn the_duration_reaches_the_board() {
    let lab = lab();
    lab.writing_board("d", "PASS", 0, "");
    let out = tempfile::tempdir().unwrap();
    let lines = std::sync::Mutex::new(Vec::new());
    let observe = |_: &str, e: Event<'_>| {
        if let Event::Output(_, line) = e {
            lines.lock().unwrap().push(line.to_owned());
        }
    };
    let mut opts = lab.opts();
    opts.duration = Some(Duration::from_secs(7));
    accept_board(&endpoint("root@d"), &opts, out.path(), &observe);
    assert!(
        lines
            .lock()
            .unwrap()
            .contains(&"measuring idle for 7s".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn fail_keeps_the_audit_findings() {
    let lab = lab();
    lab.writing_board("bad", "FAIL", 1, "histogram.svg");
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("bad", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    assert!(r.reason.as_deref().unwrap().contains("nohz-full"), "{r:?}");
    assert_eq!(r.missing, ["histogram.svg"]);
    assert_eq!(r.report.unwrap().findings[0].rule, "nohz-full");
}

#[test]
fn missing_rros_validate_is_error() {
    let lab = lab();
    lab.board("bare", None);
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("bare", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("rros-validate is not installed"),
        "{r:?}"
    );
}

#[test]
fn a_reboot_mid_run_is_error_not_fail() {
    let lab = lab();
    lab.board(
        "flaky",
        Some("#!/bin/bash\necho 'measuring'\necho 22222222-bbbb > \"$B/boot_id\"\necho 'Connection to flaky closed by remote host.' >&2\nexit 255\n"),
    );
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("flaky", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    let reason = r.reason.unwrap();
    assert!(reason.contains("rebooted during the run"), "{reason}");
    assert!(reason.contains("11111111 → 22222222"), "{reason}");
}

#[test]
fn a_link_that_stays_down_is_error_within_the_reconnect_window() {
    let lab = lab();
    lab.board(
        "gone",
        Some("#!/bin/bash\necho measuring\n: > \"$B/down\"\nexit 255\n"),
    );
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let r = lab.run("gone", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .contains("did not answer again"),
        "{r:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_run_past_its_time_bound_is_error() {
    let lab = lab();
    lab.board("slow", Some("#!/bin/bash\necho measuring\nexec sleep 60\n"));
    let out = tempfile::tempdir().unwrap();
    let mut opts = lab.opts();
    opts.timeout = Some(Duration::from_secs(2));
    let start = Instant::now();
    let r = lab.run("slow", &opts, out.path());
    assert_eq!(r.verdict, Verdict::Error);
    let reason = r.reason.unwrap();
    assert!(reason.contains("no verdict within 2s"), "{reason}");
    assert!(reason.contains("did not reboot"), "{reason}");
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn pass_without_all_reports_is_error() {
    let lab = lab();
    lab.writing_board("thin", "PASS", 0, "cyclictest.json");
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("thin", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert!(r.reason.unwrap().contains("cyclictest.json"));
}

#[test]
fn a_verdict_the_exit_code_contradicts_is_error() {
    let lab = lab();
    lab.writing_board("liar", "PASS", 1, "");
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("liar", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert!(r.reason.unwrap().contains("disagree"));
}

#[test]
fn a_fleet_runs_in_parallel_and_adds_up() {
    let lab = lab();
    lab.writing_board("a", "PASS", 0, "");
    lab.writing_board("b", "FAIL", 1, "");
    let endpoints = [
        endpoint("root@a"),
        endpoint("root@b"),
        endpoint("root@nowhere"),
    ];
    let out = tempfile::tempdir().unwrap();
    let results = accept_fleet(&endpoints, &lab.opts(), out.path(), 0, &quiet);
    let verdicts: Vec<_> = results.iter().map(|r| r.verdict).collect();
    assert_eq!(verdicts, [Verdict::Pass, Verdict::Fail, Verdict::Error]);
    assert_eq!(fleet_verdict(verdicts), Verdict::Fail);
    write_reports(out.path(), &results).unwrap();
    let junit = fs::read_to_string(out.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3);
    let summary = fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.contains("3 board(s): 1 PASS, 1 FAIL, 1 ERROR."));
    assert!(
        out.path()
            .join("a/20261123T101500Z-fake/report.json")
            .is_file()
    );
    assert!(
        out.path()
            .join("b/20261123T101500Z-fake/report.json")
            .is_file()
    );
    let mut s = String::new();
    fs::File::open(out.path().join("accept.json"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert!(s.contains("\"verdict\": \"FAIL\""));
}

// ---- could not start vs lost mid-run (issue #11) -------------------------------------------

fn tries(board: &Path, what: &str) -> usize {
    fs::read_to_string(board.join(format!("{what}-tries")))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn accept_json(results: &[rros_accept::BoardResult]) -> serde_json::Value {
    serde_json::from_str(&rros_accept::report::accept_json(results)).unwrap()
}

#[test]
fn a_run_that_could_not_start_is_retried_and_then_measures() {
    let lab = lab();
    let b = lab.writing_board("busy", "PASS", 0, "");
    fs::write(b.join("start-fails"), "1").unwrap();
    let notes = std::sync::Mutex::new(Vec::new());
    let observe = |_: &str, e: Event<'_>| {
        if let Event::Note(n) = e {
            notes.lock().unwrap().push(n.to_owned());
        }
    };
    let out = tempfile::tempdir().unwrap();
    let r = accept_board(&endpoint("root@busy"), &lab.opts(), out.path(), &observe);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    assert_eq!(tries(&b, "start-fails"), 2, "one failed start, one run");
    let notes = notes.lock().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("SSH could not start the run")
                && n.contains("banner exchange")
                && n.contains("attempt 2 of 3")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n == "rros-validate started on the board")
    );
}

#[test]
fn a_run_that_never_starts_is_could_not_start_not_lost_mid_run() {
    let lab = lab();
    let b = lab.writing_board("stuck", "PASS", 0, "");
    fs::write(b.join("start-fails"), "99").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("stuck", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(r.error_kind, Some(rros_accept::ErrorKind::CouldNotStart));
    let reason = r.reason.clone().unwrap();
    assert!(reason.contains("could not start rros-validate"), "{reason}");
    assert!(
        reason.contains("before the remote command started"),
        "{reason}"
    );
    assert!(reason.contains("nothing ran on the board"), "{reason}");
    assert!(!reason.contains("during the run"), "{reason}");
    assert_eq!(
        tries(&b, "start-fails"),
        rros_accept::run::START_ATTEMPTS as usize,
        "bounded retries"
    );
    let doc = accept_json(std::slice::from_ref(&r));
    assert_eq!(doc["boards"][0]["error_kind"], "could-not-start");
}

#[test]
fn a_link_lost_after_the_start_is_lost_mid_run_and_not_retried() {
    let lab = lab();
    let b = lab.board(
        "cut",
        Some("#!/bin/bash\necho measuring\necho 'Connection to cut closed by remote host.' >&2\nexit 255\n"),
    );
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("cut", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(r.error_kind, Some(rros_accept::ErrorKind::LostMidRun));
    let reason = r.reason.clone().unwrap();
    assert!(
        reason.contains("broke during the run, after rros-validate had started"),
        "{reason}"
    );
    assert!(reason.contains("did not reboot"), "{reason}");
    assert_eq!(
        tries(&b, "start-fails"),
        1,
        "a started run is never run twice"
    );
    let doc = accept_json(std::slice::from_ref(&r));
    assert_eq!(doc["boards"][0]["error_kind"], "lost-mid-run");
}

#[test]
fn first_contact_banner_timeouts_are_retried_with_backoff() {
    let lab = lab();
    let b = lab.writing_board("slowbanner", "PASS", 0, "");
    fs::write(b.join("probe-fails"), "2").unwrap();
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let r = lab.run("slowbanner", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    assert_eq!(tries(&b, "probe-fails"), 3);
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "backoff 1 s + 2 s"
    );
}

#[test]
fn first_contact_that_never_passes_the_banner_is_could_not_start() {
    let lab = lab();
    let b = lab.writing_board("nobanner", "PASS", 0, "");
    fs::write(b.join("probe-fails"), "99").unwrap();
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("nobanner", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(r.error_kind, Some(rros_accept::ErrorKind::CouldNotStart));
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("cannot reach root@nobanner over SSH"),
        "{reason}"
    );
    assert!(reason.contains("(3 attempts)"), "{reason}");
    assert_eq!(tries(&b, "probe-fails"), 3);
}

#[test]
fn a_reboot_mid_run_is_error_kind_rebooted() {
    let lab = lab();
    lab.board(
        "rebooter",
        Some("#!/bin/bash\necho 'measuring'\necho 22222222-bbbb > \"$B/boot_id\"\nexit 255\n"),
    );
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("rebooter", &lab.opts(), out.path());
    assert_eq!(r.error_kind, Some(rros_accept::ErrorKind::Rebooted));
    assert!(
        r.reason
            .unwrap()
            .contains("the board rebooted during the run")
    );
}

#[test]
fn the_session_closes_its_shared_connection() {
    let lab = lab();
    let b = lab.writing_board("tidy", "PASS", 0, "");
    let out = tempfile::tempdir().unwrap();
    // The stand-in makes no socket, so there is nothing to close; a real run is checked by
    // tests/vboard/run. Here: no control request is sent for a socket that is not there.
    let r = lab.run("tidy", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(!b.join("control-requests").exists());
}

// ---- issue #12: hostile boards -----------------------------------------------------------

fn override_report(board: &Path, json: &str) {
    fs::write(board.join("report-override.json"), json).unwrap();
}

/// The contract's golden PASS report, edited.
fn golden_pass_with(edit: impl Fn(&mut serde_json::Value)) -> String {
    let text = include_str!("../../../on-target/rros-contract/golden/pass.json");
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    v["run_id"] = "20261123T101500Z-fake".into();
    edit(&mut v);
    v.to_string()
}

/// Finding 4: the issue's reproduction — PASS, exit 0, report.json `{"no":"verdict"}`.
#[test]
fn report_json_that_breaks_the_schema_is_never_pass() {
    let lab = lab();
    let b = lab.writing_board("loose", "PASS", 0, "");
    override_report(&b, r#"{"no":"verdict"}"#);
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("loose", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("report.json from the board cannot be trusted"),
        "{reason}"
    );
    assert!(reason.contains("rros-validate/1 schema"), "{reason}");
}

/// Finding 4: zero scenarios is not PASS.
#[test]
fn a_pass_report_with_zero_scenarios_is_never_pass() {
    let lab = lab();
    let b = lab.writing_board("empty", "PASS", 0, "");
    override_report(
        &b,
        &golden_pass_with(|v| v["scenarios"] = serde_json::json!([])),
    );
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("empty", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    assert!(r.reason.unwrap().contains("zero scenarios"));
}

/// Finding 4: the report's verdict must match the line and the exit code.
#[test]
fn a_report_verdict_that_contradicts_the_line_is_never_pass() {
    let lab = lab();
    let b = lab.writing_board("contra", "PASS", 0, "");
    override_report(
        &b,
        &golden_pass_with(|v| {
            v["verdict"] = "FAIL".into();
            v["scenarios"][0]["verdict"] = "FAIL".into();
        }),
    );
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("contra", &lab.opts(), out.path());
    assert_eq!(r.verdict, Verdict::Error, "{r:?}");
    assert!(r.reason.unwrap().contains("report.json says FAIL"));
}

/// Finding 6: one board's failure (here a panic, provoked through the observer) never costs
/// another board its report.
#[test]
fn one_board_that_panics_costs_no_other_board_its_report() {
    let lab = lab();
    lab.writing_board("a", "PASS", 0, "");
    lab.writing_board("boom", "PASS", 0, "");
    let observe = |name: &str, e: Event<'_>| {
        if name == "boom" && matches!(e, Event::Phase(rros_accept::Phase::Measuring { .. })) {
            panic!("provoked");
        }
    };
    let out = tempfile::tempdir().unwrap();
    let results = accept_fleet(
        &[endpoint("root@a"), endpoint("root@boom")],
        &lab.opts(),
        out.path(),
        0,
        &observe,
    );
    assert_eq!(results[0].verdict, Verdict::Pass, "{:?}", results[0]);
    assert_eq!(results[1].verdict, Verdict::Error);
    let why = results[1].reason.clone().unwrap();
    assert!(
        why.contains("internal error") && why.contains("provoked"),
        "{why}"
    );
    write_reports(out.path(), &results).unwrap();
    assert!(out.path().join("a/latest/report.json").is_file());
}

/// Finding 6: an absurd --duration gives a bounded ERROR, never a panic.
#[test]
fn an_absurd_duration_never_panics() {
    let lab = lab();
    lab.writing_board("huge", "PASS", 0, "");
    let mut opts = lab.opts();
    opts.timeout = None;
    opts.duration = Some(Duration::from_secs(u64::MAX / 2));
    let out = tempfile::tempdir().unwrap();
    let r = lab.run("huge", &opts, out.path());
    // The stand-in does not refuse it; what matters is that accept survives it.
    assert!(matches!(r.verdict, Verdict::Pass | Verdict::Error), "{r:?}");
}

/// Finding 10: a board flooding one enormous line keeps neither the line nor this process's
/// memory unbounded, and its verdict line after the flood is still read.
#[test]
fn a_board_flooding_one_line_keeps_its_verdict() {
    let lab = lab();
    let b = lab.writing_board("flood", "PASS", 0, "");
    script(
        &b.join("bin/rros-validate"),
        "#!/bin/bash\nhead -c 20000000 /dev/zero | tr '\\0' x\necho\nexec \"${0%/*}/validate-impl\" PASS 0 '' \"$@\"\n",
    );
    for tool in ["head", "tr"] {
        let real = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap();
        let _ = std::os::unix::fs::symlink(real, b.join("bin").join(tool));
    }
    let longest = std::sync::atomic::AtomicUsize::new(0);
    let observe = |_: &str, e: Event<'_>| {
        if let Event::Output(_, line) = e {
            longest.fetch_max(line.len(), Ordering::SeqCst);
        }
    };
    let out = tempfile::tempdir().unwrap();
    let r = accept_board(&endpoint("root@flood"), &lab.opts(), out.path(), &observe);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    let longest = longest.load(Ordering::SeqCst);
    assert!(
        longest <= rros_remote::process::MAX_LINE + 100,
        "a relayed line of {longest} bytes"
    );
    let log = fs::metadata(out.path().join("flood/output.log"))
        .unwrap()
        .len();
    assert!(log < 1_000_000, "output.log {log} bytes");
}

/// Finding 15: a server that sends its banner and then stalls ends within the connect
/// timeout's bound, and the message says what happened.
#[test]
fn banner_then_stall_honours_the_connect_timeout() {
    if !have_ssh() {
        eprintln!("skipped: no ssh client");
        return;
    }
    use std::io::Write as _;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            let until = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                if let Ok((mut conn, _)) = listener.accept() {
                    let _ = conn.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
                    held.push(conn);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let r = accept_board(
        &endpoint(&format!("127.0.0.1:{port}")),
        &real_ssh_opts(2),
        out.path(),
        &quiet,
    );
    let took = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    holder.join().unwrap();
    assert_eq!(r.verdict, Verdict::Error);
    assert_eq!(r.error_kind, Some(rros_accept::ErrorKind::CouldNotStart));
    let reason = r.reason.unwrap();
    assert!(reason.contains("sent its SSH banner"), "{reason}");
    assert!(reason.contains("did not finish within 4s"), "{reason}");
    assert!(!reason.contains("nothing on stderr"), "{reason}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
}

/// Finding 16: what the board prints reaches the terminal with its control characters
/// escaped, and output.log keeps the raw bytes.
#[test]
fn board_output_is_sanitized_on_the_terminal_and_raw_in_the_log() {
    let lab = lab();
    let b = lab.writing_board("ansi", "PASS", 0, "");
    script(
        &b.join("bin/rros-validate"),
        "#!/bin/bash\nprintf 'evil \\033]0;pwned\\007 \\033[2J done\\n' >&2\nexec \"${0%/*}/validate-impl\" PASS 0 '' \"$@\"\n",
    );
    let lines = std::sync::Mutex::new(Vec::new());
    let observe = |_: &str, e: Event<'_>| {
        if let Event::Output(_, line) = e {
            lines.lock().unwrap().push(line.to_owned());
        }
    };
    let out = tempfile::tempdir().unwrap();
    let r = accept_board(&endpoint("root@ansi"), &lab.opts(), out.path(), &observe);
    assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    let lines = lines.lock().unwrap();
    let evil = lines.iter().find(|l| l.starts_with("evil")).unwrap();
    assert!(!evil.chars().any(char::is_control), "{evil:?}");
    assert!(evil.contains("\\u{1b}]0;pwned\\u{7}"), "{evil:?}");
    let raw = fs::read(out.path().join("ansi/output.log")).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        raw.contains("err| evil \u{1b}]0;pwned\u{7} \u{1b}[2J done\n"),
        "{raw:?}"
    );
}

/// `--baseline` through the stand-in board: a second run of the same board is UNCHANGED
/// against the first (exit PASS, JUnit green, the words in summary.md and accept.json); a run
/// whose latencies tripled is REGRESSED: acceptance FAILs with one JUnit failure per
/// regressed scenario; and a board without a baseline is named and changes nothing.
#[test]
fn a_baseline_comparison_decides_and_shows_in_every_report() {
    use rros_accept::baseline;
    let lab = lab();
    lab.writing_board("good", "PASS", 0, "");
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r1 = lab.run("good", &lab.opts(), first.path());
    write_reports(first.path(), std::slice::from_ref(&r1)).unwrap();
    let r2 = lab.run("good", &lab.opts(), second.path());
    let found = baseline::find(first.path(), "good");
    let same = baseline::judge(
        "good",
        &found,
        r2.local_dir.as_deref(),
        baseline::Rules::default(),
    );
    assert_eq!(
        same.outcome.verdict(),
        Verdict::Pass,
        "{}",
        same.outcome.line()
    );
    assert!(
        same.outcome
            .line()
            .starts_with("UNCHANGED against baseline run 20261123T101500Z-fake")
    );
    let missing = baseline::judge(
        "other",
        &baseline::find(first.path(), "other"),
        r2.local_dir.as_deref(),
        baseline::Rules::default(),
    );
    let compared = [same, missing];
    rros_accept::write_reports_with(second.path(), std::slice::from_ref(&r2), &compared).unwrap();
    let summary = fs::read_to_string(second.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("# Acceptance: PASS"), "{summary}");
    assert!(summary.contains("## Against the baseline"), "{summary}");
    assert!(
        summary.contains("\nAgainst the baseline: PASS.\n"),
        "{summary}"
    );
    assert!(
        summary.contains("| idle | **UNCHANGED** | 5000 → 5000 | 2 [2, 4] → 2 [2, 4] µs |"),
        "{summary}"
    );
    assert!(
        summary.contains("### other — no baseline: no baseline run for board other"),
        "{summary}"
    );
    let doc = accept_json(std::slice::from_ref(&r2));
    assert!(
        doc.get("baseline").is_none(),
        "no baseline asked: no baseline field"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(second.path().join("accept.json")).unwrap())
            .unwrap();
    assert_eq!(doc["verdict"], "PASS");
    assert_eq!(doc["baseline"][0]["change"], "UNCHANGED");
    assert_eq!(
        doc["baseline"][0]["scenarios"][0]["metrics"][1]["metric"],
        "p99"
    );
    assert!(doc["baseline"][0]["scenarios"][0]["metrics"][1]["base"]["upper_us"].is_number());
    assert_eq!(doc["baseline"][1]["verdict"], "PASS");
    let junit = fs::read_to_string(second.path().join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"baseline:idle\""), "{junit}");
    assert!(junit.contains("failures=\"0\" errors=\"0\""), "{junit}");

    // The new run's latencies tripled: REGRESSED, and acceptance does not pass.
    let report = r2.local_dir.as_ref().unwrap().join("report.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    for s in v["scenarios"].as_array_mut().unwrap() {
        s["max_us"] = (s["max_us"].as_f64().unwrap() * 3.0).into();
        for cpu in s["per_cpu"].as_array_mut().unwrap() {
            cpu["histogram"]["range_us"] = 100000.0.into();
            for bin in cpu["histogram"]["bins"].as_array_mut().unwrap() {
                bin[0] = (bin[0].as_f64().unwrap() * 3.0).floor().into();
            }
        }
    }
    fs::write(&report, v.to_string()).unwrap();
    let worse = [baseline::judge(
        "good",
        &found,
        r2.local_dir.as_deref(),
        baseline::Rules::default(),
    )];
    // A noise threshold above the shift silences it (p50 [2, 4] → [6, 12] is within 200 %).
    let within = baseline::Rules {
        allow_mismatch: false,
        noise: 2.0,
    };
    let silenced = baseline::judge("good", &found, r2.local_dir.as_deref(), within);
    assert_eq!(
        silenced.outcome.verdict(),
        Verdict::Pass,
        "{}",
        silenced.outcome.line()
    );
    assert_eq!(baseline::with_baseline(r2.verdict, &worse), Verdict::Fail);
    rros_accept::write_reports_with(second.path(), std::slice::from_ref(&r2), &worse).unwrap();
    let summary = fs::read_to_string(second.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("# Acceptance: FAIL"), "{summary}");
    assert!(summary.contains("| idle | **REGRESSED** |"), "{summary}");
    assert!(
        summary.contains("\nAgainst the baseline: FAIL (good).\n"),
        "{summary}"
    );
    assert!(
        summary.contains("→ 6 [6, 12] µs **REGRESSED**"),
        "{summary}"
    );
    let junit = fs::read_to_string(second.path().join("junit.xml")).unwrap();
    let regressed = junit.matches("REGRESSED against baseline run").count();
    assert!(regressed >= 1, "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
    let doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(second.path().join("accept.json")).unwrap())
            .unwrap();
    assert_eq!(
        (doc["verdict"].as_str(), doc["boards_verdict"].as_str()),
        (Some("FAIL"), Some("PASS"))
    );
}
