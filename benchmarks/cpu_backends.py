"""pyml's two CPU backends side by side in headless Chromium: WebAssembly SIMD ("wasm") vs plain JavaScript
("js"), on the models of issue #6, with ONNX Runtime Web's wasm figures from that issue for scale.

    $ python benchmarks/cpu_backends.py                    # both models, batch 1 and 32, 3 rounds
    $ python benchmarks/cpu_backends.py --rounds 5 --models mlp

Models (random weights, seeded; the timing does not depend on their values):
- mlp: Dense 784-512-512-10, relu, softmax;
- convnet: the Keras MNIST example, Conv2D 32 3x3 relu -> Conv2D 64 3x3 relu -> MaxPooling 2 -> Flatten ->
  Dense 128 relu -> Dense 10 softmax on 28x28x1.

Each round opens a fresh browser context per (model, backend), interleaved (the backend that goes first
alternates), after one untimed page has started the browser's processes, served from http://127.0.0.1
with cross-origin isolation (so performance.now() resolves 5 us):
- cold: ``loadModel`` (fetch, verify, compile the wasm, pack the weights) + the first batch-1 ``predict``;
- warm: one ``predict`` (copy in, run, copy out) after warm-up; each sample runs predicts back to back for at
  least 5 ms and divides; the table shows the median over all samples of all rounds; and, since other
  processes share the machine, the 10th percentile of single predicts timed one by one (up to 300 per round
  or 2 s), which interference inflates least;
- steps: for the wasm backend, each step of the CPU program timed alone at batch 1 and 32 (the median of 30
  timings, in the first round), with the GFLOP/s of the matmul and convolution steps.
Timings are wall clock on a shared machine: compare within one run, and read the machine load printed first.
"""
import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import pyml  # noqa: E402
from pyml.cli import StaticHandler  # noqa: E402
from tests.browser.harness import CHROMIUM_ARGS, find_chromium  # noqa: E402
from webexport import export  # noqa: E402

# ONNX Runtime Web 1.30 wasm, warm ms per inference, from issue #6 (2 cores, Chromium 156 headless).
ORT_WASM_MS = {("mlp", 1): 0.10, ("mlp", 32): 1.61, ("convnet", 1): 0.99, ("convnet", 32): 30.5}
ORT_WASM_COLD_MS = {("mlp", 1): 500}
INPUTS = {"mlp": (784,), "convnet": (28, 28, 1)}

PAGE = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module">
import { loadModel } from "./%(model)s/runtime/index.js";
const backend = new URLSearchParams(location.search).get("backend");
const shape = %(shape)s;
const input = (batch) => { const x = new Float32Array(batch * shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = ((i * 2654435761) %% 1000) / 1000; return { data: x, shape: [batch, ...shape] }; };
const t0 = performance.now();
const model = await loadModel("./%(model)s/model.json", { backend });
const first = await model.predict(input(1).data, input(1).shape);
window.cold = { ms: performance.now() - t0, backend: model.info.backend, sum: first.data.reduce((a, b) => a + b, 0) };
window.warm = async (batch, samples, warmup) => {
  const { data, shape } = input(batch);
  for (let i = 0; i < warmup; i++) await model.predict(data, shape);
  const out = [], single = [];
  for (let s = 0; s < samples; s++) {
    let n = 0; const start = performance.now(); let now = start;
    while (now - start < 5) { await model.predict(data, shape); n++; now = performance.now(); }
    out.push((now - start) / n);
  }
  const end = performance.now() + 2000;
  while (single.length < 300 && performance.now() < end) {
    const start = performance.now();
    await model.predict(data, shape);
    single.push(performance.now() - start);
  }
  return { samples: out, single };
};
window.steps = async (batch) => {  // each step of the wasm CPU program alone (internals, not the public API)
  const { fetchBundle, readWeights } = await import("./%(model)s/runtime/bundle.js");
  const wasm = await import("./%(model)s/runtime/wasm.js");
  const { manifest, weights } = await fetchBundle("./%(model)s/model.json");
  const exec = await wasm.createWasm(manifest, readWeights(manifest, weights), wasm.wasmSimdSupport());
  const { data, shape } = input(batch);
  for (let i = 0; i < 20; i++) wasm.runWasm(exec, [{ data, shape, dtype: "float32" }], batch);
  return manifest.cpu.steps.map((step, i) => {
    const run = exec.current.run[i];
    const times = [];
    for (let s = 0; s < 30; s++) {
      let n = 0; const start = performance.now(); let now = start;
      while (now - start < 2) { run(); n++; now = performance.now(); }
      times.push((now - start) / n);
    }
    times.sort((a, b) => a - b);
    return { label: step.label, kernel: step.kernel, ms: times[15] };
  });
};
window.ready = true;
</script>"""


def build_model(name):
    layers = pyml.layers
    if name == "mlp":
        stack = [layers.Dense(512, activation="relu"), layers.Dense(512, activation="relu"),
                 layers.Dense(10, activation="softmax")]
    else:
        stack = [layers.Conv2D(32, 3, activation="relu"), layers.Conv2D(64, 3, activation="relu"),
                 layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(128, activation="relu"),
                 layers.Dense(10, activation="softmax")]
    np.random.seed(0)
    model = pyml.Sequential(stack)
    model.build((None,) + INPUTS[name])
    return model


def flops(manifest, step, batch):
    """2 x the multiply-adds of a matmul/conv step at ``batch``: each output sums over all but the last axis of
    its weights (K of a matmul, taps x input channels per group of a convolution)."""
    nodes = {n["name"]: n for n in manifest["graph"]["nodes"]}
    anchor = nodes[step["nodes"][0]]
    out = [batch if d is None else d for d in anchor["shape"]]
    return 2 * np.prod(out) * np.prod(nodes[anchor["inputs"][1]]["shape"][:-1])


class IsolatedHandler(StaticHandler):
    def end_headers(self):  # cross-origin isolation: performance.now() at 5 us instead of 100 us
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "convnet"], choices=["mlp", "convnet"])
    parser.add_argument("--backends", nargs="+", default=["wasm", "js"], choices=["wasm", "js"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"machine load (1, 5, 15 min): {os.getloadavg()}, {os.cpu_count()} cores")
    root = Path(tempfile.mkdtemp(prefix="pyml-cpu-bench-"))
    for name in args.models:
        export(build_model(name), root / name)
        (root / f"{name}.html").write_text(PAGE % {"model": name, "shape": json.dumps(list(INPUTS[name]))})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(IsolatedHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    cold, warm, single, steps = {}, {}, {}, {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=find_chromium(playwright), headless=True,
                                             args=CHROMIUM_ARGS)
        warm_up = browser.new_context()  # untimed: start the browser's processes before the first cold load
        warm_up.new_page().goto(f"{base}{args.models[0]}.html?backend=js")
        warm_up.close()
        for round_ in range(args.rounds):
            for name in args.models:
                for backend in args.backends[round_ % 2:] + args.backends[:round_ % 2]:  # alternate who goes first
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(f"{base}{name}.html?backend={backend}")
                    page.wait_for_function("window.cold !== undefined", timeout=120_000)
                    result = page.evaluate("window.cold")
                    assert result["backend"] == backend, result
                    cold.setdefault((name, backend), []).append(result["ms"])
                    for batch in (1, 32):
                        result = page.evaluate("([b, s]) => warm(b, s, 5)", [batch, args.samples])
                        warm.setdefault((name, backend, batch), []).extend(result["samples"])
                        single.setdefault((name, backend, batch), []).extend(result["single"])
                    if backend == "wasm" and name not in steps:
                        steps[name] = {batch: page.evaluate(f"steps({batch})") for batch in (1, 32)}
                    context.close()
        browser.close()
    httpd.shutdown()

    print(f"\nwarm ms per predict (median over {args.rounds} rounds x {args.samples} samples; in brackets the "
          f"10th percentile of single predicts)")
    print(f"{'model':8} {'batch':>5} " + " ".join(f"{b:>16}" for b in args.backends) + f" {'ort-wasm (#6)':>14} {'wasm/ort':>14}")
    for name in args.models:
        for batch in (1, 32):
            cells = []
            for backend in args.backends:
                t = warm[(name, backend, batch)]
                cells.append(f"{statistics.median(t):8.3f} [{np.percentile(single[(name, backend, batch)], 10):6.3f}]")
            ort = ORT_WASM_MS[(name, batch)]
            wasm = (statistics.median(warm[(name, "wasm", batch)]), np.percentile(single[(name, "wasm", batch)], 10)) \
                if "wasm" in args.backends else (float("nan"),) * 2
            print(f"{name:8} {batch:>5} " + " ".join(f"{c:>16}" for c in cells) +
                  f" {ort:>14.2f} {wasm[0] / ort:>5.2f}x [{wasm[1] / ort:.2f}x]")
    print("\ncold ms (load + first batch-1 predict; median over rounds, fresh browser context each)")
    for name in args.models:
        row = "  ".join(f"{b} {statistics.median(cold[(name, b)]):.0f}" for b in args.backends)
        print(f"{name:8} {row}" + (f"   ort-wasm (#6) {ORT_WASM_COLD_MS[(name, 1)]}" if (name, 1) in ORT_WASM_COLD_MS else ""))
    for name, by_batch in steps.items():
        manifest = json.loads((root / name / "model.json").read_text())
        print(f"\n{name}: wasm steps (median ms; GFLOP/s of matmul and conv)    batch 1 | batch 32")
        for i, step in enumerate(manifest["cpu"]["steps"]):
            cells = []
            for batch, timings in by_batch.items():
                ms = timings[i]["ms"]
                rate = f" {flops(manifest, step, batch) / ms / 1e6:5.1f} GF/s" if step["kernel"] in ("matmul", "conv") else ""
                cells.append(f"{ms:8.3f} ms{rate:12}")
            print(f"  {step['label']:34} {step['kernel']:9} " + " | ".join(cells))


if __name__ == "__main__":
    main()
