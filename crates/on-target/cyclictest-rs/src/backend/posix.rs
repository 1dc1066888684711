//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` + `clock_gettime(CLOCK_MONOTONIC)`.

use super::{Backend, BackendInfo, SampleClock, SleepError};
use crate::config::BackendKind;
use crate::error::Error;
use crate::sys;

/// The POSIX backend (any Linux; PREEMPT_RT or not).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Posix;

/// Its per-thread clock (stateless).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PosixClock;

impl SampleClock for PosixClock {
    #[inline(always)]
    fn now(&self) -> i64 {
        sys::clock_ns(libc::CLOCK_MONOTONIC)
    }

    #[inline(always)]
    fn sleep_until(&self, deadline_ns: i64) -> Result<(), SleepError> {
        sys::sleep_until_abs(libc::CLOCK_MONOTONIC, deadline_ns).map_err(SleepError)
    }
}

impl Backend for Posix {
    type Clock = PosixClock;

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Posix,
            timer: "clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)".into(),
            clock: "clock_gettime(CLOCK_MONOTONIC)".into(),
            clock_resolution_ns: sys::clock_resolution_ns(libc::CLOCK_MONOTONIC),
            clocksource: sys::current_clocksource(),
            core: None,
            libevl: None,
        }
    }

    fn attach(&self, _thread: usize, _cpu: usize) -> Result<PosixClock, Error> {
        Ok(PosixClock)
    }

    fn describe_sleep_error(&self, e: SleepError) -> String {
        format!("clock_nanosleep returned {}", libevl::errno_name(e.0))
    }
}
