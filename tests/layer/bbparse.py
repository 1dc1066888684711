#!/usr/bin/env python3
"""Parse every BitBake file of meta-rros with the real BitBake parser, without upstream layers.

CI has no OE-Core, BSP layers or network, so recipes cannot be fully evaluated (their
`inherit kernel`, `require recipes-kernel/...` point outside this layer). What can be checked,
and is, with BitBake's own parser (the `bb` package vendored by PyPI's `bitbake-setup`):

* every .bb/.bbappend/.bbclass/.inc is split into statements by BitBake's BBHandler, every
  .conf by its ConfHandler: unparsed lines, unclosed functions, bad continuations and
  misplaced comments fail as they would in a build;
* the statements are evaluated into a datastore (includes/inherits skipped), which compiles
  every python function and anonymous python block, and every `${@...}` inline expression is
  compiled too;
* shell functions go through `bash -n`;
* the Yocto 6.0 rules this layer must follow: layer.conf declares collection `rros`,
  LAYERSERIES_COMPAT wrynose and LAYERDEPENDS core; git SRC_URIs carry `branch=` or
  `nobranch=1`; no `S = "${WORKDIR}..."`; .wks files live in files/wic/.

Usage: bbparse.py [LAYER_DIR]   (default: meta-rros next to this repository's tests/)
Exit status: 0 clean, 1 problems found, 2 could not run (bb not importable).
"""

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

# bitbake-setup vendors `bb` but not the `hashserv` package that bb.siggen imports at load
# time for hash-equivalence servers. Parsing never talks to one: stand in empty modules.
if "hashserv" not in sys.modules:
    import types

    _hashserv = types.ModuleType("hashserv")
    _hashserv.client = types.ModuleType("hashserv.client")
    sys.modules["hashserv"] = _hashserv
    sys.modules["hashserv.client"] = _hashserv.client

try:
    import bb
    import bb.data
    import bb.parse
    import bb.parse.ast as bbast
    from bb.parse.parse_py import BBHandler, ConfHandler
except ImportError as err:  # pragma: no cover - environment problem, not a layer problem
    print(f"bbparse: cannot import BitBake's parser ({err}); install it with "
          "`pip install bitbake-setup` (it ships the `bb` package)", file=sys.stderr)
    sys.exit(2)

BB_SUFFIXES = (".bb", ".bbappend", ".bbclass", ".inc")
SKIPPED_NODES = (
    bbast.IncludeNode,
    bbast.IncludeAllNode,
    bbast.InheritNode,
    bbast.InheritDeferredNode,
    bbast.PyLibNode,
    bbast.AddFragmentsNode,
    bbast.ExportFuncsNode,
)
INLINE_PYTHON = re.compile(r"\$\{@(?:\{.*?\}|.)+?\}", re.S)
S_WORKDIR = re.compile(r'^\s*S\s*[:?]?=\s*"\$\{WORKDIR\}', re.M)


class Problems:
    def __init__(self):
        self.items = []

    def add(self, path, message):
        self.items.append(f"{path}: {message}")


class CaptureHandler(logging.Handler):
    """Collect BitBake's own warnings and errors (bb.warn/bb.error/bb.fatal log first)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def logical_conf_lines(text):
    """ConfHandler's line joining: backslash continuation, comments skipped."""
    lineno = 0
    lines = io.StringIO(text)
    while True:
        line = lines.readline()
        if not line:
            return
        lineno += 1
        start = lineno
        s = line.rstrip()
        while s.endswith("\\"):
            nxt = lines.readline()
            if not nxt:
                break
            lineno += 1
            s = s[:-1] + nxt.rstrip()
        if not s or s.lstrip().startswith("#"):
            continue
        yield start, s


def statements_for(path):
    """Split a file into BitBake statements with BitBake's own parser."""
    if path.suffix == ".conf":
        statements = bbast.StatementGroup()
        baseconfig = path.name == "layer.conf"
        for lineno, line in logical_conf_lines(path.read_text()):
            ConfHandler.feeder(lineno, line, str(path), statements, baseconfig=baseconfig)
        return statements
    # BBHandler keeps its parse state in module globals; a file that failed half-way must
    # not leak into the next one.
    BBHandler.cached_statements.pop(str(path), None)
    for name, empty in (("__infunc__", []), ("__body__", []), ("__residue__", []),
                        ("__inpython__", False)):
        setattr(BBHandler, name, empty)
    return BBHandler.get_statements(str(path), str(path), path.stem)


def evaluate(path, statements, problems):
    """Evaluate what needs no other layer; compile every python piece."""
    d = bb.data.init()
    d.setVar("FILE", str(path))
    for node in statements:
        if isinstance(node, SKIPPED_NODES):
            continue
        try:
            node.eval(d)
        except Exception as err:  # noqa: BLE001 - report whatever BitBake raises
            problems.add(f"{path}:{node.lineno}", f"cannot evaluate: {err}")
    for name in d.keys():
        for flag in [None] + list((d.getVarFlags(name, internalflags=False) or {}).keys()):
            value = d.getVar(name, False) if flag is None else d.getVarFlag(name, flag, False)
            if not isinstance(value, str):
                continue
            is_func = flag is None and d.getVarFlag(name, "func", False)
            if is_func and not d.getVarFlag(name, "python", False):
                check_shell(path, name, value, problems)
                continue
            if is_func and not value.lstrip().startswith("def "):
                # `python name() { ... }`: BitBake wraps the body the same way when it runs it.
                try:
                    compile(f"def {name.replace('-', '_')}(d):\n{value}\n    pass\n",
                            str(path), "exec")
                except SyntaxError as err:
                    problems.add(path, f"python function {name} does not compile: "
                                       f"{err.msg} (line {err.lineno})")
            for expr in INLINE_PYTHON.findall(value):
                code = expr[3:-1]
                try:
                    compile(code.strip(), f"{path}:{name}", "eval")
                except SyntaxError as err:
                    where = name if flag is None else f"{name}[{flag}]"
                    problems.add(path, f"{where}: inline python `{expr}` does not compile: {err.msg}")
    return d


def check_shell(path, name, body, problems):
    # Inline python and BitBake variables are expanded before the shell sees the function;
    # replace them by a harmless word so bash checks only the shell syntax.
    text = INLINE_PYTHON.sub("x", body)
    result = subprocess.run(["bash", "-n"], input=f"{name}() {{\n{text}\n}}\n",
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        problems.add(path, f"shell function {name}: {result.stderr.strip()}")


def check_layer_conf(path, d, problems):
    collections = (d.getVar("BBFILE_COLLECTIONS", False) or "").split()
    if "rros" not in collections:
        problems.add(path, "BBFILE_COLLECTIONS must contain `rros`")
    compat = (d.getVar("LAYERSERIES_COMPAT_rros", False) or "").split()
    if "wrynose" not in compat:
        problems.add(path, "LAYERSERIES_COMPAT_rros must name wrynose (Yocto 6.0)")
    depends = (d.getVar("LAYERDEPENDS_rros", False) or "").split()
    if "core" not in depends:
        problems.add(path, "LAYERDEPENDS_rros must contain `core`")


def check_recipe_rules(path, text, d, problems):
    if S_WORKDIR.search(text):
        problems.add(path, 'S = "${WORKDIR}/..." is an error since Yocto 5.3: git sources '
                           "unpack to ${BP}, other sources below ${UNPACKDIR}")
    for var in ("SRC_URI", "SRC_URI:append", "SRC_URI:prepend"):
        for name in [k for k in d.keys() if k == var or k.startswith(var + ":")]:
            value = d.getVar(name, False) or ""
            for uri in value.split():
                if uri.startswith(("git://", "gitsm://")):
                    params = uri.split(";")[1:]
                    if not any(p.startswith("branch=") or p == "nobranch=1" for p in params):
                        problems.add(path, f"{uri}: a git SRC_URI needs `branch=` or "
                                           "`nobranch=1` (Yocto 5.2+)")


def check_file(path, problems, capture):
    before = len(capture.records)
    try:
        statements = statements_for(path)
    except Exception as err:  # noqa: BLE001 - ParseError, BBHandledException (bb.fatal), ...
        problems.add(path, f"BitBake cannot parse it: {err}")
        return
    d = evaluate(path, statements, problems)
    if path.name == "layer.conf":
        check_layer_conf(path, d, problems)
    if path.suffix in BB_SUFFIXES:
        check_recipe_rules(path, path.read_text(), d, problems)
    for record in capture.records[before:]:
        problems.add(path, f"BitBake {record.levelname.lower()}: {record.getMessage()}")


def main(argv):
    here = Path(__file__).resolve().parent
    layer = Path(argv[1]) if len(argv) > 1 else here.parent.parent / "meta-rros"
    if not (layer / "conf" / "layer.conf").is_file():
        print(f"bbparse: {layer} is not a layer (no conf/layer.conf)", file=sys.stderr)
        return 2

    capture = CaptureHandler()
    logger = logging.getLogger("BitBake")
    logger.addHandler(capture)
    logger.setLevel(logging.WARNING)
    logger.propagate = False

    problems = Problems()
    # BitBake .conf files live in conf/; elsewhere (recipe files/ folders) a .conf is data
    # for the target, such as a sysctl.d file.
    files = sorted(p for p in layer.rglob("*")
                   if p.is_file() and (p.suffix in BB_SUFFIXES
                                       or (p.suffix == ".conf" and "conf" in p.relative_to(layer).parts[:1])))
    for path in files:
        check_file(path, problems, capture)
    for wks in sorted(layer.rglob("*.wks*")):
        if wks.parent != layer / "files" / "wic":
            problems.add(wks, "wks files must live in files/wic/ of the layer (Yocto 6.0)")

    for item in problems.items:
        print(item)
    print(f"bbparse: {len(files)} file(s) of {layer.name} parsed with BitBake "
          f"{bb.__version__}: {len(problems.items)} problem(s)")
    return 1 if problems.items else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
