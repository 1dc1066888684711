"""The boot-time validation switch, evaluated by BitBake's own parser (no upstream layers).

conf/distro/include/rros-security.inc decides RROS_VALIDATE_AT_BOOT from RROS_DEVELOPMENT
unless local.conf sets it, and rros-validate_0.1.0.bb turns it into SYSTEMD_AUTO_ENABLE of
rros-validate.service. Evaluated here exactly as BitBake evaluates the two files (local.conf
first, then the distro include, then the recipe's assignments; inherits and includes of other
layers skipped), for production, development and an explicit choice, and a bad value must stop
the parse.
"""

import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bbparse  # noqa: E402 - next to this file; it sets up BitBake's parser

bb = bbparse.bb
LAYER = HERE.parent.parent / "meta-rros"
SECURITY = LAYER / "conf" / "distro" / "include" / "rros-security.inc"
RECIPE = LAYER / "recipes-rros" / "rros-validate" / "rros-validate_0.1.0.bb"


def evaluate(local_conf):
    """The datastore after local.conf (a dict), the distro include and the recipe."""
    d = bb.data.init()
    d.setVar("PN", "rros-validate")
    for name, value in local_conf.items():
        d.setVar(name, value)
    for path in (SECURITY, RECIPE):
        if path.suffix == ".inc":  # a configuration include: BitBake's ConfHandler reads it
            statements = bb.parse.ast.StatementGroup()
            for lineno, line in bbparse.logical_conf_lines(path.read_text()):
                bbparse.ConfHandler.feeder(lineno, line, str(path), statements)
        else:
            statements = bbparse.statements_for(path)
        d.setVar("FILE", str(path))
        for node in statements:
            if isinstance(node, bbparse.SKIPPED_NODES):
                continue
            node.eval(d)
    bb.data.expandKeys(d)  # SYSTEMD_AUTO_ENABLE:${PN} -> SYSTEMD_AUTO_ENABLE:rros-validate
    return d


def auto_enable(local_conf):
    d = evaluate(local_conf)
    return d.getVar("RROS_VALIDATE_AT_BOOT"), d.getVar("SYSTEMD_AUTO_ENABLE:rros-validate")


class ValidateAtBoot(unittest.TestCase):
    def test_production_default_is_off(self):
        self.assertEqual(auto_enable({}), ("0", "disable"))

    def test_development_default_is_on(self):
        self.assertEqual(auto_enable({"RROS_DEVELOPMENT": "1"}), ("1", "enable"))

    def test_an_explicit_choice_wins(self):
        self.assertEqual(auto_enable({"RROS_VALIDATE_AT_BOOT": "1"}), ("1", "enable"))
        self.assertEqual(auto_enable({"RROS_DEVELOPMENT": "1", "RROS_VALIDATE_AT_BOOT": "0"}),
                         ("0", "disable"))

    def test_a_bad_value_stops_the_parse(self):
        with self.assertLogs("BitBake", level="ERROR") as logged, self.assertRaises(Exception):
            evaluate({"RROS_VALIDATE_AT_BOOT": "yes"})
        self.assertIn('RROS_VALIDATE_AT_BOOT is "yes"', "\n".join(logged.output))


if __name__ == "__main__":
    unittest.main()
