"""Tables for benchmarks/browser_inference.py: warm and cold times with pyml / best incumbent per path,
bytes fetched, and the parity of every cell's outputs with pyml's Python predict.

A run is the dict one cell in one fresh browser produced (``browser_inference.run_cell``):
``{cell, model, startMs, loadMs, firstMs, backend, files: [(path, bytes, gzip)], results: [{batch, medianMs, ...}],
diff: {batch: max |Δ|}, error?}``.

    >>> inference_report.report(runs, ["pyml-cpu", "ort-wasm"], unavailable={}, args=args)   # prints, returns 0|1
"""
import functools

import numpy as np

import common
import inference_site
import models

TOLERANCE = 1e-4  # the parity every pyml backend keeps with Python (tests/browser), asked of every library
# (path, pyml's cells, the incumbents pyml is compared with, cells shown for reference only)
PATHS = (("CPU", ("pyml-cpu", "pyml-wasm"), ("ort-wasm", "tfjs-wasm"), ("pyml-js", "tfjs-cpu")),
         ("WebGPU", ("pyml-webgpu",), ("tfjs-webgpu", "ort-webgpu"), ()))


def progress(run):
    """One line for a finished run: its cold and warm times, bytes and parity, or its error."""
    if "error" in run:
        return f"error: {run['error']}"
    warm = ", ".join(f"b{r['batch']} {r['medianMs']:.3g} ms (x{r['inner']})" for r in run.get("results", []))
    fetched = sum(size for path, size, _ in run["files"] if inference_site.classify(path))
    diff = max(run["diff"].values(), default=float("nan"))
    return (f"cold {run['firstMs']:.0f} ms (load {run['loadMs']:.0f}); warm {warm}; {fetched / 1e6:.2f} MB; "
            f"max|diff| {diff:.2g}; on {run['backend']}")


def summarize(runs, stat):
    """{(model, cell): {cold, load, warm: {batch: ms}, files, diff: {batch: worst}, backend} or {error}},
    combining the rounds by ``stat`` ("best" or "median"); any failed round makes the cell an error."""
    combine = min if stat == "best" else (lambda values: float(np.median(values)))
    grouped = {}
    for run in runs:
        grouped.setdefault((run["model"], run["cell"]), []).append(run)
    summary = {}
    for key, group in grouped.items():
        failed = [r for r in group if "error" in r]
        if failed:
            summary[key] = {"error": failed[0]["error"], "rounds": len(group)}
            continue
        warm = {}
        for r in group:
            for entry in r.get("results", []):
                warm.setdefault(entry["batch"], []).append(entry["medianMs"])
        summary[key] = {
            "cold": combine([r["firstMs"] for r in group]), "load": combine([r["loadMs"] for r in group]),
            "own": combine([r["firstMs"] - r.get("startMs", 0.0) for r in group]),
            "warm": {batch: combine(times) for batch, times in warm.items()},
            "files": group[0]["files"], "backend": group[-1]["backend"], "rounds": len(group),
            "diff": {batch: max(r["diff"].get(batch, float("inf")) for r in group) for batch in warm},
        }
    return summary


def columns(cells):
    """[(path, pyml cells, incumbent cells, reference cells)] restricted to ``cells``; pyml backends the
    paths do not name (a new one) join the CPU path's reference cells."""
    known = {c for _, *groups in PATHS for group in groups for c in group}
    extra = tuple(c for c in cells if c.startswith("pyml-") and c not in known)
    out = []
    for name, pyml, incumbents, reference in PATHS:
        if name == "CPU":
            reference = (*extra, *reference)
        picked = [tuple(c for c in group if c in cells) for group in (pyml, incumbents, reference)]
        if any(picked):
            out.append((name, *picked))
    return out


def _table_rows(keys, cells, value):
    """Header and rows: each path's cells in order, then pyml / best incumbent when both sides ran."""
    header, rows = [], [[] for _ in keys]
    for name, pyml, incumbents, reference in columns(cells):
        header += [*pyml, *incumbents, *reference]
        ratio = bool(pyml and incumbents)
        if ratio:
            header.append(f"pyml/best {name}")
        for row, key in zip(rows, keys):
            values = {c: value(key, c) for c in (*pyml, *incumbents, *reference)}
            row += [values[c] for c in (*pyml, *incumbents, *reference)]
            if ratio:
                mine = [values[c] for c in pyml if values[c] is not None]
                theirs = [values[c] for c in incumbents if values[c] is not None]
                row.append(common.ratio(min(mine), min(theirs)) if mine and theirs else "n/a")
    return header, rows


def report(runs, cells, unavailable, args):
    """Print the warm, cold, bytes and parity tables; returns 1 when a cell disagrees with Python, else 0.

    ``args``: models, batches, rounds, threads, stat ("best" | "median") and markdown (print Markdown)."""
    summary = summarize(runs, args.stat)
    ok = {key: s for key, s in summary.items() if "error" not in s}
    table = functools.partial(common.print_table, markdown=args.markdown)
    how = f"{args.stat} of {args.rounds} fresh browser(s) per cell"
    isolated = any(r.get("isolated") for r in runs)

    keys = [(m, b) for m in args.models for b in args.batches]
    header, rows = _table_rows(keys, cells, lambda key, c: ok.get((key[0], c), {}).get("warm", {}).get(key[1]))
    table(f"Warm ms per inference (upload + run + read back; {how})", ["model", "batch", *header],
          [[models.label(m), b, *row] for (m, b), row in zip(keys, rows)],
          notes=["pyml/best: pyml's best cell on the path / the fastest incumbent (ort-wasm, tfjs-wasm; tfjs-webgpu, "
                 "ort-webgpu); below 1 means pyml is faster. Reference columns are not in it",
                 f"wasm threads asked for: {args.threads}; page cross-origin isolated: "
                 f"{'yes' if isolated else 'no (so one thread each)'}"])
    for key, title in (("cold", f"Cold ms: fresh browser and profile, navigation to first batch-1 result ({how})"),
                       ("load", "of which load (navigation to model ready, before the first predict)"),
                       ("own", "of which the library's own work (the page's script starting it to first result; "
                               "before that, navigation and the page's module cost every cell the same)")):
        header, rows = _table_rows(args.models, cells, lambda m, c: ok.get((m, c), {}).get(key))
        table(title, ["model", *header], [[models.label(m), *row] for m, row in zip(args.models, rows)])
    print_bytes(table, ok, args.models, cells)
    agree = print_parity(table, summary, args.models, cells, unavailable)
    return 0 if agree else 1


def print_bytes(table, ok, model_names, cells):
    """The bytes each cell fetched, by kind, from its first round's network log."""
    rows = []
    for model in model_names:
        for cell in cells:
            s = ok.get((model, cell))
            if s is None:
                continue
            raw = dict.fromkeys(inference_site.CATEGORIES, 0)
            packed = dict.fromkeys(inference_site.CATEGORIES, 0)
            for path, size, gzip in s["files"]:
                kind = inference_site.classify(path)
                if kind:
                    raw[kind] += size
                    packed[kind] += gzip
            rows.append([models.label(model), cell, *raw.values(), sum(raw.values()),
                         packed["code"] + packed["wasm"], sum(packed.values()),
                         sum(1 for path, *_ in s["files"] if inference_site.classify(path))])
    table("Bytes fetched up to the first result (network log; gzip -9 of the same files)",
          ["model", "cell", *inference_site.CATEGORIES, "total", "code+wasm gzip", "total gzip", "files"], rows,
          notes=["code: JS; model: graph JSON (pyml's model.json holds its WGSL); weights: .bin and .onnx (ONNX holds "
                 "graph and weights in one file); the benchmark page is not counted",
                 "the static server sends no Content-Encoding: the browser fetched the raw bytes"])


def print_parity(table, summary, model_names, cells, unavailable):
    """The parity table and the cells that did not run; returns True when every cell that ran agrees."""
    rows, agree, notes = [], True, []
    batches = sorted({b for s in summary.values() for b in s.get("diff", {})})
    for model in model_names:
        for cell in cells:
            s = summary.get((model, cell))
            if s is None or "error" in s:
                continue
            diffs = [s["diff"].get(b) for b in batches]
            good = all(d is not None and d <= TOLERANCE for d in diffs)
            agree &= good
            rows.append([models.label(model), cell, *diffs, "ok" if good else f"FAIL (> {TOLERANCE:g})", s["backend"]])
    for cell, why in unavailable.items():
        notes.append(f"{cell}: unavailable: {why}")
    for (model, cell), s in summary.items():
        if "error" in s:
            notes.append(f"{models.label(model)} {cell}: did not run: {s['error']}")
    table("Parity: max |output - pyml's Python predict| on the same inputs",
          ["model", "cell", *(f"batch {b}" for b in batches), "verdict", "ran on"], rows, notes=notes)
    return agree
