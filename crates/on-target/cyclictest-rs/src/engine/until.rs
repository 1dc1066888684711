//! Ending a run on its own numbers ([`Until`]): a target of pooled samples reached, or a
//! latency above a limit seen. rros-validate's `--until-proven` is built on it.
//!
//! The main thread checks it every [`CHECK_EVERY`] from the running values the samplers
//! already publish for the progress display ([`Live`]), and ends the run by bringing the
//! shared end time forward ([`Shared::halt`]); the hot loop gains no branch of its own, only
//! the end time it already compared against now being read from memory.
//!
//! Why the check looks at nothing but the sample counts and the maximum: a run that stops
//! once `n` clean samples are in has, at every count it could have stopped at, seen nothing
//! but clean samples, so the chance of reaching `n` clean samples is `(1 − p)^n` whatever the
//! rule, and the zero-exceedance bound of `n` samples keeps its confidence. A rule that
//! looked at the latencies themselves (stop when the tail looks quiet) would not have that
//! property. The early end on an exceedance needs no such care: the run is a FAIL anyway.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::sampler::{SamplerEnd, Shared};
use crate::config::Until;
use crate::observer::Live;
use crate::report::EndReason;

/// How often the main thread checks an [`Until`]: at most this many ms of samples are taken
/// beyond the target (10 ms is 100 samples per CPU at 100 µs).
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(10);

/// Why the check ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Halt {
    /// The target of samples was reached without a latency above the limit.
    Target,
    /// A latency above the limit was seen.
    Exceeded,
}

impl From<Halt> for EndReason {
    fn from(h: Halt) -> EndReason {
        match h {
            Halt::Target => EndReason::Target,
            Halt::Exceeded => EndReason::Exceeded,
        }
    }
}

/// What `until` says of the samplers' running values: `None` to go on. Nothing ends before
/// every sampler has `per_cpu` samples (fewer, a measurement does not count); then an
/// exceedance wins: a target "reached" with a latency above the limit proves nothing.
pub(super) fn check(until: &Until, lives: &[Live]) -> Option<Halt> {
    let mut pooled = 0u64;
    let mut fewest = u64::MAX;
    let mut exceeded = false;
    for l in lives {
        let n = l.samples.load(Ordering::Relaxed);
        pooled = pooled.saturating_add(n);
        fewest = fewest.min(n);
        // `max` starts at i64::MIN: no sample, no exceedance.
        exceeded |= until
            .above_ns
            .is_some_and(|limit| l.max.load(Ordering::Relaxed) > limit);
    }
    if fewest < until.per_cpu {
        None
    } else if exceeded {
        Some(Halt::Exceeded)
    } else {
        (pooled >= until.samples).then_some(Halt::Target)
    }
}

/// Checks `shared`'s `until`, if it has one and the run was not ended yet; ends the run when
/// it says so.
pub(super) fn check_and_halt<B: crate::backend::Backend>(shared: &Shared<'_, B>) {
    let Some(until) = &shared.plan.stop.until else {
        return;
    };
    if shared.halted.get().is_none()
        && let Some(why) = check(until, &shared.lives)
    {
        shared.halt(why);
    }
}

/// How the run ended: a stop (token or signal) wins over the `until` check, which wins over
/// the duration, which wins over the loop count.
pub(super) fn end_reason(stopped: bool, halted: Option<Halt>, ends: &[SamplerEnd]) -> EndReason {
    if stopped || ends.contains(&SamplerEnd::Stopped) {
        EndReason::Stopped
    } else if let Some(h) = halted {
        h.into()
    } else if ends.contains(&SamplerEnd::Duration) {
        EndReason::Duration
    } else {
        EndReason::Loops
    }
}

#[cfg(test)]
mod tests {
    use super::super::execute::execute;
    use super::super::fake::Scripted;
    use super::super::plan::Plan;
    use super::*;
    use crate::config::{HistogramSpec, Policy, RunConfig};
    use crate::observer::StopToken;
    use crate::report::RunReport;

    /// 100 µs period, 100 µs limit; two samplers on CPU 0 (every test machine has one).
    fn config(until: Until, duration_ns: u64) -> RunConfig {
        RunConfig {
            cpus: vec![0, 0],
            policy: Policy::Other,
            priority: 0,
            interval_ns: 100_000,
            loops: None,
            duration_ns: Some(duration_ns),
            histogram: HistogramSpec {
                bucket_width_ns: 1000,
                buckets: 1000,
            },
            outliers: 4,
            mlock: false,
            pm_qos_us: None,
            until: Some(until),
            ..RunConfig::default()
        }
    }

    /// Runs the whole engine (threads, gate, main-thread check) on scripted clocks.
    fn run_scripted(config: &RunConfig, scripts: Vec<Vec<i64>>) -> RunReport {
        let plan = Plan::build(config).expect("a valid plan");
        execute(&plan, &Scripted { scripts }, &StopToken::new(), &mut ()).expect("a run")
    }

    const CLEAN: [i64; 3] = [1_000, 2_000, 3_000];
    const LIMIT: Option<i64> = Some(100_000);
    /// A year of fake time: a cap no scripted run reaches before the check ends it.
    const NO_CAP: u64 = crate::config::MAX_DURATION_NS;

    #[test]
    fn proven_ends_once_the_pooled_samples_are_in() {
        let until = Until {
            samples: 5_000,
            per_cpu: 1_000,
            above_ns: LIMIT,
        };
        let r = run_scripted(&config(until, NO_CAP), vec![CLEAN.to_vec(); 2]);
        assert_eq!(r.end_reason, EndReason::Target);
        assert!(r.overall.samples >= 5_000, "{}", r.overall.samples);
        assert!(r.cpus.iter().all(|c| c.stats.samples >= 1_000));
        assert_eq!(r.overall.max_ns, Some(3_000));
        // Far from the cap: a year of 100 µs periods is 3·10¹¹ samples per CPU.
        assert!(r.overall.samples < 1_000_000_000, "{}", r.overall.samples);
    }

    #[test]
    fn exceeded_ends_at_the_first_latency_above_the_limit() {
        let until = Until {
            samples: u64::MAX,
            per_cpu: 1_000,
            above_ns: LIMIT,
        };
        // Sampler 1's 500th wake-up is 250 µs late; it ends the run once both samplers
        // have their 1000.
        let mut late = vec![1_000; 499];
        late.push(250_000);
        let r = run_scripted(&config(until, NO_CAP), vec![CLEAN.to_vec(), late]);
        assert_eq!(r.end_reason, EndReason::Exceeded);
        assert_eq!(r.cpus[1].stats.max_ns, Some(250_000));
        assert_eq!(r.cpus[0].stats.max_ns, Some(3_000));
        assert!(r.cpus.iter().all(|c| c.stats.samples >= 1_000));
    }

    #[test]
    fn the_cap_ends_a_run_whose_target_is_not_reached() {
        let until = Until {
            samples: u64::MAX,
            per_cpu: 0,
            above_ns: LIMIT,
        };
        // 1 s of fake time at 100 µs: 10 000 periods per sampler.
        let r = run_scripted(&config(until, 1_000_000_000), vec![CLEAN.to_vec(); 2]);
        assert_eq!(r.end_reason, EndReason::Duration);
        for c in &r.cpus {
            // The fake clock starts at the sampler's first reading, a little after the
            // gate opened (the real start the end time is counted from; a loaded machine
            // may delay it by milliseconds).
            assert!(
                (5_000..=10_000).contains(&c.stats.samples),
                "{}",
                c.stats.samples
            );
        }
    }

    #[test]
    fn the_check_reads_counts_and_the_maximum_only() {
        let lives: Vec<Live> = (0..2).map(|_| Live::new()).collect();
        let until = Until {
            samples: 10,
            per_cpu: 4,
            above_ns: Some(50),
        };
        assert_eq!(check(&until, &lives), None, "no sample yet");
        lives[0].samples.store(8, Ordering::Relaxed);
        lives[1].samples.store(3, Ordering::Relaxed);
        lives[1].max.store(51, Ordering::Relaxed);
        assert_eq!(check(&until, &lives), None, "one CPU has 3 of its 4");
        lives[1].max.store(50, Ordering::Relaxed);
        lives[1].samples.store(4, Ordering::Relaxed);
        assert_eq!(check(&until, &lives), Some(Halt::Target));
        lives[1].max.store(51, Ordering::Relaxed);
        assert_eq!(check(&until, &lives), Some(Halt::Exceeded));
        let no_limit = Until {
            above_ns: None,
            ..until
        };
        assert_eq!(check(&no_limit, &lives), Some(Halt::Target));
    }

    #[test]
    fn a_stop_wins_then_the_check_then_the_duration() {
        let d = [SamplerEnd::Duration, SamplerEnd::Duration];
        assert_eq!(end_reason(true, Some(Halt::Target), &d), EndReason::Stopped);
        assert_eq!(end_reason(false, Some(Halt::Target), &d), EndReason::Target);
        assert_eq!(
            end_reason(false, Some(Halt::Exceeded), &d),
            EndReason::Exceeded
        );
        assert_eq!(end_reason(false, None, &d), EndReason::Duration);
        assert_eq!(
            end_reason(false, None, &[SamplerEnd::Loops]),
            EndReason::Loops
        );
    }
}
