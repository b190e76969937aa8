"""Every check that needs an NVIDIA GPU, in one command that prints ONE JSON report (issue #9).

Sections (each runs on its own: an error is recorded in its entry and the rest still runs):

- ``environment``: the CUDA device, CuPy, PyTorch, the wgpu adapter (which must be the GPU's Vulkan driver);
- ``op_suite``: every registry sample (tests/op_samples) forward on CuPy against its NumPy reference, and every
  VJP against central differences (tests/pyml/ops/test_registry.py's checks, on the GPU backend);
- ``training``: steps/s of ``fit`` at batch 128 (Adam, synthetic data copied to the device once per step) on the
  digits MLP (64-64-10), the mlp 784-512-512-10 and the Keras MNIST convnet (28x28; also without Dropout, whose
  masks pyml draws on the host), pyml on CuPy (its compiled step) against
  PyTorch CUDA on the same model, batch and per-step host-to-device copy (the ratio is pyml / torch);
- ``wgsl_kernels``: the native WebGPU kernel tests (tests/webexport/test_kernels_*.py; and the whole-model
  bundles of test_models_native.py unless ``--quick``) through wgpu on the GPU's Vulkan driver, against the
  Python reference they already assert;
- ``wgsl_vs_cupy``: TFLOP/s of the exported WGSL SGEMM at 4096^2 and of the WGSL convolution of the convnet's
  largest layer, against CuPy's ``@`` (cuBLAS) and pyml's conv on CuPy, on the same GPU.

Run on the GPU machine (see /work/shared/device/README.md for its setup):

    python benchmarks/gpu_check.py --quick --out $OUT/gpu_check.json     # ~3-6 min on an H100

and here, without a GPU, to check the script itself: ``--cpu-dry-run`` runs every section (small; the kernel
tests whole), with the strict device stand-in of the tests (tests/strict_xp.py) for CuPy, NumPy for cuBLAS,
PyTorch on the CPU and lavapipe for the Vulkan driver. Dry-run figures mean nothing.
"""
import argparse
import json
import os
import platform
import subprocess
import tempfile
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyml  # noqa: E402
from pyml import backend  # noqa: E402

BATCH = 128
# name -> input shape; "convnet-no-dropout" isolates the cost of Dropout's masks, which pyml draws on the host
# (the same numbers as on the CPU for a seed) and copies to the device every step, where torch draws on the GPU
MODELS = {"digits": (64,), "mlp": (784,), "convnet": (28, 28, 1), "convnet-no-dropout": (28, 28, 1)}


# ---- the device --------------------------------------------------------------------------------------
class Device:
    """What the sections compute on: the real GPU (CuPy, torch "cuda") or the dry run's stand-ins."""

    def __init__(self, dry_run):
        self.dry_run = dry_run
        if dry_run:
            from tests import strict_xp

            self.backend, self.blas, self.torch_device = strict_xp, np, "cpu"
        else:
            import cupy

            self.backend, self.blas, self.torch_device = "cupy", cupy, "cuda"

    def sync(self):
        if not self.dry_run:
            self.blas.cuda.Device().synchronize()

    def to_device(self, array):
        return self.blas.asarray(array)


# ---- sections ------------------------------------------------------------------------------------------
def environment(dev, args):
    info = {"python": platform.python_version(), "numpy": np.__version__, "dry_run": dev.dry_run}
    if not dev.dry_run:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info.update(cupy=cupy.__version__, cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                    cuda_driver=cupy.cuda.runtime.driverGetVersion(), gpu=props["name"].decode(),
                    gpu_memory_gib=round(props["totalGlobalMem"] / 2**30, 1))
    try:
        import torch

        info.update(torch=torch.__version__, torch_cuda=torch.cuda.is_available() and torch.cuda.get_device_name(0))
    except ImportError:
        info["torch"] = None
    try:
        from webexport.native import device

        adapter = device().adapter.info
        info["wgpu_adapter"] = {k: adapter[k] for k in ("device", "backend_type", "adapter_type", "description")}
    except Exception as exc:  # no wgpu / no Vulkan driver: the wgsl sections say so again
        info["wgpu_adapter"] = f"unavailable: {exc}"
    return info


def op_suite(dev, args):
    import pytest

    from tests.op_samples import all_samples
    from tests.pyml.ops import test_registry

    samples = all_samples()
    checks = [("forward", s, test_registry.test_forward_matches_reference) for s in samples]
    checks += [("vjp", s, test_registry.test_vjp_matches_central_differences) for s in test_registry.GRAD_SAMPLES]
    failures = []
    with pyml.device(dev.backend):
        for kind, sample, check in checks:
            try:
                check(sample)
            except (Exception, pytest.fail.Exception) as exc:  # pytest.fail's outcome is no Exception
                failures.append(f"{kind} {sample.id}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    return {"checks": len(checks), "passed": len(checks) - len(failures), "failures": failures[:40]}


def _data(model_name, steps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps * BATCH, *MODELS[model_name])).astype(np.float32)
    return x, rng.integers(0, 10, steps * BATCH)


def pyml_steps_per_second(dev, model_name, steps, warmup):
    import models  # benchmarks/models.py (this folder is first on sys.path, as for the other scripts)

    with pyml.device(dev.backend):
        if model_name == "convnet-no-dropout":
            model = models.build("convnet")
            model = pyml.Sequential([pyml.Input((28, 28, 1)),
                                     *[la for la in model.layers if not isinstance(la, pyml.layers.Dropout)]])
        else:
            model = models.build(model_name)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        x, y = _data(model_name, warmup)
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)  # first steps: kernels compile
        x, y = _data(model_name, steps)
        dev.sync()
        start = time.perf_counter()
        history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
        dev.sync()
        return steps / (time.perf_counter() - start), history.history["loss"][-1]


def torch_model(model_name):
    from torch import nn

    if model_name == "digits":
        return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    if model_name == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    dropout = model_name == "convnet"
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25 if dropout else 0.0), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                         nn.Dropout(0.5 if dropout else 0.0), nn.Linear(128, 10))


def torch_steps_per_second(dev, model_name, steps, warmup):
    import torch

    torch.manual_seed(0)
    model = torch_model(model_name).to(dev.torch_device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()  # the models end in logits: softmax + cross-entropy in one, as pyml's

    def epoch(count):
        x, y = _data(model_name, count)
        if model_name.startswith("convnet"):
            x = x.transpose(0, 3, 1, 2).copy()
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        for i in range(count):  # a host batch copied to the device every step, as pyml's fit does
            xb = x[i * BATCH:(i + 1) * BATCH].to(dev.torch_device)
            yb = y[i * BATCH:(i + 1) * BATCH].to(dev.torch_device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        return float(loss)

    epoch(warmup)
    if dev.torch_device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    loss = epoch(steps)  # float(loss) waits for the last step
    return steps / (time.perf_counter() - start), loss


def training(dev, args):
    steps, warmup = (3, 2) if dev.dry_run else ((60, 10) if args.quick else (200, 20))
    rows = {}
    for name in MODELS:
        row = rows[name] = {"batch": BATCH, "steps": steps}
        for library, measure in (("pyml", pyml_steps_per_second), ("torch", torch_steps_per_second)):
            try:
                rate, loss = measure(dev, name, steps, warmup)
                row[f"{library}_steps_per_s"], row[f"{library}_last_loss"] = round(rate, 2), round(float(loss), 4)
            except ImportError as exc:
                row[f"{library}_note"] = f"skipped: {exc}"
            except Exception:
                row[f"{library}_error"] = _error()
        if "pyml_steps_per_s" in row and "torch_steps_per_s" in row:
            row["pyml_over_torch"] = round(row["pyml_steps_per_s"] / row["torch_steps_per_s"], 3)
    return rows


def wgsl_kernels(dev, args):
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "webexport").glob("test_kernels_*.py"))
    if not args.quick:
        files.append("tests/webexport/test_models_native.py")
    report = Path(tempfile.mkdtemp()) / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *files]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.kernel_timeout)
    import xml.etree.ElementTree as ElementTree

    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    report.unlink()
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return {"files": files, **counts, "seconds": round(time.perf_counter() - start, 1), "exit_code": done.returncode,
            "failed": failed[:40]}


def _gflop_rate(flops, seconds):
    return round(flops / seconds / 1e12, 3)


def wgsl_vs_cupy(dev, args):
    from pyml.ops.registry import bind
    from tests.webexport.helpers import one_node_graph
    from webexport.kernels.common import LOWERINGS
    from webexport.lower import LoweringContext
    from webexport.native import time_kernels

    rng = np.random.default_rng(0)
    out = {}
    n = 256 if dev.dry_run else 4096
    conv_batch = 4 if dev.dry_run else BATCH
    cases = {
        f"sgemm_{n}": ("matmul", [rng.standard_normal((n, n)).astype(np.float32),
                                   rng.standard_normal((n, n)).astype(np.float32)], {}, 2 * n ** 3),
        # the convnet's second Conv2D: 26x26x32 -> 24x24x64, 3x3, valid
        f"conv_b{conv_batch}_26x26x32_to_64": (
            "conv", [rng.standard_normal((conv_batch, 26, 26, 32)).astype(np.float32),
                     rng.standard_normal((3, 3, 32, 64)).astype(np.float32)],
            dict(strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1),
            2 * conv_batch * 24 * 24 * 64 * 9 * 32),
    }
    repeats = 2 if dev.dry_run else 20
    for label, (op, inputs, attrs, flops) in cases.items():
        row = out[label] = {"gflop": round(flops / 1e9, 2)}
        try:
            graph = one_node_graph(op, inputs, attrs)
            ctx = LoweringContext(graph)
            kernels = LOWERINGS[op](graph.node("out"), ctx)
            values = dict(zip(graph.inputs, inputs))
            row["wgsl_tflops"] = _gflop_rate(flops, time_kernels(kernels, values, ctx.specs, repeats=repeats))
            row["wgsl_kernels"] = [k.label for k in kernels]
        except Exception:
            row["wgsl_error"] = _error()
        try:
            with pyml.device(dev.backend):
                tensors = [pyml.Tensor(dev.to_device(a)) for a in inputs]
                bind(op, *tensors, **attrs)  # warm-up: CuPy compiles its kernels at the first call
                dev.sync()
                start = time.perf_counter()
                for _ in range(repeats):
                    result = bind(op, *tensors, **attrs)
                dev.sync()
                row["pyml_on_device_tflops"] = _gflop_rate(flops, (time.perf_counter() - start) / repeats)
                np.testing.assert_allclose(result.numpy()[:2], bind(op, *[pyml.Tensor(a) for a in inputs],
                                                                   **attrs).numpy()[:2] if op == "conv" else
                                           inputs[0][:2].astype(np.float64) @ inputs[1], rtol=2e-2, atol=2e-2)
        except Exception:
            row["pyml_on_device_error"] = _error()
        if op == "matmul":  # cuBLAS directly: the bar of the target (WGSL >= 50 % of it)
            a, b = (dev.to_device(x) for x in inputs)
            a @ b
            dev.sync()
            start = time.perf_counter()
            for _ in range(repeats):
                a @ b
            dev.sync()
            row["cublas_tflops" if not dev.dry_run else "numpy_tflops"] = _gflop_rate(
                flops, (time.perf_counter() - start) / repeats)
        best = row.get("cublas_tflops") or row.get("pyml_on_device_tflops")
        if best and row.get("wgsl_tflops"):
            row["wgsl_over_device"] = round(row["wgsl_tflops"] / best, 3)
    return out


SECTIONS = {"environment": environment, "op_suite": op_suite, "training": training, "wgsl_kernels": wgsl_kernels,
            "wgsl_vs_cupy": wgsl_vs_cupy}


def _error():
    return traceback.format_exc(limit=-3).strip().splitlines()[-6:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps; kernel tests without whole models")
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="no GPU: every section small on the strict stand-in, NumPy, torch CPU and lavapipe")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--kernel-timeout", type=int, default=300, help="seconds for the WGSL kernel tests")
    parser.add_argument("--out", help="also write the JSON report to this file")
    args = parser.parse_args(argv)
    report = {"command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        dev = Device(args.cpu_dry_run)
    except Exception:  # no CuPy / no CUDA: nothing of the GPU runs, and the report says why
        report["error"] = _error()
        dev = None
    for name in args.sections.split(","):
        if dev is None:
            break
        start = time.perf_counter()
        try:
            report[name] = SECTIONS[name](dev, args)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            report[name] = {"error": _error()}
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
        print(f"gpu_check: {name} done in {report['seconds'][name]} s", file=sys.stderr, flush=True)
    text = json.dumps(report, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0 if dev is not None else 1


if __name__ == "__main__":
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    sys.exit(main())
