SUMMARY = "bindgen 0.56.0, the C-to-Rust binding generator pinned for the RROS kernel"
DESCRIPTION = "RROS's Rust-for-Linux v1 generates its kernel bindings with bindgen 0.56 \
               (its documentation: `cargo install --locked --version 0.56.0 bindgen`). Built \
               from the crates.io release with the Cargo.lock it ships, by the pinned \
               beta-2021-06-23 cargo and rustc."
HOMEPAGE = "https://github.com/rust-lang/rust-bindgen"
BUGTRACKER = "https://github.com/rust-lang/rust-bindgen/issues"
SECTION = "devel"
CVE_PRODUCT = "rust-lang:rust-bindgen"
LICENSE = "BSD-3-Clause"
LIC_FILES_CHKSUM = "file://LICENSE;md5=0b9a98cb3dcdefcceb145324693fda9b"

# Which cargo builds it: the pinned beta-2021-06-23 one from rust-rros-native, not OE-Core's
# cargo class. The Cargo.lock inside bindgen-0.56.0.crate dates from 2020 and is exactly what
# RROS's instructions build (cargo install --locked); the 2021 toolchain is the one those
# crate versions were tested with, and the binary bindgen produces does not depend on the
# rustc that built it. OE-Core's cargo class would bring rust 1.94 and its target machinery.
DEPENDS += "rust-rros-native"

# The crates.io archive of bindgen itself; its dependencies are crate:// URLs in the .inc,
# which BitBake unpacks into ${CARGO_HOME}/bitbake as a vendored cargo source.
SRC_URI = "https://static.crates.io/crates/bindgen/bindgen-${PV}.crate;downloadfilename=bindgen-${PV}.tar.gz"
SRC_URI[sha256sum] = "2da379dbebc0b76ef63ca68d8fc6e71c0f13e59432e0987e508c1820e6ab5239"
require ${BPN}-crates.inc

S = "${UNPACKDIR}/bindgen-${PV}"
B = "${WORKDIR}/build"

inherit rros_toolchain
inherit_defer native

export CARGO_HOME = "${UNPACKDIR}/cargo_home"
export RUSTC = "${RROS_RUST_DIR}/bin/rustc"
# Everything here runs on the build host; rustc's default linker `cc` is not a HOSTTOOL.
export RUSTFLAGS = "-Clinker=${BUILD_PREFIX}gcc"

do_configure() {
    mkdir -p ${CARGO_HOME}/bitbake
    # Resolve every crate from the vendored directory, never from the network.
    printf '%s\n' \
        '[source.crates-io]' \
        'replace-with = "bitbake"' \
        '' \
        '[source.bitbake]' \
        'directory = "${CARGO_HOME}/bitbake"' \
        > ${CARGO_HOME}/config.toml
}

do_compile() {
    ${RROS_RUST_DIR}/bin/cargo build --frozen --release --bin bindgen \
        --manifest-path ${S}/Cargo.toml --target-dir ${B}/target
}

do_install() {
    install -D -m 0755 ${B}/target/release/bindgen ${D}${libdir}/${RROS_BINDGEN_SUBDIR}/bin/bindgen
}
