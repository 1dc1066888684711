//! Background loads: checked before measuring, run on the housekeeping CPUs, always reaped.
//!
//! A load is a shell command from the profile. It runs under a small supervisor, which is
//! this same binary re-executed (`rros-validate __supervise-load`):
//!
//! ```text
//! rros-validate (measures)
//!   └─ supervisor   own session; pinned to housekeeping, SCHED_OTHER; child subreaper
//!        └─ sh -c LOAD   own process group (pgid = its pid); everything it starts stays in it
//! ```
//!
//! The supervisor holds the read end of a pipe (its stdin) whose only write end is in
//! rros-validate. Whenever rros-validate goes away — it closes the pipe to stop the load,
//! it is killed with SIGKILL, it crashes — the kernel closes that end, the supervisor reads
//! EOF and tears the load down: SIGTERM to the load's process group and to every process that
//! left the group (they are re-parented to the supervisor, a child subreaper), a grace period,
//! then SIGKILL until no descendant is left. `PR_SET_PDEATHSIG` (SIGTERM) on the supervisor
//! is a second trigger for the same teardown. The shell is reaped last, so the group id
//! cannot be reused by an unrelated process while it is signalled.
//!
//! The load runs at a lower priority than the system's own services: SCHED_OTHER with nice
//! [`LOAD_NICE`], so it fills the housekeeping CPUs' idle time without starving sshd, the
//! journal or the kernel's housekeeping threads (the virtual board's SSH stays answerable
//! under hackbench). Whether the load really worked is not guessed from its text: see
//! [`crate::loadwork`]. [`missing_tools`] only gives an early hint.

use anyhow::{Context, Result, bail};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The nice value loads run at (SCHED_OTHER): below the system's services, which run at 0.
pub const LOAD_NICE: i32 = 10;

/// The hidden first argument that turns the binary into a load supervisor.
pub const SUPERVISOR_ARG: &str = "__supervise-load";

/// A tool a load needs but that is not installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTool {
    pub tool: String,
    /// What to install.
    pub package: &'static str,
}

impl std::fmt::Display for MissingTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not installed (not on PATH): install the `{}` package (Yocto: IMAGE_INSTALL:append = \" {}\"; Debian: apt install {})",
            self.tool, self.package, self.package, self.package
        )
    }
}

/// The package that provides a load tool.
pub fn package_of(tool: &str) -> &'static str {
    match tool {
        "hackbench" | "cyclictest" | "oslat" | "signaltest" | "pi_stress" => "rt-tests",
        "stress-ng" => "stress-ng",
        "stress" => "stress",
        "dd" | "cat" | "yes" | "sleep" | "timeout" | "nproc" | "taskset" => "coreutils",
        "setsid" => "util-linux",
        "iperf3" => "iperf3",
        "make" => "make",
        _ => "the package that provides it",
    }
}

/// Tools loads are known to use: always checked wherever they appear in the command.
const KNOWN_TOOLS: &[&str] = &["stress-ng", "hackbench", "dd", "stress", "iperf3"];

/// Shell words that are not programs to look up.
const SHELL_WORDS: &[&str] = &[
    "while", "until", "for", "in", "do", "done", "if", "then", "elif", "else", "fi", "case",
    "esac", "{", "}", "!", "time", ":", "true", "false", "echo", "printf", "exec", "exit", "cd",
    "wait", "trap", "export", "set", "unset", "ulimit", "umask", "break", "continue", "eval",
    "read", "kill", "[", "test", "shift", "return", "local", ".", "source", "command",
];

/// Shell words after which the next word is again a command name.
const REOPENING: &[&str] = &[
    "while", "until", "do", "then", "elif", "else", "if", "{", "!", "time", "exec", "command",
];

/// The programs a load command runs: the first word of each simple command (keywords,
/// builtins, assignments and redirections skipped), plus known load tools anywhere in it.
pub fn commands_of(load: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |w: &str| {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_owned());
        }
    };
    let mut at_command = true;
    let mut skip_next = false; // the target of a redirection given as a separate word
    for (w, op) in &shell_words(load) {
        // A word with an expansion (`$HB`, `${HB:-x}`, `$(…)`, backquotes) is only known when
        // the shell runs it: no guess.
        if !*op && w.contains(['$', '`']) {
            at_command = false;
            continue;
        }
        if *op {
            // `2>&1`'s `&` comes through as an operator: harmless, it just reopens. After a
            // closing `)` come arguments or operators, not a command.
            at_command = w != ")";
            continue;
        }
        if skip_next {
            skip_next = false;
            continue;
        }
        if is_redirection(w) {
            skip_next = w.ends_with(['<', '>']);
            continue;
        }
        if KNOWN_TOOLS.contains(&w.as_str()) {
            push(w);
        }
        if !at_command || is_assignment(w) {
            continue;
        }
        if SHELL_WORDS.contains(&w.as_str()) {
            at_command = REOPENING.contains(&w.as_str());
            continue;
        }
        push(w);
        at_command = false;
    }
    out
}

/// A load's words with quotes removed, each with whether it is an operator
/// (`;`, `&`, `|`, `(`, `)`, newline).
fn shell_words(load: &str) -> Vec<(String, bool)> {
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut words: Vec<(String, bool)> = Vec::new();
    for ch in load.chars() {
        match quote {
            Some(q) if ch == q => quote = None,
            Some(_) => word.push(ch),
            None => match ch {
                '\'' | '"' => quote = Some(ch),
                ';' | '&' | '|' | '(' | ')' | '\n' => {
                    if !word.is_empty() {
                        words.push((std::mem::take(&mut word), false));
                    }
                    words.push((ch.to_string(), true));
                }
                c if c.is_whitespace() => {
                    if !word.is_empty() {
                        words.push((std::mem::take(&mut word), false));
                    }
                }
                c => word.push(c),
            },
        }
    }
    if !word.is_empty() {
        words.push((word, false));
    }
    words
}

/// `<f`, `>f`, `2>f`, `>>`, ... (a redirection whose target may be the next word).
fn is_redirection(w: &str) -> bool {
    w.starts_with(['<', '>'])
        || w.trim_start_matches(|c: char| c.is_ascii_digit())
            .starts_with(['<', '>'])
}

/// `NAME=value` before a command.
fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Looks `program` up like the shell does (PATH, or as a path when it holds a `/`).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| executable(p))
}

/// The tools `load` seems to need that are not installed: an early hint only, from the text.
/// It cannot change a verdict; [`crate::loadwork`] proves whether the load ran.
pub fn missing_tools(load: &str) -> Vec<MissingTool> {
    commands_of(load)
        .into_iter()
        .filter(|c| find_program(c).is_none())
        .map(|tool| MissingTool {
            package: package_of(&tool),
            tool,
        })
        .collect()
}

/// How to start a load.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub command: String,
    /// Housekeeping CPUs the load is pinned to (empty = not pinned).
    pub cpus: Vec<u32>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// Between SIGTERM and SIGKILL when it is stopped.
    pub grace: Duration,
}

/// A load that is running; stopping it (or dropping this) tears it down and reaps it.
#[derive(Debug)]
pub struct RunningLoad {
    child: Child,
    lifeline: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The process group of the load (the shell's pid).
    pub pgid: i32,
    grace: Duration,
    log: PathBuf,
    finished: bool,
}

/// How a load ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadEnd {
    /// It ended by itself (before it was stopped).
    pub on_its_own: bool,
    /// `exit status N` / `killed by signal N`, when it ended on its own.
    pub status: Option<String>,
}

fn cpulist(cpus: &[u32]) -> String {
    cpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Starts `spec` under a supervisor and waits until the load's shell runs.
pub fn start(spec: &LoadSpec) -> Result<RunningLoad> {
    let log = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&spec.log)
        .with_context(|| format!("cannot create the load log {}", spec.log.display()))?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(SUPERVISOR_ARG)
        .arg("--cpus")
        .arg(cpulist(&spec.cpus))
        .arg("--grace-ms")
        .arg(spec.grace.as_millis().to_string())
        .arg("--")
        .arg(&spec.command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: only async-signal-safe calls (setsid, prctl, getppid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would signal us.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .context("cannot start the load supervisor (/proc/self/exe)")?;
    let lifeline = child.stdin.take();
    let mut stdout = BufReader::new(child.stdout.take().context("supervisor has no stdout")?);
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    let pgid = line
        .trim()
        .strip_prefix("pgid ")
        .and_then(|p| p.parse::<i32>().ok());
    let Some(pgid) = pgid else {
        drop(lifeline);
        let _ = child.wait();
        bail!(
            "the load `{}` could not be started: {}",
            spec.command,
            log_tail(&spec.log, 400).unwrap_or_default().trim()
        );
    };
    Ok(RunningLoad {
        child,
        lifeline,
        stdout,
        pgid,
        grace: spec.grace,
        log: spec.log.clone(),
        finished: false,
    })
}

/// The last `max` bytes of a log (lossy UTF-8).
pub fn log_tail(path: &Path, max: usize) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    let start = bytes.len().saturating_sub(max);
    Some(String::from_utf8_lossy(&bytes[start..]).into_owned())
}

impl RunningLoad {
    /// The pid of the load's supervisor: every process of the load is below it.
    pub fn supervisor_pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `Some` once the load has ended on its own (every process of it is gone).
    pub fn ended(&mut self) -> Option<LoadEnd> {
        match self.child.try_wait() {
            Ok(Some(_)) => {
                self.finished = true;
                Some(self.end_report(true))
            }
            _ => None,
        }
    }

    fn end_report(&mut self, on_its_own: bool) -> LoadEnd {
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let status = rest
            .lines()
            .find_map(|l| l.strip_prefix("ended ").map(str::to_owned));
        LoadEnd {
            on_its_own,
            status: if on_its_own { status } else { None },
        }
    }

    /// The load's output so far (its tail).
    pub fn log_tail(&self, max: usize) -> String {
        log_tail(&self.log, max).unwrap_or_default()
    }

    /// Stops the load (SIGTERM, grace, SIGKILL) and waits until every process of it is gone.
    pub fn stop(mut self) -> LoadEnd {
        self.shutdown()
    }

    fn shutdown(&mut self) -> LoadEnd {
        if self.finished {
            return LoadEnd {
                on_its_own: true,
                status: None,
            };
        }
        if let Ok(Some(_)) = self.child.try_wait() {
            self.finished = true;
            return self.end_report(true);
        }
        drop(self.lifeline.take()); // EOF: the supervisor tears the load down
        let deadline = Instant::now() + self.grace + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.finished = true;
                    if status.code().is_none() {
                        // The supervisor itself was killed: sweep its group as a backstop.
                        kill_group_members(self.pgid);
                    }
                    return self.end_report(false);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
        // The supervisor is stuck: kill it and whatever is left of the load.
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_group_members(self.pgid);
        self.finished = true;
        LoadEnd {
            on_its_own: false,
            status: None,
        }
    }
}

impl Drop for RunningLoad {
    fn drop(&mut self) {
        if !self.finished {
            self.shutdown();
        }
    }
}

/// SIGKILLs every process whose process group is `pgid`, found in /proc.
fn kill_group_members(pgid: i32) {
    for p in processes() {
        if p.pgrp == pgid {
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
        }
    }
}

/// The fields of `/proc/<pid>/stat` the supervisor needs.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    pid: i32,
    ppid: i32,
    pgrp: i32,
}

fn processes() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut f = rest.split_whitespace();
            let _state = f.next()?;
            let ppid = f.next()?.parse().ok()?;
            let pgrp = f.next()?.parse().ok()?;
            Some(ProcStat { pid, ppid, pgrp })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The supervisor (runs in its own process).

fn describe_wait_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

struct Supervisor {
    me: i32,
    shell: i32,
    /// The shell's wait status once it has exited (it stays a zombie until the end).
    shell_status: Option<libc::c_int>,
}

impl Supervisor {
    /// Children other than the shell; reaps those that have exited.
    fn other_children(&self) -> Vec<i32> {
        let mut alive = Vec::new();
        for p in processes()
            .into_iter()
            .filter(|p| p.ppid == self.me && p.pid != self.shell)
        {
            let mut st = 0;
            // SAFETY: waitpid on our own child, status pointer valid.
            let r = unsafe { libc::waitpid(p.pid, &mut st, libc::WNOHANG) };
            if r == 0 {
                alive.push(p.pid);
            }
        }
        alive
    }

    /// Peeks at the shell without reaping it (the zombie keeps the group id reserved).
    fn poll_shell(&mut self) {
        if self.shell_status.is_some() {
            return;
        }
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; WNOWAIT leaves the child waitable.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                self.shell as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid/si_status are valid for SIGCHLD-style info filled by waitid.
        if r == 0 && unsafe { info.si_pid() } == self.shell {
            // SAFETY: as above.
            let (code, st) = (info.si_code, unsafe { info.si_status() });
            self.shell_status = Some(if code == libc::CLD_EXITED {
                (st & 0xff) << 8
            } else {
                st & 0x7f
            });
        }
    }

    fn signal_all(&self, sig: libc::c_int) {
        // SAFETY: kill has no memory effects; the shell is unreaped, so the group id is ours.
        unsafe {
            libc::kill(-self.shell, sig);
            if sig == libc::SIGTERM {
                libc::kill(-self.shell, libc::SIGCONT);
            }
        }
        for pid in self.other_children() {
            // SAFETY: as above; these are our (unreaped) children.
            unsafe { libc::kill(pid, sig) };
        }
    }

    /// True when nothing of the load is left but the shell's zombie (or the shell itself).
    fn only_shell_left(&mut self) -> bool {
        self.poll_shell();
        self.shell_status.is_some() && self.other_children().is_empty()
    }

    fn reap_shell(&mut self) -> libc::c_int {
        let mut st = 0;
        // SAFETY: waitpid on our child.
        unsafe { libc::waitpid(self.shell, &mut st, 0) };
        st
    }

    fn teardown(&mut self, grace: Duration) {
        self.signal_all(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.only_shell_left() {
                self.reap_shell();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Anything still there gets SIGKILL, round after round: killing a parent re-parents
        // its escaped children to us, and the next round gets them.
        let give_up = Instant::now() + Duration::from_secs(10);
        while Instant::now() < give_up {
            self.signal_all(libc::SIGKILL);
            std::thread::sleep(Duration::from_millis(20));
            if self.only_shell_left() {
                break;
            }
        }
        self.reap_shell();
    }
}

/// Entry point of `rros-validate __supervise-load --cpus LIST --grace-ms N -- COMMAND`.
pub fn supervise_main(args: &[String]) -> u8 {
    match supervise(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rros-validate load supervisor: {e:#}");
            2
        }
    }
}

fn supervise(args: &[String]) -> Result<u8> {
    let args = SuperviseArgs::parse(args)?;
    let me = become_load_parent(&args.cpus)?;
    let term = stop_flag()?;
    let shell = spawn_shell(&args.command)?;
    let mut sup = Supervisor {
        me,
        shell: shell.id() as i32,
        shell_status: None,
    };
    // `Child` is not used to wait: the supervisor reaps by pid, the shell last.
    std::mem::forget(shell);
    let mut stdout = io::stdout();
    writeln!(stdout, "pgid {}", sup.shell)?;
    stdout.flush()?;
    watch(&mut sup, &term, args.grace, &mut stdout)
}

/// The supervisor's command line: `--cpus LIST --grace-ms N -- COMMAND`.
struct SuperviseArgs {
    cpus: Vec<usize>,
    grace: Duration,
    command: String,
}

impl SuperviseArgs {
    fn parse(args: &[String]) -> Result<SuperviseArgs> {
        let mut cpus: Vec<usize> = Vec::new();
        let mut grace = Duration::from_secs(2);
        let mut command = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--cpus" => {
                    let list = it.next().context("--cpus needs a value")?;
                    cpus = list
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::parse)
                        .collect::<Result<_, _>>()?;
                }
                "--grace-ms" => {
                    grace = Duration::from_millis(
                        it.next().context("--grace-ms needs a value")?.parse()?,
                    )
                }
                "--" => command = it.next().cloned(),
                other => bail!("unknown argument {other}"),
            }
        }
        let command = command.context("no load command after --")?;
        Ok(SuperviseArgs {
            cpus,
            grace,
            command,
        })
    }
}

/// Makes this process the load's parent: subreaper (orphans of the load come here), plain
/// SCHED_OTHER at the load's nice value (inherited by the shell and everything it starts),
/// pinned to `cpus` (none: not pinned). Returns its pid.
fn become_load_parent(cpus: &[usize]) -> Result<libc::pid_t> {
    // SAFETY: plain syscalls on this process.
    let me = unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
        // Inherited by the shell and everything it starts.
        libc::setpriority(libc::PRIO_PROCESS, 0, LOAD_NICE);
        libc::getpid()
    };
    if !cpus.is_empty() {
        // SAFETY: set is zeroed then filled with CPU_SET; size matches.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for c in cpus {
                libc::CPU_SET(*c, &mut set);
            }
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                bail!(
                    "cannot pin the load to CPUs {cpus:?}: {}",
                    io::Error::last_os_error()
                );
            }
        }
    }
    Ok(me)
}

/// Set when SIGTERM, SIGINT or SIGHUP arrives.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&term)).context("cannot handle signals")?;
    }
    Ok(term)
}

/// `/bin/sh -c COMMAND` in its own process group, its output into the log (our stderr).
fn spawn_shell(command: &str) -> Result<std::process::Child> {
    let out = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot duplicate the log")?;
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c")
        .arg(command)
        // Scratch files of a load (stress-ng) go to the temporary directory (private under
        // systemd), not to the output directory or a read-only working directory.
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(File::from(out));
    // SAFETY: async-signal-safe calls only.
    unsafe {
        sh.pre_exec(|| {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // If the supervisor dies (it never should), the shell at least goes with it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    sh.spawn().context("cannot start /bin/sh for the load")
}

/// Waits for a stop (a signal, a byte or EOF on the lifeline, stdin) and tears the load
/// down; or reports how the shell ended if the load finished on its own.
fn watch(
    sup: &mut Supervisor,
    term: &AtomicBool,
    grace: Duration,
    stdout: &mut io::Stdout,
) -> Result<u8> {
    let mut stdin = io::stdin();
    loop {
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        let mut stop = term.load(Ordering::Relaxed);
        if r > 0 && pfd.revents != 0 {
            let mut buf = [0u8; 64];
            // EOF (rros-validate closed or lost the pipe) or any byte means stop.
            let _ = stdin.read(&mut buf);
            stop = true;
        }
        if stop {
            sup.teardown(grace);
            return Ok(0);
        }
        if sup.only_shell_left() {
            let st = sup.reap_shell();
            let _ = writeln!(stdout, "ended {}", describe_wait_status(st));
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_programs_of_a_load() {
        assert_eq!(
            commands_of(
                "while :; do hackbench -g 2 -l 1000 >/dev/null 2>&1; done & dd if=/dev/zero of=/dev/null bs=128M"
            ),
            vec!["hackbench", "dd"]
        );
        assert_eq!(
            commands_of("stress-ng --class cpu-cache --timeout 0"),
            vec!["stress-ng"]
        );
        assert_eq!(
            commands_of("FOO=1 exec /usr/bin/yes > /dev/null"),
            vec!["/usr/bin/yes"]
        );
        assert_eq!(commands_of("sleep 10 & sleep 20"), vec!["sleep"]);
        assert_eq!(
            commands_of("echo hi | taskset 1 'my tool' 2> log"),
            vec!["taskset"]
        );
        assert_eq!(commands_of("'my tool' -x"), vec!["my tool"]);
        assert_eq!(
            commands_of("timeout 5 stress-ng --cpu 1"),
            vec!["timeout", "stress-ng"]
        );
        assert_eq!(commands_of("( cd /tmp && make -j2 )"), vec!["make"]);
        // Expansions are not guessed at (issue #12 finding 3: these failed with the tool
        // installed).
        assert_eq!(commands_of("$(echo hackbench) -l 10"), vec!["hackbench"]);
        assert!(commands_of("${HB:-hackbench} -l 10").is_empty());
        assert!(commands_of("\"$HB\" -l 10").is_empty());
        assert!(commands_of("`echo hackbench`").is_empty());
    }

    #[test]
    fn missing_tools_name_their_package() {
        let m = missing_tools("no-such-tool-xyz --foo & sh -c true");
        assert_eq!(
            m,
            vec![MissingTool {
                tool: "no-such-tool-xyz".into(),
                package: "the package that provides it"
            }]
        );
        assert!(missing_tools("sh -c true").is_empty());
        assert_eq!(package_of("hackbench"), "rt-tests");
        let text = MissingTool {
            tool: "hackbench".into(),
            package: "rt-tests",
        }
        .to_string();
        assert!(
            text.contains("IMAGE_INSTALL") && text.contains("apt install rt-tests"),
            "{text}"
        );
    }
}
