"""Build the WebAssembly CPU kernels: web/wasm/*.c -> web/src/wasm/{simd,relaxed}.wasm + build.json.

    pip install ziglang==0.17.0          # the pinned compiler (clang for wasm32, from PyPI; extra "wasm-build")
    python scripts/build_wasm.py         # rebuild; commit the .wasm files and build.json
    python scripts/build_wasm.py --check # exit 1 when a source changed since the last build

Two builds of the same sources: ``simd`` (WebAssembly SIMD128, every browser with wasm SIMD) and
``relaxed`` (-mrelaxed-simd: fused multiply-add where the CPU has it), which the runtime prefers when
``WebAssembly.validate`` accepts it. build.json records the compiler, the flags and the SHA-256 of every
source and output, so a test (tests/browser/test_wasm_build.py) fails when the sources change without a
rebuild. Users and CI never compile: the binaries are committed and copied into every bundle.
"""
import argparse
import hashlib
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "web" / "wasm"
OUT = ROOT / "web" / "src" / "wasm"
ZIGLANG = "0.17.0"
FLAGS = ["--target=wasm32-freestanding", "-O3", "-msimd128", "-mbulk-memory", "-nostdlib", "-std=c11",
         "-Wall", "-Wextra", "-Werror", "-Wl,--no-entry", "-Wl,--export=__heap_base", "-Wl,--strip-all",
         "-Wl,-z,stack-size=65536"]
VARIANTS = {"simd": [], "relaxed": ["-mrelaxed-simd", "-DPYML_RELAXED"]}


def sources():
    """The kernel sources, sorted: every .c and .h under web/wasm."""
    return sorted(p for p in SOURCES.iterdir() if p.suffix in (".c", ".h"))


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record():
    """What build.json says about the sources now: ``{relative path: sha256}``."""
    return {p.relative_to(ROOT).as_posix(): digest(p) for p in sources()}


def build():
    try:
        version = metadata.version("ziglang")
    except metadata.PackageNotFoundError:
        sys.exit(f"build_wasm: the compiler is missing; pip install ziglang=={ZIGLANG}")
    if version != ZIGLANG:
        sys.exit(f"build_wasm: ziglang {version} is installed; the build is pinned to {ZIGLANG} "
                 f"(pip install ziglang=={ZIGLANG}) so that its output matches build.json")
    OUT.mkdir(parents=True, exist_ok=True)
    c_files = [str(p) for p in sources() if p.suffix == ".c"]
    outputs = {}
    for name, extra in VARIANTS.items():
        target = OUT / f"{name}.wasm"
        command = [sys.executable, "-m", "ziglang", "cc", *FLAGS, *extra, "-o", str(target), *c_files]
        subprocess.run(command, check=True, cwd=ROOT)
        outputs[target.relative_to(ROOT).as_posix()] = digest(target)
    manifest = {"compiler": f"ziglang=={ZIGLANG}", "flags": FLAGS, "variants": VARIANTS,
                "sources": record(), "outputs": outputs}
    (OUT / "build.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for path, sha in outputs.items():
        print(f"{path}  {(ROOT / path).stat().st_size:,} bytes  sha256 {sha[:16]}")


def check():
    """0 when build.json matches the sources and the committed binaries, else 1 with what differs."""
    built = json.loads((OUT / "build.json").read_text())
    stale = sorted({path for path, _ in set(record().items()) ^ set(built["sources"].items())})
    wrong = [path for path, sha in built["outputs"].items() if not (ROOT / path).is_file() or digest(ROOT / path) != sha]
    for path in stale:
        print(f"changed since the last build: {path}")
    for path in wrong:
        print(f"does not match build.json: {path}")
    return 1 if stale or wrong else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the binaries are up to date")
    if parser.parse_args().check:
        sys.exit(check())
    build()
