# nooelint: oelint.var.suggestedvar.CVE_PRODUCT
# (no CVE product: libevl is not in the NVD)
SUMMARY = "libevl: the user-space library of the EVL real-time core (Xenomai 4)"
SUMMARY:${PN}-tools = "The evl command and its helpers (evl ps, evl check, evl trace, ...)"
SUMMARY:${PN}-bench = "EVL latency benchmarks: latmus (timer latency), hectic (switches)"
SUMMARY:${PN}-tests = "EVL core test programs"
DESCRIPTION = "The user-space side of the Dovetail + EVL dual kernel (the x86-64 NUC): the \
               library, the `evl` command with its helpers, the latmus and hectic benchmarks \
               and the EVL test programs. Built against the uapi headers of the board's \
               linux-evl kernel."
HOMEPAGE = "https://evlproject.org"
BUGTRACKER = "https://gitlab.com/Xenomai/xenomai4/libevl/-/issues"
SECTION = "libs"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=2500c28da9dacbee31a3f4d4f69b74d0"

PROVIDES = "virtual/libevl"
PV = "r47+git"

# libevl r47: commit 3bbe1d09 on master, the SRCREV four public Yocto recipes pin as "r47"
# (source.denx.de/Xenomai/xenomai4/libevl, found with a code search; no copy of the libevl
# repository itself was reachable). It pairs with EVL ABI of the v6.6 kernels; linux-evl now
# follows v6.12 with a commit the user chooses (linux-evl_6.12.bb), so set LIBEVL_SRCREV to
# the libevl release of that kernel's ABI (EVL's release notes name the pairs). do_configure
# compares libevl's EVL_ABI_PREREQ with the kernel's EVL_ABI_BASE..EVL_ABI_LEVEL and stops with
# the numbers if they do not fit. docs/boards/nuc.md, "The EVL kernel".
LIBEVL_SRCREV ??= "3bbe1d092e021113b1aa238c7a51c8f634c6cdcc"
SRC_URI = "git://gitlab.com/Xenomai/xenomai4/libevl.git;protocol=https;branch=master"
SRCREV = "${LIBEVL_SRCREV}"

inherit meson pkgconfig
require libevl-abi.inc

# libevl's meson build reads the uapi headers from the kernel tree itself.
do_configure[depends] += "virtual/kernel:do_patch"
# libevl's meson.build defaults to werror=true, and wrynose's GCC 15 warns about more than the
# compilers libevl was released with: a new warning must not stop the build.
EXTRA_OEMESON = "-Duapi=${STAGING_KERNEL_DIR} -Dwerror=false"

do_configure:prepend() {
    rros_check_abi \
        "$(rros_abi_number EVL_ABI_PREREQ ${S}/include/evl/evl.h)" \
        "$(rros_abi_number EVL_ABI_BASE ${STAGING_KERNEL_DIR}/include/uapi/evl/control-abi.h ${STAGING_KERNEL_DIR}/include/uapi/evl/control.h)" \
        "$(rros_abi_number EVL_ABI_LEVEL ${STAGING_KERNEL_DIR}/include/uapi/evl/control-abi.h ${STAGING_KERNEL_DIR}/include/uapi/evl/control.h)" \
        "include/uapi/evl of ${PREFERRED_PROVIDER_virtual/kernel}"
}

# Built against the board's own kernel headers.
PACKAGE_ARCH = "${MACHINE_ARCH}"

PACKAGES =+ "${PN}-tools ${PN}-bench ${PN}-tests"
FILES:${PN}-tools += "${bindir}/evl ${libexecdir}/evl"
FILES:${PN}-bench += "${bindir}/latmus ${bindir}/hectic"
FILES:${PN}-tests += "${prefix}/tests ${bindir}/oob-net-icmp ${bindir}/oob-spi"

# Only the board with the EVL core can use it; it also keeps the choice of virtual/libevl unique.
# nooelint: oelint.task.noanonpython
python __anonymous() {
    if d.getVar('RROS_KERNEL_FLAVOUR') != 'evl':
        raise bb.parse.SkipRecipe('libevl drives the EVL core (linux-evl); this board runs "%s"' % d.getVar('RROS_KERNEL_FLAVOUR'))
}
