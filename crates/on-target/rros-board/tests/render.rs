//! What the profiles render to: the command line per flavour, the sysctl file and the BitBake
//! include, checked on the shipped profiles so a change to them shows here.

use rros_board::render::{bitbake_include, cmdline, cmdline_params, rendered_files, sysctl};
use rros_board::{Board, load_board};
use std::path::PathBuf;

fn board(name: &str) -> Board {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../board")
        .join(format!("{name}.toml"));
    load_board(&path).unwrap_or_else(|e| panic!("{e}")).0
}

#[test]
fn rros_board_cmdline() {
    let b = board("rpi4");
    let params = cmdline_params(&b);
    let iso = b.isolated.to_string();
    for expected in [
        format!("isolcpus=managed_irq,domain,{iso}"),
        format!("nohz_full={iso}"),
        format!("rcu_nocbs={iso}"),
        format!("irqaffinity={}", b.housekeeping),
        format!("rros.oobcpus_arg={}", b.oob),
        "rcupdate.rcu_normal_after_boot=1".to_owned(),
    ] {
        assert!(
            params.contains(&expected),
            "{expected} missing from {params:?}"
        );
    }
    assert!(
        !params
            .iter()
            .any(|p| p.starts_with("evl.") || p.starts_with("kthread_cpus")),
        "{params:?}"
    );
}

/// The RROS core parses `rros.oobcpus_arg` with the kernel's `cpulist_parse()` (after meta-rros's
/// kernel patch hands it a NUL-terminated copy) and falls back to every online CPU, silently,
/// when that refuses the list. Every shipped RROS profile must render exactly one value that
/// parse accepts: a plain cpulist (digits, `,` and `-`), non-empty, no CPU beyond the kernel's
/// CONFIG_NR_CPUS, and naming exactly the profile's out-of-band CPUs.
#[test]
fn rros_boards_render_an_oobcpus_list_the_core_accepts() {
    use rros_board::rules::RROS_NR_CPUS;
    use rros_board::{CpuSet, Flavour};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../board");
    let mut rros_boards = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let b = load_board(&path).unwrap_or_else(|e| panic!("{e}")).0;
        if b.flavour != Flavour::Rros {
            continue;
        }
        rros_boards += 1;
        let values: Vec<String> = cmdline_params(&b)
            .into_iter()
            .filter_map(|p| p.strip_prefix("rros.oobcpus_arg=").map(str::to_owned))
            .collect();
        assert_eq!(values.len(), 1, "{}: {values:?}", b.name);
        let list = &values[0];
        assert!(
            !list.is_empty()
                && list
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == ',' || c == '-'),
            "{}: {list:?} is not a plain cpulist",
            b.name
        );
        let parsed = CpuSet::parse(list).unwrap();
        assert_eq!(parsed, b.oob, "{}", b.name);
        assert!(parsed.beyond(RROS_NR_CPUS).is_empty(), "{}: {list}", b.name);
    }
    assert!(rros_boards >= 3, "rpi4, imx8mp-evk and qemuarm64 run RROS");
}

#[test]
fn evl_board_cmdline() {
    let b = board("nuc");
    let line = cmdline(&b);
    assert!(line.contains(&format!("evl.oobcpus={}", b.oob)), "{line}");
    assert!(!line.contains("rros."), "{line}");
    assert!(line.contains("nosmt"), "SMT off renders nosmt: {line}");
    assert!(
        line.ends_with("intel_idle.max_cstate=0"),
        "extra parameters come last: {line}"
    );
}

#[test]
fn preempt_rt_board_cmdline() {
    let line = cmdline(&board("qemux86-64"));
    assert!(
        line.starts_with("isolcpus=managed_irq,domain,1 nohz_full=1 rcu_nocbs=1 irqaffinity=0"),
        "{line}"
    );
    assert!(
        !line.contains("oobcpus") && !line.contains("rcu_normal_after_boot"),
        "{line}"
    );
}

#[test]
fn sysctl_file() {
    let text = sysctl(&board("rpi4"));
    assert!(text.contains("\nkernel.timer_migration = 0\n"), "{text}");
    assert!(
        text.contains("\nkernel.sched_rt_runtime_us = -1\n"),
        "{text}"
    );
    assert!(text.contains("\nvm.stat_interval = 10\n"), "{text}");
}

#[test]
fn bitbake_include_carries_the_profile() {
    let b = board("rpi4");
    let inc = bitbake_include(&b);
    assert!(
        inc.contains("RROS_BOARD_MACHINE = \"raspberrypi4-64\"\n"),
        "{inc}"
    );
    assert!(inc.contains("RROS_KERNEL_FLAVOUR = \"rros\"\n"), "{inc}");
    assert!(inc.contains("RROS_CPU_COUNT = \"4\"\n"), "{inc}");
    assert!(
        inc.contains(&format!("RROS_ISOLATION_CMDLINE = \"{}\"\n", cmdline(&b))),
        "{inc}"
    );
    assert!(
        inc.contains("RROS_RPI_EXTRA_CONFIG = \"dtoverlay=disable-wifi\\ndtoverlay=disable-bt"),
        "{inc}"
    );
    // Every assignment is `NAME = "value"` with no quote inside the value.
    for line in inc.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.split_once(" = ").expect("assignment");
        assert!(
            name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
            "{line}"
        );
        assert!(
            value.starts_with('"') && value.ends_with('"') && value.matches('"').count() == 2,
            "{line}"
        );
    }
}

#[test]
fn rendering_is_deterministic_and_names_its_files() {
    let b = board("qemuarm64");
    assert_eq!(rendered_files(&b), rendered_files(&b));
    let paths: Vec<_> = rendered_files(&b).into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec![
            "meta-rros/conf/rros-boards/qemuarm64.inc",
            "meta-rros/recipes-core/rros-tuning/files/qemuarm64/99-rros-isolation.conf"
        ]
    );
}

#[test]
fn an_installed_profile_may_have_another_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("board.toml");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../board/rpi4.toml");
    std::fs::copy(&source, &installed).unwrap();
    let err = load_board(&installed).unwrap_err().to_string();
    assert!(err.contains("name-matches-file"), "{err}");
    let (board, _) = rros_board::load_installed_board(&installed).unwrap();
    assert_eq!(board.name, "rpi4");
    // Every other rule still applies.
    let broken = std::fs::read_to_string(&source)
        .unwrap()
        .replace(r#"oob = "2-3""#, r#"oob = "1-3""#);
    std::fs::write(&installed, broken).unwrap();
    let err = rros_board::load_installed_board(&installed)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("oob-subset-isolated") && !err.contains("name-matches-file"),
        "{err}"
    );
}
