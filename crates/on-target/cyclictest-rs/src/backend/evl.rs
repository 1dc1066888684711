//! libevl: the sampler attaches to the out-of-band core (`evl_attach_self`), sleeps with
//! `evl_sleep_until` and reads `evl_read_clock(EVL_CLOCK_MONOTONIC)` (vDSO). These are the
//! calls RROS implements; `evl_new_timer` is not (RROS's in-band clock ioctl is
//! `unimplemented!()`), so no EVL timer is used.
//!
//! The BUPT-OS libevl fork never opens its clock descriptors in `evl_init()`, so the sleep
//! goes to the core's monotonic clock element opened here ([`libevl::ClockDevice`]) when it
//! exists, and to libevl's built-in `EVL_CLOCK_MONOTONIC` handle otherwise.

use std::sync::Arc;

use libevl::{Attached, Clock, ClockDevice};

use super::{Backend, BackendInfo, SampleClock, SleepError};
use crate::config::BackendKind;
use crate::error::Error;
use crate::sys;

/// The EVL/RROS backend.
#[derive(Debug)]
pub(crate) struct Evl {
    /// What binding the process to the core gave: the clock element, or why it failed. A
    /// failure is reported by [`Backend::attach`], which knows the sampler thread and its CPU
    /// (before any thread exists there is neither to name).
    setup: Result<Option<Arc<ClockDevice>>, libevl::Error>,
    core: Option<String>,
    version: Option<String>,
}

impl Evl {
    /// Binds the process to the core (`evl_init`) and opens its monotonic clock element. Never
    /// fails by itself: an error is kept and returned by the first [`Backend::attach`], with the
    /// real sampler thread and CPU in it.
    pub(crate) fn new() -> Result<Evl, Error> {
        let setup = libevl::init()
            .and_then(|()| ClockDevice::open_monotonic())
            .map(|device| device.map(Arc::new));
        let version = libevl::version().ok().map(|v| {
            format!(
                "{} (API {}, ABI {})",
                v.version_string, v.api_level, v.abi_level
            )
        });
        let core = rros_rtcore::detect()
            .ok()
            .map(|found| found.core)
            .filter(|core| core.serves_libevl())
            .map(|core| core.as_str().to_owned());
        Ok(Evl {
            setup,
            core,
            version,
        })
    }
}

/// A sampler thread attached to the core.
#[derive(Debug)]
pub(crate) struct EvlClock {
    device: Option<Arc<ClockDevice>>,
    _attached: Attached,
}

impl SampleClock for EvlClock {
    #[inline(always)]
    fn now(&self) -> i64 {
        // evl_read_clock(EVL_CLOCK_MONOTONIC) is the vDSO's CLOCK_MONOTONIC; it cannot fail
        // with the built-in handle, but fall back to the same clock rather than lose a sample.
        libevl::read_clock(Clock::Monotonic)
            .unwrap_or_else(|_| sys::clock_ns(libc::CLOCK_MONOTONIC))
    }

    #[inline(always)]
    fn sleep_until(&self, deadline_ns: i64) -> Result<(), SleepError> {
        let r = match &self.device {
            Some(d) => d.sleep_until(deadline_ns),
            None => libevl::sleep_until(Clock::Monotonic, deadline_ns),
        };
        r.map_err(|e| SleepError(e.errno().unwrap_or(libc::EIO)))
    }
}

impl Backend for Evl {
    type Clock = EvlClock;

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Evl,
            timer: match &self.setup {
                Ok(Some(d)) => format!("evl_sleep_until({})", d.path().display()),
                _ => "evl_sleep_until(EVL_CLOCK_MONOTONIC)".into(),
            },
            clock: "evl_read_clock(EVL_CLOCK_MONOTONIC)".into(),
            clock_resolution_ns: sys::clock_resolution_ns(libc::CLOCK_MONOTONIC),
            clocksource: sys::current_clocksource(),
            core: self.core.clone(),
            libevl: self.version.clone(),
        }
    }

    fn attach(&self, thread: usize, cpu: usize) -> Result<EvlClock, Error> {
        let wrap = |error| Error::Evl { thread, cpu, error };
        let device = self.setup.clone().map_err(wrap)?;
        let attached =
            libevl::attach_self(&format!("cyclictest-rs:{}:{thread}", std::process::id()))
                .map_err(wrap)?;
        Ok(EvlClock {
            device,
            _attached: attached,
        })
    }

    fn describe_sleep_error(&self, e: SleepError) -> String {
        format!(
            "evl_sleep_until returned {}: {}",
            libevl::errno_name(e.0),
            libevl::hint("evl_sleep_until", e.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a kernel without an EVL core `evl_init` fails: the error names the sampler thread
    /// and CPU it happened on, and says it once.
    #[test]
    fn setup_failure_names_thread_and_cpu_once() {
        if rros_rtcore::detect().is_ok_and(|found| found.core.serves_libevl()) {
            return; // a real core: evl_init succeeds, nothing to check here
        }
        let evl = Evl::new().expect("setup errors are kept for attach");
        let err = evl.attach(3, 1).expect_err("evl_init cannot succeed here");
        let text = err.to_string();
        assert!(text.contains("sampler thread 3 (CPU 1)"), "{text}");
        assert!(!text.contains(&usize::MAX.to_string()), "{text}");
        assert_eq!(text.matches("evl_init").count(), 1, "{text}");
        assert!(
            std::error::Error::source(&err).is_none(),
            "the libevl error is in the message; as a source it would be printed twice"
        );
    }
}
