"""Training in headless Chromium: pyml's exported training step vs TensorFlow.js 4.22 `model.fit`, same weights.

    $ npm ci --prefix benchmarks --no-audit --no-fund     # once: TF.js, pinned by package-lock.json
    $ python benchmarks/train_browser.py                  # mlp and convnet, every cell: ~10 min on 2 busy cores
    $ python benchmarks/train_browser.py --models mlp --cells pyml-wasm,tfjs-wasm

Models (benchmarks/models.py, seeded random weights): ``mlp`` 784-512-512-10 and ``convnet``, Keras's MNIST
convnet, with its Dropout rates set to 0 (so no library draws random masks and the losses compare step by
step; TF.js gets no Dropout layer at all). Every layer trains, on sparse categorical cross-entropy with the
same optimizer (``--optimizer sgd``, the default: SGD(0.01, momentum 0.9); ``adam``: Adam(1e-3), Keras's betas
and epsilon 1e-7), batch ``--batch`` (32), unshuffled batches of generated data (page/train.js and
models.inputs/labels compute the same numbers). TF.js's Adam adds epsilon to the square root of the
bias-corrected second moment where Keras (and pyml) add it to the uncorrected one, which moves its losses by
about 1e-4 relative after one step on these models: its losses are checked with SGD only.

Cells: pyml on WebGPU and on its CPU path (a bundle exported with ``webexport.export(..., train=...)``:
``model.fit`` and ``model.trainStep``), TF.js (tf.layers ``model.fit`` with ``yieldEvery: "never"`` and
``trainOnBatch``) on webgpu, wasm and cpu. Each cell runs in a fresh headless Chromium (the browser tests'
flags: WebGPU on SwiftShader without a GPU) and measures:

- losses: ``fit`` from the initial weights over ``--loss-steps`` batches, each batch's loss, against pyml's
  Python ``train_on_batch`` on the same batches; a relative difference above ``--tolerance`` (1e-4) is
  flagged and the script exits 1 (so does a pyml cell that fails; a TF.js backend that cannot train a
  model, such as wasm without Conv2DBackpropFilter for the convnet, is listed as unavailable);
- steps/s: the median over samples of ``--steps`` batches, each sample one ``fit`` epoch (or ``--steps``
  trainStep / trainOnBatch calls), after one untimed batch; at most ``--samples`` samples within
  ``--budget-ms`` per mode.

Cells run ``--rounds`` times (2), in alternating order, each mode's best round reported. The table prints
steps/s and pyml's ``fit`` ÷ the fastest TF.js ``fit`` on the path (CPU: TF.js wasm or cpu,
whichever trains the model faster; WebGPU): above 1 means pyml trains faster. ``--json`` writes the raw results.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

import common
import inference_site
import models

MODELS = ("mlp", "convnet", "digits")
CELLS = ("pyml-webgpu", "pyml-wasm", "tfjs-webgpu", "tfjs-wasm", "tfjs-cpu")
OPTIMIZERS = {"adam": ("adam", 1e-3, 0.0), "sgd": ("sgd", 0.01, 0.9)}  # name: (page name, learning rate, momentum)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,convnet", help=f"comma list of {', '.join(MODELS)}")
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma list of {', '.join(CELLS)}")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="batches per timed sample")
    parser.add_argument("--loss-steps", type=int, default=3, help="batches whose losses are compared")
    parser.add_argument("--samples", type=int, default=5, help="timed samples per mode, at most")
    parser.add_argument("--rounds", type=int, default=2, help="fresh browsers per cell, cells in alternating order; "
                                                              "each mode's best steps/s is reported")
    parser.add_argument("--budget-ms", type=float, default=20_000, help="stop sampling a mode after this long")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest relative loss difference allowed")
    parser.add_argument("--json", type=Path, help="write every cell's raw results here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in args.cells if c not in CELLS] + [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown cells or models: {unknown}")
    return args


def optimizer(name):
    """A fresh pyml optimizer for ``--optimizer name`` (the page builds TF.js's from the same numbers)."""
    import pyml

    kind, lr, momentum = OPTIMIZERS[name]
    return pyml.optimizers.Adam(lr) if kind == "adam" else pyml.optimizers.SGD(lr, momentum=momentum)


def build(name):
    return models.without_dropout(models.build(name))


def reference_losses(name, args):
    """pyml's Python losses of ``train_on_batch`` over the first ``--loss-steps`` batches, from the initial weights."""
    model = build(name)
    model.compile(optimizer=optimizer(args.optimizer), loss="sparse_categorical_crossentropy")
    rows = args.batch * args.loss_steps
    x, y = models.inputs(model, rows), models.labels(rows)
    return [float(model.train_on_batch(x[k * args.batch:(k + 1) * args.batch], y[k * args.batch:(k + 1) * args.batch]))
            for k in range(args.loss_steps)]


def run_cell(playwright, chromium, url, cell, name, shape, args):
    """One cell in a fresh browser: load, the losses of the first batches, then steps/s of fit and of step."""
    from tests.browser.harness import CHROMIUM_ARGS, watch

    library, backend = cell.split("-", 1)
    kind, lr, momentum = OPTIMIZERS[args.optimizer]
    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    errors = None
    result = {"cell": cell, "model": name}
    try:
        page = browser.new_page()
        page.set_default_timeout(600_000)
        errors = watch(page)
        query = {"model": name, "shape": ",".join(map(str, shape)), "library": library, "backend": backend,
                 "optimizer": kind, "lr": lr, "momentum": momentum}
        page.goto(url("train.html?" + urlencode(query)))
        page.wait_for_function("window.bench !== undefined")
        result.update(page.evaluate("bench.ready"))
        if "error" not in result:
            found = page.evaluate("(o) => bench.losses(o)", {"batch": args.batch, "steps": args.loss_steps})
            result.update(found)
            for mode in ("fit", "step"):
                if "error" in result:
                    break
                timing = page.evaluate("(o) => bench.time(o)", {"batch": args.batch, "steps": args.steps, "mode": mode,
                                                                "samples": args.samples, "budgetMs": args.budget_ms})
                if "error" in timing:
                    result["error"] = f"{mode}: {timing['error']}"
                else:
                    result[mode] = timing
    except Exception as exc:  # noqa: BLE001 (a page that never loads is reported like any failed cell)
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        browser.close()
    if "error" in result and errors and errors.seen:
        result["error"] += " | console: " + "; ".join(errors.seen[:3])
    return result


def loss_difference(result, reference):
    """The largest relative difference of the cell's losses from Python's (inf when some are missing)."""
    got = result.get("losses") or []
    if len(got) != len(reference):
        return float("inf")
    want = np.asarray(reference)
    return float(np.max(np.abs(np.asarray(got) - want) / np.maximum(np.abs(want), 1e-12)))


def rate(result, mode):
    return (result.get(mode) or {}).get("stepsPerSecond")


def combine(results):
    """{(model, cell): the rounds in one record}: each mode's best steps/s (the round least slowed by the rest of
    the machine), the largest loss difference, an error only when every round failed."""
    by = {}
    for r in results:
        by.setdefault((r["model"], r["cell"]), []).append(r)
    combined = {}
    for key, runs in by.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            combined[key] = runs[0]
            continue
        record = {"model": key[0], "cell": key[1], "loss_diff": max(r["loss_diff"] for r in ok)}
        for mode in ("fit", "step"):
            record[mode] = {"stepsPerSecond": max(rate(r, mode) for r in ok)}
        combined[key] = record
    return combined


def report(results, args):
    """The table: per model and path, steps/s of each library's fit and step, and pyml fit ÷ best TF.js fit."""
    by = combine(results)
    rows = []
    for name in args.models:
        for path, pyml_cell, tfjs_cells in (("CPU", "pyml-wasm", ("tfjs-wasm", "tfjs-cpu")),
                                            ("WebGPU", "pyml-webgpu", ("tfjs-webgpu",))):
            pyml = by.get((name, pyml_cell), {})
            tfjs = [by[(name, c)] for c in tfjs_cells if (name, c) in by and rate(by[(name, c)], "fit")]
            best = max(tfjs, key=lambda r: rate(r, "fit"), default={})
            if not pyml and not best:
                continue
            diffs = [r.get("loss_diff") for r in (pyml, best) if r]
            rows.append([models.label(name), path, rate(pyml, "fit"), rate(pyml, "step"), rate(best, "fit"),
                         rate(best, "step"), best.get("cell", "-"), common.ratio(rate(pyml, "fit"), rate(best, "fit")),
                         " / ".join(f"{d:.1e}" for d in diffs if d is not None)])
    checked = [r for r in results if r["cell"].startswith("pyml-") or args.optimizer == "sgd"]
    flagged = any(not r["loss_diff"] <= args.tolerance for r in checked if "error" not in r)  # NaN is flagged too
    common.print_table(f"Training steps/s in Chromium (batch {args.batch}, {args.optimizer}; higher is faster)",
                       ["model", "path", "pyml fit", "pyml trainStep", "TF.js fit", "TF.js trainOnBatch", "TF.js cell",
                        "pyml ÷ TF.js fit", "loss diff pyml / TF.js"], rows,
                       notes=[f"loss diff: the largest relative difference from pyml's Python train_on_batch over "
                              f"{args.loss_steps} batches (tolerance {args.tolerance:g}"
                              f"{'' if args.optimizer == 'sgd' else '; TF.js checked with sgd only'})"],
                       markdown=args.markdown)
    for r in by.values():
        if "error" in r:
            print(f"  {r['model']} {r['cell']} unavailable: {r['error']}")
    failed = [r for r in by.values() if "error" in r and r["cell"].startswith("pyml-")]
    if flagged:
        print(f"\nSome losses differ from Python's by more than {args.tolerance:g}: see the loss diff column.")
    return 1 if flagged or failed else 0


def main(argv=None):
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright

    from tests.browser.harness import find_chromium

    inference_site.check_packages()
    built = {name: build(name) for name in args.models}
    references = {name: reference_losses(name, args) for name in args.models}
    train = {"loss": "sparse_categorical_crossentropy", "optimizer": optimizer(args.optimizer)}
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="pyml-train-bench-") as tmp, sync_playwright() as playwright:
        chromium = find_chromium(playwright)
        if chromium is None:
            raise common.BenchmarkError("no Chromium: install one (apt-get install chromium) or set PYML_CHROMIUM")
        pyml_cells = any(c.startswith("pyml-") for c in args.cells)
        root = inference_site.write_site(Path(tmp) / "site", built, onnx=False, train=train if pyml_cells else None)
        print(f"machine: {common.machine_summary()}\nbrowser: {common.chromium_version(chromium)} headless; TF.js "
              f"{common.node_version('@tensorflow/tfjs-core')}; wasm threads: 1", flush=True)
        with inference_site.serve(root) as url:
            for number in range(args.rounds):
                order = args.cells if number % 2 == 0 else args.cells[::-1]  # drift in the load hits all alike
                for name in args.models:
                    for cell in order:
                        result = run_cell(playwright, chromium, url, cell, name, built[name].input_shape[1:], args)
                        result.update(round=number, loss_diff=loss_difference(result, references[name]),
                                      reference=references[name])
                        print(f"  round {number + 1}/{args.rounds} {name} {cell}: {progress(result)}", flush=True)
                        results.append(result)
    print(f"\n{len(results)} cells in {time.monotonic() - started:.0f} s; at the end: {common.machine_summary()}")
    if args.json:
        args.json.write_text(json.dumps({"options": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=1))
    return report(results, args)


def progress(result):
    if "error" in result:
        return f"error: {result['error']}"
    return (f"fit {rate(result, 'fit'):.2f} steps/s, step {rate(result, 'step'):.2f} steps/s, "
            f"losses {['%.5f' % v for v in result['losses']]} (diff {result['loss_diff']:.1e}) on {result['backend']}")


if __name__ == "__main__":
    sys.exit(main())
