"""The digits MLP in headless Chromium: pyml (WebGPU, CPU) vs TensorFlow.js (WebGPU, CPU), same weights.

    $ npm ci --prefix benchmarks --no-audit --no-fund     # once: TF.js, pinned in package-lock.json
    $ python benchmarks/browser_inference.py                   # trains the demo model (~30 epochs), then times
    $ python benchmarks/browser_inference.py --rounds 5 --samples 50     # a quiet machine: tighter medians

Each (library, backend) runs ``--rounds`` times, interleaved, each time in a fresh page of one headless
Chromium (the browser tests' flags; WebGPU through SwiftShader when there is no GPU), served from
http://127.0.0.1:

- time to first result: loading the model (pyml: ``loadModel``, fetching and checking the bundle and, on
  WebGPU, creating the device and every pipeline; TF.js: ``tf.setBackend`` + ``tf.ready``, fetching the
  weights, ``tf.sequential`` + ``setWeights``) and the first batch-1 ``predict`` read back to JS, the
  median over the rounds;
- steady state: one ``predict`` (input upload, run, read back) at batch 1 and at batch 360 (the demo's
  whole test split), after ``--warmup`` untimed runs; each timing runs enough predicts back to back to
  last 5 ms and divides; the median over ``--samples`` timings per round, all rounds pooled;
- parity: the largest absolute difference between the probabilities each produced for the test split and
  between each and the Python model.

Ratios are TF.js / pyml: above 1 means pyml is faster. SwiftShader is a software adapter, 30-500x slower
than a real GPU: its WebGPU numbers measure the emulator and are no speed claim either way. CPU vs CPU
(both plain JavaScript) is the meaningful comparison on a machine without a GPU.
"""
import argparse
import base64
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import common

TFJS_FILES = {  # served at tfjs/<name>; the page loads them as classic scripts (global `tf`)
    "tf-core.min.js": "@tensorflow/tfjs-core/dist/tf-core.min.js",
    "tf-backend-cpu.min.js": "@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js",
    "tf-backend-webgpu.min.js": "@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js",
    "tf-layers.min.js": "@tensorflow/tfjs-layers/dist/tf-layers.min.js",
}
PAGE = common.HERE / "page"
CONFIGS = [("pyml", "cpu"), ("tfjs", "cpu"), ("pyml", "webgpu"), ("tfjs", "webgpu")]
SWIFTSHADER_NOTE = ("SwiftShader is a software WebGPU adapter (30-500x slower than a real GPU): the WebGPU rows "
                    "measure the emulator, not the kernels, and are no speed claim. CPU vs CPU (both plain "
                    "JavaScript) is the meaningful comparison here.")


def dense_layers(model):
    """[(units, activation)] and the weights [kernel, bias, ...] of a Sequential of Dense layers."""
    weights = [np.asarray(w, np.float32) for w in model.get_weights()]
    layers = [layer for layer in model.layers if layer.get_weights()]
    if len(weights) != 2 * len(layers) or any(w.ndim != (2 if i % 2 == 0 else 1) for i, w in enumerate(weights)):
        raise common.BenchmarkError("browser_inference expects a Sequential of Dense layers (kernel, bias each). "
                                    f"Received weights of shapes {[w.shape for w in weights]}")
    specs = []
    for layer, kernel in zip(layers, weights[::2]):
        activation = layer.get_config().get("activation")
        specs.append({"units": int(kernel.shape[1]), "activation": activation if isinstance(activation, str) else "linear"})
    return specs, weights


def write_site(root, bundle, model):
    """Lay out the page, the pyml bundle, the TF.js files and the weights as TF.js will read them."""
    root = Path(root)
    for name in ("inference.html", "inference.js"):
        shutil.copy(PAGE / name, root / name)
    shutil.copytree(bundle, root / "model")
    (root / "tfjs").mkdir()
    for name, relative in TFJS_FILES.items():
        shutil.copy(common.node_file(relative), root / "tfjs" / name)
    specs, weights = dense_layers(model)
    (root / "tfjs-model").mkdir()
    entries, offset = [], 0
    for w in weights:
        entries.append({"shape": list(w.shape), "offset": offset})
        offset += w.nbytes  # float32: every offset stays 4-byte aligned
    (root / "tfjs-model" / "weights.bin").write_bytes(b"".join(np.ascontiguousarray(w).tobytes() for w in weights))
    layout = {"input_dim": int(weights[0].shape[0]), "layers": specs, "weights": entries}
    (root / "tfjs-model" / "layout.json").write_text(json.dumps(layout))


def encode(x):
    x = np.ascontiguousarray(x, np.float32)
    return {"b64": base64.b64encode(x.tobytes()).decode("ascii"), "shape": list(x.shape)}


def run_config(browser, server, library, backend, inputs, warmup, samples):
    """One fresh page: bench.run(...) → the result dict, with outputs decoded and console errors attached."""
    from tests.browser.harness import watch

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(600_000)
    errors = watch(page)
    try:
        page.goto(server.url("inference.html"))
        page.wait_for_function("window.bench !== undefined", timeout=60_000)
        result = page.evaluate("([lib, backend, inputs, options]) => bench.run(lib, backend, inputs, options)",
                               [library, backend, [encode(x) for x in inputs], {"warmup": warmup, "samples": samples}])
    except Exception as exc:  # noqa: BLE001 (a page that never loads is reported like any failed config)
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        context.close()
    if errors.seen and "error" in result:
        result["error"] += " | console: " + "; ".join(errors.seen[:3])
    if "outputs" in result:
        result["outputs"] = [np.frombuffer(base64.b64decode(b), np.float32).reshape(len(x), -1)
                             for b, x in zip(result["outputs"], inputs)]
    return result


def combine(rounds):
    """One result from several rounds of a config: medians of the first-result times over the rounds, the
    steady-state median over every round's samples, the last round's outputs; any round's error wins."""
    failed = [r for r in rounds if "error" in r]
    if failed:
        return failed[0]
    steady = []
    for i in range(len(rounds[0]["steady"])):
        times = [t for r in rounds for t in r["steady"][i]["times"]]
        steady.append({"medianMs": float(np.median(times)), "inner": [r["steady"][i]["inner"] for r in rounds]})
    return {"loadMs": float(np.median([r["loadMs"] for r in rounds])),
            "firstMs": float(np.median([r["firstMs"] for r in rounds])),
            "steady": steady, "outputs": rounds[-1]["outputs"], "backend": rounds[-1]["backend"]}


def report(results, reference, batches):
    """Print the three tables; returns 0 when pyml and TF.js agree on every backend both ran, else 1."""
    def cell(library, backend, pick):
        r = results[(library, backend)]
        return None if "error" in r else pick(r)

    first_rows, steady_rows = [], []
    for backend in ("cpu", "webgpu"):
        pyml_first, tfjs_first = cell("pyml", backend, lambda r: r["firstMs"]), cell("tfjs", backend, lambda r: r["firstMs"])
        first_rows.append([backend, cell("pyml", backend, lambda r: r["loadMs"]), pyml_first,
                           cell("tfjs", backend, lambda r: r["loadMs"]), tfjs_first, common.ratio(tfjs_first, pyml_first)])
        for i, batch in enumerate(batches):
            p = cell("pyml", backend, lambda r: r["steady"][i]["medianMs"])
            t = cell("tfjs", backend, lambda r: r["steady"][i]["medianMs"])
            steady_rows.append([backend, batch, p, None if p is None else batch / p * 1000, t,
                                None if t is None else batch / t * 1000, common.ratio(t, p)])
    common.print_table("Time to first result, ms (load + first batch-1 predict, fresh page)",
                       ["backend", "pyml load", "pyml first", "tfjs load", "tfjs first", "tfjs/pyml"], first_rows,
                       notes=["ratios are TF.js / pyml: above 1 means pyml is faster",
                              "TF.js compiles its WebGPU shaders at the first predict, pyml at load"])
    common.print_table("Steady-state predict latency, ms (median; upload + run + read back)",
                       ["backend", "batch", "pyml ms", "pyml samples/s", "tfjs ms", "tfjs samples/s", "tfjs/pyml"],
                       steady_rows, notes=[SWIFTSHADER_NOTE])

    parity_rows, agree = [], True
    for backend in ("cpu", "webgpu"):
        outs = {lib: cell(lib, backend, lambda r: r["outputs"][-1]) for lib in ("pyml", "tfjs")}
        diff = None if any(o is None for o in outs.values()) else float(np.max(np.abs(outs["pyml"] - outs["tfjs"])))
        agree &= diff is None or diff < 1e-4
        same_class = None if diff is None else f"{np.mean(outs['pyml'].argmax(1) == outs['tfjs'].argmax(1)):.1%}"
        vs_python = [None if o is None else float(np.max(np.abs(o - reference))) for o in outs.values()]
        parity_rows.append([backend, diff, same_class, *vs_python])
    common.print_table(f"Parity on the test split (batch {batches[-1]}): max |difference| of probabilities",
                       ["backend", "pyml vs tfjs", "same argmax", "pyml vs Python", "tfjs vs Python"], parity_rows,
                       notes=["pass: pyml vs tfjs below 1e-4 on every backend both ran" if agree
                              else "FAIL: pyml and TF.js disagree by 1e-4 or more"])
    for (library, backend), r in results.items():
        if "error" in r:
            print(f"  {library} {backend}: did not run: {r['error']}")
        else:
            inner = "; ".join(f"batch {b}: {'/'.join(map(str, s['inner']))}" for b, s in zip(batches, r["steady"]))
            print(f"  {library} {backend}: ran on {r['backend']}; predicts per timed sample, by round: {inner}")
    return 0 if agree else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's)")
    parser.add_argument("--samples", type=int, default=20, help="timed samples per batch size and round (median reported)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed predicts before timing each batch size")
    parser.add_argument("--rounds", type=int, default=3, help="fresh pages per (library, backend); medians over them")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM_ARGS, StaticServer, find_chromium

    for relative in TFJS_FILES.values():
        common.node_file(relative)  # fail before training when TF.js is not installed
    with tempfile.TemporaryDirectory(prefix="pyml-browser-bench-") as tmp, sync_playwright() as playwright:
        chromium = find_chromium(playwright)
        if chromium is None:
            raise common.BenchmarkError("no Chromium: install one (apt-get install chromium) or set PYML_CHROMIUM")
        run = common.digits_bundle(Path(tmp) / "build", epochs=args.epochs)
        x_test = run.data[1]
        reference = np.asarray(run.model.predict(x_test, verbose=0), np.float32)
        site = Path(tmp) / "site"
        site.mkdir()
        write_site(site, run.bundle, run.model)
        server = StaticServer(site).start()
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            print(f"machine: {common.machine_summary()}")
            print(f"browser: {common.chromium_version(chromium)} headless; TF.js "
                  f"{common.node_version('@tensorflow/tfjs-core')}; digits MLP test accuracy {run.accuracy:.1%}")
            inputs = [x_test[:1], x_test]
            run_config(browser, server, "pyml", "cpu", inputs[:1], 0, 1)  # untimed: start the browser's processes
            rounds = {config: [] for config in CONFIGS}
            for number in range(1, args.rounds + 1):  # interleaved, so load on the machine hits all alike
                print(f"  round {number}/{args.rounds}: " + ", ".join(f"{lib} {b}" for lib, b in CONFIGS), flush=True)
                for library, backend in CONFIGS:
                    rounds[(library, backend)].append(run_config(browser, server, library, backend, inputs,
                                                                 args.warmup, args.samples))
            results = {config: combine(r) for config, r in rounds.items()}
            print(f"\n{SWIFTSHADER_NOTE}")
            return report(results, reference, [len(x) for x in inputs])
        finally:
            browser.close()
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
