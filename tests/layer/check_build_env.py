#!/usr/bin/env python3
"""Prove from `bitbake -e` what a real build of a board's `rros-image` would be given.

    tests/layer/check_build_env.py BOARD ENV_DIR
    tests/layer/check_build_env.py --excerpt BOARD ENV_DIR OUT_DIR

ENV_DIR holds the `bitbake -e TARGET` dumps named env-<TARGET>.txt (`/` -> `_`), written by
`bitbake -e TARGET > env-TARGET.txt` in the board's build directory (docs/image.md, "Checking
with upstream layers"). The checks are the findings of issue 14 that parsing can show, each
against the value the recipe that uses it really sees:

    rros-image      OLDEST_KERNEL is not newer than the kernel's LINUX_VERSION (glibc assumes
                    every feature of OLDEST_KERNEL); IMAGE_INSTALL has kernel-modules;
                    DISTRO_FEATURES has no ptest; on the firmware/U-Boot boards (rpi-cmdline,
                    uboot-extlinux) WKS_FILE_DEPENDS builds no EFI bootloader or syslinux;
                    i.MX: ACCEPT_FSL_EULA = "1"                      needs env-rros-image.txt
    virtual/kernel  linux-rros: SRC_URI has the oobcpus patch; the Rust remap of WORKDIR and
                    ${TMPDIR}/work-shared reaches rustc through RUSTFLAGS_KERNEL and
                    RUSTFLAGS_MODULE on the make command line (EXTRA_OEMAKE); RUSTC is
                    exported (the Kconfig audit sees HAS_RUST); do_kernel_configme hands make
                    the host compiler as a command-line HOSTCC (MAKEFLAGS)
                                                                     needs env-virtual_kernel.txt
    rpi-config      Pi: no vc4graphics, so config.txt gets no dtoverlay=vc4-kms-v3d
                                                                     needs env-rpi-config.txt
    rros-validate   rros-validate.service is enabled at boot exactly when
                    RROS_VALIDATE_AT_BOOT = "1"                      needs env-rros-validate.txt

A dump that is not there skips its checks with a `skip:` line; at least the rros-image and
virtual/kernel dumps must be there. --excerpt writes the variables these checks read (and
check_delivery.py's) from each dump into OUT_DIR, for tests/layer/fixtures/env/.
Exit: 0 all good, 1 a check failed, 2 usage or unreadable input.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_delivery as cd  # noqa: E402 - the module sits next to this file

OOBCPUS_PATCH = "0001-rros-give-cpulist_parse-a-NUL-terminated-copy-of-oob.patch"
EFI_BOOTLOADERS = ("grub-efi", "systemd-boot", "syslinux", "syslinux-native")
REQUIRED = ("rros-image", "virtual/kernel")

# Variables each dump contributes to the checks here and in check_delivery.py (--excerpt).
EXCERPT = {
    "rros-image": ["RROS_BOARD", "OLDEST_KERNEL", "IMAGE_INSTALL", "DISTRO_FEATURES",
                   "WKS_FILE_DEPENDS", "ACCEPT_FSL_EULA", "IMAGE_BOOT_FILES", "WKS_FILE",
                   "WKS_TEMPLATE_PATH", "_WKS_TEMPLATE", "QB_KERNEL_CMDLINE_APPEND", "QB_SMP"],
    "virtual_kernel": ["PN", "LINUX_VERSION", "TMPDIR", "WORKDIR", "TARGET_DBGSRC_DIR",
                       "SRC_URI", "KRUSTFLAGS", "EXTRA_OEMAKE", "RUSTC", "do_kernel_configme()"],
    "rpi-config": ["RROS_BOARD", "MACHINE_FEATURES", "VC4GRAPHICS", "VC4DTBO", "RPI_EXTRA_CONFIG"],
    "rpi-cmdline": ["RROS_BOARD", "CMDLINE"],
    "rros-validate": ["RROS_DEVELOPMENT", "RROS_VALIDATE_AT_BOOT", "SYSTEMD_SERVICE:rros-validate",
                      "SYSTEMD_AUTO_ENABLE:rros-validate", "SYSTEMD_AUTO_ENABLE"],
    # check_delivery.py composes the extlinux APPEND from every override-specific assignment.
    "virtual_bootloader": ["OVERRIDES", "RROS_BOARD", "UBOOT_EXTLINUX", "UBOOT_EXTLINUX_CONFIG",
                           "UBOOT_EXTLINUX_LABELS", "UBOOT_EXTLINUX_ROOT*",
                           "UBOOT_EXTLINUX_KERNEL_ARGS*", "UBOOT_EXTLINUX_CONSOLE*"],
}


def _wanted(name, names):
    """`name` is one of `names`, or VAR:<overrides> of a `VAR*` among them."""
    return name in names or any(n.endswith("*") and (name == n[:-1] or name.startswith(n[:-1] + ":"))
                                for n in names)


def shell_function(text, name):
    """The body of shell function `name` in a `bitbake -e` dump, or None."""
    m = re.search(r"^" + re.escape(name) + r"\(\) \{\n(.*?)^\}$", text, flags=re.M | re.S)
    return m.group(1) if m else None


def version_tuple(text):
    """`5.13.19` -> (5, 13, 19); the leading numeric part only (`6.12+git` -> (6, 12))."""
    m = re.match(r"\d+(?:\.\d+)*", text or "")
    return tuple(int(x) for x in m.group(0).split(".")) if m else None


def check_board(board, include, env_dir):
    """Returns (lines, ok): one `ok:`/`FAIL:`/`skip:` line per check."""
    checks = cd.Checks()
    lines, report = checks.lines, checks.report
    env_dir = Path(env_dir)
    flavour = include.get("RROS_KERNEL_FLAVOUR", "")
    delivery = include.get("RROS_CMDLINE_DELIVERY", "")

    def load(target):
        path = env_dir / f"env-{target.replace('/', '_')}.txt"
        if not path.is_file():
            if target in REQUIRED:
                raise FileNotFoundError(f"{path} is missing: dump `bitbake -e {target}` there")
            lines.append(f"skip: no env-{target.replace('/', '_')}.txt")
            return None
        return cd.parse_env(path.read_text(errors="replace"))


    image, kernel = load("rros-image"), load("virtual/kernel")
    kernel_text = (env_dir / "env-virtual_kernel.txt").read_text(errors="replace")

    oldest, kver = image.get("OLDEST_KERNEL"), kernel.get("LINUX_VERSION")
    o, k = version_tuple(oldest), version_tuple(kver)
    report(f"OLDEST_KERNEL {oldest} is not newer than {kernel.get('PN')} {kver}",
           [] if o and k and o <= k[:len(o)] else
           [f"glibc would assume kernel {oldest} features on a {kver} kernel: set OLDEST_KERNEL for this flavour"])
    report("IMAGE_INSTALL has kernel-modules",
           [] if "kernel-modules" in (image.get("IMAGE_INSTALL") or "").split() else ["it does not"])
    report("DISTRO_FEATURES has no ptest",
           ["ptest is in DISTRO_FEATURES"] if "ptest" in (image.get("DISTRO_FEATURES") or "").split() else [])
    if delivery in ("rpi-cmdline", "uboot-extlinux"):
        deps = (image.get("WKS_FILE_DEPENDS") or "").split()
        report("WKS_FILE_DEPENDS builds no EFI bootloader or syslinux",
               [f"`{d}` is in it" for d in deps if d in EFI_BOOTLOADERS])
    if board == "imx8mp-evk":
        report("ACCEPT_FSL_EULA = 1 (NXP firmware unpacks)",
               [] if image.get("ACCEPT_FSL_EULA") == "1" else [f"is {image.get('ACCEPT_FSL_EULA')!r}"])

    if flavour == "rros":
        report(f"linux-rros SRC_URI has {OOBCPUS_PATCH}",
               [] if f"file://{OOBCPUS_PATCH}" in (kernel.get("SRC_URI") or "").split() else ["it does not"])
        tmpdir, workdir, dbg = kernel.get("TMPDIR"), kernel.get("WORKDIR"), kernel.get("TARGET_DBGSRC_DIR")
        remaps = [f"--remap-path-prefix={workdir}={dbg}", f"--remap-path-prefix={tmpdir}/work-shared={dbg}"]
        oemake = kernel.get("EXTRA_OEMAKE") or ""
        for var in ("RUSTFLAGS_KERNEL", "RUSTFLAGS_MODULE"):
            m = re.search(var + r"='([^']*)'", oemake)
            flags = m.group(1).split() if m else None
            report(f"{var} on the make command line remaps WORKDIR and work-shared",
                   [f"EXTRA_OEMAKE has no {var}='...'"] if flags is None else
                   [f"`{r}` is missing" for r in remaps if r not in flags])
        report("RUSTC is exported to the kernel's tasks (Kconfig audit: HAS_RUST)",
               [] if kernel.get("RUSTC") == "rustc" else [f"RUSTC is {kernel.get('RUSTC')!r}"])
        configme = shell_function(kernel_text, "do_kernel_configme") or ""
        report("do_kernel_configme passes HOSTCC to make as a command-line definition",
               [] if re.search(r"export MAKEFLAGS=.*HOSTCC=", configme) else
               ["no `export MAKEFLAGS=...HOSTCC=...` in do_kernel_configme: scripts/kconfig is built by clang"])

    if delivery == "rpi-cmdline":
        config = load("rpi-config")
        if config is not None:
            report("rpi-config writes no vc4 overlay (no vc4graphics in MACHINE_FEATURES)",
                   [] if config.get("VC4GRAPHICS") == "0"
                   and "vc4graphics" not in (config.get("MACHINE_FEATURES") or "").split()
                   else [f"VC4GRAPHICS is {config.get('VC4GRAPHICS')!r}: config.txt gets dtoverlay={config.get('VC4DTBO')}"])

    validate = load("rros-validate")
    if validate is not None:
        at_boot = validate.get("RROS_VALIDATE_AT_BOOT")
        want = "enable" if at_boot == "1" else "disable"
        got = validate.get("SYSTEMD_AUTO_ENABLE:rros-validate") or validate.get("SYSTEMD_AUTO_ENABLE")
        report(f"rros-validate.service auto-enable is {want!r} (RROS_VALIDATE_AT_BOOT={at_boot!r}, "
               f"RROS_DEVELOPMENT={validate.get('RROS_DEVELOPMENT')!r})",
               [] if got == want else [f"SYSTEMD_AUTO_ENABLE is {got!r}"])
    return lines, checks.ok


def excerpt(env_dir, out_dir):
    """Copies the variables the checks read from each dump in env_dir to out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for tag, names in EXCERPT.items():
        path = Path(env_dir) / f"env-{tag}.txt"
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        keep, lines, i = [], text.splitlines(), 0
        while i < len(lines):
            m = cd._ASSIGN.match(lines[i])
            start = i
            if m:
                rest = m.group(2)
                while not cd._closed(rest) and i + 1 < len(lines):
                    i += 1
                    rest += "\n" + lines[i]
                if _wanted(m.group(1), names):
                    keep.extend(lines[start:i + 1])
            elif any(n.endswith("()") and lines[i] == n + " {" for n in names):
                while i < len(lines) and lines[i] != "}":
                    i += 1
                keep.extend(lines[start:i + 1])
            i += 1
        text = "\n".join(keep) + "\n"
        (out_dir / path.name).write_text(text)


def main(argv):
    if argv[:1] == ["--excerpt"] and len(argv) == 4:
        excerpt(argv[2], Path(argv[3]))
        return 0
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    board, env_dir = argv
    try:
        include = cd.parse_include((cd.BOARD_INCLUDES / f"{board}.inc").read_text())
        lines, ok = check_board(board, include, env_dir)
    except (OSError, ValueError) as err:
        print(f"check_build_env: {board}: {err}", file=sys.stderr)
        return 2
    for line in lines:
        print(f"{board}: {line}")
    print(f"{board}: {'build environment ok' if ok else 'build environment NOT ok'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
