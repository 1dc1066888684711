//! The EVL virtual board: a Dovetail + EVL kernel and libevl built from source trees the user
//! gives, installed into the virtual board's image in place of Debian's PREEMPT_RT kernel.
//!
//! Three stages, each cached by a key of what it is made from, so an unchanged rebuild takes
//! well under a second:
//!
//! 1. **Kernel** (`evl-kernel-<key>/`): `x86_64_defconfig` plus the layer's own fragments
//!    ([`KERNEL_FRAGMENTS`], the files the `linux-evl` recipe and `kas/qemux86-64-evl.yml`
//!    use, never copies), merged by the tree's own Kconfig. Before compiling, every value a
//!    fragment asks for must be in the final `.config` ([`rros_kconfig::stick`]); otherwise the
//!    build stops and lists each one with the symbol that dropped it. Then `make bzImage`,
//!    with progress. Key: the tree (every file's path, size and modification time), the
//!    fragments' bytes, the compiler's `--version`, this recipe.
//! 2. **libevl** (`evl-libevl-<key>/`): after checking that libevl's `EVL_ABI_PREREQ` lies
//!    within the kernel's `EVL_ABI_BASE..=EVL_ABI_LEVEL`, `make UAPI=<kernel tree> install`
//!    into a staging folder (`usr/lib`, `usr/bin/evl`, `usr/libexec`, `usr/tests`), which the
//!    image gets as is. Key: the libevl tree, the kernel's uapi headers, the compiler.
//! 3. **rros-validate** with `--features evl`, linked against that libevl
//!    (`LIBEVL_LIB_DIR`), in its own target folder so the PREEMPT_RT build is untouched.
//!
//! The image stage itself is [`crate::build`]'s, with these parts in it.

use crate::build::Keyed as Key;
use crate::{Error, Observer, Result, io_err};
use rros_remote::process::{Stream, run_streaming};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Bump when the kernel stage changes in a way its inputs do not show.
const KERNEL_RECIPE: &str = "rros-vboard evl kernel 1";
const LIBEVL_RECIPE: &str = "rros-vboard evl libevl 1";

/// The kernel configuration: a defconfig and the layer's fragments, in merge order (paths
/// relative to the checkout). `linux-evl` uses the first two for the NUC, and
/// `kas/qemux86-64-evl.yml` all three.
pub const KERNEL_DEFCONFIG: &str = "x86_64_defconfig";
pub const KERNEL_FRAGMENTS: &[&str] = &[
    "meta-rros/recipes-kernel/linux/linux-evl/evl-core.cfg",
    "meta-rros/recipes-kernel/linux/files/rt-tuning.cfg",
    "meta-rros/recipes-kernel/linux/files/vboard-x86-64.cfg",
];

/// Environment variables that stand for `--kernel-src`, `--libevl-src` and `--kernel-cc`.
pub const ENV_KERNEL_SRC: &str = "RROS_EVL_KERNEL_SRC";
pub const ENV_LIBEVL_SRC: &str = "RROS_EVL_LIBEVL_SRC";
pub const ENV_KERNEL_CC: &str = "RROS_EVL_CC";

/// What the EVL stages need.
#[derive(Debug, Clone)]
pub struct EvlRequest {
    /// The meta-rros checkout (fragments, the rros-validate crate).
    pub root: PathBuf,
    /// An EVL kernel tree (Linux + Dovetail + EVL core).
    pub kernel_src: PathBuf,
    /// A libevl tree whose ABI fits the kernel.
    pub libevl_src: PathBuf,
    /// The C compiler for kernel and libevl (`gcc`, `gcc-11`).
    pub cc: String,
    /// Parallel jobs for make (default: the host's CPU count).
    pub jobs: usize,
    pub cache_dir: PathBuf,
    /// Rebuild even when cached.
    pub rebuild: bool,
}

/// The built parts, ready to go into an image.
#[derive(Debug, Clone)]
pub struct EvlParts {
    pub bzimage: PathBuf,
    /// `5.13.0` (from the build's `include/config/kernel.release`).
    pub kernel_release: String,
    /// The tree's commit when it is a git checkout (or its `.scmversion`), else `None`.
    pub kernel_commit: Option<String>,
    /// The content key of the kernel tree built from (every file's path, size and
    /// modification time, with the fragments and the compiler): the tree's identity when it
    /// has no commit, and the name of its cache entry (`evl-kernel-<key>`).
    pub kernel_key: String,
    pub abi_base: u32,
    pub abi_level: u32,
    pub libevl_abi: u32,
    /// The staging folder: its `usr/` goes into the image as is.
    pub libevl_stage: PathBuf,
    /// The rros-validate binary built with `--features evl`.
    pub validate_bin: PathBuf,
    /// The merged kernel config.
    pub kernel_config: PathBuf,
    pub kernel_cached: bool,
    pub kernel_time: Duration,
    pub libevl_cached: bool,
}

impl EvlParts {
    /// `Linux 5.13.0 (commit e3e560cd…), EVL ABI 23..26, libevl ABI 26`.
    pub fn describe(&self) -> String {
        format!(
            "Linux {} ({}), EVL ABI {}..{}, libevl ABI {}",
            self.kernel_release,
            self.kernel_commit.as_deref().map_or_else(
                || format!(
                    "no commit: not a git checkout, no .scmversion; built from the tree of content key {}",
                    self.kernel_key
                ),
                |c| format!("commit {c}, tree key {}", self.kernel_key)
            ),
            self.abi_base,
            self.abi_level,
            self.libevl_abi
        )
    }
}

/// The kernel's `EVL_ABI_BASE` and `EVL_ABI_LEVEL` (`include/uapi/evl/control.h`).
pub fn kernel_abi(kernel_src: &Path) -> Result<(u32, u32)> {
    let path = kernel_src.join("include/uapi/evl/control.h");
    let text = fs::read_to_string(&path).map_err(|e| {
        Error::Input(format!(
            "{}: {e}: {} is not an EVL kernel tree (Linux + Dovetail + the EVL core)",
            path.display(),
            kernel_src.display()
        ))
    })?;
    let base = define(&text, "EVL_ABI_BASE");
    let level = define(&text, "EVL_ABI_LEVEL");
    match (base, level) {
        (Some(b), Some(l)) => Ok((b, l)),
        _ => Err(Error::Input(format!(
            "{}: no numeric EVL_ABI_BASE and EVL_ABI_LEVEL",
            path.display()
        ))),
    }
}

/// libevl's `EVL_ABI_PREREQ` (`include/evl/evl.h`).
pub fn libevl_abi(libevl_src: &Path) -> Result<u32> {
    let path = libevl_src.join("include/evl/evl.h");
    let text = fs::read_to_string(&path).map_err(|e| {
        Error::Input(format!(
            "{}: {e}: {} is not a libevl tree",
            path.display(),
            libevl_src.display()
        ))
    })?;
    define(&text, "EVL_ABI_PREREQ")
        .ok_or_else(|| Error::Input(format!("{}: no numeric EVL_ABI_PREREQ", path.display())))
}

/// Fails unless `prereq` is within `base..=level`, saying which side to change.
pub fn check_abi(base: u32, level: u32, prereq: u32, kernel: &Path, libevl: &Path) -> Result<()> {
    if (base..=level).contains(&prereq) {
        return Ok(());
    }
    Err(Error::Input(format!(
        "libevl {} needs EVL ABI {prereq} (EVL_ABI_PREREQ), but the kernel {} serves ABI {base}..{level} (EVL_ABI_BASE..EVL_ABI_LEVEL): use a libevl release made for this kernel{}",
        libevl.display(),
        kernel.display(),
        if prereq > level {
            ", or a newer kernel"
        } else {
            " (an older one)"
        }
    )))
}

/// `#define NAME 26` → 26.
fn define(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == "#define" && words.next()? == name)
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// Every file below `dir` (not following symlinks, skipping `.git`): its path, size and
/// modification time, sorted. Changing, adding or removing any file changes the result; it
/// costs a `stat` per file, not a read (a kernel tree has 70 000 files).
fn tree_fingerprint(dir: &Path, key: &mut Key) -> Result<usize> {
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(io_err(&d))?.flatten() {
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let path = entry.path();
            // `DirEntry::metadata` is an `fstatat` relative to the open directory that does not
            // follow symlinks: no walk of the whole path per file.
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else {
                let mtime = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                let rel = path.strip_prefix(dir).unwrap_or(&path).to_owned();
                entries.push((rel, meta.len(), mtime));
            }
        }
    }
    entries.sort();
    for (rel, len, mtime) in &entries {
        key.add("file", rel.as_os_str().as_encoded_bytes());
        key.add("len", &len.to_le_bytes());
        key.add("mtime", &mtime.to_le_bytes());
    }
    Ok(entries.len())
}

/// `CC --version`, the compiler's identity in the keys.
fn compiler_version(cc: &str) -> Result<String> {
    let out = Command::new(cc).arg("--version").output().map_err(|e| {
        Error::Tool(format!(
            "cannot run the C compiler `{cc}`: {e} (apt-get install gcc, or set --kernel-cc / {ENV_KERNEL_CC})"
        ))
    })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The commit of a git checkout; for an exported tree, the kernel's own `.scmversion` file
/// (which `scripts/setlocalversion` reads too) when it exists.
fn git_commit(dir: &Path) -> Option<String> {
    if !dir.join(".git").exists() {
        return fs::read_to_string(dir.join(".scmversion"))
            .ok()
            .map(|s| s.trim().trim_start_matches('-').to_owned())
            .filter(|s| !s.is_empty());
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "HEAD^{commit}"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
}

/// The programs the EVL stages run, with their Debian packages (libevl's `make install` copies
/// its uapi headers with cpio).
pub const EVL_TOOLS: &[(&str, &str)] = &[
    ("make", "make"),
    ("flex", "flex"),
    ("bison", "bison"),
    ("bc", "bc"),
    ("cpio", "cpio"),
];

/// Builds (or finds cached) the kernel, libevl and rros-validate.
pub fn build_parts(req: &EvlRequest, observe: &dyn Observer) -> Result<EvlParts> {
    let (abi_base, abi_level) = kernel_abi(&req.kernel_src)?;
    let prereq = libevl_abi(&req.libevl_src)?;
    check_abi(
        abi_base,
        abi_level,
        prereq,
        &req.kernel_src,
        &req.libevl_src,
    )?;
    crate::build::check_tools(EVL_TOOLS)?;
    let cc_version = compiler_version(&req.cc)?;
    fs::create_dir_all(&req.cache_dir).map_err(io_err(&req.cache_dir))?;

    // Stage 1: the kernel.
    let mut key = Key::default();
    key.add("recipe", KERNEL_RECIPE.as_bytes());
    key.add("cc", cc_version.as_bytes());
    key.add("defconfig", KERNEL_DEFCONFIG.as_bytes());
    let mut fragments = Vec::new();
    for rel in KERNEL_FRAGMENTS {
        let path = req.root.join(rel);
        let bytes = fs::read(&path).map_err(|e| {
            Error::Input(format!(
                "{}: {e}: the EVL kernel's fragments come from the layer",
                path.display()
            ))
        })?;
        key.add("fragment", rel.as_bytes());
        key.add("fragment-bytes", &bytes);
        fragments.push(path);
    }
    let started = Instant::now();
    let files = tree_fingerprint(&req.kernel_src, &mut key)?;
    let kernel_key = key.hex();
    observe.note(&format!(
        "EVL kernel tree {}: {files} files, key {kernel_key} ({:.2} s)",
        req.kernel_src.display(),
        started.elapsed().as_secs_f64()
    ));
    let kdir = req.cache_dir.join(format!("evl-kernel-{kernel_key}"));
    let bzimage = kdir.join("bzImage");
    let (kernel_cached, kernel_time) = if bzimage.is_file() && !req.rebuild {
        observe.step(&format!("EVL kernel cached: {}", kdir.display()));
        (true, Duration::ZERO)
    } else {
        let t = Instant::now();
        build_kernel(req, &fragments, &kdir, observe)?;
        (false, t.elapsed())
    };
    let kernel_release = fs::read_to_string(kdir.join("build/include/config/kernel.release"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());

    // Stage 2: libevl against the kernel's uapi.
    let mut key = Key::default();
    key.add("recipe", LIBEVL_RECIPE.as_bytes());
    key.add("cc", cc_version.as_bytes());
    tree_fingerprint(&req.libevl_src, &mut key)?;
    tree_fingerprint(&req.kernel_src.join("include/uapi"), &mut key)?;
    let ldir = req.cache_dir.join(format!("evl-libevl-{}", key.hex()));
    let stage = ldir.join("stage");
    let libevl_cached = stage.join("usr/lib/libevl.so").exists() && !req.rebuild;
    if libevl_cached {
        observe.step(&format!("libevl cached: {}", ldir.display()));
    } else {
        build_libevl(req, &ldir, observe)?;
    }

    // Stage 3: rros-validate --features evl against that libevl.
    let validate_bin = build_validate_evl(req, &stage.join("usr/lib"), observe)?;

    Ok(EvlParts {
        bzimage,
        kernel_release,
        kernel_commit: git_commit(&req.kernel_src),
        kernel_key,
        abi_base,
        abi_level,
        libevl_abi: prereq,
        libevl_stage: stage,
        validate_bin,
        kernel_config: kdir.join("build/.config"),
        kernel_cached,
        kernel_time,
        libevl_cached,
    })
}

fn build_kernel(
    req: &EvlRequest,
    fragments: &[PathBuf],
    kdir: &Path,
    observe: &dyn Observer,
) -> Result<()> {
    let out = kdir.join("build");
    fs::create_dir_all(&out).map_err(io_err(&out))?;
    observe.step(&format!(
        "EVL kernel: {KERNEL_DEFCONFIG} + {} fragment(s), merged by the tree's Kconfig",
        fragments.len()
    ));
    let make_vars = vec![format!("CC={}", req.cc), format!("HOSTCC={}", req.cc)];
    let resolution = rros_kconfig::Resolve {
        tree: req.kernel_src.clone(),
        arch: "x86_64".into(),
        defconfig: KERNEL_DEFCONFIG.into(),
        fragments: fragments.to_vec(),
        out: out.clone(),
        make_vars: make_vars.clone(),
    }
    .run()
    .map_err(|e| Error::Build(e.to_string()))?;
    if !resolution.drops.is_empty() {
        let list: Vec<String> = resolution.drops.iter().map(|d| format!("  {d}")).collect();
        return Err(Error::Build(format!(
            "{} fragment value(s) did not stick in {} (the kernel would not be what the fragments say; fix the fragments or the tree):\n{}",
            list.len(),
            resolution.config_path.display(),
            list.join("\n")
        )));
    }
    observe.note(&format!(
        "Kconfig-true: every value of the {} fragment(s) is in {}",
        fragments.len(),
        resolution.config_path.display()
    ));
    observe.step(&format!(
        "compiling the EVL kernel (make -j{} bzImage; about 15 min on 2 cores, cold)",
        req.jobs
    ));
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(&req.kernel_src)
        .arg(format!("O={}", out.display()))
        .arg("ARCH=x86_64")
        .args(&make_vars)
        .arg(format!("-j{}", req.jobs))
        .arg("bzImage");
    let started = Instant::now();
    let mut objects = 0usize;
    let mut tail: Vec<String> = Vec::new();
    let (status, timed_out) =
        run_streaming(cmd, Duration::from_secs(3 * 3600), |_s: Stream, line| {
            if line.trim_start().starts_with("CC ") {
                objects += 1;
            }
            observe.detail(&format!(
                "kernel: {objects} objects, {:.0} s: {}",
                started.elapsed().as_secs_f64(),
                line.trim()
            ));
            tail.push(line.to_owned());
            if tail.len() > 20 {
                tail.remove(0);
            }
        })
        .map_err(|e| Error::Tool(format!("cannot run make: {e}")))?;
    if timed_out || !status.is_some_and(|s| s.success()) {
        return Err(Error::Build(format!(
            "the EVL kernel build failed (make bzImage in {}):\n  {}",
            out.display(),
            tail.join("\n  ")
        )));
    }
    let built = out.join("arch/x86/boot/bzImage");
    let dest = kdir.join("bzImage");
    let tmp = kdir.join("bzImage.tmp");
    fs::copy(&built, &tmp).map_err(io_err(&built))?;
    fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    observe.note(&format!(
        "EVL kernel built in {:.0} s ({objects} objects): {}",
        started.elapsed().as_secs_f64(),
        dest.display()
    ));
    Ok(())
}

fn build_libevl(req: &EvlRequest, ldir: &Path, observe: &dyn Observer) -> Result<()> {
    let stage = ldir.join("stage");
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(ldir).map_err(io_err(ldir))?;
    observe.step(&format!(
        "building libevl {} against the kernel's uapi (make UAPI={})",
        req.libevl_src.display(),
        req.kernel_src.display()
    ));
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(&req.libevl_src)
        .arg(format!("O={}", ldir.join("build").display()))
        .arg(format!("UAPI={}", req.kernel_src.display()))
        .arg(format!("CC={}", req.cc))
        .arg(format!("DESTDIR={}", stage.join("usr").display()))
        .arg(format!("-j{}", req.jobs))
        .arg("install");
    let mut tail = Vec::new();
    let (status, timed_out) = run_streaming(cmd, Duration::from_secs(1800), |_s: Stream, line| {
        observe.detail(line);
        tail.push(line.to_owned());
        if tail.len() > 20 {
            tail.remove(0);
        }
    })
    .map_err(|e| Error::Tool(format!("cannot run make: {e}")))?;
    if timed_out
        || !status.is_some_and(|s| s.success())
        || !stage.join("usr/lib/libevl.so").exists()
    {
        let _ = fs::remove_dir_all(&stage);
        return Err(Error::Build(format!(
            "the libevl build failed (make install in {}):\n  {}",
            req.libevl_src.display(),
            tail.join("\n  ")
        )));
    }
    Ok(())
}

/// `cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate --features evl`, linked against `lib_dir`, in
/// `target/vboard-evl` of the checkout's target folder.
fn build_validate_evl(req: &EvlRequest, lib_dir: &Path, observe: &dyn Observer) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = req.root.join("target/vboard-evl");
    observe.step(&format!(
        "building rros-validate --features evl against {}",
        lib_dir.display()
    ));
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "-p",
        "rros-validate",
        "--features",
        "evl",
    ])
    .arg("--target-dir")
    .arg(&target)
    .env("LIBEVL_LIB_DIR", lib_dir)
    .current_dir(req.root.join("crates/on-target"));
    let mut tail = Vec::new();
    let (status, _) = run_streaming(cmd, Duration::from_secs(3600), |_s: Stream, line| {
        observe.detail(line);
        tail.push(line.to_owned());
        if tail.len() > 20 {
            tail.remove(0);
        }
    })
    .map_err(|e| Error::Tool(format!("cannot run cargo: {e}")))?;
    if !status.is_some_and(|s| s.success()) {
        return Err(Error::Build(format!(
            "cargo build --release --manifest-path crates/on-target/Cargo.toml -p rros-validate --features evl failed:\n  {}",
            tail.join("\n  ")
        )));
    }
    Ok(target.join("release/rros-validate"))
}

/// The key of the parts' bytes, for the image stage: the kernel image, every staged libevl
/// file, the rros-validate binary.
pub fn parts_key(parts: &EvlParts) -> Result<String> {
    let mut key = Key::default();
    key.add(
        "bzImage",
        &fs::read(&parts.bzimage).map_err(io_err(&parts.bzimage))?,
    );
    key.add("describe", parts.describe().as_bytes());
    let mut files = Vec::new();
    let mut stack = vec![parts.libevl_stage.clone()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).map_err(io_err(&d))?.flatten() {
            let path = entry.path();
            if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let rel = path.strip_prefix(&parts.libevl_stage).unwrap_or(&path);
        key.add("file", rel.as_os_str().as_encoded_bytes());
        match fs::read_link(&path) {
            Ok(target) => key.add("link", target.as_os_str().as_encoded_bytes()),
            Err(_) => key.add("bytes", &fs::read(&path).map_err(io_err(&path))?),
        }
    }
    Ok(key.hex())
}

/// Puts the parts into the image being assembled: libevl's staged `usr/` into the root
/// filesystem (`/usr/lib/libevl.so.0`, `/usr/bin/evl`, `/usr/libexec/evl-*`, `/usr/tests`),
/// the kernel beside it as `vmlinuz`, and its release.
pub fn install(parts: &EvlParts, root: &Path, tmp: &Path, observe: &dyn Observer) -> Result<()> {
    observe.step(&format!(
        "installing libevl and the evl tools ({})",
        parts.describe()
    ));
    let mut cp = Command::new("cp");
    cp.arg("-a")
        .arg("--no-preserve=ownership")
        .arg(parts.libevl_stage.join("usr"))
        .arg(root);
    let out = cp
        .output()
        .map_err(|e| Error::Tool(format!("cannot run cp: {e}")))?;
    if !out.status.success() {
        return Err(Error::Build(format!(
            "copying {} into the image failed: {}",
            parts.libevl_stage.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // Debian's ld.so.cache predates libevl; /usr/lib is searched anyway, but keep it exact.
    let _ = Command::new("ldconfig").arg("-r").arg(root).status();
    fs::copy(&parts.bzimage, tmp.join("vmlinuz")).map_err(io_err(&parts.bzimage))?;
    fs::write(tmp.join("kernel_release"), &parts.kernel_release).map_err(io_err(tmp))?;
    fs::write(tmp.join("evl.txt"), parts.describe() + "\n").map_err(io_err(tmp))?;
    Ok(())
}

/// The console line the EVL core prints when it is up.
pub const CORE_STARTED: &str = "EVL: core started";
/// The sysfs file listing the out-of-band CPUs.
pub const OOB_CPUS_FILE: &str = "/sys/devices/virtual/evl/control/cpus";

/// Checks a booted guest before measuring: the console says the core started, and the core's
/// out-of-band CPUs are the profile's. Returns a line for the report.
pub fn check_core(console: &str, oob_cpus_file: &str, profile_oob: &str) -> Result<String> {
    if !console.contains(CORE_STARTED) {
        let hint = console
            .lines()
            .filter(|l| l.contains("EVL") || l.contains("evl"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n  ");
        return Err(Error::Boot(format!(
            "the console has no `{CORE_STARTED}`: the EVL core did not start, nothing to measure{}",
            if hint.is_empty() {
                " (no EVL line at all: is this an EVL kernel?)".to_owned()
            } else {
                format!(":\n  {hint}")
            }
        )));
    }
    let got = parse_cpus(oob_cpus_file.trim());
    let want = parse_cpus(profile_oob);
    if got.is_none() || got != want {
        return Err(Error::Boot(format!(
            "{OOB_CPUS_FILE} reads {:?}, the profile's oob CPUs are {profile_oob:?}: check evl.oobcpus on the kernel command line",
            oob_cpus_file.trim()
        )));
    }
    Ok(format!(
        "{CORE_STARTED}; out-of-band CPUs {} as in the profile",
        oob_cpus_file.trim()
    ))
}

/// [`check_core`] on a booted guest: its serial console and its core's sysfs file. Without
/// the profile's isolation parameters (`evl.oobcpus` among them) only the core's start is
/// checked; the audit then judges the CPUs.
pub fn check_booted(
    vm: &crate::Vm,
    board: &rros_board::Board,
    isolation: bool,
    observe: &dyn Observer,
) -> Result<()> {
    let console = fs::read_to_string(&vm.console_log).unwrap_or_default();
    let cpus = vm
        .capture(&format!("cat {OOB_CPUS_FILE}"), Duration::from_secs(30))
        .map(|c| c.stdout)
        .unwrap_or_default();
    let line = if isolation {
        check_core(&console, &cpus, &board.oob.to_string())?
    } else {
        // evl.oobcpus is off the command line: the core picks its default CPUs, and the
        // audit (not this check) judges them against the profile.
        check_core(&console, &cpus, cpus.trim())?;
        format!(
            "{CORE_STARTED}; out-of-band CPUs {} (no evl.oobcpus: the audit judges them)",
            cpus.trim()
        )
    };
    observe.step(&line);
    Ok(())
}

/// `1,3-4` → [1, 3, 4].
fn parse_cpus(list: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_defines_are_read() {
        let text = "#define EVL_ABI_BASE   23\n/* x */\n#define EVL_ABI_LEVEL  26\n";
        assert_eq!(define(text, "EVL_ABI_BASE"), Some(23));
        assert_eq!(define(text, "EVL_ABI_LEVEL"), Some(26));
        assert_eq!(define(text, "EVL_ABI_PREREQ"), None);
    }

    #[test]
    fn abi_outside_the_kernel_range_is_refused() {
        let (k, l) = (Path::new("linux"), Path::new("libevl"));
        assert!(check_abi(23, 26, 26, k, l).is_ok());
        assert!(check_abi(23, 26, 23, k, l).is_ok());
        let err = check_abi(23, 26, 27, k, l).unwrap_err().to_string();
        assert!(err.contains("needs EVL ABI 27"), "{err}");
        assert!(err.contains("serves ABI 23..26"), "{err}");
        assert!(err.contains("newer kernel"), "{err}");
        assert!(check_abi(23, 26, 22, k, l).is_err());
    }

    #[test]
    fn core_check_wants_the_console_line_and_the_profiles_cpus() {
        let console = "[    1.0] IRQ pipeline enabled\n[    2.1] EVL: core started [DEBUG]\n";
        assert!(check_core(console, "1\n", "1").is_ok());
        let err = check_core(console, "2-3\n", "1").unwrap_err().to_string();
        assert!(err.contains("reads \"2-3\""), "{err}");
        assert!(check_core(console, "", "1").is_err());
        let err = check_core("[ 1.0] EVL: cannot start\n", "1", "1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did not start"), "{err}");
        assert!(err.contains("EVL: cannot start"), "{err}");
        assert!(check_core(console, "1,2", "1-2").is_ok());
    }

    #[test]
    fn the_tree_key_changes_with_a_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "1").unwrap();
        let key = |dir: &Path| {
            let mut k = Key::default();
            tree_fingerprint(dir, &mut k).unwrap();
            k.hex()
        };
        let first = key(dir.path());
        assert_eq!(first, key(dir.path()));
        fs::write(dir.path().join("a"), "22").unwrap();
        assert_ne!(first, key(dir.path()));
    }
}
