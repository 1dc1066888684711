//! The hardening of the systemd units (issue #12, "Hardening the units"), checked with the
//! real systemd tools: the exposure scores recorded in docs/validation.md do not regress, the
//! system-call filters allow what measuring and tuning need and refuse what they must not, the
//! device policy admits exactly the nodes a run opens, and, where systemd is the running init,
//! a command under the unit's device policy really cannot open a raw disk.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn unit_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name)
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(unit_path(name)).unwrap()
}

/// The values of `Key=` lines, in order.
fn values(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "NOTICE: {msg}");
}

fn analyze(args: &[&str]) -> String {
    let out = Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze is needed by this test (apt install systemd)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The overall exposure `systemd-analyze security --offline=yes` gives a unit file.
fn exposure(name: &str) -> f64 {
    let path = unit_path(name);
    let text = analyze(&[
        "security",
        "--offline=yes",
        "--no-pager",
        path.to_str().unwrap(),
    ]);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| panic!("no exposure level for {name}:\n{text}"));
    let after = line.rsplit_once(": ").unwrap().1;
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// The scores recorded in docs/validation.md ("Unit hardening"); a change that raises one must
/// say why there.
#[test]
fn unit_exposure_scores_do_not_regress() {
    let validate = exposure("rros-validate.service");
    let tune = exposure("rros-tune.service");
    assert!(
        validate <= 1.5,
        "rros-validate.service exposure {validate} > 1.5"
    );
    assert!(tune <= 0.9, "rros-tune.service exposure {tune} > 0.9");
}

/// Every system call in a `systemd-analyze syscall-filter` group, groups expanded.
fn group(name: &str, seen: &mut BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let text = analyze(&["syscall-filter", "--no-pager", name]);
    for line in text.lines().skip(1) {
        let word = line.split_whitespace().next().unwrap_or_default();
        if word.is_empty() || word.starts_with('#') {
            continue;
        }
        if word.starts_with('@') {
            if seen.insert(word.to_owned()) {
                out.extend(group(word, seen));
            }
        } else {
            out.insert(word.to_owned());
        }
    }
    assert!(!out.is_empty() || !seen.is_empty(), "unknown group {name}");
    out
}

/// What the unit's `SystemCallFilter=` lines allow, applied in order as systemd does (the
/// first line is an allow list here; `~` lines remove, later plain lines add back).
fn allowed(name: &str) -> BTreeSet<String> {
    let text = unit(name);
    let lines = values(&text, "SystemCallFilter");
    assert!(
        lines.first().is_some_and(|l| !l.starts_with('~')),
        "{name}: the filter must start with an allow list"
    );
    let mut set = BTreeSet::new();
    for line in lines {
        let (remove, items) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line.as_str()),
        };
        for item in items.split_whitespace() {
            let calls = if item.starts_with('@') {
                group(item, &mut BTreeSet::new())
            } else {
                BTreeSet::from([item.to_owned()])
            };
            if remove {
                set.retain(|c| !calls.contains(c));
            } else {
                set.extend(calls);
            }
        }
    }
    set
}

#[test]
fn the_syscall_filters_allow_what_the_units_need_and_refuse_the_rest() {
    let validate = allowed("rros-validate.service");
    // The run: SCHED_FIFO samplers, mlockall, absolute sleeps, the load supervisor (fork,
    // exec, prctl, kill, wait), EVL's out-of-band calls (ioctl, and prctl under Dovetail),
    // hackbench's socketpairs and pipes, stress-ng dropping its capabilities.
    for call in [
        "sched_setscheduler",
        "sched_setattr",
        "sched_setaffinity",
        "setpriority",
        "mlockall",
        "clock_nanosleep",
        "clock_gettime",
        "prctl",
        "ioctl",
        "clone",
        "clone3",
        "execve",
        "wait4",
        "kill",
        "setsid",
        "socketpair",
        "pipe2",
        "openat",
        "renameat2",
        "fsync",
        "capset",
    ] {
        assert!(
            validate.contains(call),
            "rros-validate.service refuses {call}"
        );
    }
    for call in [
        "setuid",
        "setresuid",
        "chown",
        "fchownat",
        "bpf",
        "mount",
        "reboot",
        "init_module",
        "swapon",
        "ptrace",
        "chroot",
        "settimeofday",
    ] {
        assert!(
            !validate.contains(call),
            "rros-validate.service allows {call}"
        );
    }
    assert_eq!(
        values(&unit("rros-validate.service"), "SystemCallErrorNumber"),
        ["EPERM"]
    );

    let tune = allowed("rros-tune.service");
    for call in [
        "openat",
        "read",
        "write",
        "getdents64",
        "newfstatat",
        "close",
    ] {
        assert!(tune.contains(call), "rros-tune.service refuses {call}");
    }
    for call in [
        "sched_setscheduler",
        "sched_setaffinity",
        "setuid",
        "chown",
        "mount",
        "bpf",
        "capset",
    ] {
        assert!(!tune.contains(call), "rros-tune.service allows {call}");
    }
}

const VALIDATE_DEVICES: &[&str] = &[
    "/dev/cpu_dma_latency rw",
    "char-evl_factory rw",
    "char-rros_factory rw",
    "char-clock rw",
    "char-thread rw",
    "char-monitor rw",
    "char-xbuf rw",
    "char-proxy rw",
    "char-observable rw",
];

#[test]
fn the_device_policy_admits_exactly_the_nodes_a_run_opens() {
    let validate = unit("rros-validate.service");
    assert_eq!(values(&validate, "DevicePolicy"), ["closed"]);
    assert_eq!(values(&validate, "DeviceAllow"), VALIDATE_DEVICES);
    assert!(values(&validate, "PrivateDevices").is_empty());
    let tune = unit("rros-tune.service");
    assert_eq!(values(&tune, "PrivateDevices"), ["yes"]);
    assert_eq!(values(&tune, "DevicePolicy"), ["closed"]);
    assert!(values(&tune, "DeviceAllow").is_empty());
    for (name, text) in [("rros-validate", &validate), ("rros-tune", &tune)] {
        assert_eq!(values(text, "UMask"), ["0077"], "{name}");
        assert_eq!(values(text, "PrivateMounts"), ["yes"], "{name}");
        // The audit reads /proc/cmdline, /proc/interrupts, /proc/irq and /proc/sys.
        assert!(values(text, "ProcSubset").is_empty(), "{name}");
    }
    // The audit looks for irqbalance among all processes; hidden, it would go unchecked.
    assert!(values(&validate, "ProtectProc").is_empty());
    assert_eq!(
        values(&unit("rros-tune.service"), "ProtectProc"),
        ["invisible"]
    );
}

/// A whole disk holding data (not a partition, not an empty loop device) with a node in
/// /dev, to try to read: opened, it would give bytes.
fn some_block_device() -> Option<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let sys = Path::new("/sys/class/block").join(&name);
        let sectors: u64 = std::fs::read_to_string(sys.join("size"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let dev = Path::new("/dev").join(&name);
        (sectors > 0 && !sys.join("partition").exists() && dev.exists()).then_some(dev)
    })
}

/// Under the unit's device policy (as a transient unit of the running systemd), reading a raw
/// disk fails while /dev/zero and /dev/cpu_dma_latency open. Needs systemd as init and root;
/// otherwise says so and checks nothing (the vboard tier runs the unit itself).
#[test]
fn a_load_under_the_unit_cannot_open_a_raw_disk() {
    if !Path::new("/run/systemd/system").is_dir() {
        notice(
            "a_load_under_the_unit_cannot_open_a_raw_disk: skipped, systemd is not the init here",
        );
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        notice("a_load_under_the_unit_cannot_open_a_raw_disk: skipped, needs root");
        return;
    }
    let Some(disk) = some_block_device() else {
        notice("a_load_under_the_unit_cannot_open_a_raw_disk: skipped, no block device");
        return;
    };
    let text = unit("rros-validate.service");
    let mut cmd = Command::new("systemd-run");
    cmd.args(["--wait", "--pipe", "--quiet", "--collect"]);
    cmd.arg("-p").arg("DevicePolicy=closed");
    for allow in values(&text, "DeviceAllow") {
        cmd.arg("-p").arg(format!("DeviceAllow={allow}"));
    }
    let script = format!(
        "head -c 1 /dev/zero >/dev/null || exit 10; \
         if [ -e /dev/cpu_dma_latency ]; then exec 3>/dev/cpu_dma_latency || exit 11; fi; \
         head -c 1 {} >/dev/null 2>&1 && exit 12; exit 0",
        disk.display()
    );
    let out = cmd.args(["/bin/sh", "-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "under the unit's device policy ({}): exit {:?} (10: /dev/zero refused, 11: \
         /dev/cpu_dma_latency refused, 12: raw disk readable); stderr: {}",
        disk.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}
