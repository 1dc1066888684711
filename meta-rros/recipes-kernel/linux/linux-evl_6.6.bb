SUMMARY = "Linux with Dovetail and the EVL real-time core (Xenomai 4), for x86-64"
DESCRIPTION = "The dual kernel of the x86-64 NUC board. RROS has no x86 port, so this \
               board runs Dovetail + EVL, which serves the same libevl API: x86_64_defconfig \
               plus meta-rros's EVL, real-time tuning and NUC fragments."
HOMEPAGE = "https://evlproject.org"
BUGTRACKER = "https://gitlab.com/Xenomai/xenomai4/linux-evl/-/issues"
CVE_PRODUCT = "linux_kernel linux:linux"
SECTION = "kernel"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://COPYING;md5=6bc538ed5bd9a7fc9398086aedcd7e46"

require recipes-kernel/linux/linux-yocto.inc

# An EVL core release tag (vX.Y.Z-evlN, the LTS releases of the EVL project). The fetcher
# checks that the tag resolves to SRCREV_machine. [unverified] This tag/commit pair could
# not be checked against the repository when it was pinned: see docs/kernel.md.
LINUX_EVL_TAG = "v6.6.37-evl3"
SRCREV_machine = "44eaeec1d67df0b36f81e93bd3e09d1ba2693851"
LINUX_VERSION = "6.6.37"
PV = "${LINUX_VERSION}+git"
LINUX_VERSION_EXTENSION = "-evl"

SRC_URI = "git://gitlab.com/Xenomai/xenomai4/linux-evl.git;protocol=https;nobranch=1;tag=${LINUX_EVL_TAG};name=machine \
           file://evl-core.cfg \
           file://rt-tuning.cfg \
           file://nuc.cfg \
           "

KBUILD_DEFCONFIG = "x86_64_defconfig"
KCONFIG_MODE = "alldefconfig"

KERNEL_FEATURES:remove = "features/debug/printk.scc features/taskstats/taskstats.scc \
                          features/kernel-sample/kernel-sample.scc cfg/efi.scc \
                          features/numa/numa.scc cfg/fs/vfat.scc"

COMPATIBLE_MACHINE = "^(intel-corei7-64)$"
COMPATIBLE_HOST = "x86_64.*-linux"
