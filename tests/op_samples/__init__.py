"""Sample cases for every primitive, collected from one module per op family.

Each family module defines ``SAMPLES``: a list of ``Sample``. The registry-driven suites (forward vs
reference, gradient check, export, browser parity) all read ``all_samples()``.
"""
import importlib
from dataclasses import dataclass, field
from typing import Callable

FAMILIES = ("elementwise", "reduction", "movement", "linalg", "conv", "recurrent", "image")


@dataclass
class Sample:
    op: str  # primitive name
    inputs: list  # numpy arrays (float inputs in float32 unless the sample is about another dtype)
    attrs: dict = field(default_factory=dict)  # canonical attributes, as bind() takes them
    reference: Callable | None = None  # numpy implementation: reference(*inputs, **attrs)
    grad: bool = True  # check the VJP by central differences (inputs must avoid kinks and ties)
    note: str = ""  # why grad=False, or what the case covers

    @property
    def id(self):
        shapes = "x".join("_".join(map(str, x.shape)) or "s" for x in self.inputs)
        return f"{self.op}-{shapes}-{self.note}".rstrip("-")


def all_samples():
    samples = []
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"tests.op_samples.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.op_samples.{family}":
                raise
            continue
        samples.extend(module.SAMPLES)
    return samples


# Primitives that cannot be exported yet, each with the reason. The coverage tests assert this equals the
# set of primitives missing a WGSL lowering (tests/webexport/test_coverage.py) or a JS CPU kernel
# (tests/browser/test_ops_browser.py): adding a kernel means deleting its line here, and a new primitive
# without kernels must be listed here by name. Nothing is skipped silently.
NOT_YET_EXPORTABLE = {
    "rnn_scan_grad": "training in the browser is issue #12 (rnn_scan's backward pass, a NumPy BPTT loop)",
}
