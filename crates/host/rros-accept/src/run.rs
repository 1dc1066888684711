//! Accepting a board: connect, run `rros-validate run` on it, watch for a reboot, bring the
//! reports home. Many boards run in parallel, each on its own thread.

use crate::report::{
    BoardResult, ErrorKind, REPORT_FILES, check_report, fail_reason, parse_report,
};
use crate::ssh::{
    Captured, Programs, Ssh, Stream, last_line, run_captured, run_streaming, sanitize, shell_quote,
};
use crate::target::Endpoint;
use crate::verdict::{RemoteExit, RunJudgement, Verdict, find_verdict_line, judge_run};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where `rros-validate` keeps its runs on the board (the on-target contract's default).
pub const REMOTE_OUTPUT_DIR: &str = "/var/lib/rros-validate";

/// Knobs of one acceptance run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Passed to `rros-validate run --duration` (each scenario's measuring time).
    pub duration: Option<Duration>,
    /// Passed as `--scenario` (all of the profile's when empty).
    pub scenarios: Vec<String>,
    /// Bound on the measuring step; derived from the board's profile when `None`.
    pub timeout: Option<Duration>,
    /// Bound on the TCP connect and SSH banner exchange of each call.
    pub connect_timeout: Duration,
    /// After the link broke mid-run, how long to try to reach the board again to tell a
    /// reboot from a lost link.
    pub reconnect_window: Duration,
    /// How long to wait for a board that is still booting or running a validation of its
    /// own before measuring; derived from the board's profile when `None`.
    pub boot_wait: Option<Duration>,
    pub remote_output_dir: String,
    pub programs: Programs,
    /// Passed as `--backend` (`posix`, `evl`); `None` leaves `rros-validate`'s `auto`.
    pub backend: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: None,
            scenarios: Vec::new(),
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            reconnect_window: Duration::from_secs(120),
            boot_wait: None,
            remote_output_dir: REMOTE_OUTPUT_DIR.to_owned(),
            programs: Programs::default(),
            backend: None,
        }
    }
}

/// Steps of a board's acceptance, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    /// The board is still booting or running a validation of its own (boot-time service,
    /// timer); the run waits for it, bounded by `timeout`.
    Waiting {
        reason: String,
        timeout: Duration,
    },
    /// Measuring, bounded by the timeout.
    Measuring {
        timeout: Duration,
    },
    /// The link broke: trying to reach the board again.
    Reconnecting,
    Fetching,
    Done(Verdict),
}

/// What a board's acceptance reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    Phase(Phase),
    /// A line `rros-validate` printed on the board.
    Output(Stream, &'a str),
    /// Something worth a line: the board's kernel, a warning.
    Note(&'a str),
}

/// Receives `(board name, event)`; called from the boards' threads.
pub type Observer<'a> = &'a (dyn Fn(&str, Event<'_>) + Sync);

/// What the first call learns about the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub boot_id: String,
    pub kernel: String,
    /// Where `rros-validate` is on the board's PATH, if anywhere.
    pub validate: Option<String>,
}

const PROBE_SCRIPT: &str = "printf 'boot_id=%s\\n' \"$(cat /proc/sys/kernel/random/boot_id)\"; \
printf 'kernel=%s\\n' \"$(uname -r)\"; printf 'validate=%s\\n' \"$(command -v rros-validate)\"";

/// Reads the probe's `key=value` lines.
pub fn parse_probe(stdout: &str) -> Option<Probe> {
    let mut probe = Probe {
        boot_id: String::new(),
        kernel: String::new(),
        validate: None,
    };
    for line in stdout.lines() {
        match line.split_once('=') {
            Some(("boot_id", v)) => probe.boot_id = v.trim().to_owned(),
            Some(("kernel", v)) => probe.kernel = v.trim().to_owned(),
            Some(("validate", v)) if !v.trim().is_empty() => {
                probe.validate = Some(v.trim().to_owned())
            }
            _ => {}
        }
    }
    (!probe.boot_id.is_empty()).then_some(probe)
}

/// A hint for ssh's usual complaints, appended to the message.
pub fn ssh_hint(stderr: &str) -> &'static str {
    let s = stderr.to_ascii_lowercase();
    if s.contains("connection refused") {
        " (nothing listens there: is the board up, sshd running, the port right?)"
    } else if s.contains("timed out") {
        " (no answer: wrong address, board off, or a firewall)"
    } else if s.contains("permission denied") {
        " (the board refused the key: pass --identity KEY, or add your public key to the board's authorized_keys)"
    } else if s.contains("host key verification failed")
        || s.contains("remote host identification has changed")
    {
        " (the board's host key is not the one known: if it was reflashed, remove the old key with `ssh-keygen -R HOST`)"
    } else if s.contains("could not resolve hostname") {
        " (the host name does not resolve)"
    } else {
        ""
    }
}

/// How long the measuring step may take: the contract's one formula
/// (`rros_contract::plan::timeout_s`, what `rros-validate plan` says) over the selected
/// scenarios at their durations, or at `duration` when given. Without a readable profile: 30 minutes, or 2 × 8 × `duration` + 5 min. Never
/// panics: sums saturate, and the result is at most [`crate::ssh::MAX_CALL`].
pub fn derive_timeout(
    profile_text: Option<&str>,
    scenarios: &[String],
    duration: Option<Duration>,
) -> Duration {
    let board = profile_text.and_then(|text| {
        let profile = rros_board::parse_profile(text, Path::new("/etc/rros/board.toml")).ok()?;
        rros_board::validate(&profile, None).board
    });
    match board {
        Some(board) => {
            // `rros accept` runs with `run`'s default warm-up and load grace.
            let measured: Vec<f64> = board
                .scenarios
                .iter()
                .filter(|s| scenarios.is_empty() || scenarios.contains(&s.name))
                .map(|s| duration.unwrap_or(s.duration).as_secs_f64())
                .collect();
            Duration::from_secs(rros_contract::plan::timeout_s(
                &measured,
                rros_contract::plan::DEFAULT_WARMUP_S,
                rros_contract::plan::DEFAULT_LOAD_GRACE_S,
            ))
        }
        None => match duration {
            Some(d) => d
                .saturating_mul(16)
                .saturating_add(Duration::from_secs(300)),
            None => Duration::from_secs(30 * 60),
        },
    }
    // Absurd durations saturate: the bound stays representable on any clock.
    .min(crate::ssh::MAX_CALL)
}

/// The command line run on the board.
pub fn remote_command(opts: &Options) -> String {
    let mut cmd = format!(
        "rros-validate run --output-dir {}",
        shell_quote(&opts.remote_output_dir)
    );
    if let Some(d) = opts.duration {
        cmd.push_str(" --duration ");
        cmd.push_str(&shell_quote(&humantime::format_duration(d).to_string()));
    }
    for s in &opts.scenarios {
        cmd.push_str(" --scenario ");
        cmd.push_str(&shell_quote(s));
    }
    if let Some(backend) = &opts.backend {
        cmd.push_str(" --backend ");
        cmd.push_str(&shell_quote(backend));
    }
    cmd
}

/// How many times a call that could not start (connect, banner, key exchange) is tried.
pub const START_ATTEMPTS: u32 = 3;

/// The pause before start attempt `attempt + 1`: 1 s, 2 s, 4 s, … at most 8 s.
pub fn start_backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(3))
}

/// Says why a start failed and that it is tried again, waits [`start_backoff`], and returns
/// the next attempt's number: the one retry step of the probe and of the run.
fn pause_before_retry(emit: &impl Fn(Event), what: &str, why: &str, attempt: u32) -> u32 {
    let pause = start_backoff(attempt);
    emit(Event::Note(&format!(
        "{what} ({why}): trying again in {} (attempt {} of {START_ATTEMPTS})",
        human(pause),
        attempt + 1
    )));
    std::thread::sleep(pause);
    attempt + 1
}

/// The bound on a call that logs in and runs a short command: ssh's own `ConnectTimeout`
/// bounds the TCP connect and the banner exchange (each), this bounds the key exchange and the
/// login after the banner too.
pub fn login_bound(connect_timeout: Duration) -> Duration {
    connect_timeout
        .saturating_mul(2)
        .max(Duration::from_secs(2))
}

/// Whether ssh's complaint (exit 255 before the remote command started) may pass on a retry:
/// a banner or TCP timeout, a reset or closed connection (a slow or busy board). A refused
/// connection, a refused key, a changed host key or an unknown host name will not.
pub fn transient_start_failure(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    let permanent = [
        "connection refused",
        "permission denied",
        "host key verification failed",
        "identification has changed",
        "could not resolve",
        "no such file",
        "bad configuration",
    ];
    let transient = [
        "timed out",
        "banner exchange",
        "kex_exchange_identification",
        "connection reset",
        "closed by",
        "connection closed",
        "broken pipe",
        "no route to host",
        "network is unreachable",
        "mux_client",
        "control socket",
    ];
    !permanent.iter().any(|p| s.contains(p)) && transient.iter().any(|t| s.contains(t))
}

/// Printed on the board's stdout right before `rros-validate` is executed: what tells "the
/// link broke before anything ran" (safe to retry) from "the link broke during the run".
pub const STARTED_MARK: &str = "rros-accept: remote command started";

/// The script run on the board: the start mark, then [`remote_command`].
pub fn remote_script(opts: &Options) -> String {
    format!("echo '{STARTED_MARK}'; exec {}", remote_command(opts))
}

/// Why the first contact did not give a [`Probe`].
struct ProbeError {
    kind: ErrorKind,
    reason: String,
}

/// First contact: logs in (retrying what may pass, with backoff), learns the boot id.
fn probe_board(ssh: &Ssh, target: &str, emit: &dyn Fn(Event<'_>)) -> Result<Probe, ProbeError> {
    let bound = login_bound(ssh.connect_timeout);
    let could_not_start = |reason: String| ProbeError {
        kind: ErrorKind::CouldNotStart,
        reason,
    };
    let mut attempt = 1;
    loop {
        let c = match ssh.capture(PROBE_SCRIPT, bound) {
            Err(e) => {
                return Err(could_not_start(format!(
                    "cannot run ssh: {e} (is openssh-client installed?)"
                )));
            }
            Ok(c) => c,
        };
        if c.timed_out {
            // ssh's ConnectTimeout would have ended a connect or a banner that never came:
            // the board took the connection and sent its banner, then stalled.
            let said = match c.stderr.trim() {
                "" => String::new(),
                _ => format!("; ssh said: {}", c.stderr_tail()),
            };
            return Err(could_not_start(format!(
                "cannot reach {target} over SSH: it took the connection and sent its SSH banner, then the key exchange and login did not finish within {} (2 × --connect-timeout){said}: an overloaded or stalled sshd, or not an SSH server at that port",
                human(bound)
            )));
        }
        if c.success() {
            return parse_probe(&c.stdout).ok_or_else(|| ProbeError {
                kind: ErrorKind::Board,
                reason: format!(
                    "{target} answered, but /proc/sys/kernel/random/boot_id could not be read: {}",
                    sanitize(&last_line(&c.stderr))
                ),
            });
        }
        let tail = c.stderr_tail();
        if c.link_failed() && transient_start_failure(&c.stderr) && attempt < START_ATTEMPTS {
            attempt = pause_before_retry(&emit, "SSH could not start", &tail, attempt);
            continue;
        }
        let tries = if attempt > 1 {
            format!(" ({attempt} attempts)")
        } else {
            String::new()
        };
        return Err(could_not_start(format!(
            "cannot reach {target} over SSH: {tail}{}{tries}",
            ssh_hint(&c.stderr)
        )));
    }
}

/// Accepts one board; every outcome, including an unreachable board, is a [`BoardResult`].
/// The board's run folder lands in `out/<name>/<run-id>/`, and everything the board printed
/// during the run, unfiltered, in `out/<name>/output.log`.
pub fn accept_board(
    endpoint: &Endpoint,
    opts: &Options,
    out: &Path,
    observe: Observer<'_>,
) -> BoardResult {
    let start = Instant::now();
    let name = endpoint.name.as_str();
    let emit = |e: Event<'_>| observe(name, e);
    // One SSH connection for the whole session: probe, waits, run and fetch share it.
    let mut ssh = Ssh::new(endpoint.clone(), opts.connect_timeout);
    ssh.programs = opts.programs.clone();
    let ssh = ssh.multiplexed();
    let target = endpoint.target.to_string();
    let error_of = |kind: ErrorKind, reason: String| {
        let r = BoardResult::error_of(kind, name, &target, reason, start.elapsed());
        emit(Event::Phase(Phase::Done(Verdict::Error)));
        r
    };
    let error = |reason: String| error_of(ErrorKind::Board, reason);

    // 1. Reach the board; learn its boot id and whether rros-validate is there.
    emit(Event::Phase(Phase::Connecting));
    let probe = match probe_board(&ssh, &target, &emit) {
        Ok(p) => p,
        Err(e) => return error_of(e.kind, e.reason),
    };
    let kernel = sanitize(&probe.kernel);
    emit(Event::Note(&format!("kernel {kernel}")));
    let with_kernel = |mut r: BoardResult| {
        r.kernel = Some(kernel.clone());
        r
    };
    if probe.validate.is_none() {
        return with_kernel(error(format!(
            "rros-validate is not installed on {target} (not on the board's PATH): install the image's rros-validate package, or copy the binary to /usr/bin"
        )));
    }

    let profile = ssh
        .capture(
            "cat /etc/rros/board.toml",
            login_bound(opts.connect_timeout) + Duration::from_secs(30),
        )
        .ok()
        .filter(Captured::success)
        .map(|c| c.stdout);
    let timeout = opts
        .timeout
        .unwrap_or_else(|| derive_timeout(profile.as_deref(), &opts.scenarios, opts.duration));
    // A validation of the board's own measures the whole profile at its durations.
    let boot_wait = opts
        .boot_wait
        .unwrap_or_else(|| derive_timeout(profile.as_deref(), &[], None));

    // 2. Let the board finish booting: its boot-time validation runs last and holds the
    //    output directory while it measures (as does a run started by the timer).
    if let Err(reason) = wait_until_idle(&ssh, opts.connect_timeout, boot_wait, &emit) {
        return with_kernel(error(reason));
    }

    // 3. Measure. Output is relayed sanitized; the raw copy goes to output.log.
    let board_dir = out.join(name);
    let mut raw_log = RawLog::open(&board_dir.join("output.log"));
    emit(Event::Phase(Phase::Measuring { timeout }));
    let mut attempt = 1;
    let (exit, stdout_tail, stderr_tail) = loop {
        let mut started = false;
        let mut stdout_tail: Vec<String> = Vec::new();
        let mut stderr_tail: Vec<String> = Vec::new();
        let ran = run_streaming(
            ssh.command(&remote_script(opts)),
            timeout,
            |stream, line| {
                if !started && stream == Stream::Stdout && line == STARTED_MARK {
                    started = true;
                    emit(Event::Note("rros-validate started on the board"));
                    return;
                }
                raw_log.write(stream, line);
                emit(Event::Output(stream, &sanitize(line)));
                let tail = match stream {
                    Stream::Stdout => &mut stdout_tail,
                    Stream::Stderr => &mut stderr_tail,
                };
                tail.push(line.to_owned());
                if tail.len() > 200 {
                    tail.remove(0);
                }
            },
        );
        let (status, timed_out) = match ran {
            Ok(x) => x,
            Err(e) => return with_kernel(error(format!("cannot run ssh: {e}"))),
        };
        let exit = match status.and_then(|s| s.code()) {
            _ if timed_out => RemoteExit::TimedOut,
            Some(255) => RemoteExit::Link,
            Some(code) => RemoteExit::Code(code),
            None => RemoteExit::Link,
        };
        if exit != RemoteExit::Link || started {
            break (exit, stdout_tail, stderr_tail);
        }
        // ssh failed before the remote command started: nothing ran, a retry is safe.
        let why = sanitize(&stderr_tail.join(" / "));
        let why = if why.is_empty() {
            "(ssh printed nothing)".to_owned()
        } else {
            why
        };
        if transient_start_failure(&stderr_tail.join("\n")) && attempt < START_ATTEMPTS {
            attempt = pause_before_retry(&emit, "SSH could not start the run", &why, attempt);
            // A board that rebooted meanwhile is not measured as if nothing happened.
            if let Ok(again) = probe_board(&ssh, &target, &emit)
                && again.boot_id != probe.boot_id
            {
                return with_kernel(error_of(
                    ErrorKind::Rebooted,
                    format!(
                        "the board rebooted before the run started (boot id {} → {}); SSH had failed with: {why}",
                        short(&probe.boot_id),
                        short(&again.boot_id)
                    ),
                ));
            }
            continue;
        }
        return with_kernel(error_of(
            ErrorKind::CouldNotStart,
            format!(
                "could not start rros-validate on {target}: SSH failed before the remote command started ({why}){}, {attempt} attempt(s); nothing ran on the board, so this says nothing about its latency: try again",
                ssh_hint(&stderr_tail.join("\n"))
            ),
        ));
    };
    let line = find_verdict_line(stdout_tail.iter().map(String::as_str));
    let verdict_line = match judge_run(exit, line) {
        RunJudgement::Verdict(line) => line,
        RunJudgement::LinkLost => {
            emit(Event::Phase(Phase::Reconnecting));
            let why = stderr_tail
                .last()
                .map(|l| sanitize(l))
                .unwrap_or_else(|| "ssh printed nothing".into());
            let (kind, reason) = explain_break(
                &ssh,
                &probe.boot_id,
                opts.reconnect_window,
                &format!(
                    "the SSH link broke during the run, after rros-validate had started ({why})"
                ),
            );
            return with_kernel(error_of(kind, reason));
        }
        RunJudgement::Error(_) if exit == RemoteExit::TimedOut => {
            let base = format!(
                "no verdict within {} (the run's time bound; raise it with --timeout; the run may go on on the board until it ends)",
                human(timeout)
            );
            let (kind, reason) = explain_break(
                &ssh,
                &probe.boot_id,
                login_bound(opts.connect_timeout) + Duration::from_secs(20),
                &base,
            );
            let kind = if kind == ErrorKind::LostMidRun {
                ErrorKind::TimedOut
            } else {
                kind
            };
            return with_kernel(error_of(kind, reason));
        }
        RunJudgement::Error(reason) => {
            let tail = stderr_tail
                .last()
                .map(|l| format!("; last message: {}", sanitize(l)));
            return with_kernel(error(format!("{reason}{}", tail.unwrap_or_default())));
        }
    };

    // 4. Bring the run folder home.
    emit(Event::Phase(Phase::Fetching));
    let mut result = BoardResult {
        name: name.to_owned(),
        target: target.clone(),
        verdict: verdict_line.verdict,
        reason: None,
        kernel: Some(kernel.clone()),
        run_id: Some(verdict_line.run.clone()),
        remote_dir: Some(verdict_line.dir.clone()),
        local_dir: None,
        missing: Vec::new(),
        report: None,
        elapsed: Duration::ZERO,
        error_kind: None,
    };
    match fetch(&ssh, &verdict_line.dir, &verdict_line.run, &board_dir) {
        Ok(local) => result.local_dir = Some(local),
        Err(reason) => {
            result.verdict = Verdict::Error;
            result.error_kind = Some(ErrorKind::Board);
            result.reason = Some(reason);
            result.elapsed = start.elapsed();
            emit(Event::Phase(Phase::Done(result.verdict)));
            return result;
        }
    }
    let local = result.local_dir.clone().unwrap_or_default();
    result.missing = REPORT_FILES
        .iter()
        .filter(|f| !local.join(f).is_file())
        .map(|f| (*f).to_owned())
        .collect();
    if let Some(text) = read_capped(&local.join("report.json"), MAX_REPORT) {
        match text.and_then(|text| {
            check_report(&text)
                .map_err(|e| {
                    format!(
                        "does not match the rros-validate/1 schema (crates/on-target/rros-contract/schema/report.schema.json): {e}"
                    )
                })
                .and_then(|_| parse_report(&text))
        }) {
            Ok(report) => result.report = Some(report),
            Err(e) => {
                result.reason = Some(format!(
                    "report.json from the board cannot be trusted: {}",
                    sanitize(&e)
                ))
            }
        }
    }
    finish_verdict(&mut result);
    if result.verdict == Verdict::Error {
        result.error_kind = Some(ErrorKind::Board);
    }
    result.elapsed = start.elapsed();
    emit(Event::Phase(Phase::Done(result.verdict)));
    result
}

/// The largest `report.json` read (a real one is a few KiB per scenario).
pub const MAX_REPORT: u64 = 16 * 1024 * 1024;

/// Reads a regular file of at most `max` bytes: `None` when it is absent, an error when it is
/// not a regular file, too large or not UTF-8.
fn read_capped(path: &Path, max: u64) -> Option<Result<String, String>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() {
        return Some(Err("not a regular file".into()));
    }
    if meta.len() > max {
        return Some(Err(format!(
            "{} bytes, more than the {max} a report may have",
            meta.len()
        )));
    }
    Some(std::fs::read_to_string(path).map_err(|e| e.to_string()))
}

/// The unfiltered copy of what the board printed during the run, at most [`MAX_RAW_LOG`]
/// bytes; a log that cannot be written is no reason to fail the run.
struct RawLog {
    file: Option<std::fs::File>,
    written: u64,
}

/// The most `output.log` keeps.
pub const MAX_RAW_LOG: u64 = 64 * 1024 * 1024;

impl RawLog {
    fn open(path: &Path) -> RawLog {
        let file = path
            .parent()
            .and_then(|dir| std::fs::create_dir_all(dir).ok())
            .and_then(|()| {
                let _ = std::fs::remove_file(path);
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .ok()
            });
        RawLog { file, written: 0 }
    }

    fn write(&mut self, stream: Stream, line: &str) {
        use std::io::Write as _;
        let Some(file) = &mut self.file else { return };
        let tag = match stream {
            Stream::Stdout => "out| ",
            Stream::Stderr => "err| ",
        };
        let len = (tag.len() + line.len() + 1) as u64;
        if self.written + len > MAX_RAW_LOG {
            let _ = writeln!(
                file,
                "[output.log is full: the rest of the output was not kept]"
            );
            self.file = None;
            return;
        }
        self.written += len;
        let _ = writeln!(file, "{tag}{line}");
    }
}

const BUSY_SCRIPT: &str = "printf 'system=%s\\n' \"$(systemctl is-system-running 2>/dev/null)\"; \
printf 'service=%s\\n' \"$(systemctl is-active rros-validate.service 2>/dev/null)\"";

/// What keeps the board busy, from the output of [`BUSY_SCRIPT`]: `None` when it is idle (or
/// has no systemd).
pub fn busy_reason(stdout: &str) -> Option<String> {
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .unwrap_or("")
    };
    if matches!(
        field("service"),
        "activating" | "deactivating" | "reloading"
    ) {
        Some("rros-validate.service is running on the board (the boot-time validation, or the timer's)".into())
    } else if matches!(field("system"), "starting" | "initializing") {
        Some("the board is still booting (its boot-time validation runs last)".into())
    } else {
        None
    }
}

/// Waits while the board boots or runs a validation of its own, for at most `bound`.
fn wait_until_idle(
    ssh: &Ssh,
    connect_timeout: Duration,
    bound: Duration,
    emit: &dyn Fn(Event<'_>),
) -> Result<(), String> {
    let deadline = crate::ssh::deadline_after(bound);
    let mut announced = false;
    loop {
        let call = ssh.capture(
            BUSY_SCRIPT,
            login_bound(connect_timeout) + Duration::from_secs(20),
        );
        let reason = match &call {
            Ok(c) if c.success() => busy_reason(&c.stdout),
            // A failed look is not a reason to wait; the run itself will tell.
            _ => None,
        };
        let Some(reason) = reason else { return Ok(()) };
        if !announced {
            emit(Event::Phase(Phase::Waiting {
                reason: reason.clone(),
                timeout: bound,
            }));
            announced = true;
        }
        if Instant::now() >= deadline {
            return if reason.starts_with("rros-validate.service") {
                Err(format!(
                    "{reason}, still after {}: its run holds the output directory; try again when it is done",
                    human(bound)
                ))
            } else {
                emit(Event::Note(
                    "the board still reports 'starting'; measuring anyway",
                ));
                Ok(())
            };
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Settles a board's verdict once the reports are home: a PASS needs every report file and a
/// `report.json` that agrees; a FAIL needs the report that says why.
pub fn finish_verdict(result: &mut BoardResult) {
    let report_verdict = result.report.as_ref().and_then(|r| r.verdict);
    let downgrade = |result: &mut BoardResult, why: String| {
        result.verdict = Verdict::Error;
        result.reason = Some(why);
    };
    if let Some(why) = result.reason.clone()
        && result.report.is_none()
        && result.verdict != Verdict::Error
    {
        // report.json unreadable.
        downgrade(result, why);
        return;
    }
    if result.report.is_none() && result.verdict != Verdict::Error {
        downgrade(
            result,
            format!(
                "the board said {} but report.json did not come home",
                result.verdict
            ),
        );
        return;
    }
    if let Some(rv) = report_verdict
        && rv != result.verdict
    {
        downgrade(
            result,
            format!(
                "the verdict line says {} but report.json says {rv}",
                result.verdict
            ),
        );
        return;
    }
    if result.verdict == Verdict::Pass && !result.missing.is_empty() {
        downgrade(
            result,
            format!(
                "PASS, but report files are missing: {} (never PASS without the evidence)",
                result.missing.join(", ")
            ),
        );
        return;
    }
    match result.verdict {
        Verdict::Fail => {
            result.reason = result
                .report
                .as_ref()
                .and_then(fail_reason)
                .or_else(|| Some("the board reported FAIL (see its summary.md)".into()));
        }
        Verdict::Error => {
            let errors = result
                .report
                .as_ref()
                .map(|r| r.errors.join("; "))
                .filter(|e| !e.is_empty());
            result.reason =
                Some(errors.unwrap_or_else(|| {
                    "rros-validate could not measure (see its summary.md)".into()
                }));
        }
        Verdict::Pass => {}
    }
}

/// Copies the remote run folder to `board_dir/<run>` and points `board_dir/latest` at it.
pub fn fetch(ssh: &Ssh, remote_dir: &str, run: &str, board_dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(board_dir)
        .map_err(|e| format!("cannot create {}: {e}", board_dir.display()))?;
    let local = board_dir.join(run);
    if local.exists() {
        std::fs::remove_dir_all(&local)
            .map_err(|e| format!("cannot replace {}: {e}", local.display()))?;
    }
    // scp names the copy after the remote folder; land it in a scratch folder, then move it.
    let staging = board_dir.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let got = run_captured(
        ssh.fetch_dir_command(remote_dir, &staging),
        Duration::from_secs(300) + login_bound(ssh.connect_timeout),
    )
    .map_err(|e| format!("cannot run scp: {e}"))?;
    let landed = std::fs::read_dir(&staging)
        .ok()
        .and_then(|mut entries| entries.next())
        .and_then(Result::ok)
        .map(|e| e.path());
    let outcome = match landed {
        Some(dir) if got.success() && dir.is_dir() => std::fs::rename(&dir, &local)
            .map(|()| local.clone())
            .map_err(|e| format!("cannot move the reports to {}: {e}", local.display())),
        _ if got.timed_out => Err(format!("fetching {remote_dir} timed out")),
        _ => Err(format!(
            "cannot fetch the reports from {remote_dir}: {}{}",
            got.stderr_tail(),
            ssh_hint(&got.stderr)
        )),
    };
    let _ = std::fs::remove_dir_all(&staging);
    let local = outcome?;
    let link = board_dir.join("latest");
    let tmp = board_dir.join(".latest.tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(run, &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, &link);
    }
    Ok(local)
}

/// After a broken link or a timeout: tries to reach the board for up to `window` and says
/// whether it rebooted (a new boot id) or could not be reached again.
fn explain_break(ssh: &Ssh, boot_id: &str, window: Duration, what: &str) -> (ErrorKind, String) {
    let deadline = crate::ssh::deadline_after(window);
    let ssh = &ssh.reconnected();
    let mut last_err = "no answer".to_owned();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let call = ssh.capture(PROBE_SCRIPT, left.min(login_bound(ssh.connect_timeout)));
        if let Ok(c) = &call {
            if let Some(probe) = c.success().then(|| parse_probe(&c.stdout)).flatten() {
                return if probe.boot_id != boot_id {
                    (
                        ErrorKind::Rebooted,
                        format!(
                            "{what}: the board rebooted during the run (boot id {} → {})",
                            short(boot_id),
                            short(&probe.boot_id)
                        ),
                    )
                } else {
                    (
                        ErrorKind::LostMidRun,
                        format!("{what}; the board is up and did not reboot"),
                    )
                };
            }
            if !c.stderr.trim().is_empty() {
                last_err = c.stderr_tail();
            } else if c.timed_out {
                last_err = "no answer".into();
            }
        }
        std::thread::sleep(
            Duration::from_secs(2).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    (
        ErrorKind::LostMidRun,
        format!(
            "{what}; the board did not answer again within {} (last: {last_err}): it may have rebooted, hung or lost power; a board that boots slowly needs a longer --reconnect-window",
            human(window)
        ),
    )
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

pub fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Accepts every endpoint in parallel (at most `jobs` at once; 0 = all) and returns the
/// results in the endpoints' order.
pub fn accept_fleet(
    endpoints: &[Endpoint],
    opts: &Options,
    out: &Path,
    jobs: usize,
    observe: Observer<'_>,
) -> Vec<BoardResult> {
    let jobs = if jobs == 0 {
        endpoints.len().max(1)
    } else {
        jobs
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<BoardResult>>> =
        std::sync::Mutex::new(vec![None; endpoints.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(endpoints.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(endpoint) = endpoints.get(i) else {
                        break;
                    };
                    // One board's failure, a panic included, never costs another its report.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        accept_board(endpoint, opts, out, observe)
                    }))
                    .unwrap_or_else(|panic| {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        BoardResult::error(
                            &endpoint.name,
                            &endpoint.target.to_string(),
                            format!(
                                "internal error while accepting this board ({}); the other boards are unaffected: please report it",
                                sanitize(&what)
                            ),
                            Duration::ZERO,
                        )
                    });
                    let mut all = results.lock().unwrap_or_else(|e| e.into_inner());
                    all[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(endpoints)
        .map(|(r, e)| {
            r.unwrap_or_else(|| {
                BoardResult::error(
                    &e.name,
                    &e.target.to_string(),
                    "internal error: no result",
                    Duration::ZERO,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportSummary;

    const PROFILE: &str = r#"
schema = 1
name = "qemux86-64"
description = "t"
machine = "qemux86-64"
arch = "x86_64"
[kernel]
flavour = "preempt-rt"
cmdline_delivery = "qemu"
[cpus]
count = 2
housekeeping = "0"
isolated = "1"
[tuning]
governor = "performance"
[[scenario]]
name = "idle"
duration = "30s"
interval_us = 1000
priority = 90
threshold = { max_us = 20000 }
[[scenario]]
name = "hackbench"
load = "hackbench"
duration = "60s"
interval_us = 1000
priority = 90
threshold = { max_us = 30000 }
"#;

    #[test]
    fn timeout_follows_the_profile() {
        let s = |n: u64| Duration::from_secs(n);
        // Profile loads? The test profile must be valid for the derivation to use it.
        // The contract's formula: 2 × measured + (1 s warm-up + 2 s grace + 20 s) per
        // scenario + 120 s.
        assert_eq!(
            derive_timeout(Some(PROFILE), &[], None),
            s(2 * 90 + 2 * 23 + 120)
        );
        assert_eq!(
            derive_timeout(Some(PROFILE), &[], Some(s(10))),
            s(2 * 20 + 2 * 23 + 120)
        );
        assert_eq!(
            derive_timeout(Some(PROFILE), &["idle".into()], None),
            s(2 * 30 + 23 + 120)
        );
        assert_eq!(derive_timeout(None, &[], None), s(1800));
        assert_eq!(
            derive_timeout(Some("garbage"), &[], Some(s(5))),
            s(80 + 300)
        );
    }

    /// Finding 6 of issue #12: overflowing durations, from the profile or `--duration`, give a
    /// bounded timeout instead of a panic.
    #[test]
    fn derive_timeout_never_panics_on_absurd_durations() {
        let huge = PROFILE.replace("duration = \"60s\"", "duration = \"1000000000000h\"");
        for (profile, duration) in [
            (Some(PROFILE), Some(Duration::MAX)),
            (Some(huge.as_str()), None),
            (Some(huge.as_str()), Some(Duration::from_secs(u64::MAX / 3))),
            (None, Some(Duration::MAX)),
            (
                Some("garbage"),
                Some(Duration::from_secs(300 * 365 * 24 * 3600 * 1_000_000_000)),
            ),
        ] {
            let t = derive_timeout(profile, &[], duration);
            assert!(t <= crate::ssh::MAX_CALL, "{t:?}");
            assert!(t >= Duration::from_secs(180));
            // And a deadline can be made from it.
            let _ = crate::ssh::deadline_after(t);
        }
        let opts = Options {
            duration: Some(Duration::MAX),
            ..Options::default()
        };
        assert!(remote_command(&opts).contains("--duration "));
    }

    #[test]
    fn start_failures_that_may_pass_are_told_from_those_that_will_not() {
        for transient in [
            "Connection timed out during banner exchange",
            "kex_exchange_identification: read: Connection reset by peer",
            "ssh: connect to host 10.0.0.2 port 22: Connection timed out",
            "Connection closed by 127.0.0.1 port 2222",
        ] {
            assert!(transient_start_failure(transient), "{transient}");
        }
        for permanent in [
            "ssh: connect to host 127.0.0.1 port 1: Connection refused",
            "root@b: Permission denied (publickey).",
            "Host key verification failed.",
            "ssh: Could not resolve hostname nowhere: Name or service not known",
            "",
        ] {
            assert!(!transient_start_failure(permanent), "{permanent}");
        }
        assert_eq!(start_backoff(1), Duration::from_secs(1));
        assert_eq!(start_backoff(2), Duration::from_secs(2));
        assert_eq!(start_backoff(9), Duration::from_secs(8));
        assert_eq!(login_bound(Duration::from_secs(3)), Duration::from_secs(6));
    }

    #[test]
    fn the_run_announces_its_start_before_rros_validate() {
        let script = remote_script(&Options::default());
        assert_eq!(
            script,
            format!(
                "echo '{STARTED_MARK}'; exec rros-validate run --output-dir /var/lib/rros-validate"
            )
        );
    }

    #[test]
    fn remote_command_quotes_what_it_passes() {
        let opts = Options {
            duration: Some(Duration::from_secs(30)),
            scenarios: vec!["idle".into(), "x y".into()],
            ..Options::default()
        };
        assert_eq!(
            remote_command(&opts),
            "rros-validate run --output-dir /var/lib/rros-validate --duration 30s --scenario idle --scenario 'x y'"
        );
        assert_eq!(
            remote_command(&Options::default()),
            "rros-validate run --output-dir /var/lib/rros-validate"
        );
        let posix = Options {
            backend: Some("posix".into()),
            ..Options::default()
        };
        assert_eq!(
            remote_command(&posix),
            "rros-validate run --output-dir /var/lib/rros-validate --backend posix"
        );
    }

    #[test]
    fn probe_lines() {
        let p =
            parse_probe("boot_id=abc\nkernel=6.1.0-rt\nvalidate=/usr/bin/rros-validate\n").unwrap();
        assert_eq!(p.boot_id, "abc");
        assert_eq!(p.validate.as_deref(), Some("/usr/bin/rros-validate"));
        assert_eq!(
            parse_probe("boot_id=abc\nkernel=k\nvalidate=\n")
                .unwrap()
                .validate,
            None
        );
        assert_eq!(parse_probe("kernel=k\n"), None);
    }

    #[test]
    fn busy_boards_wait() {
        assert!(
            busy_reason("system=starting\nservice=inactive\n")
                .unwrap()
                .contains("booting")
        );
        assert!(
            busy_reason("system=running\nservice=activating\n")
                .unwrap()
                .contains("rros-validate.service")
        );
        assert!(
            busy_reason("system=starting\nservice=activating\n")
                .unwrap()
                .contains("rros-validate.service")
        );
        assert_eq!(busy_reason("system=running\nservice=inactive\n"), None);
        assert_eq!(busy_reason("system=degraded\nservice=failed\n"), None);
        assert_eq!(
            busy_reason("system=\nservice=\n"),
            None,
            "no systemd: nothing to wait for"
        );
    }

    #[test]
    fn hints() {
        assert!(
            ssh_hint("ssh: connect to host 127.0.0.1 port 1: Connection refused")
                .contains("nothing listens")
        );
        assert!(ssh_hint("root@x: Permission denied (publickey).").contains("--identity"));
        assert_eq!(ssh_hint("weird"), "");
    }

    fn fetched(verdict: Verdict, report: Option<ReportSummary>, missing: &[&str]) -> BoardResult {
        BoardResult {
            verdict,
            reason: None,
            report,
            missing: missing.iter().map(|s| (*s).to_owned()).collect(),
            run_id: Some("r".into()),
            ..BoardResult::error("b", "root@b", "", Duration::ZERO)
        }
    }

    fn report(verdict: Verdict) -> ReportSummary {
        ReportSummary {
            verdict: Some(verdict),
            ..ReportSummary::default()
        }
    }

    #[test]
    fn pass_needs_every_file_and_an_agreeing_report() {
        let mut r = fetched(Verdict::Pass, Some(report(Verdict::Pass)), &[]);
        finish_verdict(&mut r);
        assert_eq!((r.verdict, r.reason), (Verdict::Pass, None));

        let mut r = fetched(
            Verdict::Pass,
            Some(report(Verdict::Pass)),
            &["histogram.svg"],
        );
        finish_verdict(&mut r);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.reason.unwrap().contains("histogram.svg"));

        let mut r = fetched(Verdict::Pass, None, &["report.json"]);
        finish_verdict(&mut r);
        assert_eq!(r.verdict, Verdict::Error);

        let mut r = fetched(Verdict::Pass, Some(report(Verdict::Fail)), &[]);
        finish_verdict(&mut r);
        assert_eq!(r.verdict, Verdict::Error);
        assert!(r.reason.unwrap().contains("report.json says FAIL"));
    }

    #[test]
    fn fail_keeps_its_reason_and_tolerates_missing_plots() {
        let mut r = fetched(
            Verdict::Fail,
            Some(report(Verdict::Fail)),
            &["histogram.svg"],
        );
        finish_verdict(&mut r);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(r.reason.is_some());
    }
}
