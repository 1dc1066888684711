//! The engine's fake clock and backend, for tests: time advances by script, not by sleeping,
//! so a test decides exactly which latencies the samplers see and how much (fake) time passes.

use std::cell::Cell;

use crate::backend::{Backend, BackendInfo, SampleClock, SleepError};
use crate::config::BackendKind;
use crate::error::Error;
use crate::sys;

/// A scripted clock: each sleep "wakes" at its deadline plus the next scripted latency (the
/// script repeats), at once.
pub(crate) struct Script {
    /// `None` until the first `now()`, which starts it at the real monotonic time (so that a
    /// run's duration, measured from the real start, is fake time after it).
    now: Cell<Option<i64>>,
    lat: Vec<i64>,
    i: Cell<usize>,
}

impl Script {
    /// A clock at 0 that wakes `lat[i]` ns late on its i-th sleep.
    pub(crate) fn new(lat: Vec<i64>) -> Script {
        Script {
            now: Cell::new(Some(0)),
            lat,
            i: Cell::new(0),
        }
    }

    /// The same, starting at the real monotonic time of its first reading.
    pub(crate) fn from_real_start(lat: Vec<i64>) -> Script {
        Script {
            now: Cell::new(None),
            ..Script::new(lat)
        }
    }
}

impl SampleClock for Script {
    fn now(&self) -> i64 {
        match self.now.get() {
            Some(t) => t,
            None => {
                let t = sys::clock_ns(libc::CLOCK_MONOTONIC);
                self.now.set(Some(t));
                t
            }
        }
    }

    fn sleep_until(&self, deadline: i64) -> Result<(), SleepError> {
        let l = self.lat[self.i.get() % self.lat.len()];
        self.i.set(self.i.get() + 1);
        self.now.set(Some(deadline.max(self.now()) + l));
        Ok(())
    }
}

/// A backend whose sampler `t` gets a [`Script::from_real_start`] clock of `scripts[t]`.
pub(crate) struct Scripted {
    pub(crate) scripts: Vec<Vec<i64>>,
}

impl Backend for Scripted {
    type Clock = Script;

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Posix,
            timer: "scripted (test)".into(),
            clock: "scripted (test)".into(),
            clock_resolution_ns: None,
            clocksource: None,
            core: None,
            libevl: None,
        }
    }

    fn attach(&self, thread: usize, _cpu: usize) -> Result<Script, Error> {
        Ok(Script::from_real_start(self.scripts[thread].clone()))
    }

    fn describe_sleep_error(&self, e: SleepError) -> String {
        format!("scripted sleep failed: {}", e.0)
    }
}
