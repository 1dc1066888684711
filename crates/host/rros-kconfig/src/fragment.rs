//! Kernel config fragments: the `.cfg` files merged over a defconfig.

use crate::read::{MAX_FRAGMENT_BYTES, ReadError, read_regular};
use std::fmt;
use std::path::{Path, PathBuf};

/// The value a fragment line gives a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Yes,
    Module,
    /// `CONFIG_X=n` or `# CONFIG_X is not set`.
    No,
    /// `CONFIG_X="text"` (unescaped).
    Str(String),
    /// `CONFIG_X=250`, `CONFIG_X=-1`, `CONFIG_X=0x1000` (as written).
    Number(String),
}

impl Value {
    /// Whether the line turns the symbol on (anything but `n`).
    pub fn is_set(&self) -> bool {
        *self != Value::No
    }

    /// The value as Kconfig compares it in expressions (`y`, `m`, `n`, the text, the number).
    pub fn raw(&self) -> String {
        match self {
            Value::Yes => "y".into(),
            Value::Module => "m".into(),
            Value::No => "n".into(),
            Value::Str(text) => text.clone(),
            Value::Number(text) => text.clone(),
        }
    }
}

/// One assignment line of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The symbol without its `CONFIG_` prefix, case preserved (`Rros`).
    pub symbol: String,
    pub value: Value,
    /// 1-based line number.
    pub line: usize,
}

impl Assignment {
    /// The line as a fragment would spell it.
    pub fn spelled(&self) -> String {
        match &self.value {
            Value::No => format!("# CONFIG_{} is not set", self.symbol),
            Value::Str(text) => format!(
                "CONFIG_{}=\"{}\"",
                self.symbol,
                text.replace('\\', "\\\\").replace('"', "\\\"")
            ),
            other => format!("CONFIG_{}={}", self.symbol, other.raw()),
        }
    }
}

/// A line that is neither an assignment, a `not set` line, a comment nor blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentIssue {
    pub line: usize,
    pub text: String,
    pub message: String,
}

/// A parsed fragment file. Malformed lines do not stop parsing: they are collected in
/// `issues`, so one run reports every problem of every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub path: PathBuf,
    pub assignments: Vec<Assignment>,
    pub issues: Vec<FragmentIssue>,
}

#[derive(Debug, thiserror::Error)]
pub enum FragmentError {
    #[error("cannot read config fragment {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "config fragment {path} is {kind}, not a regular file: save the fragment to a file \
         and pass that file"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "config fragment {path} is larger than {limit} bytes: a fragment holds CONFIG_ lines \
         (a whole .config is under 1 MiB); check that the path names a fragment"
    )]
    TooLarge { path: PathBuf, limit: u64 },
}

impl Fragment {
    /// Read and parse a fragment file: a regular file of at most
    /// [`MAX_FRAGMENT_BYTES`](crate::MAX_FRAGMENT_BYTES).
    pub fn load(path: &Path) -> Result<Self, FragmentError> {
        let path_buf = path.to_path_buf();
        let bytes = read_regular(path, MAX_FRAGMENT_BYTES).map_err(|err| match err {
            ReadError::Io(source) => FragmentError::Read {
                path: path_buf,
                source,
            },
            ReadError::NotRegular(kind) => FragmentError::NotRegular {
                path: path_buf,
                kind,
            },
            ReadError::TooLarge(limit) => FragmentError::TooLarge {
                path: path_buf,
                limit,
            },
        })?;
        Ok(Self::parse(path, &String::from_utf8_lossy(&bytes)))
    }

    /// Parse fragment text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Self {
        let mut fragment = Fragment {
            path: path.to_path_buf(),
            assignments: Vec::new(),
            issues: Vec::new(),
        };
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                if let Some(symbol) = not_set_symbol(comment.trim()) {
                    fragment.assignments.push(Assignment {
                        symbol,
                        value: Value::No,
                        line,
                    });
                }
                continue;
            }
            match parse_assignment(trimmed) {
                Ok((symbol, value)) => fragment.assignments.push(Assignment {
                    symbol,
                    value,
                    line,
                }),
                Err(message) => fragment.issues.push(FragmentIssue {
                    line,
                    text: trimmed.to_string(),
                    message,
                }),
            }
        }
        fragment
    }
}

fn is_symbol_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `CONFIG_X is not set` (the text after `#`), else None: other comments are just comments.
fn not_set_symbol(comment: &str) -> Option<String> {
    let rest = comment.strip_prefix("CONFIG_")?;
    let name = rest.strip_suffix("is not set")?.trim_end();
    is_symbol_name(name).then(|| name.to_string())
}

fn parse_assignment(line: &str) -> Result<(String, Value), String> {
    let Some(rest) = line.strip_prefix("CONFIG_") else {
        return Err("expected `CONFIG_NAME=value` or `# CONFIG_NAME is not set`".into());
    };
    let Some((name, value)) = rest.split_once('=') else {
        return Err("missing `=value` (write `# CONFIG_NAME is not set` to disable)".into());
    };
    if !is_symbol_name(name) {
        return Err(format!(
            "`{name}` is not a symbol name (letters, digits and `_` only)"
        ));
    }
    let value = value.trim();
    let parsed = match value {
        "y" => Value::Yes,
        "m" => Value::Module,
        "n" => Value::No,
        quoted if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') => {
            Value::Str(unescape(&quoted[1..quoted.len() - 1])?)
        }
        number if is_number(number) => Value::Number(number.to_string()),
        other => {
            return Err(format!(
                "value `{other}` is not y, m, n, a \"quoted string\" or a number"
            ));
        }
    };
    Ok((name.to_string(), parsed))
}

fn unescape(body: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => return Err("string ends with a lone backslash".into()),
            },
            '"' => return Err("unescaped `\"` inside the string (write `\\\"`)".into()),
            other => out.push(other),
        }
    }
    Ok(out)
}

fn is_number(text: &str) -> bool {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

impl fmt::Display for FragmentIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.text, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Fragment {
        Fragment::parse(Path::new("test.cfg"), text)
    }

    #[test]
    fn every_value_form() {
        let fragment = parse(
            "# a comment\n\
             CONFIG_A=y\n\
             CONFIG_B=m\n\
             CONFIG_C=n\n\
             # CONFIG_D is not set\n\
             CONFIG_E=\"console=ttyAMA0 \\\"x\\\"\"\n\
             CONFIG_F=250\n\
             CONFIG_G=-1\n\
             CONFIG_H=0x1F\n\
             \n\
             CONFIG_Rros=y\n",
        );
        assert!(fragment.issues.is_empty(), "{:?}", fragment.issues);
        let got: Vec<(&str, &Value, usize)> = fragment
            .assignments
            .iter()
            .map(|a| (a.symbol.as_str(), &a.value, a.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", &Value::Yes, 2),
                ("B", &Value::Module, 3),
                ("C", &Value::No, 4),
                ("D", &Value::No, 5),
                ("E", &Value::Str("console=ttyAMA0 \"x\"".into()), 6),
                ("F", &Value::Number("250".into()), 7),
                ("G", &Value::Number("-1".into()), 8),
                ("H", &Value::Number("0x1F".into()), 9),
                ("Rros", &Value::Yes, 11),
            ]
        );
        assert_eq!(
            fragment.assignments[4].spelled(),
            r#"CONFIG_E="console=ttyAMA0 \"x\"""#
        );
        assert_eq!(fragment.assignments[3].spelled(), "# CONFIG_D is not set");
    }

    #[test]
    fn malformed_lines_are_collected_not_fatal() {
        let fragment = parse("CONFIG_A=yes\nRUST=y\nCONFIG_B\nCONFIG_C=y\nCONFIG_D=\"open\n");
        let lines: Vec<usize> = fragment.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 5]);
        assert!(fragment.issues[0].message.contains("`yes`"));
        assert_eq!(fragment.assignments.len(), 1);
        assert_eq!(fragment.assignments[0].symbol, "C");
    }

    #[test]
    fn comments_that_merely_mention_config_are_comments() {
        let fragment = parse("# CONFIG_A must stay on for the Pi\n# CONFIG_B is not set, see x\n");
        assert!(fragment.assignments.is_empty());
        assert!(fragment.issues.is_empty());
    }

    #[test]
    fn load_reports_the_path_of_a_missing_file() {
        let err = Fragment::load(Path::new("/nonexistent/dir/x.cfg")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/x.cfg"), "{err}");
    }
}
