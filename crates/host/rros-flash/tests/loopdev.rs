//! On the real system: loop devices as SD cards (written, read back with O_DIRECT, refused when
//! small, fixed or mounted), and the disk holding `/` refused. Needs root and working loop
//! devices; otherwise each test says why on stderr and checks nothing.

mod common;

use common::*;
use rros_flash::{
    BmapChoice, Error, FlashOptions, Image, Left, NoProgress, Phase, Progress, Readback, Refusal,
    SystemView, Target, check_cmdline, flash, inspect,
};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Loop devices are a machine-wide resource: one test at a time here.
static LOOPS: Mutex<()> = Mutex::new(());

struct Loop {
    dev: PathBuf,
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Attaches `file` to a free loop device, or says why not.
fn attach(test: &str, file: &Path) -> Option<Loop> {
    if !is_root() {
        notice(&format!("{test}: skipped, loop devices need root"));
        return None;
    }
    if !have("losetup") {
        notice(&format!("{test}: skipped, losetup missing (Debian: mount)"));
        return None;
    }
    let out = Command::new("losetup")
        .args(["-f", "--show"])
        .arg(file)
        .output()
        .expect("losetup");
    if !out.status.success() {
        notice(&format!(
            "{test}: skipped, no loop device here (sandbox?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return None;
    }
    Some(Loop {
        dev: PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
    })
}

fn sparse_file(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    // A marker where the image has a hole: the bmap copy must leave it alone.
    f.write_all_at(b"MARKER", 10 * MIB).unwrap();
}

fn forced() -> FlashOptions {
    FlashOptions {
        force: true,
        ..FlashOptions::default()
    }
}

#[derive(Default)]
struct Phases(Vec<Phase>);
impl Progress for Phases {
    fn phase(&mut self, phase: Phase, _: u64) {
        self.0.push(phase);
    }
}

#[test]
fn a_loop_device_is_written_and_read_back_with_direct_io() {
    let _serial = serial();
    if !tools("a_loop_device_is_written", IMAGE_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rpi4 = board("rpi4");
    let img = build_image(dir.path(), "card.wic", &Spec::pi(&rpi4));
    make_bmap(&img);
    let backing = dir.path().join("card.bin");
    sparse_file(&backing, 64 * MIB);
    let Some(lo) = attach("a_loop_device_is_written", &backing) else {
        return;
    };
    let ext = if have("zstd") { "zst" } else { "" };
    let source = with_ext(&img, ext);

    let mut image = Image::open(&source, &BmapChoice::Auto).unwrap();
    let outcome = flash(&mut image, &lo.dev, &forced(), &mut NoProgress).unwrap();
    assert_eq!(outcome.readback, Readback::DirectIo);
    let mut written = std::fs::read(&lo.dev).unwrap();
    assert_eq!(written.len() as u64, 64 * MIB);
    // Every mapped byte is the image's; the holes kept what the card had.
    let original = std::fs::read(&img).unwrap();
    assert_eq!(&written[10 * MIB as usize..][..6], b"MARKER");
    written[10 * MIB as usize..][..6].fill(0);
    assert!(written[..original.len()] == original[..]);
    let check = check_cmdline(&lo.dev, &rpi4).unwrap();
    assert!(check.ok(), "{:?}", check.mismatches);

    // Without a bmap a compressed image is decompressed once to learn its size first.
    let mut image = Image::open(&source, &BmapChoice::Ignore).unwrap();
    let mut phases = Phases::default();
    let outcome = flash(&mut image, &lo.dev, &forced(), &mut phases).unwrap();
    let expected: &[Phase] = if ext.is_empty() {
        &[Phase::Write, Phase::Verify]
    } else {
        &[Phase::Measure, Phase::Write, Phase::Verify]
    };
    assert_eq!(phases.0, expected);
    assert_eq!(outcome.written, 48 * MIB);
    let written = std::fs::read(&lo.dev).unwrap();
    assert!(written[..original.len()] == original[..]);
}

#[test]
fn a_loop_device_needs_force_and_room() {
    let _serial = serial();
    if !tools("a_loop_device_needs_force", IMAGE_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "card.wic", &Spec::pi(&board("rpi4")));
    make_bmap(&img);

    let big = dir.path().join("big.bin");
    sparse_file(&big, 64 * MIB);
    let Some(lo) = attach("a_loop_device_needs_force", &big) else {
        return;
    };
    let mut image = Image::open(&img, &BmapChoice::Auto).unwrap();
    let err = flash(
        &mut image,
        &lo.dev,
        &FlashOptions::default(),
        &mut NoProgress,
    )
    .unwrap_err();
    match err {
        Error::Refused { refusals, .. } => {
            assert_eq!(refusals, vec![Refusal::NotRemovable { transport: "loop" }])
        }
        other => panic!("{other}"),
    }

    let small = dir.path().join("small.bin");
    sparse_file(&small, 32 * MIB);
    let Some(lo_small) = attach("a_loop_device_needs_force", &small) else {
        return;
    };
    let err = flash(&mut image, &lo_small.dev, &forced(), &mut NoProgress).unwrap_err();
    match err {
        Error::Refused { refusals, .. } => assert_eq!(
            refusals,
            vec![Refusal::TooSmall {
                device_size: 32 * MIB,
                image_size: 48 * MIB
            }]
        ),
        other => panic!("{other}"),
    }
    drop((lo, lo_small));
    // Nothing was written to either.
    for file in [&big, &small] {
        let data = std::fs::read(file).unwrap();
        assert!(data[..MIB as usize].iter().all(|b| *b == 0));
    }
}

#[test]
fn a_mounted_loop_device_is_refused_and_o_excl_backs_that_up() {
    let _serial = serial();
    if !tools("a_mounted_loop_device", IMAGE_TOOLS) || !have("mkfs.ext4") || !have("mount") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "card.wic", &Spec::pi(&board("rpi4")));
    make_bmap(&img);
    let backing = dir.path().join("fs.bin");
    std::fs::File::create(&backing)
        .unwrap()
        .set_len(64 * MIB)
        .unwrap();
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&backing));
    let Some(lo) = attach("a_mounted_loop_device", &backing) else {
        return;
    };
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let status = Command::new("mount")
        .arg(&lo.dev)
        .arg(&mnt)
        .output()
        .unwrap();
    if !status.status.success() {
        notice(&format!(
            "a_mounted_loop_device: skipped, cannot mount here: {}",
            String::from_utf8_lossy(&status.stderr).trim()
        ));
        return;
    }
    let _mounted = Mounted(mnt.clone());
    let name = lo.dev.file_name().unwrap().to_string_lossy().into_owned();

    let Target::Block(target) = inspect(&lo.dev, &SystemView::host()).unwrap() else {
        panic!("a loop device is a block device");
    };
    assert_eq!(target.transport, "loop");
    assert_eq!(
        target.mounts,
        vec![(name.clone(), mnt.display().to_string())]
    );

    let mut image = Image::open(&img, &BmapChoice::Auto).unwrap();
    let err = flash(&mut image, &lo.dev, &forced(), &mut NoProgress).unwrap_err();
    match &err {
        Error::Refused { refusals, .. } => assert_eq!(
            refusals,
            &vec![Refusal::Mounted {
                device: name,
                mount_point: mnt.display().to_string()
            }]
        ),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("umount {}", mnt.display()))
    );

    // Blind the mount check: the kernel's O_EXCL refusal still stops the write.
    let empty = dir.path().join("no-mounts");
    std::fs::write(&empty, "").unwrap();
    let blind = FlashOptions {
        force: true,
        view: SystemView {
            mountinfo: empty,
            ..SystemView::host()
        },
    };
    let err = flash(&mut image, &lo.dev, &blind, &mut NoProgress).unwrap_err();
    match err {
        Error::Refused { refusals, .. } => assert_eq!(refusals, vec![Refusal::Busy]),
        other => panic!("{other}"),
    }
    // The file system is intact.
    assert!(mnt.join("lost+found").is_dir());
}

#[test]
fn the_disk_holding_root_is_refused() {
    // Only inspects: this test never writes anything.
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(dev) = text
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .and_then(|l| l.split(' ').nth(2))
        .filter(|d| !d.starts_with("0:"))
    else {
        notice(
            "the_disk_holding_root: skipped, / is not on a block device here (overlay, tmpfs, btrfs subvolume)",
        );
        return;
    };
    let Ok(node) = std::fs::canonicalize(format!("/sys/dev/block/{dev}")) else {
        notice("the_disk_holding_root: skipped, no sysfs entry for the root device");
        return;
    };
    let disk = if node.join("partition").exists() {
        node.parent().unwrap().to_path_buf()
    } else {
        node
    };
    if disk
        .join("slaves")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some())
    {
        notice("the_disk_holding_root: root is on device-mapper; covered by the fake-sysfs tests");
        return;
    }
    let path = Path::new("/dev").join(disk.file_name().unwrap());
    if !path.exists() {
        notice(&format!(
            "the_disk_holding_root: skipped, {} is missing",
            path.display()
        ));
        return;
    }
    let Target::Block(target) = inspect(&path, &SystemView::host()).unwrap() else {
        panic!("{} is not a block device", path.display());
    };
    let refusals = Target::Block(target).refusals(Some(1), &[]);
    assert!(
        refusals
            .iter()
            .any(|r| matches!(r, Refusal::RootDisk { .. })),
        "{}: {refusals:?}",
        path.display()
    );
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOOPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Issue #12, finding 17: a compressed stream cut mid-way (every format) fails the flash of a
/// card with the warning that the card now holds a partial image, and exit class 1.
#[test]
fn a_stream_cut_mid_way_warns_that_the_card_holds_a_partial_image() {
    let _serial = serial();
    if !tools("a_stream_cut_mid_way", IMAGE_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "card.wic", &Spec::pi(&board("rpi4")));
    let bmap = make_bmap(&img);
    let backing = dir.path().join("card.bin");
    sparse_file(&backing, 64 * MIB);
    let Some(lo) = attach("a_stream_cut_mid_way", &backing) else {
        return;
    };
    let formats: Vec<&str> = formats().into_iter().filter(|e| !e.is_empty()).collect();
    for ext in formats {
        let bytes = std::fs::read(with_ext(&img, ext)).unwrap();
        let cut = dir.path().join(format!("cut.wic.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        std::fs::copy(&bmap, dir.path().join("cut.wic.bmap")).unwrap();
        // A blank card each time, so what this flash wrote shows.
        let card = std::fs::OpenOptions::new()
            .write(true)
            .open(&lo.dev)
            .unwrap();
        card.write_all_at(&vec![0u8; 48 * MIB as usize], 0).unwrap();
        card.sync_all().unwrap();
        drop(card);
        let before = std::fs::read(&lo.dev).unwrap();
        let mut image = Image::open(&cut, &BmapChoice::Auto).unwrap();
        let err = flash(&mut image, &lo.dev, &forced(), &mut NoProgress).unwrap_err();
        assert!(err.is_verification_failure(), "{ext}: {err}");
        let Error::Unfinished { left, target, .. } = &err else {
            panic!("{ext}: not reported as an unfinished write: {err}");
        };
        assert_eq!(target, &lo.dev);
        let changed = std::fs::read(&lo.dev).unwrap() != before;
        match left {
            Left::PartialImage => {
                assert!(changed, "{ext}: partial image claimed, card unchanged");
                assert!(
                    err.to_string().ends_with(&format!(
                        "{} now holds a partial image: do not boot it; write it again with a good image",
                        lo.dev.display()
                    )),
                    "{ext}: {err}"
                );
            }
            Left::Untouched => {
                assert!(!changed, "{ext}: card changed, but reported untouched");
                assert!(
                    err.to_string()
                        .ends_with(&format!("nothing was written to {}", lo.dev.display())),
                    "{ext}: {err}"
                );
            }
            Left::FileKept => panic!("{ext}: a card is not a file: {err}"),
        }
        // gzip and zstd stream out what they decoded before the cut (the finding's case);
        // bzip2 decodes whole 900 kB blocks, so a cut may leave nothing to write.
        if ext != "bz2" {
            assert_eq!(*left, Left::PartialImage, "{ext}: {err}");
        }
        // Without a bmap the stream is decompressed to learn its size before the card is
        // opened: the cut is found then, and nothing is written.
        let mut image = Image::open(&cut, &BmapChoice::Ignore).unwrap();
        let err = flash(&mut image, &lo.dev, &forced(), &mut NoProgress).unwrap_err();
        assert!(err.is_verification_failure(), "{ext}: {err}");
        assert!(
            !matches!(err, Error::Unfinished { .. }),
            "{ext}: found before writing: {err}"
        );
    }
}
