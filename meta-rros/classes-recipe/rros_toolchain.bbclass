# Where the pinned kernel toolchain of meta-rros lives in a native sysroot.
#
# The three native recipes (clang-rros-native, rust-rros-native, bindgen-rros-native) install
# into private directories below ${libdir}, not into ${bindir}: their clang, rustc and cargo
# must never shadow OE-Core's own clang-native / rust-native / cargo-native in a recipe
# sysroot that happens to hold both. Only the kernel class (rros_kernel_llvm) puts them on
# PATH, and only for the kernel that needs them.

RROS_TOOLCHAIN_SUBDIR = "rros-toolchain"
RROS_LLVM_SUBDIR = "${RROS_TOOLCHAIN_SUBDIR}/llvm"
RROS_RUST_SUBDIR = "${RROS_TOOLCHAIN_SUBDIR}/rust"
RROS_BINDGEN_SUBDIR = "${RROS_TOOLCHAIN_SUBDIR}/bindgen"

# As seen from a recipe that has the native recipes in its sysroot (DEPENDS).
RROS_LLVM_DIR = "${STAGING_LIBDIR_NATIVE}/${RROS_LLVM_SUBDIR}"
RROS_RUST_DIR = "${STAGING_LIBDIR_NATIVE}/${RROS_RUST_SUBDIR}"
RROS_BINDGEN_DIR = "${STAGING_LIBDIR_NATIVE}/${RROS_BINDGEN_SUBDIR}"
