# Recipes whose sources are files of the meta-rros repository itself: the Cargo workspace
# (crates/on-target/, what runs on the board), the board profiles (board/) and the systemd units of rros-validate.
#
# The layer sits inside that repository (RROS_REPO_ROOT, set in conf/layer.conf), so plain
# `file://` URLs find them. The commit that holds a recipe holds its sources too: nothing to pin
# or bump, no download, and BitBake checksums every file it copies, so editing the workspace
# rebuilds exactly the recipes that use it. Why not a git SRC_URI or externalsrc:
# docs/image.md, "Where the Rust recipes take their sources".

# A class, not a bbappend, adds the path on purpose: it is the recipes' own source location.
# nooelint: oelint.vars.fileextrapaths oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${RROS_REPO_ROOT}:"

# A recipe used from a copy of the layer alone would otherwise fail later with "file not found".
# nooelint: oelint.task.noanonpython
python __anonymous() {
    import os
    root = d.getVar('RROS_REPO_ROOT') or ''
    missing = [p for p in ('crates/on-target/Cargo.toml', 'crates/on-target/Cargo.lock', 'board') if not os.path.exists(os.path.join(root, p))]
    if missing:
        raise bb.parse.SkipRecipe('%s builds from the meta-rros repository around the layer, but %s has no %s: '
                                  'use the layer from a clone of the whole repository' % (d.getVar('PN'), root, ', '.join(missing)))
}
