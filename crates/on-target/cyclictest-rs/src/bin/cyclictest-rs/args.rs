//! cyclictest's command line, parsed the way its `getopt_long` does: short clusters
//! (`-mqp80`), `--long=value` / `--long value`, unique long prefixes, and the optional
//! arguments of `-a`/`-t` taken from the next word when it looks like a value.
//! (clap would make `-h` help and cannot peek like cyclictest; this parser is small.)

use std::path::PathBuf;

use cyclictest::parse_cpulist;
use cyclictest::{BackendKind, Policy};

/// A usage error (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parsed options.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// `-a [CPUSET]`: `Some(None)` = all allowed CPUs.
    pub affinity: Option<Option<Vec<usize>>>,
    /// `-t [N]`: `Some(None)` = one per CPU of the affinity set.
    pub threads: Option<Option<usize>>,
    /// `-S`.
    pub smp: bool,
    /// `-p`.
    pub priority: Option<i32>,
    /// `--policy`.
    pub policy: Option<Policy>,
    /// `-i` in µs.
    pub interval_us: u64,
    /// `-l` (0 = endless).
    pub loops: u64,
    /// `-D` in seconds.
    pub duration_s: Option<u64>,
    /// `-h`/`-H`: histogram rows.
    pub histogram: Option<u64>,
    /// `-H`.
    pub histofall: bool,
    /// `--histfile`.
    pub histfile: Option<PathBuf>,
    /// `--bucket-ns`.
    pub bucket_ns: Option<u64>,
    /// `-N`.
    pub nsecs: bool,
    /// `-q`.
    pub quiet: bool,
    /// mlockall (default on; `--no-mlockall` turns it off).
    pub mlock: bool,
    /// `--default-system`: no PM QoS request.
    pub default_system: bool,
    /// `--latency`.
    pub latency_us: i32,
    /// `--mainaffinity`.
    pub main_affinity: Option<Vec<usize>>,
    /// `--json`.
    pub json: Option<PathBuf>,
    /// `--json-native`.
    pub json_native: Option<PathBuf>,
    /// `--backend`.
    pub backend: BackendKind,
    /// `--outliers`.
    pub outliers: usize,
    /// `--help`.
    pub help: bool,
    /// `--version`.
    pub version: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            affinity: None,
            threads: None,
            smp: false,
            priority: None,
            policy: None,
            interval_us: 1000,
            loops: 0,
            duration_s: None,
            histogram: None,
            histofall: false,
            histfile: None,
            bucket_ns: None,
            nsecs: false,
            quiet: false,
            mlock: true,
            default_system: false,
            latency_us: 0,
            main_affinity: None,
            json: None,
            json_native: None,
            backend: BackendKind::Posix,
            outliers: 16,
            help: false,
            version: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flag,
    Required,
    /// Optional argument; cyclictest also takes the next word if it looks like a value.
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Affinity,
    Threads,
    Smp,
    Priority,
    Policy,
    Interval,
    Loops,
    Duration,
    Histogram,
    Histofall,
    Histfile,
    BucketNs,
    Nsecs,
    Quiet,
    Mlock,
    NoMlock,
    DefaultSystem,
    Latency,
    MainAffinity,
    Json,
    JsonNative,
    Backend,
    Outliers,
    Distance,
    Unbuffered,
    Help,
    Version,
    Unsupported(&'static str),
}

struct Def {
    short: Option<char>,
    long: &'static str,
    kind: Kind,
    id: Id,
}

const fn d(short: Option<char>, long: &'static str, kind: Kind, id: Id) -> Def {
    Def {
        short,
        long,
        kind,
        id,
    }
}

const DEFS: &[Def] = &[
    d(Some('a'), "affinity", Kind::Optional, Id::Affinity),
    d(Some('t'), "threads", Kind::Optional, Id::Threads),
    d(Some('S'), "smp", Kind::Flag, Id::Smp),
    d(Some('p'), "priority", Kind::Required, Id::Priority),
    d(None, "policy", Kind::Required, Id::Policy),
    d(Some('i'), "interval", Kind::Required, Id::Interval),
    d(Some('l'), "loops", Kind::Required, Id::Loops),
    d(Some('D'), "duration", Kind::Required, Id::Duration),
    d(Some('h'), "histogram", Kind::Required, Id::Histogram),
    d(Some('H'), "histofall", Kind::Required, Id::Histofall),
    d(None, "histfile", Kind::Required, Id::Histfile),
    d(None, "bucket-ns", Kind::Required, Id::BucketNs),
    d(Some('N'), "nsecs", Kind::Flag, Id::Nsecs),
    d(Some('q'), "quiet", Kind::Flag, Id::Quiet),
    d(Some('m'), "mlockall", Kind::Flag, Id::Mlock),
    d(None, "no-mlockall", Kind::Flag, Id::NoMlock),
    d(None, "default-system", Kind::Flag, Id::DefaultSystem),
    d(None, "latency", Kind::Required, Id::Latency),
    d(None, "mainaffinity", Kind::Required, Id::MainAffinity),
    d(None, "json", Kind::Required, Id::Json),
    d(None, "json-native", Kind::Required, Id::JsonNative),
    d(None, "backend", Kind::Required, Id::Backend),
    d(None, "outliers", Kind::Required, Id::Outliers),
    d(Some('d'), "distance", Kind::Required, Id::Distance),
    d(Some('u'), "unbuffered", Kind::Flag, Id::Unbuffered),
    d(None, "help", Kind::Flag, Id::Help),
    d(Some('V'), "version", Kind::Flag, Id::Version),
    // cyclictest options this tool does not implement: named so the error is clear.
    d(
        Some('A'),
        "aligned",
        Kind::Optional,
        Id::Unsupported("aligned wake-ups"),
    ),
    d(
        Some('b'),
        "breaktrace",
        Kind::Required,
        Id::Unsupported("ftrace break"),
    ),
    d(
        Some('c'),
        "clock",
        Kind::Required,
        Id::Unsupported("clock selection (CLOCK_MONOTONIC only)"),
    ),
    d(
        Some('F'),
        "fifo",
        Kind::Required,
        Id::Unsupported("stats FIFO"),
    ),
    d(
        Some('M'),
        "refresh_on_max",
        Kind::Flag,
        Id::Unsupported("refresh on max"),
    ),
    d(
        Some('o'),
        "oscope",
        Kind::Required,
        Id::Unsupported("oscilloscope mode"),
    ),
    d(
        Some('r'),
        "relative",
        Kind::Flag,
        Id::Unsupported("relative timers"),
    ),
    d(
        Some('R'),
        "resolution",
        Kind::Flag,
        Id::Unsupported("clock resolution check"),
    ),
    d(
        Some('s'),
        "system",
        Kind::Flag,
        Id::Unsupported("sys_nanosleep mode"),
    ),
    d(
        Some('v'),
        "verbose",
        Kind::Flag,
        Id::Unsupported("verbose sample dump (use --json-native)"),
    ),
    d(
        Some('x'),
        "posix_timers",
        Kind::Flag,
        Id::Unsupported("POSIX timers"),
    ),
    d(
        None,
        "laptop",
        Kind::Flag,
        Id::Unsupported("laptop mode (use --latency)"),
    ),
    d(
        None,
        "secaligned",
        Kind::Optional,
        Id::Unsupported("second-aligned wake-ups"),
    ),
    d(None, "smi", Kind::Flag, Id::Unsupported("SMI counting")),
    d(
        None,
        "spike",
        Kind::Required,
        Id::Unsupported("spike tracing (use --outliers)"),
    ),
    d(
        None,
        "spike-nodes",
        Kind::Required,
        Id::Unsupported("spike tracing"),
    ),
    d(
        None,
        "tracemark",
        Kind::Flag,
        Id::Unsupported("trace marks"),
    ),
    d(
        None,
        "priospread",
        Kind::Flag,
        Id::Unsupported("priority spread"),
    ),
    d(
        None,
        "dbg_cyclictest",
        Kind::Flag,
        Id::Unsupported("debug output"),
    ),
    d(
        None,
        "deepest-idle-state",
        Kind::Required,
        Id::Unsupported("idle-state control (use --latency)"),
    ),
];

fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// cyclictest's test for a word after `-a`/`-t` that is their optional value.
fn looks_like_value(id: Id, word: &str) -> bool {
    let first = word.chars().next();
    match id {
        Id::Affinity => matches!(first, Some('0'..='9' | '!' | '+' | 'a')),
        Id::Threads => matches!(first, Some('1'..='9')),
        _ => false,
    }
}

fn num<T: std::str::FromStr>(opt: &str, v: &str, what: &str) -> Result<T, UsageError> {
    v.trim()
        .parse()
        .or_else(|_| err(format!("invalid value `{v}` for {opt}: expected {what}")))
}

/// `-D` values: N seconds, or N with a suffix s, m, h or d.
pub fn parse_duration_s(v: &str) -> Result<u64, UsageError> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, suffix) = v.split_at(split);
    let bad = || {
        err(format!(
            "invalid duration `{v}` for -D: use N, Ns, Nm, Nh or Nd (e.g. 90s, 10m, 24h)"
        ))
    };
    let n: u64 = match n.parse() {
        Ok(n) => n,
        Err(_) => return bad(),
    };
    let mult = match suffix {
        "" | "s" | "S" => 1,
        "m" | "M" => 60,
        "h" | "H" => 3600,
        "d" | "D" => 86_400,
        _ => return bad(),
    };
    if n == 0 {
        return err("-D 0: the duration must be at least 1 s (omit -D to run until stopped)");
    }
    let max_s = cyclictest::MAX_DURATION_NS / 1_000_000_000;
    match n.checked_mul(mult) {
        Some(s) if s <= max_s => Ok(s),
        _ => err(format!(
            "-D {v}: longer than the engine's limit of 365 days ({max_s} s); use e.g. 24h or 7d"
        )),
    }
}

fn cpus_arg(opt: &str, v: &str) -> Result<Vec<usize>, UsageError> {
    if v == "all" {
        return Ok(Vec::new());
    }
    parse_cpulist(v).or_else(|e| err(format!("invalid CPU list `{v}` for {opt}: {e}")))
}

fn apply(a: &mut Args, id: Id, opt: &str, val: Option<&str>) -> Result<(), UsageError> {
    let v = || val.unwrap_or("");
    match id {
        Id::Affinity => {
            a.affinity = Some(
                val.map(|s| cpus_arg(opt, s))
                    .transpose()?
                    .filter(|l| !l.is_empty()),
            )
        }
        Id::Threads => a.threads = Some(val.map(|s| thread_count(opt, s)).transpose()?),
        Id::Smp => a.smp = true,
        Id::Priority => a.priority = Some(num(opt, v(), "a priority 0-99")?),
        Id::Policy => {
            a.policy = Some(Policy::parse(v()).ok_or_else(|| {
                UsageError(format!(
                    "invalid policy `{}` for {opt}: use other, normal, batch, idle, fifo or rr",
                    v()
                ))
            })?)
        }
        Id::Interval => a.interval_us = interval_us(opt, v())?,
        Id::Loops => a.loops = num(opt, v(), "a loop count (0 = endless)")?,
        Id::Duration => a.duration_s = Some(parse_duration_s(v())?),
        Id::Histogram | Id::Histofall => {
            a.histogram = Some(histogram_rows(opt, v())?);
            a.histofall |= id == Id::Histofall;
        }
        Id::Histfile => a.histfile = Some(PathBuf::from(v())),
        Id::BucketNs => {
            a.bucket_ns = Some(positive(
                opt,
                v(),
                "a bucket width in ns",
                "the bucket width must be at least 1 ns",
            )?)
        }
        Id::Nsecs => a.nsecs = true,
        Id::Quiet => a.quiet = true,
        Id::Mlock => a.mlock = true,
        Id::NoMlock => a.mlock = false,
        Id::DefaultSystem => a.default_system = true,
        Id::Latency => {
            let l: i32 = num(opt, v(), "a PM QoS latency in µs")?;
            a.latency_us = l.max(0);
        }
        Id::MainAffinity => a.main_affinity = Some(main_cpus(opt, v())?),
        Id::Json => a.json = Some(PathBuf::from(v())),
        Id::JsonNative => a.json_native = Some(PathBuf::from(v())),
        Id::Backend => {
            a.backend = BackendKind::parse(v()).ok_or_else(|| {
                UsageError(format!(
                    "invalid backend `{}` for {opt}: use posix or evl",
                    v()
                ))
            })?
        }
        Id::Outliers => a.outliers = num(opt, v(), "a count")?,
        Id::Distance => zero_distance(opt, v())?,
        Id::Unbuffered => {}
        Id::Help => a.help = true,
        Id::Version => a.version = true,
        Id::Unsupported(what) => {
            return err(format!(
                "option {opt} ({what}) is not supported by cyclictest-rs; see docs/engine.md"
            ));
        }
    }
    Ok(())
}

/// `-t N`: at least one thread.
fn thread_count(opt: &str, v: &str) -> Result<usize, UsageError> {
    match num(opt, v, "a thread count")? {
        0 => err(format!("{opt} 0: give at least 1 thread")),
        n => Ok(n),
    }
}

/// `-i US`: within the engine's interval bounds (1 µs to 1 s).
fn interval_us(opt: &str, v: &str) -> Result<u64, UsageError> {
    let i: u64 = num(opt, v, "an interval in µs")?;
    let (min, max) = (
        cyclictest::MIN_INTERVAL_NS / 1000,
        cyclictest::MAX_INTERVAL_NS / 1000,
    );
    if !(min..=max).contains(&i) {
        return err(format!(
            "{opt} {i}: the interval must be {min} to {max} µs (1 µs to 1 s)"
        ));
    }
    Ok(i)
}

/// `-h ROWS`: at least one row, at most the engine's bucket count.
fn histogram_rows(opt: &str, v: &str) -> Result<u64, UsageError> {
    let h: u64 = num(opt, v, "the histogram size (rows)")?;
    if h == 0 {
        return err(format!("{opt} 0: the histogram needs at least 1 row"));
    }
    Ok(h.min(cyclictest::MAX_BUCKETS as u64))
}

/// A number of at least 1; `why` says what 0 would break.
fn positive(opt: &str, v: &str, what: &str, why: &str) -> Result<u64, UsageError> {
    match num(opt, v, what)? {
        0 => err(format!("{opt} 0: {why}")),
        n => Ok(n),
    }
}

/// `--mainaffinity CPUS`: named CPUs (not `all`).
fn main_cpus(opt: &str, v: &str) -> Result<Vec<usize>, UsageError> {
    let l = cpus_arg(opt, v)?;
    if l.is_empty() {
        return err(format!("{opt} all: name the housekeeping CPUs (e.g. 0)"));
    }
    Ok(l)
}

/// `-d US`: cyclictest ignores the distance with -h and for a single thread; only 0 (equal
/// intervals, what this tool does) is accepted.
fn zero_distance(opt: &str, v: &str) -> Result<(), UsageError> {
    let dist: u64 = num(opt, v, "a distance in µs")?;
    if dist != 0 {
        return err(format!(
            "{opt} {dist}: per-thread interval distance is not supported; all threads \
             use the same interval (-d 0)"
        ));
    }
    Ok(())
}

/// Parses `argv[1..]`.
pub fn parse<S: AsRef<str>>(argv: &[S]) -> Result<Args, UsageError> {
    let mut a = Args::default();
    let mut words = Words {
        words: argv.iter().map(|s| s.as_ref()).collect(),
        next: 0,
    };
    while let Some(w) = words.take() {
        if w == "--" {
            if let Some(extra) = words.take() {
                return err(format!("unexpected argument `{extra}`"));
            }
            break;
        }
        if let Some(body) = w.strip_prefix("--") {
            parse_long(&mut a, body, &mut words)?;
        } else if let Some(cluster) = w.strip_prefix('-')
            && !cluster.is_empty()
        {
            parse_short_cluster(&mut a, cluster, &mut words)?;
        } else {
            return err(format!("unexpected argument `{w}` (options start with -)"));
        }
    }
    Ok(a)
}

/// The command line's words, and the next one to read: an option may take it as its value.
struct Words<'a> {
    words: Vec<&'a str>,
    next: usize,
}

impl<'a> Words<'a> {
    fn take(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.next).copied()?;
        self.next += 1;
        Some(w)
    }

    /// The value of `opt`, which needs one: the next word.
    fn required(&mut self, opt: &str) -> Result<&'a str, UsageError> {
        self.take()
            .ok_or_else(|| UsageError(format!("option {opt} needs a value")))
    }

    /// The value of an option that may have one: the next word, if it looks like one.
    fn optional(&mut self, id: Id) -> Option<&'a str> {
        let next = self.words.get(self.next).copied()?;
        if looks_like_value(id, next) {
            self.next += 1;
            Some(next)
        } else {
            None
        }
    }
}

/// `--name`, `--name=value` or `--name value`; a unique prefix of a name is that option.
fn parse_long(a: &mut Args, body: &str, words: &mut Words<'_>) -> Result<(), UsageError> {
    let (name, inline) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let def = long_def(name)?;
    let opt = format!("--{}", def.long);
    let val = match (def.kind, inline) {
        (Kind::Flag, Some(_)) => return err(format!("option {opt} takes no value")),
        (Kind::Flag, None) => None,
        (Kind::Required | Kind::Optional, Some(v)) => Some(v),
        (Kind::Required, None) => Some(words.required(&opt)?),
        (Kind::Optional, None) => words.optional(def.id),
    };
    apply(a, def.id, &opt, val)
}

/// The option named `name` exactly, else the only one whose name starts with it.
fn long_def(name: &str) -> Result<&'static Def, UsageError> {
    if let Some(d) = DEFS.iter().find(|d| d.long == name) {
        return Ok(d);
    }
    let cands: Vec<&'static Def> = DEFS.iter().filter(|d| d.long.starts_with(name)).collect();
    match cands.as_slice() {
        [d] => Ok(d),
        [] => err(format!("unknown option `--{name}` (see --help)")),
        _ => {
            let names: Vec<String> = cands.iter().map(|d| format!("--{}", d.long)).collect();
            err(format!(
                "option `--{name}` is ambiguous: {}",
                names.join(", ")
            ))
        }
    }
}

/// `-abc` (flags), `-p80` / `-p 80` (a value ends the cluster).
fn parse_short_cluster(
    a: &mut Args,
    cluster: &str,
    words: &mut Words<'_>,
) -> Result<(), UsageError> {
    for (pos, c) in cluster.char_indices() {
        let def = DEFS
            .iter()
            .find(|d| d.short == Some(c))
            .ok_or_else(|| UsageError(format!("unknown option `-{c}` (see --help)")))?;
        let opt = format!("-{c}");
        let rest = &cluster[pos + c.len_utf8()..];
        let val = match def.kind {
            Kind::Flag => None,
            _ if !rest.is_empty() => Some(rest),
            Kind::Required => Some(words.required(&opt)?),
            Kind::Optional => words.optional(def.id),
        };
        apply(a, def.id, &opt, val)?;
        if def.kind != Kind::Flag {
            return Ok(());
        }
    }
    Ok(())
}

/// `--help` text.
pub const USAGE: &str = "\
cyclictest-rs — timer latency measurement, cyclictest-compatible

Usage: cyclictest-rs [OPTIONS]

Measurement (cyclictest's options):
  -a, --affinity[=CPUSET]   pin threads round-robin to CPUSET (e.g. 2-3); without a list:
                            all allowed CPUs. Default: the first allowed CPU
  -t, --threads[=N]         N sampler threads (without N: one per CPU of the affinity set)
  -S, --smp                 one thread per allowed CPU (= -a -t)
  -p, --priority=PRIO       SCHED_FIFO priority 1-99 (default: SCHED_OTHER)
      --policy=NAME         other|normal|batch|idle|fifo|rr
  -i, --interval=US         period in µs (default 1000)
  -l, --loops=N             stop after N periods per thread (0 = endless)
  -D, --duration=TIME       stop after TIME (N, Ns, Nm, Nh, Nd)
  -h, --histogram=N         histogram of N rows of 1 µs (1 ns with -N), printed at the end
  -H, --histofall=N         same, plus a column summing all threads
      --histfile=PATH       write the text histogram to PATH instead of stdout
  -N, --nsecs               report in ns (and 1 ns histogram rows) instead of truncated µs
  -q, --quiet               print only the summary at the end (no progress display)
  -m, --mlockall            lock memory (on by default)
      --mainaffinity=CPUSET run the main thread on these (housekeeping) CPUs
      --json=FILE           write rt-tests 2.x JSON (same keys/types as cyclictest) (- = stdout)
      --latency=US          PM QoS value held on /dev/cpu_dma_latency (default 0)
      --default-system      do not hold a PM QoS request: measure the system as configured

Beyond cyclictest:
      --json-native=FILE    write the native report: percentiles, missed periods,
                            outliers, histogram, backend and clock (- = stdout)
      --no-mlockall         do not lock memory
      --bucket-ns=NS        histogram bucket width in ns (default: 1000, or 1 with -N)
      --outliers=K          keep the K largest latencies per thread (default 16)
      --backend=NAME        posix (clock_nanosleep) or evl (libevl, RROS/EVL kernels)
      --help                this text
  -V, --version             version

Exit status: 0 measured (also when stopped by SIGINT/SIGTERM), 1 run failed, 2 bad options.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, UsageError> {
        parse(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn bench_command_line() {
        let a = p("-m -p 80 -t 1 -a 1 -i 200 -l 20000 -h 2000 -q --json=/tmp/x.json").unwrap();
        assert_eq!(a.priority, Some(80));
        assert_eq!(a.threads, Some(Some(1)));
        assert_eq!(a.affinity, Some(Some(vec![1])));
        assert_eq!(
            (a.interval_us, a.loops, a.histogram),
            (200, 20000, Some(2000))
        );
        assert!(a.quiet && a.mlock);
        assert_eq!(a.json, Some(PathBuf::from("/tmp/x.json")));
    }

    #[test]
    fn getopt_forms() {
        let a = p("-mqp80 -t4 -a2-3 -i100 --loops 5 --pol=rr -D 2m -N").unwrap();
        assert_eq!(a.priority, Some(80));
        assert_eq!(a.threads, Some(Some(4)));
        assert_eq!(a.affinity, Some(Some(vec![2, 3])));
        assert_eq!(a.policy, Some(Policy::Rr));
        assert_eq!(a.duration_s, Some(120));
        assert!(a.nsecs && a.quiet);
        // Optional arguments: a following option is not a value.
        let a = p("-t -a -p 90").unwrap();
        assert_eq!((a.threads, a.affinity.clone()), (Some(None), Some(None)));
        let a = p("-a 0 -t 2").unwrap();
        assert_eq!(a.affinity, Some(Some(vec![0])));
        let a = p("--affinity=all --mainaffinity=0 --default-system --latency 5").unwrap();
        assert_eq!(a.affinity, Some(None));
        assert_eq!(a.main_affinity, Some(vec![0]));
        assert!(a.default_system);
        assert_eq!(a.latency_us, 5);
        assert!(!p("--no-mlockall").unwrap().mlock);
        assert!(p("-H 10").unwrap().histofall);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_s("90").unwrap(), 90);
        assert_eq!(parse_duration_s("1h").unwrap(), 3600);
        assert_eq!(parse_duration_s("2d").unwrap(), 172_800);
        assert_eq!(parse_duration_s("365d").unwrap(), 365 * 86_400);
        for bad in ["", "x", "1x", "1.5h", "-1", "0"] {
            assert!(parse_duration_s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_option_and_fix() {
        let e = |s: &str| p(s).unwrap_err().0;
        assert!(e("-i 0").contains("1 to 1000000 µs"));
        assert!(e("-i abc").contains("invalid value `abc` for -i"));
        assert!(e("-p").contains("-p needs a value"));
        assert!(e("--policy=deadline").contains("use other, normal, batch, idle, fifo or rr"));
        assert!(e("-a 3-1").contains("invalid CPU list"));
        assert!(e("-x").contains("not supported"));
        assert!(e("-r").contains("relative timers"));
        assert!(e("--bogus").contains("unknown option `--bogus`"));
        assert!(e("-Z").contains("unknown option `-Z`"));
        assert!(e("--h=3").contains("ambiguous"));
        assert!(e("stray").contains("unexpected argument"));
        assert!(e("-h 0").contains("at least 1 row"));
        assert!(e("-d 500").contains("not supported"));
        assert!(e("--backend=rtai").contains("posix or evl"));
        assert!(e("-q=1").contains("unknown option `-=`"));
        assert!(p("-d 0").is_ok());
    }
}
