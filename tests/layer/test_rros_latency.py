"""The OEQA module meta-rros/lib/oeqa/runtime/cases/rros_latency.py, without BitBake.

Its decision (verdict_message) runs against report.json files recorded from real
`rros-validate run`s (fixtures/reports/, see the README there); its test method runs against a
stand-in target that answers like the board would.
"""

import importlib.util
import json
import sys
import types
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MODULE = ROOT / "meta-rros" / "lib" / "oeqa" / "runtime" / "cases" / "rros_latency.py"
REPORTS = HERE / "fixtures" / "reports"
SCHEMA = ROOT / "crates" / "rros-validate" / "schema" / "report.schema.json"


def load_module(name, with_oeqa):
    """Import rros_latency.py as `name`, with a stand-in oeqa package or with none at all."""
    saved = {k: v for k, v in sys.modules.items() if k == "oeqa" or k.startswith("oeqa.")}
    for key in saved:
        del sys.modules[key]
    try:
        if with_oeqa:
            stub = {n: types.ModuleType(n) for n in
                    ("oeqa", "oeqa.runtime", "oeqa.runtime.case", "oeqa.core",
                     "oeqa.core.decorator", "oeqa.core.decorator.depends")}
            stub["oeqa.runtime.case"].OERuntimeTestCase = unittest.TestCase

            def depends(names):
                def mark(func):
                    func.depends_on = names
                    return func
                return mark
            stub["oeqa.core.decorator.depends"].OETestDepends = depends
            sys.modules.update(stub)
        spec = importlib.util.spec_from_file_location(name, MODULE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        for key in [k for k in sys.modules if k == "oeqa" or k.startswith("oeqa.")]:
            del sys.modules[key]
        sys.modules.update(saved)


rl = load_module("rros_latency_plain", with_oeqa=False)


def report(name):
    return json.loads((REPORTS / name).read_text())


class RecordedReports(unittest.TestCase):
    def test_fixtures_follow_the_report_schema(self):
        try:
            import jsonschema
        except ImportError:
            self.skipTest("jsonschema not installed")
        validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
        for path in sorted(REPORTS.glob("*.json")):
            with self.subTest(path.name):
                validator.validate(json.loads(path.read_text()))

    def test_every_verdict_is_recorded(self):
        verdicts = {report(p.name)["verdict"] for p in REPORTS.glob("*.json")}
        self.assertEqual(verdicts, {"PASS", "FAIL", "ERROR"})


class VerdictMessage(unittest.TestCase):
    def test_pass(self):
        outcome, message = rl.verdict_message(report("pass.json"), exit_status=0)
        self.assertEqual(outcome, "PASS")
        self.assertIn("rros-validate PASS on board qemux86-64", message)
        self.assertIn("idle: PASS, max 256.3 µs (budget 20000.0 µs), 2000 samples", message)

    def test_fail_lists_every_breaking_finding_with_its_fix(self):
        r = report("fail-audit.json")
        outcome, message = rl.verdict_message(r, exit_status=1)
        self.assertEqual(outcome, "FAIL")
        self.assertIn("26 audit finding(s) break the profile", message)
        errors = [f for f in r["audit"]["findings"] if f["severity"] == "error"]
        self.assertEqual(len(errors), 26)
        for f in errors:
            self.assertIn(f"[{f['rule']}] {f['evidence']}", message)
            self.assertIn(f"fix: {f['fix']}", message)
        # The scenario itself was within budget: it is not listed as over budget.
        self.assertNotIn("scenarios over budget", message)

    def test_fail_names_the_scenario_over_budget(self):
        outcome, message = rl.verdict_message(report("fail-budget.json"), exit_status=1)
        self.assertEqual(outcome, "FAIL")
        self.assertIn("scenarios over budget:", message)
        self.assertIn("idle: FAIL, max 19543.3 µs (budget 5.0 µs; p99 38.0 µs, budget 2.0 µs)", message)
        self.assertIn("max 19543.3 µs exceeds the budget of 5 µs", message)
        self.assertNotIn("audit findings", message)

    def test_error_gives_the_reasons(self):
        outcome, message = rl.verdict_message(report("error-scenario.json"), exit_status=2)
        self.assertEqual(outcome, "ERROR")
        self.assertIn("[options] no scenario `nope` in /etc/rros/board.toml", message)

    def test_error_without_a_board(self):
        outcome, message = rl.verdict_message(report("error-no-profile.json"), exit_status=2)
        self.assertEqual(outcome, "ERROR")
        self.assertIn("on board ?", message)
        self.assertIn("[profile] cannot read board profile /etc/rros/board.toml", message)
        self.assertIn("audit could not read the system: not run", message)

    def test_exit_status_that_contradicts_the_report_is_an_error(self):
        outcome, message = rl.verdict_message(report("pass.json"), exit_status=2)
        self.assertEqual(outcome, "ERROR")
        self.assertIn("exited 2, which does not match the report's PASS", message)
        self.assertEqual(rl.verdict_message(report("fail-budget.json"), exit_status=0)[0], "ERROR")

    def test_not_a_report(self):
        self.assertEqual(rl.verdict_message({"schema": "other/2"})[0], "ERROR")
        self.assertEqual(rl.verdict_message([])[0], "ERROR")
        broken = report("pass.json")
        broken["verdict"] = "MAYBE"
        self.assertEqual(rl.verdict_message(broken)[0], "ERROR")

    def test_pass_that_measured_nothing_is_an_error(self):
        r = report("pass.json")
        r["scenarios"][0]["samples"] = 0
        outcome, message = rl.verdict_message(r)
        self.assertEqual(outcome, "ERROR")
        self.assertIn("without a single measured sample", message)


class Helpers(unittest.TestCase):
    def test_parse_duration(self):
        for text, seconds in (("30s", 30), ("10m", 600), ("1h30m", 5400), ("1h 30m", 5400),
                              ("500ms", 0.5), ("90", 90), ("2.5s", 2.5), ("1d", 86400)):
            self.assertAlmostEqual(rl.parse_duration(text), seconds, msg=text)
        for bad in ("", "0s", "ten", "5 parsecs", "-3s", "3x"):
            with self.assertRaises(ValueError, msg=bad):
                rl.parse_duration(bad)

    def test_run_timeout_covers_every_scenario(self):
        self.assertEqual(rl.run_timeout(30, 2), 2 * (30 + rl.SCENARIO_OVERHEAD_S) + rl.RUN_OVERHEAD_S)
        self.assertGreater(rl.run_timeout(3600, 3), 3 * 3600)
        self.assertEqual(rl.run_timeout(10, 0), rl.run_timeout(10, 1))

    def test_parse_verdict_line_takes_the_last_one(self):
        output = ("rros-validate: error: something\n"
                  "rros-validate: verdict=FAIL run=a dir=/x/a\n"
                  "rros-validate: verdict=PASS run=20261123T194937Z-qemux86-64 "
                  "dir=/var/lib/rros-validate/20261123T194937Z-qemux86-64\n")
        self.assertEqual(rl.parse_verdict_line(output),
                         {"verdict": "PASS", "run": "20261123T194937Z-qemux86-64",
                          "dir": "/var/lib/rros-validate/20261123T194937Z-qemux86-64"})
        self.assertEqual(rl.parse_verdict_line("rros-validate: verdict=ERROR run=- dir=-")["dir"], "-")
        self.assertIsNone(rl.parse_verdict_line("sh: rros-validate: not found"))


class FakeTarget:
    """Answers the commands the test sends like a board would."""

    def __init__(self, run_status, run_output, report_text, scenarios="2"):
        self.answers = [("systemctl stop", 0, ""), ("grep -cE", 0, scenarios),
                        ("rros-validate run", run_status, run_output), ("cat ", 0, report_text)]
        self.calls = []

    def run(self, cmd, timeout=None):
        self.calls.append((cmd, timeout))
        for prefix, status, output in self.answers:
            if cmd.startswith(prefix):
                return status, output
        raise AssertionError(f"unexpected command {cmd}")


class FakeLogger:
    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(msg)


class TestCaseOnATarget(unittest.TestCase):
    """The OEQA test method itself, with a stand-in oeqa and a stand-in target."""

    @classmethod
    def setUpClass(cls):
        cls.mod = load_module("rros_latency_oeqa", with_oeqa=True)

    def case(self, target, td=None):
        test = self.mod.RrosLatencyTest("test_rros_validate")
        test.td = td if td is not None else {"RROS_TESTIMAGE_DURATION": "10s"}
        test.target = target
        test.logger = FakeLogger()
        return test

    def verdict_line(self, verdict):
        return (f"rros-validate: verdict={verdict} run=r1 dir=/var/lib/rros-validate/r1\n")

    def test_depends_on_ssh(self):
        self.assertEqual(self.mod.RrosLatencyTest.test_rros_validate.depends_on,
                         ["ssh.SSHTest.test_ssh"])

    def test_pass(self):
        target = FakeTarget(0, self.verdict_line("PASS"), (REPORTS / "pass.json").read_text())
        test = self.case(target)
        test.test_rros_validate()
        run_cmd, timeout = target.calls[2]
        self.assertEqual(run_cmd, "rros-validate run --quiet --duration 10s "
                                  "--output-dir /var/lib/rros-validate")
        self.assertEqual(timeout, self.mod.run_timeout(10, 2))
        self.assertEqual(target.calls[3][0], "cat /var/lib/rros-validate/r1/report.json")
        self.assertIn("rros-validate PASS", test.logger.lines[-1])

    def test_fail_fails_with_the_findings(self):
        target = FakeTarget(1, self.verdict_line("FAIL"), (REPORTS / "fail-audit.json").read_text())
        with self.assertRaises(AssertionError) as ctx:
            self.case(target).test_rros_validate()
        self.assertIn("[cmdline] /proc/cmdline has no `isolcpus`", str(ctx.exception))

    def test_error_errors(self):
        target = FakeTarget(2, self.verdict_line("ERROR"), (REPORTS / "error-scenario.json").read_text())
        with self.assertRaises(self.mod.RrosValidateError) as ctx:
            self.case(target).test_rros_validate()
        self.assertNotIsInstance(ctx.exception, AssertionError)
        self.assertIn("no scenario `nope`", str(ctx.exception))

    def test_no_report_errors(self):
        target = FakeTarget(127, "sh: rros-validate: not found\n", "")
        with self.assertRaises(self.mod.RrosValidateError) as ctx:
            self.case(target).test_rros_validate()
        self.assertIn("without writing a report", str(ctx.exception))

    def test_duration_and_output_dir_come_from_the_image(self):
        target = FakeTarget(0, self.verdict_line("PASS"), (REPORTS / "pass.json").read_text(),
                            scenarios="oops")
        self.case(target, td={"RROS_TESTIMAGE_DURATION": "2m",
                              "RROS_TESTIMAGE_OUTPUT_DIR": "/data/v"}).test_rros_validate()
        self.assertEqual(target.calls[2], ("rros-validate run --quiet --duration 2m --output-dir /data/v",
                                           self.mod.run_timeout(120, 1)))


if __name__ == "__main__":
    unittest.main()
