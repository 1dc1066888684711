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

# kernel-arch.bbclass's defaults are GCC command lines (-fuse-ld=bfd, GCC-only prefix-map
# flags). The kernel passes CC/LD/OBJCOPY on the make command line (EXTRA_OEMAKE), which
# overrides what LLVM=1 would pick, so name the LLVM tools here. linux-yocto.inc still
# appends ${TOOLCHAIN_OPTIONS} (--sysroot) on aarch64, which clang and ld.lld accept.
# KERNEL_STRIP stays the cross binutils strip: packaging uses it too.
RROS_KERNEL_PREFIX_MAP = "-fdebug-prefix-map=${STAGING_KERNEL_DIR}=${KERNEL_SRC_PATH} \
                          -fdebug-prefix-map=${STAGING_KERNEL_BUILDDIR}=${KERNEL_SRC_PATH}"
KERNEL_CC = "clang ${RROS_KERNEL_PREFIX_MAP}"
KERNEL_LD = "ld.lld"
KERNEL_AR = "llvm-ar"
KERNEL_OBJCOPY = "llvm-objcopy"

# rustc links the host proc-macro crate (rust/libmacros.so) with the linker named `cc` by
# default, and `cc` is not among OE's HOSTTOOLS: use the host gcc, which is. KRUSTFLAGS is
# appended to every rustc call of the kernel build; -Clinker only matters where rustc links.
KRUSTFLAGS ?= "-Clinker=${BUILD_PREFIX}gcc --remap-path-prefix=${WORKDIR}=${TARGET_DBGSRC_DIR}"
EXTRA_OEMAKE:append = " KRUSTFLAGS='${KRUSTFLAGS}'"

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
