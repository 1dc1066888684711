//! Booting the image under QEMU: TCG, or KVM when it works; SSH forwarded to an ephemeral
//! port on 127.0.0.1 only; the guest cut off from every other network.

use crate::build::{Image, find_program};
use crate::{Error, Observer, Result, io_err};
use rros_remote::process::Captured;
use rros_remote::ssh::Ssh;
use rros_remote::target::{Endpoint, Target};
use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a KVM guest may stay silent on its serial console before KVM is taken as broken
/// (a kernel prints within about a second under KVM; some nested setups hang instead).
const KVM_LIVENESS: Duration = Duration::from_secs(10);

/// The accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM when `/dev/kvm` opens and the guest shows life, else TCG.
    Auto,
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Auto => "auto",
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Whether `/dev/kvm` can be opened for reading and writing.
pub fn kvm_available() -> bool {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// How to boot.
#[derive(Debug, Clone)]
pub struct BootOptions {
    pub accel: Accel,
    pub memory_mib: u32,
    /// Boot with the profile's isolation parameters (off: the negative test).
    pub isolation: bool,
    /// Where the console log, QEMU's own log and the known-hosts file go.
    pub work_dir: PathBuf,
    /// Leave the guest running after this process ends.
    pub detach: bool,
    /// Mask the boot-time validation (`systemd.mask=rros-validate.service`): acceptance can
    /// start right after boot. The image is unchanged.
    pub mask_boot_validation: bool,
}

/// What `mask_boot_validation` adds to the command line.
pub const MASK_BOOT_VALIDATION: &str = "systemd.mask=rros-validate.service";

/// The full kernel command line: root disk, serial console, the profile's additions (unless
/// `isolation` is off), then the mask of the boot-time validation when asked.
pub fn kernel_cmdline(isolation_cmdline: &str, opts: &BootOptions) -> String {
    let mut line = String::from("root=/dev/vda rw console=ttyS0");
    if opts.isolation && !isolation_cmdline.is_empty() {
        line.push(' ');
        line.push_str(isolation_cmdline);
    }
    if opts.mask_boot_validation {
        line.push(' ');
        line.push_str(MASK_BOOT_VALIDATION);
    }
    line
}

/// A running guest. Dropping it kills QEMU unless it was detached.
#[derive(Debug)]
pub struct Vm {
    child: Option<Child>,
    pub pid: u32,
    pub port: u16,
    pub accel: Accel,
    pub console_log: PathBuf,
    pub qemu_log: PathBuf,
    pub known_hosts: PathBuf,
    pub identity: PathBuf,
    pub cmdline: String,
    pub started: Instant,
    /// One SSH connection shared by this process's calls into the guest (boot wait, evidence,
    /// power-off), made on first use.
    session: std::sync::OnceLock<Ssh>,
}

/// Bound on each SSH connection attempt into the guest (TCP connect, then the banner): an
/// emulated guest under load answers slowly.
pub const GUEST_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// QEMU's option syntax doubles a comma inside a value.
fn q(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Boot(format!("cannot find a free port on 127.0.0.1: {e}")))?;
    Ok(listener
        .local_addr()
        .map_err(|e| Error::Boot(e.to_string()))?
        .port())
}

fn qemu_command(
    image: &Image,
    opts: &BootOptions,
    accel: Accel,
    port: u16,
    cmdline: &str,
) -> Command {
    let qemu = find_program("qemu-system-x86_64").unwrap_or_else(|| "qemu-system-x86_64".into());
    let mut cmd = Command::new(qemu);
    let (accel_arg, cpu) = match accel {
        Accel::Kvm => ("kvm", "host"),
        _ => ("tcg", "max"),
    };
    cmd.args(["-name", &format!("rros-vboard-{}", image.board.name)])
        .args(["-machine", "q35", "-accel", accel_arg, "-cpu", cpu])
        .args(["-smp", &image.board.cpu_count.to_string()])
        .args(["-m", &opts.memory_mib.to_string()])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args([
            "-chardev",
            &format!(
                "file,id=console,path={}",
                q(&opts.work_dir.join("console.log"))
            ),
            "-serial",
            "chardev:console",
        ])
        .arg("-kernel")
        .arg(&image.kernel);
    // An EVL kernel boots without an initramfs (virtio and ext4 built in).
    if !image.initrd.as_os_str().is_empty() {
        cmd.arg("-initrd").arg(&image.initrd);
    }
    cmd.args(["-append", cmdline])
        // Writes go to a throw-away overlay: every boot starts from the built image. One
        // request queue: with a queue per vCPU, the kernel pins each queue's (managed) IRQ to
        // its CPU, the isolated one included, where no tuning can move it; a single queue's
        // IRQ spans every CPU and `isolcpus=managed_irq` keeps it on housekeeping.
        .args([
            "-drive",
            &format!(
                "file={},format=raw,if=none,id=root,snapshot=on",
                q(&image.rootfs)
            ),
            "-device",
            "virtio-blk-pci,drive=root,num-queues=1",
        ])
        // restrict=on: the guest reaches nothing but the forwarded port.
        .args([
            "-netdev",
            &format!("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"),
            "-device",
            "virtio-net-pci,netdev=net0",
            "-device",
            "virtio-rng-pci",
        ])
        .stdin(Stdio::null());
    cmd
}

/// The guest's login key, copied into the boot's own folder: a running guest must not depend
/// on its cache entry, which another `rros vboard build` sharing the cache may prune meanwhile
/// (QEMU holds the disk image open, so the disk itself survives a prune). Mode 0600, as ssh
/// demands.
fn own_identity(image: &Image, work_dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = fs::read(&image.identity).map_err(io_err(&image.identity))?;
    let copy = work_dir.join("id_ed25519");
    let _ = fs::remove_file(&copy);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&copy)
        .map_err(io_err(&copy))?;
    std::io::Write::write_all(&mut file, &key).map_err(io_err(&copy))?;
    Ok(copy)
}

/// Why QEMU ended right after it started, from the tail of its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyExit {
    /// The forwarded port was taken between [`free_port`] and QEMU's bind: another port is
    /// tried.
    PortTaken,
    /// Anything else: reported as it is.
    Other,
}

impl EarlyExit {
    /// QEMU says `Could not set up host forwarding rule 'tcp:…'` when the port is taken.
    pub fn of(qemu_log: &str) -> EarlyExit {
        if qemu_log.contains("host forwarding") {
            EarlyExit::PortTaken
        } else {
            EarlyExit::Other
        }
    }
}

impl Vm {
    /// Starts QEMU. With [`Accel::Auto`] it tries KVM first and falls back to TCG when KVM
    /// cannot start or the guest stays silent.
    pub fn boot(image: &Image, opts: &BootOptions, observe: &dyn Observer) -> Result<Vm> {
        if find_program("qemu-system-x86_64").is_none() {
            return Err(Error::Tool(
                "qemu-system-x86_64 is missing: install with `apt-get install qemu-system-x86`"
                    .into(),
            ));
        }
        fs::create_dir_all(&opts.work_dir).map_err(io_err(&opts.work_dir))?;
        let cmdline = kernel_cmdline(&image.isolation_cmdline, opts);
        let want_kvm = match opts.accel {
            Accel::Tcg => false,
            Accel::Kvm => true,
            Accel::Auto => kvm_available(),
        };
        if want_kvm {
            match Self::start(image, opts, Accel::Kvm, &cmdline) {
                Ok(mut vm) => match vm.kvm_alive() {
                    Ok(()) => return Ok(vm),
                    Err(why) if opts.accel == Accel::Auto => {
                        drop(vm);
                        observe.note(&format!("KVM does not work here ({why}); using TCG"));
                    }
                    Err(why) => return Err(Error::Boot(format!("KVM: {why}"))),
                },
                Err(e) if opts.accel == Accel::Auto => {
                    observe.note(&format!("KVM does not work here ({e}); using TCG"));
                }
                Err(e) => return Err(e),
            }
        }
        Self::start(image, opts, Accel::Tcg, &cmdline)
    }

    /// Spawns QEMU once the forwarded port is taken; a port lost to a race is retried.
    fn start(image: &Image, opts: &BootOptions, accel: Accel, cmdline: &str) -> Result<Vm> {
        let console_log = opts.work_dir.join("console.log");
        let qemu_log = opts.work_dir.join("qemu.log");
        let identity = own_identity(image, &opts.work_dir)?;
        let mut last = String::new();
        for _attempt in 0..5 {
            let port = free_port()?;
            let _ = fs::remove_file(&console_log);
            let log = fs::File::create(&qemu_log).map_err(io_err(&qemu_log))?;
            let log2 = log.try_clone().map_err(io_err(&qemu_log))?;
            let mut cmd = qemu_command(image, opts, accel, port, cmdline);
            cmd.stdout(log).stderr(log2);
            let detach = opts.detach;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if detach {
                        // Its own session: a Ctrl-C in this terminal does not reach it.
                        libc::setsid();
                    } else {
                        // A killed `rros` must not leave QEMU behind (best effort).
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    }
                    Ok(())
                });
            }
            let child = cmd
                .spawn()
                .map_err(|e| Error::Tool(format!("cannot start QEMU: {e}")))?;
            let mut vm = Vm {
                pid: child.id(),
                child: Some(child),
                port,
                accel,
                console_log: console_log.clone(),
                qemu_log: qemu_log.clone(),
                known_hosts: opts.work_dir.join("known_hosts"),
                identity: identity.clone(),
                cmdline: cmdline.to_owned(),
                started: Instant::now(),
                session: std::sync::OnceLock::new(),
            };
            // Port forwarding is set up before the guest runs: a bad port fails at once.
            std::thread::sleep(Duration::from_millis(700));
            if let Some(status) = vm.try_exit() {
                last = vm.qemu_log_tail();
                if EarlyExit::of(&last) == EarlyExit::PortTaken {
                    continue;
                }
                return Err(Error::Boot(format!(
                    "QEMU exited at start ({status}): {last}"
                )));
            }
            fs::write(
                &vm.known_hosts,
                format!("[127.0.0.1]:{port} {}\n", image.host_key),
            )
            .map_err(io_err(&vm.known_hosts))?;
            return Ok(vm);
        }
        Err(Error::Boot(format!(
            "QEMU could not forward a port: {last}"
        )))
    }

    /// Under KVM: the kernel must print within [`KVM_LIVENESS`].
    fn kvm_alive(&mut self) -> std::result::Result<(), String> {
        let deadline = Instant::now() + KVM_LIVENESS;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                return Err(format!("QEMU exited ({status}): {}", self.qemu_log_tail()));
            }
            if fs::metadata(&self.console_log).is_ok_and(|m| m.len() > 0) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "the kernel printed nothing within {} s",
            KVM_LIVENESS.as_secs()
        ))
    }

    fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Whether QEMU is still running.
    pub fn running(&mut self) -> bool {
        self.child.is_some() && self.try_exit().is_none()
    }

    /// How to log in: root on the forwarded port, with the image's key and host key.
    pub fn endpoint(&self, name: &str) -> Endpoint {
        Endpoint {
            name: name.to_owned(),
            target: Target {
                user: "root".into(),
                host: "127.0.0.1".into(),
                port: self.port,
            },
            identity: Some(self.identity.clone()),
            known_hosts: Some(self.known_hosts.clone()),
        }
    }

    /// SSH into the guest, over the connection this process shares with it.
    pub fn ssh(&self) -> Ssh {
        self.session
            .get_or_init(|| Ssh::new(self.endpoint("vboard"), GUEST_CONNECT_TIMEOUT).multiplexed())
            .clone()
    }

    /// The `ssh` command line a person can paste.
    pub fn ssh_command_line(&self) -> String {
        format!(
            "ssh -i {} -p {} -o UserKnownHostsFile={} -o IdentitiesOnly=yes root@127.0.0.1",
            self.identity.display(),
            self.port,
            self.known_hosts.display()
        )
    }

    /// Runs a command in the guest.
    pub fn capture(&self, remote: &str, timeout: Duration) -> Result<Captured> {
        self.ssh()
            .capture(remote, timeout)
            .map_err(|e| Error::Tool(format!("cannot run ssh: {e}")))
    }

    /// Waits until SSH logs in, QEMU dies, or `timeout` passes.
    pub fn wait_for_ssh(&mut self, timeout: Duration) -> Result<Duration> {
        let deadline = self.started + timeout;
        let mut last = String::new();
        loop {
            if let Some(status) = self.try_exit() {
                return Err(Error::Boot(format!(
                    "QEMU exited during boot ({status}); {}\n--- last lines of the serial console ({}):\n{}",
                    self.qemu_log_tail(),
                    self.console_log.display(),
                    self.console_tail(25)
                )));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Boot(format!(
                    "no SSH login within {} s of boot ({}; last ssh error: {last}); raise --boot-timeout if the machine is slow\n--- last lines of the serial console ({}):\n{}",
                    timeout.as_secs(),
                    self.accel.as_str(),
                    self.console_log.display(),
                    self.console_tail(25)
                )));
            }
            match self.capture("true", left.min(Duration::from_secs(20))) {
                Ok(c) if c.success() => return Ok(self.started.elapsed()),
                Ok(c) => last = c.stderr_tail(),
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// `systemctl poweroff` in the guest, then up to `grace` for QEMU to end, then kill it.
    /// Returns whether the guest powered off by itself.
    pub fn poweroff(&mut self, grace: Duration) -> bool {
        let _ = self.capture("systemctl poweroff", Duration::from_secs(20));
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.try_exit().is_some() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        self.kill();
        false
    }

    /// Ends QEMU now.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Leaves the guest running after this process; returns QEMU's pid.
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }

    /// The last `n` lines of the serial console.
    pub fn console_tail(&self, n: usize) -> String {
        tail_of(&self.console_log, n)
    }

    fn qemu_log_tail(&self) -> String {
        tail_of(&self.qemu_log, 5).replace('\n', " / ")
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a file (control characters of the console shown as `?`).
pub fn tail_of(path: &Path, n: usize) -> String {
    let mut bytes = Vec::new();
    if fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .is_err()
    {
        return "(nothing)".into();
    }
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| {
            strip_ansi(l)
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes terminal colour sequences (`ESC [ … m`) that systemd prints on the console.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(isolation: bool, mask: bool) -> BootOptions {
        BootOptions {
            accel: Accel::Tcg,
            memory_mib: 1024,
            isolation,
            work_dir: PathBuf::from("/w"),
            detach: false,
            mask_boot_validation: mask,
        }
    }

    #[test]
    fn the_command_line_carries_the_profile_unless_told_not_to() {
        let iso = "isolcpus=managed_irq,domain,1 nohz_full=1";
        assert_eq!(
            kernel_cmdline(iso, &opts(true, false)),
            "root=/dev/vda rw console=ttyS0 isolcpus=managed_irq,domain,1 nohz_full=1"
        );
        assert_eq!(
            kernel_cmdline(iso, &opts(false, false)),
            "root=/dev/vda rw console=ttyS0"
        );
        assert_eq!(
            kernel_cmdline(iso, &opts(false, true)),
            "root=/dev/vda rw console=ttyS0 systemd.mask=rros-validate.service"
        );
    }

    fn board() -> rros_board::Board {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../board/qemux86-64.toml");
        rros_board::load_board(&path).unwrap().0
    }

    fn image(dir: &str) -> Image {
        let dir = PathBuf::from(dir);
        let board = board();
        Image {
            isolation_cmdline: rros_board::render::cmdline(&board),
            board,
            rootfs: dir.join("rootfs.img"),
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
            identity: dir.join("id_ed25519"),
            host_key: "ssh-ed25519 AAAAkey".into(),
            kernel_release: "6.1.0-rt".into(),
            hash: "0123456789abcdef".into(),
            cached: true,
            base_time: Duration::ZERO,
            image_time: Duration::ZERO,
            dir,
        }
    }

    #[test]
    fn a_booted_guest_keeps_its_own_key_when_the_cache_entry_goes() {
        use std::os::unix::fs::PermissionsExt;
        let cache = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let img = image(cache.path().to_str().unwrap());
        fs::write(&img.identity, b"KEY 1").unwrap();
        let copy = own_identity(&img, work.path()).unwrap();
        assert_eq!(copy, work.path().join("id_ed25519"));
        // A prune by another build sharing the cache removes the entry: the copy stays.
        fs::remove_file(&img.identity).unwrap();
        assert_eq!(fs::read(&copy).unwrap(), b"KEY 1");
        assert_eq!(
            fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A reboot into the same folder takes the image's key again.
        fs::write(&img.identity, b"KEY 2").unwrap();
        own_identity(&img, work.path()).unwrap();
        assert_eq!(fs::read(&copy).unwrap(), b"KEY 2");
        // No key in the cache: the error names the file.
        fs::remove_file(&img.identity).unwrap();
        let err = own_identity(&img, work.path()).unwrap_err().to_string();
        assert!(err.contains("id_ed25519"), "{err}");
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The value after `flag` (the first one).
    fn after<'a>(a: &'a [String], flag: &str) -> &'a str {
        let i = a
            .iter()
            .position(|x| x == flag)
            .unwrap_or_else(|| panic!("{flag}: {a:?}"));
        &a[i + 1]
    }

    #[test]
    fn qemu_boots_the_image_with_its_board_and_nothing_else() {
        let img = image("/cache/qemux86-64-0123");
        let cmdline = kernel_cmdline(&img.isolation_cmdline, &opts(true, false));
        let cmd = qemu_command(&img, &opts(true, false), Accel::Tcg, 40022, &cmdline);
        let a = args(&cmd);
        assert_eq!(after(&a, "-name"), "rros-vboard-qemux86-64");
        assert_eq!(after(&a, "-smp"), img.board.cpu_count.to_string());
        assert_eq!(after(&a, "-m"), "1024");
        assert_eq!((after(&a, "-accel"), after(&a, "-cpu")), ("tcg", "max"));
        assert_eq!(after(&a, "-kernel"), "/cache/qemux86-64-0123/vmlinuz");
        assert_eq!(after(&a, "-initrd"), "/cache/qemux86-64-0123/initrd.img");
        assert_eq!(after(&a, "-append"), cmdline);
        assert!(after(&a, "-append").contains(&img.isolation_cmdline));
        // The console goes to the work folder; the disk is a throw-away overlay with one queue.
        assert_eq!(after(&a, "-chardev"), "file,id=console,path=/w/console.log");
        assert_eq!(
            after(&a, "-drive"),
            "file=/cache/qemux86-64-0123/rootfs.img,format=raw,if=none,id=root,snapshot=on"
        );
        assert!(a.contains(&"virtio-blk-pci,drive=root,num-queues=1".to_owned()));
        // Only SSH, only on loopback, and the guest reaches nothing else.
        assert_eq!(
            after(&a, "-netdev"),
            "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22"
        );
        assert!(a.contains(&"-nodefaults".to_owned()) && a.contains(&"none".to_owned()));

        let kvm = args(&qemu_command(
            &img,
            &opts(true, false),
            Accel::Kvm,
            1,
            &cmdline,
        ));
        assert_eq!(
            (after(&kvm, "-accel"), after(&kvm, "-cpu")),
            ("kvm", "host")
        );
    }

    #[test]
    fn an_evl_image_boots_without_an_initramfs_and_paths_are_quoted() {
        let mut img = image("/cache/a,b");
        img.initrd = PathBuf::new();
        let a = args(&qemu_command(&img, &opts(true, false), Accel::Tcg, 2, "x"));
        assert!(!a.contains(&"-initrd".to_owned()), "{a:?}");
        assert!(after(&a, "-drive").starts_with("file=/cache/a,,b/rootfs.img,"));
    }

    fn vm(port: u16) -> Vm {
        Vm {
            child: None,
            pid: 4242,
            port,
            accel: Accel::Tcg,
            console_log: PathBuf::from("/w/console.log"),
            qemu_log: PathBuf::from("/w/qemu.log"),
            known_hosts: PathBuf::from("/w/known_hosts"),
            identity: PathBuf::from("/cache/img/id_ed25519"),
            cmdline: String::new(),
            started: Instant::now(),
            session: std::sync::OnceLock::new(),
        }
    }

    /// Acceptance logs in as root on the forwarded port with the image's own key, and checks
    /// the image's host key strictly: never the operator's keys or known hosts.
    #[test]
    fn ssh_into_the_guest_uses_the_image_keys_strictly() {
        let vm = vm(40022);
        let e = vm.endpoint("qemux86-64");
        assert_eq!(e.name, "qemux86-64");
        assert_eq!(e.target.to_string(), "root@127.0.0.1:40022");
        let ssh = vm.ssh();
        assert!(
            ssh.is_multiplexed(),
            "one connection for the boot wait and the evidence"
        );
        assert_eq!(ssh.connect_timeout, GUEST_CONNECT_TIMEOUT);
        let a = args(&ssh.command("true"));
        assert_eq!(after(&a, "-i"), "/cache/img/id_ed25519");
        assert_eq!(after(&a, "-p"), "40022");
        for want in [
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/w/known_hosts",
            "IdentitiesOnly=yes",
        ] {
            assert!(a.contains(&want.to_owned()), "{want}: {a:?}");
        }
        assert_eq!(&a[a.len() - 3..], ["--", "root@127.0.0.1", "true"]);
        assert_eq!(
            vm.ssh_command_line(),
            "ssh -i /cache/img/id_ed25519 -p 40022 -o UserKnownHostsFile=/w/known_hosts -o IdentitiesOnly=yes root@127.0.0.1"
        );
        // No QEMU to stop: dropping it must not signal anything.
        drop(vm);
    }

    #[test]
    fn a_taken_port_is_told_from_other_early_exits() {
        assert_eq!(
            EarlyExit::of(
                "qemu-system-x86_64: -netdev user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22: Could not set up host forwarding rule 'tcp:127.0.0.1:40022-:22'"
            ),
            EarlyExit::PortTaken
        );
        assert_eq!(
            EarlyExit::of("qemu-system-x86_64: -accel kvm: failed to initialize kvm"),
            EarlyExit::Other
        );
    }

    #[test]
    fn commas_are_doubled_for_qemu() {
        assert_eq!(q(Path::new("/a,b/c")), "/a,,b/c");
    }

    #[test]
    fn ansi_is_stripped() {
        assert_eq!(
            strip_ansi("[\u{1b}[0;32m  OK  \u{1b}[0m] Started \u{1b}[0;1;39mssh\u{1b}[0m."),
            "[  OK  ] Started ssh."
        );
    }

    #[test]
    fn tail_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        fs::write(&p, "a\nb\r\nc\u{7}\n").unwrap();
        assert_eq!(tail_of(&p, 2), "b\nc?");
        assert_eq!(tail_of(&dir.path().join("none"), 2), "(nothing)");
    }
}
