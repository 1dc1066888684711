//! C types shared by the real FFI and its test stand-in.

use libc::{c_char, c_int};

/// `struct evl_version` (returned by value by `evl_get_version()`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EvlVersion {
    pub api_level: c_int,
    pub abi_level: c_int,
    pub version_string: *const c_char,
}

/// `EVL_CLONE_PRIVATE` (`0 << 16`): the element is not visible in /dev.
pub const EVL_CLONE_PRIVATE: c_int = 0;
