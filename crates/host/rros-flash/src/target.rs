//! What the target is and every reason not to write it.
//!
//! Everything is read through a [`SystemView`] (a sysfs root, a mountinfo file, a swaps file),
//! so tests can fake a mounted, root-holding or fixed disk without hardware. The checks:
//!
//! | refusal | how it is seen | `--force` |
//! |---|---|---|
//! | a partition, not a disk | `/sys/dev/block/M:m/partition` exists | no |
//! | mounted | the disk or a partition in mountinfo (by `M:m`, or by source name) | no |
//! | active swap | the disk or a partition in `/proc/swaps` | no |
//! | holds `/` | the root mount's device, through partitions and dm/md `slaves/`, is this disk | no |
//! | in use by dm/md | `holders/` of the disk or a partition is not empty (LVM, LUKS, RAID) | no |
//! | read-only | `ro` is 1 | no |
//! | smaller than the image | `size` × 512 < image size | no |
//! | not removable | none of: `removable` = 1, attached through USB, an SD card on an MMC host | yes |

use crate::error::Error;
use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where the facts about block devices and mounts are read from.
#[derive(Debug, Clone)]
pub struct SystemView {
    /// `/sys` (holds `dev/block/M:m` and `class/block/<name>`).
    pub sysfs: PathBuf,
    /// `/proc/self/mountinfo`.
    pub mountinfo: PathBuf,
    /// `/proc/swaps`.
    pub swaps: PathBuf,
}

impl SystemView {
    /// The running system.
    pub fn host() -> SystemView {
        SystemView::under(Path::new("/"))
    }

    /// A fake system rooted at `root` (`root/sys`, `root/proc/self/mountinfo`, `root/proc/swaps`).
    pub fn under(root: &Path) -> SystemView {
        SystemView {
            sysfs: root.join("sys"),
            mountinfo: root.join("proc/self/mountinfo"),
            swaps: root.join("proc/swaps"),
        }
    }
}

impl Default for SystemView {
    fn default() -> Self {
        SystemView::host()
    }
}

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevId {
    pub major: u32,
    pub minor: u32,
}

impl DevId {
    pub fn parse(text: &str) -> Option<DevId> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevId {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for DevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// What DEVICE turned out to be.
// One value per run: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Target {
    /// A regular file (or a path to create): for tests and for making copies.
    File(FileTarget),
    Block(BlockTarget),
}

#[derive(Debug, Clone)]
pub struct FileTarget {
    pub path: PathBuf,
    /// `None` when the file does not exist yet.
    pub existing_len: Option<u64>,
    /// (st_dev, st_ino) of an existing file, to refuse writing over the image or its bmap.
    pub(crate) identity: Option<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct BlockTarget {
    /// As given (may be a /dev/disk/by-id symlink).
    pub path: PathBuf,
    /// Kernel name, e.g. `sdb`, `mmcblk0`, `loop3`.
    pub name: String,
    pub dev: DevId,
    /// The whole disk when `path` is one of its partitions.
    pub partition_of: Option<String>,
    pub size: u64,
    pub read_only: bool,
    /// Why the disk counts as removable (`None`: it does not).
    pub removable: Option<&'static str>,
    /// `usb`, `mmc`, `nvme`, `ata`, `scsi`, `virtio`, `loop`, … or `unknown`.
    pub transport: &'static str,
    /// Vendor and model from sysfs, or the MMC card name; may be empty.
    pub model: String,
    /// Names of the partitions of the disk.
    pub partitions: Vec<String>,
    /// (device name, mount point) for each mount of the disk or a partition.
    pub mounts: Vec<(String, String)>,
    /// Names of the disk or partitions used as swap.
    pub swaps: Vec<String>,
    /// dm/md devices built on the disk or a partition (`holder of part`).
    pub holders: Vec<String>,
    /// The source of `/` when this disk holds it.
    pub holds_root: Option<String>,
}

impl BlockTarget {
    /// One line for the confirmation prompt: `SanDisk Ultra, 29.7 GiB, usb, removable`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.model.is_empty() {
            parts.push(self.model.clone());
        }
        parts.push(human_size(self.size));
        parts.push(self.transport.to_owned());
        parts.push(match self.removable {
            Some(_) => "removable".to_owned(),
            None => "not removable".to_owned(),
        });
        parts.join(", ")
    }
}

impl Target {
    pub fn path(&self) -> &Path {
        match self {
            Target::File(f) => &f.path,
            Target::Block(b) => &b.path,
        }
    }

    /// Every reason not to write this target with an image of `image_size` bytes (`None`: not
    /// known yet). `others` are the image and bmap, which a file target must not be.
    pub fn refusals(&self, image_size: Option<u64>, others: &[&Path]) -> Vec<Refusal> {
        let mut out = Vec::new();
        match self {
            Target::File(file) => {
                if let Some(identity) = file.identity {
                    for other in others {
                        if let Ok(meta) = std::fs::metadata(other)
                            && (meta.dev(), meta.ino()) == identity
                        {
                            out.push(Refusal::SameFile {
                                other: other.to_path_buf(),
                            });
                        }
                    }
                }
            }
            Target::Block(b) => {
                if let Some(disk) = &b.partition_of {
                    out.push(Refusal::Partition { disk: disk.clone() });
                }
                if let Some(source) = &b.holds_root {
                    out.push(Refusal::RootDisk {
                        source: source.clone(),
                    });
                }
                for (device, mount_point) in &b.mounts {
                    out.push(Refusal::Mounted {
                        device: device.clone(),
                        mount_point: mount_point.clone(),
                    });
                }
                for device in &b.swaps {
                    out.push(Refusal::Swap {
                        device: device.clone(),
                    });
                }
                for holder in &b.holders {
                    out.push(Refusal::Held {
                        holder: holder.clone(),
                    });
                }
                if b.read_only {
                    out.push(Refusal::ReadOnly);
                }
                if let Some(size) = image_size
                    && b.size < size
                {
                    out.push(Refusal::TooSmall {
                        device_size: b.size,
                        image_size: size,
                    });
                }
                if b.removable.is_none() {
                    out.push(Refusal::NotRemovable {
                        transport: b.transport,
                    });
                }
            }
        }
        out
    }
}

/// A reason not to write a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Partition {
        disk: String,
    },
    RootDisk {
        source: String,
    },
    Mounted {
        device: String,
        mount_point: String,
    },
    Swap {
        device: String,
    },
    Held {
        holder: String,
    },
    ReadOnly,
    TooSmall {
        device_size: u64,
        image_size: u64,
    },
    NotRemovable {
        transport: &'static str,
    },
    SameFile {
        other: PathBuf,
    },
    /// The kernel refused `O_EXCL` (EBUSY): something holds the device.
    Busy,
}

impl Refusal {
    /// `--force` waives only this one: a disk that does not look removable.
    pub fn waived_by_force(&self) -> bool {
        matches!(self, Refusal::NotRemovable { .. })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Partition { disk } => write!(
                f,
                "it is a partition of {disk}: an image holds its own partition table, give the whole disk (/dev/{disk})"
            ),
            Refusal::RootDisk { source } => write!(
                f,
                "it holds the running system's root filesystem ({source} is mounted on /): this is the wrong disk"
            ),
            Refusal::Mounted {
                device,
                mount_point,
            } => write!(
                f,
                "{device} is mounted on {mount_point}: unmount it first (`umount {mount_point}`)"
            ),
            Refusal::Swap { device } => {
                write!(
                    f,
                    "{device} is in use as swap: `swapoff /dev/{device}` first"
                )
            }
            Refusal::Held { holder } => write!(
                f,
                "it is in use by {holder} (device-mapper/LVM/LUKS/RAID): deactivate that first"
            ),
            Refusal::ReadOnly => write!(
                f,
                "it is read-only (the card's lock switch, or `blockdev --setro`)"
            ),
            Refusal::TooSmall {
                device_size,
                image_size,
            } => write!(
                f,
                "it is too small: {} ({device_size} bytes) for an image of {} ({image_size} bytes)",
                human_size(*device_size),
                human_size(*image_size)
            ),
            Refusal::NotRemovable { transport } => write!(
                f,
                "it does not look removable ({transport}, not USB, not an SD card, removable=0): if you are sure, pass --force"
            ),
            Refusal::Busy => write!(
                f,
                "the kernel refuses exclusive access (EBUSY): it is mounted or held open; unmount it and close what uses it"
            ),
            Refusal::SameFile { other } => write!(
                f,
                "it is the same file as {}: choose another output file",
                other.display()
            ),
        }
    }
}

/// `29.7 GiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Looks at DEVICE: a regular file (or one to create), or a block device seen through `view`.
pub fn inspect(device: &Path, view: &SystemView) -> Result<Target, Error> {
    match std::fs::metadata(device) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = device
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if device.starts_with("/dev") || !parent.is_dir() {
                return Err(Error::Io {
                    action: "find the device",
                    path: device.to_owned(),
                    source: e,
                });
            }
            Ok(Target::File(FileTarget {
                path: device.to_owned(),
                existing_len: None,
                identity: None,
            }))
        }
        Err(e) => Err(Error::Io {
            action: "look at the device",
            path: device.to_owned(),
            source: e,
        }),
        Ok(meta) if meta.is_file() => Ok(Target::File(FileTarget {
            path: device.to_owned(),
            existing_len: Some(meta.len()),
            identity: Some((meta.dev(), meta.ino())),
        })),
        Ok(meta) if meta.file_type().is_block_device() => {
            let rdev = meta.rdev();
            let dev = DevId {
                major: libc::major(rdev),
                minor: libc::minor(rdev),
            };
            inspect_block(device, dev, view).map(Target::Block)
        }
        Ok(_) => Err(Error::Unsupported {
            path: device.to_owned(),
            reason: "not a block device nor a regular file: give the whole disk (e.g. /dev/sdb, /dev/mmcblk0) or a file".into(),
        }),
    }
}

/// Reads a small sysfs attribute, trimmed (`None` when absent).
fn attr(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The kernel name of the block device `dev` (`sdb1`) and its sysfs folder.
fn sys_node(view: &SystemView, dev: DevId) -> Option<(String, PathBuf)> {
    let link = view.sysfs.join("dev/block").join(dev.to_string());
    let real = std::fs::canonicalize(&link).ok()?;
    let name = real.file_name()?.to_string_lossy().into_owned();
    Some((name, real))
}

/// The sysfs folder of a block device by kernel name.
fn sys_by_name(view: &SystemView, name: &str) -> Option<PathBuf> {
    std::fs::canonicalize(view.sysfs.join("class/block").join(name)).ok()
}

/// Whole-disk names under `node` (itself when a disk, its parent when a partition, the
/// underlying disks of a dm/md device through `slaves/`).
fn disks_below(node: &Path, depth: u32, out: &mut BTreeSet<String>) {
    if depth > 8 {
        return;
    }
    let Some(name) = node.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let disk = if node.join("partition").exists() {
        match node.parent() {
            Some(parent) => parent.to_path_buf(),
            None => return,
        }
    } else {
        node.to_path_buf()
    };
    let mut slaves = Vec::new();
    for dir in [&node.to_path_buf(), &disk] {
        if let Ok(entries) = std::fs::read_dir(dir.join("slaves")) {
            for entry in entries.flatten() {
                if let Ok(real) = std::fs::canonicalize(entry.path()) {
                    slaves.push(real);
                }
            }
        }
    }
    if slaves.is_empty() {
        let disk_name = disk
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(name);
        out.insert(disk_name);
    } else {
        for slave in slaves {
            disks_below(&slave, depth + 1, out);
        }
    }
}

/// A mountinfo line: (device number, mount point, source).
fn mounts(view: &SystemView) -> Vec<(DevId, String, String)> {
    let Ok(text) = std::fs::read_to_string(&view.mountinfo) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(dev), Some(mount_point), Some(source)) =
            (fields.get(2), fields.get(4), fields.get(sep + 2))
        else {
            continue;
        };
        let Some(dev) = DevId::parse(dev) else {
            continue;
        };
        out.push((dev, unescape(mount_point), unescape(source)));
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.len() >= i + 4
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The block-device name a mount source like `/dev/sdb1` or `/dev/mapper/vg-root` refers to.
fn source_name(view: &SystemView, source: &str) -> Option<String> {
    let path = Path::new(source);
    if !source.starts_with("/dev/") {
        return None;
    }
    // /dev/mapper/x and /dev/disk/by-*/x are symlinks on a real system; follow when possible.
    let name = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()))?;
    sys_by_name(view, &name).map(|_| name)
}

/// Inspects a block device by number (tests call this with a fake [`SystemView`]).
pub fn inspect_block(path: &Path, dev: DevId, view: &SystemView) -> Result<BlockTarget, Error> {
    let (name, node) = sys_node(view, dev).ok_or_else(|| Error::Unsupported {
        path: path.to_owned(),
        reason: format!(
            "block device {dev} is not in {}: cannot check that it is safe to write",
            view.sysfs.join("dev/block").display()
        ),
    })?;
    let partition_of = node
        .join("partition")
        .exists()
        .then(|| node.parent())
        .flatten()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    // Checks about "the disk" look at the whole disk even when a partition was named.
    let disk_node = match &partition_of {
        Some(_) => node.parent().map(Path::to_path_buf).unwrap_or(node.clone()),
        None => node.clone(),
    };
    let disk_name = disk_node
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.clone());

    let size = attr(&node.join("size"))
        .and_then(|s| s.parse::<u64>().ok())
        .map(|sectors| sectors * 512)
        .unwrap_or(0);
    let read_only = attr(&node.join("ro")).as_deref() == Some("1");

    // Partitions: subfolders with a `partition` file, each with its `dev` number.
    let mut partitions = Vec::new();
    let mut members = vec![(disk_name.clone(), dev_of(&disk_node), disk_node.clone())];
    if let Ok(entries) = std::fs::read_dir(&disk_node) {
        let mut found: Vec<_> = entries
            .flatten()
            .filter(|e| e.path().join("partition").exists())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        found.sort();
        for (part, part_path) in found {
            partitions.push(part.clone());
            members.push((part, dev_of(&part_path), part_path));
        }
    }

    let mut holders = Vec::new();
    for (member, _, member_path) in &members {
        if let Ok(entries) = std::fs::read_dir(member_path.join("holders")) {
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for holder in names {
                let label = attr(&view.sysfs.join("class/block").join(&holder).join("dm/name"))
                    .map(|dm| format!("{holder} ({dm})"))
                    .unwrap_or(holder);
                holders.push(format!("{label} on {member}"));
            }
        }
    }

    let all_mounts = mounts(view);
    let mut mounted = Vec::new();
    for (dev_id, mount_point, source) in &all_mounts {
        let by_number = members
            .iter()
            .find(|(_, d, _)| d.as_ref() == Some(dev_id) && dev_id.major != 0);
        let by_name =
            source_name(view, source).and_then(|n| members.iter().find(|(m, _, _)| *m == n));
        if let Some((member, _, _)) = by_number.or(by_name) {
            mounted.push((member.clone(), mount_point.clone()));
        }
    }

    let mut swaps = Vec::new();
    if let Ok(text) = std::fs::read_to_string(&view.swaps) {
        for line in text.lines().skip(1) {
            if let Some(file) = line.split_whitespace().next()
                && let Some(n) = source_name(view, &unescape(file))
                && members.iter().any(|(m, _, _)| *m == n)
            {
                swaps.push(n);
            }
        }
    }

    // The disk(s) holding `/`: the last mount on `/` is the one in effect.
    let mut holds_root = None;
    if let Some((root_dev, _, root_source)) = all_mounts.iter().rev().find(|(_, mp, _)| mp == "/") {
        let mut root_disks = BTreeSet::new();
        let root_node = if root_dev.major != 0 {
            sys_node(view, *root_dev).map(|(_, n)| n)
        } else {
            None
        }
        .or_else(|| source_name(view, root_source).and_then(|n| sys_by_name(view, &n)));
        if let Some(root_node) = root_node {
            disks_below(&root_node, 0, &mut root_disks);
        }
        if root_disks.contains(&disk_name) {
            holds_root = Some(root_source.clone());
        }
    }

    let transport = transport(&disk_name, &disk_node, view);
    let removable = if attr(&disk_node.join("removable")).as_deref() == Some("1") {
        Some("removable=1")
    } else if transport == "usb" {
        Some("attached through USB")
    } else if transport == "mmc" && attr(&disk_node.join("device/type")).as_deref() == Some("SD") {
        Some("an SD card on an MMC host")
    } else {
        None
    };

    let model = if transport == "mmc" {
        attr(&disk_node.join("device/name")).unwrap_or_default()
    } else {
        let vendor = attr(&disk_node.join("device/vendor")).unwrap_or_default();
        let model = attr(&disk_node.join("device/model")).unwrap_or_default();
        format!("{vendor} {model}").trim().to_owned()
    };

    Ok(BlockTarget {
        path: path.to_owned(),
        name,
        dev,
        partition_of,
        size,
        read_only,
        removable,
        transport,
        model,
        partitions,
        mounts: mounted,
        swaps,
        holders,
        holds_root,
    })
}

fn dev_of(node: &Path) -> Option<DevId> {
    attr(&node.join("dev")).and_then(|d| DevId::parse(&d))
}

/// How the disk is attached, from its place in the sysfs device tree.
fn transport(name: &str, node: &Path, view: &SystemView) -> &'static str {
    if name.starts_with("loop") {
        return "loop";
    }
    if name.starts_with("nbd") {
        return "nbd";
    }
    if name.starts_with("zram") || name.starts_with("ram") {
        return "ram";
    }
    let full = node.to_string_lossy();
    let rel = std::fs::canonicalize(&view.sysfs)
        .ok()
        .and_then(|root| {
            node.strip_prefix(&root)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| full.into_owned());
    let has = |needle: &str| rel.split('/').any(|part| part.starts_with(needle));
    if has("usb") {
        "usb"
    } else if has("mmc") || name.starts_with("mmcblk") {
        "mmc"
    } else if has("nvme") {
        "nvme"
    } else if has("virtio") {
        "virtio"
    } else if has("ata") {
        "ata"
    } else if has("host") || has("target") {
        "scsi"
    } else {
        "unknown"
    }
}
