SUMMARY = "clang/LLVM 13.0.1 (prebuilt), the C toolchain pinned for the RROS kernel"
DESCRIPTION = "The LLVM project's own clang+llvm 13.0.1 release binaries. RROS builds with \
               LLVM=1 and its bindgen 0.56 needs a libclang older than 14; OE-Core's clang \
               is far newer. Installed in a private directory (see rros_toolchain.bbclass) \
               so it never shadows OE-Core's clang-native."
HOMEPAGE = "https://github.com/llvm/llvm-project/releases/tag/llvmorg-13.0.1"
BUGTRACKER = "https://github.com/llvm/llvm-project/issues"
SECTION = "devel"
CVE_PRODUCT = "llvm:clang llvm:llvm"
LICENSE = "Apache-2.0-with-LLVM-exception"
# The release tarball carries no licence file of its own.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0-with-LLVM-exception;md5=0bcd48c3bdfef0c9d9fd17726e4b7dab"

# The release is built per build-host architecture.
CLANG_RROS_HOST = "unsupported-build-host"
CLANG_RROS_HOST:x86-64 = "x86_64-linux-gnu-ubuntu-18.04"
CLANG_RROS_HOST:aarch64 = "aarch64-linux-gnu"
COMPATIBLE_HOST = "(x86_64|aarch64).*-linux"

# The checksum's name follows the build host; both are listed below.
# nooelint: oelint.vars.srcurichecksum
SRC_URI = "https://github.com/llvm/llvm-project/releases/download/llvmorg-${PV}/clang+llvm-${PV}-${CLANG_RROS_HOST}.tar.xz;name=${CLANG_RROS_HOST}"
# The sha256 of the two release files as recorded by many independent public projects, found
# with a code search: Bazel LLVM toolchain checksum tables (`_llvm_distributions`), CMake
# FetchContent URL_HASH lines, Dockerfiles and depends/ makefiles name the same two values.
SRC_URI[x86_64-linux-gnu-ubuntu-18.04.sha256sum] = "84a54c69781ad90615d1b0276a83ff87daaeded99fbc64457c350679df7b4ff0"
SRC_URI[aarch64-linux-gnu.sha256sum] = "15ff2db12683e69e552b6668f7ca49edaa01ce32cb1cbc8f8ed2e887ab291069"

S = "${UNPACKDIR}/clang+llvm-${PV}-${CLANG_RROS_HOST}"

inherit rros_toolchain
inherit_defer native

# Only what the kernel build and bindgen use: the LLVM=1 tools, libclang and clang's
# resource directory (builtin headers, found relative to libclang). The full tarball is
# several gigabytes of static libraries nothing here links against.
CLANG_RROS_TOOLS = "clang clang-13 ld.lld lld llvm-ar llvm-nm llvm-objcopy llvm-objdump \
                    llvm-readelf llvm-readobj llvm-strip llvm-config"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    dest=${D}${libdir}/${RROS_LLVM_SUBDIR}
    install -d $dest/bin $dest/lib
    for tool in ${CLANG_RROS_TOOLS}; do
        if [ ! -e ${S}/bin/$tool ]; then
            bbfatal "bin/$tool is missing from the clang+llvm ${PV} release tarball"
        fi
    done
    # Symlinks (clang -> clang-13, ld.lld -> lld, ...) and the resource directory tree must
    # arrive as they are; install(1) would dereference the links, so tar carries them over.
    tools=""
    for tool in ${CLANG_RROS_TOOLS}; do
        tools="$tools bin/$tool"
    done
    libclang=$(cd ${S} && ls lib/libclang.so*)
    tar -C ${S} -cf - $tools $libclang lib/clang | tar -C $dest -xf - --no-same-owner

    # The release binaries link against the build host's libtinfo.so.5 (ncurses ABI 5, with
    # Debian's symbol versions) and zlib. OE-Core's ncurses-native is ABI 5 too, but without
    # symbol versions, so it cannot stand in silently: every clang run would print a loader
    # warning, which the kernel's toolchain probes (scripts/as-version.sh reads clang's first
    # line of output) would take for the version. Fail here, with the fix, rather than deep
    # inside the kernel's Kconfig run. docs/kernel.md, "Host requirement".
    if ! $dest/bin/clang --version >/dev/null 2>&1; then
        $dest/bin/clang --version || true
        bbfatal "the prebuilt clang ${PV} does not run on this build host: it needs libtinfo.so.5 (ncurses ABI 5) and zlib. Debian 12: apt install libtinfo5; Ubuntu 22.04: apt install libtinfo5; Fedora/RHEL: dnf install ncurses-compat-libs. Ubuntu 24.04 and Debian 13 no longer ship it: build linux-rros boards in a Debian 12 container (docs/kernel.md, \"Host requirement\")"
    fi
}

# Prebuilt, already stripped release binaries: nothing to gain, and no reason to rewrite them.
INHIBIT_SYSROOT_STRIP = "1"
