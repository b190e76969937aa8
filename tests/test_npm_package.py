"""web/ is the npm package ``pyml-runtime``, and it is the runtime every bundle carries.

- package.json: ESM, zero dependencies, pyml's version, a license, an ``exports`` map whose targets (types first,
  as TypeScript resolves them) exist and ship, and ``main``/``types`` that agree with it.
- Its ``files`` globs select exactly the runtime: every module and wasm build that ``webexport`` copies into a
  bundle, the types and the README; no tests, C sources or build records.
- ``npm pack --dry-run --json`` (run when npm is on PATH, else this fails saying how to install it;
  scripts/test.sh installs it) packs that same list, with nothing bundled.
- A bundle's ``runtime/`` folder holds the package's modules, line for line less the comment-only lines
  (webexport.jsstrip), and its wasm builds byte for byte: one runtime, not two copies that can drift.
"""
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import pyml
from webexport import export
from webexport.bundle import runtime_dir
from webexport.jsstrip import strip_comment_lines

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
PACKAGE = json.loads((WEB / "package.json").read_text())
ALWAYS_PACKED = {"package.json", "README.md"}  # npm adds these whatever `files` says


@pytest.fixture(scope="module")
def bundle_runtime(tmp_path_factory):
    """The runtime/ folder of a freshly exported bundle: {relative path: bytes}."""
    model = pyml.Sequential([pyml.Input((3,)), pyml.layers.Dense(2)])
    out = export(model, tmp_path_factory.mktemp("bundle") / "model")
    return {p.relative_to(out / "runtime").as_posix(): p.read_bytes() for p in (out / "runtime").rglob("*") if p.is_file()}


def expected_files(bundle_runtime):
    """What the package must ship: the bundle's runtime under src/, the types, package.json and README."""
    types = {f"types/{p.name}" for p in (WEB / "types").glob("*.d.ts")}
    return {f"src/{name}" for name in bundle_runtime} | types | ALWAYS_PACKED


def test_package_json_is_an_esm_package_without_dependencies():
    assert PACKAGE["name"] == "pyml-runtime" and PACKAGE["type"] == "module"
    pyml_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert PACKAGE["version"] == pyml_version, "the runtime ships with pyml: keep web/package.json's version pyml's"
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", PACKAGE["version"])
    assert PACKAGE.get("license") and PACKAGE.get("description")
    for field in ("dependencies", "peerDependencies", "optionalDependencies", "bundleDependencies", "scripts"):
        assert field not in PACKAGE, f"web/package.json must have no {field}: the runtime is plain ES modules"
    assert PACKAGE["sideEffects"] is False


def test_exports_map_points_at_shipped_files_types_first(bundle_runtime):
    shipped = expected_files(bundle_runtime)
    exports = PACKAGE["exports"]
    assert "." in exports
    for entry, target in exports.items():
        targets = [target] if isinstance(target, str) else list(target.values())
        if isinstance(target, dict):
            assert list(target)[0] == "types" and list(target)[-1] == "default", \
                f'exports["{entry}"]: TypeScript needs "types" first and "default" last; got {list(target)}'
        for path in targets:
            assert path.startswith("./") and path[2:] in shipped, f'exports["{entry}"] -> {path} is not in the package'
    assert PACKAGE["main"] == exports["."]["default"] and PACKAGE["types"] == exports["."]["types"]


def test_files_globs_select_exactly_the_runtime(bundle_runtime):
    selected = set(ALWAYS_PACKED)
    for pattern in PACKAGE["files"]:
        for match in WEB.glob(pattern):  # a folder brings everything under it, as npm packs it
            selected |= {p.relative_to(WEB).as_posix() for p in [match, *match.rglob("*")] if p.is_file()}
    want = expected_files(bundle_runtime)
    assert selected == want, f"only selected by files: {sorted(selected - want)}; missing: {sorted(want - selected)}"


def test_bundle_runtime_is_the_package_source_less_its_comment_lines(bundle_runtime):
    source = runtime_dir()
    assert source == WEB / "src", f"webexport copies the runtime from {source}, not the package's web/src"
    for name, data in bundle_runtime.items():
        original = source / name
        if name.endswith(".js"):
            want = strip_comment_lines(original.read_text(encoding="utf-8"), name)
            assert data.decode("utf-8") == want, f"the bundle's runtime/{name} is not web/src/{name} less its comments"
        else:
            assert data == original.read_bytes(), f"the bundle's runtime/{name} differs from web/src/{name}"


def npm():
    path = shutil.which("npm")
    if path is None:
        pytest.fail("npm is not installed, so `npm pack` cannot be checked: install Node.js with npm (Debian/Ubuntu: "
                    "apt-get install npm; scripts/test.sh does it when it can be root)", pytrace=False)
    return path


def test_npm_pack_dry_run_ships_only_the_runtime(bundle_runtime, tmp_path):
    # A private cache and no network: pack reads only the folder.
    result = subprocess.run([npm(), "pack", "--dry-run", "--json", "--ignore-scripts", "--offline",
                             f"--cache={tmp_path / 'npm-cache'}"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"npm pack --dry-run failed:\n{result.stderr}"
    (packed,) = json.loads(result.stdout)
    assert packed["name"] == PACKAGE["name"] and packed["version"] == PACKAGE["version"]
    assert packed["bundled"] == []
    files = {entry["path"] for entry in packed["files"]}
    want = expected_files(bundle_runtime)
    assert files == want, f"npm packs these too: {sorted(files - want)}; and misses: {sorted(want - files)}"
    assert all(not re.search(r"(^|/)(tests?|__pycache__)/", f) for f in files)


def test_the_package_entry_exports_what_its_types_declare():
    """Without a browser: the names index.js exports (its `export {...} from` lists and `export const/function`)
    are the names types/index.d.ts declares (the browser suite checks the loaded module the same way)."""
    for entry, target in PACKAGE["exports"].items():
        if not isinstance(target, dict):
            continue
        js = (WEB / target["default"]).read_text()
        exported = {name.strip().split(" as ")[-1] for group in re.findall(r"^export \{([^}]*)\}", js, re.M)
                    for name in group.split(",")}
        exported |= set(re.findall(r"^export (?:async )?(?:function|const|class) (\w+)", js, re.M))
        declared = set(re.findall(r"^export (?:declare )?(?:function|const|class) (\w+)",
                                  (WEB / target["types"]).read_text(), re.M))
        assert exported == declared, f'exports["{entry}"]: only in JS {exported - declared}; only in types {declared - exported}'


def test_every_dynamic_import_names_its_module_literally():
    """Bundlers (Vite, webpack) emit only the modules whose specifier they can read: an import(`./cpu/${x}.js`)
    template is left for the browser to resolve beside the bundled output, where the module is not (Vite 8)."""
    for path in sorted((WEB / "src").rglob("*.js")):
        code = strip_comment_lines(path.read_text(encoding="utf-8"), path.name)
        for call in re.findall(r"\bimport\(\s*([^)]{0,60})", code):
            assert re.match(r"""(["'])\./[\w./-]+\.js\1\s*$""", call), \
                f"{path.relative_to(ROOT)}: import({call}) is not a literal relative specifier"
