//! `rros vboard run`: build (cached), boot, accept over SSH, collect the boot's evidence,
//! power off — and how long each part took.

use crate::build::{BuildRequest, Image, build};
use crate::qemu::{Accel, BootOptions, Vm};
use crate::{Observer, Result, io_err};
use rros_accept::report::BoardResult;
use rros_accept::{Verdict, accept_board, write_reports};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub build: BuildRequest,
    pub accel: Accel,
    pub memory_mib: u32,
    /// Boot with the profile's isolation parameters (off for the negative test).
    pub isolation: bool,
    /// Bound on boot until SSH logs in.
    pub boot_timeout: Duration,
    /// Leave the guest running after the verdict (for a look around).
    pub keep_running: bool,
    /// Boot with the boot-time validation masked (faster; the image is unchanged).
    pub mask_boot_validation: bool,
    pub accept: rros_accept::Options,
    /// Reports go to `out/` (summary, JUnit) and `out/<board>/` (the run, the boot's evidence).
    pub out: PathBuf,
}

/// Facts gathered from the guest after the verdict, into `out/<board>/boot/`.
pub const EVIDENCE: &[(&str, &str)] = &[
    ("cmdline", "cat /proc/cmdline"),
    ("isolated", "cat /sys/devices/system/cpu/isolated"),
    ("nohz_full", "cat /sys/devices/system/cpu/nohz_full"),
    (
        "rros-validate.journal",
        "journalctl -b --no-pager -o short-monotonic -u rros-validate.service",
    ),
    (
        "rros-tune.journal",
        "journalctl -b --no-pager -o short-monotonic -u rros-tune.service",
    ),
    (
        "units",
        "systemctl show -p Id -p ActiveState -p Result -p ExecMainStatus rros-tune.service rros-validate.service",
    ),
    ("failed-units", "systemctl --failed --no-legend --plain"),
    // The boot-time validation's own report: why it said what it said (issue #11).
    (
        "boot-report.json",
        "d=$(journalctl -b --no-pager -o cat -u rros-validate.service | sed -n 's/.*rros-validate: verdict=[A-Z]* run=[^ ]* dir=//p' | tail -n 1); [ -n \"$d\" ] && cat \"$d/report.json\"",
    ),
];

/// A guest left running by `--keep-running`.
#[derive(Debug, Clone)]
pub struct Kept {
    pub pid: u32,
    pub port: u16,
    pub ssh: String,
    /// `vm.env`: the same, as shell variables.
    pub env_file: PathBuf,
}

/// How long each part took.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Build or cache look-up.
    pub build: Duration,
    /// QEMU start to the first SSH login.
    pub boot_to_ssh: Option<Duration>,
    /// QEMU start to the start of the acceptance run's measuring (after any wait for the
    /// board's boot-time validation).
    pub boot_to_measuring: Option<Duration>,
    /// QEMU start to the verdict.
    pub boot_to_verdict: Option<Duration>,
    /// Power-off to QEMU's end.
    pub poweroff: Option<Duration>,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct RunOutcome {
    pub result: BoardResult,
    pub out: PathBuf,
    /// `junit.xml`, `summary.md`, `accept.json`.
    pub reports: Vec<PathBuf>,
    pub evidence_dir: PathBuf,
    pub image: Option<Image>,
    pub accel: Option<Accel>,
    /// The boot-time service's verdict line from the journal, if it logged one.
    pub boot_service_verdict: Option<String>,
    pub timings: Timings,
    pub kept: Option<Kept>,
}

impl RunOutcome {
    pub fn verdict(&self) -> Verdict {
        self.result.verdict
    }
}

/// Runs the whole job. Every failure after the output folder is known — a build or boot
/// failure included — ends in an ERROR result with reports; only a folder that cannot be
/// written is an `Err`.
pub fn run(req: &RunRequest, observe: &dyn Observer) -> Result<RunOutcome> {
    let board = req.build.board.clone();
    let board_dir = req.out.join(&board);
    let evidence = board_dir.join("boot");
    if evidence.exists() {
        fs::remove_dir_all(&evidence).map_err(io_err(&evidence))?;
    }
    fs::create_dir_all(&evidence).map_err(io_err(&evidence))?;
    let mut outcome = RunOutcome {
        result: BoardResult::error(&board, "root@127.0.0.1", "not run", Duration::ZERO),
        out: req.out.clone(),
        reports: Vec::new(),
        evidence_dir: evidence.clone(),
        image: None,
        accel: None,
        boot_service_verdict: None,
        timings: Timings::default(),
        kept: None,
    };
    let start = Instant::now();
    match build(&req.build, observe) {
        Ok(image) => outcome.image = Some(image),
        Err(e) => {
            outcome.result.reason = Some(e.to_string());
            return finish(outcome);
        }
    }
    outcome.timings.build = start.elapsed();
    let image = outcome.image.clone().expect("set above");

    observe.step(&format!(
        "booting {} ({} MiB, {} vCPUs{})",
        board,
        req.memory_mib,
        image.board.cpu_count,
        if req.isolation {
            ""
        } else {
            ", WITHOUT the profile's isolation parameters"
        }
    ));
    if req.mask_boot_validation {
        observe.note(
            "the boot-time validation is masked for this boot (systemd.mask=rros-validate.service)",
        );
    }
    let boot = BootOptions {
        accel: req.accel,
        memory_mib: req.memory_mib,
        isolation: req.isolation,
        work_dir: evidence.clone(),
        detach: req.keep_running,
        mask_boot_validation: req.mask_boot_validation,
    };
    let mut vm = match Vm::boot(&image, &boot, observe) {
        Ok(vm) => vm,
        Err(e) => {
            outcome.result.reason = Some(e.to_string());
            return finish(outcome);
        }
    };
    outcome.accel = Some(vm.accel);
    outcome.result.target = format!("root@127.0.0.1:{}", vm.port);
    observe.note(&format!(
        "QEMU {} (pid {}), SSH forwarded from 127.0.0.1:{}; kernel command line: {}",
        vm.accel.as_str().to_uppercase(),
        vm.pid,
        vm.port,
        vm.cmdline
    ));
    match vm.wait_for_ssh(req.boot_timeout) {
        Ok(t) => {
            outcome.timings.boot_to_ssh = Some(t);
            observe.step(&format!("SSH up {:.1} s after boot", t.as_secs_f64()));
        }
        Err(e) => {
            outcome.result.reason = Some(e.to_string());
            outcome.result.elapsed = vm.started.elapsed();
            vm.kill();
            return finish(outcome);
        }
    }

    if image.board.flavour == rros_board::Flavour::Evl
        && let Err(e) = crate::evl::check_booted(&vm, &image.board, req.isolation, observe)
    {
        outcome.result.reason = Some(e.to_string());
        outcome.result.elapsed = vm.started.elapsed();
        vm.kill();
        return finish(outcome);
    }

    let measuring = std::sync::Mutex::new(None);
    let started = vm.started;
    let accept_observer = |name: &str, event: rros_accept::Event<'_>| {
        if let rros_accept::Event::Phase(rros_accept::Phase::Measuring { .. }) = &event
            && let Ok(mut at) = measuring.lock()
        {
            *at = Some(started.elapsed());
        }
        observe.accept(name, event);
    };
    let mut result = accept_board(
        &vm.endpoint(&board),
        &req.accept,
        &req.out,
        &accept_observer,
    );
    outcome.timings.boot_to_verdict = Some(vm.started.elapsed());
    outcome.timings.boot_to_measuring = measuring.lock().ok().and_then(|at| *at);
    if result.verdict == Verdict::Error && !vm.running() {
        let tail = vm.console_tail(15);
        result.reason = Some(format!(
            "{} (QEMU has exited; last lines of the serial console:\n{tail})",
            result.reason.as_deref().unwrap_or("")
        ));
    }
    outcome.result = result;

    if vm.running() {
        outcome.boot_service_verdict = collect_evidence(&vm, &evidence);
    }
    if req.keep_running && vm.running() {
        let env_file = evidence.join("vm.env");
        let ssh = vm.ssh_command_line();
        let env = format!(
            "RROS_VBOARD_PID={}\nRROS_VBOARD_PORT={}\nRROS_VBOARD_IDENTITY='{}'\nRROS_VBOARD_KNOWN_HOSTS='{}'\nRROS_VBOARD_SSH='{}'\n",
            vm.pid,
            vm.port,
            vm.identity.display(),
            vm.known_hosts.display(),
            ssh
        );
        fs::write(&env_file, env).map_err(io_err(&env_file))?;
        outcome.kept = Some(Kept {
            pid: vm.pid,
            port: vm.port,
            ssh,
            env_file,
        });
        vm.detach();
    } else {
        observe.step("powering off");
        let t = Instant::now();
        if !vm.poweroff(Duration::from_secs(60)) {
            observe.note("the guest did not power off within 60 s; QEMU was stopped");
        }
        outcome.timings.poweroff = Some(t.elapsed());
    }
    finish(outcome)
}

/// Saves [`EVIDENCE`] into `dir`; returns the boot-time service's verdict line.
fn collect_evidence(vm: &Vm, dir: &Path) -> Option<String> {
    let mut verdict = None;
    for (file, command) in EVIDENCE {
        let Ok(got) = vm.capture(command, Duration::from_secs(30)) else {
            continue;
        };
        let failed = !got.success();
        let mut text = got.stdout;
        if failed && !got.stderr.is_empty() {
            text.push_str(&got.stderr);
        }
        if *file == "rros-validate.journal" {
            verdict = text
                .lines()
                .rev()
                .find_map(|l| l.find("rros-validate: verdict=").map(|i| l[i..].to_owned()));
        }
        let _ = fs::write(dir.join(file), text);
    }
    verdict
}

fn finish(mut outcome: RunOutcome) -> Result<RunOutcome> {
    if outcome.result.elapsed.is_zero() {
        outcome.result.elapsed = outcome.timings.boot_to_verdict.unwrap_or_default();
    }
    outcome.reports = write_reports(&outcome.out, std::slice::from_ref(&outcome.result))
        .map_err(io_err(&outcome.out))?;
    Ok(outcome)
}
