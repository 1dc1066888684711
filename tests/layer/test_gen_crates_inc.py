"""scripts/gen-crates-inc: the rros-validate crates include from Cargo.lock."""

import importlib.machinery
import importlib.util
import io
import shutil
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT = ROOT / "scripts" / "gen-crates-inc"
FIXTURES = HERE / "fixtures" / "crates"

loader = importlib.machinery.SourceFileLoader("gen_crates_inc", str(SCRIPT))
spec = importlib.util.spec_from_loader("gen_crates_inc", loader)
gen = importlib.util.module_from_spec(spec)
loader.exec_module(gen)


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = gen.main(list(args))
    return status, out.getvalue() + err.getvalue()


class Render(unittest.TestCase):
    def test_matches_oe_cores_update_crates_format(self):
        # expected.inc is what cargo-update-recipe-crates.bbclass writes for this lock file:
        # the header, one `# from` block, the URLs in lock order, a blank line, the checksums.
        self.assertEqual(gen.render(FIXTURES / "Cargo.lock"), (FIXTURES / "expected.inc").read_text())

    def test_workspace_members_and_git_sources_are_left_out(self):
        text = gen.render(FIXTURES / "Cargo.lock")
        self.assertNotIn("demo", text)
        self.assertNotIn("cfg-if", text)

    def test_the_committed_include_matches_cargo_lock(self):
        status, output = run("--check")
        self.assertEqual(status, 0, output)


class CheckMode(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.lock = self.tmp / "Cargo.lock"
        shutil.copy(FIXTURES / "Cargo.lock", self.lock)
        self.inc = self.tmp / "demo-crates.inc"

    def test_write_then_check(self):
        self.assertEqual(run("--lock", str(self.lock), "--output", str(self.inc))[0], 0)
        self.assertEqual(self.inc.read_text(), (FIXTURES / "expected.inc").read_text())
        self.assertEqual(run("--check", "--lock", str(self.lock), "--output", str(self.inc))[0], 0)

    def test_check_names_the_crates_that_changed(self):
        run("--lock", str(self.lock), "--output", str(self.inc))
        self.lock.write_text(self.lock.read_text().replace('version = "1.3.2"', 'version = "1.3.3"'))
        status, output = run("--check", "--lock", str(self.lock), "--output", str(self.inc))
        self.assertEqual(status, 1)
        self.assertIn("missing  crate://crates.io/bitflags/1.3.3", output)
        self.assertIn("stale    crate://crates.io/bitflags/1.3.2", output)
        self.assertIn("fix: scripts/gen-crates-inc", output)

    def test_check_catches_a_changed_checksum(self):
        run("--lock", str(self.lock), "--output", str(self.inc))
        self.lock.write_text(self.lock.read_text().replace("bef38d45", "00000000"))
        status, output = run("--check", "--lock", str(self.lock), "--output", str(self.inc))
        self.assertEqual(status, 1)
        self.assertIn("same crates, different text or checksums", output)

    def test_missing_include_is_stale(self):
        self.assertEqual(run("--check", "--lock", str(self.lock), "--output", str(self.inc))[0], 1)

    def test_unreadable_lock_is_a_usage_error(self):
        self.assertEqual(run("--check", "--lock", str(self.tmp / "nope"), "--output", str(self.inc))[0], 2)


if __name__ == "__main__":
    unittest.main()
