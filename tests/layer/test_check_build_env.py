"""tests/layer/check_build_env.py against excerpts of real `bitbake -e` dumps (fixtures/env/).

The excerpts are what check_build_env.py --excerpt kept of the dumps of the five boards parsed
with the upstream layers (fixtures/README.md). Every board must pass as recorded, and each
finding of issue 14 the script guards must be caught when the recorded value is turned back into
the broken one.
"""

import io
import re
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check_build_env as cbe  # noqa: E402 - the module sits next to this file

ENV = HERE / "fixtures" / "env"
BOARDS = sorted(p.stem for p in (HERE.parent.parent / "board").glob("*.toml"))


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cbe.main(list(argv))
    return code, out.getvalue(), err.getvalue()


class Boards(unittest.TestCase):
    def test_every_board_passes_as_recorded(self):
        for board in BOARDS:
            with self.subTest(board):
                code, out, err = run(board, str(ENV / board))
                self.assertEqual(code, 0, out + err)
                self.assertNotIn("FAIL", out)
                self.assertIn("build environment ok", out)

    def test_the_recorded_dumps_hold_what_each_board_is_checked_for(self):
        # Not skipped by accident: the per-board checks really ran on the recordings.
        expected = {
            "rpi4": ["kernel-modules", "NUL-terminated", "RUSTFLAGS_MODULE", "no vc4 overlay",
                     "no EFI bootloader", "auto-enable is 'disable'"],
            "imx8mp-evk": ["ACCEPT_FSL_EULA", "RUSTFLAGS_KERNEL", "no EFI bootloader"],
            "qemuarm64": ["OLDEST_KERNEL 5.13 ", "RUSTFLAGS_KERNEL"],
            "nuc": ["OLDEST_KERNEL 5.15 ", "kernel-modules"],
            "qemux86-64": ["DISTRO_FEATURES has no ptest", "auto-enable"],
        }
        for board, needles in expected.items():
            code, out, _ = run(board, str(ENV / board))
            for needle in needles:
                self.assertTrue(any(line.startswith(f"{board}: ok:") and needle in line
                                    for line in out.splitlines()), f"{board}: {needle!r} in\n{out}")


class Regressions(unittest.TestCase):
    """Each broken value, as the layer had it before issue 14, fails its check."""

    def broken(self, board, dump, pattern, replacement):
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        shutil.copytree(ENV / board, tmp / board)
        path = tmp / board / dump
        text = path.read_text()
        changed = re.sub(pattern, replacement, text, flags=re.M)
        self.assertNotEqual(changed, text, f"test bug: {pattern!r} not in {dump}")
        path.write_text(changed)
        return run(board, str(tmp / board))

    def assertFails(self, result, needle):
        code, out, err = result
        self.assertEqual(code, 1, out + err)
        self.assertTrue(any(line.startswith(f"{line.split(':')[0]}: FAIL") and needle in line
                            for line in out.splitlines()), f"{needle!r} not failed in\n{out}")

    def test_oldest_kernel_newer_than_the_kernel(self):
        self.assertFails(self.broken("rpi4", "env-rros-image.txt", r'^OLDEST_KERNEL=".*"$',
                                     'OLDEST_KERNEL="5.15"'), "glibc would assume kernel 5.15")

    def test_no_kernel_modules(self):
        self.assertFails(self.broken("qemuarm64", "env-rros-image.txt", r"\bkernel-modules\b", ""),
                         "IMAGE_INSTALL has kernel-modules")

    def test_ptest(self):
        self.assertFails(self.broken("qemux86-64", "env-rros-image.txt", r'^DISTRO_FEATURES="',
                                     'DISTRO_FEATURES="ptest '), "ptest is in DISTRO_FEATURES")

    def test_efi_bootloaders_on_the_pi(self):
        self.assertFails(self.broken("rpi4", "env-rros-image.txt", r'^WKS_FILE_DEPENDS="',
                                     'WKS_FILE_DEPENDS="grub-efi systemd-boot '), "`grub-efi` is in it")

    def test_eula_not_accepted(self):
        self.assertFails(self.broken("imx8mp-evk", "env-rros-image.txt", r'^ACCEPT_FSL_EULA=".*"\n', ""),
                         "ACCEPT_FSL_EULA")

    def test_oobcpus_patch_missing(self):
        self.assertFails(self.broken("qemuarm64", "env-virtual_kernel.txt",
                                     r"file://0001-rros-give-cpulist_parse[^ ]*\.patch", ""),
                         "SRC_URI has 0001-rros")

    def test_work_shared_not_remapped(self):
        # What the layer passed before: KRUSTFLAGS only, with the WORKDIR remap only.
        self.assertFails(self.broken("rpi4", "env-virtual_kernel.txt", r" RUSTFLAGS_MODULE='[^']*'", ""),
                         "EXTRA_OEMAKE has no RUSTFLAGS_MODULE")
        self.assertFails(self.broken("imx8mp-evk", "env-virtual_kernel.txt",
                                     r"(RUSTFLAGS_KERNEL='[^']*?) --remap-path-prefix=[^ ']*/work-shared=[^ ']*",
                                     r"\1"),
                         "work-shared")

    def test_kconfig_audit_without_rustc(self):
        self.assertFails(self.broken("qemuarm64", "env-virtual_kernel.txt", r'^export RUSTC=".*"\n', ""),
                         "RUSTC is None")

    def test_kconfig_host_programs_built_by_clang(self):
        self.assertFails(self.broken("rpi4", "env-virtual_kernel.txt", r"^\s*export MAKEFLAGS=.*\n", ""),
                         "scripts/kconfig is built by clang")

    def test_vc4_overlay_on_the_pi(self):
        self.assertFails(self.broken("rpi4", "env-rpi-config.txt", r'^VC4GRAPHICS="0"', 'VC4GRAPHICS="1"'),
                         "config.txt gets dtoverlay=")

    def test_validation_enabled_in_production(self):
        self.assertFails(self.broken("rpi4", "env-rros-validate.txt",
                                     r'^SYSTEMD_AUTO_ENABLE:rros-validate=".*"$',
                                     'SYSTEMD_AUTO_ENABLE:rros-validate="enable"'),
                         "SYSTEMD_AUTO_ENABLE is 'enable'")

    def test_a_required_dump_missing_is_a_usage_error(self):
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        shutil.copytree(ENV / "rpi4", tmp / "rpi4")
        (tmp / "rpi4" / "env-virtual_kernel.txt").unlink()
        code, _, err = run("rpi4", str(tmp / "rpi4"))
        self.assertEqual(code, 2)
        self.assertIn("bitbake -e virtual/kernel", err)


class Units(unittest.TestCase):
    def test_version_tuple(self):
        self.assertEqual(cbe.version_tuple("5.13.19"), (5, 13, 19))
        self.assertEqual(cbe.version_tuple("6.12+git"), (6, 12))
        self.assertIsNone(cbe.version_tuple(""))

    def test_excerpt_keeps_only_the_named_variables(self):
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        (tmp / "in").mkdir()
        (tmp / "in" / "env-rros-image.txt").write_text(
            '# comment\nOLDEST_KERNEL="5.13"\nOTHER="x"\nIMAGE_INSTALL="a \\\nkernel-modules"\n')
        cbe.excerpt(tmp / "in", tmp / "out")
        self.assertEqual((tmp / "out" / "env-rros-image.txt").read_text(),
                         'OLDEST_KERNEL="5.13"\nIMAGE_INSTALL="a \\\nkernel-modules"\n')


if __name__ == "__main__":
    unittest.main()
