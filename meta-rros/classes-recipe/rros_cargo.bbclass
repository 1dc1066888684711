# Build packages of the meta-rros Cargo workspace with either Rust toolchain:
#
#   RROS_RUST_TOOLCHAIN = "oe-core"        OE-Core's rust and cargo (class cargo). The default.
#   RROS_RUST_TOOLCHAIN = "meta-rust-bin"  meta-rust-bin's prebuilt toolchain (class cargo_bin),
#                                          selected by the overlay kas/meta-rust-bin.yml.
#
# Either way the same packages are built with the same features, offline: the crates are the
# crate:// URLs of the recipe's -crates.inc, fetched and checksummed by BitBake in do_fetch, and
# cargo runs with --frozen against Cargo.lock. A recipe sets:
#
#   RROS_CARGO_PACKAGES   the workspace packages to build (cargo --package)
#   RROS_CARGO_FEATURES   their features, in `package/feature` form (cargo --features)

RROS_RUST_TOOLCHAIN ??= "oe-core"
RROS_CARGO_PACKAGES ??= ""
RROS_CARGO_FEATURES ??= ""

def rros_cargo_classes(d):
    toolchain = d.getVar('RROS_RUST_TOOLCHAIN')
    classes = {'oe-core': 'cargo cargo-update-recipe-crates', 'meta-rust-bin': 'cargo_bin'}
    if toolchain not in classes:
        bb.fatal('RROS_RUST_TOOLCHAIN is "%s"; it must be "oe-core" (the default) or "meta-rust-bin" '
                 '(add the layer with kas/meta-rust-bin.yml)' % toolchain)
    return classes[toolchain]

inherit_defer ${@rros_cargo_classes(d)}

RROS_CARGO_PACKAGE_ARGS = "${@' '.join('--package ' + p for p in d.getVar('RROS_CARGO_PACKAGES').split())}"
RROS_CARGO_FEATURE_ARGS = "${@' '.join('--features ' + f for f in d.getVar('RROS_CARGO_FEATURES').split())}"

# OE-Core's class: its CARGO_BUILD_FLAGS already carry --frozen, the target and --release.
def rros_cargo_oecore_args(d):
    if d.getVar('RROS_RUST_TOOLCHAIN') != 'oe-core':
        return ''
    return '%s %s' % (d.getVar('RROS_CARGO_PACKAGE_ARGS'), d.getVar('RROS_CARGO_FEATURE_ARGS'))

CARGO_BUILD_FLAGS:append = " ${@rros_cargo_oecore_args(d)}"

# meta-rust-bin's class owns CARGO_BUILD_FLAGS and takes these two instead. Unused by OE-Core's.
EXTRA_CARGO_FLAGS = "--frozen ${RROS_CARGO_PACKAGE_ARGS}"
CARGO_FEATURES = "${RROS_CARGO_FEATURES}"

# cargo_bin lets cargo download the crates in do_compile (its README asks recipes for
# do_compile[network] = "1"). Point cargo at the crates BitBake already fetched and unpacked
# (the crate fetcher puts them in ${UNPACKDIR}/cargo_home/bitbake with their checksums), so the
# build stays offline and reproducible with either toolchain.
rros_cargo_bin_vendor[doc] = "Points cargo (meta-rust-bin) at the crates BitBake fetched"
rros_cargo_bin_vendor() {
    printf '%s\n' \
        "# Written by meta-rros's rros_cargo.bbclass: build only from the crates BitBake fetched." \
        '[source.crates-io]' \
        'replace-with = "bitbake"' \
        '' \
        '[source.bitbake]' \
        'directory = "${UNPACKDIR}/cargo_home/bitbake"' \
        > "${CARGO_HOME}/config.toml"
}
do_configure[postfuncs] += "${@'rros_cargo_bin_vendor' if d.getVar('RROS_RUST_TOOLCHAIN') == 'meta-rust-bin' else ''}"
