//! Why a latency run failed, without a tracer: cheap evidence captured around a measurement,
//! and the rules that turn it into ranked causes with their evidence and the fix.
//!
//! rtla's auto-analysis needs ftrace and PREEMPT_RT; production images rightly run without
//! ftrace, and the dual kernels are not PREEMPT_RT. What every kernel we ship keeps anyway is
//! enough to name most culprits: per-CPU IRQ and softirq counts, per-task CPU time and
//! scheduling class, idle-state and frequency counters, the SMI count, and on EVL the
//! samplers' in-band switches. So:
//!
//! - [`sources`]: one parser per kernel file, pure and panic-free on any text;
//! - [`snapshot`]: a [`Probe`] reads them under a root (`/`, or a fixture tree) into a
//!   [`Snapshot`]; a [`Delta`] is what changed on the measured CPUs between two;
//! - [`capture`]: a thread on the housekeeping CPUs snapshots at the start, every 100 ms (or
//!   longer, to stay under 2 % of a CPU) and at the end; the samplers' hot path is untouched;
//! - [`rules`]: the table-driven analysis, pure, which places each of the worst samples in
//!   the interval it fell in and ranks the causes;
//! - [`stored`]: the evidence as a run directory keeps it, to analyse a stored run again.

pub mod capture;
pub mod rules;
pub mod snapshot;
pub mod sources;
pub mod stored;

pub use capture::{Capture, Evidence, Recorder, monotonic_ns};
pub use rules::{Context, RULES, Sample, analyse};
pub use snapshot::{Delta, Probe, Snapshot};
pub use stored::Stored;
