//! `rros-validate settle`: wait until the board is quiet, then return, so the boot-time run
//! measures the board and not the tail of its boot.
//!
//! Why not a fixed sleep: the late-boot burst (first-boot jobs, udev, timers, an emulator's
//! slow start) lasts a second on one board and most of a minute on another, so any fixed
//! time is too short for one and wasted on the other. What the wait is *for* can be measured
//! directly: every CPU's busy share in `/proc/stat`. The board is settled when, for
//! `quiet_for` in a row, no CPU was busier than `busy_below` in any one-second window. The
//! wait never exceeds `max`; a board still busy then is measured anyway (as a fixed sleep
//! would have done) and the journal line says so, with the busiest CPU. It never fails the
//! unit: a board that cannot settle is a finding for the run's cause analysis, not a reason
//! to skip measuring.
//!
//! The decision ([`Settler`]) is pure and fed one window at a time; [`settle`] is the loop
//! that reads `/proc/stat` and sleeps.

use rros_cause::sources::{CpuUse, parse_stat_use};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How quiet is quiet, and how long to wait at most.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// A window is quiet when every CPU's busy share in it is below this (0..=1).
    pub busy_below: f64,
    /// How long in a row the windows must be quiet.
    pub quiet_for: Duration,
    /// The wait never exceeds this.
    pub max: Duration,
    /// One measurement window.
    pub window: Duration,
}

/// The busiest CPU of one window and its busy share (0..=1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Busiest {
    pub cpu: u32,
    pub share: f64,
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Quiet for `rule.quiet_for` in a row, after `after` in all.
    Settled { after: Duration, busiest: Busiest },
    /// Still busy when `rule.max` ran out; `busiest` is the last window's.
    StillBusy { after: Duration, busiest: Busiest },
    /// `/proc/stat` could not be read or showed no CPU: the whole `max` was slept instead.
    Blind { after: Duration, why: String },
}

/// The pure decision: fed each window's busiest CPU, says when the wait is over.
#[derive(Debug)]
pub struct Settler {
    rule: Rule,
    elapsed: Duration,
    quiet_run: Duration,
}

impl Settler {
    pub fn new(rule: Rule) -> Settler {
        Settler {
            rule,
            elapsed: Duration::ZERO,
            quiet_run: Duration::ZERO,
        }
    }

    /// One more window of length `took` whose busiest CPU was `busiest`: `Some` ends the wait.
    pub fn observe(&mut self, busiest: Busiest, took: Duration) -> Option<Outcome> {
        self.elapsed += took;
        if busiest.share < self.rule.busy_below {
            self.quiet_run += took;
        } else {
            self.quiet_run = Duration::ZERO;
        }
        let after = self.elapsed;
        if self.quiet_run >= self.rule.quiet_for {
            Some(Outcome::Settled { after, busiest })
        } else if self.elapsed >= self.rule.max {
            Some(Outcome::StillBusy { after, busiest })
        } else {
            None
        }
    }
}

/// The CPU that was busiest between two `/proc/stat` readings; CPUs that counted no time
/// in between (offline) are left out. `None` when no CPU counted any.
pub fn busiest(before: &BTreeMap<u32, CpuUse>, after: &BTreeMap<u32, CpuUse>) -> Option<Busiest> {
    after
        .iter()
        .filter_map(|(&cpu, now)| {
            let then = before.get(&cpu)?;
            let total = now.total.checked_sub(then.total).filter(|&t| t > 0)?;
            let busy = now.busy.saturating_sub(then.busy).min(total);
            Some(Busiest {
                cpu,
                share: busy as f64 / total as f64,
            })
        })
        .max_by(|a, b| a.share.total_cmp(&b.share))
}

fn read_use(stat: &Path) -> Result<BTreeMap<u32, CpuUse>, String> {
    let text = std::fs::read_to_string(stat).map_err(|e| format!("{}: {e}", stat.display()))?;
    let cpus = parse_stat_use(&text);
    if cpus.is_empty() {
        return Err(format!("{}: no cpuN line", stat.display()));
    }
    Ok(cpus)
}

/// Waits by `rule`, reading `<sysroot>/proc/stat` once per window.
pub fn settle(rule: Rule, sysroot: &Path) -> Outcome {
    let stat = sysroot.join("proc/stat");
    let started = Instant::now();
    let blind = |why: String| {
        std::thread::sleep(rule.max.saturating_sub(started.elapsed()));
        Outcome::Blind {
            after: started.elapsed(),
            why,
        }
    };
    let mut settler = Settler::new(rule);
    let mut before = match read_use(&stat) {
        Ok(b) => b,
        Err(why) => return blind(why),
    };
    loop {
        let t = Instant::now();
        std::thread::sleep(rule.window);
        let now = match read_use(&stat) {
            Ok(n) => n,
            Err(why) => return blind(why),
        };
        let Some(b) = busiest(&before, &now) else {
            return blind(format!("{}: no CPU counted any time", stat.display()));
        };
        if let Some(outcome) = settler.observe(b, t.elapsed()) {
            return outcome;
        }
        before = now;
    }
}

/// The journal line for an outcome.
pub fn describe(outcome: &Outcome, rule: &Rule) -> String {
    let pct = |s: f64| format!("{:.0} %", s * 100.0);
    match outcome {
        Outcome::Settled { after, busiest } => format!(
            "rros-validate: settled after {:.1} s: every CPU under {} busy for {} s (busiest in the last second: CPU {} at {})",
            after.as_secs_f64(),
            pct(rule.busy_below),
            rule.quiet_for.as_secs_f64(),
            busiest.cpu,
            pct(busiest.share)
        ),
        Outcome::StillBusy { after, busiest } => format!(
            "rros-validate: not settled after {:.1} s (CPU {} at {} busy in the last second, the bar is {}): measuring anyway; the run's analysis names what ran",
            after.as_secs_f64(),
            busiest.cpu,
            pct(busiest.share),
            pct(rule.busy_below)
        ),
        Outcome::Blind { after, why } => format!(
            "rros-validate: cannot tell whether the board is quiet ({why}): waited the whole {:.1} s instead",
            after.as_secs_f64()
        ),
    }
}

/// `rros-validate settle`: always exit 0 (the unit's `ExecStartPre` must not fail the run).
pub fn cmd_settle(rule: Rule, sysroot: &Path) -> u8 {
    println!("{}", describe(&settle(rule, sysroot), &rule));
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn rule() -> Rule {
        Rule {
            busy_below: 0.2,
            quiet_for: Duration::from_secs(3),
            max: Duration::from_secs(10),
            window: S,
        }
    }

    fn cpu(share: f64) -> Busiest {
        Busiest { cpu: 0, share }
    }

    fn feed(shares: &[f64]) -> (usize, Option<Outcome>) {
        let mut s = Settler::new(rule());
        for (i, &share) in shares.iter().enumerate() {
            if let Some(o) = s.observe(cpu(share), S) {
                return (i + 1, Some(o));
            }
        }
        (shares.len(), None)
    }

    #[test]
    fn quiet_from_the_start_ends_after_the_quiet_window() {
        let (windows, outcome) = feed(&[0.05, 0.1, 0.0, 0.0]);
        assert_eq!(windows, 3);
        assert!(matches!(outcome, Some(Outcome::Settled { after, .. }) if after == 3 * S));
    }

    #[test]
    fn a_busy_window_restarts_the_quiet_count() {
        // Two quiet, one busy, then three quiet: settled after six windows, not three.
        let (windows, outcome) = feed(&[0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1]);
        assert_eq!(windows, 6);
        assert!(matches!(outcome, Some(Outcome::Settled { .. })));
    }

    #[test]
    fn the_bar_is_strict() {
        // Exactly at the bar is busy.
        let (_, outcome) = feed(&[0.2; 12]);
        assert!(
            matches!(outcome, Some(Outcome::StillBusy { after, .. }) if after == 10 * S),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_board_that_never_settles_is_measured_at_max() {
        let (windows, outcome) = feed(&[0.1, 0.1, 0.9, 0.1, 0.1, 0.95, 0.1, 0.1, 0.5, 0.6, 0.1]);
        assert_eq!(windows, 10);
        assert_eq!(
            outcome,
            Some(Outcome::StillBusy {
                after: 10 * S,
                busiest: cpu(0.6)
            })
        );
    }

    #[test]
    fn the_busiest_cpu_wins_and_idle_offline_cpus_are_left_out() {
        let u = |busy, total| CpuUse { busy, total };
        let before = BTreeMap::from([(0, u(100, 1000)), (1, u(0, 1000)), (2, u(5, 500))]);
        let after = BTreeMap::from([(0, u(110, 1100)), (1, u(60, 1100)), (2, u(5, 500))]);
        // CPU 0: 10 of 100 ticks; CPU 1: 60 of 100; CPU 2 counted nothing (offline).
        assert_eq!(
            busiest(&before, &after),
            Some(Busiest { cpu: 1, share: 0.6 })
        );
        assert_eq!(busiest(&before, &before), None);
        // A CPU that appeared between the readings has no "before": it is skipped.
        let grown = BTreeMap::from([(3, u(1, 100))]);
        assert_eq!(busiest(&before, &grown), None);
    }

    #[test]
    fn an_unreadable_proc_stat_sleeps_the_whole_max_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rule {
            max: Duration::from_millis(300),
            ..rule()
        };
        let outcome = settle(r, dir.path());
        let Outcome::Blind { after, why } = &outcome else {
            panic!("{outcome:?}");
        };
        assert!(*after >= Duration::from_millis(300));
        assert!(why.contains("proc/stat"), "{why}");
        assert!(describe(&outcome, &r).contains("waited the whole"));
    }

    #[test]
    fn this_machine_settles_when_any_share_is_quiet() {
        // Against the live /proc/stat: with the bar above 100 % every window is quiet, so the
        // wait ends after exactly the quiet window, long before the max.
        let r = Rule {
            busy_below: 1.01,
            quiet_for: Duration::from_millis(400),
            max: Duration::from_secs(30),
            window: Duration::from_millis(200),
        };
        let t = Instant::now();
        let outcome = settle(r, Path::new("/"));
        assert!(matches!(outcome, Outcome::Settled { .. }), "{outcome:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(describe(&outcome, &r).starts_with("rros-validate: settled after"));
        // With the bar at 0 no window is quiet: measured anyway at the max.
        let never = Rule {
            busy_below: 0.0,
            max: Duration::from_millis(600),
            ..r
        };
        let outcome = settle(never, Path::new("/"));
        assert!(
            matches!(outcome, Outcome::StillBusy { after, .. } if after >= Duration::from_millis(600)),
            "{outcome:?}"
        );
        assert!(describe(&outcome, &never).contains("measuring anyway"));
    }
}
