//! Tells the linker where libevl lives when the `evl` feature is on.
//!
//! The library itself is named by `#[link(name = "evl")]` in `src/ffi.rs`; this script only
//! adds a search path. `LIBEVL_LIB_DIR` (e.g. `${STAGING_LIBDIR}` in the Yocto recipe) wins;
//! otherwise the toolchain's default search path (the sysroot) is used. `cargo check` never
//! links, so neither needs libevl to be present.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBEVL_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_EVL").is_some()
        && let Some(dir) = std::env::var_os("LIBEVL_LIB_DIR")
    {
        println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
    }
}
