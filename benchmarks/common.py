"""Shared plumbing for the benchmark scripts: the digits model and bundle, the npm alternatives, tables.

The scripts in this folder import it as ``common`` (they run as ``python benchmarks/NAME.py``, which puts
this folder first on ``sys.path``); importing it also puts the repository root there, so ``pyml``,
``webexport``, ``demos/digits/train.py`` and ``tests.browser.harness`` resolve from a plain checkout.

    >>> import common
    >>> run = common.digits_bundle("/tmp/digits-bench", epochs=30)   # trains, exports model/ under it
    >>> run.bundle, run.accuracy
    (PosixPath('/tmp/digits-bench/model'), 0.97...)
    >>> common.print_table("sizes", ["what", "bytes"], [["runtime", 1234]])
"""
import gzip
import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE_MODULES = HERE / "node_modules"
NPM_INSTALL = "npm ci --prefix benchmarks --no-audit --no-fund"
DIGITS_TRAIN = ROOT / "demos" / "digits" / "train.py"
RATIO = re.compile(r"[0-9.,]+[x%]|n/a")  # ratios and percentages: tables right-align them like numbers

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class BenchmarkError(SystemExit):
    """A benchmark cannot run here (a missing package, a broken piece); the message says how to fix it.

    Subclasses SystemExit so the script ends non-zero with the message and no traceback."""

    def __init__(self, message):
        super().__init__(f"error: {message}")


# ---- the digits model ------------------------------------------------------------------------------------
def torch_epoch(model, optimizer, loss_fn, x, y, batch_size):
    """One epoch of PyTorch training in shuffled batches, as Keras's ``fit`` runs one; returns the running
    (mean loss, accuracy) that ``fit`` reports."""
    import torch

    model.train()
    order = torch.randperm(len(x))
    total, correct = 0.0, 0
    for lo in range(0, len(x), batch_size):
        index = order[lo:lo + batch_size]
        xb, yb = x[index], y[index]
        optimizer.zero_grad()
        logits = model(xb)
        loss = loss_fn(logits, yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
        correct += int((logits.argmax(1) == yb).sum())
    return total / len(x), correct / len(x)


def load_digits_demo():
    """demos/digits/train.py as a module (the demo folder is not a package)."""
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS_TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class DigitsRun(NamedTuple):
    """The digits MLP trained by the demo's own code, and where its web bundle was written."""

    model: object      # the pyml model (Dense 64 relu -> Dense 10 softmax)
    data: tuple        # (x_train, x_test, y_train, y_test), x scaled to 0..1
    accuracy: float    # test accuracy of the Python model
    bundle: Path       # the exported bundle folder (model.json, weights.bin, runtime/)


def digits_bundle(out_dir, epochs=None, seed=0):
    """Train the digits demo's model (``demos/digits/train.py``) and export it to ``out_dir/model``."""
    demo = load_digits_demo()
    import webexport

    model, data, accuracy = demo.train(epochs or demo.EPOCHS, seed)
    bundle = webexport.export(model, Path(out_dir) / "model")
    return DigitsRun(model, data, accuracy, Path(bundle))


# ---- npm alternatives ------------------------------------------------------------------------------------
def node_file(relative):
    """``benchmarks/node_modules/<relative>``; a missing file ends the run with the npm command to fix it."""
    path = NODE_MODULES / relative
    if not path.is_file():
        raise BenchmarkError(f"{path} is missing: install the packages this benchmark compares against with\n"
                             f"    {NPM_INSTALL}\n(benchmarks/package-lock.json pins their versions)")
    return path


def node_version(package):
    """The installed version of an npm package in benchmarks/node_modules."""
    import json

    return json.loads(node_file(f"{package}/package.json").read_text())["version"]


# ---- measuring and printing --------------------------------------------------------------------------------
def gzip_size(data):
    """Bytes of ``data`` (bytes or str) after ``gzip -9`` (mtime fixed, so the figure is reproducible)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def ratio(numerator, denominator):
    """``numerator / denominator`` formatted as ``12.3x``, or ``n/a`` when either side is missing."""
    if numerator is None or denominator in (None, 0):
        return "n/a"
    value = numerator / denominator
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def print_table(title, headers, rows, notes=(), markdown=False):
    """Print ``rows`` under ``headers`` as an aligned text table (numbers right-aligned), then the notes;
    ``markdown=True`` prints a Markdown table instead (the title in bold), ready for a README."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [all(_is_number(row[i]) for row in rows if row[i] is not None) for i in range(len(headers))]
    if markdown:
        print(f"\n**{title}**\n")
        print("| " + " | ".join(map(str, headers)) + " |")
        print("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
        for row in cells:
            print("| " + " | ".join(row) + " |")
        if notes:
            print()
        for note in notes:
            print(f"{note}  ")
        return
    widths = [max([len(str(h)), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    print(f"\n{title}")
    print(line([str(h) for h in headers]))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))
    for note in notes:
        print(f"  {note}")


def _is_number(value):
    return isinstance(value, (int, float)) or (isinstance(value, str) and RATIO.fullmatch(value) is not None)


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def machine_summary():
    """One line naming the machine: OS, CPU model and count, the 1-minute load average, Python and numpy."""
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}){load}; "
            f"Python {platform.python_version()}, numpy {numpy.__version__}")


def chromium_version(path):
    """``Chromium 156.0...`` from ``path --version``, or the path when that fails."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.split(" built on")[0].strip() or path
    except (OSError, subprocess.SubprocessError):
        return path
