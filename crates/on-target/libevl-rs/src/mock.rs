//! Stand-in for `ffi` in this crate's unit tests when the `evl` feature is on, so the safe
//! wrappers (errno mapping, conversions, attach bookkeeping) are tested without libevl.
//! It mimics libevl's return conventions (`-errno`), not its kernel behaviour.

use std::cell::Cell;

use libc::{c_char, c_int, timespec};

pub use crate::ffi_types::EvlVersion;

thread_local! {
    static ATTACHED: Cell<bool> = const { Cell::new(false) };
}

/// What `evl_init()` returns in this process (tests may change it).
pub static INIT_STATUS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

pub unsafe fn evl_init() -> c_int {
    INIT_STATUS.load(std::sync::atomic::Ordering::Relaxed)
}

pub unsafe fn evl_get_version() -> EvlVersion {
    EvlVersion {
        api_level: 18,
        abi_level: 26,
        version_string: c"evl.0 -- mock".as_ptr(),
    }
}

pub unsafe fn evl_attach_thread(flags: c_int, fmt: *const c_char, name: *const c_char) -> c_int {
    assert_eq!(flags, 0, "EVL_CLONE_PRIVATE expected");
    assert!(!fmt.is_null() && !name.is_null());
    // SAFETY: the caller passes NUL-terminated strings.
    let fmt = unsafe { std::ffi::CStr::from_ptr(fmt) };
    assert_eq!(fmt, c"%s", "the name must be passed through a %s format");
    let status = unsafe { evl_init() };
    if status < 0 {
        return status;
    }
    if ATTACHED.get() {
        return -libc::EBUSY;
    }
    ATTACHED.set(true);
    42
}

pub unsafe fn evl_detach_self() -> c_int {
    if !ATTACHED.get() {
        return -libc::EPERM;
    }
    ATTACHED.set(false);
    0
}

pub unsafe fn evl_read_clock(clockfd: c_int, tp: *mut timespec) -> c_int {
    let id = match clockfd {
        c if c == -libc::CLOCK_MONOTONIC => libc::CLOCK_MONOTONIC,
        c if c == -libc::CLOCK_REALTIME => libc::CLOCK_REALTIME,
        _ => return -libc::EBADF,
    };
    // SAFETY: tp points to a valid timespec.
    if unsafe { libc::clock_gettime(id, tp) } != 0 {
        return -libc::EINVAL;
    }
    0
}

pub unsafe fn evl_sleep_until(clockfd: c_int, timeout: *const timespec) -> c_int {
    if !ATTACHED.get() {
        return -libc::EPERM;
    }
    // Like libevl: the built-in clock handles map to libevl's own clock fds; these are not
    // attached in the BUPT-OS fork (-ENXIO), which ends up as EBADF from the ioctl.
    if clockfd < 0 {
        return -libc::EBADF;
    }
    // SAFETY: timeout points to a valid timespec.
    let ret = unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            timeout,
            std::ptr::null_mut(),
        )
    };
    -ret
}
