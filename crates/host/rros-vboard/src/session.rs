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
    /// Take the boot-time validation's run as the acceptance run when it provably is the run
    /// acceptance would make ([`crate::reuse`]); otherwise, or when `false`, measure anew.
    pub reuse_boot_run: bool,
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
    // The kernel that ran: release, version string, and the real-time core's ABI if any.
    (
        "kernel",
        "uname -r; uname -v; cat /proc/version; for f in /sys/devices/virtual/evl/control/abi /sys/devices/virtual/rros/control/abi; do [ -r $f ] && echo \"$f: $(cat $f)\"; done; true",
    ),
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
    /// `Some(why)`: the boot-time validation's run stands for the acceptance run (nothing was
    /// measured twice); the facts that make it the same run, one per line.
    pub reused: Option<Vec<String>>,
    /// Why the boot-time run was not reused, when reuse was asked for.
    pub not_reused: Option<String>,
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
        reused: None,
        not_reused: None,
    };
    let reused_file = board_dir.join(REUSED_FILE);
    if reused_file.exists() {
        fs::remove_file(&reused_file).map_err(io_err(&reused_file))?;
    }
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
    // What the boot-time run must match, taken now, right after the image was made from it
    // (a profile edited during the boot must not make the guest's copy look requested).
    let wanted = wanted(req, &image);

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
    let reused = if req.reuse_boot_run && !req.mask_boot_validation {
        match wanted
            .clone()
            .and_then(|w| reuse_boot_run(&vm, req, &image, &w, observe))
        {
            Ok((result, why)) => Some((result, why)),
            Err(why) => {
                observe.note(&format!(
                    "the boot-time run is not reused: {why}; acceptance measures anew"
                ));
                outcome.not_reused = Some(why);
                None
            }
        }
    } else {
        None
    };
    let mut result = match reused {
        Some((result, why)) => {
            let mut text = String::from(
                "The acceptance result is the boot-time validation's run (rros-validate.service), not a second measurement, because:\n",
            );
            for line in &why {
                text.push_str(&format!("- {line}\n"));
            }
            fs::create_dir_all(&board_dir).map_err(io_err(&board_dir))?;
            fs::write(&reused_file, text).map_err(io_err(&reused_file))?;
            outcome.reused = Some(why);
            result
        }
        None => accept_board(
            &vm.endpoint(&board),
            &req.accept,
            &req.out,
            &accept_observer,
        ),
    };
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

/// Written into `out/<board>/` when the boot-time run was reused: why that is valid.
pub const REUSED_FILE: &str = "reused.txt";

/// What [`crate::reuse::judge`] compares the boot-time run with: this run's profile bytes,
/// binary, scenarios, durations and backend, and the unit file's command line.
fn wanted(req: &RunRequest, image: &Image) -> std::result::Result<crate::reuse::Wanted, String> {
    use sha2::{Digest as _, Sha256};
    let sha = |path: &Path| {
        fs::read(path)
            .map(|b| format!("{:x}", Sha256::digest(&b)))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let root = &req.build.root;
    let unit = root
        .join(crate::build::UNITS_DIR)
        .join("rros-validate.service");
    let exec_start = fs::read_to_string(&unit)
        .ok()
        .and_then(|t| crate::reuse::unit_exec_start(&t))
        .ok_or_else(|| format!("{}: no ExecStart=", unit.display()))?;
    let asked = &req.accept.scenarios;
    let mut scenarios: Vec<(String, f64)> = image
        .board
        .scenarios
        .iter()
        .filter(|s| asked.is_empty() || asked.contains(&s.name))
        .map(|s| {
            (
                s.name.clone(),
                req.accept.duration.unwrap_or(s.duration).as_secs_f64(),
            )
        })
        .collect();
    // A scenario the profile does not have is still asked for: the boot-time run lacks it.
    for name in asked {
        if !scenarios.iter().any(|(n, _)| n == name) {
            scenarios.push((name.clone(), 0.0));
        }
    }
    Ok(crate::reuse::Wanted {
        board: image.board.name.clone(),
        profile_sha256: sha(&root
            .join("board")
            .join(format!("{}.toml", image.board.name)))?,
        validate_sha256: sha(&req.build.validate_bin)?,
        scenarios,
        backend: req.accept.backend.clone(),
        exec_start,
    })
}

/// Waits for the boot-time validation to finish, then takes its run as the acceptance run if
/// [`crate::reuse::judge`] finds it is the run acceptance would make: fetches it like
/// acceptance does and returns the result and why it is valid. `Err` says why not.
fn reuse_boot_run(
    vm: &Vm,
    req: &RunRequest,
    image: &Image,
    wanted: &crate::reuse::Wanted,
    observe: &dyn Observer,
) -> std::result::Result<(BoardResult, Vec<String>), String> {
    use rros_accept::run::{
        Busy, busy_script_then, derive_timeout, fetch, finish_verdict, pause_after_look,
    };
    let board = image.board.name.as_str();
    let profile =
        fs::read_to_string(req.build.root.join("board").join(format!("{board}.toml"))).ok();
    let bound = derive_timeout(profile.as_deref(), &[], None) + Duration::from_secs(120);
    let started = Instant::now();
    let mut announced = false;
    // Each look waits on the board, and gathers the finished run in the same call once the
    // board is idle: the end of the run is noticed within a second, with no second session.
    let look = busy_script_then(crate::reuse::GATHER_SCRIPT);
    let gathered = loop {
        let looked = Instant::now();
        let call = vm
            .capture(&look, Duration::from_secs(60))
            .ok()
            .filter(|c| c.success());
        let busy = call
            .as_ref()
            .and_then(|c| Busy::of(&c.stdout).map(Busy::reason));
        let Some(reason) = busy else { break call };
        if !announced {
            observe.step(&format!(
                "waiting for the boot-time validation ({reason}); its run is taken as the acceptance run if it matches this one"
            ));
            announced = true;
        }
        if started.elapsed() > bound {
            return Err(format!("{reason}, still after {} s", bound.as_secs()));
        }
        std::thread::sleep(pause_after_look(looked.elapsed()));
    };
    // A look that failed is not a reason to wait: gather on its own, as the look would have.
    let gathered = match gathered {
        Some(c) => c,
        None => vm
            .capture(crate::reuse::GATHER_SCRIPT, Duration::from_secs(60))
            .map_err(|e| e.to_string())?,
    };
    let found = crate::reuse::Found::parse(&gathered.stdout);
    let line = found
        .verdict_line
        .as_deref()
        .and_then(|l| rros_contract::VerdictLine::parse(l).ok());
    let text = line
        .as_ref()
        .and_then(|l| l.dir.as_deref())
        .and_then(|dir| {
            if let Some(report) = found.report_of(dir) {
                return Some(report.to_owned());
            }
            vm.capture(
                &format!(
                    "cat {}",
                    rros_remote::ssh::shell_quote(&format!("{dir}/report.json"))
                ),
                Duration::from_secs(60),
            )
            .ok()
            .filter(|c| c.success())
            .map(|c| c.stdout)
        });
    let report = text
        .as_deref()
        .filter(|t| rros_accept::report::check_report(t).is_ok())
        .and_then(|t| rros_contract::Report::from_json(t, "report.json").ok());
    let why = crate::reuse::judge(wanted, &found, report.as_ref())?;
    let (line, report, text) = match (line, report, text) {
        (Some(l), Some(r), Some(t)) => (l, r, t),
        _ => return Err("the boot-time run vanished".into()),
    };
    let (Some(run), Some(dir)) = (line.run.clone(), line.dir.clone()) else {
        return Err("the boot-time run made no run folder".into());
    };
    observe.step(&format!(
        "taking the boot-time run {run} as the acceptance run (same profile, binary, scenarios, durations and backend, this boot); fetching it"
    ));
    let board_dir = req.out.join(board);
    let local = fetch(&vm.ssh(), &dir, &run, &board_dir)?;
    let mut result = BoardResult {
        name: board.to_owned(),
        target: format!("root@127.0.0.1:{}", vm.port),
        verdict: line.verdict,
        reason: None,
        kernel: Some(report.host.kernel_release.clone()),
        run_id: Some(run),
        remote_dir: Some(dir),
        local_dir: Some(local.clone()),
        missing: rros_accept::REPORT_FILES
            .iter()
            .filter(|f| !local.join(f).is_file())
            .map(|f| (*f).to_owned())
            .collect(),
        report: None,
        elapsed: vm.started.elapsed(),
        error_kind: None,
    };
    // The fetched copy is what counts: read it as acceptance reads a fetched report.
    match fs::read_to_string(local.join("report.json")) {
        Ok(fetched) if fetched == text => {
            result.report = rros_accept::report::parse_report(&fetched).ok();
        }
        _ => return Err("the fetched report.json differs from the one judged".into()),
    }
    finish_verdict(&mut result);
    if result.verdict == Verdict::Error {
        result.error_kind = Some(rros_accept::ErrorKind::Board);
    }
    Ok((result, why))
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
