"""What a page downloads to run the digits MLP: the pyml bundle vs TensorFlow.js and ONNX Runtime Web.

    $ npm ci --prefix benchmarks --no-audit --no-fund     # once: the alternatives, pinned in package-lock.json
    $ python benchmarks/bundle_size.py                         # trains the digits MLP briefly, exports, measures
    $ python benchmarks/bundle_size.py --bundle build/digits-demo/model   # measure an existing bundle

Pure file measurement, no browser: raw bytes and ``gzip -9`` bytes of each file a page fetches.

- pyml: the exported bundle: runtime/*.js (WebGPU executor *and* the CPU fallback, unminified, with
  comments), model.json (manifest, graph and the WGSL of every kernel) and weights.bin.
- TensorFlow.js: the files its package.json names for CDN use (``unpkg``): tf-core, tf-backend-webgpu and
  tf-layers ``*.min.js``; a second row gives its smallest flavour (``*.es2017.min.js``). Running on CPU
  as well would add tf-backend-cpu, listed on its own.
- TensorFlow.js on WebAssembly: tf-core, tf-backend-wasm and tf-layers ``*.min.js`` plus the SIMD .wasm
  a page without cross-origin isolation loads (``tfjs-backend-wasm-simd.wasm``).
- ONNX Runtime Web: ort.webgpu.min.mjs plus the WebAssembly module it loads (its glue .mjs and .wasm), and
  the wasm-only build a CPU page would pick (ort.wasm.min.mjs and its own, smaller module).

browser_inference.py measures the bytes each page actually fetched (its network log) on the benchmark
models; this script needs no browser.

The alternatives' totals add the same weight bytes as pyml's weights.bin (float32 weights cost the same in
any format) and leave out their model description (a tfjs model.json, the ONNX graph), which favours them.
The weights do not depend on training, so the default run trains for one epoch only.
"""
import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import common

TFJS_PACKAGES = ("@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-webgpu", "@tensorflow/tfjs-layers")
TFJS_CPU_PACKAGE = "@tensorflow/tfjs-backend-cpu"
TFJS_WASM_PACKAGE = "@tensorflow/tfjs-backend-wasm"
TFJS_WASM_BINARY = "dist/tfjs-backend-wasm-simd.wasm"  # single-threaded SIMD: what a page without COOP/COEP loads
ORT_PACKAGE = "onnxruntime-web"
ORT_WEBGPU_ENTRY = "dist/ort.webgpu.min.mjs"
ORT_WASM_ENTRY = "dist/ort.wasm.min.mjs"


class Part:
    """One row: a name and the bytes it stands for (several files count their gzip sizes separately)."""

    def __init__(self, name, blobs):
        self.name = name
        self.raw = sum(len(b) for b in blobs)
        self.gzip = sum(common.gzip_size(b) for b in blobs)


def pyml_parts(bundle):
    """Rows for a pyml bundle folder: runtime JS, model.json (with its WGSL share), weights.bin."""
    bundle = Path(bundle)
    manifest_bytes = (bundle / "model.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    runtime = sorted((bundle / "runtime").rglob("*.js"))
    if not runtime:
        raise common.BenchmarkError(f"{bundle}/runtime has no .js files: export with include_runtime=True")
    table = manifest["weights"]
    weight_files = [bundle / f["file"] for f in table.get("files", [table])]  # format 2: shards; format 1: "file"
    wgsl = "\n".join(k["wgsl"] for k in manifest["kernels"]).encode("utf-8")
    files = {
        "runtime": Part(f"runtime JS ({len(runtime)} files)", [p.read_bytes() for p in runtime]),
        "manifest": Part("model.json (graph, plan, WGSL)", [manifest_bytes]),
        "weights": Part(", ".join(f.name for f in weight_files), [f.read_bytes() for f in weight_files]),
    }
    wgsl_part = Part(f"  of which WGSL ({len(manifest['kernels'])} kernels)", [wgsl])
    return files, wgsl_part


def dist_file(package, field="unpkg"):
    """The file ``package``'s package.json names for CDN use (``unpkg``), under benchmarks/node_modules."""
    meta = json.loads(common.node_file(f"{package}/package.json").read_text())
    return common.node_file(f"{package}/{meta[field]}")


def tfjs_files(flavour=None):
    """TF.js WebGPU + layers: the CDN ``*.min.js`` files, or the ``*.<flavour>.min.js`` variant."""
    files = [dist_file(p) for p in TFJS_PACKAGES]
    if flavour:
        files = [common.node_file(str(f.relative_to(common.NODE_MODULES)).replace(".min.js", f".{flavour}.min.js"))
                 for f in files]
    return files


def tfjs_wasm_files():
    """TF.js on WebAssembly: core + the wasm backend + layers (CDN files) and the SIMD binary."""
    core, _, layers = tfjs_files()
    return [core, dist_file(TFJS_WASM_PACKAGE), layers, common.node_file(f"{TFJS_WASM_PACKAGE}/{TFJS_WASM_BINARY}")]


def ort_files(entry=ORT_WEBGPU_ENTRY):
    """ONNX Runtime Web: the entry module, and the wasm glue + binary it imports."""
    entry = common.node_file(f"{ORT_PACKAGE}/{entry}")
    found = re.search(rb"ort-wasm-simd-threaded[a-z.]*?\.mjs", entry.read_bytes())
    if found is None:
        raise common.BenchmarkError(f"cannot find which ort-wasm module {entry.name} imports; "
                                    f"onnxruntime-web {common.node_version(ORT_PACKAGE)} changed its layout")
    glue = common.node_file(f"{ORT_PACKAGE}/dist/{found.group().decode()}")
    return [entry, glue, glue.with_suffix(".wasm")]


def measure(bundle):
    """Print the size tables for ``bundle`` and the alternatives; returns {name: (raw, gzip)} totals."""
    parts, wgsl = pyml_parts(bundle)
    weights = parts["weights"]
    pyml_total = (sum(p.raw for p in parts.values()), sum(p.gzip for p in parts.values()))
    pyml_code = (pyml_total[0] - weights.raw, pyml_total[1] - weights.gzip)  # runtime JS + model.json
    rows = [["pyml", p.name, p.raw, p.gzip] for p in (parts["runtime"], parts["manifest"])]
    rows += [["pyml", wgsl.name, wgsl.raw, wgsl.gzip], ["pyml", weights.name, weights.raw, weights.gzip],
             ["pyml", "total", *pyml_total]]

    tfjs_cpu = [dist_file(TFJS_CPU_PACKAGE)]
    alternatives = {  # key: (library, part name, files, label in the ratio table)
        "tfjs": ("TF.js", f"library ({common.node_version(TFJS_PACKAGES[0])}, CDN *.min.js)", tfjs_files(),
                 "TF.js WebGPU + layers (CDN files)"),
        "tfjs_es2017": ("TF.js", "library (*.es2017.min.js)", tfjs_files("es2017"),
                        "TF.js WebGPU + layers (es2017 files)"),
        "tfjs_cpu": ("TF.js", "library + tf-backend-cpu (CDN)", tfjs_files() + tfjs_cpu,
                     "TF.js WebGPU + CPU backends (as pyml ships)"),
        "tfjs_wasm": ("TF.js", "library, wasm backend (CDN) + SIMD .wasm", tfjs_wasm_files(),
                      "TF.js wasm + layers (CDN files)"),
        "ort": ("ORT Web", f"library ({common.node_version(ORT_PACKAGE)}, WebGPU + wasm)", ort_files(),
                "ONNX Runtime Web (WebGPU)"),
        "ort_wasm": ("ORT Web", "library (wasm only)", ort_files(ORT_WASM_ENTRY), "ONNX Runtime Web (wasm)"),
    }
    totals, libraries, ratio_rows = {"pyml": pyml_total}, {}, []
    for key, (library, name, files, label) in alternatives.items():
        lib = libraries[key] = Part(name, [f.read_bytes() for f in files])
        totals[key] = (lib.raw + weights.raw, lib.gzip + weights.gzip)
        rows += [[library, lib.name, lib.raw, lib.gzip], [library, "  + weights (same bytes)", weights.raw, weights.gzip],
                 [library, "  total", *totals[key]]]
        ratio_rows.append([label, common.ratio(totals[key][0], pyml_total[0]),
                           common.ratio(totals[key][1], pyml_total[1]),
                           common.ratio(lib.raw, pyml_code[0]), common.ratio(lib.gzip, pyml_code[1])])
    common.print_table("Bytes a page downloads to run the digits MLP (gzip -9 per file)",
                       ["library", "part", "raw bytes", "gzip bytes"], rows,
                       notes=[f"{library} {name}: {', '.join(f.name for f in files)}"
                              for library, name, files, _ in alternatives.values()])
    runtime = parts["runtime"]
    common.print_table("Ratios: alternative / pyml (above 1 means pyml downloads less)",
                       ["alternative", "total raw", "total gzip", "code raw", "code gzip"], ratio_rows,
                       notes=["total: everything fetched, weights included; code: the library vs pyml's runtime JS + "
                              "model.json (its graph and WGSL are pyml's per-model code)",
                              f"pyml's runtime JS alone: {runtime.raw:,} B raw, {runtime.gzip:,} B gzip, WebGPU and CPU "
                              "backends both; it is not minified, the alternatives are",
                              "the alternatives would also fetch a model description (tfjs model.json, the ONNX graph), "
                              "not counted here"])
    return totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="measure this exported bundle folder instead of training and exporting one")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs when exporting (sizes do not depend on it)")
    args = parser.parse_args(argv)
    print(f"machine: {common.machine_summary()}")
    if args.bundle:
        measure(args.bundle)
        return 0
    with tempfile.TemporaryDirectory(prefix="pyml-bundle-size-") as tmp:
        run = common.digits_bundle(tmp, epochs=args.epochs)
        print(f"digits MLP trained for {args.epochs} epoch(s) (test accuracy {run.accuracy:.1%}), exported to {run.bundle}")
        measure(run.bundle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
