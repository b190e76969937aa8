"""Inference in headless Chromium: pyml vs TensorFlow.js 4.22 and ONNX Runtime Web 1.30, same weights.

    $ npm ci --prefix benchmarks --no-audit --no-fund     # once: TF.js + ORT Web, pinned by package-lock.json
    $ pip install onnx==1.23.2                            # once: writes the ORT models (benchmark-only)
    $ python benchmarks/browser_inference.py              # everything: ~10 min on 2 busy cores
    $ python benchmarks/browser_inference.py --quick --models mlp --cells pyml-cpu,ort-wasm   # < 1 min

Models (benchmarks/models.py, seeded random weights): ``mlp`` 784-512-512-10 and ``convnet``, Keras's MNIST
convnet (``digits``, the demo's 64-64-10, on request). Cells: pyml on each backend its runtime loads
(detected; ``--pyml-backends``), TF.js on wasm, cpu and webgpu (tf.layers + setWeights), ORT Web on wasm
and webgpu (an ONNX export of the same weights). Each cell runs in a fresh headless Chromium (the browser
tests' flags: WebGPU on SwiftShader without a GPU), interleaved over ``--rounds`` rounds, and measures:

- cold: navigation start to the first batch-1 result read back, in a fresh browser and profile (empty
  caches); "load" is the part before the first predict; "own" the part after the page's script starts the
  library (what comes before it, navigation and the page's own module, is the same for every cell);
- warm: median ms of one inference (input upload, run, read back) at each ``--batches`` size, each timed
  sample repeating predict back to back for at least ``--min-sample-ms`` (the page timer is coarse);
- bytes: every response the page fetched up to the first result (the network log), by kind: code (JS),
  wasm, model (graph JSON) and weights (.bin, .onnx); gzip -9 of the same files beside;
- parity: the largest |difference| of each cell's outputs from pyml's Python ``predict`` on the same
  inputs; above 1e-4 is flagged and the script exits 1.

Each cell's figure is the best over the rounds (``--stat median`` for the median). The tables print
pyml / the best incumbent per path: CPU (pyml cpu or wasm vs the best of ort-wasm and tfjs-wasm; tfjs-cpu
for reference) and WebGPU (pyml webgpu vs the best of tfjs-webgpu and ort-webgpu); below 1 means pyml is
faster. ``--json`` writes every round's raw figures. Wasm runs single-threaded unless ``--threads N``
(N > 1), which serves the page cross-origin isolated and asks TF.js and ORT for N threads.
"""
import argparse
import base64
import fnmatch
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse

import numpy as np

import common
import inference_report
import inference_site
import models

PYML_CANDIDATES = ("webgpu", "wasm", "cpu", "js")  # tried in the page; those its runtime refuses are "unavailable"
INCUMBENT_CELLS = ("tfjs-wasm", "ort-wasm", "tfjs-cpu", "tfjs-webgpu", "ort-webgpu")
DEFAULTS = {"rounds": 2, "warmup": 5, "samples": 15, "min_sample_ms": 10.0, "budget_ms": 3000.0}
QUICK = {"rounds": 1, "warmup": 2, "samples": 5, "min_sample_ms": 5.0, "budget_ms": 1000.0}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="cells: pyml-<backend>, " + ", ".join(INCUMBENT_CELLS))
    parser.add_argument("--models", default="mlp,convnet", help=f"comma list of {', '.join(models.MODELS)}")
    parser.add_argument("--batches", default="1,32", help="comma list of batch sizes timed warm")
    parser.add_argument("--cells", default="*", help="comma list of cells or globs (pyml-*, ort-wasm); a library "
                                                     "name alone selects all its cells")
    parser.add_argument("--pyml-backends", default=",".join(PYML_CANDIDATES),
                        help="pyml backends to try; those the runtime refuses are reported unavailable")
    parser.add_argument("--pyml-weights", choices=("float32", "float16", "int8"), default="float32",
                        help="the pyml bundle's weight storage (the others stay float32; below float32 pyml's "
                             "outputs move by more than the 1e-4 parity check allows, which it reports)")
    parser.add_argument("--quick", action="store_true", help="one round, short timings: a first answer fast")
    parser.add_argument("--rounds", type=int, help=f"fresh browsers per cell (default {DEFAULTS['rounds']})")
    parser.add_argument("--warmup", type=int, help="untimed predicts before each warm timing")
    parser.add_argument("--samples", type=int, help="timed samples per warm timing (median taken)")
    parser.add_argument("--min-sample-ms", type=float, help="each sample repeats predict at least this long")
    parser.add_argument("--budget-ms", type=float, help="stop sampling after this long (3 samples at least)")
    parser.add_argument("--stat", choices=("best", "median"), default="best", help="combine rounds by")
    parser.add_argument("--threads", type=int, default=1, help="wasm threads; above 1 serves the page "
                                                               "cross-origin isolated")
    parser.add_argument("--json", type=Path, help="write every round's raw results here")
    parser.add_argument("--report", type=Path, metavar="JSON", help="print the tables of an earlier --json file "
                                                                   "(with its options) instead of measuring")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.models = _names(args.models)
    unknown = [m for m in args.models if m not in models.MODELS]
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {', '.join(models.MODELS)}")
    args.batches = [int(b) for b in _names(args.batches)]
    args.pyml_backends = _names(args.pyml_backends)
    return args


def _names(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def select(patterns, cells):
    """The cells matching any pattern (a glob, or a library name alone), in ``cells`` order."""
    patterns = [p if "-" in p or "*" in p else f"{p}-*" for p in patterns]
    return [c for c in cells if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def launch(playwright, chromium):
    from tests.browser.harness import CHROMIUM_ARGS

    return playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)


def unavailable_pyml(playwright, chromium, url, model, cells):
    """{cell: why} for the pyml cells whose backend the runtime refuses to load ``model`` on (one browser,
    one page, each backend tried in turn); prints what each backend loads on."""
    backends = [c.split("-", 1)[1] for c in cells if c.startswith("pyml-")]
    if not backends:
        return {}
    browser = launch(playwright, chromium)
    try:
        page = browser.new_page()
        page.set_default_timeout(300_000)
        page.goto(url("inference.html?" + urlencode({"model": model, "library": "pyml", "detect": 1})))
        page.wait_for_function("window.bench !== undefined")
        found = page.evaluate("(backends) => bench.detect(backends)", backends)
    finally:
        browser.close()
    for backend, info in found.items():
        status = f"loads (runs on {info['ran']})" if info["ok"] else f"unavailable: {info['error']}"
        print(f"  pyml {backend}: {status}")
    return {f"pyml-{backend}": info["error"] for backend, info in found.items() if not info["ok"]}


def run_rounds(playwright, chromium, url, root, cells, built, args):
    """Every (model, cell) once per round, each in a fresh browser; returns the runs, outputs checked."""
    references = {name: {b: np.asarray(m.predict(models.inputs(m, b), verbose=0), np.float32) for b in args.batches}
                  for name, m in built.items()}
    runs = []
    for number in range(args.rounds):
        order = cells if number % 2 == 0 else cells[::-1]  # alternate, so drift in the load hits all alike
        for model in args.models:
            for cell in order:
                result = run_cell(playwright, chromium, url, root, cell, model, built[model].input_shape[1:], args,
                                  vocab=models.vocabulary(built[model]))
                result["round"] = number
                check_outputs(result, references[model])
                print(f"  round {number + 1}/{args.rounds} {model} {cell}: {inference_report.progress(result)}",
                      flush=True)
                runs.append(result)
    return runs


def run_cell(playwright, chromium, url, root, cell, model, shape, args, vocab=None):
    """One cell in a fresh browser: cold start, bytes fetched, then warm timings and outputs (``vocab``: the
    input is int32 token ids below it)."""
    from tests.browser.harness import watch

    library, backend = cell.split("-", 1)
    browser, errors = launch(playwright, chromium), None
    try:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(600_000)
        errors = watch(page)
        page.goto(url("blank.html"))
        fetched = []
        context.on("requestfinished", lambda request: fetched.append(request))
        query = {"model": model, "shape": ",".join(map(str, shape)), "library": library, "backend": backend,
                 "threads": args.threads, **({"vocab": vocab} if vocab else {})}
        page.goto(url("inference.html?" + urlencode(query)))
        page.wait_for_function("window.bench !== undefined")
        cold = page.evaluate("bench.cold")
        result = {"cell": cell, "model": model, **cold, "files": _network(fetched, root)}
        if "error" not in cold:
            options = {"batches": args.batches, "warmup": args.warmup, "samples": args.samples,
                       "minSampleMs": args.min_sample_ms, "budgetMs": args.budget_ms}
            warm = page.evaluate("(options) => bench.warm(options)", options)
            result.update(warm)
    except Exception as exc:  # noqa: BLE001 (a page that never loads is reported like any failed cell)
        result = {"cell": cell, "model": model, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        browser.close()
    if "error" in result and errors and errors.seen:
        result["error"] += " | console: " + "; ".join(errors.seen[:3])
    return result


def _network(requests, root):
    """[(site path, body bytes, gzip -9 bytes of that file)] of the responses fetched from the server, in
    order (blob: and data: URLs, such as the workers wasm threads start, fetch nothing)."""
    files = []
    for request in requests:
        if not request.url.startswith("http"):
            continue
        path = urlparse(request.url).path.lstrip("/")
        on_disk = root / path
        gzip = inference_site.gzip_size(on_disk) if on_disk.is_file() else 0
        files.append((path, int(request.sizes()["responseBodySize"]), gzip))
    return files


def check_outputs(result, references):
    """Decode the page's outputs into ``result["diff"]``: {batch: max |output - Python predict|}."""
    result["diff"] = {}
    for entry in result.get("results", []):
        batch = entry["batch"]
        got = np.frombuffer(base64.b64decode(entry.pop("output")), np.float32)
        want = references[batch]
        result["diff"][batch] = (float(np.max(np.abs(got.reshape(want.shape) - want)))
                                 if got.size == want.size else float("inf"))


SAVED_OPTIONS = ("models", "batches", "rounds", "threads", "pyml_weights")  # what --report needs from a run


def save(path, args, cells, runs, unavailable, header):
    options = {key: getattr(args, key) for key in SAVED_OPTIONS}
    path.write_text(json.dumps({"options": options, "cells": cells, "unavailable": unavailable,
                                "header": header, "runs": runs}, indent=1))


def report_saved(args):
    """Print the tables of a --json file, with the options it was measured with (--stat and --markdown apply)."""
    saved = json.loads(args.report.read_text())
    for key, value in saved["options"].items():
        setattr(args, key, value)
    for run in saved["runs"]:
        run["diff"] = {int(batch): diff for batch, diff in run.get("diff", {}).items()}  # JSON keys are strings
    print("\n".join(saved["header"]))
    return inference_report.report(saved["runs"], saved["cells"], saved["unavailable"], args)


def main(argv=None):
    args = parse_args(argv)
    if args.report:
        return report_saved(args)
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import find_chromium

    inference_site.check_packages()
    candidates = [*(f"pyml-{b}" for b in args.pyml_backends), *INCUMBENT_CELLS]
    cells = select(_names(args.cells), candidates)
    if not cells:
        raise common.BenchmarkError(f"--cells {args.cells!r} selects nothing from {', '.join(candidates)}")
    built = {name: models.build(name) for name in args.models}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pyml-browser-bench-") as tmp, sync_playwright() as playwright:
        chromium = find_chromium(playwright)
        if chromium is None:
            raise common.BenchmarkError("no Chromium: install one (apt-get install chromium) or set PYML_CHROMIUM")
        root = inference_site.write_site(Path(tmp) / "site", built, onnx=any(c.startswith("ort-") for c in cells),
                                         pyml_weights=args.pyml_weights)
        with inference_site.serve(root, isolated=args.threads > 1) as url:
            header = [f"machine: {common.machine_summary()}",
                      f"browser: {common.chromium_version(chromium)} headless; TF.js "
                      f"{common.node_version('@tensorflow/tfjs-core')}, ONNX Runtime Web "
                      f"{common.node_version('onnxruntime-web')}; wasm threads: {args.threads}; "
                      f"pyml weights: {args.pyml_weights}"]
            print("\n".join(header))
            unavailable = unavailable_pyml(playwright, chromium, url, args.models[0], cells)
            cells = [c for c in cells if c not in unavailable]
            runs = run_rounds(playwright, chromium, url, root, cells, built, args)
    header.append(f"{len(runs)} cell runs in {time.monotonic() - started:.0f} s; "
                  f"at the end: {common.machine_summary()}")
    print(f"\n{header[-1]}")
    if args.json:
        save(args.json, args, cells, runs, unavailable, header)
    return inference_report.report(runs, cells, unavailable, args)


if __name__ == "__main__":
    sys.exit(main())
