//! The run's plan: everything decided and checked before a thread starts or a resource is
//! held (the configuration's own bounds, the CPUs against the system, the backend, one
//! sampler per CPU, and the stop conditions in the units the hot loop uses).

use crate::config::{BackendKind, RunConfig, Until};
use crate::cpuset::format_cpulist;
use crate::error::Error;
use crate::sys;

/// One sampler thread to start: its index (the report's `thread`) and its CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SamplerPlan {
    pub(crate) thread: usize,
    pub(crate) cpu: usize,
}

/// When every sampler stops, converted once here so that the sampler only copies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StopRule {
    /// The period, ns. Kept unsigned: the sampler converts it at the hot loop's call, where
    /// the compiler sees that it is not negative (no division-overflow check in the loop).
    pub(crate) interval_ns: u64,
    /// Samples + missed periods per sampler (`u64::MAX`: unbounded).
    pub(crate) loops: u64,
    /// How long after the start, ns (the end time is set when the gate opens).
    pub(crate) duration_ns: Option<i64>,
    /// Ends the run on its own numbers: checked by the main thread ([`super::until`]),
    /// which then brings the shared end time forward; the samplers never look at it.
    pub(crate) until: Option<Until>,
}

impl StopRule {
    /// The end time on the backend clock for a run started at `start_clock`: never wrapped,
    /// `i64::MAX` when the run is not bounded by time.
    pub(crate) fn end_at(&self, start_clock: i64) -> i64 {
        self.duration_ns
            .and_then(|d| start_clock.checked_add(d))
            .unwrap_or(i64::MAX)
    }
}

/// A checked run: built by [`Plan::build`], carried out by `execute`.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) config: &'a RunConfig,
    pub(crate) backend: BackendKind,
    pub(crate) samplers: Vec<SamplerPlan>,
    pub(crate) stop: StopRule,
}

impl<'a> Plan<'a> {
    /// Checks `config` (its bounds, then its CPUs against this system, then that its backend
    /// is built in) and lays out the samplers. Nothing is held or started yet.
    pub(crate) fn build(config: &'a RunConfig) -> Result<Plan<'a>, Error> {
        config.validate()?;
        check_cpus(&config.cpus, config.main_affinity.as_deref())?;
        check_backend(config.backend)?;
        Ok(Plan {
            config,
            backend: config.backend,
            samplers: samplers_of(&config.cpus),
            stop: stop_rule_of(config),
        })
    }

    /// The number of sampler threads.
    pub(crate) fn threads(&self) -> usize {
        self.samplers.len()
    }
}

fn samplers_of(cpus: &[usize]) -> Vec<SamplerPlan> {
    cpus.iter()
        .enumerate()
        .map(|(thread, &cpu)| SamplerPlan { thread, cpu })
        .collect()
}

fn stop_rule_of(config: &RunConfig) -> StopRule {
    StopRule {
        interval_ns: config.interval_ns,
        loops: config.loops.unwrap_or(u64::MAX),
        // validate() bounds it to a year; checked all the same, never wrapped.
        duration_ns: config
            .duration_ns
            .map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
        until: config.until,
    }
}

/// The backend must be built in: `evl` needs the `evl` feature.
fn check_backend(kind: BackendKind) -> Result<(), Error> {
    match kind {
        BackendKind::Posix => Ok(()),
        BackendKind::Evl if cfg!(feature = "evl") => Ok(()),
        BackendKind::Evl => Err(Error::BackendUnavailable),
    }
}

/// Checks that every CPU exists and is online.
///
/// The calling thread's affinity mask is deliberately *not* a limit: `isolcpus=` takes the
/// isolated CPUs out of every task's default mask, yet pinning a thread onto them is exactly
/// how real-time work gets there. What the kernel really enforces is the cgroup cpuset, and
/// the sampler's own `sched_setaffinity` reports that ([`Error::Affinity`]).
pub fn check_cpus(cpus: &[usize], main: Option<&[usize]>) -> Result<(), Error> {
    let online = sys::online_cpus();
    let possible = sys::cpus_configured();
    let all: Vec<usize> = cpus.iter().chain(main.unwrap_or(&[])).copied().collect();
    check_cpus_against(&all, possible, &online)
}

/// [`check_cpus`] against a given CPU count and online set.
pub(crate) fn check_cpus_against(
    cpus: &[usize],
    possible: usize,
    online: &[usize],
) -> Result<(), Error> {
    let possible = possible
        .max(online.iter().max().map_or(0, |m| m + 1))
        .max(1);
    for &cpu in cpus {
        if cpu >= possible {
            return Err(Error::CpuOutOfRange {
                cpu,
                possible: format!("0-{}", possible - 1),
                online: format_cpulist(online),
            });
        }
        if !online.contains(&cpu) {
            return Err(Error::CpuOffline {
                cpu,
                online: format_cpulist(online),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_checks_name_the_problem() {
        let e = |cpus: &[usize]| {
            check_cpus_against(cpus, 4, &[0, 1, 3])
                .unwrap_err()
                .to_string()
        };
        assert!(check_cpus_against(&[0, 1, 1], 4, &[0, 1, 3]).is_ok());
        let m = e(&[8]);
        assert!(
            m.contains("CPU 8 does not exist") && m.contains("0-3") && m.contains("0-1,3"),
            "{m}"
        );
        let m = e(&[2]);
        assert!(
            m.contains("CPU 2 is offline") && m.contains("cpu2/online"),
            "{m}"
        );
        assert!(check_cpus_against(&[3], 4, &[0, 1, 3]).is_ok());
    }

    #[test]
    fn stop_rule_in_the_hot_loop_units() {
        let config = RunConfig {
            cpus: vec![0],
            interval_ns: 200_000,
            loops: None,
            duration_ns: Some(5_000_000_000),
            ..Default::default()
        };
        let rule = stop_rule_of(&config);
        assert_eq!(
            rule,
            StopRule {
                interval_ns: 200_000,
                loops: u64::MAX,
                duration_ns: Some(5_000_000_000),
                until: None,
            }
        );
        assert_eq!(rule.end_at(1_000), 5_000_001_000);
        assert_eq!(rule.end_at(i64::MAX - 1), i64::MAX, "never wraps");
        let loops = stop_rule_of(&RunConfig {
            loops: Some(10),
            duration_ns: None,
            ..config
        });
        assert_eq!((loops.loops, loops.end_at(0)), (10, i64::MAX));
    }

    #[test]
    fn one_sampler_per_cpu_in_order() {
        assert_eq!(
            samplers_of(&[3, 1]),
            [
                SamplerPlan { thread: 0, cpu: 3 },
                SamplerPlan { thread: 1, cpu: 1 }
            ]
        );
    }

    #[test]
    fn a_bad_plan_is_refused_before_anything_runs() {
        let no_cpus = RunConfig {
            cpus: vec![],
            ..Default::default()
        };
        assert!(matches!(Plan::build(&no_cpus), Err(Error::NoCpus)));
        let absent = RunConfig {
            cpus: vec![100_000],
            ..Default::default()
        };
        assert!(matches!(
            Plan::build(&absent),
            Err(Error::CpuOutOfRange { cpu: 100_000, .. })
        ));
        let evl = RunConfig {
            cpus: vec![0],
            backend: BackendKind::Evl,
            ..Default::default()
        };
        assert_eq!(
            matches!(Plan::build(&evl), Err(Error::BackendUnavailable)),
            !cfg!(feature = "evl")
        );
    }
}
