//! Where a board is: `[user@]host[:port]`, and how to log in to it ([`Endpoint`]).

use std::fmt;
use std::path::PathBuf;

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
}
