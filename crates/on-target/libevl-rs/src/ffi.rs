//! Hand-written declarations of the libevl calls this crate uses (libevl r27 ABI 26 headers:
//! `include/evl/evl.h`, `thread.h`, `clock.h`). Every call returns `0`/a file descriptor on
//! success and `-errno` on failure.

use libc::{c_char, c_int, timespec};

pub use crate::ffi_types::EvlVersion;

#[link(name = "evl")]
unsafe extern "C" {
    pub fn evl_init() -> c_int;
    pub fn evl_get_version() -> EvlVersion;
    /// Variadic in C (`fmt, ...`); `evl_attach_self()` is a macro over it.
    pub fn evl_attach_thread(flags: c_int, fmt: *const c_char, ...) -> c_int;
    pub fn evl_detach_self() -> c_int;
    pub fn evl_read_clock(clockfd: c_int, tp: *mut timespec) -> c_int;
    pub fn evl_sleep_until(clockfd: c_int, timeout: *const timespec) -> c_int;
}
