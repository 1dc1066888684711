//! Reading the kernel command line baked into an image's boot partition and checking it
//! against a board profile.
//!
//! The partition table is read directly (MBR primaries, or GPT behind a protective MBR, 512-byte
//! sectors as wic writes them); each partition holding a FAT file system is searched, in order,
//! for the file the board's boot chain reads:
//!
//! | `cmdline_delivery` | file (on a FAT partition) |
//! |---|---|
//! | `rpi-cmdline` | `cmdline.txt` (or the file `config.txt`'s `cmdline=` names) — its first line |
//! | `uboot-extlinux` | `extlinux/extlinux.conf` or `boot/extlinux/extlinux.conf` — `APPEND` of the `DEFAULT` label |
//! | `wks-bootloader` | systemd-boot `loader/entries/*.conf` (the `default` of `loader/loader.conf`) — its `options`; else GRUB `EFI/BOOT/grub.cfg` — its first `linux` line |
//!
//! `/boot` on ext4 is not read: a board whose boot files live there is reported as "not found",
//! never as a pass.

use crate::error::Error;
use rros_board::{Board, CmdlineDelivery, CpuSet};
use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const SECTOR: u64 = 512;

/// The command line found in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootCmdline {
    /// 1-based partition number.
    pub partition: u32,
    /// The file inside that partition, e.g. `cmdline.txt`.
    pub file: String,
    pub cmdline: String,
}

/// One expected parameter the command line does not carry as the profile says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Missing { expected: String },
    Differs { expected: String, found: String },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Missing { expected } => write!(f, "missing {expected}"),
            Mismatch::Differs { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
        }
    }
}

/// The result of [`check_cmdline`].
#[derive(Debug, Clone)]
pub struct CmdlineCheck {
    pub found: BootCmdline,
    /// `rros_board::render::cmdline_params` of the board.
    pub expected: Vec<String>,
    pub mismatches: Vec<Mismatch>,
}

impl CmdlineCheck {
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Reads the boot partition of `disk` (a written device or image file) and compares its kernel
/// command line with what `board` renders.
pub fn check_cmdline(disk: &Path, board: &Board) -> Result<CmdlineCheck, Error> {
    let found = read_boot_cmdline(disk, board.cmdline_delivery)?;
    let expected = rros_board::render::cmdline_params(board);
    let mismatches = compare_cmdline(&found.cmdline, &expected);
    Ok(CmdlineCheck {
        found,
        expected,
        mismatches,
    })
}

/// Finds the kernel command line that `delivery` puts into the image at `disk`.
pub fn read_boot_cmdline(disk: &Path, delivery: CmdlineDelivery) -> Result<BootCmdline, Error> {
    let fail = |message: String| Error::BootConfig {
        path: disk.to_owned(),
        message,
    };
    let wanted = match delivery {
        CmdlineDelivery::RpiCmdline => "cmdline.txt",
        CmdlineDelivery::UbootExtlinux => "extlinux/extlinux.conf",
        CmdlineDelivery::WksBootloader => "loader/entries/*.conf or EFI/BOOT/grub.cfg",
        CmdlineDelivery::Qemu => {
            return Err(fail(
                "this board's command line is given to QEMU (runqemu / the virtual board), not baked into the image: there is nothing to check".into(),
            ));
        }
    };
    let file = File::open(disk).map_err(Error::io("open for the boot check", disk))?;
    let parts = partitions(&file).map_err(fail)?;
    let mut seen = Vec::new();
    for part in &parts {
        let io = PartIo {
            file: &file,
            start: part.start,
            len: part.len,
            pos: 0,
        };
        let fs = match fatfs::FileSystem::new(io, fatfs::FsOptions::new()) {
            Ok(fs) => fs,
            Err(_) => {
                seen.push(format!("{}: not FAT", part.number));
                continue;
            }
        };
        let found = match delivery {
            CmdlineDelivery::RpiCmdline => rpi_cmdline(&fs),
            CmdlineDelivery::UbootExtlinux => extlinux(&fs),
            CmdlineDelivery::WksBootloader => efi(&fs),
            CmdlineDelivery::Qemu => unreachable!(),
        }
        .map_err(|m| fail(format!("partition {}: {m}", part.number)))?;
        match found {
            Some((file, cmdline)) => {
                return Ok(BootCmdline {
                    partition: part.number,
                    file,
                    cmdline,
                });
            }
            None => seen.push(format!("{}: FAT without {wanted}", part.number)),
        }
    }
    Err(fail(format!(
        "no FAT partition holds {wanted} (partitions {}); a /boot on ext4 is not read",
        if seen.is_empty() {
            "none".to_owned()
        } else {
            seen.join(", ")
        }
    )))
}

type Fat<'a> = fatfs::FileSystem<PartIo<'a>>;

fn read_text(fs: &Fat<'_>, path: &str) -> Result<Option<String>, String> {
    let mut file = match fs.root_dir().open_file(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open {path}: {e}")),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn rpi_cmdline(fs: &Fat<'_>) -> Result<Option<(String, String)>, String> {
    // config.txt may name another file: `cmdline=other.txt`.
    let mut name = "cmdline.txt".to_owned();
    if let Some(config) = read_text(fs, "config.txt")? {
        for line in config.lines() {
            if let Some(value) = line.trim().strip_prefix("cmdline=") {
                name = value.trim().to_owned();
            }
        }
    }
    Ok(read_text(fs, &name)?.map(|text| {
        let first = text.lines().next().unwrap_or_default().trim().to_owned();
        (name, first)
    }))
}

fn extlinux(fs: &Fat<'_>) -> Result<Option<(String, String)>, String> {
    for path in ["extlinux/extlinux.conf", "boot/extlinux/extlinux.conf"] {
        if let Some(text) = read_text(fs, path)? {
            let append = extlinux_append(&text)
                .ok_or_else(|| format!("{path} has no LABEL with an APPEND line"))?;
            return Ok(Some((path.to_owned(), append)));
        }
    }
    Ok(None)
}

/// The `APPEND` of the `DEFAULT` label (else the first label; a global `APPEND` applies to a
/// label without its own, as in U-Boot's pxe parser).
pub(crate) fn extlinux_append(text: &str) -> Option<String> {
    let mut default = None;
    let mut global = None;
    let mut labels: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let (keyword, rest) = match line.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_ascii_lowercase(), r.trim()),
            None => (line.to_ascii_lowercase(), ""),
        };
        match keyword.as_str() {
            "default" => default = Some(rest.to_owned()),
            "label" => labels.push((rest.to_owned(), None)),
            "append" => match labels.last_mut() {
                Some((_, append)) => *append = Some(rest.to_owned()),
                None => global = Some(rest.to_owned()),
            },
            _ => {}
        }
    }
    let chosen = default
        .as_deref()
        .and_then(|d| labels.iter().find(|(name, _)| name == d))
        .or(labels.first())?;
    chosen.1.clone().or(global)
}

fn efi(fs: &Fat<'_>) -> Result<Option<(String, String)>, String> {
    if let Some(found) = systemd_boot(fs)? {
        return Ok(Some(found));
    }
    for path in [
        "EFI/BOOT/grub.cfg",
        "EFI/boot/grub.cfg",
        "boot/grub/grub.cfg",
    ] {
        if let Some(text) = read_text(fs, path)? {
            let args = text
                .lines()
                .map(str::trim)
                .find_map(|l| {
                    l.strip_prefix("linux ")
                        .or_else(|| l.strip_prefix("linuxefi "))
                })
                .map(|rest| {
                    // Drop the kernel path: the rest is the command line.
                    rest.trim()
                        .split_once(char::is_whitespace)
                        .map(|(_, args)| args.trim().to_owned())
                        .unwrap_or_default()
                })
                .ok_or_else(|| format!("{path} has no `linux` line"))?;
            return Ok(Some((path.to_owned(), args)));
        }
    }
    Ok(None)
}

fn systemd_boot(fs: &Fat<'_>) -> Result<Option<(String, String)>, String> {
    let dir = match fs.root_dir().open_dir("loader/entries") {
        Ok(d) => d,
        Err(_) => return Ok(None),
    };
    let mut entries = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(|e| format!("cannot list loader/entries: {e}"))?;
        let name = entry.file_name();
        if entry.is_file() && name.to_ascii_lowercase().ends_with(".conf") {
            entries.push(name);
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort();
    let default = read_text(fs, "loader/loader.conf")?.and_then(|text| {
        text.lines().find_map(|l| {
            let l = l.trim();
            l.strip_prefix("default")
                .filter(|rest| rest.starts_with(char::is_whitespace))
                .map(|rest| rest.trim().to_owned())
        })
    });
    let chosen = default
        .as_deref()
        .and_then(|pattern| {
            entries.iter().find(|name| {
                let id = name.strip_suffix(".conf").unwrap_or(name);
                glob(pattern, name) || glob(pattern, id)
            })
        })
        .unwrap_or(&entries[0])
        .clone();
    let path = format!("loader/entries/{chosen}");
    let text = read_text(fs, &path)?.unwrap_or_default();
    let options: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("options")
                .filter(|rest| rest.starts_with(char::is_whitespace))
                .map(str::trim)
        })
        .collect();
    if options.is_empty() {
        return Err(format!("{path} has no `options` line"));
    }
    Ok(Some((path, options.join(" "))))
}

/// `*` and `?` glob, as systemd-boot's `default` uses.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Compares a kernel command line with the expected parameters: every expected one must be
/// there (the last occurrence counts, as in the kernel), cpulists compared as sets, `isolcpus`
/// flags as sets, names with `-` and `_` alike.
pub fn compare_cmdline(cmdline: &str, expected: &[String]) -> Vec<Mismatch> {
    let tokens = tokenize(cmdline);
    let mut out = Vec::new();
    for want in expected {
        let (key, value) = split_param(want);
        let key = normalize(key);
        let found = tokens
            .iter()
            .rev()
            .find(|t| normalize(split_param(t).0) == key);
        match (found, value) {
            (None, _) => out.push(Mismatch::Missing {
                expected: want.clone(),
            }),
            (Some(_), None) => {}
            (Some(tok), Some(value)) => {
                let same = match split_param(tok).1 {
                    Some(found) => values_equal(&key, value, found),
                    None => false,
                };
                if !same {
                    out.push(Mismatch::Differs {
                        expected: want.clone(),
                        found: tok.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Splits on whitespace outside double quotes, up to `--` (what follows goes to init).
fn tokenize(cmdline: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    if let Some(end) = tokens.iter().position(|t| t == "--") {
        tokens.truncate(end);
    }
    tokens
}

fn split_param(token: &str) -> (&str, Option<&str>) {
    match token.split_once('=') {
        Some((k, v)) => (k, Some(v.trim_matches('"'))),
        None => (token, None),
    }
}

fn normalize(key: &str) -> String {
    key.replace('-', "_")
}

fn values_equal(key: &str, want: &str, found: &str) -> bool {
    if key == "isolcpus" {
        return isolcpus(want) == isolcpus(found);
    }
    match (CpuSet::parse(want), CpuSet::parse(found)) {
        (Ok(a), Ok(b)) => a == b,
        _ => want == found,
    }
}

/// `isolcpus=[flags,]cpulist` → (flags, cpus); no flags means `domain`.
fn isolcpus(value: &str) -> Option<(BTreeSet<String>, CpuSet)> {
    let mut flags = BTreeSet::new();
    let mut cpus = Vec::new();
    for piece in value.split(',') {
        if piece.starts_with(|c: char| c.is_ascii_alphabetic()) {
            flags.insert(piece.to_ascii_lowercase());
        } else {
            cpus.push(piece);
        }
    }
    if flags.is_empty() {
        flags.insert("domain".to_owned());
    }
    Some((flags, CpuSet::parse(&cpus.join(",")).ok()?))
}

/// A partition: 1-based number, byte range.
#[derive(Debug, Clone, Copy)]
struct Part {
    number: u32,
    start: u64,
    len: u64,
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64, what: &str) -> Result<(), String> {
    file.read_exact_at(buf, offset)
        .map_err(|e| format!("cannot read the {what}: {e}"))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The partitions of an MBR (primaries) or GPT disk, in table order.
fn partitions(file: &File) -> Result<Vec<Part>, String> {
    let mut mbr = [0u8; 512];
    read_exact_at(file, &mut mbr, 0, "partition table")?;
    if mbr[510..512] != [0x55, 0xaa] {
        return Err("no partition table (no MBR signature in sector 0)".into());
    }
    let entries: Vec<&[u8]> = (0..4).map(|i| &mbr[446 + 16 * i..462 + 16 * i]).collect();
    if entries.iter().any(|e| e[4] == 0xee) {
        return gpt(file);
    }
    let mut parts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let kind = e[4];
        // Empty and extended (container) entries hold no file system.
        if matches!(kind, 0x00 | 0x05 | 0x0f | 0x85) {
            continue;
        }
        parts.push(Part {
            number: i as u32 + 1,
            start: le32(e, 8) * SECTOR,
            len: le32(e, 12) * SECTOR,
        });
    }
    Ok(parts)
}

fn gpt(file: &File) -> Result<Vec<Part>, String> {
    let mut header = [0u8; 512];
    read_exact_at(file, &mut header, SECTOR, "GPT header")?;
    if &header[0..8] != b"EFI PART" {
        return Err("protective MBR but no GPT header in sector 1".into());
    }
    let entries_lba = le64(&header, 72);
    let count = le32(&header, 80);
    let size = le32(&header, 84);
    if !(128..=4096).contains(&size) || count > 1024 {
        return Err(format!(
            "GPT header is damaged ({count} entries of {size} bytes)"
        ));
    }
    let mut table = vec![0u8; (count * size) as usize];
    read_exact_at(file, &mut table, entries_lba * SECTOR, "GPT entries")?;
    let mut parts = Vec::new();
    for i in 0..count as usize {
        let e = &table[i * size as usize..(i + 1) * size as usize];
        if e[0..16].iter().all(|b| *b == 0) {
            continue;
        }
        let (first, last) = (le64(e, 32), le64(e, 40));
        if last < first {
            continue;
        }
        parts.push(Part {
            number: i as u32 + 1,
            start: first * SECTOR,
            len: (last - first + 1) * SECTOR,
        });
    }
    Ok(parts)
}

/// A read-only window onto one partition, for `fatfs`.
struct PartIo<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for PartIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for PartIo<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        match target {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )),
        }
    }
}

impl Write for PartIo<'_> {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the boot check never writes",
        ))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn cpulists_compare_as_sets_and_names_ignore_dashes() {
        let line = "console=serial0 isolcpus=domain,managed_irq,3,2 nohz-full=2,3 rcu_nocbs=2-3 nosoftlockup";
        let want =
            params("isolcpus=managed_irq,domain,2-3 nohz_full=2-3 rcu_nocbs=2-3 nosoftlockup");
        assert_eq!(compare_cmdline(line, &want), vec![]);
    }

    #[test]
    fn missing_and_different_parameters_are_named() {
        let line = "isolcpus=2-3 nohz_full=3 irqaffinity=0-1 irqaffinity=0";
        let want =
            params("isolcpus=managed_irq,domain,2-3 nohz_full=2-3 irqaffinity=0-1 skew_tick=1");
        let found = compare_cmdline(line, &want);
        assert_eq!(
            found,
            vec![
                Mismatch::Differs {
                    expected: "isolcpus=managed_irq,domain,2-3".into(),
                    found: "isolcpus=2-3".into()
                },
                Mismatch::Differs {
                    expected: "nohz_full=2-3".into(),
                    found: "nohz_full=3".into()
                },
                // The last occurrence is the one the kernel keeps.
                Mismatch::Differs {
                    expected: "irqaffinity=0-1".into(),
                    found: "irqaffinity=0".into()
                },
                Mismatch::Missing {
                    expected: "skew_tick=1".into()
                },
            ]
        );
    }

    #[test]
    fn arguments_after_double_dash_belong_to_init() {
        let found = compare_cmdline("root=/dev/sda -- nosoftlockup", &params("nosoftlockup"));
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn extlinux_takes_the_default_label() {
        let text = "DEFAULT b\nLABEL a\n  APPEND root=/dev/a\nlabel b\n  kernel /Image\n  append root=/dev/b nohz_full=2\n";
        assert_eq!(extlinux_append(text).unwrap(), "root=/dev/b nohz_full=2");
        let global = "APPEND quiet\nLABEL x\n  KERNEL /Image\n";
        assert_eq!(extlinux_append(global).unwrap(), "quiet");
    }

    #[test]
    fn systemd_boot_default_is_a_glob() {
        assert!(glob("rros*", "rros-6.6.conf"));
        assert!(glob("boot", "boot"));
        assert!(!glob("boot", "boot.conf"));
    }
}
