SUMMARY = "Rust beta-2021-06-23 (1.54.0-beta.1) with rust-src, the compiler pinned for RROS"
DESCRIPTION = "The Rust project's own prebuilt rustc, cargo, host standard library and \
               library sources from the 2021-06-23 beta channel: the only compiler \
               Rust-for-Linux v1 as carried by RROS accepts (CONFIG_RUSTC_VERSION=15400). \
               The kernel builds core and alloc from rust-src itself. Installed in a private \
               directory (see rros_toolchain.bbclass) so it never shadows OE-Core's rust-native."
HOMEPAGE = "https://static.rust-lang.org/dist/2021-06-23/"
BUGTRACKER = "https://github.com/rust-lang/rust/issues"
SECTION = "devel"
CVE_PRODUCT = "rust-lang:rust rust-lang:cargo"
LICENSE = "MIT | Apache-2.0"
# The licence texts sit in the archives, but their checksums could not be taken offline.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302 \
                    file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

RUST_DIST_DATE = "2021-06-23"
RUST_CHANNEL = "beta"
RUST_DIST = "https://static.rust-lang.org/dist/${RUST_DIST_DATE}"

RUST_RROS_HOST = "unsupported-build-host"
RUST_RROS_HOST:x86-64 = "x86_64-unknown-linux-gnu"
RUST_RROS_HOST:aarch64 = "aarch64-unknown-linux-gnu"
COMPATIBLE_HOST = "(x86_64|aarch64).*-linux"

# rustc, cargo (builds bindgen-rros-native) and the host std (the kernel's proc-macro crate
# runs on the build host) per build-host architecture; rust-src is the same for every host.
# The dist file names carry no version: downloadfilename adds it, so DL_DIR cannot mix days.
RUST_COMPONENTS = "rustc-${RUST_CHANNEL}-${RUST_RROS_HOST} \
                   rust-std-${RUST_CHANNEL}-${RUST_RROS_HOST} \
                   cargo-${RUST_CHANNEL}-${RUST_RROS_HOST} \
                   rust-src-${RUST_CHANNEL}"

SRC_URI = "${RUST_DIST}/rustc-${RUST_CHANNEL}-${RUST_RROS_HOST}.tar.xz;name=rustc-${RUST_RROS_HOST};downloadfilename=rustc-${PV}-${RUST_DIST_DATE}-${RUST_RROS_HOST}.tar.xz \
           ${RUST_DIST}/rust-std-${RUST_CHANNEL}-${RUST_RROS_HOST}.tar.xz;name=rust-std-${RUST_RROS_HOST};downloadfilename=rust-std-${PV}-${RUST_DIST_DATE}-${RUST_RROS_HOST}.tar.xz \
           ${RUST_DIST}/cargo-${RUST_CHANNEL}-${RUST_RROS_HOST}.tar.xz;name=cargo-${RUST_RROS_HOST};downloadfilename=cargo-${PV}-${RUST_DIST_DATE}-${RUST_RROS_HOST}.tar.xz \
           ${RUST_DIST}/rust-src-${RUST_CHANNEL}.tar.xz;name=rust-src;downloadfilename=rust-src-${PV}-${RUST_DIST_DATE}.tar.xz \
           "
# sha256 of the .tar.xz archives, from the Rust channel manifest of that day as recorded by
# oxalica/rust-overlay (manifests/beta/2021/2021-06-23.nix, base64 converted to hex).
SRC_URI[rustc-x86_64-unknown-linux-gnu.sha256sum] = "64753cb50dcbd5e8ea9ba23d64234edf887a4b7a87391ccf7ff1a618d0fa5e5b"
SRC_URI[rust-std-x86_64-unknown-linux-gnu.sha256sum] = "48935729e5d2452a523c45f43608e9d9f518fd98dbdc78b3ea6bc5d8b36938fa"
SRC_URI[cargo-x86_64-unknown-linux-gnu.sha256sum] = "378f16c2f071222581eb7ec783db53b95eb5a4622d41dd04703c5c1be63e05c7"
SRC_URI[rustc-aarch64-unknown-linux-gnu.sha256sum] = "5b94c36a2fa58cbaf1763759ed62006dd9ef1070f863334f2cfbbccf7fb811ed"
SRC_URI[rust-std-aarch64-unknown-linux-gnu.sha256sum] = "c30901eb240666beeab418975209d748e69011b07e05283ed8a60c45ba317ed5"
SRC_URI[cargo-aarch64-unknown-linux-gnu.sha256sum] = "8c5b3f41611ab984ad5e24a35747a757cd2396884c0e77a6b49ac0ab84893f8d"
SRC_URI[rust-src.sha256sum] = "85a7130e7a10f06eaf210018d21a42a3283bf79ce899ceb68768b77c0f09b4c1"

S = "${UNPACKDIR}/rustc-${RUST_CHANNEL}-${RUST_RROS_HOST}"

inherit rros_toolchain
inherit_defer native

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    prefix=${D}${libdir}/${RROS_RUST_SUBDIR}
    for component in ${RUST_COMPONENTS}; do
        ${UNPACKDIR}/$component/install.sh --prefix=$prefix --disable-ldconfig
    done
    # The installer's bookkeeping records absolute paths of this work directory.
    rm -f $prefix/lib/rustlib/install.log $prefix/lib/rustlib/uninstall.sh

    version=$($prefix/bin/rustc --version)
    case "$version" in
        "rustc 1.54.0-beta.1 "*) ;;
        *) bbfatal "expected rustc 1.54.0-beta.1 from the ${RUST_DIST_DATE} beta, got: $version" ;;
    esac
    if [ ! -f $prefix/lib/rustlib/src/rust/library/core/src/lib.rs ]; then
        bbfatal "rust-src did not install library/core below lib/rustlib/src/rust"
    fi
}

INHIBIT_SYSROOT_STRIP = "1"
