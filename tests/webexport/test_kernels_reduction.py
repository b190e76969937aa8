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


# ---- NaN through fused kernels (webexport/kernels/fused.py): rows and epilogues ------------------------
ROW_PROGRAMS = {
    "softmax": lambda x: pyml.ops.softmax(x),
    "max": lambda x: pyml.ops.max(x * 2.0, axis=-1),
    "min": lambda x: pyml.ops.min(x, axis=-1, keepdims=True) + 1.0,
    "relu_max": lambda x: pyml.ops.max(pyml.ops.relu(x), axis=-1),
}


@pytest.mark.parametrize("name", sorted(ROW_PROGRAMS))
@pytest.mark.parametrize("length", [9, 300])  # one invocation per row; one workgroup per row (tree)
def test_fused_rows_follow_numpy_on_nan(tmp_path, name, length):
    """A row holding NaN gives NaN (max/min propagate it, so softmax's whole row is NaN); +inf or -inf
    rows follow numpy too; other rows are untouched."""
    from pyml.graph import trace
    from pyml.graph.passes import optimize
    from tests.webexport.helpers import export_and_run
    from webexport import fuse, lower

    fn = ROW_PROGRAMS[name]
    graph = optimize(trace(fn, [((None, length), "float32")]))
    assert len(lower(graph, fuse(graph)).steps) == 1, "the row program should be one fused kernel"
    x = np.random.default_rng(length).uniform(-3, 3, (6, length)).astype(np.float32)
    x[1, length // 2] = np.nan
    x[2, 0] = np.nan
    x[3, length - 1] = np.inf
    x[4, :] = -np.inf
    x[5, 1] = np.nan
    x[5, 2] = np.inf
    (out,), _ = export_and_run(graph, [x], tmp_path / "b")
    with np.errstate(invalid="ignore"):
        expected = fn(pyml.Tensor(x)).numpy()
    assert np.isnan(expected[[1, 2, 5]]).all()
    assert_matches(out, expected)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_inlined_literal_operand_still_propagates_nan(op, tmp_path):
    """maximum(x, 0.0) tests only x for NaN (the literal cannot be one); a NaN constant is still honoured."""
    from tests.webexport.helpers import eager, export_and_run, one_node_graph

    x = np.array([[np.nan, -1.0, 2.0, np.inf, -np.inf]], np.float32)
    for k in (np.float32(0.0), np.float32(np.nan)):
        for inputs, constant in (([x, k], 1), ([k, x], 0)):
            graph = one_node_graph(op, inputs, {}, constant_inputs=(constant,))
            (out,), bundle = export_and_run(graph, [x], tmp_path / f"b{constant}{np.isnan(k)}")
            (step,) = bundle.manifest["steps"]
            assert step["inputs"] == [f"x{1 - constant}"]  # the scalar is inlined, not bound
            assert_matches(out, eager(op, inputs, {}))
