//! The runtime part of the isolation: what `rros-tune.service` applies early at boot.
//!
//! Each write is what the matching audit rule asks for, and only where that rule would
//! complain, so what an administrator pinned inside the housekeeping CPUs is left alone.
//! Sysctls are not written here: they come from the rendered sysctl.d file.

use crate::parse::{self, IrqLine};
use crate::rules::{FAIR_SERVER_DIR, WORKQUEUE_CPUMASK, cpu_dir, is_managed};
use crate::sysroot::{ApplyError, Sysroot};
use rros_board::{Board, CpuSet};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One setting the tuning looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// What it is about, e.g. `IRQ 42 (… virtio3-tx) affinity` or `cpu1 governor`.
    pub what: String,
    /// The file, as its path is on the target.
    pub path: String,
    /// The value written (or that would be).
    pub value: String,
    pub outcome: ActionOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// The value was written.
    Written { was: String },
    /// Already as the profile wants; nothing written.
    Unchanged { current: String },
    /// `dry_run`: this would be written.
    WouldWrite { was: String },
    /// Not for us to change (a per-CPU or kernel-managed IRQ); not an error.
    Skipped { reason: String },
    /// The write (or the read before it) failed.
    Failed { error: String },
}

impl Action {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, ActionOutcome::Failed { .. })
    }
}

/// One step of the tuning, in the style of the audit's rules: an id, the setting it makes
/// (what the matching audit rule asks for), and the step itself.
pub struct Step {
    /// Stable id: the audit rule whose finding this step removes.
    pub id: &'static str,
    /// What the step sets.
    pub sets: &'static str,
    run: fn(&Board, &mut Tuner<'_>) -> Result<(), ApplyError>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("id", &self.id)
            .field("sets", &self.sets)
            .finish()
    }
}

/// The tuning's steps, in the order [`apply`] runs them.
pub const STEPS: &[Step] = &[
    Step {
        id: "cpufreq-governor",
        sets: "cpufreq governor `tuning.governor` on every CPU that has cpufreq",
        run: governor,
    },
    Step {
        id: "irq-affinity",
        sets: "every IRQ whose affinity reaches outside the housekeeping CPUs → housekeeping",
        run: irq_affinity,
    },
    Step {
        id: "default-irq-affinity",
        sets: "/proc/irq/default_smp_affinity → housekeeping, if it reaches outside it",
        run: default_irq_affinity,
    },
    Step {
        id: "workqueue-cpumask",
        sets: "the unbound-workqueue cpumask → housekeeping, if it includes an isolated CPU",
        run: workqueue_cpumask,
    },
    Step {
        id: "fair-server",
        sets: "the fair server's runtime → 0 on the isolated CPUs, when RT throttling is off",
        run: fair_server,
    },
];

/// Applies the runtime tuning of `board` to the system under `sysroot` (`/` on the target),
/// step by step ([`STEPS`]):
///
/// 1. cpufreq governor `tuning.governor` on every CPU that has cpufreq;
/// 2. every IRQ whose `smp_affinity_list` reaches outside the housekeeping CPUs → housekeeping
///    (per-CPU IRQs are skipped; a write the kernel refuses with EIO, a managed IRQ, is
///    reported as skipped);
/// 3. `/proc/irq/default_smp_affinity` → housekeeping, if it reaches outside it;
/// 4. the unbound-workqueue cpumask → housekeeping, if it includes an isolated CPU;
/// 5. the fair server's runtime → 0 on the isolated CPUs, when the profile turns RT throttling
///    off and the kernel has one (debugfs mounted).
///
/// With `dry_run` nothing is written. Failures of single writes are [`ActionOutcome::Failed`];
/// only a sysroot without `/proc/irq` (or with an unparseable `/proc/interrupts`) is an error.
pub fn apply(board: &Board, sysroot: &Path, dry_run: bool) -> Result<Vec<Action>, ApplyError> {
    let root = Sysroot::new(sysroot);
    let housekeeping = &board.housekeeping;
    let mut tuner = Tuner {
        root: &root,
        dry_run,
        hk_list: housekeeping.to_string(),
        hk_mask: parse::format_hex_mask(housekeeping),
        actions: Vec::new(),
    };
    for step in STEPS {
        (step.run)(board, &mut tuner)?;
    }
    Ok(tuner.actions)
}

fn governor(board: &Board, tuner: &mut Tuner<'_>) -> Result<(), ApplyError> {
    let wanted = &board.tuning.governor;
    for cpu in tuner.root.numbered("sys/devices/system/cpu", "cpu")? {
        let rel = format!("{}/cpufreq/scaling_governor", cpu_dir(cpu));
        let what = format!("cpu{cpu} cpufreq governor");
        // None: no cpufreq on this CPU (a VM, or no driver).
        let Some(current) = tuner.read(&what, &rel, wanted) else {
            continue;
        };
        if current == *wanted {
            tuner.unchanged(what, &rel, wanted, current);
            continue;
        }
        let available = tuner
            .root
            .read_opt(&format!(
                "{}/cpufreq/scaling_available_governors",
                cpu_dir(cpu)
            ))
            .ok()
            .flatten();
        if let Some(available) = available
            && !available.split_whitespace().any(|g| g == wanted)
        {
            tuner.push(
                what,
                &rel,
                wanted,
                ActionOutcome::Failed {
                    error: format!(
                        "the kernel offers only `{}`: build it with the `{wanted}` governor",
                        available.trim(),
                    ),
                },
            );
            continue;
        }
        tuner.write(what, &rel, wanted, current);
    }
    Ok(())
}

fn irq_affinity(board: &Board, tuner: &mut Tuner<'_>) -> Result<(), ApplyError> {
    let root = tuner.root;
    let interrupts: BTreeMap<u32, IrqLine> = match root.read_opt("proc/interrupts")? {
        Some(text) => parse::parse_interrupts(&text)
            .map_err(|message| root.parse_error("proc/interrupts", &text, message))?,
        None => BTreeMap::new(),
    };
    root.require_dir("proc/irq")?;
    let hk_list = tuner.hk_list.clone();
    for irq in root.numbered("proc/irq", "")? {
        let rel = format!("proc/irq/{irq}/smp_affinity_list");
        let line = interrupts.get(&irq);
        let what = match line {
            Some(line) => format!("IRQ {irq} ({}) affinity", line.desc),
            None => format!("IRQ {irq} affinity"),
        };
        if let Some(reason) = line.and_then(IrqLine::per_cpu_reason) {
            tuner.push(what, &rel, &hk_list, ActionOutcome::Skipped { reason });
            continue;
        }
        let Some(current) = tuner.read(&what, &rel, &hk_list) else {
            continue;
        };
        let within = CpuSet::parse(&current).is_ok_and(|set| set.is_subset(&board.housekeeping));
        if within {
            tuner.unchanged(what, &rel, &hk_list, current);
        } else if is_managed(root, irq) {
            tuner.push(
                what,
                &rel,
                &hk_list,
                ActionOutcome::Skipped {
                    reason: "kernel-managed IRQ: its affinity belongs to the kernel".into(),
                },
            );
        } else {
            tuner.write(what, &rel, &hk_list, current);
        }
    }
    Ok(())
}

fn default_irq_affinity(board: &Board, tuner: &mut Tuner<'_>) -> Result<(), ApplyError> {
    let rel = "proc/irq/default_smp_affinity";
    let what = "default IRQ affinity".to_owned();
    let hk_mask = tuner.hk_mask.clone();
    if let Some(current) = tuner.read(&what, rel, &hk_mask) {
        if parse::parse_hex_mask(&current).is_ok_and(|set| set.is_subset(&board.housekeeping)) {
            tuner.unchanged(what, rel, &hk_mask, current);
        } else {
            tuner.write(what, rel, &hk_mask, current);
        }
    }
    Ok(())
}

fn workqueue_cpumask(board: &Board, tuner: &mut Tuner<'_>) -> Result<(), ApplyError> {
    let what = "unbound workqueue cpumask".to_owned();
    let hk_mask = tuner.hk_mask.clone();
    if let Some(current) = tuner.read(&what, WORKQUEUE_CPUMASK, &hk_mask) {
        let clean = parse::parse_hex_mask(&current)
            .is_ok_and(|set| set.intersection(&board.isolated).is_empty());
        if clean {
            tuner.unchanged(what, WORKQUEUE_CPUMASK, &hk_mask, current);
        } else {
            tuner.write(what, WORKQUEUE_CPUMASK, &hk_mask, current);
        }
    }
    Ok(())
}

fn fair_server(board: &Board, tuner: &mut Tuner<'_>) -> Result<(), ApplyError> {
    if board.tuning.rt_throttling {
        return Ok(());
    }
    for cpu in board.isolated.iter() {
        let rel = format!("{FAIR_SERVER_DIR}/cpu{cpu}/runtime");
        let what = format!("cpu{cpu} fair server runtime");
        if let Some(current) = tuner.read(&what, &rel, "0") {
            if current == "0" {
                tuner.unchanged(what, &rel, "0", current);
            } else {
                tuner.write(what, &rel, "0", current);
            }
        }
    }
    Ok(())
}

/// What the steps share: the reader, the mode, the housekeeping CPUs as each file writes
/// them, and the actions so far.
pub(crate) struct Tuner<'a> {
    root: &'a Sysroot,
    dry_run: bool,
    /// The housekeeping CPUs as a cpulist (`smp_affinity_list`).
    hk_list: String,
    /// The housekeeping CPUs as a hex mask (`default_smp_affinity`, the workqueue cpumask).
    hk_mask: String,
    actions: Vec<Action>,
}

impl Tuner<'_> {
    /// The current value (trimmed); `None` when the file does not exist, or when it cannot be
    /// read, which is then recorded as a failed action.
    fn read(&mut self, what: &str, rel: &str, value: &str) -> Option<String> {
        match self.root.read_opt(rel) {
            Ok(text) => text.map(|t| t.trim().to_owned()),
            Err(err) => {
                let error = err.to_string();
                self.push(what.to_owned(), rel, value, ActionOutcome::Failed { error });
                None
            }
        }
    }

    fn push(&mut self, what: String, rel: &str, value: &str, outcome: ActionOutcome) {
        self.actions.push(Action {
            what,
            path: Sysroot::shown(rel),
            value: value.to_owned(),
            outcome,
        });
    }

    fn unchanged(&mut self, what: String, rel: &str, value: &str, current: String) {
        self.push(what, rel, value, ActionOutcome::Unchanged { current });
    }

    fn write(&mut self, what: String, rel: &str, value: &str, was: String) {
        let outcome = if self.dry_run {
            ActionOutcome::WouldWrite { was }
        } else {
            match self.root.write(rel, value) {
                Ok(()) => ActionOutcome::Written { was },
                // EIO: the kernel will not let user space set this IRQ's affinity (managed or
                // per-CPU); that is the kernel's call, not a failure of the tuning.
                Err(err) if err.raw_os_error() == Some(5) => ActionOutcome::Skipped {
                    reason: format!(
                        "the kernel refused the write ({err}): a managed or per-CPU IRQ"
                    ),
                },
                Err(err) => ActionOutcome::Failed {
                    error: format!("cannot write {value} to {}: {err}", Sysroot::shown(rel)),
                },
            }
        };
        self.push(what, rel, value, outcome);
    }
}
