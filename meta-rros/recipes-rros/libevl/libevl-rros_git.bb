# nooelint: oelint.var.suggestedvar.CVE_PRODUCT
# (no CVE product: libevl is not in the NVD)
SUMMARY = "libevl for RROS: the BUPT-OS fork of the EVL user-space library"
SUMMARY:${PN}-tools = "The evl command and its helpers (evl ps, evl check, evl trace, ...)"
DESCRIPTION = "The user-space side of the RROS dual kernel: RROS serves the libevl API under \
               /dev/rros (EVL ABI 23..26), which stock libevl cannot drive. Built from the \
               BUPT-OS fork with the EVL uapi headers of ABI 26 and the Dovetail header of the \
               board's RROS kernel; packages the library and the `evl` command with its helpers."
HOMEPAGE = "https://github.com/BUPT-OS/libevl"
BUGTRACKER = "https://github.com/BUPT-OS/libevl/issues"
SECTION = "libs"
# libevl is MIT; the EVL uapi headers it installs for -dev are the kernel's.
LICENSE = "MIT & GPL-2.0-with-Linux-syscall-note"
LICENSE:${PN} = "MIT"
LICENSE:${PN}-tools = "MIT"
LICENSE:${PN}-staticdev = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=2500c28da9dacbee31a3f4d4f69b74d0 \
                    file://${COMMON_LICENSE_DIR}/GPL-2.0-with-Linux-syscall-note;md5=0bad96c422c41c3a94009dcfe1bff992"

PROVIDES = "virtual/libevl"
PV = "r27-net+git"

# Branch r27_net, not r27: RROS creates its devices under /dev/rros since 2023-12 (RROS commit
# 320c464, "rust: rros: fix bindings"), and r27_net is the fork's branch that opens them there
# (b5f1831, "replace /dev/evl with /dev/rros"); r27 still opens /dev/evl. Neither branch attaches
# the clocks in evl_init() (r27 skips the whole core init, r27_net comments out
# attach_evl_clocks()), so libevl-rs opens the monotonic clock element itself. docs/image.md.
#
# The fork has no uapi headers of its own and RROS has none in C: the EVL ones of ABI 26 come
# from a Dovetail + EVL kernel tree whose include/uapi/evl/control.h declares EVL_ABI_BASE 23 and
# EVL_ABI_LEVEL 26, the very range RROS reports. Only that directory is checked out (subpath);
# do_configure checks the numbers. The tree: github.com/rust-real-time-os/xenomai_sourcecode,
# branch main at e3e560cd (2022-04-20, a Linux 5.13 + Dovetail + EVL tree), read from a snapshot
# of that repository: its include/uapi/evl/ has every header the fork's sources include
# (clock, control, devices/*, factory, monitor, mutex, net/socket, observable, poll, proxy,
# sched, signal, syscall, thread, types) and control.h reads 23/26.
SRC_URI = "git://github.com/BUPT-OS/libevl.git;protocol=https;branch=r27_net;name=libevl \
           git://github.com/rust-real-time-os/xenomai_sourcecode.git;protocol=https;branch=main;name=uapi;subpath=include/uapi/evl;destsuffix=evl-uapi-abi26 \
           "
# BUPT-OS/libevl r27_net at b5f1831 and xenomai_sourcecode main at e3e560cd: both read from
# snapshots of those repositories.
SRCREV_libevl = "b5f183194bf12582cf13fd7472eae2c94d04592a"
SRCREV_uapi = "e3e560cdbd0069676451f9330825745f4beacbe9"
SRCREV_FORMAT = "libevl_uapi"
# Both are large histories (one a kernel): fetch just the pinned commits.
BB_GIT_SHALLOW = "1"

require libevl-abi.inc

# The asm-generic/dovetail.h of the board's own kernel defines the out-of-band syscall bit.
do_configure[depends] += "virtual/kernel:do_patch"

# The fork's makefiles build out of tree (O=); keep the uapi staging there too.
B = "${WORKDIR}/build"

LIBEVL_ARCH = "${@{'aarch64': 'arm64', 'x86_64': 'x86', 'arm': 'arm'}.get(d.getVar('TARGET_ARCH'), d.getVar('TARGET_ARCH'))}"
UAPI_DIR = "${B}/uapi-src"

# The fork's makefiles build with -Werror and no -std, and were last built with GCC 12.
# - -Wno-error: newer warnings must not stop the build.
# - GCC 14 made implicit function declarations, implicit int, int-conversion and incompatible
#   pointer types errors in their own right; -Wno-error does not touch those, only
#   -Wno-error=<each> (or -fpermissive) turns them back into warnings.
# - GCC 15 defaults to -std=gnu23 (bool/true/false keywords, `f()` means `f(void)`): build as
#   the C the fork was written in.
CFLAGS += "-std=gnu17 -Wno-error -Wno-error=implicit-function-declaration -Wno-error=implicit-int \
           -Wno-error=int-conversion -Wno-error=incompatible-pointer-types -Wno-error=return-mismatch"

EXTRA_OEMAKE = "ARCH=${LIBEVL_ARCH} UAPI=${UAPI_DIR} DESTDIR=${D} \
                libdir=${libdir} includedir=${includedir} bindir=${bindir} libexecdir=${libexecdir}"
# Only the library, its headers and the `evl` command: RROS has no latmus/hectic driver to
# benchmark with (docs/image.md), and the fork's tests and tidbits link statically.
LIBEVL_PARTS = "include lib utils"

do_configure() {
    # UAPI in the installed-headers layout the fork's include/Makefile accepts.
    rm -rf ${UAPI_DIR}
    mkdir -p ${UAPI_DIR}
    ln -s ${UNPACKDIR}/evl-uapi-abi26 ${UAPI_DIR}/evl
    ln -s ${STAGING_KERNEL_DIR}/include/uapi/asm-generic ${UAPI_DIR}/asm-generic
    ln -s ${STAGING_KERNEL_DIR}/arch/${LIBEVL_ARCH}/include/uapi/asm ${UAPI_DIR}/asm
    [ -f ${UAPI_DIR}/asm-generic/dovetail.h ] || \
        bbfatal "${STAGING_KERNEL_DIR} has no include/uapi/asm-generic/dovetail.h: virtual/kernel is not a Dovetail (RROS) kernel"

    prereq=$(rros_abi_number EVL_ABI_PREREQ ${S}/include/evl/evl.h)
    headers=$(rros_abi_number EVL_ABI_LEVEL ${UAPI_DIR}/evl/control.h)
    [ "$prereq" = "$headers" ] || \
        bbfatal "libevl needs EVL ABI '$prereq' but the uapi headers are of ABI '$headers': pin SRCREV_uapi to a tree of ABI $prereq"
    rros_check_abi "$prereq" \
        "$(rros_abi_number RROS_ABI_BASE ${STAGING_KERNEL_DIR}/kernel/rros/control.rs)" \
        "$(rros_abi_number RROS_ABI_LEVEL ${STAGING_KERNEL_DIR}/kernel/rros/control.rs)" \
        "kernel/rros/control.rs"
}

do_compile() {
    for part in ${LIBEVL_PARTS}; do
        oe_runmake -C ${S}/$part O=${B}/$part all
    done
}

do_install() {
    for part in ${LIBEVL_PARTS}; do
        oe_runmake -C ${S}/$part O=${B}/$part install
    done
    # The library links itself with -rpath=${libdir}, the default search path.
    chrpath -d ${D}${libdir}/libevl-*.so.*
}

COMPATIBLE_HOST = "aarch64.*-linux"

# Built against the board's own kernel headers.
PACKAGE_ARCH = "${MACHINE_ARCH}"

PACKAGES =+ "${PN}-tools"
FILES:${PN}-tools += "${bindir}/evl ${libexecdir}"

# Only the board with the RROS core can use it; it also keeps the choice of virtual/libevl unique.
# nooelint: oelint.task.noanonpython
python __anonymous() {
    if d.getVar('RROS_KERNEL_FLAVOUR') != 'rros':
        raise bb.parse.SkipRecipe('libevl-rros drives the RROS core only; this board runs "%s"' % d.getVar('RROS_KERNEL_FLAVOUR'))
}
