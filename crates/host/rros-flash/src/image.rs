//! The image to write: its compression (recognised by content), its bmap, and a reader that
//! yields the uncompressed bytes and never mistakes a cut-off stream for the end of the image.

use crate::bmap::LoadedBmap;
use crate::error::{Error, hex};
use crate::write::{Phase, Progress};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How the image file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Bzip2,
    Gzip,
    Zstd,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Bzip2 => "bzip2",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

impl Compression {
    /// The file-name suffix of this compression (without the dot), if any.
    fn suffix(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Bzip2 => Some("bz2"),
            Compression::Gzip => Some("gz"),
            Compression::Zstd => Some("zst"),
        }
    }

    fn from_suffix(name: &str) -> Option<Compression> {
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "bz2" => Some(Compression::Bzip2),
            "gz" => Some(Compression::Gzip),
            "zst" | "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    fn sniff(head: &[u8]) -> Result<Compression, &'static str> {
        Ok(match head {
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
                return Err(
                    "xz images are not supported: use the .wic.bz2, .wic.gz or .wic.zst (or uncompressed .wic) the build also makes (IMAGE_FSTYPES), or unxz it first",
                );
            }
            _ => Compression::None,
        })
    }
}

/// Which bmap to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmapChoice {
    /// The `.bmap` beside the image, when there is one (bmaptool's rule).
    Auto,
    /// This file; an error if it is missing.
    File(PathBuf),
    /// None: write every byte.
    Ignore,
}

/// An image checked enough to start writing it.
#[derive(Debug)]
pub struct Image {
    pub path: PathBuf,
    pub compression: Compression,
    pub bmap: Option<LoadedBmap>,
    /// Size of the image file as stored (compressed or not).
    pub file_len: u64,
    /// Uncompressed size when known: from the bmap, the file itself, or [`Image::measure`].
    size: Option<u64>,
    /// SHA-256 of the uncompressed stream, when [`Image::measure`] read it.
    measured_sha256: Option<[u8; 32]>,
}

impl Image {
    /// Opens `path`, recognises its compression and loads its bmap.
    pub fn open(path: &Path, bmap: &BmapChoice) -> Result<Image, Error> {
        let file = open_image(path)?;
        let meta = file.metadata().map_err(Error::io("read the image", path))?;
        let mut head = [0u8; 8];
        let n = file
            .read_at(&mut head, 0)
            .map_err(Error::io("read the image", path))?;
        let compression = Compression::sniff(&head[..n]).map_err(|reason| Error::Unsupported {
            path: path.to_owned(),
            reason: reason.into(),
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(named) = Compression::from_suffix(&name)
            && named != compression
        {
            return Err(Error::Decompress {
                path: path.to_owned(),
                format: named,
                offset: 0,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the file is named .{} but its content is {compression}",
                        named.suffix().unwrap_or_default()
                    ),
                ),
            });
        }
        if meta.len() == 0 {
            return Err(Error::Truncated {
                path: path.to_owned(),
                got: 0,
                expected: 1,
                why: "an image is never empty",
            });
        }

        let bmap_path = match bmap {
            BmapChoice::Ignore => None,
            BmapChoice::File(p) => Some(p.clone()),
            BmapChoice::Auto => find_bmap(path, compression),
        };
        let bmap = bmap_path.map(|p| LoadedBmap::load(&p)).transpose()?;

        let mut size = None;
        if compression == Compression::None {
            size = Some(meta.len());
            if let Some(map) = &bmap {
                if meta.len() < map.image_size {
                    return Err(Error::Truncated {
                        path: path.to_owned(),
                        got: meta.len(),
                        expected: map.image_size,
                        why: "the bmap's ImageSize",
                    });
                }
                if meta.len() > map.image_size {
                    return Err(Error::LongerThanBmap {
                        path: path.to_owned(),
                        bmap: map.path.clone(),
                        expected: map.image_size,
                    });
                }
            }
        }
        if let Some(map) = &bmap {
            size = Some(map.image_size);
        }
        Ok(Image {
            path: path.to_owned(),
            compression,
            bmap,
            file_len: meta.len(),
            size,
            measured_sha256: None,
        })
    }

    /// The uncompressed size, when known without reading the whole stream.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// Decompresses the whole image once to learn its size (compressed image without a bmap).
    /// Also records its SHA-256, so a change between this pass and the write is caught.
    pub fn measure(&mut self, progress: &mut dyn Progress) -> Result<u64, Error> {
        let mut source = Source::open(self)?;
        progress.phase(Phase::Measure, self.file_len);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = source.read_stream(&mut buf, total)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            progress.advance(n as u64);
        }
        self.size = Some(total);
        self.measured_sha256 = Some(hasher.finalize().into());
        Ok(total)
    }

    pub(crate) fn measured_sha256(&self) -> Option<String> {
        self.measured_sha256.map(|s| hex(&s))
    }
}

/// Opens the image, refusing anything but a regular file. `O_NONBLOCK` keeps a FIFO from
/// blocking the open (it would wait for a writer forever); the check is on the opened
/// descriptor, so the path cannot be swapped in between.
fn open_image(path: &Path) -> Result<File, Error> {
    let file = open_nonblocking(path).map_err(Error::io("open the image", path))?;
    let meta = file.metadata().map_err(Error::io("read the image", path))?;
    if let Some(kind) = not_regular(&meta) {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            reason: format!(
                "it is {kind}, not a regular file: the image is read more than once (its size, \
                 the bmap's ranges, the check), so save it to a file first and flash that"
            ),
        });
    }
    Ok(file)
}

pub(crate) use rros_files::{not_regular, open_nonblocking};

/// The `.bmap` beside an image: `x.wic.bz2` → `x.wic.bmap`, then `x.wic.bz2.bmap`, then `x.bmap`.
fn find_bmap(image: &Path, compression: Compression) -> Option<PathBuf> {
    let name = image.file_name()?.to_string_lossy().into_owned();
    let dir = image.parent().unwrap_or(Path::new(""));
    let mut candidates = Vec::new();
    let base = match compression.suffix() {
        Some(suffix) => name
            .strip_suffix(&format!(".{suffix}"))
            .or_else(|| name.strip_suffix(".zstd"))
            .unwrap_or(&name)
            .to_owned(),
        None => name.clone(),
    };
    candidates.push(format!("{base}.bmap"));
    candidates.push(format!("{name}.bmap"));
    if let Some((stem, _)) = base.rsplit_once('.') {
        candidates.push(format!("{stem}.bmap"));
    }
    candidates
        .into_iter()
        .map(|c| dir.join(c))
        .find(|p| p.is_file())
}

/// Reads the uncompressed image: by offset from a plain file, in order from a decompressor.
pub(crate) struct Source<'a> {
    image: &'a Image,
    kind: SourceKind,
}

enum SourceKind {
    Plain(File),
    Stream { reader: Box<dyn Read>, pos: u64 },
}

impl<'a> Source<'a> {
    pub fn open(image: &'a Image) -> Result<Source<'a>, Error> {
        let file = open_image(&image.path)?;
        let kind = match image.compression {
            Compression::None => SourceKind::Plain(file),
            other => {
                let buffered = BufReader::with_capacity(1 << 20, file);
                let reader: Box<dyn Read> = match other {
                    Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(buffered)),
                    Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
                    Compression::Zstd => {
                        Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(
                            |source| Error::Decompress {
                                path: image.path.clone(),
                                format: other,
                                offset: 0,
                                source,
                            },
                        )?)
                    }
                    Compression::None => unreachable!(),
                };
                SourceKind::Stream { reader, pos: 0 }
            }
        };
        Ok(Source { image, kind })
    }

    fn stream_error(&self, offset: u64, source: std::io::Error) -> Error {
        if self.image.compression == Compression::None {
            Error::Io {
                action: "read the image",
                path: self.image.path.clone(),
                source,
            }
        } else {
            Error::Decompress {
                path: self.image.path.clone(),
                format: self.image.compression,
                offset,
                source,
            }
        }
    }

    /// Reads the next bytes of the image in order (0 = the end of the image).
    pub fn read_stream(&mut self, buf: &mut [u8], pos_hint: u64) -> Result<usize, Error> {
        let result = match &mut self.kind {
            SourceKind::Plain(file) => retry(|| file.read_at(buf, pos_hint)),
            SourceKind::Stream { reader, pos } => {
                let r = retry(|| reader.read(buf));
                if let Ok(n) = r {
                    *pos += n as u64;
                }
                r
            }
        };
        result.map_err(|e| self.stream_error(pos_hint, e))
    }

    /// Fills `buf` with the image bytes at `offset` (which must not go backwards for a
    /// compressed image). Returns fewer bytes only at the end of the image.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        self.skip_to(offset)?;
        let mut filled = 0;
        while filled < buf.len() {
            let at = offset + filled as u64;
            let n = self.read_stream(&mut buf[filled..], at)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    /// Moves a stream forward to `offset`, decompressing and discarding. Errors at the end of the
    /// image (a cut-off stream).
    fn skip_to(&mut self, offset: u64) -> Result<(), Error> {
        let SourceKind::Stream { pos, .. } = &self.kind else {
            return Ok(());
        };
        let mut pos = *pos;
        if offset < pos {
            return Err(self.stream_error(
                pos,
                std::io::Error::other("internal: the bmap ranges go backwards"),
            ));
        }
        let mut scratch = vec![0u8; 1 << 20];
        while pos < offset {
            let want = ((offset - pos) as usize).min(scratch.len());
            let n = self.read_stream(&mut scratch[..want], pos)?;
            if n == 0 {
                return Err(Error::Truncated {
                    path: self.image.path.clone(),
                    got: pos,
                    expected: offset,
                    why: "the bmap maps data there",
                });
            }
            pos += n as u64;
        }
        Ok(())
    }

    /// After the last range: the image must end exactly at `size`, with an intact stream end.
    pub fn finish(&mut self, size: u64) -> Result<(), Error> {
        match &self.kind {
            SourceKind::Plain(_) => Ok(()), // the file length was checked when it was opened
            SourceKind::Stream { .. } => {
                self.skip_to(size).map_err(|err| match err {
                    Error::Truncated { path, got, .. } => Error::Truncated {
                        path,
                        got,
                        expected: size,
                        why: "the bmap's ImageSize",
                    },
                    other => other,
                })?;
                let mut probe = [0u8; 4096];
                // Reading to the end lets the decompressor check its trailer (CRC, size).
                let n = self.read_stream(&mut probe, size)?;
                if n > 0 {
                    let bmap = self
                        .image
                        .bmap
                        .as_ref()
                        .map(|b| b.path.clone())
                        .unwrap_or_default();
                    return Err(Error::LongerThanBmap {
                        path: self.image.path.clone(),
                        bmap,
                        expected: size,
                    });
                }
                Ok(())
            }
        }
    }
}

/// Repeats a read interrupted by a signal.
fn retry(mut f: impl FnMut() -> std::io::Result<usize>) -> std::io::Result<usize> {
    loop {
        match f() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
