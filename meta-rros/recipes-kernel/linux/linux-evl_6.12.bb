SUMMARY = "Linux with Dovetail and the EVL real-time core (Xenomai 4), for x86-64"
DESCRIPTION = "The dual kernel of the x86-64 NUC board. RROS has no x86 port, so this \
               board runs Dovetail + EVL (v6.12 LTS line), which serves the same libevl API: \
               x86_64_defconfig plus meta-rros's EVL, real-time tuning and NUC fragments. \
               The EVL commit is chosen by the user (LINUX_EVL_SRCREV)."
HOMEPAGE = "https://evlproject.org"
BUGTRACKER = "https://gitlab.com/Xenomai/xenomai4/linux-evl/-/issues"
CVE_PRODUCT = "linux_kernel linux:linux"
SECTION = "kernel"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://COPYING;md5=6bc538ed5bd9a7fc9398086aedcd7e46"

require recipes-kernel/linux/linux-yocto.inc

# Which EVL kernel. The v6.6 line cannot be built by wrynose's GCC 15, whose default -std=gnu23
# breaks arch/x86/boot/compressed, arch/x86/realmode and drivers/firmware/efi/libstub in kernels
# without the early-2025 `-std=gnu11` backports; the recipe follows EVL's v6.12 LTS line (branch
# v6.12.y-cip-evl-rebase of the EVL kernel tree, named in EVL's and LinuxCNC's public build
# instructions: docs/reference/rros-evl.md).
#
# meta-rros ships no commit for it: no public copy of the EVL kernel repository, and no public
# recipe naming a v6.12 EVL tag with its commit, could be reached to check one against, and an
# unchecked pin is not shipped. Choose the commit yourself and set, in local.conf (kas:
# local_conf_header):
#
#   LINUX_EVL_SRCREV = "<40-hex commit of the EVL tree>"  a commit on LINUX_EVL_BRANCH (the
#                       fetcher checks that it is on that branch), e.g. the one an EVL release
#                       tag `v6.12.<N>-evl<M>-rebase` points to: `git ls-remote --tags` the tree
#   LINUX_VERSION = "6.12.<N>"   VERSION.PATCHLEVEL.SUBLEVEL of that commit's Makefile
#                       (do_kernel_version_sanity_check compares them)
#   LINUX_EVL_BRANCH    only if the commit is on another branch
#
# Until LINUX_EVL_SRCREV is set the recipe still parses (the NUC's task graph resolves), and
# any build stops in do_fetch with this explanation instead of somewhere obscure.
# docs/boards/nuc.md, "The EVL kernel".
LINUX_EVL_REPO ?= "git://gitlab.com/Xenomai/xenomai4/linux-evl.git;protocol=https"
LINUX_EVL_BRANCH ?= "v6.12.y-cip-evl-rebase"
# kernel-yocto checks out KBRANCH after unpacking (do_kernel_checkout) and it would otherwise
# default to master, a branch the fetched tree need not have.
KBRANCH = "${LINUX_EVL_BRANCH}"
LINUX_EVL_SRCREV ??= ""
# The git URL (name=machine) is only in SRC_URI once the commit is set, below.
# nooelint: oelint.vars.mispell.unknown oelint.vars.specific
SRCREV_machine = "${LINUX_EVL_SRCREV}"
LINUX_VERSION ??= "6.12"
PV = "${LINUX_VERSION}+git"
LINUX_VERSION_EXTENSION = "-evl"

SRC_URI = "${@'${LINUX_EVL_REPO};branch=${KBRANCH};name=machine' if d.getVar('LINUX_EVL_SRCREV') else ''} \
           file://evl-core.cfg \
           file://rt-tuning.cfg \
           "
# The hardware fragment per machine: the NUC's drivers, or the virtual board's (virtio, ext4,
# serial; no DRM, sound, wireless, USB), which `rros vboard build` uses for its EVL kernel too.
SRC_URI:append:intel-corei7-64 = " file://nuc.cfg"
SRC_URI:append:qemux86-64 = " file://vboard-x86-64.cfg"

rros_linux_evl_pinned[doc] = "Stops the build, with what to set, while no EVL kernel commit is chosen"
python rros_linux_evl_pinned() {
    import re
    srcrev = d.getVar('LINUX_EVL_SRCREV') or ''
    if not re.fullmatch('[0-9a-f]{40}', srcrev):
        bb.fatal('linux-evl has no EVL kernel commit to build (LINUX_EVL_SRCREV is "%s"). meta-rros pins '
                 'none it could not verify: pick a commit of %s on branch %s (e.g. the one a '
                 'v6.12.<N>-evl<M>-rebase tag points to), then set in local.conf LINUX_EVL_SRCREV = '
                 '"<40-hex commit>" and LINUX_VERSION = "6.12.<N>" (its Makefile version). '
                 'docs/boards/nuc.md, "The EVL kernel".'
                 % (srcrev, d.getVar('LINUX_EVL_REPO'), d.getVar('LINUX_EVL_BRANCH')))
}
do_fetch[prefuncs] += "rros_linux_evl_pinned"

KBUILD_DEFCONFIG = "x86_64_defconfig"
KCONFIG_MODE = "alldefconfig"

KERNEL_FEATURES:remove = "features/debug/printk.scc features/taskstats/taskstats.scc \
                          features/kernel-sample/kernel-sample.scc cfg/efi.scc \
                          features/numa/numa.scc cfg/fs/vfat.scc"

# intel-corei7-64: the NUC (board/nuc.toml); qemux86-64: the EVL half of the virtual A/B pair
# (board/qemux86-64-evl.toml). Which kernel a build takes is the board profile's flavour.
COMPATIBLE_MACHINE = "^(intel-corei7-64|qemux86-64)$"
COMPATIBLE_HOST = "x86_64.*-linux"
