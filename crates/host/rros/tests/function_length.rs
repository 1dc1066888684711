//! The crates issue #15 reshaped stay made of small functions ("the longest function in the
//! service is under 80 lines"; a plan built and checked, then executed in named steps, instead
//! of 200-line hubs): every `fn` under their `src/`, from its signature to its closing brace,
//! is measured; strings, characters and comments are blanked first so that their braces do
//! not count. One measure for every crate, kept here beside the other repository-wide checks
//! (architecture.rs).

use std::path::{Path, PathBuf};

const LIMIT: usize = 80;

/// Source text with comments, strings and character literals replaced by blanks (lines kept).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        let at = |k: usize| c.get(k).copied();
        if c[i] == '/' && at(i + 1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == Some('*') {
            i += 2;
            while i < c.len() && !(c[i] == '*' && at(i + 1) == Some('/')) {
                blank(&mut out, c[i]);
                i += 1;
            }
            i += 2;
        } else if c[i] == 'r' && matches!(at(i + 1), Some('"' | '#')) && !ident_before(&c, i) {
            let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
            let close: String = std::iter::once('"')
                .chain("#".repeat(hashes).chars())
                .collect();
            i += 2 + hashes;
            while i < c.len() && !c[i..].iter().collect::<String>().starts_with(&close) {
                blank(&mut out, c[i]);
                i += 1;
            }
            i += close.len();
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                let skip = if c[i] == '\\' { 2 } else { 1 };
                for k in 0..skip {
                    if let Some(&ch) = c.get(i + k) {
                        blank(&mut out, ch);
                    }
                }
                i += skip;
            }
            i += 1;
        } else if c[i] == '\'' && (at(i + 2) == Some('\'') || at(i + 1) == Some('\\')) {
            // A character literal ('{', '\'', '\n', '\u{..}'); a lifetime has no closing quote.
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

/// `(lines, "file:line name")` of every function with a body in `text`.
fn functions(file: &Path, text: &str) -> Vec<(usize, String)> {
    let code = code_only(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(pos) = line.find("fn ") else {
            continue;
        };
        if pos > 0 && !line[..pos].ends_with(' ') {
            continue;
        }
        let name: String = line[pos + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        let mut depth = 0i32;
        let mut opened = false;
        'scan: for (end, l) in lines.iter().enumerate().skip(start) {
            for ch in l.chars() {
                match ch {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    ';' if !opened => break 'scan,
                    _ => {}
                }
                if opened && depth == 0 {
                    let at = format!("{}:{} {name}", file.display(), start + 1);
                    out.push((end - start + 1, at));
                    break 'scan;
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crates issue #15 reshaped into plans and named steps, and the least number of
/// functions a scan of each must find (a scan that finds nothing proves nothing).
const MEASURED: &[(&str, usize)] = &[
    ("crates/on-target/rros-validate/src", 100),
    ("crates/on-target/cyclictest-rs/src", 100),
    ("crates/on-target/rros-board/src", 50),
    ("crates/host/rros-accept/src", 50),
];

#[test]
fn no_function_of_the_reshaped_crates_reaches_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let mut long = Vec::new();
    for (dir, least) in MEASURED {
        let src = root.join(dir);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut all: Vec<(usize, String)> = files
            .iter()
            .flat_map(|f| {
                let name = Path::new(dir).join(f.strip_prefix(&src).unwrap());
                functions(&name, &std::fs::read_to_string(f).unwrap())
            })
            .collect();
        all.sort_by_key(|f| std::cmp::Reverse(f.0));
        assert!(
            all.len() >= *least,
            "the scan of {dir} found only {} functions",
            all.len()
        );
        // `cargo test -p rros --test function_length -- --nocapture` shows the longest ones.
        eprintln!("{dir}: longest {:?}", &all[..all.len().min(5)]);
        long.extend(all.into_iter().filter(|f| f.0 >= LIMIT));
    }
    assert!(
        long.is_empty(),
        "functions of {LIMIT} lines or more (split them into named steps): {long:?}"
    );
}

/// The measure itself: a function's lines are counted from `fn` to its brace, and braces
/// in strings, characters and comments do not count.
#[test]
fn the_measure_counts_only_code_braces() {
    let text = "fn a() {\n    let s = \"}}\"; // }\n    let c = '}';\n    /* { */\n}\nfn b();\nfn c<'a>(x: &'a str) -> &'a str {\n    let r = r#\"}\"#;\n    x\n}\n";
    let f = functions(Path::new("x.rs"), text);
    assert_eq!(f, [(5, "x.rs:1 a".into()), (4, "x.rs:7 c".into())]);
}
