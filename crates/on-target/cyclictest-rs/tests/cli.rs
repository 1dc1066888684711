//! End-to-end tests of the `cyclictest-rs` binary: real short runs, both JSON formats,
//! signals, and the documented errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_cyclictest-rs");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Options that work without privileges when not root (then SCHED_OTHER, no mlock/PM QoS).
fn rt_opts() -> Vec<&'static str> {
    if is_root() {
        vec!["-m", "-p", "80"]
    } else {
        eprintln!("notice: not root, measuring with SCHED_OTHER and without mlockall/PM QoS");
        vec!["--no-mlockall", "--default-system"]
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run cyclictest-rs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_json(p: &Path) -> Value {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{s}", p.display()))
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned integer: {v}"))
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[test]
fn real_run_counts_every_period_and_writes_both_jsons() {
    let dir = tempfile::tempdir().unwrap();
    let rt = dir.path().join("rt.json");
    let native = dir.path().join("native.json");
    let loops = 2000u64;
    let mut args = rt_opts();
    let (rt_arg, native_arg) = (
        format!("--json={}", rt.display()),
        format!("--json-native={}", native.display()),
    );
    args.extend([
        "-t", "2", "-a", "0", "-i", "200", "-l", "2000", "-q", "-h", "500",
    ]);
    args.extend([rt_arg.as_str(), native_arg.as_str()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    // -q with -h: the text histogram, no summary lines (as cyclictest).
    assert!(stdout.contains("# Histogram\n000000 "), "{stdout}");
    assert!(stdout.contains("# Max Latencies:"), "{stdout}");

    let n = read_json(&native);
    assert_eq!(n["format"], "cyclictest-rs/1");
    assert_eq!(n["backend"]["kind"], "posix");
    assert_eq!(n["end_reason"], "loops");
    let cpus = n["cpus"].as_array().unwrap();
    assert_eq!(cpus.len(), 2);
    let r = read_json(&rt);
    for (t, c) in cpus.iter().enumerate() {
        let s = &c["stats"];
        let samples = u(&s["samples"]);
        let missed = u(&s["missed_periods"]);
        assert_eq!(
            samples + missed,
            loops,
            "thread {t}: samples + missed periods = loops"
        );
        assert_eq!(samples, loops - missed);
        let (min, max) = (i(&s["min_ns"]), i(&s["max_ns"]));
        let p = &s["percentiles"];
        let range = u(&s["histogram"]["range_ns"]) as i64;
        let p50 = p["p50_ns"].as_i64();
        let p99 = p["p99_ns"].as_i64();
        // Percentiles are bucket lower bounds: min's bucket <= p50 <= p99 <= max.
        let w = u(&s["histogram"]["bucket_width_ns"]) as i64;
        match (p50, p99) {
            (Some(a), Some(b)) => assert!(min / w * w <= a && a <= b && b <= max, "{s}"),
            (Some(a), None) => assert!(min / w * w <= a && max >= range, "{s}"),
            (None, None) => assert!(max >= range),
            (None, Some(_)) => panic!("p99 without p50: {s}"),
        }
        assert!(min <= max);
        // Histogram + overflow account for every sample.
        let binned: u64 = s["histogram"]["bins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| u(&b[1]))
            .sum();
        assert_eq!(binned + u(&s["histogram"]["overflow"]), samples);

        let rt_t = &r["thread"][t.to_string()];
        assert_eq!(u(&rt_t["cycles"]), samples);
        assert_eq!(i(&rt_t["max"]), max / 1000);
        assert_eq!(i(&rt_t["min"]), min / 1000);
        assert_eq!(u(&rt_t["cpu"]), 0);
        let hist_total: u64 = rt_t["histogram"].as_object().unwrap().values().map(u).sum();
        assert_eq!(
            hist_total, binned,
            "rt-tests histogram = native bins in µs rows"
        );
    }
    assert_eq!(r["num_threads"], 2);
    assert_eq!(r["resolution_in_ns"], 0);
    assert!(r["cmdline:"].as_str().unwrap().contains("-l 2000"));
    assert_eq!(r["rt_test_version:"], "2.40");
    assert_eq!(
        u(&n["overall"]["samples"]),
        cpus.iter().map(|c| u(&c["stats"]["samples"])).sum::<u64>()
    );
}

#[test]
fn summary_line_has_cyclictests_format() {
    let mut args = rt_opts();
    args.extend(["-t", "1", "-a", "0", "-i", "500", "-l", "200", "-q", "-N"]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("T: 0 ("))
        .unwrap_or_else(|| panic!("{out}"));
    // T:%2d (%5d) P:%2d I:%ld C:%7lu Min:%7ld Act:%8ld Avg:%8ld Max:%8ld (-N)
    let c_field = line
        .split(" I:500 C:")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"));
    let count: u64 = c_field[..7]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    assert!(c_field[7..].starts_with(" Min:"), "C:%7lu: {line}");
    assert!((150..=200).contains(&count), "{line}");
    assert!(
        line.contains(") P:") && line.contains(" Act:") && line.contains(" Avg:"),
        "{line}"
    );
    let max: i64 = line.rsplit("Max:").next().unwrap().trim().parse().unwrap();
    assert!(max > 1000, "-N reports ns: {line}");
}

#[test]
fn sigint_ends_the_run_with_full_results() {
    let dir = tempfile::tempdir().unwrap();
    let native = dir.path().join("n.json");
    let rt = dir.path().join("rt.json");
    let mut args = rt_opts();
    let (a1, a2) = (
        format!("--json-native={}", native.display()),
        format!("--json={}", rt.display()),
    );
    args.extend([
        "-a",
        "0",
        "-i",
        "1000",
        "-D",
        "1h",
        "-q",
        a1.as_str(),
        a2.as_str(),
    ]);
    let child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(&o));
    let n = read_json(&native);
    assert_eq!(n["end_reason"], "stopped");
    let samples = u(&n["cpus"][0]["stats"]["samples"]);
    assert!(samples > 100, "{samples} samples in 0.7 s at 1 kHz");
    assert_eq!(u(&read_json(&rt)["thread"]["0"]["cycles"]), samples);
    assert!(String::from_utf8_lossy(&o.stdout).contains("T: 0 ("));
}

#[test]
fn duration_bounds_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let native = dir.path().join("n.json");
    let mut args = rt_opts();
    let a1 = format!("--json-native={}", native.display());
    args.extend(["-a", "0", "-i", "10000", "-D", "1", a1.as_str()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    // Not a terminal: no progress display, even without -q.
    assert!(!stderr(&o).contains('\x1b'), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("# T: 0 missed periods: "));
    let n = read_json(&native);
    assert_eq!(n["end_reason"], "duration");
    let s = &n["cpus"][0]["stats"];
    let periods = u(&s["samples"]) + u(&s["missed_periods"]);
    assert!(
        (95..=101).contains(&periods),
        "{periods} periods of 10 ms in 1 s"
    );
}

/// Issue #12 finding 7: at the longest period the engine accepts (1 s), both the duration and
/// SIGINT are honoured within one period: a sampler sleeps at most one period at a time.
#[test]
fn longest_interval_still_honours_duration_and_sigint() {
    let mut args = rt_opts();
    args.extend(["-q", "-a", "0", "-i", "1000000", "-D", "2"]);
    let started = std::time::Instant::now();
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(3900),
        "-D 2 at a 1 s period took {took:?}"
    );
    let mut args = rt_opts();
    args.extend(["-q", "-a", "0", "-i", "1000000"]);
    let child = Command::new(BIN)
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: kill has no memory effects; the child is ours and not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let signalled = std::time::Instant::now();
    let o = child.wait_with_output().unwrap();
    let waited = signalled.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        waited < std::time::Duration::from_millis(2900),
        "SIGINT at a 1 s period took {waited:?}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("T: 0 ("));
}

/// Recursively compares JSON structure: same object keys and value kinds.
fn same_shape(path: &str, a: &Value, b: &Value, ignore_keys_under: &[&str]) -> Result<(), String> {
    use Value::*;
    match (a, b) {
        (Object(x), Object(y)) => {
            if ignore_keys_under.contains(&path) {
                // Keys are data (histogram buckets): compare only value kinds.
                for v in x.values().chain(y.values()) {
                    if !v.is_u64() {
                        return Err(format!("{path}: bucket count {v} is not an integer"));
                    }
                }
                return Ok(());
            }
            let kx: Vec<&std::string::String> = x.keys().collect();
            let ky: Vec<&std::string::String> = y.keys().collect();
            if kx != ky {
                return Err(format!("{path}: keys {kx:?} vs {ky:?}"));
            }
            for (k, v) in x {
                same_shape(&format!("{path}/{k}"), v, &y[k], ignore_keys_under)?;
            }
            Ok(())
        }
        (Number(x), Number(y)) => {
            if x.is_f64() != y.is_f64() || x.is_i64() != y.is_i64() {
                return Err(format!("{path}: number kinds differ: {x} vs {y}"));
            }
            Ok(())
        }
        (String(_), String(_)) | (Bool(_), Bool(_)) | (Null, Null) => Ok(()),
        (Array(_), Array(_)) => Ok(()),
        _ => Err(format!("{path}: {a} vs {b}")),
    }
}

#[test]
fn rt_tests_json_matches_real_cyclictest() {
    let Some(cyclictest) = [
        "/usr/bin/cyclictest",
        "/usr/sbin/cyclictest",
        "/usr/local/bin/cyclictest",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists()) else {
        eprintln!(
            "notice: cyclictest (apt package rt-tests) not installed: skipping the comparison"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for extra in [&["-h", "100"][..], &["-N"][..]] {
        let theirs = dir.path().join("theirs.json");
        let ours = dir.path().join("ours.json");
        let mut common = rt_opts();
        common.retain(|a| *a != "--no-mlockall");
        common.extend(["-t", "2", "-a", "0", "-i", "500", "-l", "300", "-q"]);
        common.extend(extra);
        let t = Command::new(cyclictest)
            .args(&common)
            .arg(format!("--json={}", theirs.display()))
            .output()
            .unwrap();
        assert!(t.status.success(), "cyclictest failed: {}", stderr(&t));
        let o = run(&[common.clone(), vec![&format!("--json={}", ours.display())]].concat());
        assert!(o.status.success(), "{}", stderr(&o));
        let (a, b) = (read_json(&theirs), read_json(&ours));
        same_shape("", &a, &b, &["/thread/0/histogram", "/thread/1/histogram"])
            .unwrap_or_else(|e| panic!("{e}\ncyclictest: {a}\nours: {b}"));
        // The same literal values where the schema fixes them.
        for k in [
            "file_version",
            "num_threads",
            "resolution_in_ns",
            "return_code",
        ] {
            assert_eq!(a[k], b[k], "{k}");
        }
        assert_eq!(a["sysinfo"], b["sysinfo"]);
        assert_eq!(a["thread"]["1"]["cpu"], b["thread"]["1"]["cpu"]);
    }
}

/// Issue #12 finding 1: `-D 99999999999999d` used to wrap the end time negative and stop
/// after one sample (`C: 1`); finding 7: an interval over the engine's 1 s bound.
#[test]
fn overlong_duration_and_interval_are_usage_errors() {
    for (args, msg) in [
        (&["-D", "99999999999999d", "-l", "5"][..], "365 days"),
        (&["-D", "366d"][..], "365 days"),
        (&["-D", "18446744073709551615s"][..], "365 days"),
        (&["-i", "1000001"][..], "1 to 1000000 µs"),
        (&["-i", "4294967295"][..], "1 to 1000000 µs"),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(msg), "{args:?}: expected `{msg}` in: {e}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("C:"),
            "{args:?} measured"
        );
    }
}

#[test]
fn invalid_options_are_usage_errors() {
    for (args, msg) in [
        (&["-p", "100"][..], "priority 100 is out of range: use 1-99"),
        (
            &["-i", "0"][..],
            "-i 0: the interval must be 1 to 1000000 µs",
        ),
        (
            &["--policy=deadline"][..],
            "use other, normal, batch, idle, fifo or rr",
        ),
        (&["-D", "1x"][..], "invalid duration `1x` for -D"),
        (&["-a", "4096"][..], "CPU 4096 does not exist"),
        (&["--mainaffinity=4000"][..], "CPU 4000 does not exist"),
        (&["-x"][..], "option -x (POSIX timers) is not supported"),
        (&["--bogus"][..], "unknown option `--bogus`"),
        (&["--policy", "other", "-p", "5"][..], "takes no priority"),
        (&["-h", "abc"][..], "invalid value `abc` for -h"),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains(msg), "{args:?}: expected `{msg}` in: {e}");
        assert!(e.contains("--help"), "{e}");
    }
}

#[test]
fn cpu_outside_the_inherited_mask_is_measured() {
    // Under `isolcpus=` every task starts with the isolated CPUs outside its affinity mask, yet
    // measuring there is the whole point: the samplers must pin themselves onto them. taskset
    // narrows this process's mask the same way.
    if !Path::new("/usr/bin/taskset").exists() || cyclictest::online_cpus().len() < 2 {
        eprintln!("notice: needs taskset and 2 online CPUs: skipping");
        return;
    }
    let cpus = cyclictest::online_cpus();
    let (a, b) = (cpus[0].to_string(), cpus[1].to_string());
    let o = Command::new("taskset")
        // A 20 ms period: on a busy machine a 1 ms one misses periods (`-l` counts them).
        .args(["-c", &a, BIN, "-q", "-a", &b, "-l", "5", "-i", "20000"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("C:      5"),
        "5 cycles measured on CPU {b}: {out}"
    );
}

/// Runs the binary as root with a capability dropped from the bounding set and an rlimit set
/// to 0, so the kernel refuses like it would for an unprivileged user.
fn run_without(cap: &str, ulimit: &str, args: &str) -> Option<Output> {
    if !is_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("notice: needs root and setpriv (util-linux) to drop {cap}: skipping");
        return None;
    }
    let script = format!(
        "ulimit {ulimit} 0 && exec setpriv --inh-caps=-{cap} --bounding-set=-{cap} {BIN} {args}"
    );
    Some(Command::new("sh").args(["-c", &script]).output().unwrap())
}

#[test]
fn missing_rt_privilege_names_capability_and_rlimit() {
    let Some(o) = run_without("sys_nice", "-r", "-p 80 -a 0 -l 10 -q") else {
        return;
    };
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    for needle in [
        "SCHED_FIFO priority 80 refused (EPERM)",
        "CAP_SYS_NICE",
        "RLIMIT_RTPRIO",
        "ulimit -r 80",
    ] {
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
    }
}

#[test]
fn missing_mlock_privilege_names_capability_and_rlimit() {
    let Some(o) = run_without("ipc_lock", "-l", "-a 0 -l 10 -q") else {
        return;
    };
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    for needle in [
        "mlockall(MCL_CURRENT|MCL_FUTURE) failed (EPERM)",
        "CAP_IPC_LOCK",
        "RLIMIT_MEMLOCK",
        "--no-mlockall",
    ] {
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
    }
}

#[test]
fn evl_backend_availability_is_explained() {
    let o = run(&[
        "--backend=evl",
        "-a",
        "0",
        "-l",
        "10",
        "-q",
        "--no-mlockall",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    if cfg!(feature = "evl") {
        assert!(e.contains("evl"), "{e}");
    } else {
        assert!(e.contains("--features evl"), "{e}");
    }
}

#[test]
fn progress_display_on_a_terminal() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("notice: `script` (util-linux) not installed: skipping the terminal test");
        return;
    }
    let mut args = rt_opts();
    args.extend(["-a", "0", "-i", "1000", "-l", "700"]);
    // `script` runs the command on a pseudo-terminal and copies what it printed.
    let cmd = format!("{BIN} {}", args.join(" "));
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let all = String::from_utf8_lossy(&o.stdout);
    assert!(all.contains(" elapsed, ETA 00:00:0"), "{all}");
    assert!(all.contains("T: 0 CPU  0 C:"), "{all}");
    assert!(
        all.contains("\x1b[J"),
        "the display is cleared at the end: {all}"
    );
    assert!(all.contains("T: 0 ("), "{all}");
}

#[test]
fn help_and_version() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for opt in [
        "-m, --mlockall",
        "--policy",
        "--mainaffinity",
        "--json=FILE",
        "-N, --nsecs",
        "--default-system",
    ] {
        assert!(out.contains(opt), "{opt} missing from --help");
    }
    assert!(run(&["-V"]).status.success());
}
