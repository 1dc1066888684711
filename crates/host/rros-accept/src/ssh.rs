//! The system `ssh` and `scp`, non-interactive, with bounded time and bounded memory.
//!
//! Every call runs with `BatchMode=yes` (no password or passphrase prompt can hang a run),
//! a connect timeout that also bounds the SSH banner exchange, keep-alives that notice a
//! dead link, no agent or port forwarding, and `--` before the destination. A board session
//! ([`Ssh::multiplexed`]) shares one SSH connection between all its calls (OpenSSH
//! `ControlMaster`, socket in a private temporary folder): on a slow or loaded board only the
//! first call pays the handshake. Processes are always reaped: a call that overruns its time is
//! killed. What a board prints is read in lines of at most [`MAX_LINE`] bytes, so a hostile or
//! broken board cannot grow this process without bound.

use crate::target::Endpoint;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Seconds between keep-alives, and how many may go unanswered before ssh gives up (exit 255).
const ALIVE_INTERVAL_S: u32 = 5;
const ALIVE_COUNT_MAX: u32 = 6;
/// How long the shared connection outlives its last call (it is closed explicitly at the end
/// of a session; this only bounds a master left behind by a killed `rros`).
const CONTROL_PERSIST_S: u32 = 60;

/// The longest line kept from a board's output; the rest of a longer line is dropped (and
/// counted). A verdict line is ~150 bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// The most a [`Captured`] keeps of each stream; beyond it, the middle is dropped. Room for a
/// whole `report.json` read with `cat` (a real one with per-CPU histograms is ~0.5 MiB).
pub const MAX_CAPTURE: usize = 16 * 1024 * 1024;
/// Lines read ahead of their handling, per call.
const QUEUED_LINES: usize = 256;
/// Longest time any call is given: bounds absurd durations before they reach a clock.
pub const MAX_CALL: Duration = Duration::from_secs(366 * 24 * 3600);

/// The client programs: the system `ssh` and `scp` unless told otherwise (tests put stand-ins
/// here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    pub ssh: PathBuf,
    pub scp: PathBuf,
}

impl Default for Programs {
    fn default() -> Self {
        Programs {
            ssh: PathBuf::from("ssh"),
            scp: PathBuf::from("scp"),
        }
    }
}

/// How to reach one board.
#[derive(Debug, Clone)]
pub struct Ssh {
    pub endpoint: Endpoint,
    /// Bounds the TCP connect and the SSH banner exchange.
    pub connect_timeout: Duration,
    pub programs: Programs,
    /// The shared connection's socket folder, when multiplexed.
    control: Option<Arc<ControlDir>>,
}

/// A private folder (mode 0700) holding the control socket of one board session; the master
/// connection is told to exit when the last [`Ssh`] sharing it is dropped.
#[derive(Debug)]
struct ControlDir {
    dir: tempfile::TempDir,
    /// What closes the master: `ssh -O exit` with the session's options.
    exit: std::sync::Mutex<Option<Command>>,
}

impl ControlDir {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("cm")
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        if !self.socket().exists() {
            return;
        }
        if let Some(cmd) = self.exit.get_mut().ok().and_then(Option::take) {
            let _ = run_captured(cmd, Duration::from_secs(5));
        }
    }
}

/// What a finished (or killed) call left.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `None` when killed on our side (timeout) or ended by a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// ssh's own failure: cannot connect, authentication refused, link lost.
    pub fn link_failed(&self) -> bool {
        self.code == Some(255)
    }

    /// The last non-empty line of stderr, for messages.
    pub fn stderr_tail(&self) -> String {
        sanitize(&last_line(&self.stderr))
    }
}

pub fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(nothing on stderr)")
        .to_owned()
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Ssh {
    pub fn new(endpoint: Endpoint, connect_timeout: Duration) -> Self {
        Ssh {
            endpoint,
            connect_timeout,
            programs: Programs::default(),
            control: None,
        }
    }

    /// The same board, with every call sharing one SSH connection (`ControlMaster=auto`,
    /// socket in a new private temporary folder). The connection is made by the first call and
    /// closed when the last clone is dropped. Falls back to a connection per call when no
    /// temporary folder can be made.
    pub fn multiplexed(&self) -> Ssh {
        let mut ssh = self.clone();
        // A Unix socket path is limited to 108 bytes: prefer a short folder.
        let base = Path::new("/tmp");
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::Builder::new()
            .prefix("rros-ssh-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(if base.is_dir() {
                base.to_owned()
            } else {
                std::env::temp_dir()
            });
        if let Ok(dir) = dir {
            let control = Arc::new(ControlDir {
                dir,
                exit: std::sync::Mutex::new(None),
            });
            ssh.control = Some(control.clone());
            let mut exit = Command::new(&ssh.programs.ssh);
            exit.args(ssh.options())
                .args(["-O", "exit", "-p"])
                .arg(ssh.endpoint.target.port.to_string())
                .arg("--")
                .arg(ssh.destination())
                .stdin(Stdio::null());
            if let Ok(mut slot) = control.exit.lock() {
                *slot = Some(exit);
            }
        }
        ssh
    }

    /// The same board over a new shared connection of its own: after a link broke, the old
    /// master may hang on a dead TCP connection (an emulator's forwarded port stays open while
    /// the guest reboots) until its keep-alives give up; new calls must not queue behind it.
    pub fn reconnected(&self) -> Ssh {
        let mut ssh = self.clone();
        ssh.control = None;
        if self.control.is_some() {
            ssh.multiplexed()
        } else {
            ssh
        }
    }

    /// Whether calls share one connection.
    pub fn is_multiplexed(&self) -> bool {
        self.control.is_some()
    }

    fn destination(&self) -> String {
        let target = &self.endpoint.target;
        format!("{}@{}", target.user, target.host)
    }

    /// Options shared by ssh and scp.
    pub fn options(&self) -> Vec<String> {
        let secs = self.connect_timeout.as_secs().clamp(1, 3600);
        let mut opts: Vec<String> = [
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={secs}"),
            format!("ServerAliveInterval={ALIVE_INTERVAL_S}"),
            format!("ServerAliveCountMax={ALIVE_COUNT_MAX}"),
            "LogLevel=ERROR".to_owned(),
            "PasswordAuthentication=no".to_owned(),
            "KbdInteractiveAuthentication=no".to_owned(),
            // A board is not trusted with the operator's agent or any forwarding.
            "ForwardAgent=no".to_owned(),
            "ForwardX11=no".to_owned(),
            "ClearAllForwardings=yes".to_owned(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_owned(), o])
        .collect();
        if let Some(control) = &self.control {
            for o in [
                "ControlMaster=auto".to_owned(),
                format!("ControlPath={}", control.socket().display()),
                format!("ControlPersist={CONTROL_PERSIST_S}"),
            ] {
                opts.extend(["-o".to_owned(), o]);
            }
        }
        match &self.endpoint.known_hosts {
            Some(file) => {
                opts.extend(["-o".into(), "StrictHostKeyChecking=yes".into()]);
                opts.extend([
                    "-o".into(),
                    format!("UserKnownHostsFile={}", file.display()),
                ]);
                opts.extend(["-o".into(), "GlobalKnownHostsFile=/dev/null".into()]);
            }
            None => opts.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into()]),
        }
        if let Some(identity) = &self.endpoint.identity {
            opts.extend(["-i".into(), identity.display().to_string()]);
            opts.extend(["-o".into(), "IdentitiesOnly=yes".into()]);
        }
        opts
    }

    /// `ssh … user@host -- <remote>`: `remote` is one shell command line for the board.
    pub fn command(&self, remote: &str) -> Command {
        let target = &self.endpoint.target;
        let mut cmd = Command::new(&self.programs.ssh);
        cmd.args(self.options())
            .arg("-p")
            .arg(target.port.to_string())
            .arg("--")
            .arg(self.destination())
            .arg(remote)
            .stdin(Stdio::null());
        cmd
    }

    /// `scp -r` of a remote folder into `local_parent` (the folder lands as
    /// `local_parent/<basename>`). Uses the original scp protocol (`-O`): boards with dropbear
    /// or without an SFTP server take it.
    pub fn fetch_dir_command(&self, remote_dir: &str, local_parent: &Path) -> Command {
        let target = &self.endpoint.target;
        let mut cmd = Command::new(&self.programs.scp);
        cmd.arg("-O")
            .arg("-r")
            .arg("-p")
            .arg("-q")
            .args(self.options())
            .arg("-P")
            .arg(target.port.to_string())
            .arg("--")
            .arg(format!(
                "{}@{}:{}",
                target.user,
                target.scp_host(),
                shell_quote(remote_dir)
            ))
            .arg(local_parent)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `remote` and collects its output; killed after `timeout`.
    pub fn capture(&self, remote: &str, timeout: Duration) -> std::io::Result<Captured> {
        run_captured(self.command(remote), timeout)
    }
}

/// Quotes `text` for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Spawns `cmd` and collects stdout and stderr (at most [`MAX_CAPTURE`] bytes of each: the
/// first lines, then the last); kills it after `timeout`.
pub fn run_captured(cmd: Command, timeout: Duration) -> std::io::Result<Captured> {
    let mut stdout = Bounded::default();
    let mut stderr = Bounded::default();
    let (status, timed_out) = run_streaming(cmd, timeout, |stream, line| {
        match stream {
            Stream::Stdout => &mut stdout,
            Stream::Stderr => &mut stderr,
        }
        .push(line);
    })?;
    let (stdout, stderr) = (stdout.text(), stderr.text());
    Ok(Captured {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout,
        stderr,
    })
}

/// Lines kept up to [`MAX_CAPTURE`] bytes: the head, then a rolling tail; what falls between
/// is counted, not kept.
#[derive(Debug, Default)]
struct Bounded {
    head: String,
    tail: std::collections::VecDeque<String>,
    tail_bytes: usize,
    dropped: usize,
}

impl Bounded {
    fn push(&mut self, line: &str) {
        if self.head.len() + line.len() < MAX_CAPTURE / 2 {
            self.head.push_str(line);
            self.head.push('\n');
            return;
        }
        self.tail.push_back(line.to_owned());
        self.tail_bytes += line.len() + 1;
        while self.tail_bytes > MAX_CAPTURE / 2 {
            let Some(old) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.len() + 1;
            self.dropped += old.len() + 1;
        }
    }

    fn text(self) -> String {
        let mut text = self.head;
        if self.dropped > 0 {
            text.push_str(&format!(
                "[… {} bytes of output not kept …]\n",
                self.dropped
            ));
        }
        for line in self.tail {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// `now + d`, for any `d` (an absurd duration gives a far, but representable, deadline).
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(MAX_CALL))
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now)
}

/// Spawns `cmd`, hands every line of its stdout and stderr to `on_line` as it arrives (lines
/// longer than [`MAX_LINE`] cut there, with a note of how much was dropped), and kills it
/// after `timeout`. Returns the exit status (`None` when killed) and whether the timeout
/// struck.
pub fn run_streaming(
    mut cmd: Command,
    timeout: Duration,
    mut on_line: impl FnMut(Stream, &str),
) -> std::io::Result<(Option<ExitStatus>, bool)> {
    let deadline = deadline_after(timeout);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Bounded: a board printing faster than the lines are handled waits on its pipe instead
    // of growing this process (at most QUEUED_LINES × MAX_LINE bytes in flight).
    let (tx, rx) = mpsc::sync_channel::<(Stream, String)>(QUEUED_LINES);
    let readers = [
        child
            .stdout
            .take()
            .map(|out| spawn_reader(Stream::Stdout, out, tx.clone())),
        child
            .stderr
            .take()
            .map(|err| spawn_reader(Stream::Stderr, err, tx.clone())),
    ];
    drop(tx);
    let mut timed_out = false;
    let mut exited = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok((stream, line)) => on_line(stream, &line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait()? {
                    // Gone, but something it started may still hold the pipes: take what is
                    // queued and stop listening.
                    exited = Some(status);
                    while let Ok((stream, line)) = rx.recv_timeout(Duration::from_millis(200)) {
                        on_line(stream, &line);
                    }
                    break;
                }
            }
        }
    }
    let status = match exited {
        Some(status) => Some(status),
        None if timed_out => {
            kill_and_reap(&mut child);
            None
        }
        None => wait_until(&mut child, deadline)?,
    };
    // The readers end when the pipes close; one held open by a grandchild must not hold us,
    // so they are detached rather than joined.
    drop(readers);
    while let Ok((stream, line)) = rx.try_recv() {
        on_line(stream, &line);
    }
    let timed_out = timed_out || status.is_none();
    Ok((status, timed_out))
}

fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    tx: mpsc::SyncSender<(Stream, String)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        while let Some(line) = read_bounded_line(&mut reader, MAX_LINE) {
            if tx.send((stream, line)).is_err() {
                break;
            }
        }
    })
}

/// Reads one line (without its `\n` or `\r\n`) and keeps at most `max` bytes of it; the rest
/// of a longer line is read and dropped, and the line ends with a note of how much. `None` at
/// the end of the input.
pub fn read_bounded_line(reader: &mut impl BufRead, max: usize) -> Option<String> {
    let mut kept: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    let mut any = false;
    loop {
        let (used, done) = {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if buf.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = max.saturating_sub(kept.len());
            let take = room.min(chunk.len());
            kept.extend_from_slice(&chunk[..take]);
            dropped += chunk.len() - take;
            (used, done)
        };
        reader.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return None;
    }
    if kept.last() == Some(&b'\r') && dropped == 0 {
        kept.pop();
    }
    let mut line = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        line.push_str(&format!(" [… {dropped} more bytes of this line dropped]"));
    }
    Some(line)
}

/// What is safe to show on a terminal or in a log line: control characters (C0, DEL, C1:
/// escape sequences, carriage returns, bells) and the bidirectional overrides are shown
/// escaped (`\u{1b}`), tabs become a space; everything else is kept.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c == '\t' {
            out.push(' ');
        } else if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits for the child until `deadline`; kills it past that (`Ok(None)`).
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill_and_reap(child);
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Target;

    fn ssh(known_hosts: Option<&str>, identity: Option<&str>) -> Ssh {
        let mut endpoint = Endpoint::new(Target::parse("pi@[::1]:2200").unwrap());
        endpoint.known_hosts = known_hosts.map(PathBuf::from);
        endpoint.identity = identity.map(PathBuf::from);
        Ssh::new(endpoint, Duration::from_secs(7))
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn ssh_is_batch_mode_with_bounded_connect() {
        let cmd = ssh(None, None).command("uname -r");
        assert_eq!(cmd.get_program(), "ssh");
        let a = args(&cmd);
        for want in [
            "BatchMode=yes",
            "ConnectTimeout=7",
            "StrictHostKeyChecking=accept-new",
            "ServerAliveInterval=5",
        ] {
            assert!(a.contains(&want.to_owned()), "{want} missing from {a:?}");
        }
        assert_eq!(
            &a[a.len() - 5..],
            ["-p", "2200", "--", "pi@::1", "uname -r"]
        );
        assert!(!a.contains(&"-i".to_owned()));
    }

    /// Finding 14 of issue #12: the destination comes after `--`, and a board gets neither the
    /// operator's agent nor any forwarding, whatever ~/.ssh/config says.
    #[test]
    fn ssh_option_injection_is_closed() {
        let s = ssh(None, None);
        for a in [
            args(&s.command("true")),
            args(&s.fetch_dir_command("/r", Path::new("/o"))),
        ] {
            for want in [
                "ForwardAgent=no",
                "ClearAllForwardings=yes",
                "ForwardX11=no",
            ] {
                let i = a.iter().position(|x| x == want).expect(want);
                assert_eq!(a[i - 1], "-o");
            }
            let dd = a.iter().position(|x| x == "--").expect("--");
            assert!(
                a[dd + 1].starts_with("pi@"),
                "the destination follows --: {a:?}"
            );
        }
    }

    #[test]
    fn a_session_shares_one_connection_through_a_private_socket() {
        let plain = ssh(None, None);
        assert!(
            !args(&plain.command("true"))
                .iter()
                .any(|a| a.starts_with("Control"))
        );
        let shared = plain.multiplexed();
        assert!(shared.is_multiplexed());
        let a = args(&shared.command("true"));
        assert!(a.contains(&"ControlMaster=auto".to_owned()), "{a:?}");
        assert!(a.iter().any(|x| x.starts_with("ControlPersist=")), "{a:?}");
        let path = a
            .iter()
            .find_map(|x| x.strip_prefix("ControlPath="))
            .map(PathBuf::from)
            .unwrap();
        assert!(path.to_string_lossy().len() < 100, "socket path too long");
        let dir = path.parent().unwrap().to_owned();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the socket folder is private");
        // scp shares it too.
        let f = args(&shared.fetch_dir_command("/r", Path::new("/o")));
        assert!(f.iter().any(|x| x.starts_with("ControlPath=")));
        drop(shared);
        assert!(!dir.exists(), "the socket folder goes with the session");
    }

    /// Finding 10 of issue #12: a line is kept up to the bound, the rest of it dropped and
    /// counted, and the next line is read as usual.
    #[test]
    fn board_output_line_length_is_bounded() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\r\nnext\r\nlast");
        let mut reader = std::io::BufReader::with_capacity(64, &input[..]);
        let long = read_bounded_line(&mut reader, 100).unwrap();
        assert!(long.starts_with(&"x".repeat(100)), "{long}");
        assert!(
            long.ends_with("[… 9901 more bytes of this line dropped]"),
            "{long}"
        );
        assert_eq!(read_bounded_line(&mut reader, 100).unwrap(), "next");
        assert_eq!(read_bounded_line(&mut reader, 100).unwrap(), "last");
        assert_eq!(read_bounded_line(&mut reader, 100), None);
    }

    #[test]
    fn board_output_capture_is_bounded() {
        let mut b = Bounded::default();
        let line = "y".repeat(64 * 1024);
        for _ in 0..(MAX_CAPTURE / (64 * 1024) + 100) {
            b.push(&line);
        }
        let text = b.text();
        assert!(text.len() <= MAX_CAPTURE + 100, "{}", text.len());
        assert!(text.contains("bytes of output not kept"));
    }

    /// Finding 16 of issue #12: escape sequences, carriage returns, bells and bidi overrides
    /// are shown escaped, never acted on.
    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(sanitize("plain text: 12 µs"), "plain text: 12 µs");
        assert_eq!(sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("x\ry\u{7}"), "x\\u{d}y\\u{7}");
        assert_eq!(sanitize("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(sanitize("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(sanitize("a\tb"), "a b");
        assert!(
            !sanitize("\u{1b}]0;title\u{7}")
                .chars()
                .any(char::is_control)
        );
    }

    #[test]
    fn known_hosts_file_means_strict_checking_and_identity_is_exclusive() {
        let a = args(&ssh(Some("/k/known"), Some("/k/id")).command("true"));
        assert!(a.contains(&"StrictHostKeyChecking=yes".to_owned()));
        assert!(a.contains(&"UserKnownHostsFile=/k/known".to_owned()));
        assert!(!a.iter().any(|x| x.contains("accept-new")));
        let i = a.iter().position(|x| x == "-i").unwrap();
        assert_eq!(a[i + 1], "/k/id");
        assert!(a.contains(&"IdentitiesOnly=yes".to_owned()));
    }

    #[test]
    fn scp_brackets_ipv6_and_uses_capital_p() {
        let a = args(&ssh(None, None).fetch_dir_command("/var/lib/x/run 1", Path::new("/out")));
        assert!(a.contains(&"-O".to_owned()) && a.contains(&"-r".to_owned()));
        let p = a.iter().position(|x| x == "-P").unwrap();
        assert_eq!(a[p + 1], "2200");
        assert_eq!(a[a.len() - 2], "pi@[::1]:'/var/lib/x/run 1'");
        assert_eq!(a[a.len() - 1], "/out");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("30s"), "30s");
        assert_eq!(
            shell_quote("/var/lib/rros-validate"),
            "/var/lib/rros-validate"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn streaming_sees_both_streams_and_the_exit_code() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three; exit 3"]);
        let mut seen = Vec::new();
        let (status, timed_out) = run_streaming(cmd, Duration::from_secs(20), |s, l| {
            seen.push((s, l.to_owned()))
        })
        .unwrap();
        assert!(!timed_out);
        assert_eq!(status.unwrap().code(), Some(3));
        let out: Vec<_> = seen
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(out, ["one", "three"]);
        assert!(seen.contains(&(Stream::Stderr, "two".into())));
    }

    #[test]
    fn a_call_that_overruns_is_killed_in_bounded_time() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let start = Instant::now();
        let got = run_captured(cmd, Duration::from_millis(500)).unwrap();
        assert!(got.timed_out);
        assert_eq!(got.code, None);
        assert_eq!(got.stdout, "started\n");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
