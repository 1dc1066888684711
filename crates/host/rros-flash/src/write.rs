//! Writing the image, verifying each range as it is written, and reading it all back.

use crate::bmap::LoadedBmap;
use crate::error::{Error, Left, RangeMismatch, Stage, hex};
use crate::image::{Image, Source};
use crate::target::{Refusal, SystemView, Target, inspect};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Bytes moved per read/write.
const CHUNK: usize = 4 << 20;
/// Alignment of O_DIRECT reads (covers 512- and 4096-byte logical blocks).
const ALIGN: u64 = 4096;
/// `BLKFLSBUF` = `_IO(0x12, 97)`: flush and drop the block device's buffer cache.
const BLKFLSBUF: u64 = 0x1261;

/// What the flash may do.
#[derive(Debug, Clone, Default)]
pub struct FlashOptions {
    /// Write a disk that does not look removable (waives only that refusal).
    pub force: bool,
    /// Where block devices and mounts are looked up.
    pub view: SystemView,
}

/// A stage of the work, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Decompressing once to learn the size of a compressed image without a bmap (total =
    /// compressed bytes).
    Measure,
    /// Writing (total = mapped bytes, or the image size; 0 when not known yet).
    Write,
    /// Reading back (total = bytes to read).
    Verify,
}

/// Receives progress; the default methods ignore it.
pub trait Progress {
    fn phase(&mut self, _phase: Phase, _total_bytes: u64) {}
    fn advance(&mut self, _bytes: u64) {}
}

/// Progress that goes nowhere.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How the read-back avoided reading the page cache instead of the medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readback {
    /// Block device read with `O_DIRECT` after `fsync` + `BLKFLSBUF`.
    DirectIo,
    /// Block device read through the cache after `fsync` + `BLKFLSBUF` +
    /// `posix_fadvise(DONTNEED)` (`O_DIRECT` was refused).
    FlushedCache,
    /// Regular file read after `fsync` + `posix_fadvise(DONTNEED)`.
    FileCacheDropped,
}

impl std::fmt::Display for Readback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Readback::DirectIo => "O_DIRECT, after fsync and BLKFLSBUF",
            Readback::FlushedCache => {
                "after fsync, BLKFLSBUF and fadvise(DONTNEED) (O_DIRECT refused)"
            }
            Readback::FileCacheDropped => "after fsync and fadvise(DONTNEED)",
        })
    }
}

/// What was done.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The image size (uncompressed).
    pub image_size: u64,
    /// Bytes written (the mapped bytes with a bmap).
    pub written: u64,
    /// Ranges written and verified twice (1 without a bmap: the whole image).
    pub ranges: usize,
    pub bmap: Option<PathBuf>,
    pub readback: Readback,
    /// SHA-256 of the whole image, when it was written without a bmap.
    pub sha256: Option<String>,
}

/// Writes `image` to `device` and verifies it. Checks the target again first (the caller may
/// have asked for confirmation in between) and refuses with every reason at once.
///
/// A regular-file target is written as a temporary file beside it and replaces it only once
/// the write and the read-back passed: a bad image never costs the old file. A failure after
/// a block device was opened is [`Error::Unfinished`], which says whether the card now holds
/// a partial image.
pub fn flash(
    image: &mut Image,
    device: &Path,
    options: &FlashOptions,
    progress: &mut dyn Progress,
) -> Result<Outcome, Error> {
    let target = inspect(device, &options.view)?;
    if matches!(target, Target::Block(_)) && image.size().is_none() {
        image.measure(progress)?;
    }
    let mut others: Vec<&Path> = vec![image.path.as_path()];
    if let Some(map) = &image.bmap {
        others.push(&map.path);
    }
    let refusals: Vec<Refusal> = target
        .refusals(image.size(), &others)
        .into_iter()
        .filter(|r| !(options.force && r.waived_by_force()))
        .collect();
    if !refusals.is_empty() {
        return Err(Error::Refused {
            device: device.to_owned(),
            refusals,
        });
    }

    let mut out = Output::open(&target, image.size(), image.bmap.is_some())?;
    let result = write_and_verify(image, &target, &mut out, device, progress)
        .and_then(|outcome| out.commit().map(|()| outcome));
    result.map_err(|cause| Error::Unfinished {
        target: device.to_owned(),
        left: out.left(),
        cause: Box::new(cause),
    })
}

/// Where the bytes go: the block device itself, or a temporary file beside the target file
/// that replaces it on success (and is removed, when dropped, otherwise).
struct Output {
    file: File,
    /// For a file target: the temporary file and the path it replaces on success.
    replaces: Option<(tempfile::TempPath, PathBuf)>,
    /// Whether a write reached the device (decides what a failure left there).
    touched: bool,
}

impl Output {
    fn open(target: &Target, size: Option<u64>, sparse: bool) -> Result<Output, Error> {
        match target {
            Target::Block(b) => {
                let file = OpenOptions::new()
                    .write(true)
                    // O_EXCL on a block device: the kernel refuses (EBUSY) when it is mounted
                    // or claimed.
                    .custom_flags(libc::O_EXCL)
                    .open(&b.path)
                    .map_err(|source| {
                        if source.raw_os_error() == Some(libc::EBUSY) {
                            Error::Refused {
                                device: b.path.clone(),
                                refusals: vec![Refusal::Busy],
                            }
                        } else {
                            Error::Io {
                                action: "open the device for writing",
                                path: b.path.clone(),
                                source,
                            }
                        }
                    })?;
                Ok(Output {
                    file,
                    replaces: None,
                    touched: false,
                })
            }
            Target::File(f) => {
                // Replace the file a symlink points to, not the symlink.
                let dest = match f.existing_len {
                    Some(_) => std::fs::canonicalize(&f.path)
                        .map_err(Error::io("resolve the output file", &f.path))?,
                    None => f.path.clone(),
                };
                let dir = dest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let name = dest
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Exclusive and unpredictable (O_EXCL, random suffix): nothing to hijack with a
                // planted symlink. Mode as a new file would get (0666 less the umask), or the
                // old file's.
                let temp = tempfile::Builder::new()
                    .prefix(&format!(".{name}.rros-flash-"))
                    .permissions(std::fs::Permissions::from_mode(0o666))
                    .tempfile_in(dir)
                    .map_err(Error::io("create a temporary file beside", &dest))?;
                if f.existing_len.is_some()
                    && let Ok(meta) = std::fs::metadata(&dest)
                {
                    temp.as_file()
                        .set_permissions(meta.permissions())
                        .map_err(Error::io("set the mode of the copy of", &dest))?;
                }
                let (file, temp_path) = temp.into_parts();
                // Unmapped ranges stay holes, which read as the zeros they are in the image.
                if sparse && let Some(size) = size {
                    file.set_len(size)
                        .map_err(Error::io("size the output file", &temp_path))?;
                }
                Ok(Output {
                    file,
                    replaces: Some((temp_path, dest)),
                    touched: false,
                })
            }
        }
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64, device: &Path) -> Result<(), Error> {
        self.touched = true;
        self.file
            .write_all_at(buf, offset)
            .map_err(Error::io("write", device))
    }

    /// The path to read back: the device, or the temporary file.
    fn written_path<'a>(&'a self, target: &'a Target) -> &'a Path {
        match &self.replaces {
            Some((temp, _)) => temp,
            None => target.path(),
        }
    }

    /// A file target: the verified temporary file replaces the target, durably.
    fn commit(&mut self) -> Result<(), Error> {
        let Some((temp, dest)) = self.replaces.take() else {
            return Ok(());
        };
        temp.persist(&dest).map_err(|err| Error::Io {
            action: "replace the output file",
            path: dest.clone(),
            source: err.error,
        })?;
        // The rename is durable only once the directory is.
        rros_files::sync_dir(rros_files::parent_dir(&dest))
            .map_err(Error::io("flush the directory of", &dest))
    }

    /// What a failure leaves on the target.
    fn left(&self) -> Left {
        match (&self.replaces, self.touched) {
            (Some(_), _) => Left::FileKept,
            (None, true) => Left::PartialImage,
            (None, false) => Left::Untouched,
        }
    }
}

fn write_and_verify(
    image: &mut Image,
    target: &Target,
    out: &mut Output,
    device: &Path,
    progress: &mut dyn Progress,
) -> Result<Outcome, Error> {
    let device_limit = match target {
        Target::Block(b) => Some(b.size),
        Target::File(_) => None,
    };
    let mut source = Source::open(image)?;

    let (written, ranges, sha256) = match &image.bmap {
        Some(map) => {
            write_mapped(&mut source, out, device, image, map, progress)?;
            (map.mapped_bytes, map.range_count(), None)
        }
        None => {
            let (n, sha) = write_everything(
                &mut source,
                out,
                device,
                device_limit,
                image.size().unwrap_or(0),
                progress,
            )?;
            if let Some(measured) = image.measured_sha256()
                && measured != hex(&sha)
            {
                return Err(Error::ImageChanged {
                    path: image.path.clone(),
                    expected: measured,
                    actual: hex(&sha),
                });
            }
            (n, 1, Some(sha))
        }
    };
    drop(source);

    out.file
        .sync_all()
        .map_err(Error::io("flush the written data to", device))?;
    let (reader, mode) = open_readback(target, out.written_path(target), &out.file)?;
    let mut readback = ReadBack {
        reader: &reader,
        device,
        direct: mode == Readback::DirectIo,
        device_size: device_limit.unwrap_or(u64::MAX),
        buf: AlignedBuf::new(CHUNK + 2 * ALIGN as usize),
    };
    match &image.bmap {
        Some(map) => {
            progress.phase(Phase::Verify, map.mapped_bytes);
            for range in &map.ranges {
                let actual = readback.sha256(range.offset, range.length, progress)?;
                if actual != range.sha256 {
                    return Err(Error::RangeChecksum(Box::new(RangeMismatch {
                        stage: Stage::ReadBack,
                        path: device.to_owned(),
                        bmap: map.path.clone(),
                        blocks: range.blocks.clone(),
                        offset: range.offset,
                        length: range.length,
                        expected: hex(&range.sha256),
                        actual: hex(&actual),
                    })));
                }
            }
        }
        None => {
            progress.phase(Phase::Verify, written);
            let actual = readback.sha256(0, written, progress)?;
            let expected = sha256.expect("set without a bmap");
            if actual != expected {
                return Err(Error::ReadBackMismatch {
                    device: device.to_owned(),
                    length: written,
                    expected: hex(&expected),
                    actual: hex(&actual),
                });
            }
        }
    }
    // The caller holds `out` (and with it the exclusive claim on a block device) until done.
    drop(reader);

    Ok(Outcome {
        image_size: image.size().unwrap_or(written),
        written,
        ranges,
        bmap: image.bmap.as_ref().map(|m| m.path.clone()),
        readback: mode,
        sha256: sha256.map(|s| hex(&s)),
    })
}

fn write_mapped(
    source: &mut Source<'_>,
    out: &mut Output,
    device: &Path,
    image: &Image,
    map: &LoadedBmap,
    progress: &mut dyn Progress,
) -> Result<(), Error> {
    progress.phase(Phase::Write, map.mapped_bytes);
    let mut buf = vec![0u8; CHUNK];
    for range in &map.ranges {
        let mut hasher = Sha256::new();
        let end = range.offset + range.length;
        let mut offset = range.offset;
        while offset < end {
            let n = (CHUNK as u64).min(end - offset) as usize;
            let got = source.read_at(offset, &mut buf[..n])?;
            if got < n {
                return Err(Error::Truncated {
                    path: image.path.clone(),
                    got: offset + got as u64,
                    expected: map.image_size,
                    why: "the bmap's ImageSize",
                });
            }
            hasher.update(&buf[..n]);
            out.write_all_at(&buf[..n], offset, device)?;
            progress.advance(n as u64);
            offset += n as u64;
        }
        let actual: [u8; 32] = hasher.finalize().into();
        if actual != range.sha256 {
            return Err(Error::RangeChecksum(Box::new(RangeMismatch {
                stage: Stage::Write,
                path: image.path.clone(),
                bmap: map.path.clone(),
                blocks: range.blocks.clone(),
                offset: range.offset,
                length: range.length,
                expected: hex(&range.sha256),
                actual: hex(&actual),
            })));
        }
    }
    source.finish(map.image_size)
}

fn write_everything(
    source: &mut Source<'_>,
    out: &mut Output,
    device: &Path,
    limit: Option<u64>,
    expected: u64,
    progress: &mut dyn Progress,
) -> Result<(u64, [u8; 32]), Error> {
    progress.phase(Phase::Write, expected);
    let mut buf = vec![0u8; CHUNK];
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    loop {
        let n = source.read_at(offset, &mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(limit) = limit
            && offset + n as u64 > limit
        {
            return Err(Error::DeviceFull {
                device: device.to_owned(),
                device_size: limit,
            });
        }
        hasher.update(&buf[..n]);
        out.write_all_at(&buf[..n], offset, device)?;
        progress.advance(n as u64);
        offset += n as u64;
    }
    Ok((offset, hasher.finalize().into()))
}

/// A second descriptor for reading back that does not see the page cache.
fn open_readback(target: &Target, path: &Path, writer: &File) -> Result<(File, Readback), Error> {
    match target {
        Target::File(_) => {
            drop_cache(writer);
            let file = File::open(path).map_err(Error::io("open for reading back", path))?;
            Ok((file, Readback::FileCacheDropped))
        }
        Target::Block(_) => {
            // SAFETY: an ioctl without an argument on a descriptor we own.
            unsafe {
                libc::ioctl(writer.as_raw_fd(), BLKFLSBUF as _, 0);
            }
            drop_cache(writer);
            if let Ok(file) = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
            {
                // Probe one aligned block: some drivers accept the flag but fail the read.
                let mut probe = AlignedBuf::new(2 * ALIGN as usize);
                if file.read_at(probe.slice(ALIGN as usize), 0).is_ok() {
                    return Ok((file, Readback::DirectIo));
                }
            }
            let file = File::open(path).map_err(Error::io("open for reading back", path))?;
            drop_cache(&file);
            Ok((file, Readback::FlushedCache))
        }
    }
}

fn drop_cache(file: &File) {
    // SAFETY: advisory call on a descriptor we own; failure only means a weaker read-back.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

/// A buffer whose usable part starts on an [`ALIGN`] boundary (for O_DIRECT).
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
        let storage = vec![0u8; len + ALIGN as usize];
        let start = storage.as_ptr().align_offset(ALIGN as usize);
        AlignedBuf { storage, start }
    }

    fn slice(&mut self, len: usize) -> &mut [u8] {
        &mut self.storage[self.start..self.start + len]
    }
}

/// Reading the written target back: the open reader, how it reads (O_DIRECT needs aligned
/// offsets and buffers), where the device ends, and the one buffer every range reuses.
struct ReadBack<'a> {
    reader: &'a File,
    device: &'a Path,
    direct: bool,
    device_size: u64,
    buf: AlignedBuf,
}

impl ReadBack<'_> {
    /// The SHA-256 of `[offset, offset + length)` of the target, as read back from it.
    fn sha256(
        &mut self,
        offset: u64,
        length: u64,
        progress: &mut dyn Progress,
    ) -> Result<[u8; 32], Error> {
        let mut hasher = Sha256::new();
        self.read_into(offset, length, &mut hasher, progress)?;
        Ok(hasher.finalize().into())
    }

    /// Reads `[offset, offset + length)` of the target into `hasher`.
    fn read_into(
        &mut self,
        offset: u64,
        length: u64,
        hasher: &mut Sha256,
        progress: &mut dyn Progress,
    ) -> Result<(), Error> {
        let (reader, device, direct, device_size) =
            (self.reader, self.device, self.direct, self.device_size);
        let buf = &mut self.buf;
        let end = offset + length;
        let mut pos = offset;
        while pos < end {
            let (start, want_end) = if direct {
                let start = pos / ALIGN * ALIGN;
                (start, end.min(start + CHUNK as u64))
            } else {
                (pos, end.min(pos + CHUNK as u64))
            };
            let read_end = if direct {
                want_end
                    .div_ceil(ALIGN)
                    .saturating_mul(ALIGN)
                    .min(device_size)
                    .max(want_end)
            } else {
                want_end
            };
            let data = buf.slice((read_end - start) as usize);
            let mut filled = 0usize;
            while filled < data.len() {
                match reader.read_at(&mut data[filled..], start + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(Error::Io {
                            action: "read back",
                            path: device.to_owned(),
                            source: e,
                        });
                    }
                }
            }
            if (filled as u64) < want_end - start {
                return Err(Error::Io {
                    action: "read back",
                    path: device.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the device ends at byte {}", start + filled as u64),
                    ),
                });
            }
            hasher.update(&data[(pos - start) as usize..(want_end - start) as usize]);
            progress.advance(want_end - pos);
            pos = want_end;
        }
        Ok(())
    }
}
