//! The symbols of a kernel source tree, read from all of its `Kconfig*` files.

use crate::expr::{Expr, TooDeep};
use crate::parse::{TooDeepAt, parse_file};
use crate::read::{MAX_KCONFIG_FILE_BYTES, MAX_KCONFIG_TREE_BYTES, ReadError, read_regular};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

/// The declared type of a symbol (`Unknown` if the definition gives none, which Kconfig
/// allows when another definition of the same symbol does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Bool,
    Tristate,
    String,
    Int,
    Hex,
    Unknown,
}

/// A `select` (or `imply`) line of a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    pub target: String,
    pub condition: Option<Expr>,
    /// `imply`: a weak select the user may override, so it never warrants a warning.
    pub implied: bool,
    pub line: usize,
}

/// One `config`/`menuconfig` entry. A symbol may have several (per architecture, or split
/// across files); Kconfig combines them, so does [`crate::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    pub kind: SymbolKind,
    pub menuconfig: bool,
    /// Everything the entry depends on: enclosing `if`/`menu`/`choice` conditions first, then
    /// its own `depends on` lines. All must hold.
    pub depends: Vec<Expr>,
    pub selects: Vec<Select>,
    /// The choice block this entry is a member of (ids are unique within one tree).
    pub choice: Option<usize>,
}

/// Options for [`KconfigTree::load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Read only this architecture below `arch/` (e.g. `arm64`), as the kernel's own Kconfig
    /// does for one build. `None` reads every architecture.
    pub arch: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} has no top-level Kconfig file: give the root of a kernel source tree \
         (e.g. `git archive <rev> | tar -x -C DIR`)"
    )]
    NotAKernelTree { path: PathBuf },
    #[error("{path} has no arch/{arch} directory: the tree does not support that architecture")]
    NoSuchArch { path: PathBuf, arch: String },
    #[error("{path} is {kind}, not a regular file: a Kconfig file must be a regular file")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{path} is larger than {limit} bytes: no kernel Kconfig file comes close \
         (the largest is about 100 KiB); is the tree damaged?"
    )]
    FileTooLarge { path: PathBuf, limit: u64 },
    #[error(
        "the Kconfig files below {path} hold more than {limit} bytes together (a kernel's \
         hold about 6 MiB): give the root of a kernel source tree"
    )]
    TreeTooLarge { path: PathBuf, limit: u64 },
    #[error("{path}:{line}: {source}")]
    ExpressionTooDeep {
        path: PathBuf,
        line: usize,
        source: TooDeep,
    },
}

/// Every symbol of a kernel tree, with where it is defined and what it depends on.
#[derive(Debug, Clone, Default)]
pub struct KconfigTree {
    root: PathBuf,
    files: usize,
    symbols: BTreeMap<String, Vec<Definition>>,
}

impl KconfigTree {
    /// Read every `Kconfig*` file below `root` (all architectures).
    pub fn load(root: &Path) -> Result<Self, TreeError> {
        Self::load_with(root, &LoadOptions::default())
    }

    pub fn load_with(root: &Path, options: &LoadOptions) -> Result<Self, TreeError> {
        if !root.join("Kconfig").is_file() {
            return Err(TreeError::NotAKernelTree {
                path: root.to_path_buf(),
            });
        }
        if let Some(arch) = &options.arch
            && !root.join("arch").join(arch).is_dir()
        {
            return Err(TreeError::NoSuchArch {
                path: root.to_path_buf(),
                arch: arch.clone(),
            });
        }
        let mut paths = Vec::new();
        collect_kconfig_files(root, root, options, &mut paths)?;
        paths.sort();
        let mut sources = Vec::with_capacity(paths.len());
        let mut total = 0u64;
        for path in paths {
            let bytes = read_regular(&path, MAX_KCONFIG_FILE_BYTES).map_err(|err| match err {
                ReadError::Io(source) => TreeError::Read {
                    path: path.clone(),
                    source,
                },
                ReadError::NotRegular(kind) => TreeError::NotRegular {
                    path: path.clone(),
                    kind,
                },
                ReadError::TooLarge(limit) => TreeError::FileTooLarge {
                    path: path.clone(),
                    limit,
                },
            })?;
            total += bytes.len() as u64;
            if total > MAX_KCONFIG_TREE_BYTES {
                return Err(TreeError::TreeTooLarge {
                    path: root.to_path_buf(),
                    limit: MAX_KCONFIG_TREE_BYTES,
                });
            }
            sources.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
        // Errors name the file as found (under `root`); definitions keep the path relative to
        // the tree, as the kernel's own messages do.
        let mut tree = Self::try_from_sources(sources.iter().map(|(path, text)| {
            let relative = path.strip_prefix(root).unwrap_or(path);
            ((relative, path.as_path()), text)
        }))?;
        tree.root = root.to_path_buf();
        Ok(tree)
    }

    /// Build a tree from in-memory Kconfig texts (path, text); paths are used in messages.
    ///
    /// An expression nested deeper than [`MAX_EXPR_DEPTH`](crate::MAX_EXPR_DEPTH) is kept
    /// opaque (never evaluated, so it never warns); [`KconfigTree::load_with`] reports it as
    /// an error naming the file and line instead.
    pub fn from_sources<I, P, S>(sources: I) -> Self
    where
        I: IntoIterator<Item = (P, S)>,
        P: AsRef<Path>,
        S: AsRef<str>,
    {
        let mut tree = KconfigTree::default();
        let mut choice_base = 0;
        for (path, text) in sources {
            let opaque = |_: TooDeepAt, text: &str| {
                Ok::<_, Infallible>(Expr::Opaque(text.trim().to_string()))
            };
            let Ok((definitions, choices)) =
                parse_file(path.as_ref(), text.as_ref(), choice_base, opaque);
            tree.add_file(definitions);
            choice_base += choices;
        }
        tree
    }

    /// [`KconfigTree::from_sources`], but an expression nested too deep is an error naming
    /// `error_path:line`. Each source is ((path in definitions, path in errors), text).
    fn try_from_sources<'a, I, S>(sources: I) -> Result<Self, TreeError>
    where
        I: IntoIterator<Item = ((&'a Path, &'a Path), S)>,
        S: AsRef<str>,
    {
        let mut tree = KconfigTree::default();
        let mut choice_base = 0;
        for ((path, error_path), text) in sources {
            let (definitions, choices) = parse_file(path, text.as_ref(), choice_base, |at, _| {
                Err(TreeError::ExpressionTooDeep {
                    path: error_path.to_path_buf(),
                    line: at.line,
                    source: at.source,
                })
            })?;
            tree.add_file(definitions);
            choice_base += choices;
        }
        Ok(tree)
    }

    fn add_file(&mut self, definitions: Vec<Definition>) {
        self.files += 1;
        for definition in definitions {
            self.symbols
                .entry(definition.name.clone())
                .or_default()
                .push(definition);
        }
    }

    /// The directory the tree was loaded from (empty for [`KconfigTree::from_sources`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many `Kconfig*` files were read.
    pub fn file_count(&self) -> usize {
        self.files
    }

    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the tree defines the symbol (case-sensitive, without `CONFIG_`).
    pub fn defines(&self, symbol: &str) -> bool {
        self.symbols.contains_key(symbol)
    }

    /// All definitions of a symbol.
    pub fn definitions(&self, symbol: &str) -> &[Definition] {
        self.symbols.get(symbol).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A defined symbol that differs from `symbol` only in case (`RROS` -> `Rros`).
    pub fn spelled_differently(&self, symbol: &str) -> Option<&str> {
        self.symbols
            .keys()
            .find(|name| name.as_str() != symbol && name.eq_ignore_ascii_case(symbol))
            .map(String::as_str)
    }

    /// Every definition of every symbol.
    pub(crate) fn all_definitions(&self) -> impl Iterator<Item = &Definition> {
        self.symbols.values().flatten()
    }

    /// Members of a choice block, by choice id.
    pub(crate) fn choice_members(&self, choice: usize) -> impl Iterator<Item = &Definition> {
        self.symbols
            .values()
            .flatten()
            .filter(move |definition| definition.choice == Some(choice))
    }
}

fn collect_kconfig_files(
    root: &Path,
    dir: &Path,
    options: &LoadOptions,
    out: &mut Vec<PathBuf>,
) -> Result<(), TreeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TreeError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| TreeError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type().map_err(|source| TreeError::Read {
            path: path.clone(),
            source,
        })?;
        // Symlinked directories are not followed: kernel trees use them for aliases (the Pi
        // tree's arch/arm64/boot/dts/overlays), and following could loop.
        if file_type.is_dir() {
            if let Some(arch) = &options.arch
                && dir == root.join("arch")
                && name != arch.as_str()
            {
                continue;
            }
            collect_kconfig_files(root, &path, options, out)?;
        } else if name.starts_with("Kconfig") && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}
