//! Building the virtual board's disk image, in two cached stages.
//!
//! 1. **Base** (`base-<hash>.tar`): a Debian 12 root filesystem from `mmdebstrap` with the
//!    PREEMPT_RT kernel, systemd, sshd, rt-tests and stress-ng, and a small initramfs (virtio
//!    and ext4 only). Keyed by the package list, the apt sources and this builder's recipe;
//!    it is the slow part (downloads), and rarely changes.
//! 2. **Image** (`<board>-<hash>/`): the base plus what this checkout contributes — the
//!    `rros-validate` binary, the board profile as `/etc/rros/board.toml`, the sysctl.d file
//!    and the systemd units the Yocto layer installs (read from where the layer reads them, never
//!    copied into the project), a fresh SSH key pair and host key — packed into an ext4 image
//!    with `mkfs.ext4 -d` (no loop mount). Keyed by the base and every one of those inputs.
//!
//! A stage whose key is already in the cache is reused as is. Builds hold `<cache>/.lock`, so
//! two builds never write the same entry; a finished entry appears by an atomic rename.

use crate::{Error, Observer, Result, io_err};
use rros_board::Board;
use rros_board::render::{SYSCTL_FILE, TUNING_FILES_DIR};
use rros_remote::process::{Stream, run_streaming};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bump when the base recipe changes in a way its inputs do not show.
const BASE_RECIPE: &str = "rros-vboard base 1";
/// Bump when the image recipe changes in a way its inputs do not show.
const IMAGE_RECIPE: &str = "rros-vboard image 2";

/// Where the layer keeps the systemd units of `rros-validate` (installed unchanged by both the
/// Yocto recipe and the virtual board).
pub const UNITS_DIR: &str = "crates/on-target/rros-validate/systemd";
/// Units enabled in the image: the boot-time tuning and the boot-time validation. The timer is
/// installed but, as in the Yocto image, not enabled.
pub const ENABLED_UNITS: &[&str] = &["rros-tune.service", "rros-validate.service"];

/// Debian units masked in the image: work a Debian boot does that the board has no use for
/// and a lean Yocto image does not do either. They matter because with `isolcpus` the whole
/// boot runs on the housekeeping CPU, one emulated CPU: every unit started is boot time, and
/// under TCG each costs seconds. Kept on purpose: `sys-kernel-debug.mount` (the audit reads
/// `/sys/kernel/debug/irq` and the fair server), logind (sshd's PAM session), udev, journald.
pub const MASKED_UNITS: &[&str] = &[
    // Modules for graphics, EFI pstore, FUSE, loop and device-mapper devices: none here.
    "modprobe@drm.service",
    "modprobe@efi_pstore.service",
    "modprobe@fuse.service",
    "modprobe@loop.service",
    "modprobe@dm_mod.service",
    "modprobe@configfs.service",
    // Foreign binary formats.
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    // File systems nothing here mounts into: tracefs (no tracer is used), FUSE, configfs,
    // huge pages, POSIX message queues.
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    "sys-kernel-config.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    // Network settings from the kernel command line (networkd has its .network file).
    "systemd-network-generator.service",
    // utmp/wtmp runlevel records.
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
];

/// Debian packages of the image (with their dependencies, without recommends).
pub const PACKAGES: &[&str] = &[
    "linux-image-rt-amd64",
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "openssh-server",
    "rt-tests",
    "stress-ng",
    "kmod",
    "initramfs-tools",
    "zstd",
    "procps",
];

/// dpkg filters: no documentation, and none of the kernel modules a VM cannot use (graphics,
/// media, sound, wireless, InfiniBand, staging): a third of the image.
const DPKG_OPTIONS: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/lib/modules/*/kernel/drivers/gpu/*",
    "path-exclude=/usr/lib/modules/*/kernel/drivers/media/*",
    "path-exclude=/usr/lib/modules/*/kernel/drivers/net/wireless/*",
    "path-exclude=/usr/lib/modules/*/kernel/drivers/infiniband/*",
    "path-exclude=/usr/lib/modules/*/kernel/drivers/staging/*",
    "path-exclude=/usr/lib/modules/*/kernel/sound/*",
];

/// Runs in the chroot before the packages are installed: an initramfs of only what boots a
/// virtio disk with ext4, built once when the kernel package is configured.
///
/// The initramfs runs no udev: the three modules are loaded by name (`force_load`), the
/// kernel's devtmpfs makes `/dev/vda`, and the root's own `systemd-udevd` then coldplugs every
/// device as on any Debian system. Starting udevd, triggering and settling every device in
/// the initramfs cost ~3 s of a TCG boot (systemd started at 8.1–9.0 s with it, 5.4–5.5 s
/// without), all of it on the one housekeeping vCPU. The hook runs after the udev package's
/// own hook and before mkinitramfs orders the boot scripts, so removing the two scripts
/// removes them from the boot.
const ESSENTIAL_HOOK: &str = r#"set -e
mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$1/etc/initramfs-tools/conf.d/rros-vboard.conf"
cat > "$1/etc/initramfs-tools/hooks/rros-vboard" <<'EOF'
#!/bin/sh
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_blk ext4; do manual_add_modules $m; force_load $m; done
rm -f "$DESTDIR/scripts/init-top/udev" "$DESTDIR/scripts/init-bottom/udev"
EOF
chmod 755 "$1/etc/initramfs-tools/hooks/rros-vboard"
"#;

/// sshd: keys only, root by key only, one host key (generated per image).
const SSHD_CONFIG: &str = "\
# rros vboard: key-only SSH. The client key is generated for each image build.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
";

/// A drop-in for the guest's `ssh.service`: sshd, and every session it starts (acceptance's
/// `rros-validate run` and its probes included), runs on the housekeeping CPUs ahead of the
/// load scenarios. Under TCG the housekeeping vCPU is slow and, during a load scenario, busy:
/// at the default priority a new SSH handshake competed with hackbench and missed its banner
/// timeout (issue #11). A real board wants the same: the way in stays usable under load.
/// The samplers are SCHED_FIFO, so nice levels do not touch what is measured.
pub fn sshd_dropin(housekeeping: &rros_board::CpuSet) -> String {
    format!(
        "\
# rros vboard: sshd and its sessions on the housekeeping CPUs, ahead of the load scenarios
# (nice -10; the loads run at nice 0 or above), with best-effort I/O at the highest level.
[Service]
CPUAffinity={housekeeping}
Nice=-10
IOSchedulingClass=best-effort
IOSchedulingPriority=0
"
    )
}

/// Where [`sshd_dropin`] goes in the image.
pub const SSHD_DROPIN_PATH: &str = "etc/systemd/system/ssh.service.d/10-rros-vboard.conf";

/// QEMU user networking hands out an address by DHCP.
const NETWORK_FILE: &str = "\
# rros vboard: the QEMU user-mode network (DHCP, IPv4 only).
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
";

/// Kernel modules udev would load for the emulated q35 machine's devices that the board does
/// not use: wireless (loaded for its regulatory database), KVM, the AHCI/SATA stack (the root
/// disk is virtio), the CPU crypto accelerations, the TCO watchdog, SMBus, LPC, the PS/2 mouse,
/// the PC speaker, serio, input events, the AMD crypto coprocessor, the firmware config
/// device. Each is seconds of the boot under TCG (the biggest are over 1 MiB to relocate), on
/// the one housekeeping CPU. A `blacklist` stops only the load by device alias, so anything
/// that needs one of them as a dependency still gets it.
const MODPROBE_FILE: &str = "\
# rros vboard: devices of the emulated machine the board does not use.
blacklist cfg80211
blacklist kvm
blacklist kvm_intel
blacklist kvm_amd
blacklist ahci
blacklist aesni_intel
blacklist ghash_clmulni_intel
blacklist sha1_ssse3
blacklist sha256_ssse3
blacklist sha512_ssse3
blacklist crc32_pclmul
blacklist crct10dif_pclmul
blacklist iTCO_wdt
blacklist i2c_i801
blacklist lpc_ich
blacklist psmouse
blacklist pcspkr
blacklist serio_raw
blacklist evdev
blacklist ccp
blacklist qemu_fw_cfg
";

/// Where [`MODPROBE_FILE`] goes in the image.
pub const MODPROBE_PATH: &str = "etc/modprobe.d/rros-vboard.conf";

/// What a build needs.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The meta-rros checkout.
    pub root: PathBuf,
    pub board: String,
    pub cache_dir: PathBuf,
    /// `deb URI SUITE main` sources (see [`crate::sources`]).
    pub sources: Vec<crate::sources::Source>,
    /// The `rros-validate` binary for the guest (x86-64, Debian 12's glibc).
    pub validate_bin: PathBuf,
    /// Rebuild both stages even when cached.
    pub rebuild: bool,
    /// An EVL board: the kernel, libevl and the `--features evl` rros-validate built from
    /// source ([`crate::evl`]) replace Debian's kernel and initramfs. `None`: PREEMPT_RT.
    pub evl: Option<crate::evl::EvlParts>,
}

/// A built image, ready to boot.
#[derive(Debug, Clone)]
pub struct Image {
    pub board: Board,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// Private key that logs in as root.
    pub identity: PathBuf,
    /// The guest's SSH host key (`ssh-ed25519 AAAA…`).
    pub host_key: String,
    /// The profile's kernel command-line additions.
    pub isolation_cmdline: String,
    pub kernel_release: String,
    pub hash: String,
    /// Whether the image came from the cache.
    pub cached: bool,
    /// Build times of the stages built now (zero when cached).
    pub base_time: Duration,
    pub image_time: Duration,
}

/// Every input of a board's image, read from the checkout.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub board: Board,
    pub profile_text: Vec<u8>,
    pub isolation_cmdline: String,
    pub sysctl: Vec<u8>,
    /// `(file name, content)`, sorted by name.
    pub units: Vec<(String, Vec<u8>)>,
    pub validate_bin: Vec<u8>,
    pub sources: Vec<String>,
    /// The EVL parts and the key of their bytes.
    pub evl: Option<(crate::evl::EvlParts, String)>,
}

impl Inputs {
    /// Reads and checks the inputs: the board must be an x86-64 PREEMPT_RT board (or EVL with
    /// its sources), the sysctl file as `rros board render` writes it, the units present, the
    /// binary an x86-64 ELF. Each error names the file, the field or value, and the fix.
    pub fn read(req: &BuildRequest) -> Result<Self> {
        let (profile_path, board, profile_text) = read_profile(req)?;
        check_board(&board, &profile_path, req.evl.is_some())?;
        let sysctl = read_sysctl(&req.root, &board)?;
        let units = read_units(&req.root.join(UNITS_DIR))?;
        let validate_bin = fs::read(&req.validate_bin).map_err(|e| {
            Error::Input(format!(
                "cannot read the rros-validate binary {}: {e}; build it with `cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate`",
                req.validate_bin.display()
            ))
        })?;
        check_elf_x86_64(&validate_bin, &req.validate_bin)?;
        if req.sources.is_empty() {
            return Err(Error::Input(
                "no Debian archive to build from: the host's apt sources list none (pass --mirror URL)"
                    .into(),
            ));
        }
        Ok(Inputs {
            isolation_cmdline: rros_board::render::cmdline(&board),
            board,
            profile_text,
            sysctl,
            units,
            validate_bin,
            sources: req.sources.iter().map(|s| s.line()).collect(),
            evl: match &req.evl {
                Some(parts) => Some((parts.clone(), crate::evl::parts_key(parts)?)),
                None => None,
            },
        })
    }

    /// Key of the base stage.
    pub fn base_hash(&self) -> String {
        let mut h = Keyed::default();
        h.add("recipe", BASE_RECIPE.as_bytes());
        h.add("suite", crate::sources::SUITE.as_bytes());
        for s in &self.sources {
            h.add("source", s.as_bytes());
        }
        for p in PACKAGES {
            h.add("package", p.as_bytes());
        }
        for o in DPKG_OPTIONS {
            h.add("dpkg", o.as_bytes());
        }
        h.add("essential-hook", ESSENTIAL_HOOK.as_bytes());
        h.hex()
    }

    /// Key of the image: the base and everything this checkout puts into it.
    pub fn image_hash(&self) -> String {
        let mut h = Keyed::default();
        h.add("recipe", IMAGE_RECIPE.as_bytes());
        h.add("base", self.base_hash().as_bytes());
        h.add("board", self.board.name.as_bytes());
        h.add("profile", &self.profile_text);
        h.add("cmdline", self.isolation_cmdline.as_bytes());
        h.add("sysctl", &self.sysctl);
        for (name, content) in &self.units {
            h.add("unit-name", name.as_bytes());
            h.add("unit", content);
        }
        h.add("rros-validate", &self.validate_bin);
        h.add("sshd", SSHD_CONFIG.as_bytes());
        h.add(
            "sshd-dropin",
            sshd_dropin(&self.board.housekeeping).as_bytes(),
        );
        h.add("network", NETWORK_FILE.as_bytes());
        h.add("modprobe", MODPROBE_FILE.as_bytes());
        if let Some((_, key)) = &self.evl {
            h.add("evl", key.as_bytes());
        }
        h.hex()
    }
}

/// SHA-256 over length-prefixed, labelled parts (no two input sets hash the same bytes).
#[derive(Default)]
pub(crate) struct Keyed(Sha256);

impl Keyed {
    pub(crate) fn add(&mut self, label: &str, bytes: &[u8]) {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// The first 16 hex digits: plenty to tell cache entries apart.
    pub(crate) fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// `board/<board>.toml`: its path, the board it describes and its bytes.
fn read_profile(req: &BuildRequest) -> Result<(PathBuf, Board, Vec<u8>)> {
    let path = req.root.join("board").join(format!("{}.toml", req.board));
    if !path.is_file() {
        return Err(Error::Input(format!(
            "no board profile {} (the virtual board is qemux86-64, or qemux86-64-evl: pass --board qemux86-64)",
            path.display()
        )));
    }
    let (board, _warnings) =
        rros_board::load_board(&path).map_err(|e| Error::Input(e.to_string()))?;
    let text = fs::read(&path).map_err(io_err(&path))?;
    Ok((path, board, text))
}

/// The virtual board is a Debian x86-64 image: PREEMPT_RT from Debian, or EVL built from the
/// sources given (`has_evl_parts`).
fn check_board(board: &Board, path: &Path, has_evl_parts: bool) -> Result<()> {
    use rros_board::{Arch, Flavour};
    if board.flavour == Flavour::Evl && !has_evl_parts {
        return Err(Error::Input(format!(
            "{}: kernel.flavour = \"evl\": board {} runs an EVL kernel, built from source: give --kernel-src DIR and --libevl-src DIR (or {} and {})",
            path.display(),
            board.name,
            crate::evl::ENV_KERNEL_SRC,
            crate::evl::ENV_LIBEVL_SRC
        )));
    }
    let flavour_ok = match board.flavour {
        Flavour::PreemptRt => !has_evl_parts,
        Flavour::Evl => has_evl_parts,
        Flavour::Rros => false,
    };
    if board.arch != Arch::X86_64 || !flavour_ok {
        return Err(Error::Input(format!(
            "{}: arch = \"{}\", kernel.flavour = \"{}\": board {} is {} with a {} kernel; the virtual board is a Debian x86_64 image with the PREEMPT_RT kernel or an EVL kernel built from source, so only x86_64 preempt-rt and evl boards (qemux86-64, qemux86-64-evl) can run on it",
            path.display(),
            board.arch,
            board.flavour,
            board.name,
            board.arch,
            board.flavour
        )));
    }
    Ok(())
}

/// The board's sysctl file, as `rros board render` wrote it into the layer.
fn read_sysctl(root: &Path, board: &Board) -> Result<Vec<u8>> {
    let path = root
        .join(TUNING_FILES_DIR)
        .join(&board.name)
        .join(SYSCTL_FILE);
    let sysctl = fs::read(&path).map_err(|e| {
        Error::Input(format!(
            "cannot read {}: {e}; run `rros board render` to write it",
            path.display()
        ))
    })?;
    if sysctl != rros_board::render::sysctl(board).as_bytes() {
        return Err(Error::Input(format!(
            "{} is stale (it differs from what board/{}.toml renders to): run `rros board render`",
            path.display(),
            board.name
        )));
    }
    Ok(sysctl)
}

/// The `.service` and `.timer` units of `dir`, sorted by name; the [`ENABLED_UNITS`] must be
/// among them.
fn read_units(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut units = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".service") || name.ends_with(".timer") {
                units.push((name, fs::read(&path).map_err(io_err(&path))?));
            }
        }
    }
    units.sort();
    for unit in ENABLED_UNITS {
        if !units.iter().any(|(n, _)| n == unit) {
            return Err(Error::Input(format!(
                "{unit} is missing from {}: the virtual board installs rros-validate's systemd units from there",
                dir.display()
            )));
        }
    }
    Ok(units)
}

fn check_elf_x86_64(bytes: &[u8], path: &Path) -> Result<()> {
    let is_elf = bytes.len() > 20 && bytes[..4] == *b"\x7fELF";
    let machine = bytes.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]]));
    if !is_elf || bytes[4] != 2 || machine != Some(62) {
        return Err(Error::Input(format!(
            "{} is not an x86-64 ELF executable; the guest is Debian 12 x86-64: build rros-validate for the host target on an x86-64 Debian 12 machine",
            path.display()
        )));
    }
    Ok(())
}

/// The programs a build runs, with the Debian package that has each.
pub const BUILD_TOOLS: &[(&str, &str)] = &[
    ("mmdebstrap", "mmdebstrap"),
    ("mkfs.ext4", "e2fsprogs"),
    ("ssh-keygen", "openssh-client"),
    ("systemctl", "systemd"),
    ("tar", "tar"),
];

/// Fails naming every missing program and the packages that provide them.
pub fn check_tools(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&(&str, &str)> = tools
        .iter()
        .filter(|(t, _)| find_program(t).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|(t, _)| *t).collect();
    let mut packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    Err(Error::Tool(format!(
        "missing {}: install with `apt-get install {}`",
        names.join(", "),
        packages.join(" ")
    )))
}

/// Looks a program up on PATH, and in the sbin folders a non-root PATH may lack.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What a build will do, decided from the inputs before anything runs: the cache entries it
/// reads or writes, and whether the base stage is reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    /// The image's key ([`Inputs::image_hash`]).
    pub hash: String,
    /// `<board>-<hash>`: the image's cache entry name.
    pub name: String,
    /// `<cache>/<board>-<hash>/`.
    pub image_dir: PathBuf,
    /// `<cache>/base-<base hash>.tar`.
    pub base_tar: PathBuf,
    /// Look in the cache first (not `--rebuild`).
    pub use_cache: bool,
}

impl BuildPlan {
    pub fn new(req: &BuildRequest, inputs: &Inputs) -> BuildPlan {
        let hash = inputs.image_hash();
        let name = format!("{}-{hash}", inputs.board.name);
        BuildPlan {
            image_dir: req.cache_dir.join(&name),
            base_tar: req
                .cache_dir
                .join(format!("base-{}.tar", inputs.base_hash())),
            hash,
            name,
            use_cache: !req.rebuild,
        }
    }

    /// Whether the base stage is reused: it is in the cache and not to be rebuilt.
    pub fn base_cached(&self) -> bool {
        self.use_cache && self.base_tar.is_file()
    }

    /// The cached image, when the cache may be used and holds a complete one.
    fn cached_image(&self, inputs: &Inputs) -> Result<Option<Image>> {
        if !self.use_cache {
            return Ok(None);
        }
        load_cached(&self.image_dir, inputs, &self.hash)
    }
}

/// Builds the image for `req`, or finds it in the cache.
pub fn build(req: &BuildRequest, observe: &dyn Observer) -> Result<Image> {
    let inputs = Inputs::read(req)?;
    let plan = BuildPlan::new(req, &inputs);
    let dir = &plan.image_dir;
    if let Some(image) = plan.cached_image(&inputs)? {
        observe.step(&format!("image cached: {}", dir.display()));
        return Ok(image);
    }
    check_root()?;
    check_tools(BUILD_TOOLS)?;
    fs::create_dir_all(&req.cache_dir).map_err(io_err(&req.cache_dir))?;
    let _lock = CacheLock::take(&req.cache_dir, observe)?;
    // Someone else may have built it while we waited for the lock.
    if let Some(image) = plan.cached_image(&inputs)? {
        observe.step(&format!("image cached: {}", dir.display()));
        return Ok(image);
    }
    let base_start = Instant::now();
    let base_cached = build_base(&plan, &inputs, observe)?;
    let base_time = if base_cached {
        Duration::ZERO
    } else {
        base_start.elapsed()
    };
    let image_start = Instant::now();
    observe.step("assembling the image (rros-validate, profile, tuning, units, keys)");
    let tmp = req
        .cache_dir
        .join(format!(".{}.tmp-{}", plan.name, std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    if let Err(e) = assemble(&plan.base_tar, &tmp, &inputs, observe) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let image_time = image_start.elapsed();
    let manifest = manifest(&inputs, &plan, base_time, image_time, &tmp)?;
    fs::write(tmp.join("manifest.json"), manifest).map_err(io_err(&tmp))?;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    // The whole entry appears at once: a directory rename (rros-files writes single files).
    fs::rename(&tmp, dir).map_err(io_err(dir))?;
    prune(
        &req.cache_dir,
        &inputs.board.name,
        &plan.name,
        &plan.base_tar,
    );
    let mut image = load_cached(dir, &inputs, &plan.hash)?
        .ok_or_else(|| Error::Build(format!("{} is incomplete after the build", dir.display())))?;
    image.cached = false;
    image.base_time = base_time;
    image.image_time = image_time;
    Ok(image)
}

fn check_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::Tool(
            "building the image needs root: its files must belong to root inside the image (run `sudo rros vboard build`, or build once as root and run as anyone)"
                .into(),
        ));
    }
    Ok(())
}

/// A cached image when `dir` holds a complete one for these inputs.
fn load_cached(dir: &Path, inputs: &Inputs, hash: &str) -> Result<Option<Image>> {
    let manifest = dir.join("manifest.json");
    let Ok(text) = fs::read_to_string(&manifest) else {
        return Ok(None);
    };
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Build(format!("{}: {e}", manifest.display())))?;
    let files = [
        "rootfs.img",
        "vmlinuz",
        "initrd.img",
        "id_ed25519",
        "ssh_host_ed25519_key.pub",
    ];
    // An EVL kernel has virtio and ext4 built in: no initramfs.
    let needed = |f: &&&str| !(inputs.evl.is_some() && **f == "initrd.img");
    if doc["hash"] != hash || files.iter().filter(needed).any(|f| !dir.join(f).is_file()) {
        return Ok(None);
    }
    let host_key_path = dir.join("ssh_host_ed25519_key.pub");
    let host_key = fs::read_to_string(&host_key_path).map_err(io_err(&host_key_path))?;
    let host_key = host_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Some(Image {
        board: inputs.board.clone(),
        dir: dir.to_owned(),
        rootfs: dir.join("rootfs.img"),
        kernel: dir.join("vmlinuz"),
        initrd: if inputs.evl.is_some() {
            PathBuf::new()
        } else {
            dir.join("initrd.img")
        },
        identity: dir.join("id_ed25519"),
        host_key,
        isolation_cmdline: inputs.isolation_cmdline.clone(),
        kernel_release: doc["kernel_release"].as_str().unwrap_or("?").to_owned(),
        hash: hash.to_owned(),
        cached: true,
        base_time: Duration::ZERO,
        image_time: Duration::ZERO,
    }))
}

/// `mmdebstrap` making the base tarball `tar` from the inputs' sources: Debian 12 with
/// [`PACKAGES`], filtered by [`DPKG_OPTIONS`], the initramfs set up by [`ESSENTIAL_HOOK`].
pub fn mmdebstrap_command(inputs: &Inputs, tar: &Path) -> Command {
    let mut cmd = Command::new(find_program("mmdebstrap").unwrap_or_else(|| "mmdebstrap".into()));
    cmd.arg("--variant=apt")
        .arg("--mode=root")
        .arg("--format=tar")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg("--aptopt=Acquire::Languages \"none\"")
        .args(DPKG_OPTIONS.iter().map(|o| format!("--dpkgopt={o}")))
        .arg(format!("--essential-hook={ESSENTIAL_HOOK}"))
        .arg(crate::sources::SUITE)
        .arg(tar)
        .args(&inputs.sources);
    cmd
}

/// The base tarball: cached, or built now with mmdebstrap. Returns whether it was cached.
fn build_base(plan: &BuildPlan, inputs: &Inputs, observe: &dyn Observer) -> Result<bool> {
    let tar = &plan.base_tar;
    if plan.base_cached() {
        observe.step(&format!("base root filesystem cached: {}", tar.display()));
        return Ok(true);
    }
    observe.step(&format!(
        "building the Debian 12 base root filesystem with mmdebstrap ({})",
        inputs.sources.join(", ")
    ));
    // mmdebstrap writes the tarball itself; it is published by a rename once complete.
    let tmp = tar.with_extension(format!("tar.tmp-{}", std::process::id()));
    let cmd = mmdebstrap_command(inputs, &tmp);
    let result = run_tool(cmd, "mmdebstrap", Duration::from_secs(45 * 60), observe);
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, tar).map_err(io_err(tar))?;
    Ok(false)
}

/// Runs a build tool, its output lines going to the observer; fails with the tail of its
/// output.
fn run_tool(cmd: Command, what: &str, timeout: Duration, observe: &dyn Observer) -> Result<()> {
    let mut tail: Vec<String> = Vec::new();
    let (status, timed_out) = run_streaming(cmd, timeout, |_stream: Stream, line| {
        observe.detail(line);
        tail.push(line.to_owned());
        if tail.len() > 15 {
            tail.remove(0);
        }
    })
    .map_err(|e| Error::Tool(format!("cannot run {what}: {e}")))?;
    if timed_out {
        return Err(Error::Build(format!(
            "{what} did not finish within {}",
            humantime::format_duration(timeout)
        )));
    }
    match status {
        Some(s) if s.success() => Ok(()),
        _ => Err(Error::Build(format!(
            "{what} failed ({}):\n  {}",
            status.map_or("killed".into(), |s| s.to_string()),
            tail.join("\n  ")
        ))),
    }
}

/// Unpacks the base into `tmp/rootfs`, adds this checkout's files and keys, and packs
/// `tmp/rootfs.img`; the kernel and initramfs go next to it.
fn assemble(base: &Path, tmp: &Path, inputs: &Inputs, observe: &dyn Observer) -> Result<()> {
    let root = tmp.join("rootfs");
    fs::create_dir_all(&root).map_err(io_err(&root))?;
    let mut tar = Command::new("tar");
    tar.arg("--numeric-owner")
        .arg("-xpf")
        .arg(base)
        .arg("-C")
        .arg(&root);
    run_tool(tar, "tar", Duration::from_secs(600), observe)?;
    install_from_checkout(&root, inputs)?;
    install_vboard_files(&root, &inputs.board)?;
    lock_passwords(&root)?;
    enable_units(&root, observe)?;
    install_keys(&root, tmp, &inputs.board.name, observe)?;
    install_kernel(&root, tmp, inputs, observe)?;
    pack(&root, tmp, observe)
}

/// What the Yocto layer installs, from the same sources.
fn install_from_checkout(root: &Path, inputs: &Inputs) -> Result<()> {
    put(root, "usr/bin/rros-validate", &inputs.validate_bin, 0o755)?;
    put(root, "etc/rros/board.toml", &inputs.profile_text, 0o644)?;
    put(
        root,
        &format!("etc/sysctl.d/{SYSCTL_FILE}"),
        &inputs.sysctl,
        0o644,
    )?;
    for (name, content) in &inputs.units {
        put(
            root,
            &format!("usr/lib/systemd/system/{name}"),
            content,
            0o644,
        )?;
    }
    Ok(())
}

/// What makes it a virtual board: key-only sshd ahead of the load, DHCP, its name, the
/// virtio root disk, no drivers for emulated devices it does not use.
fn install_vboard_files(root: &Path, board: &Board) -> Result<()> {
    let name = &board.name;
    let dropin = sshd_dropin(&board.housekeeping);
    let hostname = format!("{name}\n");
    let hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    );
    let files: [(&str, &[u8]); 7] = [
        (MODPROBE_PATH, MODPROBE_FILE.as_bytes()),
        (
            "etc/ssh/sshd_config.d/10-rros-vboard.conf",
            SSHD_CONFIG.as_bytes(),
        ),
        (SSHD_DROPIN_PATH, dropin.as_bytes()),
        (
            "etc/systemd/network/20-rros-vboard.network",
            NETWORK_FILE.as_bytes(),
        ),
        ("etc/hostname", hostname.as_bytes()),
        ("etc/hosts", hosts.as_bytes()),
        (
            "etc/fstab",
            b"# rros vboard: the root file system is the virtio disk\n/dev/vda\t/\text4\trw,relatime\t0\t0\n",
        ),
    ];
    for (rel, content) in files {
        put(root, rel, content, 0o644)?;
    }
    Ok(())
}

/// The boot-time units, networkd and sshd, enabled offline; [`MASKED_UNITS`] masked.
fn enable_units(root: &Path, observe: &dyn Observer) -> Result<()> {
    let mut units: Vec<&str> = ENABLED_UNITS.to_vec();
    units.extend(["systemd-networkd.service", "ssh.service"]);
    for (verb, units) in [("enable", &units[..]), ("mask", MASKED_UNITS)] {
        let mut cmd = Command::new(find_program("systemctl").unwrap_or_else(|| "systemctl".into()));
        cmd.arg(format!("--root={}", root.display()))
            .arg(verb)
            .args(units);
        run_tool(
            cmd,
            &format!("systemctl {verb}"),
            Duration::from_secs(120),
            observe,
        )?;
    }
    Ok(())
}

/// A host key for this image only, and a client key for this build only (its private half
/// in `tmp`, its public half in root's `authorized_keys`).
fn install_keys(root: &Path, tmp: &Path, board: &str, observe: &dyn Observer) -> Result<()> {
    let ssh_dir = root.join("etc/ssh");
    for entry in fs::read_dir(&ssh_dir).map_err(io_err(&ssh_dir))?.flatten() {
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
        }
    }
    keygen(
        &ssh_dir.join("ssh_host_ed25519_key"),
        &format!("root@{board}"),
        observe,
    )?;
    fs::copy(
        ssh_dir.join("ssh_host_ed25519_key.pub"),
        tmp.join("ssh_host_ed25519_key.pub"),
    )
    .map_err(io_err(tmp))?;
    keygen(
        &tmp.join("id_ed25519"),
        &format!("rros-vboard@{board}"),
        observe,
    )?;
    let public = fs::read(tmp.join("id_ed25519.pub")).map_err(io_err(tmp))?;
    let dot_ssh = root.join("root/.ssh");
    fs::create_dir_all(&dot_ssh).map_err(io_err(&dot_ssh))?;
    fs::set_permissions(&dot_ssh, fs::Permissions::from_mode(0o700)).map_err(io_err(&dot_ssh))?;
    put(root, "root/.ssh/authorized_keys", &public, 0o600)
}

/// Kernel and initramfs boot directly (-kernel/-initrd): no bootloader. An EVL board's come
/// from its source build.
fn install_kernel(root: &Path, tmp: &Path, inputs: &Inputs, observe: &dyn Observer) -> Result<()> {
    if let Some((parts, _)) = &inputs.evl {
        return crate::evl::install(parts, root, tmp, observe);
    }
    let (kernel, initrd, release) = find_kernel(root)?;
    fs::copy(&kernel, tmp.join("vmlinuz")).map_err(io_err(&kernel))?;
    fs::copy(&initrd, tmp.join("initrd.img")).map_err(io_err(&initrd))?;
    fs::write(tmp.join("kernel_release"), &release).map_err(io_err(tmp))
}

/// `tmp/rootfs.img`: the tree packed with `mkfs.ext4 -d`, half again its size (at least
/// 2 GiB), owned by root; the tree is removed after.
fn pack(root: &Path, tmp: &Path, observe: &dyn Observer) -> Result<()> {
    observe.step("packing the ext4 image (mkfs.ext4 -d)");
    let used = tree_size(root);
    let size_mib = ((used / (1 << 20)) * 3 / 2 + 1024).max(2048);
    let mut mkfs = Command::new(find_program("mkfs.ext4").unwrap_or_else(|| "mkfs.ext4".into()));
    mkfs.args(["-q", "-F", "-L", "rros-root", "-E", "root_owner=0:0", "-d"])
        .arg(root)
        .arg(tmp.join("rootfs.img"))
        .arg(format!("{size_mib}M"));
    run_tool(mkfs, "mkfs.ext4", Duration::from_secs(900), observe)?;
    fs::remove_dir_all(root).map_err(io_err(root))
}

/// Writes `rel` under `root` with `mode`, creating folders.
fn put(root: &Path, rel: &str, content: &[u8], mode: u32) -> Result<()> {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    // Replace, never write through: a symlink in the base must not redirect the write.
    let _ = fs::remove_file(&path);
    fs::write(&path, content).map_err(io_err(&path))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_err(&path))
}

/// No passwords anywhere: every account's password field becomes locked (`!*`) unless it is
/// already locked or disabled. An empty field (log in without a password) is locked too.
pub fn lock_shadow(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut fields: Vec<&str> = line.split(':').collect();
        if fields.len() > 1 && !(fields[1].starts_with('!') || fields[1].starts_with('*')) {
            fields[1] = "!*";
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    out
}

fn lock_passwords(root: &Path) -> Result<()> {
    let shadow = root.join("etc/shadow");
    let text = fs::read_to_string(&shadow).map_err(io_err(&shadow))?;
    // Writing in place keeps the file's owner and mode (root:shadow 0640).
    fs::write(&shadow, lock_shadow(&text)).map_err(io_err(&shadow))
}

fn keygen(path: &Path, comment: &str, observe: &dyn Observer) -> Result<()> {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path);
    run_tool(cmd, "ssh-keygen", Duration::from_secs(60), observe)
}

/// `boot/vmlinuz-<release>` and its initramfs.
fn find_kernel(root: &Path) -> Result<(PathBuf, PathBuf, String)> {
    let boot = root.join("boot");
    let mut releases: Vec<String> = fs::read_dir(&boot)
        .map_err(io_err(&boot))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("vmlinuz-")
                .map(str::to_owned)
        })
        .collect();
    releases.sort();
    let release = releases.pop().ok_or_else(|| {
        Error::Build(format!(
            "no kernel in {} (is linux-image-rt-amd64 installed?)",
            boot.display()
        ))
    })?;
    let initrd = boot.join(format!("initrd.img-{release}"));
    if !initrd.is_file() {
        return Err(Error::Build(format!(
            "no initramfs {} for kernel {release}",
            initrd.display()
        )));
    }
    Ok((boot.join(format!("vmlinuz-{release}")), initrd, release))
}

/// Bytes of the regular files under `dir` (symlinks not followed).
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len().div_ceil(4096) * 4096;
            }
        }
    }
    total
}

fn manifest(
    inputs: &Inputs,
    plan: &BuildPlan,
    base_time: Duration,
    image_time: Duration,
    tmp: &Path,
) -> Result<String> {
    let release = fs::read_to_string(tmp.join("kernel_release")).unwrap_or_default();
    let sha = |bytes: &[u8]| {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let doc = serde_json::json!({
        "schema": "rros-vboard/1",
        "board": inputs.board.name,
        "hash": plan.hash,
        "base": plan.base_tar.file_name().map(|n| n.to_string_lossy().into_owned()),
        "suite": crate::sources::SUITE,
        "sources": inputs.sources,
        "packages": PACKAGES,
        "kernel_release": release.trim(),
        "isolation_cmdline": inputs.isolation_cmdline,
        "rros_validate_sha256": sha(&inputs.validate_bin),
        "units": inputs.units.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "enabled_units": ENABLED_UNITS,
        "masked_units": MASKED_UNITS,
        "base_build_s": base_time.as_secs_f64(),
        "image_build_s": image_time.as_secs_f64(),
        "evl": inputs.evl.as_ref().map(|(parts, _)| parts.describe()),
    });
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
}

/// Keeps the new image and base, plus the newest older image of the board (and its base);
/// removes the rest of this board's entries.
fn prune(cache: &Path, board: &str, keep_image: &str, keep_base: &Path) {
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    let mut images: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    let mut bases: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mtime = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if name == keep_image || entry.path() == keep_base {
            continue;
        }
        if name.starts_with(&format!("{board}-")) && entry.path().join("manifest.json").is_file() {
            images.push((mtime, entry.path()));
        } else if name.starts_with("base-") && name.ends_with(".tar") {
            bases.push((mtime, entry.path()));
        }
    }
    images.sort();
    bases.sort();
    images.pop();
    bases.pop();
    for (_, path) in images {
        let _ = fs::remove_dir_all(path);
    }
    for (_, path) in bases {
        let _ = fs::remove_file(path);
    }
}

/// An exclusive `flock` on `<cache>/.lock`, released on drop.
struct CacheLock(#[allow(dead_code, reason = "held for its flock")] fs::File);

impl CacheLock {
    fn take(cache: &Path, observe: &dyn Observer) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let path = cache.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        // SAFETY: flock on a valid descriptor owned by `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            observe.step(&format!(
                "waiting for another build holding {}",
                path.display()
            ));
            // SAFETY: as above; blocking this time.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io_err(&path)(std::io::Error::last_os_error()));
            }
        }
        Ok(CacheLock(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
    }

    fn board(name: &str) -> Board {
        rros_board::load_board(&repo().join(format!("board/{name}.toml")))
            .unwrap()
            .0
    }

    /// The inputs of the shipped qemux86-64 board, in memory.
    fn inputs() -> Inputs {
        let board = board("qemux86-64");
        Inputs {
            isolation_cmdline: rros_board::render::cmdline(&board),
            sysctl: rros_board::render::sysctl(&board).into_bytes(),
            profile_text: b"name = \"qemux86-64\"\n".to_vec(),
            board,
            units: vec![
                ("rros-tune.service".into(), b"[Unit]\n".to_vec()),
                ("rros-validate.service".into(), b"[Unit]\n".to_vec()),
            ],
            validate_bin: b"\x7fELF v1".to_vec(),
            sources: vec!["deb http://deb.example/debian bookworm main".into()],
            evl: None,
        }
    }

    fn evl_parts() -> crate::evl::EvlParts {
        crate::evl::EvlParts {
            bzimage: "/k/bzImage".into(),
            kernel_release: "6.6.0-evl".into(),
            kernel_commit: None,
            kernel_key: "0123456789abcdef".into(),
            abi_base: 1,
            abi_level: 2,
            libevl_abi: 3,
            libevl_stage: "/k/stage".into(),
            validate_bin: "/k/rros-validate".into(),
            kernel_config: "/k/.config".into(),
            kernel_cached: true,
            kernel_time: Duration::ZERO,
            libevl_cached: true,
        }
    }

    /// Same inputs, same keys; any change of an image input is a new image but the same
    /// base; any change of a base input is a new base, and so a new image too.
    #[test]
    fn every_input_moves_its_key_and_only_its_key() {
        let a = inputs();
        assert_eq!(
            a.image_hash(),
            inputs().image_hash(),
            "same inputs, same key"
        );
        assert_eq!(a.base_hash(), inputs().base_hash());
        assert_eq!(a.image_hash().len(), 16);

        type Edit = fn(&mut Inputs);
        let image_edits: [(&str, Edit); 8] = [
            ("profile", |i| i.profile_text.push(b' ')),
            ("cmdline", |i| i.isolation_cmdline.push_str(" quiet")),
            ("sysctl", |i| i.sysctl.push(b'\n')),
            ("unit content", |i| i.units[0].1.push(b'#')),
            ("unit name", |i| i.units[0].0 = "rros-tune.timer".into()),
            ("rros-validate", |i| i.validate_bin.push(b'2')),
            ("housekeeping (the sshd drop-in)", |i| {
                i.board.housekeeping = "0-1".parse().unwrap()
            }),
            ("evl parts", |i| i.evl = Some((evl_parts(), "k1".into()))),
        ];
        let mut seen = vec![a.image_hash()];
        for (what, edit) in image_edits {
            let mut b = inputs();
            edit(&mut b);
            assert_ne!(a.image_hash(), b.image_hash(), "{what} is a new image");
            assert_eq!(a.base_hash(), b.base_hash(), "{what} is not a new base");
            assert!(!seen.contains(&b.image_hash()), "{what}: a key of its own");
            seen.push(b.image_hash());
        }
        let mut b = inputs();
        b.evl = Some((evl_parts(), "k2".into()));
        let mut c = inputs();
        c.evl = Some((evl_parts(), "k1".into()));
        assert_ne!(
            b.image_hash(),
            c.image_hash(),
            "another EVL build, another image"
        );

        let mut other = inputs();
        other.sources = vec!["deb http://other.example/debian bookworm main".into()];
        assert_ne!(
            a.base_hash(),
            other.base_hash(),
            "another archive, another base"
        );
        assert_ne!(a.image_hash(), other.image_hash(), "and so another image");
        let mut more = inputs();
        more.sources
            .push("deb http://deb.example/debian bookworm-updates main".into());
        assert_ne!(a.base_hash(), more.base_hash());
    }

    /// Bytes moved from one part to its neighbour are another key (the parts are labelled
    /// and length-prefixed).
    #[test]
    fn nothing_the_board_relies_on_is_masked() {
        for unit in MASKED_UNITS {
            assert!(!ENABLED_UNITS.contains(unit), "{unit}");
            for kept in [
                "sys-kernel-debug.mount",
                "systemd-logind.service",
                "systemd-udevd.service",
                "systemd-journald.service",
                "systemd-networkd.service",
                "ssh.service",
            ] {
                assert_ne!(*unit, kept);
            }
        }
    }

    #[test]
    fn moving_bytes_between_parts_is_another_key() {
        let mut a = inputs();
        a.units = vec![("ab".into(), b"c".to_vec())];
        let mut b = inputs();
        b.units = vec![("a".into(), b"bc".to_vec())];
        assert_ne!(a.image_hash(), b.image_hash());
    }

    #[test]
    fn the_plan_names_the_cache_entries_from_the_keys() {
        let cache = tempfile::tempdir().unwrap();
        let req = BuildRequest {
            root: repo(),
            board: "qemux86-64".into(),
            cache_dir: cache.path().to_owned(),
            sources: Vec::new(),
            validate_bin: PathBuf::new(),
            rebuild: false,
            evl: None,
        };
        let i = inputs();
        let plan = BuildPlan::new(&req, &i);
        assert_eq!(plan.hash, i.image_hash());
        assert_eq!(plan.name, format!("qemux86-64-{}", i.image_hash()));
        assert_eq!(plan.image_dir, cache.path().join(&plan.name));
        assert_eq!(
            plan.base_tar,
            cache.path().join(format!("base-{}.tar", i.base_hash()))
        );
        assert!(!plan.base_cached(), "nothing in the cache yet");
        fs::write(&plan.base_tar, b"tar").unwrap();
        assert!(plan.base_cached(), "the base is reused once there");
        // An image entry without its manifest and files is not an image.
        fs::create_dir_all(&plan.image_dir).unwrap();
        assert!(plan.cached_image(&i).unwrap().is_none());
        let rebuild = BuildPlan::new(
            &BuildRequest {
                rebuild: true,
                ..req.clone()
            },
            &i,
        );
        assert!(!rebuild.base_cached(), "--rebuild builds the base again");
        // A new rros-validate: a new image entry on the same base.
        let mut j = inputs();
        j.validate_bin.push(b'2');
        let next = BuildPlan::new(&req, &j);
        assert_ne!(next.image_dir, plan.image_dir);
        assert_eq!(next.base_tar, plan.base_tar);
    }

    #[test]
    fn a_cached_image_needs_its_manifest_key_and_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let i = inputs();
        let hash = i.image_hash();
        let files = [
            "rootfs.img",
            "vmlinuz",
            "initrd.img",
            "id_ed25519",
            "ssh_host_ed25519_key.pub",
        ];
        for f in files {
            fs::write(dir.path().join(f), b"x").unwrap();
        }
        fs::write(
            dir.path().join("ssh_host_ed25519_key.pub"),
            b"ssh-ed25519 AAAAkey root@qemux86-64\n",
        )
        .unwrap();
        let manifest = |h: &str| format!("{{\"hash\": \"{h}\", \"kernel_release\": \"6.1.0-rt\"}}");
        fs::write(dir.path().join("manifest.json"), manifest("other")).unwrap();
        assert!(
            load_cached(dir.path(), &i, &hash).unwrap().is_none(),
            "another key"
        );
        fs::write(dir.path().join("manifest.json"), manifest(&hash)).unwrap();
        let image = load_cached(dir.path(), &i, &hash).unwrap().unwrap();
        assert_eq!(image.host_key, "ssh-ed25519 AAAAkey");
        assert_eq!(image.kernel_release, "6.1.0-rt");
        assert!(image.cached);
        fs::remove_file(dir.path().join("initrd.img")).unwrap();
        assert!(
            load_cached(dir.path(), &i, &hash).unwrap().is_none(),
            "no initramfs"
        );
        // An EVL kernel boots without one.
        let mut evl = inputs();
        evl.evl = Some((evl_parts(), "k".into()));
        let image = load_cached(dir.path(), &evl, &hash).unwrap().unwrap();
        assert_eq!(image.initrd, PathBuf::new());
        fs::write(dir.path().join("manifest.json"), "{").unwrap();
        let err = load_cached(dir.path(), &i, &hash).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");
    }

    #[test]
    fn mmdebstrap_builds_the_planned_base_from_the_inputs() {
        let i = inputs();
        let cmd = mmdebstrap_command(&i, Path::new("/cache/base-1.tar.tmp-7"));
        let a: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for want in ["--variant=apt", "--mode=root", "--format=tar"] {
            assert!(a.contains(&want.to_owned()), "{want}: {a:?}");
        }
        let include = a.iter().find_map(|x| x.strip_prefix("--include=")).unwrap();
        assert_eq!(include.split(',').collect::<Vec<_>>(), PACKAGES);
        assert!(include.contains("linux-image-rt-amd64"));
        let dpkg: Vec<&str> = a
            .iter()
            .filter_map(|x| x.strip_prefix("--dpkgopt="))
            .collect();
        assert_eq!(dpkg, DPKG_OPTIONS);
        let hook = a
            .iter()
            .find_map(|x| x.strip_prefix("--essential-hook="))
            .unwrap();
        assert!(hook.contains("virtio_blk"), "{hook}");
        // Then the suite, the tarball, and the sources, in that order, last.
        assert_eq!(
            &a[a.len() - 3..],
            [
                crate::sources::SUITE,
                "/cache/base-1.tar.tmp-7",
                "deb http://deb.example/debian bookworm main"
            ]
        );
    }

    #[test]
    fn boards_the_image_cannot_be_are_refused_naming_file_fields_and_fix() {
        let path = Path::new("/r/board/rpi4.toml");
        let err = check_board(&board("rpi4"), path, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/r/board/rpi4.toml: arch = \"aarch64\""),
            "{err}"
        );
        assert!(err.contains("kernel.flavour = \""), "{err}");
        assert!(
            err.contains("(qemux86-64, qemux86-64-evl) can run on it"),
            "{err}"
        );
        assert!(check_board(&board("qemux86-64"), path, false).is_ok());
        // PREEMPT_RT with EVL parts is a mix-up too.
        let err = check_board(&board("qemux86-64"), path, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("kernel.flavour = \"preempt-rt\""), "{err}");
        let evl = board("qemux86-64-evl");
        let err = check_board(&evl, Path::new("/r/board/qemux86-64-evl.toml"), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/r/board/qemux86-64-evl.toml: kernel.flavour = \"evl\""),
            "{err}"
        );
        assert!(
            err.contains("--kernel-src DIR and --libevl-src DIR"),
            "{err}"
        );
        assert!(check_board(&evl, path, true).is_ok());
    }

    #[test]
    fn units_are_read_sorted_and_the_enabled_ones_required() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("rros-validate.timer", "t"),
            ("rros-validate.service", "v"),
            ("rros-tune.service", "u"),
            ("README", "not a unit"),
        ] {
            fs::write(dir.path().join(name), text).unwrap();
        }
        let units = read_units(dir.path()).unwrap();
        let names: Vec<&str> = units.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "rros-tune.service",
                "rros-validate.service",
                "rros-validate.timer"
            ]
        );
        assert_eq!(units[0].1, b"u");
        fs::remove_file(dir.path().join("rros-tune.service")).unwrap();
        let err = read_units(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "rros-tune.service is missing from {}",
                dir.path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn the_sysctl_file_must_be_what_the_profile_renders() {
        let root = tempfile::tempdir().unwrap();
        let b = board("qemux86-64");
        let err = read_sysctl(root.path(), &b).unwrap_err().to_string();
        assert!(err.contains(SYSCTL_FILE), "{err}");
        assert!(
            err.ends_with("run `rros board render` to write it"),
            "{err}"
        );
        let dir = root.path().join(TUNING_FILES_DIR).join(&b.name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(SYSCTL_FILE), "kernel.timer_migration = 1\n").unwrap();
        let err = read_sysctl(root.path(), &b).unwrap_err().to_string();
        assert!(err.contains("is stale"), "{err}");
        assert!(err.contains("board/qemux86-64.toml"), "{err}");
        let rendered = rros_board::render::sysctl(&b);
        fs::write(dir.join(SYSCTL_FILE), &rendered).unwrap();
        assert_eq!(read_sysctl(root.path(), &b).unwrap(), rendered.as_bytes());
    }

    /// The image gets the checkout's files where the Yocto layer puts them, and the virtual
    /// board's own; a symlink planted in the base is replaced, never written through.
    #[test]
    fn the_checkout_and_vboard_files_land_where_the_layer_puts_them() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        fs::create_dir_all(root.path().join("etc/rros")).unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join("etc/rros/board.toml")).unwrap();
        let i = inputs();
        install_from_checkout(root.path(), &i).unwrap();
        install_vboard_files(root.path(), &i.board).unwrap();
        let read = |rel: &str| fs::read(root.path().join(rel)).unwrap();
        let mode = |rel: &str| {
            fs::metadata(root.path().join(rel))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(read("usr/bin/rros-validate"), i.validate_bin);
        assert_eq!(mode("usr/bin/rros-validate"), 0o755);
        assert_eq!(read("etc/rros/board.toml"), i.profile_text);
        assert_eq!(
            fs::read_to_string(&victim).unwrap(),
            "keep",
            "no write through a symlink"
        );
        assert_eq!(read(&format!("etc/sysctl.d/{SYSCTL_FILE}")), i.sysctl);
        for (name, content) in &i.units {
            assert_eq!(&read(&format!("usr/lib/systemd/system/{name}")), content);
        }
        assert_eq!(read("etc/hostname"), b"qemux86-64\n");
        assert!(
            String::from_utf8(read("etc/hosts"))
                .unwrap()
                .contains("127.0.1.1\tqemux86-64\n")
        );
        assert_eq!(
            read(SSHD_DROPIN_PATH),
            sshd_dropin(&i.board.housekeeping).as_bytes()
        );
        let sshd = String::from_utf8(read("etc/ssh/sshd_config.d/10-rros-vboard.conf")).unwrap();
        assert!(sshd.contains("PasswordAuthentication no"), "{sshd}");
        assert!(
            String::from_utf8(read("etc/fstab"))
                .unwrap()
                .contains("/dev/vda\t/\text4")
        );
        assert_eq!(mode("etc/fstab"), 0o644);
        // The drivers it does not use: blacklisted by alias, never a driver the board needs.
        let modprobe = String::from_utf8(read(MODPROBE_PATH)).unwrap();
        assert!(modprobe.contains("blacklist cfg80211\n"), "{modprobe}");
        for needed in ["virtio", "ext4", "crc32c", "button"] {
            assert!(
                !modprobe
                    .lines()
                    .any(|l| l.starts_with(&format!("blacklist {needed}"))),
                "{needed} is needed: {modprobe}"
            );
        }
    }

    #[test]
    fn a_failing_tool_reports_its_exit_and_last_lines() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in $(seq 1 20); do echo line $i; done; exit 3"]);
        let err = run_tool(cmd, "mkfs.ext4", Duration::from_secs(20), &crate::Silent)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("image build failed: mkfs.ext4 failed (exit status: 3)"),
            "{err}"
        );
        assert!(err.contains("line 20") && err.contains("line 6"), "{err}");
        assert!(!err.contains("line 5\n"), "only the last 15 lines: {err}");
        let mut slow = Command::new("sh");
        slow.args(["-c", "exec sleep 30"]);
        let err = run_tool(slow, "tar", Duration::from_millis(300), &crate::Silent)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tar did not finish within 300ms"), "{err}");
        let ok = Command::new("true");
        assert!(run_tool(ok, "true", Duration::from_secs(20), &crate::Silent).is_ok());
    }

    #[test]
    fn every_password_is_locked() {
        let shadow = "root:$y$j9T$abc:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\nsshd:!:20000::::::\nguest::20000:0:99999:7:::\n";
        assert_eq!(
            lock_shadow(shadow),
            "root:!*:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\nsshd:!:20000::::::\nguest:!*:20000:0:99999:7:::\n"
        );
    }

    #[test]
    fn sshd_runs_on_housekeeping_ahead_of_the_load() {
        let housekeeping: rros_board::CpuSet = "0,2-3".parse().unwrap();
        let dropin = sshd_dropin(&housekeeping);
        assert!(dropin.contains("\n[Service]\n"), "{dropin}");
        assert!(dropin.contains("\nCPUAffinity=0,2-3\n"), "{dropin}");
        assert!(dropin.contains("\nNice=-10\n"), "{dropin}");
        assert!(SSHD_DROPIN_PATH.starts_with("etc/systemd/system/ssh.service.d/"));
    }

    #[test]
    fn elf_check() {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[18] = 62;
        assert!(check_elf_x86_64(&elf, Path::new("x")).is_ok());
        elf[18] = 183; // aarch64
        let err = check_elf_x86_64(&elf, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an x86-64 ELF"), "{err}");
        assert!(check_elf_x86_64(b"#!/bin/sh\n", Path::new("x")).is_err());
    }

    #[test]
    fn keyed_hash_separates_parts() {
        let mut a = Keyed::default();
        a.add("x", b"ab");
        a.add("x", b"c");
        let mut b = Keyed::default();
        b.add("x", b"a");
        b.add("x", b"bc");
        assert_ne!(a.hex(), b.hex());
        let mut c = Keyed::default();
        c.add("x", b"ab");
        c.add("x", b"c");
        let mut a2 = Keyed::default();
        a2.add("x", b"ab");
        a2.add("x", b"c");
        let (c, a2) = (c.hex(), a2.hex());
        assert_eq!(c, a2);
        assert_eq!(a2.len(), 16);
    }

    #[test]
    fn missing_tools_name_their_packages() {
        let err = check_tools(&[("rros-no-such-tool", "rros-pkg"), ("sh", "dash")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("rros-no-such-tool"), "{err}");
        assert!(err.contains("apt-get install rros-pkg"), "{err}");
        assert!(!err.contains("dash"));
    }
}
