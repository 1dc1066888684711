//! Safe Rust over the few libevl calls meta-rros needs on an RROS or EVL dual kernel:
//! [`init`], [`attach_self`] / [`detach_self`], [`read_clock`], [`sleep_until`] and
//! [`version`]. These are the calls RROS implements (its `evl_new_timer()` is not: the
//! in-band clock ioctl is `unimplemented!()` in RROS, so timers are not wrapped here).
//!
//! The FFI sits behind the cargo feature `evl`, which links `libevl` (`-levl`; set
//! `LIBEVL_LIB_DIR` to add a search path, e.g. the Yocto sysroot). Without the feature the
//! same API exists and every call returns [`Error::Unsupported`], so dependants compile and
//! test anywhere. `cargo check --features evl` does not link and so needs no libevl either;
//! this crate's own unit tests replace libevl by a stand-in under `cfg(test)`.
//!
//! Known problem of the BUPT-OS libevl fork (branches `r27` and `r27_net`): `evl_init()`
//! never opens the clock devices, so `evl_sleep_until(EVL_CLOCK_MONOTONIC, …)` fails (the
//! clock fd stays `-ENXIO`). [`ClockDevice::open_monotonic`] opens the core's monotonic clock
//! element itself; sleeping on that descriptor works with every libevl.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

#[cfg(feature = "evl")]
mod ffi_types;

#[cfg(all(feature = "evl", not(test)))]
mod ffi;

#[cfg(all(feature = "evl", test))]
mod mock;
#[cfg(all(feature = "evl", test))]
use mock as ffi;

/// `true` when this build links libevl (feature `evl`).
pub const ENABLED: bool = cfg!(feature = "evl");

/// Where the monotonic clock element may live, most specific first: RROS names its elements
/// `rros/<type>/<name>` with the name `RROS_CLOCK_MONOTONIC_DEV`; EVL uses `evl/clock/monotonic`.
pub const MONOTONIC_CLOCK_DEVICES: [&str; 3] = [
    "/dev/rros/clock/RROS_CLOCK_MONOTONIC_DEV",
    "/dev/rros/clock/monotonic",
    "/dev/evl/clock/monotonic",
];

// Which core is running (RROS, EVL, PREEMPT_RT or none) is not this crate's question: it needs
// no libevl call, and `rros-rtcore` answers it for every on-target crate.

/// The clocks libevl knows by handle (`EVL_CLOCK_MONOTONIC`, `EVL_CLOCK_REALTIME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `EVL_CLOCK_MONOTONIC` (`-CLOCK_MONOTONIC`); reads go through the vDSO.
    Monotonic,
    /// `EVL_CLOCK_REALTIME` (`-CLOCK_REALTIME`).
    Realtime,
}

impl Clock {
    /// The libevl clock handle passed as `clockfd`.
    pub const fn handle(self) -> libc::c_int {
        match self {
            Clock::Monotonic => -libc::CLOCK_MONOTONIC,
            Clock::Realtime => -libc::CLOCK_REALTIME,
        }
    }
}

/// What `evl_get_version()` reports about the linked libevl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `__EVL__`, the libevl API level (18 on r27).
    pub api_level: i32,
    /// `EVL_ABI_PREREQ`, the core ABI libevl needs (26 on r27; the RROS core reports 23–26).
    pub abi_level: i32,
    /// e.g. `evl.0 -- <git hash>`.
    pub version_string: String,
}

/// Errors from libevl calls, with what to do about them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Built without the `evl` feature.
    #[error(
        "libevl call `{0}` unavailable: built without the `evl` feature (rebuild with \
         `--features evl` against libevl, as the Yocto recipe does)"
    )]
    Unsupported(&'static str),
    /// A libevl call returned `-errno`.
    #[error("{call} failed with {} ({errno}): {hint}", errno_name(*.errno))]
    Call {
        /// The libevl function.
        call: &'static str,
        /// The positive errno value.
        errno: i32,
        /// What to do about it.
        hint: &'static str,
    },
    /// A thread name with an interior NUL byte.
    #[error("invalid EVL thread name {0:?}: it must not contain NUL bytes")]
    InvalidName(String),
    /// A clock device exists but could not be opened.
    #[error("cannot open EVL clock device {path}: {message} (run as root)")]
    ClockDevice {
        /// The device path.
        path: String,
        /// The OS error text.
        message: String,
    },
}

impl Error {
    /// The errno of a failed call, if that is what this is.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Symbolic name of an errno value (the common ones), else `errno N`.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::ENXIO => "ENXIO",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSYS => "ENOSYS",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EAGAIN => "EAGAIN",
        _ => return format!("errno {errno}"),
    };
    name.to_string()
}

/// The advice for `errno` returned by libevl function `call`.
pub fn hint(call: &str, errno: i32) -> &'static str {
    match (call, errno) {
        (_, libc::ENOSYS) | (_, libc::ENOENT) => {
            "no EVL/RROS core in the running kernel: boot the dual kernel (RROS: CONFIG_Rros=y \
             with rros.init_state_arg=enabled; EVL: CONFIG_EVL=y) and check that \
             /dev/rros/control or /dev/evl/control exists"
        }
        (_, libc::ENOEXEC) | (_, libc::ENOTTY) => {
            "libevl and the kernel core disagree on the ABI: build libevl from the branch \
             matching the kernel (RROS: BUPT-OS/libevl r27, ABI 26; EVL: the libevl release \
             of the linux-evl tree)"
        }
        ("evl_init", libc::ENOMEM) | ("evl_attach_thread", libc::ENOMEM) => {
            "libevl's mlockall() failed: run as root or raise RLIMIT_MEMLOCK (ulimit -l)"
        }
        ("evl_init", libc::EPERM) | ("evl_attach_thread", libc::EPERM) | (_, libc::EACCES) => {
            "permission denied by the core: run as root (the core devices are root-only)"
        }
        ("evl_attach_thread", libc::EBUSY) => "this thread is already attached to the core",
        ("evl_attach_thread", libc::EINVAL) => {
            "the thread's CPU affinity must include an out-of-band CPU: pin it to a CPU of \
             rros.oobcpus_arg= (RROS) or evl.oobcpus= (EVL)"
        }
        ("evl_detach_self", libc::EPERM) => "this thread is not attached to the core",
        ("evl_sleep_until", libc::EPERM) => {
            "only threads attached to the core may sleep out-of-band: call attach_self() first"
        }
        ("evl_sleep_until", libc::EBADF) | ("evl_sleep_until", libc::ENXIO) => {
            "libevl has no clock descriptor (the BUPT-OS libevl fork never opens its clocks): \
             sleep on ClockDevice::open_monotonic() instead"
        }
        (_, libc::EINTR) => "interrupted: the thread was unblocked or received a signal",
        _ => "unexpected error from the core; see the libevl documentation of this call",
    }
}

/// Turns a libevl return value (`>= 0` ok, `-errno` error) into a `Result`.
pub fn check(call: &'static str, ret: libc::c_int) -> Result<libc::c_int, Error> {
    if ret >= 0 {
        Ok(ret)
    } else {
        let errno = ret.saturating_neg();
        Err(Error::Call {
            call,
            errno,
            hint: hint(call, errno),
        })
    }
}

/// Nanoseconds to a `timespec` (floor division, so negative values keep `0 <= tv_nsec < 1e9`).
pub fn ns_to_timespec(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: ns.rem_euclid(1_000_000_000) as libc::c_long,
    }
}

/// A `timespec` to nanoseconds (saturating at the `i64` range).
// `time_t` and `c_long` are `i32` on some 32-bit targets: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
pub fn timespec_to_ns(ts: &libc::timespec) -> i64 {
    (ts.tv_sec as i64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as i64)
}

/// `evl_init()`: binds the process to the core (also done by [`attach_self`]).
pub fn init() -> Result<(), Error> {
    #[cfg(feature = "evl")]
    {
        // SAFETY: no arguments; libevl runs its init once (pthread_once).
        check("evl_init", unsafe { ffi::evl_init() }).map(drop)
    }
    #[cfg(not(feature = "evl"))]
    {
        Err(Error::Unsupported("evl_init"))
    }
}

/// `evl_get_version()`: API/ABI levels of the linked libevl.
pub fn version() -> Result<Version, Error> {
    #[cfg(feature = "evl")]
    {
        // SAFETY: returns a struct by value; version_string is a static C string or NULL.
        let v = unsafe { ffi::evl_get_version() };
        let version_string = if v.version_string.is_null() {
            String::new()
        } else {
            // SAFETY: non-null, NUL-terminated, static in libevl.
            unsafe { std::ffi::CStr::from_ptr(v.version_string) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(Version {
            api_level: v.api_level,
            abi_level: v.abi_level,
            version_string,
        })
    }
    #[cfg(not(feature = "evl"))]
    {
        Err(Error::Unsupported("evl_get_version"))
    }
}

/// The calling thread, attached to the core. Not `Send`: attachment is per thread.
/// Dropping it detaches (errors ignored); use [`Attached::detach`] to see them.
#[derive(Debug)]
pub struct Attached {
    efd: RawFd,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Attached {
    /// The thread element's file descriptor returned by libevl.
    pub fn fd(&self) -> RawFd {
        self.efd
    }

    /// Detaches the thread from the core.
    pub fn detach(self) -> Result<(), Error> {
        std::mem::forget(self);
        detach_self()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = detach_self();
    }
}

/// `evl_attach_self(name)`: makes the calling thread an out-of-band thread of the core.
/// Set its CPU affinity (to an out-of-band CPU) and scheduling policy before calling this.
pub fn attach_self(name: &str) -> Result<Attached, Error> {
    let cname = std::ffi::CString::new(name).map_err(|_| Error::InvalidName(name.to_string()))?;
    #[cfg(feature = "evl")]
    {
        // SAFETY: "%s" consumes exactly one C string argument, which outlives the call.
        let ret = unsafe {
            ffi::evl_attach_thread(ffi_types::EVL_CLONE_PRIVATE, c"%s".as_ptr(), cname.as_ptr())
        };
        let efd = check("evl_attach_thread", ret)?;
        Ok(Attached {
            efd,
            _not_send: std::marker::PhantomData,
        })
    }
    #[cfg(not(feature = "evl"))]
    {
        drop(cname);
        Err(Error::Unsupported("evl_attach_thread"))
    }
}

/// `evl_detach_self()`.
pub fn detach_self() -> Result<(), Error> {
    #[cfg(feature = "evl")]
    {
        // SAFETY: no arguments.
        check("evl_detach_self", unsafe { ffi::evl_detach_self() }).map(drop)
    }
    #[cfg(not(feature = "evl"))]
    {
        Err(Error::Unsupported("evl_detach_self"))
    }
}

/// `evl_read_clock(clock)` in nanoseconds.
#[inline]
pub fn read_clock(clock: Clock) -> Result<i64, Error> {
    #[cfg(feature = "evl")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid, writable timespec.
        check("evl_read_clock", unsafe {
            ffi::evl_read_clock(clock.handle(), &mut ts)
        })?;
        Ok(timespec_to_ns(&ts))
    }
    #[cfg(not(feature = "evl"))]
    {
        let _ = clock;
        Err(Error::Unsupported("evl_read_clock"))
    }
}

/// `evl_sleep_until(clock, deadline)`: sleeps out-of-band until the absolute time
/// `deadline_ns`. The caller must be attached. See [`ClockDevice`] for the BUPT-OS fork.
#[inline]
pub fn sleep_until(clock: Clock, deadline_ns: i64) -> Result<(), Error> {
    sleep_on(clock.handle(), deadline_ns)
}

#[inline]
fn sleep_on(clockfd: libc::c_int, deadline_ns: i64) -> Result<(), Error> {
    #[cfg(feature = "evl")]
    {
        let ts = ns_to_timespec(deadline_ns);
        // SAFETY: ts is a valid timespec for the duration of the call.
        check("evl_sleep_until", unsafe {
            ffi::evl_sleep_until(clockfd, &ts)
        })
        .map(drop)
    }
    #[cfg(not(feature = "evl"))]
    {
        let _ = (clockfd, deadline_ns);
        Err(Error::Unsupported("evl_sleep_until"))
    }
}

/// An open clock element of the core (e.g. `/dev/rros/clock/RROS_CLOCK_MONOTONIC_DEV`),
/// usable as the `clockfd` of `evl_sleep_until()`.
#[derive(Debug)]
pub struct ClockDevice {
    file: File,
    path: PathBuf,
}

impl ClockDevice {
    /// Opens the first of [`MONOTONIC_CLOCK_DEVICES`] that exists; `Ok(None)` if none does.
    pub fn open_monotonic() -> Result<Option<ClockDevice>, Error> {
        Self::open_first(MONOTONIC_CLOCK_DEVICES.iter().map(Path::new))
    }

    /// Opens the first existing path of `candidates`.
    pub fn open_first<'a>(
        candidates: impl IntoIterator<Item = &'a Path>,
    ) -> Result<Option<ClockDevice>, Error> {
        for path in candidates {
            if !path.exists() {
                continue;
            }
            return OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map(|file| {
                    Some(ClockDevice {
                        file,
                        path: path.to_path_buf(),
                    })
                })
                .map_err(|e| Error::ClockDevice {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
        }
        Ok(None)
    }

    /// The device path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `evl_sleep_until(<this clock fd>, deadline)`.
    #[inline]
    pub fn sleep_until(&self, deadline_ns: i64) -> Result<(), Error> {
        sleep_on(self.file.as_raw_fd(), deadline_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_round_trip() {
        for ns in [
            0,
            1,
            999_999_999,
            1_000_000_000,
            1_234_567_890_123,
            -1,
            -1_000_000_001,
        ] {
            let ts = ns_to_timespec(ns);
            assert!(ts.tv_nsec >= 0 && ts.tv_nsec < 1_000_000_000, "{ns}");
            assert_eq!(timespec_to_ns(&ts), ns);
        }
        let ts = ns_to_timespec(1_500_000_000);
        assert!(ts.tv_sec == 1 && ts.tv_nsec == 500_000_000);
    }

    #[test]
    fn clock_handles_match_libevl() {
        // EVL_CLOCK_MONOTONIC = -CLOCK_MONOTONIC, EVL_CLOCK_REALTIME = -CLOCK_REALTIME.
        assert_eq!(Clock::Monotonic.handle(), -1);
        assert_eq!(Clock::Realtime.handle(), 0);
    }

    #[test]
    fn check_maps_negative_errno() {
        assert_eq!(check("evl_init", 0), Ok(0));
        assert_eq!(check("evl_attach_thread", 7), Ok(7));
        let e = check("evl_init", -libc::ENOSYS).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOSYS));
        let msg = e.to_string();
        assert!(msg.starts_with("evl_init failed with ENOSYS (38)"), "{msg}");
        assert!(msg.contains("boot the dual kernel"), "{msg}");
        let e = check("evl_attach_thread", -libc::EINVAL).unwrap_err();
        assert!(e.to_string().contains("rros.oobcpus_arg"), "{e}");
        let e = check("evl_sleep_until", -libc::EBADF).unwrap_err();
        assert!(e.to_string().contains("ClockDevice::open_monotonic"), "{e}");
        let e = check("evl_read_clock", -4242).unwrap_err();
        assert!(e.to_string().contains("errno 4242"), "{e}");
        // i32::MIN must not overflow.
        assert!(check("evl_init", i32::MIN).is_err());
    }

    #[test]
    fn invalid_name_is_rejected_before_any_call() {
        let e = attach_self("a\0b").unwrap_err();
        assert!(matches!(e, Error::InvalidName(_)), "{e}");
    }

    #[test]
    fn clock_device_open_first() {
        let dir = std::env::temp_dir().join(format!("libevl-rs-clk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing");
        let present = dir.join("monotonic");
        std::fs::write(&present, b"").unwrap();
        assert!(
            ClockDevice::open_first([missing.as_path()])
                .unwrap()
                .is_none()
        );
        let dev = ClockDevice::open_first([missing.as_path(), present.as_path()])
            .unwrap()
            .unwrap();
        assert_eq!(dev.path(), present);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(not(feature = "evl"))]
    #[test]
    fn without_the_feature_every_call_is_unsupported() {
        const { assert!(!ENABLED) };
        for e in [
            init().unwrap_err(),
            version().unwrap_err(),
            attach_self("x").unwrap_err(),
            detach_self().unwrap_err(),
            read_clock(Clock::Monotonic).unwrap_err(),
            sleep_until(Clock::Monotonic, 0).unwrap_err(),
        ] {
            assert!(matches!(e, Error::Unsupported(_)), "{e}");
            assert!(
                e.to_string().contains("built without the `evl` feature"),
                "{e}"
            );
        }
    }

    #[cfg(feature = "evl")]
    #[test]
    fn wrappers_over_the_stand_in() {
        const { assert!(ENABLED) };
        init().unwrap();
        let v = version().unwrap();
        assert_eq!((v.api_level, v.abi_level), (18, 26));
        assert_eq!(v.version_string, "evl.0 -- mock");

        let t0 = read_clock(Clock::Monotonic).unwrap();
        assert!(t0 > 0);
        // Not attached yet.
        assert_eq!(
            sleep_until(Clock::Monotonic, t0).unwrap_err().errno(),
            Some(libc::EPERM)
        );
        assert_eq!(detach_self().unwrap_err().errno(), Some(libc::EPERM));

        let me = attach_self("sampler-0").unwrap();
        assert_eq!(me.fd(), 42);
        assert_eq!(attach_self("again").unwrap_err().errno(), Some(libc::EBUSY));
        // Built-in handle: the fork's missing clock fd.
        let e = sleep_until(Clock::Monotonic, t0).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EBADF));
        let dir = std::env::temp_dir().join(format!("libevl-rs-dev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("monotonic");
        std::fs::write(&fake, b"").unwrap();
        let clock = ClockDevice::open_first([fake.as_path()]).unwrap().unwrap();
        let t1 = read_clock(Clock::Monotonic).unwrap();
        clock.sleep_until(t1 + 1_000_000).unwrap();
        assert!(read_clock(Clock::Monotonic).unwrap() >= t1 + 1_000_000);
        std::fs::remove_dir_all(&dir).unwrap();
        me.detach().unwrap();
        // Detached: dropping again must not double-detach.
        assert_eq!(detach_self().unwrap_err().errno(), Some(libc::EPERM));
        {
            let _scoped = attach_self("scoped").unwrap();
        }
        assert_eq!(detach_self().unwrap_err().errno(), Some(libc::EPERM));
    }
}
