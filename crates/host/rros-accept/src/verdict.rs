//! The verdict words, the line `rros-validate run` ends with, and how a fleet adds up.

/// `PASS` (within budget, audit clean, claim proven), `INCONCLUSIVE` (within budget, too few
/// samples for the claim: not passed), `FAIL` (the board is not good), `ERROR` (could not
/// measure: the link or the tooling broke). Exit codes 0 / 3 / 1 / 2. The contract's one
/// verdict.
pub use rros_contract::Verdict;

/// `rros-validate: verdict=PASS run=<run-id> dir=<absolute run dir>`, as acceptance needs it:
/// a run directory it can fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictLine {
    pub verdict: Verdict,
    pub run: String,
    pub dir: String,
}

/// Reads the machine-readable last line of `rros-validate run` with the contract's only
/// parser (`rros_contract::VerdictLine`: `dir=` takes the rest of the line, so a folder with
/// blanks survives; control characters are refused), then asks what acceptance needs: a run
/// directory, absolute, that is not hidden. Never panics, whatever the input (a property test
/// holds it to that).
pub fn parse_verdict_line(line: &str) -> Option<VerdictLine> {
    let parsed = rros_contract::VerdictLine::parse(line).ok()?;
    let (run, dir) = (parsed.run?, parsed.dir?);
    if !dir.starts_with('/') || run.starts_with('.') {
        return None;
    }
    Some(VerdictLine {
        verdict: parsed.verdict,
        run,
        dir,
    })
}

/// The last verdict line among `lines` (stdout of the run).
pub fn find_verdict_line<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<VerdictLine> {
    lines.into_iter().filter_map(parse_verdict_line).last()
}

/// How the remote command ended, as `ssh` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteExit {
    /// The remote command's exit code.
    Code(i32),
    /// ssh's own failure (exit 255): the connection broke or never came up.
    Link,
    /// Killed on our side: the overall timeout.
    TimedOut,
}

/// What the measuring step comes to, before the reports are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunJudgement {
    /// A verdict that agrees with the exit code.
    Verdict(VerdictLine),
    /// ERROR, with the reason.
    Error(String),
    /// No verdict within the run's time bound: whether the board rebooted decides the
    /// message.
    TimedOut,
    /// The link broke: whether the board rebooted decides the message.
    LinkLost,
}

/// Maps exit code + verdict line to the outcome. Never PASS without a verdict line saying so
/// and exit code 0.
pub fn judge_run(exit: RemoteExit, line: Option<VerdictLine>) -> RunJudgement {
    match exit {
        RemoteExit::Link => RunJudgement::LinkLost,
        RemoteExit::TimedOut => RunJudgement::TimedOut,
        RemoteExit::Code(code) => match (line, Verdict::from_exit_code(code)) {
            (Some(line), Some(by_code)) if line.verdict == by_code => RunJudgement::Verdict(line),
            (Some(line), _) => RunJudgement::Error(format!(
                "rros-validate said verdict={} but exited {code}; the two disagree, so nothing can be trusted",
                line.verdict
            )),
            (None, _) if code == 127 => RunJudgement::Error(
                "rros-validate is not installed on the board (the shell found no such command)"
                    .into(),
            ),
            (None, _) if code > 128 => RunJudgement::Error(format!(
                "rros-validate was killed by signal {} before it printed a verdict",
                code - 128
            )),
            (None, _) => RunJudgement::Error(format!(
                "rros-validate exited {code} without its verdict line (`rros-validate: verdict=… run=… dir=…`)"
            )),
        },
    }
}

/// The verdict of many boards: FAIL when any board failed (a board known to be bad makes the
/// fleet bad, whatever else could not be measured), else ERROR when any could not be measured,
/// else INCONCLUSIVE when any could not prove its claim, else PASS. No boards is ERROR:
/// nothing was measured. Only an all-PASS fleet passes.
pub fn fleet_verdict(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let mut any = false;
    let mut error = false;
    let mut inconclusive = false;
    for verdict in verdicts {
        any = true;
        match verdict {
            Verdict::Fail => return Verdict::Fail,
            Verdict::Error => error = true,
            Verdict::Inconclusive => inconclusive = true,
            Verdict::Pass => {}
        }
    }
    if !any || error {
        Verdict::Error
    } else if inconclusive {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(verdict: Verdict) -> VerdictLine {
        VerdictLine {
            verdict,
            run: "20261123T101500Z-qemux86-64".into(),
            dir: "/var/lib/rros-validate/20261123T101500Z-qemux86-64".into(),
        }
    }

    #[test]
    fn parses_the_contract_line() {
        let got = parse_verdict_line(
            "rros-validate: verdict=FAIL run=20261123T101500Z-qemux86-64 dir=/var/lib/rros-validate/20261123T101500Z-qemux86-64\n",
        )
        .unwrap();
        assert_eq!(got, line(Verdict::Fail));
        let spaced =
            parse_verdict_line("rros-validate: verdict=PASS run=r dir=/tmp/my runs/r").unwrap();
        assert_eq!(spaced.dir, "/tmp/my runs/r");
    }

    #[test]
    fn rejects_lines_that_are_not_the_contract() {
        for bad in [
            "",
            "verdict=PASS run=r dir=/x",
            "rros-validate: verdict=OK run=r dir=/x",
            "rros-validate: verdict=PASS dir=/x",
            "rros-validate: verdict=PASS run=r dir=relative",
            "rros-validate: verdict=PASS run= dir=/x",
            "rros-validate: verdict=PASS run=../x dir=/x",
            "rros-validate: verdict=pass run=r dir=/x",
        ] {
            assert_eq!(parse_verdict_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn control_characters_make_no_verdict_line() {
        assert_eq!(
            parse_verdict_line("rros-validate: verdict=PASS run=r\u{1b}[2J dir=/x"),
            None
        );
        assert_eq!(
            parse_verdict_line("rros-validate: verdict=PASS run=r dir=/x\u{7}y"),
            None
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Arbitrary input never panics the parser, and whatever it accepts is well-formed.
        #[test]
        fn verdict_line_parser_never_panics(line in "\\PC*|rros-validate: verdict=(PASS|FAIL|ERROR) run=\\PC{0,20} dir=\\PC{0,40}") {
            if let Some(v) = parse_verdict_line(&line) {
                proptest::prop_assert!(v.dir.starts_with('/'));
                proptest::prop_assert!(!v.run.is_empty() && !v.run.contains('/'));
            }
        }

        /// Arbitrary bytes (any UTF-8 after lossy decoding) never panic it either.
        #[test]
        fn verdict_line_parser_never_panics_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let line = String::from_utf8_lossy(&bytes);
            let _ = parse_verdict_line(&line);
            let _ = find_verdict_line(line.lines());
        }
    }

    #[test]
    fn the_last_verdict_line_wins() {
        let out = [
            "scenario idle: max 120 us",
            "rros-validate: verdict=FAIL run=a dir=/a",
            "rros-validate: verdict=PASS run=b dir=/b",
            "trailing noise",
        ];
        assert_eq!(find_verdict_line(out).unwrap().run, "b");
        assert_eq!(find_verdict_line(["nothing"]), None);
    }

    #[test]
    fn verdict_follows_line_and_exit_code_together() {
        for v in [Verdict::Pass, Verdict::Fail, Verdict::Error] {
            assert_eq!(
                judge_run(RemoteExit::Code(i32::from(v.exit_code())), Some(line(v))),
                RunJudgement::Verdict(line(v))
            );
        }
        // PASS on the line but a non-zero exit: never PASS.
        assert!(matches!(
            judge_run(RemoteExit::Code(1), Some(line(Verdict::Pass))),
            RunJudgement::Error(m) if m.contains("disagree")
        ));
        assert!(matches!(
            judge_run(RemoteExit::Code(0), Some(line(Verdict::Fail))),
            RunJudgement::Error(_)
        ));
        // Exit 0 with no verdict line is not PASS.
        assert!(matches!(
            judge_run(RemoteExit::Code(0), None),
            RunJudgement::Error(m) if m.contains("without its verdict line")
        ));
        assert!(matches!(
            judge_run(RemoteExit::Code(127), None),
            RunJudgement::Error(m) if m.contains("not installed")
        ));
        assert!(matches!(
            judge_run(RemoteExit::Code(137), None),
            RunJudgement::Error(m) if m.contains("signal 9")
        ));
        assert_eq!(
            judge_run(RemoteExit::Link, Some(line(Verdict::Pass))),
            RunJudgement::LinkLost
        );
        // A timeout is never a verdict, even with a PASS line already printed.
        assert_eq!(
            judge_run(RemoteExit::TimedOut, Some(line(Verdict::Pass))),
            RunJudgement::TimedOut
        );
    }

    #[test]
    fn fleet_adds_up() {
        use Verdict::*;
        assert_eq!(fleet_verdict([Pass, Pass]), Pass);
        assert_eq!(fleet_verdict([Pass, Error]), Error);
        assert_eq!(fleet_verdict([Error, Fail, Pass]), Fail);
        assert_eq!(fleet_verdict([Fail]), Fail);
        assert_eq!(fleet_verdict([]), Error, "nothing measured is never PASS");
        assert_eq!(fleet_verdict([Pass, Inconclusive]), Inconclusive);
        assert_eq!(fleet_verdict([Inconclusive, Error]), Error);
        assert_eq!(fleet_verdict([Inconclusive, Fail]), Fail);
    }

    /// An INCONCLUSIVE run says so on its line and exits 3; the two agree, and it is not PASS.
    #[test]
    fn inconclusive_is_a_verdict_of_its_own() {
        let got = judge_run(RemoteExit::Code(3), Some(line(Verdict::Inconclusive)));
        assert_eq!(got, RunJudgement::Verdict(line(Verdict::Inconclusive)));
        assert!(matches!(
            judge_run(RemoteExit::Code(0), Some(line(Verdict::Inconclusive))),
            RunJudgement::Error(_)
        ));
    }

    #[test]
    fn words_and_codes() {
        for v in [
            Verdict::Pass,
            Verdict::Inconclusive,
            Verdict::Fail,
            Verdict::Error,
        ] {
            assert_eq!(Verdict::from_word(v.as_str()), Some(v));
            assert_eq!(Verdict::from_exit_code(i32::from(v.exit_code())), Some(v));
        }
        assert_eq!(Verdict::from_exit_code(3), Some(Verdict::Inconclusive));
        assert_eq!(Verdict::from_exit_code(4), None);
    }
}
