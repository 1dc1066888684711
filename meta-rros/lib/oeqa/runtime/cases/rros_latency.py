#
# SPDX-License-Identifier: MIT
#
"""OEQA runtime test of meta-rros: the board's own latency validation, run from testimage.

Asks `rros-validate plan --json` on the target how long the run may take (the one timeout
formula of the on-target contract, crates/on-target/rros-contract), runs `rros-validate run` (every
scenario of /etc/rros/board.toml, each for RROS_TESTIMAGE_DURATION), reads the run's report
through `rros-validate report --json --from-output` (the contract's readers of the verdict line
and of the report, on the target) and turns its verdict into the test's:

    PASS   the test passes (the summary goes to the log)
    FAIL   the test fails; the message lists the audit findings and the scenarios over budget
    ERROR  the test errors: nothing trustworthy was measured (missing tool, no RT privileges,
           unreadable system, interrupted run), with the reasons from the report

Enable with RROS_DEVELOPMENT = "1" (kas/development.yml) and run
`bitbake -c testimage rros-image`; TEST_SUITES of rros-image names this module. The decision
is the pure function verdict_message(), unit-tested in the layer tier against the contract's
golden reports (crates/on-target/rros-contract/golden/, tests/layer/test_rros_latency.py); this file
therefore imports without oeqa.
"""

import json
import os
import re
import shlex

try:
    from oeqa.runtime.case import OERuntimeTestCase
    from oeqa.core.decorator.depends import OETestDepends
except ImportError:  # outside BitBake: the pure functions below are still importable
    OERuntimeTestCase = object

    def OETestDepends(_depends):
        return lambda func: func

REPORT_SCHEMA = "rros-validate/1"
DEFAULT_DURATION = "30s"
DEFAULT_OUTPUT_DIR = "/var/lib/rros-validate"
# INCONCLUSIVE (within budget, too few samples to prove the claim) is not passed: the test fails.
EXIT_STATUS = {"PASS": 0, "FAIL": 1, "ERROR": 2, "INCONCLUSIVE": 3}

# Where the run's output is kept on the target: `rros-validate report --from-output` reads its
# verdict line there with the contract's only parser of it (no parser of it in this file).
RUN_OUTPUT = "/tmp/rros-validate-testimage.out"


class RrosValidateError(Exception):
    """The validation could not produce a verdict worth a pass or a fail (test ERROR)."""


def parse_plan(text):
    """The timeout (s) and scenario count of `rros-validate plan --json`'s output."""
    try:
        plan = json.loads(text)
        return int(plan["timeout_s"]), len(plan["scenarios"])
    except (ValueError, KeyError, TypeError) as err:
        raise RrosValidateError(f"`rros-validate plan --json` gave no plan ({err}):\n{text}")


def log_name(report):
    """The log file name for a report: its run id, reduced to characters safe in a file name."""
    run = str(report.get("run_id") or "unknown") if isinstance(report, dict) else "unknown"
    return "rros-validate-%s.json" % (re.sub(r"[^A-Za-z0-9._-]", "_", run)[:120] or "unknown")


def _fmt_us(value):
    return "n/a" if value is None else f"{value:.1f} µs"


def _finding_lines(findings, severity):
    lines = []
    for f in findings:
        if f.get("severity") == severity:
            lines.append(f"  [{f.get('rule')}] {f.get('evidence')}")
            lines.append(f"      fix: {f.get('fix')}")
    return lines


def _scenario_line(s):
    threshold = s.get("threshold") or {}
    p99 = (s.get("percentiles") or {}).get("p99_us")
    line = (f"  {s.get('name')}: {s.get('verdict')}, max {_fmt_us(s.get('max_us'))} "
            f"(budget {_fmt_us(threshold.get('max_us'))}")
    if threshold.get("p99_us") is not None:
        line += f"; p99 {_fmt_us(p99)}, budget {_fmt_us(threshold.get('p99_us'))}"
    line += f"), {s.get('samples', 0)} samples"
    for reason in s.get("reasons") or []:
        line += f"\n      {reason}"
    return line


def verdict_message(report, exit_status=None):
    """Decide the test from a parsed report.json: returns (outcome, message).

    outcome is "PASS", "FAIL" or "ERROR". The message says why, with the findings that break
    the profile, the scenarios over budget and the errors, each as the report states them.
    An INCONCLUSIVE report (within budget, too few samples to prove the scenario's claim) is
    not passed: its outcome is "FAIL", with the scenarios and what each claim still needs.
    exit_status, when given, is `rros-validate run`'s exit code; disagreeing with the report's
    verdict makes the outcome ERROR.
    """
    if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
        schema = report.get("schema") if isinstance(report, dict) else type(report).__name__
        return "ERROR", f"report.json is not an {REPORT_SCHEMA} report (schema: {schema!r})"
    verdict = report.get("verdict")
    board = (report.get("board") or {}).get("name", "?")
    head = (f"rros-validate {verdict} on board {board} (run {report.get('run_id', '?')}): "
            f"{report.get('summary', '')}").rstrip(": ")
    if verdict not in EXIT_STATUS:
        return "ERROR", f"{head}\nunknown verdict {verdict!r}"

    audit = report.get("audit") or {}
    findings = audit.get("findings") or []
    scenarios = report.get("scenarios") or []
    lines = [head]
    if verdict == "ERROR":
        errors = report.get("errors") or []
        if errors:
            lines.append("errors:")
            lines += [f"  [{e.get('scope')}] {e.get('message')}" for e in errors]
        if audit.get("error"):
            lines.append(f"audit could not read the system: {audit['error']}")
        if report.get("interrupted"):
            lines.append("the run was interrupted before it finished")
        failed = [s for s in scenarios if s.get("verdict") == "ERROR"]
        if failed:
            lines.append("scenarios that could not be measured:")
            lines += [_scenario_line(s) for s in failed]
    elif verdict == "FAIL":
        broken = _finding_lines(findings, "error")
        if broken:
            lines.append("audit findings that break the profile:")
            lines += broken
        over = [s for s in scenarios if s.get("verdict") == "FAIL"]
        if over:
            lines.append("scenarios over budget:")
            lines += [_scenario_line(s) for s in over]
        if not broken and not over:
            lines.append("(the report gives no finding and no failed scenario)")
    elif verdict == "INCONCLUSIVE":
        short = [s for s in scenarios if s.get("verdict") == "INCONCLUSIVE"]
        lines.append("scenarios within budget whose samples cannot prove their claim:")
        lines += [_scenario_line(s) for s in short]
    else:
        lines += [_scenario_line(s) for s in scenarios]
        warnings = _finding_lines(findings, "warning")
        if warnings:
            lines.append("audit warnings:")
            lines += warnings
        measured = [s for s in scenarios if s.get("samples", 0) > 0]
        audit_only = (report.get("options") or {}).get("audit_only")
        if not measured and not audit_only:
            return "ERROR", "\n".join(lines + ["PASS without a single measured sample"])

    outcome = "FAIL" if verdict == "INCONCLUSIVE" else verdict
    if exit_status is not None and exit_status != EXIT_STATUS[verdict]:
        lines.append(f"rros-validate exited {exit_status}, which does not match the report's "
                     f"{verdict} (expected {EXIT_STATUS[verdict]})")
        outcome = "ERROR"
    return outcome, "\n".join(lines)


class RrosLatencyTest(OERuntimeTestCase):
    """Runs the board's latency validation on the target and judges its report."""

    @OETestDepends(['ssh.SSHTest.test_ssh'])
    def test_rros_validate(self):
        duration = self.td.get('RROS_TESTIMAGE_DURATION') or DEFAULT_DURATION
        output_dir = self.td.get('RROS_TESTIMAGE_OUTPUT_DIR') or DEFAULT_OUTPUT_DIR

        # The boot-time validation would measure at the same time and disturb both runs: stop
        # it (a run it had started keeps its partial report, marked interrupted).
        self.target.run('systemctl stop rros-validate.service rros-validate.timer')
        # How long the run may take, by the contract's one formula (it also checks the duration).
        status, output = self.target.run('rros-validate plan --json --duration %s' % shlex.quote(duration))
        if status != 0:
            raise RrosValidateError('`rros-validate plan` refused RROS_TESTIMAGE_DURATION %r:\n%s'
                                    % (duration, output))
        timeout, scenarios = parse_plan(output)

        cmd = 'rros-validate run --quiet --duration %s --output-dir %s' % (
            shlex.quote(duration), shlex.quote(output_dir))
        self.logger.info('%s (%d scenario(s), timeout %d s)' % (cmd, scenarios, timeout))
        # The output is kept on the target too, for the contract's reader of the verdict line.
        status, output = self.target.run('%s >%s 2>&1; status=$?; cat %s; exit $status'
                                         % (cmd, RUN_OUTPUT, RUN_OUTPUT), timeout=timeout)

        # The run's report, found from its verdict line by the contract (on the target).
        rstatus, text = self.target.run('rros-validate report --json --from-output %s' % RUN_OUTPUT)
        if rstatus != 0:
            raise RrosValidateError('`%s` exited %s without writing a report the contract can read '
                                    '(%s):\n%s' % (cmd, status, text.strip(), output))
        try:
            report = json.loads(text)
        except ValueError as err:
            raise RrosValidateError('the report of `%s` is not JSON (%s):\n%s' % (cmd, err, text[:2000]))

        log_dir = self.td.get('TEST_LOG_DIR')
        if log_dir:
            os.makedirs(log_dir, exist_ok=True)
            with open(os.path.join(log_dir, log_name(report)), 'w') as f:
                f.write(text)

        outcome, message = verdict_message(report, exit_status=status)
        if outcome == 'FAIL':
            self.fail(message)
        if outcome == 'ERROR':
            raise RrosValidateError(message)
        self.logger.info(message)
