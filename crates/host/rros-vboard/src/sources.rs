//! Which Debian mirror the image is built from: the host's own apt sources (read at run time,
//! never written into the project), or `--mirror URL`.

use std::path::Path;

/// The Debian release the virtual board is made of.
pub const SUITE: &str = "bookworm";

/// Debian release code names whose `<name>`, `<name>-updates` and `<name>-security` entries
/// point at a Debian archive (the same archive serves bookworm).
const DEBIAN_CODENAMES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
    "stable",
    "oldstable",
    "testing",
];

/// One `deb` entry: a URI and a suite (`bookworm`, `bookworm-updates`, `bookworm-security`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    pub uri: String,
    pub suite: String,
}

impl Source {
    /// The one-line form mmdebstrap takes: `deb URI SUITE main`.
    pub fn line(&self) -> String {
        format!("deb {} {} main", self.uri, self.suite)
    }
}

/// The sources for `--mirror URL`: the release and its updates from that archive. (Security
/// updates live in a separate archive on most mirrors; give the host's sources to get them.)
pub fn from_mirror(url: &str) -> Vec<Source> {
    let uri = url.trim_end_matches('/').to_owned();
    ["", "-updates"]
        .iter()
        .map(|suffix| Source {
            uri: uri.clone(),
            suite: format!("{SUITE}{suffix}"),
        })
        .collect()
}

/// Reads `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.{list,sources}` under `root`
/// and keeps the Debian archives: every enabled `deb` entry whose suite is a Debian release
/// (or its `-updates` / `-security`) with the `main` component, mapped onto bookworm.
pub fn from_host(root: &Path) -> std::io::Result<Vec<Source>> {
    let mut texts = Vec::new();
    let list = root.join("etc/apt/sources.list");
    if let Ok(text) = std::fs::read_to_string(&list) {
        texts.push((false, text));
    }
    let dir = root.join("etc/apt/sources.list.d");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            let deb822 = match path.extension().and_then(|e| e.to_str()) {
                Some("sources") => true,
                Some("list") => false,
                _ => continue, // apt ignores other names too
            };
            texts.push((deb822, std::fs::read_to_string(&path)?));
        }
    }
    let mut sources = Vec::new();
    for (deb822, text) in texts {
        let entries = if deb822 {
            parse_deb822(&text)
        } else {
            parse_one_line(&text)
        };
        for (uri, suite, components) in entries {
            if let Some(source) = debian_source(&uri, &suite, &components)
                && !sources.contains(&source)
            {
                sources.push(source);
            }
        }
    }
    // The release first, then its updates, then security, as apt would list them.
    sources.sort_by_key(|s| (suite_rank(&s.suite), s.uri.clone()));
    Ok(sources)
}

fn suite_rank(suite: &str) -> u8 {
    if suite.ends_with("-security") {
        2
    } else if suite.ends_with("-updates") {
        1
    } else {
        0
    }
}

/// Maps a host entry onto bookworm when it is a Debian archive with `main`.
fn debian_source(uri: &str, suite: &str, components: &[String]) -> Option<Source> {
    if !components.iter().any(|c| c == "main") {
        return None;
    }
    if !(uri.starts_with("http://") || uri.starts_with("https://") || uri.starts_with("file:")) {
        return None;
    }
    let (base, suffix) = match suite.split_once('-') {
        Some((base, suffix @ ("updates" | "security"))) => (base, Some(suffix)),
        Some(_) => return None,
        None => (suite, None),
    };
    // A `/` suite (flat repository) or another vendor's code name is not Debian.
    if !DEBIAN_CODENAMES.contains(&base) {
        return None;
    }
    Some(Source {
        uri: uri.trim_end_matches('/').to_owned(),
        suite: match suffix {
            Some(s) => format!("{SUITE}-{s}"),
            None => SUITE.to_owned(),
        },
    })
}

/// `deb [options] URI SUITE COMPONENT...` lines.
fn parse_one_line(text: &str) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split_once('#').map_or(line, |(a, _)| a).trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('[') {
            let Some((_, after)) = after.split_once(']') else {
                continue;
            };
            rest = after.trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push((
            uri.to_owned(),
            suite.to_owned(),
            words.map(str::to_owned).collect(),
        ));
    }
    out
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`, `Enabled:`).
fn parse_deb822(text: &str) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n").flat_map(|s| s.split("\r\n\r\n")) {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = fields.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                fields.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        if !get("types").split_whitespace().any(|t| t == "deb") {
            continue;
        }
        if get("enabled").eq_ignore_ascii_case("no") {
            continue;
        }
        let components: Vec<String> = get("components")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for uri in get("uris").split_whitespace() {
            for suite in get("suites").split_whitespace() {
                out.push((uri.to_owned(), suite.to_owned(), components.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn lines(sources: &[Source]) -> Vec<String> {
        sources.iter().map(Source::line).collect()
    }

    #[test]
    fn reads_deb822_and_one_line_files_and_keeps_debian() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "etc/apt/sources.list.d/debian.sources",
            "Types: deb deb-src\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n",
        );
        write(
            root.path(),
            "etc/apt/sources.list.d/vendor.list",
            "deb [arch=amd64 signed-by=/k.gpg] https://vendor.example/apt cloud-sdk-bookworm main\ndeb https://vendor.example/apt bookworm-backports main\n",
        );
        write(
            root.path(),
            "etc/apt/sources.list.d/old.list.disabled",
            "deb http://ignored.example/debian bookworm main\n",
        );
        write(
            root.path(),
            "etc/apt/sources.list",
            "# deb http://commented.example/debian bookworm main\ndeb-src http://src.example/debian bookworm main\ndeb http://mirror.example/debian bookworm main  # again\ndeb http://contrib-only.example/debian bookworm contrib\n",
        );
        let got = from_host(root.path()).unwrap();
        assert_eq!(
            lines(&got),
            [
                "deb http://mirror.example/debian bookworm main",
                "deb http://mirror.example/debian bookworm-updates main",
                "deb http://mirror.example/debian-security bookworm-security main",
            ]
        );
    }

    #[test]
    fn a_newer_host_release_maps_onto_bookworm() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "etc/apt/sources.list",
            "deb http://m.example/debian trixie main\ndeb http://m.example/debian-security trixie-security main\n",
        );
        assert_eq!(
            lines(&from_host(root.path()).unwrap()),
            [
                "deb http://m.example/debian bookworm main",
                "deb http://m.example/debian-security bookworm-security main",
            ]
        );
    }

    #[test]
    fn nothing_usable_is_empty() {
        let root = tempfile::tempdir().unwrap();
        assert!(from_host(root.path()).unwrap().is_empty());
        write(
            root.path(),
            "etc/apt/sources.list",
            "deb http://archive.example/ubuntu noble main\n",
        );
        assert!(from_host(root.path()).unwrap().is_empty());
    }

    #[test]
    fn mirror_option() {
        assert_eq!(
            lines(&from_mirror("http://m.example/debian/")),
            [
                "deb http://m.example/debian bookworm main",
                "deb http://m.example/debian bookworm-updates main",
            ]
        );
    }
}
