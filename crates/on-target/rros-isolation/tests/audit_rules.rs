//! Acceptance: for each rule, the correctly isolated fixture with exactly that one thing broken
//! (in a scratch copy) produces exactly the expected finding, and nothing else.

mod common;

use common::{Scratch, assert_only, board, dump};
use rros_board::Board;
use rros_isolation::{Finding, Outcome, Severity};

const QEMU_VIA: &str = "on this board through `QB_KERNEL_CMDLINE_APPEND` of runqemu (the virtual board's `-append`), then reboot";

fn error(rule: &'static str, evidence: &str, fix: &str) -> Finding {
    Finding {
        rule: rule.to_owned(),
        severity: Severity::Error,
        evidence: evidence.into(),
        fix: fix.into(),
    }
}

fn warning(rule: &'static str, evidence: &str, fix: &str) -> Finding {
    Finding {
        severity: Severity::Warning,
        ..error(rule, evidence, fix)
    }
}

/// The isolated PREEMPT_RT fixture with one edit, audited against qemux86-64.
fn qemu_broken(edit: impl FnOnce(&Scratch)) -> rros_isolation::Audit {
    qemu_broken_with(&board("qemux86-64"), edit)
}

fn qemu_broken_with(board: &Board, edit: impl FnOnce(&Scratch)) -> rros_isolation::Audit {
    let scratch = Scratch::of("qemux86-64-isolated");
    edit(&scratch);
    scratch.audit(board)
}

fn nuc_broken(edit: impl FnOnce(&Scratch)) -> rros_isolation::Audit {
    let scratch = Scratch::of("nuc-evl");
    edit(&scratch);
    scratch.audit(&board("nuc"))
}

fn edit_cmdline(scratch: &Scratch, from: &str, to: &str) {
    let cmdline = scratch.read("proc/cmdline");
    assert!(cmdline.contains(from), "{from} not in {cmdline}");
    scratch.write("proc/cmdline", &cmdline.replacen(from, to, 1));
}

#[test]
fn cmdline_missing_parameter() {
    let audit = qemu_broken(|s| edit_cmdline(s, " nohz_full=1", ""));
    assert_only(
        &audit,
        &error(
            "cmdline",
            "/proc/cmdline has no `nohz_full`",
            &format!("add `nohz_full=1` to the kernel command line, {QEMU_VIA}"),
        ),
    );
    assert!(audit.breaks_profile());
}

#[test]
fn cmdline_last_occurrence_wins() {
    // runqemu's qemux86-64 default puts rcu_expedited=1 first; the profile's =0 must come last.
    let audit = qemu_broken(|s| {
        edit_cmdline(
            s,
            " rcupdate.rcu_expedited=0",
            " rcupdate.rcu_expedited=0 rcupdate.rcu_expedited=1",
        )
    });
    assert_only(
        &audit,
        &error(
            "cmdline",
            "/proc/cmdline has `rcupdate.rcu_expedited=1` (the last of 2, which is the one that counts), the profile renders `rcupdate.rcu_expedited=0`",
            &format!(
                "replace `rcupdate.rcu_expedited=1` with `rcupdate.rcu_expedited=0` and drop the other occurrences on the kernel command line, {QEMU_VIA}"
            ),
        ),
    );
    let audit = qemu_broken(|s| edit_cmdline(s, "quiet", "quiet rcupdate.rcu_expedited=1"));
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
}

#[test]
fn cmdline_wrong_value() {
    let audit = qemu_broken(|s| edit_cmdline(s, "isolcpus=managed_irq,domain,1", "isolcpus=1"));
    assert_only(
        &audit,
        &error(
            "cmdline",
            "/proc/cmdline has `isolcpus=1`, the profile renders `isolcpus=managed_irq,domain,1`",
            &format!(
                "replace `isolcpus=1` with `isolcpus=managed_irq,domain,1` on the kernel command line, {QEMU_VIA}"
            ),
        ),
    );
}

#[test]
fn cmdline_equivalent_spellings_pass() {
    // Flags in another order, cpulists written differently, a quoted value, `-` for `_` in a
    // module parameter name: all the same to the kernel.
    let audit = qemu_broken(|s| {
        edit_cmdline(
            s,
            "isolcpus=managed_irq,domain,1",
            "isolcpus=domain,managed_irq,1-1",
        );
        edit_cmdline(s, "rcu_nocbs=1", "\"rcu_nocbs=1\"");
        edit_cmdline(s, "nohz_full=1", "nohz_full=\"1\"");
        edit_cmdline(s, "rcupdate.rcu_expedited=0", "rcupdate.rcu-expedited=0");
    });
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
}

#[test]
fn cmdline_after_double_dash_does_not_count() {
    // Moving a parameter behind `--` hands it to init, not the kernel.
    let audit = qemu_broken(|s| {
        edit_cmdline(s, " skew_tick=1", "");
        let cmdline = s.read("proc/cmdline");
        s.write(
            "proc/cmdline",
            &format!("{} -- skew_tick=1\n", cmdline.trim_end()),
        );
    });
    assert_only(
        &audit,
        &error(
            "cmdline",
            "/proc/cmdline has no `skew_tick`",
            &format!("add `skew_tick=1` to the kernel command line, {QEMU_VIA}"),
        ),
    );
}

#[test]
fn isolated_cpus_not_isolated() {
    let audit = qemu_broken(|s| {
        s.write("sys/devices/system/cpu/isolated", "\n");
    });
    assert_only(
        &audit,
        &error(
            "isolated-cpus",
            "/sys/devices/system/cpu/isolated = (empty), the profile isolates 1",
            &format!(
                "boot with `isolcpus=managed_irq,domain,1` on the kernel command line, {QEMU_VIA} (if /proc/cmdline has it already, the kernel refused it: `dmesg | grep -i -e isolcpus -e housekeeping` says why)"
            ),
        ),
    );
}

#[test]
fn isolated_cpus_offline() {
    let audit = qemu_broken(|s| {
        s.write("sys/devices/system/cpu/online", "0\n");
    });
    assert_only(
        &audit,
        &error(
            "isolated-cpus",
            "the profile isolates CPU 1, but CPU 1 is not online (/sys/devices/system/cpu/online = 0)",
            "check that /etc/rros/board.toml is this board's profile (it describes 2 CPUs); if it is, bring them online: echo 1 > /sys/devices/system/cpu/cpu1/online",
        ),
    );
}

#[test]
fn nohz_full_not_configured() {
    let audit = qemu_broken(|s| {
        s.write("sys/devices/system/cpu/nohz_full", "(null)\n");
    });
    assert_only(
        &audit,
        &error(
            "nohz-full",
            "/sys/devices/system/cpu/nohz_full = (null), the profile wants full dynticks on 1",
            &format!(
                "boot with `nohz_full=1` on the kernel command line, {QEMU_VIA} (if /proc/cmdline has it already, the kernel refused it: `dmesg | grep -i nohz` says why)"
            ),
        ),
    );
    // Not asked for: skipped, whatever the file says.
    let mut board = board("qemux86-64");
    board.tuning.nohz_full = false;
    board.tuning.extra_cmdline.clear();
    let scratch = Scratch::of("qemux86-64-isolated");
    scratch.write("sys/devices/system/cpu/nohz_full", "(null)\n");
    let audit = scratch.audit(&board);
    assert!(matches!(
        audit.check("nohz-full").unwrap().outcome,
        Outcome::Skipped { .. }
    ));
}

#[test]
fn smt_sibling_not_isolated() {
    let audit = qemu_broken(|s| {
        s.write(
            "sys/devices/system/cpu/cpu1/topology/thread_siblings_list",
            "0-1\n",
        );
    });
    assert_only(
        &audit,
        &error(
            "smt-siblings",
            "isolated CPU 1 shares its core with CPU 0 (/sys/devices/system/cpu/cpu1/topology/thread_siblings_list = 0-1), which the profile does not isolate",
            "isolate the sibling too (add 0 to cpus.isolated in the profile, re-render, reboot), or turn SMT off: tuning.smt = \"off\" (`nosmt`), or now `echo off > /sys/devices/system/cpu/smt/control`",
        ),
    );
}

#[test]
fn smt_on_although_profile_turns_it_off() {
    let audit = nuc_broken(|s| {
        s.write(
            "sys/devices/system/cpu/cpu2/topology/thread_siblings_list",
            "0,2\n",
        );
    });
    assert_only(
        &audit,
        &error(
            "smt-siblings",
            "isolated CPU 2 shares its core with CPU 0 (/sys/devices/system/cpu/cpu2/topology/thread_siblings_list = 0,2), which the profile does not isolate",
            "the profile turns SMT off (tuning.smt = \"off\") but it is on: make sure `nosmt` is on the kernel command line, on this board through the wic kickstart's `bootloader --append=` (the options of the EFI boot entry), then reboot, or now `echo off > /sys/devices/system/cpu/smt/control`",
        ),
    );
}

#[test]
fn irq_on_isolated_cpu() {
    let audit = qemu_broken(|s| {
        s.write("proc/irq/42/effective_affinity_list", "1\n");
    });
    assert_only(
        &audit,
        &error(
            "irq-affinity",
            "IRQ 42 (PCI-MSIX-0000:00:04.0 2-edge virtio3-tx) is served by isolated CPU 1: /proc/irq/42/effective_affinity_list = 1 (smp_affinity_list = 0)",
            "echo 0 > /proc/irq/42/smp_affinity_list (rros-validate tune does this at boot; EIO means a kernel-managed IRQ, which fires for I/O queued from its CPUs: keep that I/O off the isolated CPUs)",
        ),
    );
}

#[test]
fn irq_affinity_uses_effective_then_mask() {
    // The mask allows CPU 1 but the kernel serves it on CPU 0: fine.
    let audit = qemu_broken(|s| {
        s.write("proc/irq/42/smp_affinity_list", "0-1\n");
    });
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
    // Not started yet (empty effective mask): it will land in its mask.
    let audit = qemu_broken(|s| {
        s.write("proc/irq/42/smp_affinity_list", "0-1\n");
        s.write("proc/irq/42/effective_affinity_list", "\n");
    });
    let findings: Vec<&Finding> = audit.findings().collect();
    assert_eq!(findings.len(), 1, "{}", dump(&audit));
    assert_eq!(
        findings[0].evidence,
        "IRQ 42 (PCI-MSIX-0000:00:04.0 2-edge virtio3-tx) may be served by isolated CPU 1: /proc/irq/42/smp_affinity_list = 0-1"
    );
    // An IRQ without a handler (absent from /proc/interrupts) never fires: not audited.
    let audit = qemu_broken(|s| {
        s.write("proc/irq/7/smp_affinity_list", "0-1\n");
        s.write("proc/irq/7/effective_affinity_list", "1\n");
    });
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
}

#[test]
fn managed_irq_on_isolated_cpu_is_a_warning_when_debugfs_says_so() {
    let add_nvme_queue = |s: &Scratch| {
        let mut interrupts = s.read("proc/interrupts");
        interrupts.push_str(
            " 125:          0          0         88          0  PCI-MSIX-0000:01:00.0   3-edge      nvme0q3\n",
        );
        s.write("proc/interrupts", &interrupts);
        s.write("proc/irq/125/smp_affinity_list", "2\n");
        s.write("proc/irq/125/effective_affinity_list", "2\n");
    };
    let evidence = "IRQ 125 (PCI-MSIX-0000:01:00.0 3-edge nvme0q3) is served by isolated CPU 2: /proc/irq/125/effective_affinity_list = 2 (smp_affinity_list = 2)";
    let audit = nuc_broken(|s| {
        add_nvme_queue(s);
        s.write(
            "sys/kernel/debug/irq/irqs/125",
            "handler:  handle_edge_irq\ndevice:   0000:01:00.0\nstatus:   0x00000000\nistate:   0x00000000\nddepth:   0\nwdepth:   0\ndstate:   0x31601200\n            IRQD_ACTIVATED\n            IRQD_IRQ_STARTED\n            IRQD_SINGLE_TARGET\n            IRQD_AFFINITY_MANAGED\n",
        );
    });
    assert_only(
        &audit,
        &warning(
            "irq-affinity",
            &format!("{evidence}; /sys/kernel/debug/irq/irqs/125 flags it IRQD_AFFINITY_MANAGED"),
            "none by writing (the kernel owns a managed IRQ's affinity and refuses writes with EIO): it fires for I/O queued from the CPUs in its mask, so keep that I/O off the isolated CPUs",
        ),
    );
    assert!(!audit.breaks_profile());
    // Without debugfs the audit cannot tell: an error whose fix explains EIO.
    let audit = nuc_broken(add_nvme_queue);
    let findings: Vec<&Finding> = audit.findings().collect();
    assert_eq!(findings.len(), 1, "{}", dump(&audit));
    assert_eq!(findings[0].severity, Severity::Error);
    assert_eq!(findings[0].evidence, evidence);
    assert!(
        findings[0]
            .fix
            .starts_with("echo 0-1 > /proc/irq/125/smp_affinity_list")
    );
}

#[test]
fn default_irq_affinity_includes_isolated() {
    let audit = qemu_broken(|s| {
        s.write("proc/irq/default_smp_affinity", "3\n");
    });
    assert_only(
        &audit,
        &error(
            "default-irq-affinity",
            "/proc/irq/default_smp_affinity = 3 (CPUs 0-1) includes isolated CPU 1: IRQs set up from now on may land there",
            "echo 1 > /proc/irq/default_smp_affinity (at boot `irqaffinity=0` on the kernel command line sets it)",
        ),
    );
}

#[test]
fn irqbalance_without_banned_list() {
    let audit = qemu_broken(|s| {
        s.write("proc/4242/comm", "irqbalance\n");
    });
    assert_only(
        &audit,
        &warning(
            "irqbalance",
            "irqbalance runs (pid 4242) without IRQBALANCE_BANNED_CPULIST (no environment or config file read): it keeps IRQs off the isolated CPUs only by its own reading of isolcpus and nohz_full, which any banned list set later replaces",
            "set IRQBALANCE_BANNED_CPULIST=1 in /etc/default/irqbalance and restart irqbalance, or stop it: `systemctl disable --now irqbalance` (rros-validate tune already places every IRQ)",
        ),
    );
    assert!(!audit.breaks_profile());
}

#[test]
fn irqbalance_banned_list_missing_isolated_cpus() {
    // The running process's environment says 2 only: CPU 3 is left to irqbalance.
    let audit = nuc_broken(|s| {
        s.write("proc/812/environ", "IRQBALANCE_BANNED_CPULIST=2\0LANG=C\0");
    });
    assert_only(
        &audit,
        &error(
            "irqbalance",
            "irqbalance runs (pid 812) with IRQBALANCE_BANNED_CPULIST=2 (/proc/812/environ), which leaves isolated CPU 3 to it: a banned list replaces irqbalance's own banning of isolated and nohz_full CPUs",
            "set IRQBALANCE_BANNED_CPULIST=2-3 in /etc/default/irqbalance and restart irqbalance, or stop it: `systemctl disable --now irqbalance` (rros-validate tune already places every IRQ)",
        ),
    );
    // Without the environment, the config file decides; the old hex form counts too.
    let audit = nuc_broken(|s| {
        s.remove("proc/812/environ");
        s.write("etc/default/irqbalance", "IRQBALANCE_BANNED_CPUS=c\n");
    });
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
}

#[test]
fn workqueue_cpumask_includes_isolated() {
    let audit = qemu_broken(|s| {
        s.write("sys/devices/virtual/workqueue/cpumask", "00000003\n");
    });
    assert_only(
        &audit,
        &error(
            "workqueue-cpumask",
            "/sys/devices/virtual/workqueue/cpumask = 00000003 (CPUs 0-1) includes isolated CPU 1: unbound kernel work runs there",
            "echo 1 > /sys/devices/virtual/workqueue/cpumask (rros-validate tune does this at boot)",
        ),
    );
}

#[test]
fn timer_migration_on() {
    let audit = qemu_broken(|s| {
        s.write("proc/sys/kernel/timer_migration", "1\n");
    });
    assert_only(
        &audit,
        &error(
            "timer-migration",
            "/proc/sys/kernel/timer_migration = 1, the profile wants 0 (tuning.timer_migration = false)",
            "sysctl -w kernel.timer_migration=0; to keep it across boots install /etc/sysctl.d/99-rros-isolation.conf as rendered by `rros board render` (recipe rros-tuning)",
        ),
    );
}

#[test]
fn rt_throttling_on() {
    let audit = qemu_broken(|s| {
        s.write("proc/sys/kernel/sched_rt_runtime_us", "950000\n");
    });
    assert_only(
        &audit,
        &error(
            "rt-throttling",
            "/proc/sys/kernel/sched_rt_runtime_us = 950000 (sched_rt_period_us = 1000000): real-time threads are stopped once they have run 950000 us of every 1000000 us period",
            "sysctl -w kernel.sched_rt_runtime_us=-1; to keep it across boots install /etc/sysctl.d/99-rros-isolation.conf as rendered by `rros board render` (recipe rros-tuning)",
        ),
    );
}

#[test]
fn fair_server_still_reserving_on_isolated_cpu() {
    let audit = qemu_broken(|s| {
        s.write(
            "sys/kernel/debug/sched/fair_server/cpu0/runtime",
            "50000000\n",
        );
        s.write(
            "sys/kernel/debug/sched/fair_server/cpu1/runtime",
            "50000000\n",
        );
    });
    assert_only(
        &audit,
        &warning(
            "fair-server",
            "/sys/kernel/debug/sched/fair_server/cpu1/runtime = 50000000 ns: on CPU 1 the fair server still reserves that much of every period for SCHED_OTHER tasks, preempting real-time threads when such tasks wait",
            "echo 0 > /sys/kernel/debug/sched/fair_server/cpu1/runtime (rros-validate tune does this at boot)",
        ),
    );
}

#[test]
fn cpufreq_governor_wrong() {
    let audit = qemu_broken(|s| {
        s.write(
            "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
            "powersave\n",
        );
    });
    assert_only(
        &audit,
        &error(
            "cpufreq-governor",
            "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor = powersave, the profile wants performance",
            "echo performance > /sys/devices/system/cpu/cpu1/cpufreq/scaling_governor (rros-validate tune does this at boot)",
        ),
    );
    // The governor is not even built in.
    let audit = nuc_broken(|s| {
        s.write(
            "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor",
            "schedutil\n",
        );
        s.write(
            "sys/devices/system/cpu/cpu3/cpufreq/scaling_available_governors",
            "schedutil\n",
        );
    });
    let findings: Vec<&Finding> = audit.findings().collect();
    assert_eq!(findings.len(), 1, "{}", dump(&audit));
    assert_eq!(
        findings[0].fix,
        "the kernel offers only `schedutil` on CPU 3 (/sys/devices/system/cpu/cpu3/cpufreq/scaling_available_governors): build it with CONFIG_CPU_FREQ_GOV_PERFORMANCE=y"
    );
}

#[test]
fn cpuidle_deep_states_without_pm_qos() {
    let add_c1e = |s: &Scratch| {
        let state = "sys/devices/system/cpu/cpu1/cpuidle/state2";
        s.write(&format!("{state}/name"), "C1E\n");
        s.write(&format!("{state}/latency"), "10\n");
        s.write(&format!("{state}/disable"), "0\n");
    };
    let mut no_qos = board("qemux86-64");
    no_qos.tuning.pm_qos_us = None;
    let audit = qemu_broken_with(&no_qos, add_c1e);
    assert_only(
        &audit,
        &warning(
            "cpuidle",
            "isolated CPU 1 may enter idle states deeper than C1: state2 C1E (exit latency 10 us) (/sys/devices/system/cpu/cpu1/cpuidle/stateN/{name,latency,disable}); the profile holds no PM QoS (tuning.pm_qos_us unset), so a measurement runs the system as configured and every wake-up from these states pays their exit latency (with tuning.pm_qos_us set, the service holds /dev/cpu_dma_latency while measuring and only a run of the system as configured is affected)",
            "echo 1 > /sys/devices/system/cpu/cpu1/cpuidle/state2/disable; or set tuning.pm_qos_us = 0 in the profile, or cap C-states at boot (`processor.max_cstate=1 intel_idle.max_cstate=0`)",
        ),
    );
    // The profile's PM QoS (0 us) keeps the CPU out of them while measuring.
    let audit = qemu_broken(add_c1e);
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
    // Disabled states do not count.
    let audit = qemu_broken_with(&no_qos, |s| {
        add_c1e(s);
        s.write("sys/devices/system/cpu/cpu1/cpuidle/state2/disable", "1\n");
    });
    assert_eq!(audit.findings().count(), 0, "{}", dump(&audit));
}

#[test]
fn realtime_core_missing() {
    let audit = qemu_broken(|s| {
        s.remove("sys/kernel/realtime");
        let version = s.read("proc/version");
        s.write(
            "proc/version",
            &version.replace("PREEMPT_RT", "PREEMPT_DYNAMIC"),
        );
    });
    assert_only(
        &audit,
        &error(
            "realtime-core",
            "the running kernel 6.18.44-fc-v669 has real-time core `none` (no /dev/rros/control or /sys/devices/virtual/rros/control, no /dev/evl/control or /sys/devices/virtual/evl, no /sys/kernel/realtime = 1, no PREEMPT_RT in /proc/version); the profile's flavour is `preempt-rt`",
            "boot a PREEMPT_RT kernel (CONFIG_PREEMPT_RT=y: linux-yocto-rt in the image, Debian's linux-image-rt-* in the virtual board); it shows /sys/kernel/realtime = 1",
        ),
    );
}

#[test]
fn evl_oob_cpus_differ() {
    let audit = nuc_broken(|s| {
        s.write("sys/devices/virtual/evl/control/cpus", "2\n");
    });
    assert_only(
        &audit,
        &error(
            "oob-cpus",
            "/sys/devices/virtual/evl/control/cpus = 2, the profile's out-of-band CPUs are 2-3",
            "set `evl.oobcpus=2-3` on the kernel command line, on this board through the wic kickstart's `bootloader --append=` (the options of the EFI boot entry), then reboot",
        ),
    );
}
