//! The run: a plan built and checked first, then carried out in named steps.
//!
//! 1. [`plan`]: the configuration's bounds, the CPUs against this system, the backend, one
//!    sampler per CPU and the stop conditions in the hot loop's units. A bad run is refused
//!    here, before any resource is held or thread started.
//! 2. [`execute`]: pin the main thread, lock memory, hold PM QoS, measure (spawn, set up,
//!    gate, progress, join), build the report; what a step holds is released at the end.
//! 3. [`sampler`]: what each sampler thread does, and the hot loop itself, which allocates,
//!    locks and calls nothing but the backend's clock per sample.
//! 4. [`until`]: the run's own end on its numbers (a target of pooled samples, a latency
//!    above a limit), checked by the main thread, never in the hot loop.
//!
//! Why: the run used to be one 228-line function that decided, started threads, watched and
//! reported; the plan makes what will run visible (and testable) before it runs.

mod execute;
#[cfg(test)]
mod fake;
mod plan;
mod sampler;
mod until;

pub use plan::check_cpus;

use crate::backend::posix::Posix;
use crate::config::{BackendKind, RunConfig};
use crate::error::Error;
use crate::observer::{Observer, StopToken};
use crate::report::RunReport;
use plan::Plan;

/// Runs one measurement. Blocks until every sampler has finished (loops, duration, or
/// `stop`), calling `observer` from this thread meanwhile. Library code never prints.
///
/// ```no_run
/// use cyclictest::{run, RunConfig, StopToken};
/// let cfg = RunConfig { cpus: vec![1], loops: Some(10_000), interval_ns: 200_000, ..Default::default() };
/// let report = run(&cfg, &StopToken::new(), &mut ())?;
/// println!("max {:?} ns", report.overall.max_ns);
/// # Ok::<(), cyclictest::Error>(())
/// ```
pub fn run(
    config: &RunConfig,
    stop: &StopToken,
    observer: &mut dyn Observer,
) -> Result<RunReport, Error> {
    let plan = Plan::build(config)?;
    match plan.backend {
        BackendKind::Posix => execute::execute(&plan, &Posix, stop, observer),
        #[cfg(feature = "evl")]
        BackendKind::Evl => {
            let evl = crate::backend::evl::Evl::new()?;
            execute::execute(&plan, &evl, stop, observer)
        }
        #[cfg(not(feature = "evl"))]
        BackendKind::Evl => Err(Error::BackendUnavailable),
    }
}
