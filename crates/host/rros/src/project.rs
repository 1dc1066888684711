//! Finding the meta-rros checkout the commands work on.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The project root: `explicit` when given, else the nearest ancestor of the current directory
/// that holds both `board/` and `meta-rros/`.
pub fn root(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if !dir.join("board").is_dir() {
            bail!(
                "{} has no board/ folder; --root (or RROS_ROOT) must name the meta-rros checkout",
                dir.display()
            );
        }
        return Ok(dir.to_owned());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    cwd.ancestors()
        .find(|dir| dir.join("board").is_dir() && dir.join("meta-rros").is_dir())
        .map(Path::to_owned)
        .with_context(|| {
            format!(
                "no meta-rros checkout (a folder with board/ and meta-rros/) at or above {}; run inside the checkout or pass --root DIR",
                cwd.display()
            )
        })
}
