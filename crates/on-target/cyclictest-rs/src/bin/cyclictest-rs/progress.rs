//! The live terminal display (stderr, only when it is a terminal).

use std::io::Write;
use std::time::Duration;

use cyclictest::{Observer, Progress};

/// Redraws a block of lines on stderr: a header (elapsed / ETA) and one line per thread.
pub struct TermProgress {
    nsecs: bool,
    drawn: usize,
}

impl TermProgress {
    pub fn new(nsecs: bool) -> TermProgress {
        TermProgress { nsecs, drawn: 0 }
    }

    /// Erases the block (before the final summary goes to stdout).
    pub fn clear(&mut self) {
        if self.drawn > 0 {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\x1b[{}A\r\x1b[J", self.drawn);
            let _ = e.flush();
            self.drawn = 0;
        }
    }
}

fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl Observer for TermProgress {
    fn on_progress(&mut self, p: &Progress<'_>) {
        let unit = if self.nsecs { 1 } else { 1000 };
        let v = |x: Option<i64>| x.map_or("-".to_string(), |x| (x / unit).to_string());
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        let eta = match p.eta() {
            Some(e) => format!("ETA {}", hms(e)),
            None => "until stopped (Ctrl-C)".to_string(),
        };
        out.push_str(&format!(
            "\r\x1b[2Kcyclictest-rs: {} elapsed, {eta}  [{}]\n",
            hms(p.elapsed),
            if self.nsecs { "ns" } else { "µs" }
        ));
        for t in p.threads {
            out.push_str(&format!(
                "\r\x1b[2KT:{:2} CPU{:3} C:{:9} Min:{:>7} Act:{:>7} Avg:{:>7} Max:{:>8} Missed:{}\n",
                t.thread,
                t.cpu,
                t.samples,
                v(t.min_ns),
                v(t.last_ns),
                v(t.avg_ns.map(|a| a as i64)),
                v(t.max_ns),
                t.missed_periods
            ));
        }
        self.drawn = 1 + p.threads.len();
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(out.as_bytes());
        let _ = e.flush();
    }
}
