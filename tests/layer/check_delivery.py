#!/usr/bin/env python3
"""Prove from `bitbake -e` that a board's isolation parameters reach its kernel.

    tests/layer/check_delivery.py BOARD ENV_DIR

ENV_DIR holds the `bitbake -e TARGET` dumps named env-<TARGET>.txt (`/` -> `_`), written in the
board's build directory (docs/image.md, "Checking with upstream layers"). The expected parameters are RROS_ISOLATION_CMDLINE of the board's generated
include (meta-rros/conf/rros-boards/BOARD.inc); each board is checked in the variable its boot
chain really reads:

    rpi-cmdline     CMDLINE of rpi-cmdline (cmdline.txt), RPI_EXTRA_CONFIG of rpi-config
                    (config.txt)                         needs env-rpi-cmdline.txt, env-rpi-config.txt
    uboot-extlinux  the APPEND line uboot-extlinux-config writes (UBOOT_EXTLINUX_ROOT + _KERNEL_ARGS
                    + _CONSOLE) in the bootloader recipe, and extlinux.conf in the image's
                    IMAGE_BOOT_FILES                     needs env-virtual_bootloader.txt, env-rros-image.txt
    wks-bootloader  `bootloader --append` of the expanded kickstart (_WKS_TEMPLATE) of the image
                                                         needs env-rros-image.txt
    qemu            QB_KERNEL_CMDLINE_APPEND and QB_SMP of the image (qemuboot.conf)
                                                         needs env-rros-image.txt

A `key=value` parameter passes when the last `key=` on the delivered line has the profile's
value (the kernel keeps the last one); a flag passes when present. Exit: 0 all delivered,
1 something missing or overridden, 2 usage or unreadable input.
"""

import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BOARD_INCLUDES = ROOT / "meta-rros" / "conf" / "rros-boards"
_ASSIGN = re.compile(r'^(?:export )?([A-Za-z_][^\s="]*)="(.*)$')


def parse_include(text):
    """`VAR = "value"` lines of a generated board include."""
    values = {}
    for line in text.splitlines():
        m = re.match(r'^([A-Z_][A-Z0-9_]*) = "(.*)"$', line.strip())
        if m:
            values[m.group(1)] = m.group(2)
    return values


def _closed(value):
    """True if `value` (text after the opening quote) ends with an unescaped quote."""
    if not value.endswith('"'):
        return False
    backslashes = len(value) - 1 - len(value[:-1].rstrip("\\"))
    return backslashes % 2 == 0


def _unescape(value):
    # The inverse of bb.data.emit_var: newline -> ` \` + newline, `"` `$` `` ` `` -> backslashed.
    value = value.replace(" \\\n", "\n")
    return re.sub(r'\\(["$`])', r"\1", value)


def parse_env(text):
    """Variables of a `bitbake -e` dump: {name: value}. Shell functions are skipped."""
    values = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _ASSIGN.match(lines[i])
        if not m:
            i += 1
            continue
        name, rest = m.group(1), m.group(2)
        while not _closed(rest) and i + 1 < len(lines):
            i += 1
            rest += "\n" + lines[i]
        values[name] = _unescape(rest[:-1] if rest.endswith('"') else rest)
        i += 1
    return values


def check_params(delivered, expected):
    """Problems of `expected` parameters on the `delivered` command line (empty list: all good)."""
    tokens = delivered.split()
    problems = []
    for want in expected.split():
        if "=" in want:
            key, value = want.split("=", 1)
            seen = [t.split("=", 1)[1] for t in tokens if t.startswith(key + "=")]
            if not seen:
                problems.append(f"`{want}` is missing")
            elif seen[-1] != value:
                problems.append(f"`{want}` is overridden: the last `{key}=` is `{key}={seen[-1]}`")
        elif want not in tokens:
            problems.append(f"`{want}` is missing")
    return problems


class Env:
    def __init__(self, env_dir):
        self.env_dir = Path(env_dir)
        self.cache = {}

    def __call__(self, target):
        if target not in self.cache:
            path = self.env_dir / f"env-{target.replace('/', '_')}.txt"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} is missing: dump `bitbake -e {target}` there")
            self.cache[target] = parse_env(path.read_text(errors="replace"))
        return self.cache[target]


def wks_append(template):
    """The --append of the `bootloader` line of an expanded kickstart, or None."""
    for line in template.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "bootloader":
            for i, word in enumerate(words):
                if word.startswith("--append="):
                    return word[len("--append="):]
                if word == "--append" and i + 1 < len(words):
                    return words[i + 1]
    return None


def label_value(env, var, label):
    """VAR as uboot-extlinux-config reads it for `label`: OVERRIDES plus the label.

    `bitbake -e` shows VAR as evaluated and, separately, each override-specific assignment
    (VAR:a:b="..."). One whose overrides are all active once the label is added wins; the
    more overrides it names, the more specific (BitBake's rule)."""
    active = set((env.get("OVERRIDES") or "").split(":")) | {label}
    best, best_len = env.get(var), 0
    for name, value in env.items():
        if not name.startswith(var + ":"):
            continue
        overrides = name.split(":")[1:]
        if label in overrides and set(overrides) <= active and len(overrides) > best_len:
            best, best_len = value, len(overrides)
    return best


class Checks:
    """The lines of a board's checks (`ok: WHAT` or `FAIL: WHAT: PROBLEM`), and whether all passed."""

    def __init__(self):
        self.lines, self.ok = [], True

    def report(self, what, problems):
        if problems:
            self.ok = False
            self.lines.extend(f"FAIL: {what}: {p}" for p in problems)
        else:
            self.lines.append(f"ok: {what}")


def check_board(board, include, env):
    """Returns (lines, ok): one `ok:`/`FAIL:` line per check."""
    checks = Checks()
    lines, report = checks.lines, checks.report
    expected = include.get("RROS_ISOLATION_CMDLINE", "")
    delivery = include.get("RROS_CMDLINE_DELIVERY", "")


    def same(what, value, want):
        report(what, [] if value == want else [f"is {value!r}, expected {want!r}"])

    def params(what, delivered):
        if delivered is None:
            report(what, ["not set"])
        else:
            report(f"{what} carries the profile's {len(expected.split())} parameters",
                   check_params(delivered, expected))

    if not expected:
        return [f"FAIL: {board}: RROS_ISOLATION_CMDLINE is empty in its include"], False

    if delivery == "rpi-cmdline":
        cmdline_env = env("rpi-cmdline")
        same("rpi-cmdline RROS_BOARD", cmdline_env.get("RROS_BOARD"), board)
        params("rpi-cmdline CMDLINE (cmdline.txt)", " ".join((cmdline_env.get("CMDLINE") or "").split()) or None)
        config = (env("rpi-config").get("RPI_EXTRA_CONFIG") or "").split("\\n")
        wanted = [x for x in include.get("RROS_RPI_EXTRA_CONFIG", "").split("\\n") if x]
        report(f"rpi-config RPI_EXTRA_CONFIG (config.txt) has the profile's {len(wanted)} line(s)",
               [f"`{x}` is missing" for x in wanted if x not in config])
    elif delivery == "uboot-extlinux":
        boot = env("virtual/bootloader")
        same("bootloader RROS_BOARD", boot.get("RROS_BOARD"), board)
        same("bootloader UBOOT_EXTLINUX", boot.get("UBOOT_EXTLINUX"), "1")
        report("bootloader inherits uboot-extlinux-config",
               [] if boot.get("UBOOT_EXTLINUX_CONFIG") else ["UBOOT_EXTLINUX_CONFIG is not set"])
        labels = (boot.get("UBOOT_EXTLINUX_LABELS") or "").split()
        report("bootloader writes one extlinux label",
               [] if len(labels) == 1 else [f"labels are {labels}: a menu needs a choice at boot"])
        # The APPEND line as the class composes it for the label: root, kernel arguments,
        # console, each with the label added to OVERRIDES.
        label = labels[0] if labels else ""
        append = " ".join(label_value(boot, v, label) or "" for v in
                          ("UBOOT_EXTLINUX_ROOT", "UBOOT_EXTLINUX_KERNEL_ARGS", "UBOOT_EXTLINUX_CONSOLE"))
        params(f"extlinux.conf APPEND of label `{label}`", append)
        image = env("rros-image")
        report("rros-image puts extlinux.conf on the boot partition",
               [] if "extlinux.conf;extlinux/extlinux.conf" in (image.get("IMAGE_BOOT_FILES") or "").split()
               else ["IMAGE_BOOT_FILES has no `extlinux.conf;extlinux/extlinux.conf`"])
    elif delivery == "wks-bootloader":
        image = env("rros-image")
        same("rros-image RROS_BOARD", image.get("RROS_BOARD"), board)
        template_path = image.get("WKS_TEMPLATE_PATH") or ""
        report("rros-image uses meta-rros's kickstart",
               [] if template_path.endswith("meta-rros/files/wic/" + (image.get("WKS_FILE") or "?"))
               else [f"WKS_FILE {image.get('WKS_FILE')!r} / WKS_TEMPLATE_PATH {template_path!r}"])
        template = image.get("_WKS_TEMPLATE")
        params("kickstart `bootloader --append`",
               wks_append(template) if template else None)
    elif delivery == "qemu":
        image = env("rros-image")
        same("rros-image RROS_BOARD", image.get("RROS_BOARD"), board)
        params("QB_KERNEL_CMDLINE_APPEND (runqemu -append)", image.get("QB_KERNEL_CMDLINE_APPEND"))
        count = include.get("RROS_CPU_COUNT")
        if not count:
            report("QB_SMP (vCPUs = the profile's CPUs)",
                   ["the include has no RROS_CPU_COUNT: run `rros board render`"])
        else:
            same("QB_SMP (vCPUs = the profile's CPUs, RROS_CPU_COUNT)", image.get("QB_SMP"), f"-smp {count}")
    else:
        return [f"FAIL: {board}: unknown RROS_CMDLINE_DELIVERY {delivery!r}"], False
    return lines, checks.ok


def main(argv):
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    board, env_dir = argv
    include_path = BOARD_INCLUDES / f"{board}.inc"
    try:
        include = parse_include(include_path.read_text())
        lines, ok = check_board(board, include, Env(env_dir))
    except (OSError, ValueError) as err:
        print(f"check_delivery: {board}: {err}", file=sys.stderr)
        return 2
    for line in lines:
        print(f"{board}: {line}")
    print(f"{board}: {'delivered' if ok else 'NOT delivered'} "
          f"({include.get('RROS_CMDLINE_DELIVERY')})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
