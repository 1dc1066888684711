//! Accepting a board: a [`Plan`] built and checked before the board is contacted, then
//! executed in named steps — connect, budget, wait until idle, measure, judge, bring home —
//! each of which either hands the next its input or stops with a typed cause ([`ErrorKind`]).
//! Many boards run in parallel, each on its own thread.

use crate::report::{
    BoardResult, ErrorKind, REPORT_FILES, ReportSummary, check_report, fail_reason, parse_report,
};
use crate::target::Endpoint;
use crate::verdict::{
    RemoteExit, RunJudgement, Verdict, VerdictLine, find_verdict_line, judge_run,
};
use rros_remote::process::{
    Captured, MAX_CALL, Stream, deadline_after, last_line, run_captured, run_streaming, sanitize,
};
use rros_remote::ssh::{Complaint, Programs, Ssh, login_bound, shell_quote};
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

/// What accepting one board will do, built and checked before the board is contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The board's name: its folder under `out` and its test suite.
    pub name: String,
    /// `user@host[:port]`, for messages.
    pub target: String,
    /// `out/<name>`: the run folder lands in it, next to `output.log`.
    pub board_dir: PathBuf,
    /// What runs on the board: [`remote_script`].
    pub script: String,
}

/// Why a [`Plan`] cannot be executed: nothing is tried on the board.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "board name \"{0}\" cannot name a folder under the output folder: use letters, digits, '.', '_' and '-', not starting with '.' (name= in the targets file, or --name)"
    )]
    BadName(String),
    #[error(
        "scenario \"{0}\" is empty or has a control character: give the name of a scenario of the board's profile (--scenario)"
    )]
    BadScenario(String),
}

impl Plan {
    /// The plan for `endpoint`, its board folder under `out`.
    pub fn new(endpoint: &Endpoint, opts: &Options, out: &Path) -> Result<Plan, PlanError> {
        let name = &endpoint.name;
        if !crate::target::is_board_name(name) {
            return Err(PlanError::BadName(sanitize(name)));
        }
        if let Some(bad) = opts
            .scenarios
            .iter()
            .find(|s| s.trim().is_empty() || s.chars().any(char::is_control))
        {
            return Err(PlanError::BadScenario(sanitize(bad)));
        }
        Ok(Plan {
            name: name.clone(),
            target: endpoint.target.to_string(),
            board_dir: out.join(name),
            script: remote_script(opts),
        })
    }
}

/// The time bounds of a board's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bound on the measuring step.
    pub timeout: Duration,
    /// Bound on waiting for a board that boots or runs a validation of its own.
    pub boot_wait: Duration,
}

impl Budget {
    /// From the options, else from the board's profile (`/etc/rros/board.toml`, when it could
    /// be read) by the contract's formula ([`derive_timeout`]).
    pub fn new(opts: &Options, profile_text: Option<&str>) -> Budget {
        Budget {
            timeout: opts
                .timeout
                .unwrap_or_else(|| derive_timeout(profile_text, &opts.scenarios, opts.duration)),
            // A validation of the board's own measures the whole profile at its durations.
            boot_wait: opts
                .boot_wait
                .unwrap_or_else(|| derive_timeout(profile_text, &[], None)),
        }
    }
}

/// Why a step ended the acceptance early: an ERROR of a kind, with its message.
#[derive(Debug)]
struct Stop {
    kind: ErrorKind,
    reason: String,
}

impl Stop {
    fn of(kind: ErrorKind, reason: String) -> Stop {
        Stop { kind, reason }
    }

    fn board(reason: String) -> Stop {
        Stop::of(ErrorKind::Board, reason)
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
    let mut result = match Plan::new(endpoint, opts, out) {
        Ok(plan) => Session::open(plan, endpoint, opts, observe).execute(),
        Err(e) => BoardResult::error(
            &endpoint.name,
            &endpoint.target.to_string(),
            e.to_string(),
            Duration::ZERO,
        ),
    };
    result.elapsed = start.elapsed();
    observe(&endpoint.name, Event::Phase(Phase::Done(result.verdict)));
    result
}

/// One board's acceptance while it executes its [`Plan`]: one SSH connection for the whole
/// session (probe, waits, run and fetch share it).
struct Session<'a> {
    plan: Plan,
    opts: &'a Options,
    ssh: Ssh,
    observe: Observer<'a>,
}

/// What one run of the remote script left.
struct Ran {
    exit: RemoteExit,
    /// Whether [`STARTED_MARK`] came: the remote command began.
    started: bool,
    /// The last lines of each stream.
    stdout_tail: Vec<String>,
    stderr_tail: Vec<String>,
}

/// Lines of each stream kept for the verdict and the messages.
const KEPT_LINES: usize = 200;

impl Ran {
    fn keep(&mut self, stream: Stream, line: &str) {
        let tail = match stream {
            Stream::Stdout => &mut self.stdout_tail,
            Stream::Stderr => &mut self.stderr_tail,
        };
        tail.push(line.to_owned());
        if tail.len() > KEPT_LINES {
            tail.remove(0);
        }
    }

    /// ssh's complaint, for a start that failed.
    fn start_failure(&self) -> String {
        let why = sanitize(&self.stderr_tail.join(" / "));
        if why.is_empty() {
            "(ssh printed nothing)".to_owned()
        } else {
            why
        }
    }

    fn last_stderr(&self) -> Option<String> {
        self.stderr_tail.last().map(|l| sanitize(l))
    }
}

impl<'a> Session<'a> {
    fn open(plan: Plan, endpoint: &Endpoint, opts: &'a Options, observe: Observer<'a>) -> Self {
        let mut ssh = Ssh::new(endpoint.clone(), opts.connect_timeout);
        ssh.programs = opts.programs.clone();
        Session {
            plan,
            opts,
            ssh: ssh.multiplexed(),
            observe,
        }
    }

    fn emit(&self, event: Event<'_>) {
        (self.observe)(&self.plan.name, event);
    }

    /// Runs the steps; a step that stops gives an ERROR of its kind (with the board's kernel
    /// once it is known).
    fn execute(&self) -> BoardResult {
        let mut kernel = None;
        let mut result = self.steps(&mut kernel).unwrap_or_else(|stop| {
            BoardResult::error_of(
                stop.kind,
                &self.plan.name,
                &self.plan.target,
                stop.reason,
                Duration::ZERO,
            )
        });
        result.kernel = kernel;
        result
    }

    fn steps(&self, kernel: &mut Option<String>) -> Result<BoardResult, Stop> {
        // 1. Reach the board; learn its boot id and whether rros-validate is there.
        self.emit(Event::Phase(Phase::Connecting));
        let probe = self.probe()?;
        let shown = sanitize(&probe.kernel);
        self.emit(Event::Note(&format!("kernel {shown}")));
        *kernel = Some(shown);
        if probe.validate.is_none() {
            return Err(Stop::board(format!(
                "rros-validate is not installed on {} (not on the board's PATH): install the image's rros-validate package, or copy the binary to /usr/bin",
                self.plan.target
            )));
        }
        // 2. How long the run and a wait may take, from the board's profile.
        let budget = self.budget();
        // 3. Let the board finish booting: its boot-time validation runs last and holds the
        //    output directory while it measures (as does a run started by the timer).
        self.wait_until_idle(budget.boot_wait)?;
        // 4. Measure. Output is relayed sanitized; the raw copy goes to output.log.
        let ran = self.measure(&probe, budget.timeout)?;
        // 5. A verdict, or why there is none.
        let line = self.judge(&ran, &probe, budget.timeout)?;
        // 6. Bring the run folder home and settle the verdict with its reports.
        Ok(self.bring_home(&line))
    }

    /// Says why a start failed and that it is tried again, waits [`start_backoff`], and
    /// returns the next attempt's number: the one retry step of the probe and of the run.
    fn pause_before_retry(&self, what: &str, why: &str, attempt: u32) -> u32 {
        let pause = start_backoff(attempt);
        self.emit(Event::Note(&format!(
            "{what} ({why}): trying again in {} (attempt {} of {START_ATTEMPTS})",
            human(pause),
            attempt + 1
        )));
        std::thread::sleep(pause);
        attempt + 1
    }

    /// First contact: logs in (retrying what may pass, with backoff), learns the boot id.
    fn probe(&self) -> Result<Probe, Stop> {
        let bound = login_bound(self.ssh.connect_timeout);
        let target = &self.plan.target;
        let could_not_start = |reason: String| Stop::of(ErrorKind::CouldNotStart, reason);
        let mut attempt = 1;
        loop {
            let c = self.ssh.capture(PROBE_SCRIPT, bound).map_err(|e| {
                could_not_start(format!(
                    "cannot run ssh: {e} (is openssh-client installed?)"
                ))
            })?;
            if c.timed_out {
                return Err(could_not_start(stalled_login(target, bound, &c)));
            }
            if c.success() {
                return parse_probe(&c.stdout).ok_or_else(|| {
                    Stop::board(format!(
                        "{target} answered, but /proc/sys/kernel/random/boot_id could not be read: {}",
                        sanitize(&last_line(&c.stderr))
                    ))
                });
            }
            let complaint = Complaint::of(&c.stderr);
            let tail = c.stderr_tail();
            if c.link_failed() && complaint.may_pass_on_retry() && attempt < START_ATTEMPTS {
                attempt = self.pause_before_retry("SSH could not start", &tail, attempt);
                continue;
            }
            let tries = if attempt > 1 {
                format!(" ({attempt} attempts)")
            } else {
                String::new()
            };
            return Err(could_not_start(format!(
                "cannot reach {target} over SSH: {tail}{}{tries}",
                complaint.hint()
            )));
        }
    }

    /// The board's profile, read for its time bounds.
    fn budget(&self) -> Budget {
        let profile = self
            .ssh
            .capture(
                "cat /etc/rros/board.toml",
                login_bound(self.opts.connect_timeout) + Duration::from_secs(30),
            )
            .ok()
            .filter(Captured::success)
            .map(|c| c.stdout);
        Budget::new(self.opts, profile.as_deref())
    }

    /// Waits while the board boots or runs a validation of its own, for at most `bound`.
    fn wait_until_idle(&self, bound: Duration) -> Result<(), Stop> {
        let deadline = deadline_after(bound);
        let mut announced = false;
        loop {
            let looked = Instant::now();
            let call = self.ssh.capture(
                BUSY_SCRIPT,
                login_bound(self.opts.connect_timeout) + Duration::from_secs(20),
            );
            let busy = match &call {
                Ok(c) if c.success() => Busy::of(&c.stdout),
                // A failed look is not a reason to wait; the run itself will tell.
                _ => None,
            };
            let Some(busy) = busy else { return Ok(()) };
            if !announced {
                self.emit(Event::Phase(Phase::Waiting {
                    reason: busy.reason().to_owned(),
                    timeout: bound,
                }));
                announced = true;
            }
            if Instant::now() >= deadline {
                return match busy {
                    Busy::Validating => Err(Stop::board(format!(
                        "{}, still after {}: its run holds the output directory; try again when it is done",
                        busy.reason(),
                        human(bound)
                    ))),
                    Busy::Booting => {
                        self.emit(Event::Note(
                            "the board still reports 'starting'; measuring anyway",
                        ));
                        Ok(())
                    }
                };
            }
            std::thread::sleep(pause_after_look(looked.elapsed()));
        }
    }

    /// Runs the remote script once, relaying what it prints.
    fn run_once(&self, raw_log: &mut RawLog, timeout: Duration) -> Result<Ran, Stop> {
        let mut ran = Ran {
            exit: RemoteExit::Link,
            started: false,
            stdout_tail: Vec::new(),
            stderr_tail: Vec::new(),
        };
        let command = self.ssh.command(&self.plan.script);
        let (status, timed_out) = run_streaming(command, timeout, |stream, line| {
            if !ran.started && stream == Stream::Stdout && line == STARTED_MARK {
                ran.started = true;
                self.emit(Event::Note("rros-validate started on the board"));
                return;
            }
            raw_log.write(stream, line);
            self.emit(Event::Output(stream, &sanitize(line)));
            ran.keep(stream, line);
        })
        .map_err(|e| Stop::board(format!("cannot run ssh: {e}")))?;
        ran.exit = match status.and_then(|s| s.code()) {
            _ if timed_out => RemoteExit::TimedOut,
            Some(255) | None => RemoteExit::Link,
            Some(code) => RemoteExit::Code(code),
        };
        Ok(ran)
    }

    /// Runs `rros-validate run`; a start that failed before the remote command began is
    /// tried again (nothing ran), unless the board rebooted meanwhile.
    fn measure(&self, probe: &Probe, timeout: Duration) -> Result<Ran, Stop> {
        let mut raw_log = RawLog::open(&self.plan.board_dir.join("output.log"));
        self.emit(Event::Phase(Phase::Measuring { timeout }));
        let mut attempt = 1;
        loop {
            let ran = self.run_once(&mut raw_log, timeout)?;
            if ran.exit != RemoteExit::Link || ran.started {
                return Ok(ran);
            }
            // ssh failed before the remote command started: nothing ran, a retry is safe.
            let why = ran.start_failure();
            let complaint = Complaint::of(&ran.stderr_tail.join("\n"));
            if !complaint.may_pass_on_retry() || attempt >= START_ATTEMPTS {
                return Err(Stop::of(
                    ErrorKind::CouldNotStart,
                    format!(
                        "could not start rros-validate on {}: SSH failed before the remote command started ({why}){}, {attempt} attempt(s); nothing ran on the board, so this says nothing about its latency: try again",
                        self.plan.target,
                        complaint.hint()
                    ),
                ));
            }
            attempt = self.pause_before_retry("SSH could not start the run", &why, attempt);
            // A board that rebooted meanwhile is not measured as if nothing happened.
            if let Ok(again) = self.probe()
                && again.boot_id != probe.boot_id
            {
                return Err(Stop::of(
                    ErrorKind::Rebooted,
                    format!(
                        "the board rebooted before the run started (boot id {} → {}); SSH had failed with: {why}",
                        short(&probe.boot_id),
                        short(&again.boot_id)
                    ),
                ));
            }
        }
    }

    /// The run's verdict line, or why there is none: a broken link and a timeout are told
    /// apart by reaching the board again.
    fn judge(&self, ran: &Ran, probe: &Probe, timeout: Duration) -> Result<VerdictLine, Stop> {
        let line = find_verdict_line(ran.stdout_tail.iter().map(String::as_str));
        match judge_run(ran.exit, line) {
            RunJudgement::Verdict(line) => Ok(line),
            RunJudgement::LinkLost => {
                self.emit(Event::Phase(Phase::Reconnecting));
                let why = ran
                    .last_stderr()
                    .unwrap_or_else(|| "ssh printed nothing".into());
                Err(self.explain_break(
                    &probe.boot_id,
                    self.opts.reconnect_window,
                    &format!(
                        "the SSH link broke during the run, after rros-validate had started ({why})"
                    ),
                ))
            }
            RunJudgement::TimedOut => {
                let base = format!(
                    "no verdict within {} (the run's time bound; raise it with --timeout; the run may go on on the board until it ends)",
                    human(timeout)
                );
                let window = login_bound(self.opts.connect_timeout) + Duration::from_secs(20);
                let mut stop = self.explain_break(&probe.boot_id, window, &base);
                if stop.kind == ErrorKind::LostMidRun {
                    stop.kind = ErrorKind::TimedOut;
                }
                Err(stop)
            }
            RunJudgement::Error(reason) => {
                let tail = ran.last_stderr().map(|l| format!("; last message: {l}"));
                Err(Stop::board(format!("{reason}{}", tail.unwrap_or_default())))
            }
        }
    }

    /// After a broken link or a timeout: tries to reach the board for up to `window` and
    /// says whether it rebooted (a new boot id) or could not be reached again.
    fn explain_break(&self, boot_id: &str, window: Duration, what: &str) -> Stop {
        let deadline = deadline_after(window);
        let ssh = &self.ssh.reconnected();
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
                        Stop::of(
                            ErrorKind::Rebooted,
                            format!(
                                "{what}: the board rebooted during the run (boot id {} → {})",
                                short(boot_id),
                                short(&probe.boot_id)
                            ),
                        )
                    } else {
                        Stop::of(
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
        Stop::of(
            ErrorKind::LostMidRun,
            format!(
                "{what}; the board did not answer again within {} (last: {last_err}): it may have rebooted, hung or lost power; a board that boots slowly needs a longer --reconnect-window",
                human(window)
            ),
        )
    }

    /// Fetches the run folder, reads its reports and settles the verdict.
    fn bring_home(&self, line: &VerdictLine) -> BoardResult {
        self.emit(Event::Phase(Phase::Fetching));
        let mut result = BoardResult {
            verdict: line.verdict,
            reason: None,
            run_id: Some(line.run.clone()),
            remote_dir: Some(line.dir.clone()),
            error_kind: None,
            ..BoardResult::error(&self.plan.name, &self.plan.target, "", Duration::ZERO)
        };
        let local = match fetch(&self.ssh, &line.dir, &line.run, &self.plan.board_dir) {
            Ok(local) => local,
            Err(reason) => {
                result.verdict = Verdict::Error;
                result.error_kind = Some(ErrorKind::Board);
                result.reason = Some(reason);
                return result;
            }
        };
        result.missing = REPORT_FILES
            .iter()
            .filter(|f| !local.join(f).is_file())
            .map(|f| (*f).to_owned())
            .collect();
        match read_report(&local) {
            Some(Ok(report)) => result.report = Some(report),
            Some(Err(why)) => result.reason = Some(why),
            None => {}
        }
        result.local_dir = Some(local);
        finish_verdict(&mut result);
        if result.verdict == Verdict::Error {
            result.error_kind = Some(ErrorKind::Board);
        }
        result
    }
}

/// The message for a login that took the connection and the banner, then stalled.
fn stalled_login(target: &str, bound: Duration, c: &Captured) -> String {
    // ssh's ConnectTimeout would have ended a connect or a banner that never came: the board
    // took the connection and sent its banner, then stalled.
    let said = match c.stderr.trim() {
        "" => String::new(),
        _ => format!("; ssh said: {}", c.stderr_tail()),
    };
    format!(
        "cannot reach {target} over SSH: it took the connection and sent its SSH banner, then the key exchange and login did not finish within {} (2 × --connect-timeout){said}: an overloaded or stalled sshd, or not an SSH server at that port",
        human(bound)
    )
}

/// The fetched `report.json`, checked against the schema and read: `None` when it did not
/// come home, an error (the message) when it cannot be trusted.
fn read_report(local: &Path) -> Option<Result<ReportSummary, String>> {
    let text = read_capped(&local.join("report.json"), MAX_REPORT)?;
    let read = text.and_then(|text| {
        check_report(&text)
            .map_err(|e| {
                format!(
                    "does not match the rros-validate/1 schema (crates/on-target/rros-contract/schema/report.schema.json): {e}"
                )
            })
            .and_then(|_| parse_report(&text))
    });
    Some(read.map_err(|e| {
        format!(
            "report.json from the board cannot be trusted: {}",
            sanitize(&e)
        )
    }))
}

/// How long the measuring step may take: the contract's one formula
/// (`rros_contract::plan::timeout_s`, what `rros-validate plan` says) over the selected
/// scenarios at their durations, or at `duration` when given. Without a readable profile: 30 minutes, or 2 × 8 × `duration` + 5 min. Never
/// panics: sums saturate, and the result is at most [`MAX_CALL`].
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
    .min(MAX_CALL)
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

/// Printed on the board's stdout right before `rros-validate` is executed: what tells "the
/// link broke before anything ran" (safe to retry) from "the link broke during the run".
pub const STARTED_MARK: &str = "rros-accept: remote command started";

/// The script run on the board: the start mark, then [`remote_command`].
pub fn remote_script(opts: &Options) -> String {
    format!("echo '{STARTED_MARK}'; exec {}", remote_command(opts))
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

/// Asks the board what keeps it busy, read by [`Busy::of`]. While the boot is still going,
/// the script first waits *on the board* for systemd to say the boot is done
/// (`is-system-running --wait` sleeps on systemd's `StartupFinished` signal), at most 15 s:
/// polling from the host every few seconds would fork a shell and two `systemctl` calls on
/// the housekeeping CPU all through the settle and the boot-time run it is waiting for,
/// which the settle then sees as a busy board (an emulated one spends a third of a CPU on
/// it). Without `timeout` or `--wait` (old systemd, busybox) it just answers at once.
pub const BUSY_SCRIPT: &str = "timeout 15 systemctl is-system-running --wait >/dev/null 2>&1; \
system=\"$(systemctl is-system-running 2>/dev/null)\"; \
service=\"$(systemctl is-active rros-validate.service 2>/dev/null)\"; \
printf 'system=%s\\nservice=%s\\n' \"$system\" \"$service\"";

/// `rros-validate.service` states that mean a validation is running ([`Busy::Validating`]).
const VALIDATING_STATES: [&str; 3] = ["activating", "deactivating", "reloading"];
/// systemd states that mean the boot is still going ([`Busy::Booting`]).
const BOOTING_STATES: [&str; 2] = ["starting", "initializing"];

/// [`BUSY_SCRIPT`], then `when_idle` in the same call when the board is idle by the same rule
/// as [`Busy::of`]: what a caller does next on an idle board (gathering a finished run) costs
/// no second SSH session, and starts the moment the wait on the board ends.
pub fn busy_script_then(when_idle: &str) -> String {
    format!(
        "{BUSY_SCRIPT}; case \"$service\" in {}) ;; *) case \"$system\" in {}) ;; *) {when_idle} ;; esac ;; esac",
        VALIDATING_STATES.join("|"),
        BOOTING_STATES.join("|"),
    )
}

/// The least time between two looks at a busy board. A look that waited on the board as long
/// as this is followed by the next at once: the board's own wait paces the loop, and a pause
/// after it would only delay noticing the end.
pub const BUSY_POLL: Duration = Duration::from_secs(3);

/// How long to pause after a look at a busy board that took `took`.
pub fn pause_after_look(took: Duration) -> Duration {
    BUSY_POLL.saturating_sub(took)
}

/// What keeps a board busy, so that acceptance waits before measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// `rros-validate.service` is active: the boot-time validation, or the timer's. Its run
    /// holds the output directory: acceptance gives up when it outlasts the wait.
    Validating,
    /// systemd still says `starting`: the boot-time validation runs last. Acceptance
    /// measures anyway when it outlasts the wait.
    Booting,
}

impl Busy {
    /// Reads the output of [`BUSY_SCRIPT`]: `None` when the board is idle (or has no
    /// systemd).
    pub fn of(stdout: &str) -> Option<Busy> {
        let field = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::trim)
                .unwrap_or("")
        };
        if VALIDATING_STATES.contains(&field("service")) {
            Some(Busy::Validating)
        } else if BOOTING_STATES.contains(&field("system")) {
            Some(Busy::Booting)
        } else {
            None
        }
    }

    /// What the operator is told.
    pub fn reason(self) -> &'static str {
        match self {
            Busy::Validating => {
                "rros-validate.service is running on the board (the boot-time validation, or the timer's)"
            }
            Busy::Booting => "the board is still booting (its boot-time validation runs last)",
        }
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
        Verdict::Inconclusive => {
            result.reason = result
                .report
                .as_ref()
                .and_then(fail_reason)
                .or_else(|| {
                    Some("the board reported INCONCLUSIVE: within budget, but too few samples to prove the claim (see its summary.md)".into())
                });
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
            Complaint::of(&got.stderr).hint()
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
            assert!(t <= MAX_CALL, "{t:?}");
            assert!(t >= Duration::from_secs(180));
            // And a deadline can be made from it.
            let _ = deadline_after(t);
        }
        let opts = Options {
            duration: Some(Duration::MAX),
            ..Options::default()
        };
        assert!(remote_command(&opts).contains("--duration "));
    }

    #[test]
    fn start_retries_back_off_and_are_bounded() {
        assert_eq!(start_backoff(1), Duration::from_secs(1));
        assert_eq!(start_backoff(2), Duration::from_secs(2));
        assert_eq!(start_backoff(9), Duration::from_secs(8));
        let total: Duration = (1..START_ATTEMPTS).map(start_backoff).sum();
        assert!(total <= Duration::from_secs(24), "{total:?}");
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

    /// Runs [`busy_script_then`] in a real `sh` against a stand-in `systemctl` that reports
    /// `system` and `service`, and returns what it printed.
    fn look_at(system: &str, service: &str) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let bin = tempfile::tempdir().unwrap();
        let stub = bin.path().join("systemctl");
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\ncase \"$1\" in is-system-running) echo {system} ;; is-active) echo {service} ;; esac\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(busy_script_then("echo gathered"))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_look_gathers_only_on_an_idle_board() {
        for (system, service, busy) in [
            ("starting", "inactive", Some(Busy::Booting)),
            ("initializing", "inactive", Some(Busy::Booting)),
            ("running", "activating", Some(Busy::Validating)),
            ("starting", "deactivating", Some(Busy::Validating)),
            ("running", "reloading", Some(Busy::Validating)),
            ("running", "inactive", None),
            ("degraded", "failed", None),
        ] {
            let out = look_at(system, service);
            // The shell and Busy::of agree on every state.
            assert_eq!(Busy::of(&out), busy, "{system}/{service}: {out}");
            assert_eq!(
                out.contains("gathered"),
                busy.is_none(),
                "{system}/{service}: {out}"
            );
            assert!(out.starts_with(&format!("system={system}\nservice={service}\n")));
        }
    }

    #[test]
    fn a_look_that_waited_on_the_board_is_followed_at_once() {
        assert_eq!(
            pause_after_look(Duration::from_millis(200)),
            Duration::from_millis(2800)
        );
        assert_eq!(pause_after_look(BUSY_POLL), Duration::ZERO);
        assert_eq!(pause_after_look(Duration::from_secs(15)), Duration::ZERO);
    }

    #[test]
    fn busy_boards_wait() {
        assert_eq!(
            Busy::of("system=starting\nservice=inactive\n"),
            Some(Busy::Booting)
        );
        assert_eq!(
            Busy::of("system=running\nservice=activating\n"),
            Some(Busy::Validating)
        );
        // A validation running outranks a boot: it is what holds the output directory.
        assert_eq!(
            Busy::of("system=starting\nservice=activating\n"),
            Some(Busy::Validating)
        );
        assert_eq!(Busy::of("system=running\nservice=inactive\n"), None);
        assert_eq!(Busy::of("system=degraded\nservice=failed\n"), None);
        assert_eq!(
            Busy::of("system=\nservice=\n"),
            None,
            "no systemd: nothing to wait for"
        );
        // The messages the operator has always seen.
        assert!(
            Busy::Validating
                .reason()
                .starts_with("rros-validate.service is running")
        );
        assert!(Busy::Booting.reason().contains("still booting"));
    }

    fn endpoint(name: &str) -> Endpoint {
        let mut e = Endpoint::new(crate::target::Target::parse("root@b:2222").unwrap());
        e.name = name.to_owned();
        e
    }

    #[test]
    fn the_plan_is_checked_before_the_board_is_contacted() {
        let opts = Options {
            scenarios: vec!["idle".into()],
            ..Options::default()
        };
        let plan = Plan::new(&endpoint("rpi4-a"), &opts, Path::new("/out")).unwrap();
        assert_eq!(plan.board_dir, Path::new("/out/rpi4-a"));
        assert_eq!(plan.target, "root@b:2222");
        assert_eq!(plan.script, remote_script(&opts));
        for bad in ["", "..", ".hidden", "a/b", "a b"] {
            let err = Plan::new(&endpoint(bad), &opts, Path::new("/out")).unwrap_err();
            assert_eq!(err, PlanError::BadName(bad.to_owned()), "{bad}");
            assert!(err.to_string().contains("--name"), "{err}");
        }
        for bad in ["", " ", "idle\n"] {
            let opts = Options {
                scenarios: vec!["idle".into(), bad.into()],
                ..Options::default()
            };
            let err = Plan::new(&endpoint("b"), &opts, Path::new("/out")).unwrap_err();
            assert!(matches!(err, PlanError::BadScenario(_)), "{bad:?}");
            assert!(err.to_string().contains("--scenario"), "{err}");
        }
    }

    /// A plan that fails its checks never reaches the board: no ssh is run (the stand-in
    /// would leave a mark), no folder is made, and the ERROR names the fix.
    #[test]
    fn a_plan_that_fails_its_checks_contacts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("ssh-ran");
        let ssh = dir.path().join("ssh");
        std::fs::write(
            &ssh,
            format!("#!/bin/sh\ntouch '{}'\nexit 255\n", mark.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let opts = Options {
            programs: Programs {
                ssh: ssh.clone(),
                scp: ssh,
            },
            ..Options::default()
        };
        let out = dir.path().join("out");
        let events = std::sync::Mutex::new(Vec::new());
        let observe = |_: &str, e: Event<'_>| {
            if let Event::Phase(p) = e {
                events.lock().unwrap().push(p);
            }
        };
        let r = accept_board(&endpoint(".."), &opts, &out, &observe);
        assert_eq!(r.verdict, Verdict::Error);
        assert_eq!(r.error_kind, Some(ErrorKind::Board));
        assert!(r.reason.unwrap().contains("board name \"..\""));
        assert_eq!(*events.lock().unwrap(), [Phase::Done(Verdict::Error)]);
        assert!(!mark.exists(), "ssh was run");
        assert!(!out.exists());
    }

    #[test]
    fn the_budget_is_the_options_else_the_profile() {
        let s = Duration::from_secs;
        let derived = Budget::new(&Options::default(), Some(PROFILE));
        assert_eq!(derived.timeout, derive_timeout(Some(PROFILE), &[], None));
        assert_eq!(derived.boot_wait, derived.timeout);
        // Selected scenarios shorten the run's bound, never the wait for the board's own
        // validation (which measures the whole profile).
        let idle = Budget::new(
            &Options {
                scenarios: vec!["idle".into()],
                ..Options::default()
            },
            Some(PROFILE),
        );
        assert!(idle.timeout < derived.timeout);
        assert_eq!(idle.boot_wait, derived.boot_wait);
        let given = Budget::new(
            &Options {
                timeout: Some(s(7)),
                boot_wait: Some(s(9)),
                ..Options::default()
            },
            Some(PROFILE),
        );
        assert_eq!((given.timeout, given.boot_wait), (s(7), s(9)));
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
