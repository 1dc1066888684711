//! Where a board is: `[user@]host[:port]`, and the `--targets` file of a fleet.

use std::fmt;
use std::path::{Path, PathBuf};

/// The user `rros accept` logs in as when a target names none: `rros-validate` needs root
/// (real-time priorities, `/var/lib/rros-validate`).
pub const DEFAULT_USER: &str = "root";
pub const DEFAULT_PORT: u16 = 22;

/// An SSH endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    /// Host name or address; an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("empty target: expected [user@]host[:port]")]
    Empty,
    #[error("target \"{0}\" has an empty user before '@': expected [user@]host[:port]")]
    EmptyUser(String),
    #[error("target \"{0}\" has no host: expected [user@]host[:port]")]
    EmptyHost(String),
    #[error("target \"{0}\": port \"{1}\" is not a number from 1 to 65535")]
    BadPort(String, String),
    #[error("target \"{0}\": unclosed '[' (an IPv6 address with a port is written [addr]:port)")]
    Bracket(String),
    #[error(
        "target \"{0}\" contains whitespace or a character ssh would misread ('/', '\\'', '\"')"
    )]
    BadChar(String),
    #[error(
        "target \"{0}\": the {1} \"{2}\" starts with '-', which ssh would read as an option: use the board's real user and host name"
    )]
    LeadingDash(String, &'static str, String),
}

impl Target {
    /// Parses `[user@]host[:port]`. IPv6: `[::1]:2222`, `root@[fe80::1]`, or a bare address
    /// without a port (`::1`).
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TargetError::Empty);
        }
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\'' | '"' | '\\'))
        {
            return Err(TargetError::BadChar(text.to_owned()));
        }
        let (user, rest) = match text.rsplit_once('@') {
            Some(("", _)) => return Err(TargetError::EmptyUser(text.to_owned())),
            Some((user, rest)) => (user.to_owned(), rest),
            None => (DEFAULT_USER.to_owned(), text),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| TargetError::Bracket(text.to_owned()))?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| TargetError::Bracket(text.to_owned()))?,
                ),
            };
            (host, port)
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 address: no port can be told apart from it.
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(TargetError::EmptyHost(text.to_owned()));
        }
        // Never an ssh option (`-oProxyCommand=…`), whatever ssh's own checks would catch.
        for (what, value) in [("user", user.as_str()), ("host", host)] {
            if value.starts_with('-') {
                return Err(TargetError::LeadingDash(
                    text.to_owned(),
                    what,
                    value.to_owned(),
                ));
            }
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| TargetError::BadPort(text.to_owned(), p.to_owned()))?,
        };
        Ok(Target {
            user,
            host: host.to_owned(),
            port,
        })
    }

    /// The host as scp wants it before `:path` (IPv6 in brackets).
    pub fn scp_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// A name usable as a folder: the host, plus `_<port>` when the port is not 22; characters
    /// other than letters, digits, `.`, `_` and `-` become `_`.
    pub fn default_name(&self) -> String {
        let mut name = sanitize(&self.host);
        if self.port != DEFAULT_PORT {
            name.push('_');
            name.push_str(&self.port.to_string());
        }
        name
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.scp_host())?;
        if self.port != DEFAULT_PORT {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// Replaces what may not appear in a folder name.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One board to accept: where it is, what to call it, and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Names the board's folder under `--out` and its test suite: unique within a run.
    pub name: String,
    pub target: Target,
    /// Private key (`ssh -i`); `None` leaves the choice to ssh (agent, `~/.ssh/config`).
    pub identity: Option<PathBuf>,
    /// Known-hosts file checked strictly; `None`: the user's own, new keys accepted on first
    /// contact (`StrictHostKeyChecking=accept-new`), changed keys refused.
    pub known_hosts: Option<PathBuf>,
}

impl Endpoint {
    pub fn new(target: Target) -> Self {
        Endpoint {
            name: target.default_name(),
            target,
            identity: None,
            known_hosts: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetsFileError {
    #[error("cannot read targets file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path} names no target: write one `[user@]host[:port]` per line")]
    NoTargets { path: PathBuf },
}

/// Reads a `--targets` file (format in `docs/acceptance.md`):
///
/// ```text
/// # comment
/// root@rpi4-a.lab                      name=rpi4-a identity=~/.ssh/lab_ed25519
/// 192.0.2.7:2222                       known_hosts=lab_known_hosts
/// ```
///
/// One target per line, then optional `key=value` fields: `name`, `identity`, `known_hosts`.
/// Relative paths are relative to the file's folder; `~/` is the home folder. `default_identity`
/// (the command line's `--identity`) applies where a line gives none.
pub fn parse_targets_file(
    path: &Path,
    default_identity: Option<&Path>,
) -> Result<Vec<Endpoint>, TargetsFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TargetsFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let endpoints = parse_targets(&text, base, default_identity).map_err(|(line, message)| {
        TargetsFileError::Line {
            path: path.to_owned(),
            line,
            message,
        }
    })?;
    if endpoints.is_empty() {
        return Err(TargetsFileError::NoTargets {
            path: path.to_owned(),
        });
    }
    Ok(endpoints)
}

/// The text of a targets file; errors carry the 1-based line number.
pub fn parse_targets(
    text: &str,
    base: &Path,
    default_identity: Option<&Path>,
) -> Result<Vec<Endpoint>, (usize, String)> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        let target = Target::parse(first).map_err(|e| (line_no, e.to_string()))?;
        let mut endpoint = Endpoint::new(target);
        endpoint.identity = default_identity.map(Path::to_owned);
        for word in words {
            let (key, value) = word.split_once('=').ok_or_else(|| {
                (
                    line_no,
                    format!("\"{word}\" is not key=value (keys: name, identity, known_hosts)"),
                )
            })?;
            if value.is_empty() {
                return Err((line_no, format!("{key}= has no value")));
            }
            match key {
                "name" => {
                    if sanitize(value) != value || value.starts_with('.') {
                        return Err((
                            line_no,
                            format!(
                                "name \"{value}\" must be letters, digits, '.', '_', '-' and not start with '.'"
                            ),
                        ));
                    }
                    endpoint.name = value.to_owned();
                }
                "identity" => endpoint.identity = Some(resolve_path(value, base)),
                "known_hosts" => endpoint.known_hosts = Some(resolve_path(value, base)),
                _ => {
                    return Err((
                        line_no,
                        format!("unknown key \"{key}\" (keys: name, identity, known_hosts)"),
                    ));
                }
            }
        }
        if let Some(other) = endpoints.iter().find(|e| e.name == endpoint.name) {
            return Err((
                line_no,
                format!(
                    "board name \"{}\" is used twice ({} and {}); give one of them name=…",
                    endpoint.name, other.target, endpoint.target
                ),
            ));
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

fn resolve_path(value: &str, base: &Path) -> PathBuf {
    if let Some(rest) = value.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(value);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(user: &str, host: &str, port: u16) -> Target {
        Target {
            user: user.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn parses_the_target_forms() {
        assert_eq!(Target::parse("board").unwrap(), t("root", "board", 22));
        assert_eq!(Target::parse("pi@board").unwrap(), t("pi", "board", 22));
        assert_eq!(
            Target::parse("pi@10.0.0.2:2222").unwrap(),
            t("pi", "10.0.0.2", 2222)
        );
        assert_eq!(
            Target::parse("127.0.0.1:40022").unwrap(),
            t("root", "127.0.0.1", 40022)
        );
        assert_eq!(Target::parse("[::1]:2222").unwrap(), t("root", "::1", 2222));
        assert_eq!(
            Target::parse("me@[fe80::1]").unwrap(),
            t("me", "fe80::1", 22)
        );
        assert_eq!(Target::parse("::1").unwrap(), t("root", "::1", 22));
        assert_eq!(
            Target::parse(" a@b.c ").unwrap(),
            t("a", "b.c", 22),
            "surrounding blanks are ignored"
        );
    }

    #[test]
    fn rejects_broken_targets_with_the_reason() {
        assert_eq!(Target::parse(""), Err(TargetError::Empty));
        assert!(matches!(
            Target::parse("@host"),
            Err(TargetError::EmptyUser(_))
        ));
        assert!(matches!(
            Target::parse("root@"),
            Err(TargetError::EmptyHost(_))
        ));
        assert!(matches!(
            Target::parse(":22"),
            Err(TargetError::EmptyHost(_))
        ));
        for bad in ["h:0", "h:65536", "h:x", "h:"] {
            assert!(
                matches!(Target::parse(bad), Err(TargetError::BadPort(..))),
                "{bad}"
            );
        }
        assert!(matches!(
            Target::parse("[::1:22"),
            Err(TargetError::Bracket(_))
        ));
        assert!(matches!(
            Target::parse("[::1]22"),
            Err(TargetError::Bracket(_))
        ));
        assert!(matches!(Target::parse("a b"), Err(TargetError::BadChar(_))));
        assert!(matches!(Target::parse("h/x"), Err(TargetError::BadChar(_))));
    }

    /// Finding 14 of issue #12: a user or host that ssh would take for an option is refused,
    /// on the command line and in a fleet file.
    #[test]
    fn users_and_hosts_starting_with_a_dash_are_refused() {
        for bad in [
            "-oProxyCommand=touch@x",
            "-oProxyCommand=id@host",
            "root@-oProxyCommand=id",
            "-p@host",
            "root@[-x]:22",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(
                matches!(e, TargetError::LeadingDash(..) | TargetError::BadChar(_)),
                "{bad}: {e:?}"
            );
            assert!(
                e.to_string().contains("starts with '-'") || e.to_string().contains("misread"),
                "{e}"
            );
        }
        let err = parse_targets(
            "good@host\n-oProxyCommand=x@y name=evil\n",
            Path::new("."),
            None,
        )
        .unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("starts with '-'"), "{}", err.1);
        assert!(
            Target::parse("root@host-1").is_ok(),
            "a dash inside is fine"
        );
    }

    #[test]
    fn displays_and_names_targets() {
        assert_eq!(t("root", "b", 22).to_string(), "root@b");
        assert_eq!(t("root", "b", 2222).to_string(), "root@b:2222");
        assert_eq!(t("root", "::1", 2222).to_string(), "root@[::1]:2222");
        assert_eq!(t("root", "::1", 22).scp_host(), "[::1]");
        assert_eq!(t("root", "rpi4.lab", 22).default_name(), "rpi4.lab");
        assert_eq!(
            t("root", "127.0.0.1", 2222).default_name(),
            "127.0.0.1_2222"
        );
        assert_eq!(t("root", "fe80::1", 22).default_name(), "fe80__1");
    }

    #[test]
    fn targets_file_lines_comments_and_keys() {
        let text = "\
# lab boards
root@rpi4-a name=rpi4-a identity=keys/lab   # trailing comment

  imx@192.0.2.7:2222 known_hosts=/etc/lab_known_hosts
nuc
";
        let base = Path::new("/lab");
        let got = parse_targets(text, base, Some(Path::new("/default/key"))).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].name, "rpi4-a");
        assert_eq!(got[0].identity.as_deref(), Some(Path::new("/lab/keys/lab")));
        assert_eq!(got[1].name, "192.0.2.7_2222");
        assert_eq!(got[1].target, t("imx", "192.0.2.7", 2222));
        assert_eq!(
            got[1].identity.as_deref(),
            Some(Path::new("/default/key")),
            "--identity applies where a line gives none"
        );
        assert_eq!(
            got[1].known_hosts.as_deref(),
            Some(Path::new("/etc/lab_known_hosts"))
        );
        assert_eq!(got[2].target, t("root", "nuc", 22));
    }

    #[test]
    fn targets_file_errors_name_the_line() {
        let base = Path::new(".");
        assert_eq!(parse_targets("a\nb:x\n", base, None).unwrap_err().0, 2);
        let (line, msg) = parse_targets("a\n\n# c\na\n", base, None).unwrap_err();
        assert_eq!(line, 4);
        assert!(msg.contains("used twice"), "{msg}");
        let (_, msg) = parse_targets("a colour=red\n", base, None).unwrap_err();
        assert!(msg.contains("unknown key \"colour\""), "{msg}");
        let (_, msg) = parse_targets("a name\n", base, None).unwrap_err();
        assert!(msg.contains("not key=value"), "{msg}");
        let (_, msg) = parse_targets("a name=../x\n", base, None).unwrap_err();
        assert!(msg.contains("must be letters"), "{msg}");
        assert!(parse_targets("# nothing\n", base, None).unwrap().is_empty());
    }
}
