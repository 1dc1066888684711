//! The `--targets` file of a fleet: one board per line, with its name and keys.
//!
//! Where a board is ([`Target`]) and how to log in ([`Endpoint`]) live in `rros-remote`.

pub use rros_remote::target::{
    DEFAULT_PORT, DEFAULT_USER, Endpoint, Target, TargetError, sanitize,
};
use std::path::{Path, PathBuf};

/// Whether `name` may name a board: its folder under the output folder and its test suite.
/// Letters, digits, `.`, `_` and `-`, not empty and not starting with `.` (never `..`, never
/// hidden). The one rule of `--name`, `name=` in a targets file, and the acceptance plan.
pub fn is_board_name(name: &str) -> bool {
    !name.is_empty() && sanitize(name) == name && !name.starts_with('.')
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
                    if !is_board_name(value) {
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

    /// Finding 14 of issue #12: a user or host that ssh would take for an option is refused
    /// in a fleet file too, naming the line.
    #[test]
    fn board_names_are_plain_folder_names() {
        for good in ["rpi4-a", "127.0.0.1_2222", "imx8mp.lab", "a..b"] {
            assert!(is_board_name(good), "{good}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "é", "x\n"] {
            assert!(!is_board_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_leading_dash_in_a_targets_file_is_refused() {
        let err = parse_targets(
            "good@host\n-oProxyCommand=x@y name=evil\n",
            Path::new("."),
            None,
        )
        .unwrap_err();
        assert_eq!(err.0, 2);
        assert!(err.1.contains("starts with '-'"), "{}", err.1);
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
