"""tests/layer/check_delivery.py against excerpts of real `bitbake -e` dumps (fixtures/env/).

The excerpts keep exactly the variables the check reads, as `bitbake -e` printed them when the
five boards were parsed with the upstream layers (fixtures/README.md); each board must pass, and
each way a delivery can go wrong must be caught.
"""

import io
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import check_delivery as cd  # noqa: E402 - the module sits next to this file

ENV = HERE / "fixtures" / "env"
BOARDS = sorted(p.stem for p in (HERE.parent.parent / "board").glob("*.toml"))


def include(board):
    return cd.parse_include((cd.BOARD_INCLUDES / f"{board}.inc").read_text())


class Parsing(unittest.TestCase):
    def test_emit_var_escapes_are_undone(self):
        text = ('# a comment\n'
                'export PATH="/usr/bin"\n'
                'A="say \\"hi\\" for \\$5 and \\`x\\`"\n'
                'B="line one \\\n'
                'line two"\n'
                'do_x() {\n'
                '    echo "C=\\"not a variable\\""\n'
                '}\n'
                'D:over="x"\n')
        env = cd.parse_env(text)
        self.assertEqual(env["PATH"], "/usr/bin")
        self.assertEqual(env["A"], 'say "hi" for $5 and `x`')
        self.assertEqual(env["B"], "line one\nline two")
        self.assertEqual(env["D:over"], "x")
        self.assertNotIn("C", env)

    def test_check_params_last_value_wins(self):
        self.assertEqual(cd.check_params("a=1 b c=2 a=3", "a=3 b c=2"), [])
        self.assertEqual(cd.check_params("a=3 a=1", "a=3"),
                         ["`a=3` is overridden: the last `a=` is `a=1`"])
        self.assertEqual(cd.check_params("a=1", "b nohz_full=2"),
                         ["`b` is missing", "`nohz_full=2` is missing"])
        # A key is not a prefix match: isolcpus= must not be satisfied by isolcpus_x=.
        self.assertEqual(cd.check_params("isolcpus_x=1", "isolcpus=1"), ["`isolcpus=1` is missing"])

    def test_wks_append(self):
        self.assertEqual(cd.wks_append('# bootloader --append="no"\n'
                                       'part / --source rootfs\n'
                                       'bootloader --ptable gpt --append="a=1 b"\n'), "a=1 b")
        self.assertEqual(cd.wks_append("bootloader --append 'x y'"), "x y")
        self.assertIsNone(cd.wks_append("part / --source rootfs"))


class RecordedBoards(unittest.TestCase):
    def test_every_board_has_recorded_env(self):
        self.assertEqual(sorted(p.name for p in ENV.iterdir() if p.is_dir()), BOARDS)

    def test_every_board_delivers(self):
        for board in BOARDS:
            with self.subTest(board):
                lines, ok = cd.check_board(board, include(board), cd.Env(ENV / board))
                self.assertTrue(ok, "\n".join(lines))
                self.assertFalse([x for x in lines if not x.startswith("ok: ")])

    def test_main_exit_codes(self):
        out = io.StringIO()
        with redirect_stdout(out), redirect_stderr(out):
            self.assertEqual(cd.main(["qemuarm64", str(ENV / "qemuarm64")]), 0)
            self.assertEqual(cd.main(["qemuarm64", str(ENV / "no-such-dir")]), 2)   # no env-rros-image.txt
            self.assertEqual(cd.main(["no-such-board", str(ENV / "rpi4")]), 2)
            self.assertEqual(cd.main([]), 2)
        self.assertIn("qemuarm64: delivered (qemu)", out.getvalue())
        self.assertIn("env-rros-image.txt is missing: dump `bitbake -e rros-image` there", out.getvalue())


class BrokenDeliveries(unittest.TestCase):
    """Copies of a board's excerpts with one thing changed: the check must fail on it."""

    def broken(self, board, filename, old, new):
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        for f in (ENV / board).iterdir():
            shutil.copy(f, tmp / f.name)
        path = tmp / filename
        text = path.read_text()
        self.assertIn(old, text)
        path.write_text(text.replace(old, new, 1))
        lines, ok = cd.check_board(board, include(board), cd.Env(tmp))
        self.assertFalse(ok, "\n".join(lines))
        return [x for x in lines if x.startswith("FAIL: ")]

    def test_rpi4_parameter_missing_from_cmdline(self):
        fails = self.broken("rpi4", "env-rpi-cmdline.txt", "nohz_full=2-3 ", "")
        self.assertEqual(fails, ["FAIL: rpi-cmdline CMDLINE (cmdline.txt) carries the profile's "
                                 "9 parameters: `nohz_full=2-3` is missing"])

    def test_rpi4_config_line_missing(self):
        fails = self.broken("rpi4", "env-rpi-config.txt", "\\ndtoverlay=disable-bt", "")
        self.assertIn("`dtoverlay=disable-bt` is missing", fails[0])

    def test_imx_extlinux_off(self):
        fails = self.broken("imx8mp-evk", "env-virtual_bootloader.txt",
                            'UBOOT_EXTLINUX="1"', 'UBOOT_EXTLINUX="0"')
        self.assertIn("FAIL: bootloader UBOOT_EXTLINUX: is '0', expected '1'", fails)

    def test_imx_label_override_replaces_the_arguments(self):
        # An assignment for the label (UBOOT_EXTLINUX_KERNEL_ARGS:default) wins over the plain
        # value when the class writes the label: the check must read that one.
        fails = self.broken("imx8mp-evk", "env-virtual_bootloader.txt",
                            'UBOOT_EXTLINUX_LABELS="default"',
                            'UBOOT_EXTLINUX_LABELS="default"\nUBOOT_EXTLINUX_KERNEL_ARGS:default="rootwait rw"')
        self.assertTrue(any("`isolcpus=managed_irq,domain,2-3` is missing" in f for f in fails), fails)

    def test_imx_inactive_label_override_is_ignored(self):
        # The excerpt already has `:default:use-mainline-bsp` assignments (the BSP's mainline
        # flow), inactive with NXP's BSP: the board passes (RecordedBoards). Activating that
        # override makes the BSP's console the one written.
        tmp_lines, ok = cd.check_board("imx8mp-evk", include("imx8mp-evk"), cd.Env(ENV / "imx8mp-evk"))
        self.assertTrue(ok)
        env = cd.Env(ENV / "imx8mp-evk")("virtual/bootloader")
        self.assertEqual(cd.label_value(env, "UBOOT_EXTLINUX_CONSOLE", "default"), "console=ttymxc1,115200")
        env = dict(env, OVERRIDES=env["OVERRIDES"] + ":use-mainline-bsp")
        self.assertEqual(cd.label_value(env, "UBOOT_EXTLINUX_CONSOLE", "default"), "console=${console}")

    def test_imx_extlinux_conf_not_on_the_boot_partition(self):
        fails = self.broken("imx8mp-evk", "env-rros-image.txt", "extlinux.conf;extlinux/extlinux.conf", "")
        self.assertIn("IMAGE_BOOT_FILES has no", fails[0])

    def test_nuc_bsp_kickstart(self):
        fails = self.broken("nuc", "env-rros-image.txt",
                            'WKS_FILE="rros-efi-bootdisk.wks.in"', 'WKS_FILE="systemd-bootdisk-microcode.wks.in"')
        self.assertIn("meta-rros's kickstart", fails[0])

    def test_nuc_append_lost(self):
        fails = self.broken("nuc", "env-rros-image.txt", " evl.oobcpus=2-3", "")
        self.assertIn("`evl.oobcpus=2-3` is missing", fails[0])

    def test_qemux86_machine_value_would_win(self):
        # The profile's rcupdate.rcu_expedited=0 must come after the machine's =1.
        fails = self.broken("qemux86-64", "env-rros-image.txt", " rcupdate.rcu_expedited=0", "")
        self.assertIn("`rcupdate.rcu_expedited=0` is overridden: the last `rcupdate.rcu_expedited=` "
                      "is `rcupdate.rcu_expedited=1`", fails[0])

    def test_qemu_vcpus(self):
        fails = self.broken("qemux86-64", "env-rros-image.txt", 'QB_SMP="-smp 2"', 'QB_SMP="-smp 4"')
        self.assertIn("QB_SMP", fails[0])

    def test_wrong_board_in_the_build(self):
        fails = self.broken("qemuarm64", "env-rros-image.txt", 'RROS_BOARD="qemuarm64"', 'RROS_BOARD="rpi4"')
        self.assertIn("RROS_BOARD", fails[0])


if __name__ == "__main__":
    unittest.main()
