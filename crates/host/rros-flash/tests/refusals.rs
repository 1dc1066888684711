//! The refusal rules on a fake system (sysfs tree, mountinfo, swaps): a USB card reader, a
//! SATA system disk, an NVMe disk under LVM, an SD card and an eMMC on MMC hosts.

use rros_flash::{BlockTarget, DevId, Refusal, SystemView, Target, inspect_block};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

const USB: &str =
    "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb";
const SATA: &str = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda";
const NVME: &str = "devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1";
const SD: &str = "devices/platform/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0";
const EMMC: &str = "devices/platform/fe330000.mmc/mmc_host/mmc1/mmc1:0001/block/mmcblk1";
const DM: &str = "devices/virtual/block/dm-0";

const GIB: u64 = 1 << 30;

struct FakeSys {
    dir: tempfile::TempDir,
    mountinfo: Vec<String>,
    swaps: Vec<String>,
}

impl FakeSys {
    fn new() -> FakeSys {
        let fake = FakeSys {
            dir: tempfile::tempdir().unwrap(),
            mountinfo: Vec::new(),
            swaps: Vec::new(),
        };
        for d in ["sys/dev/block", "sys/class/block", "proc/self"] {
            std::fs::create_dir_all(fake.dir.path().join(d)).unwrap();
        }
        fake
    }

    fn sys(&self) -> PathBuf {
        self.dir.path().join("sys")
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.sys().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("{content}\n")).unwrap();
    }

    /// A block device node at `devpath` (relative to sys/), linked from dev/block and class/block.
    fn node(&self, devpath: &str, dev: (u32, u32), bytes: u64) {
        let name = Path::new(devpath).file_name().unwrap().to_str().unwrap();
        self.write(&format!("{devpath}/dev"), &format!("{}:{}", dev.0, dev.1));
        self.write(&format!("{devpath}/size"), &(bytes / 512).to_string());
        self.write(&format!("{devpath}/ro"), "0");
        std::fs::create_dir_all(self.sys().join(devpath).join("holders")).unwrap();
        std::fs::create_dir_all(self.sys().join(devpath).join("slaves")).unwrap();
        symlink(
            format!("../../{devpath}"),
            self.sys().join(format!("dev/block/{}:{}", dev.0, dev.1)),
        )
        .unwrap();
        symlink(
            format!("../../{devpath}"),
            self.sys().join("class/block").join(name),
        )
        .unwrap();
    }

    fn disk(&self, devpath: &str, dev: (u32, u32), bytes: u64, removable: bool) {
        self.node(devpath, dev, bytes);
        self.write(
            &format!("{devpath}/removable"),
            if removable { "1" } else { "0" },
        );
    }

    fn part(&self, disk: &str, name: &str, dev: (u32, u32), bytes: u64) -> String {
        let devpath = format!("{disk}/{name}");
        self.node(&devpath, dev, bytes);
        self.write(&format!("{devpath}/partition"), "1");
        devpath
    }

    /// dm device `name` built on `slaves` (devpaths), named `dm_name` (as under /dev/mapper).
    fn dm(&self, dev: (u32, u32), dm_name: &str, slaves: &[&str]) {
        self.node(DM, dev, 10 * GIB);
        self.write(&format!("{DM}/dm/name"), dm_name);
        for slave in slaves {
            let slave_name = Path::new(slave).file_name().unwrap().to_str().unwrap();
            symlink(
                self.sys().join(slave),
                self.sys().join(DM).join("slaves").join(slave_name),
            )
            .unwrap();
            symlink(
                self.sys().join(DM),
                self.sys().join(slave).join("holders/dm-0"),
            )
            .unwrap();
        }
    }

    fn mount(&mut self, dev: (u32, u32), mount_point: &str, fstype: &str, source: &str) {
        let id = 30 + self.mountinfo.len();
        self.mountinfo.push(format!(
            "{id} 1 {}:{} / {mount_point} rw,relatime shared:1 - {fstype} {source} rw",
            dev.0, dev.1
        ));
    }

    fn view(&self) -> SystemView {
        let view = SystemView::under(self.dir.path());
        let mut mountinfo = String::from(
            "22 27 0:21 / /proc rw,relatime - proc proc rw\n23 27 0:22 / /sys rw - sysfs sysfs rw\n",
        );
        for line in &self.mountinfo {
            mountinfo.push_str(line);
            mountinfo.push('\n');
        }
        std::fs::write(&view.mountinfo, mountinfo).unwrap();
        let mut swaps = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        for line in &self.swaps {
            swaps.push_str(line);
            swaps.push('\n');
        }
        std::fs::write(&view.swaps, swaps).unwrap();
        view
    }

    /// A typical laptop: SATA system disk (sda2 on /), a USB card reader with a 32 GiB card.
    fn laptop() -> FakeSys {
        let mut fake = FakeSys::new();
        fake.disk(SATA, (8, 0), 500 * GIB, false);
        fake.part(SATA, "sda1", (8, 1), GIB);
        fake.part(SATA, "sda2", (8, 2), 499 * GIB);
        fake.write(&format!("{SATA}/device/vendor"), "ATA     ");
        fake.write(&format!("{SATA}/device/model"), "Samsung SSD 860");
        fake.mount((8, 2), "/", "ext4", "/dev/sda2");
        fake.mount((8, 1), "/boot/efi", "vfat", "/dev/sda1");
        fake.disk(USB, (8, 16), 32 * GIB, true);
        fake.part(USB, "sdb1", (8, 17), 256 << 20);
        fake.part(USB, "sdb2", (8, 18), 31 * GIB);
        fake.write(&format!("{USB}/device/vendor"), "Generic-");
        fake.write(&format!("{USB}/device/model"), "SD/MMC CRW      ");
        fake
    }
}

fn look(fake: &FakeSys, dev: (u32, u32)) -> BlockTarget {
    inspect_block(
        Path::new("/dev/test"),
        DevId {
            major: dev.0,
            minor: dev.1,
        },
        &fake.view(),
    )
    .unwrap()
}

fn refusals(target: &BlockTarget, image: u64) -> Vec<Refusal> {
    Target::Block(target.clone()).refusals(Some(image), &[])
}

#[test]
fn an_unmounted_card_in_a_usb_reader_is_fine() {
    let fake = FakeSys::laptop();
    let card = look(&fake, (8, 16));
    assert_eq!(card.name, "sdb");
    assert_eq!(card.transport, "usb");
    assert_eq!(card.removable, Some("removable=1"));
    assert_eq!(card.partitions, vec!["sdb1", "sdb2"]);
    assert_eq!(
        card.describe(),
        "Generic- SD/MMC CRW, 32.0 GiB, usb, removable"
    );
    assert_eq!(refusals(&card, 4 * GIB), vec![]);
}

#[test]
fn a_mounted_partition_is_refused_naming_the_mount_point() {
    let mut fake = FakeSys::laptop();
    fake.mount((8, 18), "/media/user/root fs", "ext4", "/dev/sdb2");
    // mountinfo escapes the space.
    if let Some(line) = fake.mountinfo.last_mut() {
        *line = line.replace("root fs", "root\\040fs");
    }
    let card = look(&fake, (8, 16));
    let found = refusals(&card, GIB);
    assert_eq!(
        found,
        vec![Refusal::Mounted {
            device: "sdb2".into(),
            mount_point: "/media/user/root fs".into()
        }]
    );
    assert!(found[0].to_string().contains("umount /media/user/root fs"));
    assert!(!found[0].waived_by_force());
}

#[test]
fn a_mount_without_a_device_number_is_found_by_its_source() {
    // btrfs (and others) show an anonymous 0:N in mountinfo; the source names the partition.
    let mut fake = FakeSys::laptop();
    fake.mount((0, 45), "/mnt/card", "btrfs", "/dev/sdb1");
    let card = look(&fake, (8, 16));
    assert_eq!(
        refusals(&card, GIB),
        vec![Refusal::Mounted {
            device: "sdb1".into(),
            mount_point: "/mnt/card".into()
        }]
    );
}

#[test]
fn swap_on_the_card_is_refused() {
    let mut fake = FakeSys::laptop();
    fake.swaps
        .push("/dev/sdb2\tpartition\t1048572\t0\t-2".into());
    let card = look(&fake, (8, 16));
    assert_eq!(
        refusals(&card, GIB),
        vec![Refusal::Swap {
            device: "sdb2".into()
        }]
    );
}

#[test]
fn the_system_disk_is_refused_and_force_does_not_help() {
    let fake = FakeSys::laptop();
    let disk = look(&fake, (8, 0));
    assert_eq!(disk.transport, "ata");
    assert_eq!(disk.holds_root.as_deref(), Some("/dev/sda2"));
    let found = refusals(&disk, GIB);
    assert_eq!(
        found,
        vec![
            Refusal::RootDisk {
                source: "/dev/sda2".into()
            },
            // In mount order.
            Refusal::Mounted {
                device: "sda2".into(),
                mount_point: "/".into()
            },
            Refusal::Mounted {
                device: "sda1".into(),
                mount_point: "/boot/efi".into()
            },
            Refusal::NotRemovable { transport: "ata" },
        ]
    );
    let after_force: Vec<_> = found.iter().filter(|r| !r.waived_by_force()).collect();
    assert_eq!(after_force.len(), 3);
}

#[test]
fn root_on_lvm_is_traced_through_device_mapper_to_its_disk() {
    let mut fake = FakeSys::new();
    fake.disk(NVME, (259, 0), 1024 * GIB, false);
    fake.part(NVME, "nvme0n1p1", (259, 1), GIB);
    let p3 = fake.part(NVME, "nvme0n1p3", (259, 3), 1000 * GIB);
    fake.dm((253, 0), "vg-root", &[&p3]);
    fake.mount((253, 0), "/", "ext4", "/dev/mapper/vg-root");
    let disk = look(&fake, (259, 0));
    assert_eq!(disk.transport, "nvme");
    let found = refusals(&disk, GIB);
    assert_eq!(
        found,
        vec![
            Refusal::RootDisk {
                source: "/dev/mapper/vg-root".into()
            },
            Refusal::Held {
                holder: "dm-0 (vg-root) on nvme0n1p3".into()
            },
            Refusal::NotRemovable { transport: "nvme" },
        ]
    );
}

#[test]
fn a_disk_held_by_device_mapper_is_refused_even_when_nothing_is_mounted() {
    let fake = FakeSys::laptop();
    let sdb2 = format!("{USB}/sdb2");
    fake.dm((253, 0), "luks-card", &[&sdb2]);
    let card = look(&fake, (8, 16));
    assert_eq!(
        refusals(&card, GIB),
        vec![Refusal::Held {
            holder: "dm-0 (luks-card) on sdb2".into()
        }]
    );
}

#[test]
fn a_card_smaller_than_the_image_is_refused() {
    let fake = FakeSys::laptop();
    let card = look(&fake, (8, 16));
    let found = refusals(&card, 33 * GIB);
    assert_eq!(
        found,
        vec![Refusal::TooSmall {
            device_size: 32 * GIB,
            image_size: 33 * GIB
        }]
    );
    assert!(found[0].to_string().contains("too small"));
    // Unknown image size (not measured yet): no size refusal.
    assert_eq!(Target::Block(card).refusals(None, &[]), vec![]);
}

#[test]
fn a_partition_is_not_a_target() {
    let fake = FakeSys::laptop();
    let part = look(&fake, (8, 17));
    assert_eq!(part.partition_of.as_deref(), Some("sdb"));
    assert_eq!(
        refusals(&part, 1 << 20),
        vec![Refusal::Partition { disk: "sdb".into() }]
    );
}

#[test]
fn an_sd_card_on_an_mmc_host_is_removable_an_emmc_is_not() {
    let fake = FakeSys::new();
    fake.disk(SD, (179, 0), 16 * GIB, false);
    fake.write(&format!("{SD}/device/type"), "SD");
    fake.write(&format!("{SD}/device/name"), "SC16G");
    fake.disk(EMMC, (179, 32), 32 * GIB, false);
    fake.write(&format!("{EMMC}/device/type"), "MMC");
    let sd = look(&fake, (179, 0));
    assert_eq!(sd.transport, "mmc");
    assert_eq!(sd.removable, Some("an SD card on an MMC host"));
    assert_eq!(sd.model, "SC16G");
    assert_eq!(refusals(&sd, GIB), vec![]);
    let emmc = look(&fake, (179, 32));
    let found = refusals(&emmc, GIB);
    assert_eq!(found, vec![Refusal::NotRemovable { transport: "mmc" }]);
    assert!(found[0].waived_by_force());
    assert!(found[0].to_string().contains("--force"));
}

#[test]
fn a_usb_disk_reporting_removable_0_counts_as_removable() {
    let fake = FakeSys::new();
    fake.disk(USB, (8, 16), 64 * GIB, false);
    let disk = look(&fake, (8, 16));
    assert_eq!(disk.removable, Some("attached through USB"));
}

#[test]
fn a_read_only_card_is_refused() {
    let fake = FakeSys::laptop();
    fake.write(&format!("{USB}/ro"), "1");
    let card = look(&fake, (8, 16));
    assert_eq!(refusals(&card, GIB), vec![Refusal::ReadOnly]);
}

#[test]
fn a_device_missing_from_sysfs_cannot_be_checked() {
    let fake = FakeSys::laptop();
    let err = inspect_block(
        Path::new("/dev/sdz"),
        DevId {
            major: 8,
            minor: 240,
        },
        &fake.view(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("cannot check that it is safe"),
        "{err}"
    );
}
