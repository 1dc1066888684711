//! Running a program with bounded time and bounded memory, its output followed line by line.
//!
//! Every subprocess of the host tools runs through here: the virtual board's build tools
//! (`mmdebstrap`, `tar`, `mkfs.ext4`, `ssh-keygen`), and `ssh` and `scp` ([`crate::ssh`]). A
//! call that overruns its time is killed and reaped; what a program prints is read in lines of
//! at most [`MAX_LINE`] bytes, and a [`Captured`] keeps at most [`MAX_CAPTURE`] bytes of each
//! stream, so a hostile or broken board (or tool) cannot grow this process without bound.
//! [`sanitize`] makes what it printed safe to show on a terminal.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest line kept from a board's output; the rest of a longer line is dropped (and
/// counted). A verdict line is ~150 bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// The most a [`Captured`] keeps of each stream; beyond it, the middle is dropped. Room for a
/// whole `report.json` read with `cat` (a real one with per-CPU histograms is ~0.5 MiB).
pub const MAX_CAPTURE: usize = 16 * 1024 * 1024;
/// Lines read ahead of their handling, per call.
const QUEUED_LINES: usize = 256;
/// Longest time any call is given: bounds absurd durations before they reach a clock.
pub const MAX_CALL: Duration = Duration::from_secs(366 * 24 * 3600);

/// What a finished (or killed) call left.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `None` when killed on our side (timeout) or ended by a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Captured {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// ssh's own failure: cannot connect, authentication refused, link lost.
    pub fn link_failed(&self) -> bool {
        self.code == Some(255)
    }

    /// The last non-empty line of stderr, for messages.
    pub fn stderr_tail(&self) -> String {
        sanitize(&last_line(&self.stderr))
    }
}

pub fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(nothing on stderr)")
        .to_owned()
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Spawns `cmd` and collects stdout and stderr (at most [`MAX_CAPTURE`] bytes of each: the
/// first lines, then the last); kills it after `timeout`.
pub fn run_captured(cmd: Command, timeout: Duration) -> std::io::Result<Captured> {
    let mut stdout = Bounded::default();
    let mut stderr = Bounded::default();
    let (status, timed_out) = run_streaming(cmd, timeout, |stream, line| {
        match stream {
            Stream::Stdout => &mut stdout,
            Stream::Stderr => &mut stderr,
        }
        .push(line);
    })?;
    let (stdout, stderr) = (stdout.text(), stderr.text());
    Ok(Captured {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout,
        stderr,
    })
}

/// Lines kept up to [`MAX_CAPTURE`] bytes: the head, then a rolling tail; what falls between
/// is counted, not kept.
#[derive(Debug, Default)]
struct Bounded {
    head: String,
    tail: std::collections::VecDeque<String>,
    tail_bytes: usize,
    dropped: usize,
}

impl Bounded {
    fn push(&mut self, line: &str) {
        if self.head.len() + line.len() < MAX_CAPTURE / 2 {
            self.head.push_str(line);
            self.head.push('\n');
            return;
        }
        self.tail.push_back(line.to_owned());
        self.tail_bytes += line.len() + 1;
        while self.tail_bytes > MAX_CAPTURE / 2 {
            let Some(old) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.len() + 1;
            self.dropped += old.len() + 1;
        }
    }

    fn text(self) -> String {
        let mut text = self.head;
        if self.dropped > 0 {
            text.push_str(&format!(
                "[… {} bytes of output not kept …]\n",
                self.dropped
            ));
        }
        for line in self.tail {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// `now + d`, for any `d` (an absurd duration gives a far, but representable, deadline).
pub fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d.min(MAX_CALL))
        .or_else(|| now.checked_add(Duration::from_secs(3600)))
        .unwrap_or(now)
}

/// Spawns `cmd`, hands every line of its stdout and stderr to `on_line` as it arrives (lines
/// longer than [`MAX_LINE`] cut there, with a note of how much was dropped), and kills it
/// after `timeout`. Returns the exit status (`None` when killed) and whether the timeout
/// struck.
pub fn run_streaming(
    mut cmd: Command,
    timeout: Duration,
    mut on_line: impl FnMut(Stream, &str),
) -> std::io::Result<(Option<ExitStatus>, bool)> {
    let deadline = deadline_after(timeout);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    // Bounded: a board printing faster than the lines are handled waits on its pipe instead
    // of growing this process (at most QUEUED_LINES × MAX_LINE bytes in flight).
    let (tx, rx) = mpsc::sync_channel::<(Stream, String)>(QUEUED_LINES);
    let readers = [
        child
            .stdout
            .take()
            .map(|out| spawn_reader(Stream::Stdout, out, tx.clone())),
        child
            .stderr
            .take()
            .map(|err| spawn_reader(Stream::Stderr, err, tx.clone())),
    ];
    drop(tx);
    let mut timed_out = false;
    let mut exited = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            timed_out = true;
            break;
        }
        match rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok((stream, line)) => on_line(stream, &line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait()? {
                    // Gone, but something it started may still hold the pipes: take what is
                    // queued and stop listening.
                    exited = Some(status);
                    while let Ok((stream, line)) = rx.recv_timeout(Duration::from_millis(200)) {
                        on_line(stream, &line);
                    }
                    break;
                }
            }
        }
    }
    let status = match exited {
        Some(status) => Some(status),
        None if timed_out => {
            kill_and_reap(&mut child);
            None
        }
        None => wait_until(&mut child, deadline)?,
    };
    // The readers end when the pipes close; one held open by a grandchild must not hold us,
    // so they are detached rather than joined.
    drop(readers);
    while let Ok((stream, line)) = rx.try_recv() {
        on_line(stream, &line);
    }
    let timed_out = timed_out || status.is_none();
    Ok((status, timed_out))
}

fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    tx: mpsc::SyncSender<(Stream, String)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        while let Some(line) = read_bounded_line(&mut reader, MAX_LINE) {
            if tx.send((stream, line)).is_err() {
                break;
            }
        }
    })
}

/// Reads one line (without its `\n` or `\r\n`) and keeps at most `max` bytes of it; the rest
/// of a longer line is read and dropped, and the line ends with a note of how much. `None` at
/// the end of the input.
pub fn read_bounded_line(reader: &mut impl BufRead, max: usize) -> Option<String> {
    let mut kept: Vec<u8> = Vec::new();
    let mut dropped = 0usize;
    let mut any = false;
    loop {
        let (used, done) = {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if buf.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = max.saturating_sub(kept.len());
            let take = room.min(chunk.len());
            kept.extend_from_slice(&chunk[..take]);
            dropped += chunk.len() - take;
            (used, done)
        };
        reader.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return None;
    }
    if kept.last() == Some(&b'\r') && dropped == 0 {
        kept.pop();
    }
    let mut line = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        line.push_str(&format!(" [… {dropped} more bytes of this line dropped]"));
    }
    Some(line)
}

/// What is safe to show on a terminal or in a log line: control characters (C0, DEL, C1:
/// escape sequences, carriage returns, bells) and the bidirectional overrides are shown
/// escaped (`\u{1b}`), tabs become a space; everything else is kept.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c == '\t' {
            out.push(' ');
        } else if c.is_control() || bidi {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits for the child until `deadline`; kills it past that (`Ok(None)`).
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill_and_reap(child);
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 10 of issue #12: a line is kept up to the bound, the rest of it dropped and
    /// counted, and the next line is read as usual.
    #[test]
    fn board_output_line_length_is_bounded() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\r\nnext\r\nlast");
        let mut reader = std::io::BufReader::with_capacity(64, &input[..]);
        let long = read_bounded_line(&mut reader, 100).unwrap();
        assert!(long.starts_with(&"x".repeat(100)), "{long}");
        assert!(
            long.ends_with("[… 9901 more bytes of this line dropped]"),
            "{long}"
        );
        assert_eq!(read_bounded_line(&mut reader, 100).unwrap(), "next");
        assert_eq!(read_bounded_line(&mut reader, 100).unwrap(), "last");
        assert_eq!(read_bounded_line(&mut reader, 100), None);
    }

    #[test]
    fn board_output_capture_is_bounded() {
        let mut b = Bounded::default();
        let line = "y".repeat(64 * 1024);
        for _ in 0..(MAX_CAPTURE / (64 * 1024) + 100) {
            b.push(&line);
        }
        let text = b.text();
        assert!(text.len() <= MAX_CAPTURE + 100, "{}", text.len());
        assert!(text.contains("bytes of output not kept"));
    }

    /// Finding 16 of issue #12: escape sequences, carriage returns, bells and bidi overrides
    /// are shown escaped, never acted on.
    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(sanitize("plain text: 12 µs"), "plain text: 12 µs");
        assert_eq!(sanitize("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(sanitize("x\ry\u{7}"), "x\\u{d}y\\u{7}");
        assert_eq!(sanitize("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(sanitize("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(sanitize("a\tb"), "a b");
        assert!(
            !sanitize("\u{1b}]0;title\u{7}")
                .chars()
                .any(char::is_control)
        );
    }
    #[test]
    fn streaming_sees_both_streams_and_the_exit_code() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three; exit 3"]);
        let mut seen = Vec::new();
        let (status, timed_out) = run_streaming(cmd, Duration::from_secs(20), |s, l| {
            seen.push((s, l.to_owned()))
        })
        .unwrap();
        assert!(!timed_out);
        assert_eq!(status.unwrap().code(), Some(3));
        let out: Vec<_> = seen
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(out, ["one", "three"]);
        assert!(seen.contains(&(Stream::Stderr, "two".into())));
    }

    #[test]
    fn a_call_that_overruns_is_killed_in_bounded_time() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 30"]);
        let start = Instant::now();
        let got = run_captured(cmd, Duration::from_millis(500)).unwrap();
        assert!(got.timed_out);
        assert_eq!(got.code, None);
        assert_eq!(got.stdout, "started\n");
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
