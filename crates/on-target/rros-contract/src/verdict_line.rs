//! The verdict line: the last line `rros-validate run` prints, and its only parser.
//!
//! ```text
//! rros-validate: verdict=PASS run=20260101T000000Z-rpi4 dir=/var/lib/rros-validate/20260101T000000Z-rpi4
//! rros-validate: verdict=ERROR run=- dir=-
//! ```
//!
//! The grammar, unambiguous by construction:
//!
//! - the line is `rros-validate: verdict=<V> run=<RUN> dir=<DIR>`; blanks around the whole
//!   line (a console's `\r`, indentation) are ignored;
//! - `<V>` is `PASS`, `INCONCLUSIVE`, `FAIL` or `ERROR` (only `PASS` is passed);
//! - `<RUN>` is a run id (no blanks, never contains `/`) or `-` (no run directory was made);
//! - `<DIR>` is **everything after ` dir=` to the end of the line**, blanks included (an
//!   `--output-dir` may contain them), or `-`; it is never empty;
//! - `run=-` and `dir=-` go together, and otherwise `<DIR>` ends with `/<RUN>`: the run
//!   directory is always named after its run;
//! - no control characters anywhere (escape sequences a board could smuggle to a terminal or
//!   into `scp`).
//!
//! The OEQA case (Python, no Rust on the host side) states the same grammar as a regular
//! expression plus the `/<RUN>` rule; both are checked against `golden/verdict-lines.txt`
//! (this crate's tests and tests/layer/test_rros_latency.py).

use crate::ContractError;
use crate::report::Verdict;
use std::fmt;

/// What every verdict line starts with.
pub const PREFIX: &str = "rros-validate: verdict=";

/// A parsed (or to-be-printed) verdict line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictLine {
    pub verdict: Verdict,
    /// The run id; `None` when no run directory was made (`run=-`).
    pub run: Option<String>,
    /// The run directory; `None` with `run` (`dir=-`).
    pub dir: Option<String>,
}

impl VerdictLine {
    /// The line of a run that could not even make its directory.
    pub fn no_run(verdict: Verdict) -> VerdictLine {
        VerdictLine {
            verdict,
            run: None,
            dir: None,
        }
    }

    /// Parses one line (see the module docs for the grammar).
    pub fn parse(line: &str) -> Result<VerdictLine, ContractError> {
        let bad = |why| ContractError::VerdictLine {
            line: line.to_owned(),
            why,
        };
        let rest = line
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("it does not start with `rros-validate: verdict=`"))?;
        let (verdict, rest) = rest
            .split_once(" run=")
            .ok_or_else(|| bad("no ` run=` after the verdict"))?;
        let verdict = Verdict::from_word(verdict)
            .ok_or_else(|| bad("the verdict is not PASS, INCONCLUSIVE, FAIL or ERROR"))?;
        let (run, dir) = rest
            .split_once(" dir=")
            .ok_or_else(|| bad("no ` dir=` after the run"))?;
        if run.is_empty() || run.contains(char::is_whitespace) || run.contains('/') {
            return Err(bad("the run id is empty or has a blank or a `/`"));
        }
        if dir.is_empty() {
            return Err(bad("the directory is empty"));
        }
        if run.chars().chain(dir.chars()).any(char::is_control) {
            return Err(bad("it holds a control character"));
        }
        match (run, dir) {
            ("-", "-") => Ok(VerdictLine::no_run(verdict)),
            ("-", _) | (_, "-") => Err(bad("only one of run and dir is `-`")),
            (run, dir) if !dir.ends_with(&format!("/{run}")) => {
                Err(bad("the directory is not named after the run"))
            }
            (run, dir) => Ok(VerdictLine {
                verdict,
                run: Some(run.to_owned()),
                dir: Some(dir.to_owned()),
            }),
        }
    }

    /// The last verdict line in a command's output, if any. Lines that merely start like one
    /// but break the grammar are skipped, never half-read.
    pub fn find_last(output: &str) -> Option<VerdictLine> {
        output
            .lines()
            .rev()
            .find_map(|line| VerdictLine::parse(line).ok())
    }
}

impl fmt::Display for VerdictLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{} run={} dir={}",
            self.verdict,
            self.run.as_deref().unwrap_or("-"),
            self.dir.as_deref().unwrap_or("-")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_blanks_in_the_directory() {
        let line = VerdictLine {
            verdict: Verdict::Fail,
            run: Some("20260101T000000Z-rpi4".into()),
            dir: Some("/mnt/my runs/20260101T000000Z-rpi4".into()),
        };
        assert_eq!(VerdictLine::parse(&line.to_string()).unwrap(), line);
        let none = VerdictLine::no_run(Verdict::Error);
        assert_eq!(none.to_string(), "rros-validate: verdict=ERROR run=- dir=-");
        assert_eq!(VerdictLine::parse(&none.to_string()).unwrap(), none);
    }

    #[test]
    fn last_valid_line_wins() {
        let out = "rros-validate: verdict=PASS run=a dir=/x/a\nnoise\nrros-validate: verdict=MAYBE run=b dir=/x/b\n";
        assert_eq!(
            VerdictLine::find_last(out).unwrap().run.as_deref(),
            Some("a")
        );
        assert!(VerdictLine::find_last("nothing here").is_none());
    }
}
