//! The system `ssh` and `scp`, non-interactive, with bounded time and bounded memory.
//!
//! Every call runs with `BatchMode=yes` (no password or passphrase prompt can hang a run),
//! a connect timeout that also bounds the SSH banner exchange, keep-alives that notice a
//! dead link, no agent or port forwarding, and `--` before the destination. A board session
//! ([`Ssh::multiplexed`]) shares one SSH connection between all its calls (OpenSSH
//! `ControlMaster`, socket in a private temporary folder): on a slow or loaded board only the
//! first call pays the handshake. Processes are always reaped: a call that overruns its time is
//! killed ([`crate::process`]).

use crate::process::{Captured, run_captured};
use crate::target::Endpoint;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Seconds between keep-alives, and how many may go unanswered before ssh gives up (exit 255).
const ALIVE_INTERVAL_S: u32 = 5;
const ALIVE_COUNT_MAX: u32 = 6;
/// How long the shared connection outlives its last call (it is closed explicitly at the end
/// of a session; this only bounds a master left behind by a killed `rros`).
const CONTROL_PERSIST_S: u32 = 60;

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

/// What ssh's complaint on stderr (exit 255) means, read once: whether it may pass on a retry
/// and what to tell the operator. The one place that reads ssh's message text; callers decide
/// on the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complaint {
    /// Nothing listens at that address and port.
    Refused,
    /// The board refused the key.
    PermissionDenied,
    /// The board's host key is not the one known.
    HostKey,
    /// The host name does not resolve.
    Unresolved,
    /// ssh's own setup is wrong (a missing key file, a bad option): no retry helps.
    Local,
    /// No answer within the connect timeout (TCP or the banner).
    TimedOut,
    /// A banner, key exchange or multiplexing hiccup, a reset or closed connection: a slow or
    /// busy board.
    Transient,
    /// Nothing ssh is known to say.
    Unknown,
}

impl Complaint {
    /// Reads ssh's stderr. What rules out a retry wins over what suggests one.
    pub fn of(stderr: &str) -> Complaint {
        let s = stderr.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
        if any(&["connection refused"]) {
            Complaint::Refused
        } else if any(&["permission denied"]) {
            Complaint::PermissionDenied
        } else if any(&["host key verification failed", "identification has changed"]) {
            Complaint::HostKey
        } else if any(&["could not resolve"]) {
            Complaint::Unresolved
        } else if any(&["no such file", "bad configuration"]) {
            Complaint::Local
        } else if any(&["timed out"]) {
            Complaint::TimedOut
        } else if any(&[
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
        ]) {
            Complaint::Transient
        } else {
            Complaint::Unknown
        }
    }

    /// Whether a call that failed this way before its remote command started may pass when
    /// tried again (a slow or busy board), unlike a refused connection or key, a changed host
    /// key or an unknown host name.
    pub fn may_pass_on_retry(self) -> bool {
        matches!(self, Complaint::TimedOut | Complaint::Transient)
    }

    /// A hint appended to the message (empty when there is nothing to add).
    pub fn hint(self) -> &'static str {
        match self {
            Complaint::Refused => {
                " (nothing listens there: is the board up, sshd running, the port right?)"
            }
            Complaint::TimedOut => " (no answer: wrong address, board off, or a firewall)",
            Complaint::PermissionDenied => {
                " (the board refused the key: pass --identity KEY, or add your public key to the board's authorized_keys)"
            }
            Complaint::HostKey => {
                " (the board's host key is not the one known: if it was reflashed, remove the old key with `ssh-keygen -R HOST`)"
            }
            Complaint::Unresolved => " (the host name does not resolve)",
            Complaint::Local | Complaint::Transient | Complaint::Unknown => "",
        }
    }
}

/// The bound on a call that logs in and runs a short command: ssh's own `ConnectTimeout`
/// bounds the TCP connect and the banner exchange (each), this bounds the key exchange and the
/// login after the banner too.
pub fn login_bound(connect_timeout: Duration) -> Duration {
    connect_timeout
        .saturating_mul(2)
        .max(Duration::from_secs(2))
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
    fn complaints_that_may_pass_are_told_from_those_that_will_not() {
        for transient in [
            "Connection timed out during banner exchange",
            "kex_exchange_identification: read: Connection reset by peer",
            "ssh: connect to host 10.0.0.2 port 22: Connection timed out",
            "Connection closed by 127.0.0.1 port 2222",
            "mux_client_request_session: read from master failed: Broken pipe",
        ] {
            assert!(Complaint::of(transient).may_pass_on_retry(), "{transient}");
        }
        for (permanent, complaint) in [
            (
                "ssh: connect to host 127.0.0.1 port 1: Connection refused",
                Complaint::Refused,
            ),
            (
                "root@b: Permission denied (publickey).",
                Complaint::PermissionDenied,
            ),
            ("Host key verification failed.", Complaint::HostKey),
            (
                "ssh: Could not resolve hostname nowhere: Name or service not known",
                Complaint::Unresolved,
            ),
            (
                "Warning: Identity file /k/id not accessible: No such file or directory.",
                Complaint::Local,
            ),
            ("", Complaint::Unknown),
            ("weird", Complaint::Unknown),
        ] {
            assert_eq!(Complaint::of(permanent), complaint, "{permanent}");
            assert!(!complaint.may_pass_on_retry(), "{permanent}");
        }
        // A refusal on one line outweighs a timeout on another: no retry.
        assert_eq!(
            Complaint::of("Connection timed out\nConnection refused"),
            Complaint::Refused
        );
    }

    #[test]
    fn hints_name_the_fix() {
        assert!(Complaint::Refused.hint().contains("nothing listens"));
        assert!(Complaint::PermissionDenied.hint().contains("--identity"));
        assert!(Complaint::HostKey.hint().contains("ssh-keygen -R"));
        assert!(Complaint::TimedOut.hint().contains("no answer"));
        assert_eq!(Complaint::Transient.hint(), "");
        assert_eq!(login_bound(Duration::from_secs(3)), Duration::from_secs(6));
        assert_eq!(login_bound(Duration::ZERO), Duration::from_secs(2));
    }
}
