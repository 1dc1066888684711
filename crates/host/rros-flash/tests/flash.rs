//! Flashing real images (partitioned, FAT boot partition, real bmap, really compressed) to
//! regular files, and every way a bad image or bmap must fail.

mod common;

use common::*;
use rros_flash::{
    BmapChoice, Error, FlashOptions, Image, Left, NoProgress, Phase, Progress, Readback, Refusal,
    Stage, check_cmdline, flash,
};
use std::path::Path;

fn flash_to(image: &Path, bmap: BmapChoice, out: &Path) -> Result<rros_flash::Outcome, Error> {
    let mut img = Image::open(image, &bmap)?;
    flash(&mut img, out, &FlashOptions::default(), &mut NoProgress)
}

fn setup(test: &str) -> Option<(tempfile::TempDir, std::path::PathBuf, std::path::PathBuf)> {
    if !tools(test, IMAGE_TOOLS) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = build_image(dir.path(), "rros-image-rpi4.wic", &Spec::pi(&board("rpi4")));
    let bmap = make_bmap(&img);
    Some((dir, img, bmap))
}

#[derive(Default)]
struct Recorder {
    phases: Vec<(Phase, u64)>,
    advanced: Vec<u64>,
}

impl Progress for Recorder {
    fn phase(&mut self, phase: Phase, total: u64) {
        self.phases.push((phase, total));
        self.advanced.push(0);
    }
    fn advance(&mut self, bytes: u64) {
        *self.advanced.last_mut().unwrap() += bytes;
    }
}

#[test]
fn every_format_with_its_bmap_writes_an_identical_copy() {
    let Some((dir, img, bmap)) = setup("every_format_with_its_bmap") else {
        return;
    };
    let rpi4 = board("rpi4");
    for ext in formats() {
        let source = with_ext(&img, ext);
        let out = dir.path().join(format!("copy-{ext}.img"));
        // An existing, longer file is replaced, not partly overwritten.
        std::fs::write(&out, vec![0xffu8; 50 << 20]).unwrap();
        let mut image = Image::open(&source, &BmapChoice::Auto).unwrap();
        assert_eq!(
            image.bmap.as_ref().unwrap().path,
            bmap,
            "{ext}: bmap beside it"
        );
        let mut progress = Recorder::default();
        let outcome = flash(&mut image, &out, &FlashOptions::default(), &mut progress)
            .unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert!(same_content(&img, &out), "{ext}: copy differs");
        let mapped = image.bmap.as_ref().unwrap().mapped_bytes;
        assert_eq!(outcome.written, mapped);
        assert!(
            mapped < outcome.image_size / 4,
            "sparse image, sparse write"
        );
        assert_eq!(outcome.readback, Readback::FileCacheDropped);
        assert_eq!(
            progress.phases,
            vec![(Phase::Write, mapped), (Phase::Verify, mapped)]
        );
        assert_eq!(progress.advanced, vec![mapped, mapped]);

        let check = check_cmdline(&out, &rpi4).unwrap();
        assert!(check.ok(), "{ext}: {:?}", check.mismatches);
        assert_eq!(
            (check.found.partition, check.found.file.as_str()),
            (1, "cmdline.txt")
        );
    }
}

#[test]
fn without_a_bmap_every_byte_is_written_and_hashed() {
    let Some((dir, img, _bmap)) = setup("without_a_bmap") else {
        return;
    };
    for ext in formats() {
        let source = with_ext(&img, ext);
        let out = dir.path().join(format!("full-{ext}.img"));
        let outcome =
            flash_to(&source, BmapChoice::Ignore, &out).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert!(same_content(&img, &out), "{ext}");
        assert_eq!(outcome.written, 48 * MIB);
        assert_eq!(outcome.bmap, None);
        assert_eq!(outcome.sha256.as_ref().map(String::len), Some(64));
    }
}

#[test]
fn a_partial_last_block_is_written_and_checked() {
    if !tools("a_partial_last_block", IMAGE_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spec = Spec::pi(&board("rpi4"));
    spec.size = 48 * MIB + 1000;
    let img = build_image(dir.path(), "odd.wic", &spec);
    make_bmap(&img);
    for ext in formats() {
        let out = dir.path().join(format!("odd-{ext}.img"));
        flash_to(&with_ext(&img, ext), BmapChoice::Auto, &out)
            .unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert!(same_content(&img, &out), "{ext}");
    }
}

#[test]
fn a_corrupt_byte_in_a_mapped_range_is_caught_while_writing() {
    let Some((dir, img, bmap)) = setup("a_corrupt_byte") else {
        return;
    };
    let bad = dir.path().join("bad.wic");
    std::fs::copy(&img, &bad).unwrap();
    std::fs::copy(&bmap, dir.path().join("bad.wic.bmap")).unwrap();
    flip_byte(&bad, 33 * MIB + 4096 + 777);
    for ext in formats() {
        let source = with_ext(&bad, ext);
        let out = dir.path().join(format!("bad-{ext}.img"));
        let err = flash_to(&source, BmapChoice::Auto, &out).unwrap_err();
        match err.cause() {
            Error::RangeChecksum(m) => {
                assert_eq!(m.stage, Stage::Write, "{ext}");
                let first: u64 = m.blocks.split('-').next().unwrap().parse().unwrap();
                assert!(first * 4096 <= 33 * MIB + 4096 + 777, "{ext}: {}", m.blocks);
            }
            other => panic!("{ext}: {other}"),
        }
        assert!(err.is_verification_failure());
        // A file target is written beside it first: a bad image never leaves a partial copy.
        assert!(
            matches!(
                &err,
                Error::Unfinished {
                    left: Left::FileKept,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("was left as it was"), "{err}");
        assert!(
            !out.exists(),
            "{ext}: a partial copy was left at {}",
            out.display()
        );
    }
}

#[test]
fn a_corrupt_byte_in_the_compressed_file_is_an_error() {
    let Some((dir, img, _bmap)) = setup("corrupt_compressed") else {
        return;
    };
    for ext in formats().into_iter().filter(|e| !e.is_empty()) {
        let source = with_ext(&img, ext);
        let len = std::fs::metadata(&source).unwrap().len();
        flip_byte(&source, len / 2);
        for choice in [BmapChoice::Auto, BmapChoice::Ignore] {
            let out = dir.path().join(format!("cc-{ext}.img"));
            let err = flash_to(&source, choice.clone(), &out)
                .map(|o| panic!("{ext} {choice:?}: flashed a corrupt file: {o:?}"))
                .unwrap_err();
            assert!(err.is_verification_failure(), "{ext} {choice:?}: {err}");
        }
    }
}

#[test]
fn a_truncated_compressed_stream_is_an_error() {
    let Some((dir, img, _bmap)) = setup("a_truncated_stream") else {
        return;
    };
    for ext in formats().into_iter().filter(|e| !e.is_empty()) {
        let full = with_ext(&img, ext);
        let len = std::fs::metadata(&full).unwrap().len();
        // Cut in the middle, and cut only the trailer (checksum / size) off.
        for keep in [len / 2, len - 6] {
            let cut = dir.path().join(format!("cut.wic.{ext}"));
            std::fs::write(&cut, &std::fs::read(&full).unwrap()[..keep as usize]).unwrap();
            std::fs::copy(
                dir.path().join("rros-image-rpi4.wic.bmap"),
                dir.path().join("cut.wic.bmap"),
            )
            .unwrap();
            for choice in [BmapChoice::Auto, BmapChoice::Ignore] {
                let out = dir.path().join("cut.img");
                let err = flash_to(&cut, choice.clone(), &out)
                    .map(|o| panic!("{ext} cut at {keep}/{len} {choice:?}: flashed: {o:?}"))
                    .unwrap_err();
                assert!(
                    err.is_verification_failure(),
                    "{ext} cut at {keep} {choice:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn a_truncated_or_padded_plain_image_does_not_match_its_bmap() {
    let Some((dir, img, bmap)) = setup("plain_size_mismatch") else {
        return;
    };
    let short = dir.path().join("short.wic");
    std::fs::copy(&img, &short).unwrap();
    std::fs::copy(&bmap, dir.path().join("short.wic.bmap")).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&short)
        .unwrap();
    f.set_len(40 * MIB).unwrap();
    let err = Image::open(&short, &BmapChoice::Auto).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    f.set_len(49 * MIB).unwrap();
    let err = Image::open(&short, &BmapChoice::Auto).unwrap_err();
    assert!(matches!(err, Error::LongerThanBmap { .. }), "{err}");
}

#[test]
fn a_damaged_bmap_is_refused_before_anything_is_written() {
    let Some((dir, img, bmap)) = setup("a_damaged_bmap") else {
        return;
    };
    let text = std::fs::read_to_string(&bmap).unwrap();
    let first_sum = text.split("chksum=\"").nth(1).unwrap()[..64].to_owned();
    let mut other_sum = first_sum.clone();
    other_sum.replace_range(0..1, if first_sum.starts_with('0') { "1" } else { "0" });
    let cases: Vec<(&str, String)> = vec![
        ("range checksum", text.replacen(&first_sum, &other_sum, 1)),
        ("structure", text.replacen("</Range>", "</Rnge>", 1)),
        (
            "count",
            text.replacen("<BlocksCount> ", "<BlocksCount> 1", 1),
        ),
        ("cut short", text[..text.len() / 2].to_owned()),
    ];
    for (what, damaged) in cases {
        let path = dir.path().join("damaged.bmap");
        std::fs::write(&path, &damaged).unwrap();
        let err = Image::open(&img, &BmapChoice::File(path)).unwrap_err();
        assert!(
            matches!(err, Error::BmapFileChecksum { .. } | Error::Bmap { .. }),
            "{what}: {err}"
        );
        assert!(err.is_verification_failure());
    }
    let out = dir.path().join("never.img");
    assert!(!out.exists());
}

#[test]
fn a_resealed_bmap_with_a_wrong_range_checksum_fails_the_write() {
    let Some((dir, img, bmap)) = setup("a_resealed_bmap") else {
        return;
    };
    let text = std::fs::read_to_string(&bmap).unwrap();
    let sums: Vec<String> = text
        .split("chksum=\"")
        .skip(1)
        .map(|s| s[..64].to_owned())
        .collect();
    let last = sums.last().unwrap();
    let mut wrong = last.clone();
    wrong.replace_range(63..64, if last.ends_with('0') { "1" } else { "0" });
    let path = dir.path().join("resealed.bmap");
    std::fs::write(&path, text.replacen(last.as_str(), &wrong, 1)).unwrap();
    reseal_bmap(&path);
    let out = dir.path().join("resealed.img");
    let err = flash_to(&img, BmapChoice::File(path.clone()), &out).unwrap_err();
    assert!(
        matches!(err.cause(), Error::RangeChecksum(m) if m.stage == Stage::Write),
        "{err}"
    );

    // Structural damage that keeps a valid file checksum is still an error, not a panic.
    let text = std::fs::read_to_string(&bmap).unwrap();
    let broken = text.replacen("-", "-x", 1);
    std::fs::write(&path, broken).unwrap();
    reseal_bmap(&path);
    let err = Image::open(&img, &BmapChoice::File(path)).unwrap_err();
    assert!(matches!(err, Error::Bmap { .. }), "{err}");
}

#[test]
fn the_bmap_of_another_image_does_not_match() {
    let Some((dir, img, _bmap)) = setup("another_image") else {
        return;
    };
    let mut spec = Spec::pi(&board("rpi4"));
    spec.seed = 7;
    let other = build_image(dir.path(), "other.wic", &spec);
    let other_bmap = make_bmap(&other);
    let out = dir.path().join("mixed.img");
    let err = flash_to(&img, BmapChoice::File(other_bmap.clone()), &out).unwrap_err();
    assert!(matches!(err.cause(), Error::RangeChecksum(_)), "{err}");

    // The same image with zeros appended: every range matches, but the stream goes on past
    // the bmap's ImageSize.
    let padded = dir.path().join("padded.wic");
    let mut bytes = std::fs::read(&img).unwrap();
    bytes.extend(std::iter::repeat_n(0u8, MIB as usize));
    std::fs::write(&padded, bytes).unwrap();
    let bmap = dir.path().join("rros-image-rpi4.wic.bmap");
    for ext in formats() {
        let source = with_ext(&padded, ext);
        let err = Image::open(&source, &BmapChoice::File(bmap.clone()))
            .and_then(|mut i| flash(&mut i, &out, &FlashOptions::default(), &mut NoProgress))
            .unwrap_err();
        assert!(
            matches!(err.cause(), Error::LongerThanBmap { .. }),
            "{ext}: {err}"
        );
    }
}

#[test]
fn a_file_target_is_never_the_image_itself() {
    let Some((_dir, img, bmap)) = setup("same_file") else {
        return;
    };
    let before = std::fs::read(&img).unwrap();
    let err = flash_to(&img, BmapChoice::Auto, &img).unwrap_err();
    match err {
        Error::Refused { refusals, .. } => {
            assert!(
                matches!(refusals.as_slice(), [Refusal::SameFile { .. }]),
                "{refusals:?}"
            )
        }
        other => panic!("{other}"),
    }
    let err = flash_to(&img, BmapChoice::Auto, &bmap).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn mislabelled_and_unsupported_images_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("x.wic.gz");
    std::fs::write(&fake, b"BZh91AY&SY not really").unwrap();
    let err = Image::open(&fake, &BmapChoice::Ignore).unwrap_err();
    assert!(
        err.to_string()
            .contains("named .gz but its content is bzip2"),
        "{err}"
    );
    let xz = dir.path().join("x.wic.xz");
    std::fs::write(&xz, [0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0]).unwrap();
    let err = Image::open(&xz, &BmapChoice::Ignore).unwrap_err();
    assert!(
        err.to_string().contains("xz images are not supported"),
        "{err}"
    );
}

#[test]
fn the_cmdline_check_names_every_mismatch() {
    if !tools("the_cmdline_check", IMAGE_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rpi4 = board("rpi4");
    let mut spec = Spec::pi(&rpi4);
    let line = cmdline_for(&rpi4)
        .replace("nohz_full=2-3", "nohz_full=3")
        .replace(" nosoftlockup", "");
    spec.boot_files[0].1 = line + "\n";
    let img = build_image(dir.path(), "drift.wic", &spec);
    let check = check_cmdline(&img, &rpi4).unwrap();
    let shown: Vec<String> = check.mismatches.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "expected nohz_full=2-3, found nohz_full=3",
            "missing nosoftlockup"
        ]
    );

    // Another board's profile does not match this card.
    let imx = board("imx8mp-evk");
    let err = check_cmdline(&img, &imx).unwrap_err();
    assert!(err.to_string().contains("extlinux/extlinux.conf"), "{err}");
    let qemu = board("qemuarm64");
    let err = check_cmdline(&img, &qemu).unwrap_err();
    assert!(err.to_string().contains("nothing to check"), "{err}");
}

#[test]
fn extlinux_and_systemd_boot_images_are_read_on_gpt() {
    if !tools("extlinux_and_systemd_boot", IMAGE_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let imx = board("imx8mp-evk");
    let extlinux = format!(
        "# Generic Distro Configuration file generated by OpenEmbedded\nmenu title Select the boot mode\nTIMEOUT 40\nDEFAULT rros\nLABEL rescue\n\tKERNEL ../Image\n\tAPPEND root=/dev/mmcblk1p2 single\nLABEL rros\n\tKERNEL ../Image\n\tFDTDIR ../\n\tAPPEND {}\n",
        cmdline_for(&imx)
    );
    let spec = Spec {
        table: Table::Gpt,
        size: 48 * MIB,
        boot_files: vec![("extlinux/extlinux.conf".into(), extlinux)],
        seed: 3,
    };
    let img = build_image(dir.path(), "imx.wic", &spec);
    let check = check_cmdline(&img, &imx).unwrap();
    assert!(check.ok(), "{:?}", check.mismatches);
    assert_eq!(check.found.file, "extlinux/extlinux.conf");

    let nuc = board("nuc");
    let spec = Spec {
        table: Table::Gpt,
        size: 48 * MIB,
        boot_files: vec![
            (
                "loader/loader.conf".into(),
                "default boot\ntimeout 5\n".into(),
            ),
            (
                "loader/entries/boot.conf".into(),
                format!(
                    "title boot\nlinux /bzImage\noptions LABEL=Boot root=/dev/sda2 rootwait\noptions {}\n",
                    rros_board::render::cmdline(&nuc)
                ),
            ),
            (
                "loader/entries/a-rescue.conf".into(),
                "title rescue\nlinux /bzImage\noptions root=/dev/sda2 single\n".into(),
            ),
        ],
        seed: 4,
    };
    let img = build_image(dir.path(), "nuc.wic", &spec);
    make_bmap(&img);
    // Through a flash, to read the written copy rather than the source.
    let out = dir.path().join("nuc-copy.img");
    flash_to(&img, BmapChoice::Auto, &out).unwrap();
    let check = check_cmdline(&out, &nuc).unwrap();
    assert!(check.ok(), "{:?}", check.mismatches);
    assert_eq!(check.found.file, "loader/entries/boot.conf");
    assert_eq!(check.found.partition, 1);
}

/// Issue #12, finding 17: a cut or corrupt image never costs a file target its old contents.
/// The copy goes to a temporary file beside the target and replaces it only once verified.
#[test]
fn a_corrupt_image_leaves_an_existing_file_target_as_it_was() {
    let Some((dir, img, _bmap)) = setup("file_target_kept") else {
        return;
    };
    let out = dir.path().join("old-copy.img");
    let old = b"the previous, good copy".repeat(1000);
    let leftovers = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("rros-flash"))
            .collect()
    };
    // A byte flipped in a mapped range of the plain image, and each stream cut mid-way.
    let bad = dir.path().join("flipped.wic");
    std::fs::copy(&img, &bad).unwrap();
    std::fs::copy(
        dir.path().join("rros-image-rpi4.wic.bmap"),
        dir.path().join("flipped.wic.bmap"),
    )
    .unwrap();
    flip_byte(&bad, 33 * MIB + 4096 + 777);
    let mut cases = vec![(bad, BmapChoice::Auto)];
    for ext in formats().into_iter().filter(|e| !e.is_empty()) {
        let full = with_ext(&img, ext);
        let bytes = std::fs::read(&full).unwrap();
        let cut = dir.path().join(format!("cut.wic.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        std::fs::copy(
            dir.path().join("rros-image-rpi4.wic.bmap"),
            dir.path().join("cut.wic.bmap"),
        )
        .unwrap();
        cases.push((cut.clone(), BmapChoice::Auto));
        cases.push((cut, BmapChoice::Ignore));
    }
    for (source, choice) in cases {
        std::fs::write(&out, &old).unwrap();
        let err = flash_to(&source, choice.clone(), &out)
            .map(|o| panic!("{} {choice:?}: flashed: {o:?}", source.display()))
            .unwrap_err();
        let what = format!("{} {choice:?}: {err}", source.display());
        assert!(err.is_verification_failure(), "{what}");
        assert!(
            matches!(&err, Error::Unfinished { left: Left::FileKept, target, .. } if *target == out),
            "{what}"
        );
        assert!(
            err.to_string().ends_with(&format!(
                "{} was left as it was: the copy went to a temporary file beside it, now removed",
                out.display()
            )),
            "{what}"
        );
        assert!(std::fs::read(&out).unwrap() == old, "{what}: old copy lost");
        assert_eq!(leftovers(dir.path()), Vec::<String>::new(), "{what}");
    }
    // A new target that fails is not created at all.
    let never = dir.path().join("never.img");
    let cut = dir.path().join("flipped.wic");
    flash_to(&cut, BmapChoice::Auto, &never).unwrap_err();
    assert!(!never.exists());
}

/// The atomic replacement keeps what a user expects of a file target: written through a
/// symlink to the file it names, with the old file's mode.
#[test]
fn a_file_target_is_replaced_through_its_symlink_keeping_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let Some((dir, img, _bmap)) = setup("file_target_symlink") else {
        return;
    };
    let real = dir.path().join("real.img");
    std::fs::write(&real, b"old").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.img");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    flash_to(&img, BmapChoice::Auto, &link).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert!(same_content(&img, &real));
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}

/// Issue #12, finding 17: a FIFO as the image (or the bmap) is refused at once, saying why,
/// instead of blocking in `open` until a writer comes.
#[test]
fn a_fifo_as_the_image_or_the_bmap_is_refused_without_blocking() {
    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo (coreutils)");
        assert!(status.success());
    }
    fn within_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("no answer ({e}): blocked on the FIFO, or failed"))
    }
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stream.wic.zst");
    mkfifo(&fifo);
    let path = fifo.clone();
    let err = within_deadline(move || Image::open(&path, &BmapChoice::Ignore).unwrap_err());
    assert!(
        matches!(&err, Error::Unsupported { path, .. } if *path == fifo),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("it is a FIFO (named pipe), not a regular file"),
        "{message}"
    );
    assert!(message.contains("save it to a file first"), "{message}");

    let plain = dir.path().join("plain.wic");
    std::fs::write(&plain, noise(9, 8192)).unwrap();
    let bmap = dir.path().join("plain.wic.bmap");
    mkfifo(&bmap);
    let err = within_deadline(move || Image::open(&plain, &BmapChoice::File(bmap)).unwrap_err());
    assert!(matches!(&err, Error::Bmap { .. }), "{err}");
    assert!(err.to_string().contains("FIFO"), "{err}");
}
