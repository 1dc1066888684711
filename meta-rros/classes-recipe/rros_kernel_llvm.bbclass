# Build a kernel with LLVM=1 and the exact toolchain Rust-for-Linux v1 (RROS) was written
# for: clang/LLVM 13.0.1, rustc beta-2021-06-23 (1.54.0-beta.1) with rust-src, bindgen
# 0.56.0. These come from meta-rros's own native recipes, never from OE-Core's rust-native /
# clang-native / bindgen-cli-native: RFL v1 checks the exact rustc and uses unstable
# features that later compilers changed (docs/kernel.md).
#
# Inherit after `require recipes-kernel/linux/linux-yocto.inc` (or `inherit kernel`), so
# the KERNEL_* assignments below replace kernel-arch.bbclass's GCC defaults.

inherit rros_toolchain

RROS_KERNEL_TOOLCHAIN = "clang-rros-native rust-rros-native bindgen-rros-native"
DEPENDS += "${RROS_KERNEL_TOOLCHAIN}"

# do_kernel_configme runs before do_configure, so it must pull the toolchain into the
# recipe sysroot itself: Kconfig runs clang, ld.lld and rustc to decide CC_IS_CLANG,
# LD_IS_LLD, HAS_RUST and RUSTC_VERSION.
do_kernel_configme[depends] += "clang-rros-native:do_populate_sysroot rust-rros-native:do_populate_sysroot bindgen-rros-native:do_populate_sysroot"

# The kernel Makefile hard-codes CC = clang, LD = ld.lld, AR = llvm-ar ... under LLVM=1 and
# RUSTC = rustc, BINDGEN = bindgen: they are found through PATH. Exported, LLVM also reaches
# the `make` that merge_config.sh runs inside do_kernel_configme.
PATH:prepend = "${RROS_LLVM_DIR}/bin:${RROS_RUST_DIR}/bin:${RROS_BINDGEN_DIR}/bin:"
export LLVM = "1"

# bindgen 0.56 loads libclang at run time (clang-sys "runtime" feature): point it at the
# pinned one, never a host libclang.
export LIBCLANG_PATH = "${RROS_LLVM_DIR}/lib"

# kernel-arch.bbclass's defaults are GCC command lines (-fuse-ld=bfd, and DEBUG_PREFIX_MAP,
# which a distro may extend with GCC-only flags such as -fcanon-prefix-map). The kernel passes
# CC/LD/OBJCOPY on the make command line (EXTRA_OEMAKE), which overrides what LLVM=1 would
# pick, so name the LLVM tools here. linux-yocto.inc still appends ${TOOLCHAIN_OPTIONS}
# (--sysroot) on aarch64, which clang and ld.lld accept. KERNEL_STRIP stays the cross
# binutils strip: packaging uses it too.
# The source tree (S) lives in work-shared, outside WORKDIR: map it and the build tree for
# both debug info and __FILE__ (-ffile-prefix-map, which clang has had since 10), as
# kernel-arch.bbclass does for GCC, or do_package_qa's buildpaths check finds the paths.
RROS_KERNEL_PREFIX_MAP = "-ffile-prefix-map=${WORKDIR}=${TARGET_DBGSRC_DIR} \
                          -ffile-prefix-map=${STAGING_KERNEL_DIR}=${KERNEL_SRC_PATH} \
                          -ffile-prefix-map=${STAGING_KERNEL_BUILDDIR}=${KERNEL_SRC_PATH}"
KERNEL_CC = "clang ${RROS_KERNEL_PREFIX_MAP}"
KERNEL_LD = "ld.lld"
KERNEL_AR = "llvm-ar"
KERNEL_OBJCOPY = "llvm-objcopy"

# Flags for every rustc call of the kernel build:
# - rustc links the host proc-macro crate (rust/libmacros.so) with the linker named `cc` by
#   default, and `cc` is not among OE's HOSTTOOLS: use the host gcc, which is. -Clinker only
#   matters where rustc links.
# - Remap the build paths out of the Rust debug info and panic locations, as OE-Core's
#   kernel-yocto-rust.bbclass does (RUST_DEBUG_REMAP): WORKDIR (the toolchain's rust-src in the
#   recipe sysroot) and ${TMPDIR}/work-shared, where the kernel source (S) lives. Without the
#   second one do_package_qa stops on buildpaths.
# Mainline kernels read these from KRUSTFLAGS; the Rust-for-Linux v1 Makefile of the RROS 5.13
# tree has no KRUSTFLAGS and takes them as RUSTFLAGS_KERNEL (built-in code, rust/*, the
# proc-macro crate) and RUSTFLAGS_MODULE (=m code), the counterparts of CFLAGS_KERNEL and
# CFLAGS_MODULE (scripts/Makefile.lib, modkern_rustflags; rust/Makefile passes rust_flags to
# cmd_rustc_procmacro and cmd_rustc_library). Pass all three.
RROS_KERNEL_RUST_REMAP = "--remap-path-prefix=${WORKDIR}=${TARGET_DBGSRC_DIR} \
                          --remap-path-prefix=${TMPDIR}/work-shared=${TARGET_DBGSRC_DIR}"
KRUSTFLAGS ?= "-Clinker=${BUILD_PREFIX}gcc ${RROS_KERNEL_RUST_REMAP}"
EXTRA_OEMAKE:append = " KRUSTFLAGS='${KRUSTFLAGS}' RUSTFLAGS_KERNEL='${KRUSTFLAGS}' RUSTFLAGS_MODULE='${KRUSTFLAGS}'"

# Kconfig decides HAS_RUST with $(success,$(RUSTC) --version). make defines RUSTC, but the
# kernel-config audit of do_kernel_configcheck runs Kconfig from Python with the task's
# environment only, where RUSTC was unset: HAS_RUST, RUST and everything depending on it then
# looked unmet and the audit warned about options the real .config has. Exported, the name
# reaches it (PATH already leads to the pinned rustc); the kernel Makefile's own
# `RUSTC = rustc` wins over the environment inside make.
export RUSTC = "rustc"

# Under LLVM=1 the 5.13 Makefile sets HOSTCC = clang itself (LLVM=<prefix> and per-tool
# overrides came with 5.18), so the host programs (scripts/kconfig, fixdep, ...) would be built
# by the prebuilt clang 13. do_compile passes HOSTCC="${BUILD_CC}" on the make command line
# (kernel.bbclass), which wins; merge_config.sh in do_kernel_configme only sets it in the
# environment, which loses. Variable definitions in MAKEFLAGS count as command-line ones, for
# the make that merge_config.sh runs and every make below it.
do_kernel_configme:prepend() {
    rros_hostcc=$(echo "${BUILD_CC} ${BUILD_CFLAGS} ${BUILD_LDFLAGS}" | sed -e 's/^ *//' -e 's/ *$//' -e 's/  */\\ /g')
    export MAKEFLAGS="${MAKEFLAGS:+$MAKEFLAGS }HOSTCC=$rros_hostcc"
}

# The Rust build of this kernel generation does not work through ccache (OE-Core disables
# it for the same reason in kernel-yocto-rust.bbclass).
CCACHE_DISABLE ?= "1"

rros_kernel_llvm_check[doc] = "Refuse KERNEL_FEATURES 'rust': it would bring OE-Core's Rust toolchain into this kernel"
python rros_kernel_llvm_check() {
    if bb.utils.contains('KERNEL_FEATURES', 'rust', True, False, d):
        bb.fatal("%s builds its Rust code with meta-rros's pinned toolchain (rros_kernel_llvm); "
                 "remove 'rust' from KERNEL_FEATURES, which would pull OE-Core's rust-native, "
                 "clang-native and bindgen-cli-native instead" % d.getVar('PN'))
}
do_kernel_configme[prefuncs] += "rros_kernel_llvm_check"
