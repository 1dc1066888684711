//! Thin safe wrappers over the Linux calls the engine makes (libc).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::mem::MaybeUninit;

use serde::Serialize;

use crate::config::Policy;

/// `clock_gettime(clock)` in ns.
#[inline(always)]
pub(crate) fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is valid and writable; CLOCK_MONOTONIC/REALTIME never fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    libevl::timespec_to_ns(&ts)
}

/// `clock_nanosleep(clock, TIMER_ABSTIME, deadline)`; `Err(errno)` on failure (EINTR included).
#[inline(always)]
pub(crate) fn sleep_until_abs(clock: libc::clockid_t, deadline_ns: i64) -> Result<(), i32> {
    let ts = libevl::ns_to_timespec(deadline_ns);
    // SAFETY: ts is a valid timespec; no remainder is requested for an absolute sleep.
    let ret =
        unsafe { libc::clock_nanosleep(clock, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
    if ret == 0 { Ok(()) } else { Err(ret) }
}

/// `clock_getres(clock)` in ns.
pub(crate) fn clock_resolution_ns(clock: libc::clockid_t) -> Option<i64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is valid and writable.
    (unsafe { libc::clock_getres(clock, &mut ts) } == 0).then(|| libevl::timespec_to_ns(&ts))
}

/// The kernel's current clocksource (e.g. `tsc`, `arch_sys_counter`).
pub(crate) fn current_clocksource() -> Option<String> {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .ok()
        .map(|s| s.trim().to_string())
}

/// Pins the calling thread to `cpus`.
pub fn set_affinity_current(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    for &c in cpus {
        if c >= max {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: c < CPU_SETSIZE.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: pid 0 = calling thread; set is a valid cpu_set_t of the given size.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// CPUs the calling thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: zeroed cpu_set_t is valid.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 = calling thread; set is writable.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Vec::new();
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: c < CPU_SETSIZE.
    (0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Sets the calling thread's scheduling policy and priority.
pub(crate) fn set_scheduler_current(policy: Policy, priority: i32) -> io::Result<()> {
    let p = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 = calling thread on Linux; p is valid.
    let r = unsafe { libc::sched_setscheduler(0, policy.to_libc(), &p) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The calling thread's kernel thread id.
pub(crate) fn gettid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::gettid() }
}

/// `mlockall(MCL_CURRENT | MCL_FUTURE)`.
pub(crate) fn mlockall() -> io::Result<()> {
    // SAFETY: flags are valid.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Stops glibc's `malloc` from giving memory back to the kernel, for the rest of the process:
/// no trimming of a heap's free top (`M_TRIM_THRESHOLD` = -1) and no block mapped on its own
/// (`M_MMAP_MAX` = 0), whose `free` is a `munmap`. Giving memory back unmaps it, and the
/// kernel then flushes the TLB of the CPUs the process's address space is live on: a
/// sampler's CPU while it runs, and, when page tables are freed, also while it idles (x86
/// counts the TLB shootdown IPI under both `CAL` and `TLB` in `/proc/interrupts`). So a
/// `free` on a housekeeping CPU interrupted the isolated one. The heap keeps its high-water
/// mark instead; a thread's arena that cannot grow falls back to the main one. Returns
/// whether both were set; always false off glibc (musl has no `mallopt`).
pub fn keep_heap() -> bool {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt takes plain integers; both parameters and values are documented.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, -1) == 1
                && libc::mallopt(libc::M_MMAP_MAX, 0) == 1
        }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        false
    }
}

/// `munlockall()`.
pub(crate) fn munlockall() {
    // SAFETY: no arguments.
    unsafe { libc::munlockall() };
}

/// The soft limit of a `getrlimit` result as text (`unlimited` or the number).
fn soft_limit(r: Option<libc::rlimit>) -> String {
    match r {
        None => "unknown".into(),
        Some(r) if r.rlim_cur == libc::RLIM_INFINITY => "unlimited".into(),
        Some(r) => r.rlim_cur.to_string(),
    }
}

/// Soft RLIMIT_RTPRIO.
pub(crate) fn rlimit_rtprio() -> String {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is valid and writable.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut r) } == 0;
    soft_limit(ok.then_some(r))
}

/// Soft RLIMIT_MEMLOCK in KiB (as `ulimit -l` shows it).
pub(crate) fn rlimit_memlock_kib() -> String {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is valid and writable.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } == 0;
    let s = soft_limit(ok.then_some(r));
    match s.parse::<u64>() {
        Ok(b) => format!("{} KiB", b / 1024),
        Err(_) => s,
    }
}

/// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread, so process signals go elsewhere.
pub(crate) fn block_termination_signals() {
    // SAFETY: set is initialised by sigemptyset before use.
    unsafe {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        let mut set = set.assume_init();
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Number of possible CPUs (`_SC_NPROCESSORS_CONF`).
pub(crate) fn cpus_configured() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    if n > 0 { n as usize } else { 1 }
}

/// Online CPUs, from `/sys/devices/system/cpu/online` (all configured CPUs if unreadable).
pub fn online_cpus() -> Vec<usize> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| crate::cpuset::parse_cpulist(&s).ok())
        .unwrap_or_else(|| (0..cpus_configured()).collect())
}

/// NUMA node of `cpu` (0 if unknown).
pub(crate) fn numa_node_of(cpu: usize) -> i32 {
    let dir = format!("/sys/devices/system/cpu/cpu{cpu}");
    std::fs::read_dir(dir)
        .ok()
        .and_then(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .find_map(|n| n.strip_prefix("node").and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

/// A held PM QoS request on `/dev/cpu_dma_latency`: the kernel keeps the CPU-latency
/// constraint while the file is open (binary s32 in µs) and drops it on close.
#[derive(Debug)]
pub(crate) struct PmQos {
    _file: File,
}

/// Path of the CPU-latency PM QoS device.
pub(crate) const CPU_DMA_LATENCY: &str = "/dev/cpu_dma_latency";

impl PmQos {
    /// Opens the device and writes `value_us` as 4 native-endian bytes.
    pub(crate) fn hold(value_us: i32) -> io::Result<PmQos> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(CPU_DMA_LATENCY)?;
        f.write_all(&value_us.to_ne_bytes())?;
        Ok(PmQos { _file: f })
    }
}

/// `uname` plus whether the kernel is PREEMPT_RT (what rt-tests reports as `sysinfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SysInfo {
    /// e.g. `Linux`.
    pub sysname: String,
    /// Host name.
    pub nodename: String,
    /// Kernel release.
    pub release: String,
    /// Kernel version string.
    pub version: String,
    /// e.g. `x86_64`.
    pub machine: String,
    /// The kernel is PREEMPT_RT (`rros-rtcore`'s detection: `/sys/kernel/realtime` reads `1`,
    /// or `/proc/version` says so; an unreadable file counts as not).
    pub realtime: bool,
}

impl SysInfo {
    /// Reads it from the running system.
    pub fn read() -> SysInfo {
        // SAFETY: utsname is plain data; uname fills it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: u is valid and writable.
        let ok = unsafe { libc::uname(&mut u) } == 0;
        let field = |f: &[libc::c_char]| -> String {
            if !ok {
                return String::new();
            }
            let bytes: Vec<u8> = f
                .iter()
                .take_while(|c| **c != 0)
                .map(|c| *c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let realtime = rros_rtcore::detect()
            .is_ok_and(|found| found.core == rros_rtcore::RealtimeCore::PreemptRt);
        SysInfo {
            sysname: field(&u.sysname),
            nodename: field(&u.nodename),
            release: field(&u.release),
            version: field(&u.version),
            machine: field(&u.machine),
            realtime,
        }
    }
}

/// `strftime("%a, %d %b %Y %T %z")` of a Unix time in the local time zone (rt-tests'
/// timestamp format).
pub(crate) fn format_rfc2822_local(unix_secs: i64) -> String {
    let t = unix_secs as libc::time_t;
    // SAFETY: tm is plain data, filled by localtime_r; buf is large enough and strftime
    // NUL-terminates within the given size.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return String::new();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a, %d %b %Y %T %z".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_system_info() {
        let a = clock_ns(libc::CLOCK_MONOTONIC);
        sleep_until_abs(libc::CLOCK_MONOTONIC, a + 100_000).unwrap();
        assert!(clock_ns(libc::CLOCK_MONOTONIC) >= a + 100_000);
        assert!(clock_resolution_ns(libc::CLOCK_MONOTONIC).unwrap() >= 1);
        let s = SysInfo::read();
        assert_eq!(s.sysname, "Linux");
        assert!(!online_cpus().is_empty());
        assert!(!allowed_cpus().is_empty());
        let ts = format_rfc2822_local(0);
        // e.g. "Thu, 01 Jan 1970 00:00:00 +0000" in UTC.
        assert!(ts.contains("1970") || ts.contains("1969"), "{ts}");
        assert_eq!(ts.split(' ').count(), 6, "{ts}");
    }
}
