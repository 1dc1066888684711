//! Benchmark (not a test): what one evidence snapshot costs on this machine, as wall time and
//! as CPU time of the capturing thread, and the share of one housekeeping CPU it takes at the
//! capture's 100 ms period. Recorded in docs/PERFORMANCE.md ("Cause capture").
//!
//! `cargo run --release --manifest-path crates/on-target/Cargo.toml -p rros-cause --example snapshot_cost [CPU] [N]`

use std::time::Instant;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let cpu: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let probe = rros_cause::Probe::live(vec![cpu]);
    let tasks = probe.snapshot(0).tasks.len();
    let (wall, cpu0) = (Instant::now(), thread_cpu_ns());
    for _ in 0..n {
        std::hint::black_box(probe.snapshot(rros_cause::monotonic_ns()));
    }
    let per_wall = wall.elapsed().as_secs_f64() * 1e3 / f64::from(n);
    let per_cpu = (thread_cpu_ns() - cpu0) as f64 / 1e6 / f64::from(n);
    let period_ms = rros_cause::capture::PERIOD.as_secs_f64() * 1e3;
    println!(
        "{n} snapshots of CPU {cpu} ({tasks} threads on the system): {per_wall:.2} ms wall, {per_cpu:.2} ms CPU each; {:.1} % of one housekeeping CPU at one per {period_ms} ms",
        per_cpu / period_ms * 100.0
    );
}
