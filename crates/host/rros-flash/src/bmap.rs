//! Loading a `.bmap` (format 2.x, what bmaptool 3.x and newer emits) and refusing a bad one.
//!
//! The block map is parsed by `bmap-parser` (the bmap-rs family). Before it sees the text, this
//! module checks what that parser takes on trust, so that a damaged bmap is an error naming the
//! problem rather than a panic or, worse, a wrong map:
//!
//! - the bmap's own `BmapFileChecksum` (SHA-256 of the file with that field zeroed, as bmaptool
//!   computes it): any flipped byte anywhere in the file is caught here;
//! - the structure: counts are numbers, every range is `N` or `N-M` inside the image, ranges
//!   ascend without overlapping, add up to `MappedBlocksCount`, and carry a SHA-256;
//! - afterwards, that `bmap-parser` read the same map.
//!
//! Format 1.x bmaps (SHA-1, bmaptool before 3.0) are refused with the fix.

use crate::error::{Error, hex};
use crate::image::{not_regular, open_nonblocking};
use sha2::{Digest, Sha256};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Refuse to read anything larger as a bmap (a bmap for a 64 GiB image is a few MiB).
const MAX_BMAP_BYTES: u64 = 256 << 20;

/// A checked block map.
#[derive(Debug, Clone)]
pub struct LoadedBmap {
    pub path: PathBuf,
    /// The `version` attribute, e.g. `2.0`.
    pub version: String,
    /// Bytes in the (uncompressed) image.
    pub image_size: u64,
    pub block_size: u64,
    /// Bytes in the mapped ranges (what is written).
    pub mapped_bytes: u64,
    pub(crate) ranges: Vec<MappedRange>,
}

/// One `<Range>` of the map, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappedRange {
    pub offset: u64,
    pub length: u64,
    pub sha256: [u8; 32],
    /// `first-last` (or `first`) block numbers, as the bmap writes them.
    pub blocks: String,
}

impl LoadedBmap {
    /// Reads and checks the bmap at `path`.
    pub fn load(path: &Path) -> Result<LoadedBmap, Error> {
        let bad = |message: String| Error::Bmap {
            bmap: path.to_owned(),
            message,
        };
        let file = open_nonblocking(path).map_err(Error::io("read the bmap", path))?;
        let meta = file.metadata().map_err(Error::io("read the bmap", path))?;
        if let Some(kind) = not_regular(&meta) {
            return Err(bad(format!(
                "it is {kind}, not a regular file: give the .bmap file made with the image (or --no-bmap)"
            )));
        }
        if meta.len() > MAX_BMAP_BYTES {
            return Err(bad(format!(
                "{} bytes is far too large for a bmap: is this the image itself?",
                meta.len()
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_BMAP_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(Error::io("read the bmap", path))?;
        if bytes.len() as u64 > MAX_BMAP_BYTES {
            return Err(bad(
                "the file grew past the size a bmap can have while it was read".into(),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| bad("not a bmap: not UTF-8 text (is this the image itself?)".into()))?;
        Self::from_text(&text, path)
    }

    /// Checks and parses bmap text; `path` names it in errors.
    pub fn from_text(text: &str, path: &Path) -> Result<LoadedBmap, Error> {
        let bad = |message: String| Error::Bmap {
            bmap: path.to_owned(),
            message,
        };
        let stripped = strip_comments(text).map_err(bad)?;
        let version = bmap_version(&stripped).map_err(bad)?;
        let major = version.split('.').next().unwrap_or_default();
        match major {
            "2" => {}
            "1" => {
                return Err(bad(format!(
                    "bmap format {version} (SHA-1 checksums) is not supported: make the bmap again with bmaptool 3.0 or newer (format 2.0), or pass --no-bmap"
                )));
            }
            _ => {
                return Err(bad(format!(
                    "bmap format {version} is not supported (only 2.x): pass --no-bmap"
                )));
            }
        }

        verify_file_checksum(text, &stripped, path)?;
        let scanned = scan(&stripped).map_err(bad)?;

        let parsed = bmap_parser::Bmap::from_xml(text)
            .map_err(|err| bad(format!("bmap-parser refuses it: {err}")))?;
        // The two readings must agree, or one of them misread the file.
        let parsed_ranges: Vec<(u64, u64, [u8; 32])> = parsed
            .block_map()
            .map(|r| {
                let mut sha = [0u8; 32];
                sha.copy_from_slice(r.checksum().as_slice());
                (r.offset(), r.length(), sha)
            })
            .collect();
        let scanned_ranges: Vec<(u64, u64, [u8; 32])> = scanned
            .ranges
            .iter()
            .map(|r| (r.offset, r.length, r.sha256))
            .collect();
        if parsed.image_size() != scanned.image_size
            || parsed.block_size() != scanned.block_size
            || parsed_ranges != scanned_ranges
        {
            return Err(bad(
                "bmap-parser and the structure check read different maps: the XML is ambiguous"
                    .into(),
            ));
        }
        Ok(LoadedBmap {
            path: path.to_owned(),
            version,
            image_size: scanned.image_size,
            block_size: scanned.block_size,
            mapped_bytes: scanned.ranges.iter().map(|r| r.length).sum(),
            ranges: scanned.ranges,
        })
    }

    /// Number of mapped ranges.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }
}

/// The text without `<!-- … -->` comments (bmaptool's comments mention element names).
fn strip_comments(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 4..];
        let end = after
            .find("-->")
            .ok_or("a comment is not closed (`<!--` without `-->`): the file is cut short")?;
        rest = &after[end + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn bmap_version(text: &str) -> Result<String, String> {
    let start = text.find("<bmap").ok_or("not a bmap: no <bmap> element")?;
    let tag_end = text[start..]
        .find('>')
        .ok_or("not a bmap: the <bmap> tag is not closed")?;
    let tag = &text[start..start + tag_end];
    attribute(tag, "version")
        .map(str::to_owned)
        .ok_or_else(|| "not a bmap: <bmap> has no version attribute".into())
}

/// The value of `name="…"` (or `'…'`) in a start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut search = tag;
    while let Some(at) = search.find(name) {
        let before_ok = at > 0 && search.as_bytes()[at - 1].is_ascii_whitespace();
        let after = search[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let inner = &value[1..];
                return inner.find(quote).map(|end| &inner[..end]);
            }
            return None;
        }
        search = &search[at + name.len()..];
    }
    None
}

/// The trimmed text of the one `<name>…</name>` element.
fn element<'a>(text: &'a str, name: &str) -> Result<&'a str, String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text
        .find(&open)
        .ok_or_else(|| format!("<{name}> is missing"))?
        + open.len();
    let len = text[start..]
        .find(&close)
        .ok_or_else(|| format!("<{name}> is not closed"))?;
    if text[start + len..].contains(&open) {
        return Err(format!("<{name}> appears twice"));
    }
    Ok(text[start..start + len].trim())
}

fn number(text: &str, name: &str) -> Result<u64, String> {
    let value = element(text, name)?;
    value
        .parse()
        .map_err(|_| format!("<{name}> is `{value}`, not a number"))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if !is_sha256_hex(s) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// bmaptool's rule: SHA-256 of the file with the checksum's first occurrence replaced by zeros.
fn verify_file_checksum(text: &str, stripped: &str, path: &Path) -> Result<(), Error> {
    let stated = element(stripped, "BmapFileChecksum").map_err(|m| Error::Bmap {
        bmap: path.to_owned(),
        message: m,
    })?;
    if !is_sha256_hex(stated) {
        return Err(Error::Bmap {
            bmap: path.to_owned(),
            message: format!("<BmapFileChecksum> `{stated}` is not a SHA-256 in hex"),
        });
    }
    let zeroed = text.replacen(stated, &"0".repeat(stated.len()), 1);
    let actual = hex(&Sha256::digest(zeroed.as_bytes()));
    if !actual.eq_ignore_ascii_case(stated) {
        return Err(Error::BmapFileChecksum {
            bmap: path.to_owned(),
            expected: stated.to_owned(),
            actual,
        });
    }
    Ok(())
}

struct Scanned {
    image_size: u64,
    block_size: u64,
    ranges: Vec<MappedRange>,
}

/// Reads the numbers and ranges and checks that they describe one consistent map.
fn scan(text: &str) -> Result<Scanned, String> {
    let image_size = number(text, "ImageSize")?;
    let block_size = number(text, "BlockSize")?;
    let blocks = number(text, "BlocksCount")?;
    let mapped = number(text, "MappedBlocksCount")?;
    let checksum_type = element(text, "ChecksumType")?;
    if checksum_type != "sha256" {
        return Err(format!(
            "<ChecksumType> is `{checksum_type}`; only sha256 is supported (bmap format 2.0)"
        ));
    }
    if block_size == 0 || block_size % 512 != 0 {
        return Err(format!("<BlockSize> {block_size} is not a multiple of 512"));
    }
    if blocks != image_size.div_ceil(block_size) {
        return Err(format!(
            "<BlocksCount> {blocks} does not match <ImageSize> {image_size} in blocks of {block_size}"
        ));
    }
    let map_start = text.find("<BlockMap>").ok_or("<BlockMap> is missing")?;
    let map_len = text[map_start..]
        .find("</BlockMap>")
        .ok_or("<BlockMap> is not closed")?;
    let map = &text[map_start + "<BlockMap>".len()..map_start + map_len];

    let mut ranges = Vec::new();
    let mut rest = map;
    let mut next_free = 0u64; // first block after the previous range
    let mut counted = 0u64;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            break;
        }
        let n = ranges.len() + 1;
        let Some(tag_body) = trimmed.strip_prefix("<Range") else {
            let snippet: String = trimmed.chars().take(40).collect();
            return Err(format!(
                "unexpected content in <BlockMap> after range {}: `{snippet}`",
                n - 1
            ));
        };
        let tag_end = tag_body
            .find('>')
            .ok_or(format!("range {n}: the <Range> tag is not closed"))?;
        let tag = &tag_body[..tag_end];
        let chksum = attribute(tag, "chksum").ok_or(format!(
            "range {n} has no chksum attribute: make the bmap without --no-checksum"
        ))?;
        let sha256 = parse_hex32(chksum).ok_or(format!(
            "range {n}: chksum `{chksum}` is not a SHA-256 in hex"
        ))?;
        let body = &tag_body[tag_end + 1..];
        let close = body
            .find("</Range>")
            .ok_or(format!("range {n}: <Range> is not closed"))?;
        let value = body[..close].trim();
        let (first, last) = match value.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (value, value),
        };
        let parse = |s: &str| -> Result<u64, String> {
            s.parse()
                .map_err(|_| format!("range {n} is `{value}`, not `N` or `N-M` block numbers"))
        };
        let (first, last) = (parse(first)?, parse(last)?);
        if first > last {
            return Err(format!("range {n} `{value}` is reversed"));
        }
        if last >= blocks {
            return Err(format!(
                "range {n} `{value}` reaches past the image's {blocks} blocks"
            ));
        }
        if first < next_free {
            return Err(format!(
                "range {n} `{value}` overlaps or precedes the range before it"
            ));
        }
        next_free = last + 1;
        counted += last - first + 1;
        let offset = first * block_size;
        let length = ((last + 1) * block_size).min(image_size) - offset;
        ranges.push(MappedRange {
            offset,
            length,
            sha256,
            blocks: value.to_owned(),
        });
        rest = &body[close + "</Range>".len()..];
    }
    if counted != mapped {
        return Err(format!(
            "the ranges hold {counted} blocks but <MappedBlocksCount> says {mapped}"
        ));
    }
    if ranges.is_empty() {
        return Err("<BlockMap> has no ranges".into());
    }
    Ok(Scanned {
        image_size,
        block_size,
        ranges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_checksum(body: &str) -> String {
        let placeholder = "0".repeat(64);
        let text = body.replace("@SUM@", &placeholder);
        let sum = hex(&Sha256::digest(text.as_bytes()));
        text.replacen(&placeholder, &sum, 1)
    }

    fn sample(ranges: &str, mapped: u64) -> String {
        with_checksum(&format!(
            "<?xml version=\"1.0\" ?>\n<!-- <MappedBlocksCount> in a comment -->\n<bmap version=\"2.0\">\n\
             <ImageSize> 40960 </ImageSize>\n<BlockSize> 4096 </BlockSize>\n<BlocksCount> 10 </BlocksCount>\n\
             <MappedBlocksCount> {mapped} </MappedBlocksCount>\n<ChecksumType> sha256 </ChecksumType>\n\
             <BmapFileChecksum> @SUM@ </BmapFileChecksum>\n<BlockMap>\n{ranges}</BlockMap>\n</bmap>\n"
        ))
    }

    fn range(r: &str) -> String {
        format!("  <Range chksum=\"{}\"> {r} </Range>\n", "ab".repeat(32))
    }

    #[test]
    fn a_consistent_map_loads() {
        let text = sample(&(range("0") + &range("3-5") + &range("9")), 5);
        let map = LoadedBmap::from_text(&text, Path::new("x.bmap")).unwrap();
        assert_eq!(map.image_size, 40960);
        assert_eq!(map.mapped_bytes, 5 * 4096);
        assert_eq!(map.ranges[1].offset, 3 * 4096);
        assert_eq!(map.ranges[1].length, 3 * 4096);
        assert_eq!(map.ranges[2].blocks, "9");
    }

    #[test]
    fn structural_damage_is_an_error_not_a_panic() {
        for (ranges, mapped, want) in [
            (range("3-x"), 1, "not `N` or `N-M`"),
            (range("5-3"), 3, "reversed"),
            (range("8-12"), 5, "reaches past"),
            (range("3-5") + &range("4-6"), 6, "overlaps"),
            (range("3-5"), 4, "MappedBlocksCount"),
            (String::new(), 0, "no ranges"),
            ("<Range> 3 </Range>\n".to_owned(), 1, "no chksum"),
            (
                "<Range chksum=\"zz\"> 3 </Range>\n".to_owned(),
                1,
                "not a SHA-256",
            ),
            ("<Range chksum=\"".to_owned(), 1, "not closed"),
        ] {
            let text = sample(&ranges, mapped);
            let err = LoadedBmap::from_text(&text, Path::new("x.bmap")).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
    }

    #[test]
    fn any_changed_byte_breaks_the_file_checksum() {
        let text = sample(&range("3-5"), 3);
        let flipped = text.replacen("<BlockSize> 4096", "<BlockSize> 4097", 1);
        let err = LoadedBmap::from_text(&flipped, Path::new("x.bmap")).unwrap_err();
        assert!(matches!(err, Error::BmapFileChecksum { .. }), "{err}");
    }

    #[test]
    fn format_1_is_refused_with_the_fix() {
        let text = sample(&range("3"), 1).replace("version=\"2.0\"", "version=\"1.4\"");
        let err = LoadedBmap::from_text(&text, Path::new("x.bmap")).unwrap_err();
        assert!(err.to_string().contains("bmaptool 3.0"), "{err}");
    }
}
