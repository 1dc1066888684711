//! Building real test images: a partitioned sparse file (sfdisk), a FAT boot partition
//! (mkfs.vfat + mtools) holding the boot files, scattered data, a bmap made by the real
//! `bmaptool create`, and the image compressed by the real `bzip2`, `gzip` and `zstd`.
//!
//! Tools come from Debian packages: fdisk (sfdisk), dosfstools (mkfs.vfat), mtools
//! (mmd, mcopy), bmap-tools (bmaptool), bzip2, gzip, zstd. A test whose tool is missing
//! says so on stderr and passes without checking anything.

#![allow(dead_code)]

use rros_board::Board;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MIB: u64 = 1 << 20;

/// Prints a notice past the test harness's capture, so a skip is visible.
pub fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "NOTICE: {msg}");
}

pub fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// True when every tool is present; otherwise prints which are missing.
pub fn tools(test: &str, needed: &[&str]) -> bool {
    let missing: Vec<&str> = needed.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    notice(&format!(
        "{test}: skipped, missing {} (Debian: fdisk dosfstools mtools bmap-tools bzip2 gzip zstd)",
        missing.join(", ")
    ));
    false
}

pub const IMAGE_TOOLS: &[&str] = &["sfdisk", "mkfs.vfat", "mmd", "mcopy", "bmaptool"];

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn board(name: &str) -> Board {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../board")
        .join(format!("{name}.toml"));
    rros_board::load_board(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .0
}

/// The boot files' kernel command line for a board: a BSP's base plus the rendered additions.
pub fn cmdline_for(board: &Board) -> String {
    format!(
        "console=serial0,115200 root=/dev/mmcblk0p2 rootfstype=ext4 rootwait {}",
        rros_board::render::cmdline(board)
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Mbr,
    Gpt,
}

/// What to put in the image.
pub struct Spec {
    pub table: Table,
    /// Bytes; a size that is not a multiple of 4096 exercises a partial last block.
    pub size: u64,
    /// Files in the FAT boot partition: (path, content).
    pub boot_files: Vec<(String, String)>,
    /// Seed of the scattered data in the second partition.
    pub seed: u64,
}

impl Spec {
    pub fn pi(board: &Board) -> Spec {
        Spec {
            table: Table::Mbr,
            size: 48 * MIB,
            boot_files: vec![
                ("cmdline.txt".into(), cmdline_for(board) + "\n"),
                ("config.txt".into(), "arm_64bit=1\nenable_uart=1\n".into()),
            ],
            seed: 1,
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Offsets (in the image) of the data written into partition 2.
pub fn data_offsets(size: u64) -> Vec<u64> {
    vec![
        20 * MIB,
        20 * MIB + 300 * 1024,
        33 * MIB + 4096,
        size - 6000,
    ]
}

/// Builds the image at `dir/name` and returns its path.
pub fn build_image(dir: &Path, name: &str, spec: &Spec) -> PathBuf {
    let img = dir.join(name);
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(spec.size).unwrap();
    drop(f);
    // Partition 1: FAT boot, 1 MiB..17 MiB; partition 2: the rest of the whole MiBs.
    let sectors = spec.size / 512;
    let script = match spec.table {
        Table::Mbr => format!(
            "label: dos\nstart=2048, size=32768, type=c, bootable\nstart=34816, size={}, type=83\n",
            sectors / 2048 * 2048 - 34816
        ),
        Table::Gpt => format!(
            "label: gpt\nstart=2048, size=32768, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=boot\nstart=34816, size={}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n",
            (sectors - 34) / 2048 * 2048 - 34816 - 2048
        ),
    };
    let mut child = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sfdisk");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed on {script}");

    run(Command::new("mkfs.vfat")
        .args(["-n", "BOOT", "--offset", "2048"])
        .arg(&img)
        .arg("16384")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null()));
    let fat = format!("{}@@1M", img.display());
    let staging = dir.join(format!("{name}.files"));
    std::fs::create_dir_all(&staging).unwrap();
    let mut made_dirs = std::collections::BTreeSet::new();
    for (path, content) in &spec.boot_files {
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..parts.len() {
            let d = parts[..depth].join("/");
            if made_dirs.insert(d.clone()) {
                run(Command::new("mmd")
                    .arg("-i")
                    .arg(&fat)
                    .arg(format!("::{d}")));
            }
        }
        let local = staging.join(path.replace('/', "_"));
        std::fs::write(&local, content).unwrap();
        run(Command::new("mcopy")
            .arg("-i")
            .arg(&fat)
            .arg(&local)
            .arg(format!("::{path}")));
    }
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    for (i, off) in data_offsets(spec.size).into_iter().enumerate() {
        let len = (200 * 1024).min(spec.size - off) as usize;
        f.write_all_at(&noise(spec.seed * 100 + i as u64, len), off)
            .unwrap();
    }
    img
}

/// `bmaptool create` → `<image>.bmap` beside it (bmaptool's naming for `x.wic` is `x.wic.bmap`).
pub fn make_bmap(img: &Path) -> PathBuf {
    let bmap = PathBuf::from(format!("{}.bmap", img.display()));
    run(Command::new("bmaptool")
        .arg("create")
        .arg("-o")
        .arg(&bmap)
        .arg(img));
    bmap
}

/// Compresses with the real tool; the result is `<image>.<ext>` (the original stays).
pub fn compress(img: &Path, ext: &str) -> PathBuf {
    let out = PathBuf::from(format!("{}.{ext}", img.display()));
    let file = std::fs::File::create(&out).unwrap();
    let mut cmd = match ext {
        "bz2" => Command::new("bzip2"),
        "gz" => Command::new("gzip"),
        "zst" => {
            let mut c = Command::new("zstd");
            c.arg("-q");
            c
        }
        other => panic!("no compressor for {other}"),
    };
    run(cmd.arg("-c").arg(img).stdout(file));
    out
}

/// The compressors present, as extensions (with "" for uncompressed first).
pub fn formats() -> Vec<&'static str> {
    let mut out = vec![""];
    for (tool, ext) in [("bzip2", "bz2"), ("gzip", "gz"), ("zstd", "zst")] {
        if have(tool) {
            out.push(ext);
        } else {
            notice(&format!("{tool} missing: .wic.{ext} not tested"));
        }
    }
    out
}

/// Copies `img` and bmap under a new stem so `x.wic.bz2` finds `x.wic.bmap`.
pub fn with_ext(img: &Path, ext: &str) -> PathBuf {
    if ext.is_empty() {
        img.to_owned()
    } else {
        compress(img, ext)
    }
}

/// Flips one byte of a file.
pub fn flip_byte(path: &Path, offset: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
}

/// Recomputes a bmap's own checksum the way bmaptool does (after a deliberate edit).
pub fn reseal_bmap(path: &Path) {
    use sha2::{Digest, Sha256};
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("<BmapFileChecksum>").unwrap() + "<BmapFileChecksum>".len();
    let end = text[start..].find("</BmapFileChecksum>").unwrap() + start;
    let stated = text[start..end].trim().to_owned();
    let zeroed = text.replacen(&stated, &"0".repeat(64), 1);
    let sum: String = Sha256::digest(zeroed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(path, zeroed.replacen(&"0".repeat(64), &sum, 1)).unwrap();
}

pub fn same_content(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}
