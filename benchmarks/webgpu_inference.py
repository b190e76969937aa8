"""pyml's WebGPU kernels timed on the issue's models, whole and layer by layer: in headless Chromium (WebGPU on
SwiftShader where there is no GPU) and natively through wgpu-py (Mesa lavapipe on CPU machines, the real
driver on a GPU).

    $ python benchmarks/webgpu_inference.py                        # both targets, models and layers
    $ python benchmarks/webgpu_inference.py --target native --what layers --batches 1,32
    $ python benchmarks/webgpu_inference.py --json before.json     # keep the figures to compare later
    $ python benchmarks/webgpu_inference.py --what models --weights float32,float16,int8   # storage tiers

Models (benchmarks/models.py, the seeded weights browser_inference.py compares with TF.js and ORT Web; dynamic
batch): ``mlp`` Dense 784→512 relu → Dense 512→512 relu → Dense 512→10 softmax, and ``convnet``, Keras's MNIST
example: Conv2D 32 3×3 relu on 28×28×1 → Conv2D 64 3×3 relu → MaxPooling2D 2 → Flatten → Dense 128 relu →
Dense 10 softmax; and each of their layers exported alone (``--what layers``), as the one-layer sub-models
of shared/research/browser-runtimes.md.

Per bundle and target: ``load`` (browser: import the runtime + ``loadModel``, i.e. fetch, verify, device,
pipelines, weights; with ``--cold`` in a freshly launched Chromium with a new profile, so load + first is the
cold start; native: ``load_bundle`` + creating the pipelines), ``first`` (the first predict, at batch 1, read
back), and per batch size ``warm``, the median wall time of ``--samples`` predicts after ``--warmup`` untimed
ones (each one upload, one submit, one read-back), and ``cpu``, the CPU time per predict of the process doing
the work (natively this Python process, lavapipe's threads included; in the browser every Chromium process,
SwiftShader's threads included). On a shared machine CPU time moves much less than wall time with the other
load, so compare variants by it, and quote wall times from a quiet machine. Each browser bundle runs in a
fresh page of one Chromium; ``--rounds`` repeats that and keeps the median of each figure. Ratios to TF.js and
ONNX Runtime Web come from ``benchmarks/browser_inference.py``; this script only times pyml.

``--weights`` exports each bundle once per storage tier (``mlp``, ``mlp-float16``, ``mlp-int8``, ...; the float16
and int8 kernels unpack the stored weights in registers) and prints the bytes the weights take on the GPU.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import models  # noqa: E402  (benchmarks/models.py: the script's folder is first on sys.path)
import pyml  # noqa: E402
from pyml import layers  # noqa: E402

PAGE = Path(__file__).resolve().parent / "webgpu_page"


MODELS = ("mlp", "convnet")  # built by benchmarks/models.py, as browser_inference.py builds them
LAYERS = {  # name: (input shape, layer)
    "dense784-512": ((784,), lambda: layers.Dense(512, activation="relu")),
    "dense512-512": ((512,), lambda: layers.Dense(512, activation="relu")),
    "dense512-10": ((512,), lambda: layers.Dense(10, activation="softmax")),
    "conv1-32": ((28, 28, 1), lambda: layers.Conv2D(32, 3, activation="relu")),
    "conv32-64": ((26, 26, 32), lambda: layers.Conv2D(64, 3, activation="relu")),
    "maxpool": ((24, 24, 64), lambda: layers.MaxPooling2D(2)),
    "dense9216-128": ((9216,), lambda: layers.Dense(128, activation="relu")),
    "dense128-10": ((128,), lambda: layers.Dense(10, activation="softmax")),
    "lstm32-128x50": ((50, 32), lambda: layers.LSTM(128)),  # the lstm model's recurrence (one rnn_scan dispatch)
}


def export_bundles(folder, what, tiers=("float32",)):
    """Export the chosen bundles under ``folder``, each in every weight storage tier of ``tiers`` (named
    ``name-tier`` but for float32); returns their names in order."""
    import webexport

    pyml.random.set_random_seed(0)
    built = []
    if what in ("models", "all"):
        built += [(name, models.build(name)) for name in MODELS]
    if what in ("layers", "all"):
        built += [(name, pyml.Sequential([pyml.Input(shape=shape), build()]))
                  for name, (shape, build) in LAYERS.items()]
    names = []
    for name, model in built:
        for tier in tiers:
            bundle = name if tier == "float32" else f"{name}-{tier}"
            webexport.export(model, folder / bundle, weights=tier)
            names.append(bundle)
    return names


def gpu_weight_bytes(manifest):
    """Bytes the WebGPU runtime allocates for the weights (web/src/webgpu.js ``uploadWeights``): a packed weight
    its stored bytes rounded up to 4, any other 4 per element rounded up to 16."""
    packed = {v["weight"] for v in manifest["values"].values() if v.get("packed")}
    return sum(-(-e["byte_length"] // 4) * 4 if e["name"] in packed
               else max(16, -(-4 * int(np.prod(e["shape"])) // 16) * 16) for e in manifest["weights"]["entries"])


def feed(manifest, batch):
    spec = manifest["inputs"][0]
    shape = [batch if d is None else d for d in spec["shape"]]
    return (np.arange(np.prod(shape)) * 7919 % 1000 / 1000 - 0.5).astype(np.float32).reshape(shape)


def _median_and_cpu(run, count, cpu_clock):
    """Run ``run()`` ``count`` times (it returns the wall ms of each); returns (median wall ms, min wall ms, CPU ms
    per run by ``cpu_clock()``, seconds of CPU: what the machine's other load does not inflate)."""
    cpu0 = cpu_clock()
    times = run(count)
    cpu = (cpu_clock() - cpu0) * 1e3 / count
    return statistics.median(times), min(times), cpu


def time_native(folder, names, batches, warmup, samples):
    """{name: {load, first, warm: {batch: ms}, low: {batch: ms}, cpu: {batch: ms}}} through wgpu-py."""
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
        r = {"load": 1e3 * load, "first": 1e3 * first, "warm": {}, "low": {}, "cpu": {}}
        for batch in batches:
            x = feed(bundle.manifest, batch)

            def run(count):
                times = []
                for _ in range(count):
                    t = time.perf_counter()
                    run_bundle(bundle, x)
                    times.append(1e3 * (time.perf_counter() - t))
                return times

            run(warmup)
            r["warm"][batch], r["low"][batch], r["cpu"][batch] = _median_and_cpu(run, samples, time.process_time)
        results[name] = r
        _report("native", name, r, batches)
    return results


def _report(target, name, r, batches):
    print(f"  {target} {name}: load {r['load']:.0f} ms, first {r['first']:.1f} ms, warm "
          + ", ".join(f"b{b} {r['warm'][b]:.2f} (min {r['low'][b]:.2f}, cpu {r['cpu'][b]:.2f}) ms" for b in batches),
          flush=True)


def _tree_cpu_seconds(root_pid):
    """CPU seconds (user + system) used so far by ``root_pid`` and all its descendants (Linux /proc)."""
    children, stats = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))  # fields[1]: the parent pid
        stats[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


def time_browser(folder, names, batches, warmup, samples, rounds, stages=False, cold=False):
    """{name: {load, first, warm, low, cpu}}: medians over ``rounds`` fresh pages of one Chromium (``cold``: a
    fresh Chromium, with its own new profile, per bundle and round). ``cpu`` counts every Chromium process."""
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import CHROMIUM_ARGS, StaticServer, find_chromium

    for file in PAGE.iterdir():
        shutil.copy(file, folder / file.name)
    server = StaticServer(folder).start()
    per_round = {name: [] for name in names}
    try:
        with sync_playwright() as playwright:
            def launch():
                profile = tempfile.mkdtemp(prefix="pyml-bench-profile-")
                context = playwright.chromium.launch_persistent_context(
                    profile, executable_path=find_chromium(playwright), headless=True, args=CHROMIUM_ARGS)
                pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_browser(p, profile))
                return context, profile, pid

            browser = launch()
            for _ in range(rounds):
                for name in names:
                    if cold:  # nothing compiled or cached before this load
                        _close(browser)
                        browser = launch()
                    context, _, pid = browser
                    page = context.new_page()
                    page.goto(server.url("timing.html"))
                    page.wait_for_function("window.timing !== undefined")
                    opened = page.evaluate("(b) => timing.open(b)", name)
                    if "error" in opened:
                        raise SystemExit(f"error: {name} failed to load in the browser: {opened['error']}")
                    r = {"load": opened["loadMs"], "first": opened["firstMs"], "warm": {}, "low": {}, "cpu": {}}
                    for batch in batches:
                        def run(count):
                            times = page.evaluate("([b, n]) => timing.repeat(b, n)", [batch, count])
                            if isinstance(times, dict):
                                raise SystemExit(f"error: {name} failed in the browser: {times['error']}")
                            return times

                        run(warmup)
                        r["warm"][batch], r["low"][batch], r["cpu"][batch] = _median_and_cpu(
                            run, samples, lambda: _tree_cpu_seconds(pid))
                    if stages:
                        page.goto(server.url("timing.html"))
                        page.wait_for_function("window.timing !== undefined")
                        split = page.evaluate("(b) => timing.stages(b)", name)
                        print(f"  browser {name} load stages: " + ", ".join(f"{k} {v:.0f} ms" for k, v in split.items()))
                    page.close()
                    per_round[name].append(r)
                    _report("browser", name, r, batches)
            _close(browser)
    finally:
        server.stop()
    med = statistics.median
    return {name: {"load": med(r["load"] for r in rs), "first": med(r["first"] for r in rs),
                   **{key: {b: med(r[key][b] for r in rs) for b in batches} for key in ("warm", "low", "cpu")}}
            for name, rs in per_round.items()}


def _is_browser(proc, profile):
    try:
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"--user-data-dir={profile}".encode() in cmdline and not any(a.startswith(b"--type=") for a in cmdline)


def _close(browser):
    context, profile, _ = browser
    context.close()
    shutil.rmtree(profile, ignore_errors=True)


def print_table(title, results, batches):
    print(f"\n{title}")
    header = ["bundle", "load ms", "first ms"] + [f"warm b{b} ms (cpu)" for b in batches]
    if 1 in batches:
        header.append("first/warm b1")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, r in results.items():
        cells = [name, f"{r['load']:.0f}", f"{r['first']:.1f}"]
        cells += [f"{r['warm'][b]:.2f} ({r['cpu'][b]:.1f})" for b in batches]
        if 1 in batches:
            cells.append(f"{r['first'] / r['warm'][1]:.2f}")
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["both", "browser", "native"], default="both")
    parser.add_argument("--what", choices=["all", "models", "layers"], default="all")
    parser.add_argument("--only", default="", help="comma-separated bundle names (default: all chosen by --what)")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="fresh browser pages per bundle (medians kept)")
    parser.add_argument("--cold", action="store_true", help="browser: a fresh Chromium for every bundle and round")
    parser.add_argument("--stages", action="store_true", help="browser: also split the load time into stages")
    parser.add_argument("--weights", default="float32", help="comma list of weight storage tiers to export each "
                                                              "bundle in (float32, float16, int8)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="pyml-webgpu-bench-") as tmp:
        folder = Path(tmp)
        names = export_bundles(folder, args.what, args.weights.split(","))
        if args.only:
            names = [n for n in names if n in args.only.split(",")]
        print("| bundle | weight files bytes | weights on the GPU, bytes |\n|---|---|---|")
        for name in names:
            manifest = json.loads((folder / name / "model.json").read_text())
            stored = sum(f["byte_length"] for f in manifest["weights"]["files"])
            print(f"| {name} | {stored:,} | {gpu_weight_bytes(manifest):,} |", flush=True)
        if args.target in ("both", "native"):
            results["native"] = time_native(folder, names, batches, args.warmup, args.samples)
        if args.target in ("both", "browser"):
            results["browser"] = time_browser(folder, names, batches, args.warmup, args.samples, args.rounds,
                                              args.stages, args.cold)
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
