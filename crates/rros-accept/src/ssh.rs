//! The system `ssh` and `scp`, non-interactive, with bounded time.
//!
//! Every call runs with `BatchMode=yes` (no password or passphrase prompt can hang a run),
//! a connect timeout that also bounds the SSH banner exchange, and keep-alives that notice a
//! dead link. Processes are always reaped: a call that overruns its time is killed.

use crate::target::Endpoint;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Seconds between keep-alives, and how many may go unanswered before ssh gives up (exit 255).
const ALIVE_INTERVAL_S: u32 = 5;
const ALIVE_COUNT_MAX: u32 = 6;

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
        last_line(&self.stderr)
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
        }
    }

    /// Options shared by ssh and scp.
    fn options(&self) -> Vec<String> {
        let secs = self.connect_timeout.as_secs().max(1);
        let mut opts: Vec<String> = [
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={secs}"),
            format!("ServerAliveInterval={ALIVE_INTERVAL_S}"),
            format!("ServerAliveCountMax={ALIVE_COUNT_MAX}"),
            "LogLevel=ERROR".to_owned(),
            "PasswordAuthentication=no".to_owned(),
            "KbdInteractiveAuthentication=no".to_owned(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_owned(), o])
        .collect();
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
            .arg(format!("{}@{}", target.user, target.host))
            .arg("--")
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

/// Spawns `cmd` and collects stdout and stderr; kills it after `timeout`.
pub fn run_captured(cmd: Command, timeout: Duration) -> std::io::Result<Captured> {
    let mut stdout = String::new();
    let mut stderr = String::new();
    let (status, timed_out) = run_streaming(cmd, timeout, |stream, line| {
        let buf = match stream {
            Stream::Stdout => &mut stdout,
            Stream::Stderr => &mut stderr,
        };
        buf.push_str(line);
        buf.push('\n');
    })?;
    Ok(Captured {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout,
        stderr,
    })
}

/// Spawns `cmd`, hands every line of its stdout and stderr to `on_line` as it arrives, and
/// kills it after `timeout`. Returns the exit status (`None` when killed) and whether the
/// timeout struck.
pub fn run_streaming(
    mut cmd: Command,
    timeout: Duration,
    mut on_line: impl FnMut(Stream, &str),
) -> std::io::Result<(Option<ExitStatus>, bool)> {
    let deadline = Instant::now() + timeout;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (tx, rx) = mpsc::channel::<(Stream, String)>();
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
    tx: mpsc::Sender<(Stream, String)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']);
                    if tx.send((stream, line.to_owned())).is_err() {
                        break;
                    }
                }
            }
        }
    })
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
            ["-p", "2200", "pi@::1", "--", "uname -r"]
        );
        assert!(!a.contains(&"-i".to_owned()));
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
