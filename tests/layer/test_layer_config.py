"""Consistency of the layer's configuration files with each other, without upstream layers.

* kas/rros.conf.json (bitbake-setup): its shape per BitBake 2.18's setup schema, its layer pins
  equal to the kas files', one configuration per board profile with fragments that exist.
  With BITBAKE_SETUP_SCHEMA_DIR naming a folder with bitbake-setup.schema.json and
  layers.schema.json (BitBake's setup-schema/) and the jsonschema package, it is also validated
  against the schema itself (docs/image.md shows how; CI has no copy of BitBake's repository).
* the board fragments, the kas overlays and the recipes' version against the workspace.
"""

import json
import os
import re
import tomllib
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LAYER = ROOT / "meta-rros"
CONF_JSON = ROOT / "kas" / "rros.conf.json"
BOARDS = sorted(p.stem for p in (ROOT / "board").glob("*.toml"))
SHA1 = re.compile(r"^[0-9a-f]{40}$")


def include(board):
    text = (LAYER / "conf" / "rros-boards" / f"{board}.inc").read_text()
    return dict(re.findall(r'^([A-Z_][A-Z0-9_]*) = "(.*)"$', text, re.M))


def kas_repos():
    """{repo: (url, branch, commit)} over every kas file (a repo pinned twice must agree)."""
    repos = {}
    for path in sorted((ROOT / "kas").glob("*.yml")):
        for name, url, branch, commit in re.findall(
                r'^  ([\w-]+):\n    url: (\S+)\n    branch: "?([^"\n]+)"?\n    commit: (\w+)',
                path.read_text(), re.M):
            if name in repos and repos[name] != (url, branch, commit):
                raise AssertionError(f"{name} is pinned differently in {path.name}")
            repos[name] = (url, branch, commit)
    return repos


def flatten(configs):
    """bitbake-setup's own flattening: a parent's lists are prepended to each child's."""
    out = []
    for c in configs:
        if "configurations" not in c:
            out.append(c)
            continue
        for child in flatten(c["configurations"]):
            merged = {k: v for k, v in c.items() if k != "configurations"}
            for k, v in child.items():
                merged[k] = merged[k] + v if k in merged else v
            out.append(merged)
    return out


class BitbakeSetupConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = json.loads(CONF_JSON.read_text())
        cls.configs = flatten(cls.doc["bitbake-setup"]["configurations"])

    def test_shape(self):
        doc = self.doc
        self.assertEqual(doc["version"], "1.0")
        self.assertTrue(doc["description"])
        self.assertLessEqual(set(doc), {"version", "description", "sources", "expires", "bitbake-setup"})
        self.assertRegex(doc["expires"], r"^\d{4}-\d{2}-\d{2}$")
        allowed = {"name", "description", "bb-layers", "bb-layers-file-relative", "oe-template",
                   "oe-fragments", "oe-fragments-one-of", "configurations",
                   "bb-env-passthrough-additions", "setup-dir-name"}

        def walk(configs):
            for c in configs:
                self.assertLessEqual(set(c), allowed, c)
                walk(c.get("configurations", []))
        walk(doc["bitbake-setup"]["configurations"])
        for name, source in doc["sources"].items():
            self.assertEqual(set(source), {"git-remote"}, name)
            self.assertLessEqual(set(source["git-remote"]), {"uri", "branch", "rev"}, name)
            self.assertRegex(source["git-remote"]["rev"], SHA1, name)

    def test_pins_are_the_kas_pins(self):
        repos = kas_repos()
        for name, source in self.doc["sources"].items():
            remote = source["git-remote"]
            self.assertIn(name, repos, f"{name} is not pinned in kas/")
            self.assertEqual((remote["uri"], remote["branch"], remote["rev"]), repos[name], name)
        # Every upstream layer of the board kas files is a source (overlays are optional).
        self.assertEqual(set(self.doc["sources"]), set(repos) - {"meta-rust-bin"})

    def test_one_configuration_per_board(self):
        self.assertEqual(sorted(c["name"] for c in self.configs), sorted(f"rros-{b}" for b in BOARDS))
        for c in self.configs:
            board = c["name"][len("rros-"):]
            with self.subTest(board):
                # The i.MX8MP cannot unpack NXP's firmware without the EULA accepted
                # (fsl-eula-unpack); meta-freescale's own fragment says so, as the kas file does.
                extra = ["freescale-layer/eula/accept-fsl-eula"] if board == "imx8mp-evk" else []
                self.assertEqual(c["oe-fragments"], [f"machine/{include(board)['RROS_BOARD_MACHINE']}",
                                                     "distro/rros", f"rros/board/{board}"] + extra)
                fragment = LAYER / "conf" / "fragments" / "board" / f"{board}.conf"
                self.assertIn(f'RROS_BOARD = "{board}"', fragment.read_text())
                for layer in c["bb-layers"]:
                    self.assertIn(layer.split("/")[0], self.doc["sources"], layer)
                self.assertIn("openembedded-core/meta", c["bb-layers"])
                for rel in c["bb-layers-file-relative"]:
                    self.assertTrue((CONF_JSON.parent / rel / "conf" / "layer.conf").is_file(), rel)

    def test_board_layers_match_the_kas_files(self):
        for c in self.configs:
            board = c["name"][len("rros-"):]
            kas = (ROOT / "kas" / f"{board}.yml").read_text()
            bsp = {layer for layer in c["bb-layers"] if layer != "openembedded-core/meta"}
            self.assertEqual(bsp, set(re.findall(r"^  (meta-[\w-]+):$", kas, re.M)), board)

    def test_against_bitbakes_schema(self):
        schema_dir = os.environ.get("BITBAKE_SETUP_SCHEMA_DIR")
        if not schema_dir:
            self.skipTest("BITBAKE_SETUP_SCHEMA_DIR not set")
        import jsonschema
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
        schema = json.loads((Path(schema_dir) / "bitbake-setup.schema.json").read_text())
        layers = json.loads((Path(schema_dir) / "layers.schema.json").read_text())
        registry = Registry().with_resource(
            "layers.schema.json", Resource.from_contents(layers, default_specification=DRAFT202012))
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = [e.message for e in validator.iter_errors(self.doc)]
        self.assertEqual(errors, [])
        self.assertTrue(list(validator.iter_errors({**self.doc, "unknown": 1})))


class Fragments(unittest.TestCase):
    def test_every_board_has_a_fragment_and_no_fragment_lacks_a_board(self):
        fragments = sorted(p.stem for p in (LAYER / "conf" / "fragments" / "board").glob("*.conf"))
        self.assertEqual(fragments, BOARDS)

    def test_fragments_are_described(self):
        for path in (LAYER / "conf" / "fragments").rglob("*.conf"):
            text = path.read_text()
            self.assertIn("BB_CONF_FRAGMENT_SUMMARY", text, path)
            self.assertIn("BB_CONF_FRAGMENT_DESCRIPTION", text, path)


class KasOverlays(unittest.TestCase):
    def test_meta_rust_bin_overlay(self):
        text = (ROOT / "kas" / "meta-rust-bin.yml").read_text()
        # The compat must be extended in bblayers.conf: BitBake checks it before local.conf.
        header = text.split("bblayers_conf_header:")[1].split("local_conf_header:")[0]
        self.assertIn('LAYERSERIES_COMPAT_rust-bin-layer:append = " wrynose"', header)
        self.assertIn('RROS_RUST_TOOLCHAIN = "meta-rust-bin"', text)

    def test_the_imx_kas_file_accepts_the_nxp_eula(self):
        # fsl-eula-unpack stops do_unpack of NXP's firmware without it (docs/boards/imx8mp-evk.md).
        text = (ROOT / "kas" / "imx8mp-evk.yml").read_text()
        header = text.split("local_conf_header:")[1]
        self.assertRegex(header, r'(?m)^\s+ACCEPT_FSL_EULA = "1"$')

    def test_development_overlay(self):
        self.assertIn('RROS_DEVELOPMENT = "1"', (ROOT / "kas" / "development.yml").read_text())


class Recipes(unittest.TestCase):
    def test_rros_validate_version_is_the_workspace_version(self):
        # The recipe builds the on-target workspace: its version names the recipe.
        with open(ROOT / "crates" / "on-target" / "Cargo.toml", "rb") as f:
            version = tomllib.load(f)["workspace"]["package"]["version"]
        recipes = list((LAYER / "recipes-rros" / "rros-validate").glob("rros-validate_*.bb"))
        self.assertEqual([r.name for r in recipes], [f"rros-validate_{version}.bb"],
                         "rename the recipe to the workspace version of crates/on-target/Cargo.toml")

    def test_both_workspaces_share_one_version(self):
        versions = {}
        for manifest in (ROOT / "Cargo.toml", ROOT / "crates" / "on-target" / "Cargo.toml"):
            with open(manifest, "rb") as f:
                package = tomllib.load(f)["workspace"]["package"]
            versions[manifest.relative_to(ROOT).as_posix()] = (
                package["version"], package["rust-version"], package["license"])
        self.assertEqual(len(set(versions.values())), 1,
                         f"the host and on-target workspaces disagree: {versions}; give both "
                         "[workspace.package] the same version, rust-version and license")

    def test_the_recipe_fetches_only_the_on_target_workspace(self):
        text = (LAYER / "recipes-rros" / "rros-validate" / "rros-validate_0.1.0.bb").read_text()
        self.assertIn("file://crates/on-target;subdir=rros-workspace", text)
        self.assertNotIn("file://crates;", text, "the host tools must not be fetched")
        self.assertNotIn("file://Cargo.lock", text, "the root lock is the host tools' lock")

    def test_every_delivery_is_handled(self):
        text = (LAYER / "conf" / "distro" / "include" / "rros-cmdline.inc").read_text()
        for board in BOARDS:
            delivery = include(board)["RROS_CMDLINE_DELIVERY"]
            self.assertIn(f":rros-cmdline-{delivery} ", text, f"{board}: {delivery}")

    def test_the_units_the_recipes_install_exist(self):
        units = ROOT / "crates" / "on-target" / "rros-validate" / "systemd"
        for unit in ("rros-tune.service", "rros-validate.service", "rros-validate.timer"):
            self.assertTrue((units / unit).is_file(), unit)


if __name__ == "__main__":
    unittest.main()
