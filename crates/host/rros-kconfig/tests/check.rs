//! `check` against small synthetic kernel trees written to temporary directories.

use rros_kconfig::{
    Fragment, KconfigTree, LoadOptions, TreeError, UnknownSymbol, WarningKind, check,
};
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A miniature kernel tree: a top-level Kconfig, init/, kernel/ with a Kconfig.* file,
/// two architectures, a help text full of keywords, and a symlinked directory.
fn tree() -> TempDir {
    let dir = TempDir::new().unwrap();
    let files: &[(&str, &str)] = &[
        (
            "Kconfig",
            "mainmenu \"Linux/$(ARCH) Kernel Configuration\"\n\
             source \"arch/$(SRCARCH)/Kconfig\"\n\
             source \"init/Kconfig\"\n\
             source \"kernel/Kconfig.rros\"\n",
        ),
        (
            "init/Kconfig",
            "config HAS_RUST\n\
             \tdepends on ARM64 || X86_64\n\
             \tdef_bool $(success,$(RUSTC) --version)\n\
             \n\
             config MODVERSIONS\n\
             \tbool \"Module versioning support\"\n\
             \thelp\n\
             \t  Usually you want this. It is not compatible with\n\
             \t  config RUST below, which\n\
             \t  depends on NOTHING_REAL.\n\
             \n\
             config RUST\n\
             \tbool \"Rust support\"\n\
             \tdepends on HAS_RUST\n\
             \tdepends on !MODVERSIONS\n\
             \tdepends on !COMPILE_TEST\n\
             \n\
             choice\n\
             \tprompt \"Timer tick handling\"\n\
             config HZ_PERIODIC\n\
             \tbool \"Periodic timer ticks\"\n\
             config NO_HZ_IDLE\n\
             \tbool \"Idle dynticks system\"\n\
             config NO_HZ_FULL\n\
             \tbool \"Full dynticks system\"\n\
             \tdepends on SMP\n\
             \tselect RCU_NOCB_CPU\n\
             \tselect VIRT_CPU_ACCOUNTING_GEN\n\
             endchoice\n\
             \n\
             config RCU_NOCB_CPU\n\
             \tbool \"Offload RCU callbacks\"\n\
             \tdepends on RCU_EXPERT || NO_HZ_FULL\n\
             config VIRT_CPU_ACCOUNTING_GEN\n\
             \tbool\n\
             config SMP\n\
             \tbool \"SMP\"\n\
             config CMDLINE\n\
             \tstring \"Built-in command line\"\n\
             config HZ\n\
             \tint\n\
             \tdefault 250\n",
        ),
        (
            "kernel/Kconfig.rros",
            "config HAVE_ARCH_RROS\n\
             \tbool\n\
             \n\
             menuconfig Rros\n\
             \tbool \"BUPT real-time core\"\n\
             \tdepends on HAVE_ARCH_RROS\n\
             \tselect DOVETAIL\n\
             \n\
             if Rros\n\
             config RROS_OOB_NET\n\
             \tbool \"Out-of-band networking (EXPERIMENTAL)\"\n\
             endif\n\
             \n\
             config DOVETAIL\n\
             \tbool\n",
        ),
        (
            "kernel/trace/Kconfig",
            "menuconfig FTRACE\n\
             \tbool \"Tracers\"\n\
             \n\
             if FTRACE\n\
             config FUNCTION_TRACER\n\
             \tbool \"Kernel Function Tracer\"\n\
             endif # FTRACE\n",
        ),
        (
            "arch/arm64/Kconfig",
            "config ARM64\n\
             \tdef_bool y\n\
             \tselect HAVE_ARCH_RROS\n\
             menu \"Platform selection\"\n\
             config ARCH_BCM2835\n\
             \tbool \"Broadcom BCM2835 family\"\n\
             config ARCH_MXC\n\
             \tbool \"NXP i.MX family\"\n\
             endmenu\n",
        ),
        (
            "arch/x86/Kconfig",
            "config X86_64\n\
             \tdef_bool y\n\
             config X86_ONLY_FEATURE\n\
             \tbool \"x86 only\"\n",
        ),
        (
            "drivers/net/Kconfig",
            "config FEC\n\ttristate \"FEC\"\n\tdepends on ARCH_MXC\n",
        ),
    ];
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        dir.path().join("arch/arm64"),
        dir.path().join("drivers/alias"),
    )
    .unwrap();
    dir
}

fn fragment(dir: &Path, name: &str, text: &str) -> Fragment {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    Fragment::load(&path).unwrap()
}

fn load(tree: &TempDir) -> KconfigTree {
    KconfigTree::load(tree.path()).unwrap()
}

fn path_of(fragment: &Fragment) -> PathBuf {
    fragment.path.clone()
}

#[test]
fn reads_every_kconfig_file_once() {
    let tree = tree();
    let kconfig = load(&tree);
    // Kconfig, init/Kconfig, kernel/Kconfig.rros, kernel/trace/Kconfig, two arches, drivers:
    // the symlinked directory is not followed, so arm64 is not read twice.
    assert_eq!(kconfig.file_count(), 7);
    for symbol in [
        "RUST",
        "Rros",
        "RROS_OOB_NET",
        "FTRACE",
        "ARCH_MXC",
        "X86_ONLY_FEATURE",
        "FEC",
    ] {
        assert!(kconfig.defines(symbol), "{symbol} should be defined");
    }
    assert_eq!(kconfig.definitions("ARCH_MXC").len(), 1);
    // Help text is prose, not definitions.
    assert!(!kconfig.defines("NOTHING_REAL"));
    assert_eq!(kconfig.definitions("RUST")[0].line, 12);
    assert_eq!(
        kconfig.definitions("RUST")[0].file,
        Path::new("init/Kconfig")
    );
}

#[test]
fn clean_fragments_pass() {
    let tree = tree();
    let kconfig = load(&tree);
    let frag = fragment(
        tree.path(),
        "good.cfg",
        "CONFIG_RUST=y\n# CONFIG_MODVERSIONS is not set\nCONFIG_Rros=y\nCONFIG_DOVETAIL=y\n\
         CONFIG_CMDLINE=\"console=ttyAMA0\"\nCONFIG_HZ=1000\n# CONFIG_FTRACE is not set\n",
    );
    let report = check(&kconfig, &[frag]);
    assert!(report.passed(), "{report:?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.assignments, 7);
}

#[test]
fn unknown_symbols_fail_and_case_is_significant() {
    let tree = tree();
    let kconfig = load(&tree);
    let frag = fragment(
        tree.path(),
        "bad.cfg",
        "CONFIG_RROS=y\nCONFIG_Rros=y\nCONFIG_NO_SUCH=m\n",
    );
    let report = check(&kconfig, std::slice::from_ref(&frag));
    assert!(!report.passed());
    assert_eq!(
        report.unknown,
        vec![
            UnknownSymbol {
                fragment: path_of(&frag),
                line: 1,
                symbol: "RROS".into(),
                suggestion: Some("Rros".into()),
            },
            UnknownSymbol {
                fragment: path_of(&frag),
                line: 3,
                symbol: "NO_SUCH".into(),
                suggestion: None,
            },
        ]
    );
    let message = report.unknown[0].to_string();
    assert!(message.contains("bad.cfg:1"), "{message}");
    assert!(message.contains("CONFIG_Rros"), "{message}");
}

#[test]
fn rust_with_modversions_warns() {
    let tree = tree();
    let kconfig = load(&tree);
    let frag = fragment(
        tree.path(),
        "rust.cfg",
        "CONFIG_RUST=y\nCONFIG_MODVERSIONS=y\n",
    );
    let report = check(&kconfig, &[frag]);
    assert!(report.passed(), "a warning does not fail the check");
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    let warning = &report.warnings[0];
    assert_eq!(warning.symbol, "RUST");
    assert_eq!(warning.line, 1);
    match &warning.kind {
        WarningKind::DependencyDisabled {
            dependency,
            defined_at,
            because,
        } => {
            assert_eq!(dependency, "!MODVERSIONS");
            assert_eq!(defined_at, &(PathBuf::from("init/Kconfig"), 12));
            assert_eq!(because.len(), 1);
            assert_eq!(because[0].spelled, "CONFIG_MODVERSIONS=y");
            assert_eq!(because[0].line, 2);
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = warning.to_string();
    assert!(text.contains("rust.cfg:1"), "{text}");
    assert!(text.contains("!MODVERSIONS"), "{text}");
    assert!(text.contains("rust.cfg:2"), "{text}");
}

#[test]
fn dependencies_across_fragments_and_if_blocks() {
    let tree = tree();
    let kconfig = load(&tree);
    let tuning = fragment(tree.path(), "tuning.cfg", "# CONFIG_FTRACE is not set\n");
    let board = fragment(
        tree.path(),
        "board.cfg",
        "CONFIG_FUNCTION_TRACER=y\n# CONFIG_ARCH_MXC is not set\nCONFIG_FEC=m\n",
    );
    let report = check(&kconfig, &[tuning, board]);
    let warned: Vec<(&str, &str)> = report
        .warnings
        .iter()
        .map(|w| match &w.kind {
            WarningKind::DependencyDisabled { dependency, .. } => {
                (w.symbol.as_str(), dependency.as_str())
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        warned,
        vec![("FUNCTION_TRACER", "FTRACE"), ("FEC", "ARCH_MXC")]
    );
    let text = report.warnings[0].to_string();
    assert!(text.contains("tuning.cfg:1"), "{text}");
}

#[test]
fn unknown_dependencies_never_warn() {
    let tree = tree();
    let kconfig = load(&tree);
    // Nothing says anything about ARCH_MXC, HAS_RUST, SMP or FTRACE: no evidence, no warning.
    let frag = fragment(
        tree.path(),
        "quiet.cfg",
        "CONFIG_FEC=y\nCONFIG_RUST=y\nCONFIG_NO_HZ_FULL=y\nCONFIG_FUNCTION_TRACER=y\n",
    );
    let report = check(&kconfig, &[frag]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn or_dependencies_need_every_branch_false() {
    let tree = tree();
    let kconfig = load(&tree);
    let one_branch = fragment(
        tree.path(),
        "a.cfg",
        "CONFIG_RCU_NOCB_CPU=y\n# CONFIG_NO_HZ_FULL is not set\n",
    );
    assert!(check(&kconfig, &[one_branch]).warnings.is_empty());
    let both = fragment(
        tree.path(),
        "b.cfg",
        "CONFIG_RCU_NOCB_CPU=y\n# CONFIG_NO_HZ_FULL is not set\n# CONFIG_RCU_EXPERT is not set\n",
    );
    // RCU_EXPERT is not defined in this tree: reported as unknown, and still evaluated as
    // the fragment says.
    let report = check(&kconfig, &[both]);
    assert_eq!(report.unknown.len(), 1);
    assert_eq!(report.warnings.len(), 1);
    assert!(matches!(
        &report.warnings[0].kind,
        WarningKind::DependencyDisabled { dependency, .. } if dependency == "RCU_EXPERT || NO_HZ_FULL"
    ));
}

#[test]
fn selected_symbols_cannot_be_disabled() {
    let tree = tree();
    let kconfig = load(&tree);
    let frag = fragment(
        tree.path(),
        "tick.cfg",
        "CONFIG_SMP=y\nCONFIG_NO_HZ_FULL=y\n# CONFIG_VIRT_CPU_ACCOUNTING_GEN is not set\n",
    );
    let report = check(&kconfig, &[frag]);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    match &report.warnings[0].kind {
        WarningKind::SelectedButDisabled {
            target,
            disabled_by,
            ..
        } => {
            assert_eq!(target, "VIRT_CPU_ACCOUNTING_GEN");
            assert_eq!(disabled_by.line, 3);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn two_members_of_one_choice() {
    let tree = tree();
    let kconfig = load(&tree);
    let base = fragment(tree.path(), "base.cfg", "CONFIG_NO_HZ_IDLE=y\n");
    let tick = fragment(tree.path(), "tick.cfg", "CONFIG_NO_HZ_FULL=y\n");
    let report = check(&kconfig, &[base.clone(), tick]);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert_eq!(report.warnings[0].symbol, "NO_HZ_FULL");
    assert!(matches!(
        &report.warnings[0].kind,
        WarningKind::ChoiceConflict { others } if others.len() == 1 && others[0].spelled == "CONFIG_NO_HZ_IDLE=y"
    ));
    // Turning the other member off explicitly is the fix.
    let fixed = fragment(
        tree.path(),
        "fixed.cfg",
        "# CONFIG_NO_HZ_IDLE is not set\nCONFIG_NO_HZ_FULL=y\n",
    );
    let report = check(&kconfig, &[base, fixed]);
    let kinds: Vec<_> = report.warnings.iter().map(|w| &w.kind).collect();
    assert!(
        kinds
            .iter()
            .all(|k| matches!(k, WarningKind::Overridden { .. })),
        "{kinds:?}"
    );
}

#[test]
fn later_fragments_override_earlier_ones() {
    let tree = tree();
    let kconfig = load(&tree);
    let first = fragment(
        tree.path(),
        "first.cfg",
        "CONFIG_MODVERSIONS=y\nCONFIG_HZ=250\n",
    );
    let second = fragment(
        tree.path(),
        "second.cfg",
        "# CONFIG_MODVERSIONS is not set\nCONFIG_RUST=y\nCONFIG_HZ=250\n",
    );
    let report = check(&kconfig, &[first, second]);
    // MODVERSIONS ends up off, so RUST is fine; the override itself is pointed out once and
    // the identical HZ line is not.
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert_eq!(report.warnings[0].symbol, "MODVERSIONS");
    assert!(report.warnings[0].to_string().contains("first.cfg:1"));
}

#[test]
fn malformed_lines_fail_the_check() {
    let tree = tree();
    let kconfig = load(&tree);
    let frag = fragment(tree.path(), "typo.cfg", "CONFIG_RUST=yes\nCONFIG_SMP=y\n");
    let report = check(&kconfig, &[frag]);
    assert!(!report.passed());
    assert_eq!(report.issues.len(), 1);
    assert_eq!(report.issues[0].1.line, 1);
}

#[test]
fn arch_option_reads_one_architecture() {
    let tree = tree();
    let arm64 = KconfigTree::load_with(
        tree.path(),
        &LoadOptions {
            arch: Some("arm64".into()),
        },
    )
    .unwrap();
    assert!(arm64.defines("ARCH_MXC"));
    assert!(!arm64.defines("X86_ONLY_FEATURE"));
    let err = KconfigTree::load_with(
        tree.path(),
        &LoadOptions {
            arch: Some("riscv".into()),
        },
    )
    .unwrap_err();
    assert!(matches!(err, TreeError::NoSuchArch { .. }), "{err}");
}

#[test]
fn a_directory_without_kconfig_is_not_a_tree() {
    let dir = TempDir::new().unwrap();
    let err = KconfigTree::load(dir.path()).unwrap_err();
    assert!(matches!(err, TreeError::NotAKernelTree { .. }));
    assert!(err.to_string().contains("git archive"), "{err}");
}
