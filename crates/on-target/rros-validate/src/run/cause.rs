//! Why a scenario was not measured, as a type.
//!
//! The executor decides with these causes (which one wins, whether the run was interrupted);
//! the report carries their text (`not run: <cause>`), which nothing reads back to decide.
//! Before, the run recognised its own messages by their prefix.

use std::fmt;
use std::time::Duration;

/// The reason a scenario is refused before or while its measurement starts.
#[derive(Debug, Clone, PartialEq)]
pub enum NotRun {
    /// `--scenario` names one the profile lacks: nothing is measured.
    UnknownScenario,
    /// An earlier scenario hit an engine failure the next ones would hit too.
    EarlierFailed(String),
    /// The duration holds fewer periods than the scenario's `min_samples`.
    TooShort {
        duration: Duration,
        interval_us: u32,
        min_samples: u64,
        periods: u128,
    },
    /// A signal asked the run to stop.
    Interrupted,
    /// The load could not be started.
    LoadStart(String),
    /// The load ended during the warm-up: it would have measured without load.
    LoadEndedEarly {
        status: Option<String>,
        output: String,
    },
    /// A panic in rros-validate while measuring.
    Internal(String),
}

impl fmt::Display for NotRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRun::UnknownScenario => f.write_str("the options name an unknown scenario"),
            NotRun::EarlierFailed(why) => {
                write!(f, "an earlier scenario could not be measured ({why})")
            }
            NotRun::TooShort {
                duration,
                interval_us,
                min_samples,
                periods,
            } => write!(
                f,
                "measured too little: {} holds {periods} period(s) of {interval_us} µs, fewer than the {min_samples} samples the scenario needs (min_samples); use --duration {} or longer",
                humantime::format_duration(*duration),
                humantime::format_duration(rros_board::shortest_duration(
                    *min_samples,
                    *interval_us
                ))
            ),
            NotRun::Interrupted => f.write_str("the run was interrupted by a signal"),
            NotRun::LoadStart(e) => f.write_str(e),
            NotRun::LoadEndedEarly { status, output } => write!(
                f,
                "the load ended on its own before the measurement started ({}); a load must run until it is stopped (loop it, e.g. `while :; do …; done`, or use `--timeout 0`). Its output: {}",
                status.as_deref().unwrap_or("unknown status"),
                output.trim()
            ),
            NotRun::Internal(what) => {
                write!(f, "internal error (a bug in rros-validate): {what}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_short_names_the_shortest_duration_that_works() {
        let why = NotRun::TooShort {
            duration: Duration::from_millis(500),
            interval_us: 1000,
            min_samples: 1000,
            periods: 500,
        };
        assert_eq!(
            why.to_string(),
            "measured too little: 500ms holds 500 period(s) of 1000 µs, fewer than the 1000 samples the scenario needs (min_samples); use --duration 1s or longer"
        );
    }
}
