"""pyml's WebGPU kernels timed on the issue's models, whole and layer by layer: in headless Chromium (WebGPU on
SwiftShader where there is no GPU) and natively through wgpu-py (Mesa lavapipe on CPU machines, the real
driver on a GPU).

    $ python benchmarks/webgpu_inference.py                        # both targets, models and layers
    $ python benchmarks/webgpu_inference.py --target native --what layers --batches 1,32
    $ python benchmarks/webgpu_inference.py --json before.json     # keep the figures to compare later

Models (seeded random weights, dynamic batch):

- ``mlp``: Dense 784→512 relu → Dense 512→512 relu → Dense 512→10 softmax;
- ``convnet`` (Keras's MNIST example without Dropout): Conv2D 32 3×3 relu on 28×28×1 → Conv2D 64 3×3 relu →
  MaxPooling2D 2 → Flatten → Dense 128 relu → Dense 10 softmax;

and each of their layers exported alone (``--what layers``), as the one-layer sub-models of
shared/research/browser-runtimes.md.

Per bundle and target: ``load`` (browser: import the runtime + ``loadModel``, i.e. fetch, verify, device,
pipelines, weights; with ``--cold`` in a freshly launched Chromium, so load + first is the cold start;
native: ``load_bundle`` + creating the pipelines), ``first`` (the first predict, at the
first batch size, read back), and ``warm`` per batch size: the median of ``--samples`` predicts after
``--warmup`` untimed ones (each one upload, one submit, one read-back), capped by a time budget. Each
browser bundle runs in a fresh page of one Chromium; ``--rounds`` repeats that and keeps the median of each
figure. Ratios to TF.js and ONNX Runtime Web come from ``benchmarks/browser_inference.py``; this script
only times pyml.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import pyml  # noqa: E402
from pyml import layers  # noqa: E402

PAGE = Path(__file__).resolve().parent / "webgpu_page"


def mlp():
    return [pyml.Input(shape=(784,)), layers.Dense(512, activation="relu"), layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax")]


def convnet():
    return [pyml.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")]


MODELS = {"mlp": mlp, "convnet": convnet}
LAYERS = {  # name: (input shape, layer)
    "dense784-512": ((784,), lambda: layers.Dense(512, activation="relu")),
    "dense512-512": ((512,), lambda: layers.Dense(512, activation="relu")),
    "dense512-10": ((512,), lambda: layers.Dense(10, activation="softmax")),
    "conv1-32": ((28, 28, 1), lambda: layers.Conv2D(32, 3, activation="relu")),
    "conv32-64": ((26, 26, 32), lambda: layers.Conv2D(64, 3, activation="relu")),
    "maxpool": ((24, 24, 64), lambda: layers.MaxPooling2D(2)),
    "dense9216-128": ((9216,), lambda: layers.Dense(128, activation="relu")),
    "dense128-10": ((128,), lambda: layers.Dense(10, activation="softmax")),
}


def export_bundles(folder, what):
    """Export the chosen bundles under ``folder``; returns their names in order."""
    import webexport

    pyml.random.set_random_seed(0)
    names = []
    if what in ("models", "all"):
        for name, build in MODELS.items():
            webexport.export(pyml.Sequential(build()), folder / name)
            names.append(name)
    if what in ("layers", "all"):
        for name, (shape, build) in LAYERS.items():
            webexport.export(pyml.Sequential([pyml.Input(shape=shape), build()]), folder / name)
            names.append(name)
    return names


def feed(manifest, batch):
    spec = manifest["inputs"][0]
    shape = [batch if d is None else d for d in spec["shape"]]
    return (np.arange(np.prod(shape)) * 7919 % 1000 / 1000 - 0.5).astype(np.float32).reshape(shape)


def time_native(folder, names, batches, warmup, samples, budget_s):
    """{name: {load, first, warm: {batch: ms}}} through wgpu-py (webexport.native)."""
    from webexport import load_bundle
    from webexport.native import device, prepare_bundle, run_bundle

    device()
    results = {}
    for name in names:
        t0 = time.perf_counter()
        bundle = load_bundle(folder / name)
        prepare_bundle(bundle)
        load = time.perf_counter() - t0
        t1 = time.perf_counter()
        run_bundle(bundle, feed(bundle.manifest, batches[0]))
        first = time.perf_counter() - t1
        warm, lows = {}, {}
        for batch in batches:
            x = feed(bundle.manifest, batch)
            for _ in range(warmup):
                run_bundle(bundle, x)
            times, start = [], time.perf_counter()
            while len(times) < samples and (len(times) < 3 or time.perf_counter() - start < budget_s):
                t = time.perf_counter()
                run_bundle(bundle, x)
                times.append(time.perf_counter() - t)
            warm[batch] = 1e3 * statistics.median(times)
            lows[batch] = 1e3 * min(times)
        results[name] = {"load": 1e3 * load, "first": 1e3 * first, "warm": warm}
        print(f"  native {name}: load {1e3 * load:.0f} ms, first {1e3 * first:.1f} ms, warm "
              + ", ".join(f"b{b} {ms:.2f} (min {lows[b]:.2f}) ms" for b, ms in warm.items()), flush=True)
    return results


def time_browser(folder, names, batches, warmup, samples, budget_s, rounds, stages=False, cold=False):
    """{name: {load, first, warm: {batch: ms}}}: medians over ``rounds`` fresh pages in one Chromium."""
    import shutil

    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM_ARGS, StaticServer, find_chromium

    for file in PAGE.iterdir():
        shutil.copy(file, folder / file.name)
    server = StaticServer(folder).start()
    per_round = {name: [] for name in names}
    try:
        with sync_playwright() as playwright:
            launch = lambda: playwright.chromium.launch(executable_path=find_chromium(playwright),  # noqa: E731
                                                        headless=True, args=CHROMIUM_ARGS)
            browser = launch()
            for _ in range(rounds):
                for name in names:
                    if cold:  # a fresh browser per bundle: nothing compiled or cached before the load
                        browser.close()
                        browser = launch()
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(server.url("timing.html"))
                    page.wait_for_function("window.timing !== undefined")
                    result = page.evaluate("([b, bs, o]) => timing.run(b, bs, o)",
                                           [name, batches, {"warmup": warmup, "samples": samples,
                                                            "budgetMs": budget_s * 1e3}])
                    context.close()
                    if "error" in result:
                        raise SystemExit(f"error: {name} failed in the browser: {result['error']}")
                    if stages:
                        context = browser.new_context()
                        page = context.new_page()
                        page.goto(server.url("timing.html"))
                        page.wait_for_function("window.timing !== undefined")
                        split = page.evaluate("(b) => timing.stages(b)", name)
                        context.close()
                        print(f"  browser {name} load stages (fresh page): "
                              + ", ".join(f"{k} {v:.0f} ms" for k, v in split.items()), flush=True)
                    per_round[name].append(result)
                    print(f"  browser {name}: load {result['loadMs']:.0f} ms, first {result['firstMs']:.1f} ms, "
                          f"warm " + ", ".join(f"b{w['batch']} {w['medianMs']:.2f} (min {min(w['times']):.2f}) ms"
                                              for w in result["warm"]),
                          flush=True)
            browser.close()
    finally:
        server.stop()
    return {name: {"load": statistics.median(r["loadMs"] for r in rs),
                   "first": statistics.median(r["firstMs"] for r in rs),
                   "warm": {b: statistics.median(r["warm"][i]["medianMs"] for r in rs) for i, b in enumerate(batches)}}
            for name, rs in per_round.items()}


def print_table(title, results, batches):
    print(f"\n{title}")
    header = ["bundle", "load ms", "first ms"] + [f"warm b{b} ms" for b in batches] + [f"first/warm b{batches[0]}"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, r in results.items():
        cells = [name, f"{r['load']:.0f}", f"{r['first']:.1f}"] + [f"{r['warm'][b]:.2f}" for b in batches]
        cells.append(f"{r['first'] / r['warm'][batches[0]]:.2f}")
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["both", "browser", "native"], default="both")
    parser.add_argument("--what", choices=["all", "models", "layers"], default="all")
    parser.add_argument("--only", default="", help="comma-separated bundle names (default: all chosen by --what)")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed predicts per batch at most")
    parser.add_argument("--rounds", type=int, default=1, help="fresh browser pages per bundle (medians kept)")
    parser.add_argument("--cold", action="store_true", help="browser: a fresh Chromium for every bundle and round")
    parser.add_argument("--stages", action="store_true", help="browser: also split the load time into stages")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="pyml-webgpu-bench-") as tmp:
        folder = Path(tmp)
        names = export_bundles(folder, args.what)
        if args.only:
            names = [n for n in names if n in args.only.split(",")]
        if args.target in ("both", "native"):
            results["native"] = time_native(folder, names, batches, args.warmup, args.samples, args.budget)
        if args.target in ("both", "browser"):
            results["browser"] = time_browser(folder, names, batches, args.warmup, args.samples, args.budget,
                                              args.rounds, args.stages, args.cold)
    for target, title in (("browser", "Chromium WebGPU (SwiftShader where no GPU)"),
                          ("native", "wgpu-py native (lavapipe where no GPU)")):
        if target in results:
            print_table(title, results[target], batches)
    with open("/proc/loadavg") as f:
        print(f"\nload average: {f.read().split()[:3]}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
