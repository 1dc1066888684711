SUMMARY = "Linux 5.13 with Dovetail and RROS, the Rust real-time core (dual kernel)"
DESCRIPTION = "BUPT-OS/RROS: Linux 5.13.19 on linux-dovetail-v5.13 with Rust-for-Linux v1 \
               and the RROS real-time core, configured from its rros_defconfig plus \
               meta-rros's real-time tuning and per-board fragments, built with LLVM=1 and the \
               pinned clang 13 / rustc beta-2021-06-23 / bindgen 0.56 toolchain. arm64 only: \
               RROS has no x86 port."
HOMEPAGE = "https://github.com/BUPT-OS/RROS"
BUGTRACKER = "https://github.com/BUPT-OS/RROS/issues"
CVE_PRODUCT = "linux_kernel linux:linux"
SECTION = "kernel"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://COPYING;md5=6bc538ed5bd9a7fc9398086aedcd7e46"

require recipes-kernel/linux/linux-yocto.inc
inherit rros_kernel_llvm

# RROS has no tags; main is the branch its CI builds. Bump: docs/kernel.md.
# Source of the pin: github.com/BUPT-OS/RROS, branch main, commit 0ada3bc (2024-10-21), read
# from a snapshot of that repository (docs/reference/rros-evl.md).
KBRANCH = "main"
SRCREV_machine = "0ada3bc08eee5d776bfde1591fa1616a56f0915c"
# A kernel history is gigabytes; the build needs the pinned commit only.
BB_GIT_SHALLOW = "1"
LINUX_VERSION = "5.13.19"
PV = "${LINUX_VERSION}+git"
LINUX_VERSION_EXTENSION = "-rros"

# The patch makes rros.oobcpus_arg= from the command line work at all (without it the RROS
# core refuses to start when the parameter is given); its header says why and how far it was
# checked. docs/kernel.md, "The oobcpus patch".
SRC_URI = "git://github.com/BUPT-OS/RROS.git;protocol=https;branch=${KBRANCH};name=machine \
           file://0001-rros-give-cpulist_parse-a-NUL-terminated-copy-of-oob.patch \
           file://rros-core.cfg \
           file://rt-tuning.cfg \
           "
SRC_URI:append:raspberrypi4-64 = " file://bcm2711.cfg"
SRC_URI:append:imx8mp-lpddr4-evk = " file://imx8mp-evk.cfg"
SRC_URI:append:qemuarm64 = " file://qemu-virtio.cfg"

# rros_defconfig is a complete .config (Pi 4 + QEMU virt). alldefconfig keeps every value it
# sets and gives symbols that only become visible through our fragments (ARCH_MXC and the
# i.MX drivers) their Kconfig defaults, where allnoconfig would switch them all off.
KBUILD_DEFCONFIG = "rros_defconfig"
KCONFIG_MODE = "alldefconfig"

# linux-yocto.inc asks for yocto-kernel-cache features; this tree has no kernel-meta, so
# drop them (our .cfg fragments say what the boards need).
KERNEL_FEATURES:remove = "features/debug/printk.scc features/taskstats/taskstats.scc \
                          features/kernel-sample/kernel-sample.scc cfg/efi.scc \
                          features/numa/numa.scc cfg/fs/vfat.scc"

COMPATIBLE_MACHINE = "^(raspberrypi4-64|imx8mp-lpddr4-evk|qemuarm64)$"
COMPATIBLE_HOST = "aarch64.*-linux"
