//! Timer/clock backends behind one trait. The sampler loop is generic over [`Backend`], so
//! each backend's `now`/`sleep_until` are inlined into it (no dynamic dispatch per sample).

use serde::Serialize;

use crate::config::BackendKind;
use crate::error::Error;

#[cfg(feature = "evl")]
pub(crate) mod evl;
pub(crate) mod posix;

/// A failed sleep: the errno (EINTR is retried by the sampler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SleepError(pub i32);

/// The clock a sampler thread reads and sleeps on. Created on, and used by, that thread only.
pub(crate) trait SampleClock {
    /// Current time on the backend's monotonic clock, ns.
    fn now(&self) -> i64;
    /// Sleeps until the absolute time `deadline_ns` on that clock.
    fn sleep_until(&self, deadline_ns: i64) -> Result<(), SleepError>;
}

/// A timer/clock implementation.
pub(crate) trait Backend: Sync {
    /// The per-thread clock.
    type Clock: SampleClock;
    /// Describes the backend and its clock for the report.
    fn info(&self) -> BackendInfo;
    /// Prepares the calling sampler thread (already pinned and scheduled): e.g. attaches it
    /// to the out-of-band core. The returned clock is dropped on the same thread.
    fn attach(&self, thread: usize, cpu: usize) -> Result<Self::Clock, Error>;
    /// Text for a failed sleep.
    fn describe_sleep_error(&self, e: SleepError) -> String;
}

/// Which backend measured, and with which clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendInfo {
    /// `posix` / `evl`.
    pub kind: BackendKind,
    /// How the samplers sleep, e.g. `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`.
    pub timer: String,
    /// How they read the time.
    pub clock: String,
    /// `clock_getres` of that clock, ns.
    pub clock_resolution_ns: Option<i64>,
    /// The kernel clocksource (`/sys/devices/system/clocksource/clocksource0`).
    pub clocksource: Option<String>,
    /// evl: the core found (`rros` / `evl`).
    pub core: Option<String>,
    /// evl: libevl version string with API/ABI levels.
    pub libevl: Option<String>,
}
