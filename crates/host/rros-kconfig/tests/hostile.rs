//! Hostile and absurd input (issue #12, findings 8 and 9): expressions nested deep enough to
//! overflow a recursive parser, and fragments or Kconfig files that are not regular files or
//! are far too large. Each is an error naming the file (and line), never a crash or a hang.

use rros_kconfig::{
    Fragment, FragmentError, KconfigTree, MAX_EXPR_DEPTH, MAX_FRAGMENT_BYTES,
    MAX_KCONFIG_FILE_BYTES, TreeError, WarningKind, check,
};
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;

/// A minimal tree whose `drivers/Kconfig` is `text`.
fn tree_with(text: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    fs::write(
        dir.path().join("Kconfig"),
        "config OFF\n\tbool \"off\"\nconfig A\n\tbool \"a\"\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("drivers")).unwrap();
    fs::write(dir.path().join("drivers/Kconfig"), text).unwrap();
    dir
}

/// Loads the tree, expecting an expression-depth error at drivers/Kconfig:`line`.
fn assert_too_deep_at(tree: &TempDir, line: usize) {
    let err = KconfigTree::load(tree.path()).unwrap_err();
    match &err {
        TreeError::ExpressionTooDeep {
            path,
            line: at,
            source,
        } => {
            assert_eq!(path, &tree.path().join("drivers/Kconfig"));
            assert_eq!(*at, line);
            assert_eq!(source.limit, MAX_EXPR_DEPTH);
        }
        other => panic!("expected ExpressionTooDeep, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "{}:{line}: ",
            tree.path().join("drivers/Kconfig").display()
        )),
        "{message}"
    );
    assert!(message.contains("256 levels"), "{message}");
    assert!(message.contains("fix or remove it"), "{message}");
}

#[test]
fn twenty_thousand_nested_parentheses_are_refused_naming_file_and_line() {
    let deep = format!("{}A{}", "(".repeat(20_000), ")".repeat(20_000));
    let tree = tree_with(&format!("config X\n\tbool \"x\"\n\tdepends on {deep}\n"));
    assert_too_deep_at(&tree, 3);
}

#[test]
fn two_hundred_thousand_nots_are_refused_naming_file_and_line() {
    let tree = tree_with(&format!(
        "\nif {}A\nconfig X\n\tbool \"x\"\nendif\n",
        "!".repeat(200_000)
    ));
    assert_too_deep_at(&tree, 2);
}

#[test]
fn a_two_hundred_thousand_term_chain_is_refused_naming_file_and_line() {
    // No recursion in the parser, but evaluating, printing and dropping the tree would.
    let chain = vec!["A"; 200_000].join(" && ");
    let tree = tree_with(&format!("config X\n\tbool \"x\"\n\tselect A if {chain}\n"));
    assert_too_deep_at(&tree, 3);
}

#[test]
fn nesting_up_to_the_bound_is_read_and_evaluated() {
    // 200 parentheses around `!OFF && A` (depth 202): read, and the check still sees that
    // the fragment's OFF=y switches X's dependency off.
    let inner = format!("{}!OFF && A{}", "(".repeat(200), ")".repeat(200));
    let tree = tree_with(&format!("config X\n\tbool \"x\"\n\tdepends on {inner}\n"));
    let tree = KconfigTree::load(tree.path()).unwrap();
    assert!(tree.defines("X"));
    let frag = Fragment::parse(Path::new("f.cfg"), "CONFIG_OFF=y\nCONFIG_A=y\nCONFIG_X=y\n");
    let report = check(&tree, &[frag]);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.symbol == "X" && matches!(w.kind, WarningKind::DependencyDisabled { .. })),
        "{:?}",
        report.warnings
    );
}

#[test]
fn in_memory_sources_keep_a_too_deep_expression_opaque() {
    let deep = format!("{}A{}", "(".repeat(20_000), ")".repeat(20_000));
    let text = format!("config X\n\tbool \"x\"\n\tdepends on {deep}\n");
    let tree = KconfigTree::from_sources([("drivers/Kconfig", text.as_str())]);
    assert!(tree.defines("X"));
    // Opaque: never evaluated, so A=n produces no warning.
    let frag = Fragment::parse(Path::new("f.cfg"), "CONFIG_X=y\n# CONFIG_A is not set\n");
    let report = check(&tree, &[frag]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

/// Runs `f` on another thread and fails the test if it does not return within 20 s (a FIFO
/// opened for reading blocks until a writer comes, which in a test never does).
fn within_deadline<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: still blocked after 20 s"))
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils)");
    assert!(status.success());
}

#[test]
fn a_fifo_fragment_is_refused_without_blocking() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("rros.cfg");
    mkfifo(&fifo);
    let path = fifo.clone();
    let err = within_deadline("Fragment::load on a FIFO", move || {
        Fragment::load(&path).unwrap_err()
    });
    assert!(
        matches!(&err, FragmentError::NotRegular { path, .. } if *path == fifo),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("a FIFO (named pipe)"), "{message}");
    assert!(message.contains("save the fragment to a file"), "{message}");
}

#[test]
fn dev_zero_as_a_fragment_is_refused_before_reading() {
    let err = Fragment::load(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(err, FragmentError::NotRegular { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("config fragment /dev/zero is a character device"),
        "{err}"
    );
}

#[test]
fn an_oversized_fragment_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("huge.cfg");
    // Sparse: no disk space used.
    fs::File::create(&path)
        .unwrap()
        .set_len(MAX_FRAGMENT_BYTES + 1)
        .unwrap();
    let err = Fragment::load(&path).unwrap_err();
    assert!(
        matches!(&err, FragmentError::TooLarge { path: p, limit } if *p == path && *limit == MAX_FRAGMENT_BYTES),
        "{err}"
    );
    // Exactly at the cap is still read (as text of NULs: one malformed line, not an error).
    fs::File::create(&path)
        .unwrap()
        .set_len(MAX_FRAGMENT_BYTES)
        .unwrap();
    let fragment = Fragment::load(&path).unwrap();
    assert_eq!(fragment.issues.len(), 1);
}

#[test]
fn an_oversized_kconfig_file_is_refused_naming_it() {
    let tree = tree_with("config X\n\tbool \"x\"\n");
    let huge = tree.path().join("drivers/Kconfig.huge");
    fs::File::create(&huge)
        .unwrap()
        .set_len(MAX_KCONFIG_FILE_BYTES + 1)
        .unwrap();
    let err = KconfigTree::load(tree.path()).unwrap_err();
    assert!(
        matches!(&err, TreeError::FileTooLarge { path, .. } if *path == huge),
        "{err}"
    );
    assert!(err.to_string().contains("is larger than"), "{err}");
}

#[test]
fn a_fifo_among_the_kconfig_files_is_not_opened() {
    let tree = tree_with("config X\n\tbool \"x\"\n");
    mkfifo(&tree.path().join("drivers/Kconfig.fifo"));
    let root = tree.path().to_path_buf();
    let loaded = within_deadline("KconfigTree::load with a FIFO", move || {
        KconfigTree::load(&root).map(|t| (t.file_count(), t.defines("X")))
    })
    .unwrap();
    assert_eq!(loaded, (2, true));
}
