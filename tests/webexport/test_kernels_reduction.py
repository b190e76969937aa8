"""The reduction WGSL lowerings run natively (wgpu-py) on every reduction sample and match the eager ops,
including reductions over and beside a dynamic batch axis."""
import numpy as np
import pytest

import pyml
from pyml.ops.registry import Spec, bind
from tests.op_samples import reduction as samples
from tests.webexport.test_kernels_elementwise import assert_matches, lower_and_run


@pytest.mark.parametrize("sample", samples.SAMPLES, ids=lambda s: s.id)
def test_lowering_matches_eager(sample):
    eager = bind(sample.op, *[pyml.Tensor(x) for x in sample.inputs], **sample.attrs)
    actual, kernels = lower_and_run(sample.op, sample.inputs, sample.attrs, eager.spec)
    assert len(kernels) == 1
    assert_matches(actual, eager.numpy())


def _batched(shape, attrs, op):
    """The output spec of ``op`` on an input of ``shape`` whose axis 0 is the dynamic batch."""
    axes = (attrs["axis"],) if op == "argmax" else attrs["axes"]
    out = []
    for k, d in enumerate(shape):
        if k not in axes:
            out.append(None if k == 0 else d)
        elif attrs["keepdims"]:
            out.append(1)
    return Spec(tuple(out), "int32" if op == "argmax" else "float32")


@pytest.mark.parametrize("op, attrs", [
    ("sum", {"axes": (1,), "keepdims": False}),
    ("sum", {"axes": (0,), "keepdims": False}),
    ("mean", {"axes": (0, 2), "keepdims": True}),
    ("mean", {"axes": (0, 1, 2), "keepdims": False}),
    ("max", {"axes": (0, 1), "keepdims": False}),
    ("min", {"axes": (2,), "keepdims": True}),
    ("argmax", {"axis": 0, "keepdims": False}),
    ("argmax", {"axis": 2, "keepdims": False}),
])
def test_dynamic_batch(op, attrs):
    """Kernels read the batch from params: the output count, or the reduced count, involves it."""
    x = np.random.default_rng(5).uniform(-2, 2, (5, 3, 4)).astype(np.float32)
    out_spec = _batched(x.shape, attrs, op)
    actual, kernels = lower_and_run(op, [x], attrs, out_spec, batch=5,
                                    input_specs={"a0": Spec((None, 3, 4), "float32")})
    assert "params.batch" in kernels[0].wgsl.split("_ = params.batch;")[1]
    assert_matches(actual, bind(op, pyml.Tensor(x), **attrs).numpy())


def test_mean_over_the_batch_divides_by_the_runtime_batch():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    attrs = {"axes": (0,), "keepdims": False}
    for batch in (2, 6):
        actual, _ = lower_and_run("mean", [x[:batch]], attrs, Spec((2,), "float32"), batch=batch,
                                  input_specs={"a0": Spec((None, 2), "float32")})
        np.testing.assert_allclose(actual, x[:batch].mean(axis=0), rtol=1e-6)
