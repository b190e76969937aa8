"""The elementwise WGSL lowerings run natively (wgpu-py) on every elementwise sample and match the eager ops.

Each sample becomes a one-node graph lowered by ``LOWERINGS[op]`` and executed by ``webexport.native``.
Float64 samples cannot be exported: for them the test asserts the ExportError instead.
"""
import numpy as np
import pytest

import pyml
from pyml.graph.ir import Node
from pyml.ops.registry import Spec, bind
from tests.op_samples import elementwise as samples
from webexport.kernels import elementwise as kernels
from webexport.kernels.common import LOWERINGS, ExportError
from webexport.native import run_kernels

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


class Context:
    """The part of webexport.lower's context a lowering uses: specs, constants, nodes, packed weights (none)."""

    def __init__(self, specs, constants=None):
        self.specs, self.constants = dict(specs), dict(constants or {})

    def spec(self, name):
        return self.specs[name]

    def constant(self, name):
        return self.constants.get(name)

    def node(self, name):
        raise AssertionError("elementwise lowerings do not inspect producer nodes")

    def packed(self, name):
        return None


def _dtype(array):
    return pyml.dtypes.of_array(np.asarray(array))


def lower_and_run(op, inputs, attrs, out_spec, constants=(), batch=1, input_specs=None):
    """Lower ``op`` applied to ``inputs`` (named a0, a1, ...) and run it; returns (output array, kernels)."""
    names = [f"a{k}" for k in range(len(inputs))]
    specs = {n: Spec(tuple(x.shape), _dtype(x)) for n, x in zip(names, inputs)}
    specs.update(input_specs or {})
    specs["out"] = out_spec
    const = {n: np.asarray(inputs[k]) for k, n in enumerate(names) if k in constants}
    node = Node("out", "call", out_spec.shape, out_spec.dtype, op, names, dict(attrs))
    ks = LOWERINGS[op](node, Context(specs, const))
    values = {n: x for n, x in zip(names, inputs) if n not in const}
    out = run_kernels(ks, values, specs, batch=batch)["out"]
    # run_kernels returns bool values flat; give them the output's shape
    return np.asarray(out).reshape([batch if d is None else d for d in out_spec.shape]), ks


def assert_matches(actual, expected):
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(actual, expected.astype(actual.dtype))


@pytest.mark.parametrize("sample", samples.SAMPLES, ids=lambda s: s.id)
def test_lowering_matches_eager(sample):
    eager = bind(sample.op, *[pyml.Tensor(x) for x in sample.inputs], **sample.attrs)
    if eager.dtype == "float64":
        with pytest.raises(ExportError, match="float64"):
            lower_and_run(sample.op, sample.inputs, sample.attrs, eager.spec)
        return
    actual, _ = lower_and_run(sample.op, sample.inputs, sample.attrs, eager.spec)
    assert_matches(actual, eager.numpy())


@pytest.mark.parametrize("op", ["add", "mul", "maximum", "pow", "where"])
def test_dynamic_batch_broadcast(op):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (5, 3, 1)).astype(np.float32)
    y = rng.uniform(-2.0, 2.0, (4,)).astype(np.float32)
    inputs = [x, y] if op != "where" else [x > 1.0, x, y]
    specs = {"a0": Spec((None, 3, 1), _dtype(inputs[0]))}
    if op == "where":
        specs["a1"] = Spec((None, 3, 1), "float32")
    eager = bind(op, *[pyml.Tensor(v) for v in inputs])
    out_spec = Spec((None, 3, 4), "float32")
    actual, ks = lower_and_run(op, inputs, {}, out_spec, batch=5, input_specs=specs)
    assert ks[0].threads == (12, 0)
    assert "params.batch" in ks[0].wgsl
    assert_matches(actual, eager.numpy())


def test_scalar_constant_is_inlined_not_bound():
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    zero = np.array(0.0, np.float32)
    actual, ks = lower_and_run("maximum", [zero, x], {}, Spec((1, 3), "float32"), constants=(0,))
    assert ks[0].inputs == ["a1"]  # the scalar is a literal in the WGSL, not a binding
    assert "let x0 = 0.0f;" in ks[0].wgsl
    np.testing.assert_array_equal(actual, np.maximum(0, x))


def test_constant_broadcast_from_one_value_is_inlined():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    half = np.full((2, 3), 0.5, np.float32)
    actual, ks = lower_and_run("mul", [x, half], {}, Spec((2, 3), "float32"), constants=(1,))
    assert ks[0].inputs == ["a0"]
    np.testing.assert_array_equal(actual, x * 0.5)


def test_negative_literal_operand_stays_one_operand():
    node = Node("v", "call", (3,), "float32", "sub", ["x", "k"])
    assert kernels.expression(node, ["acc", "-1.0f"]) == "(acc - (-1.0f))"
    neg = Node("v", "call", (3,), "float32", "neg", ["x"])
    assert kernels.expression(neg, ["-1.0f"]) == "(-(-1.0f))"


def test_expression_for_epilogues():
    """matmul/conv lowerings call expression() for the fused tail: every fusable op on f32 has one."""
    for op in sorted(kernels.UNARY + kernels.BINARY):
        args = ["acc"] if op in kernels.UNARY else ["acc", "in2[j]"]
        text = kernels.expression(Node("v", "call", (4,), "float32", op, ["x", "y"][: len(args)]), args)
        assert "acc" in text, op
    # relu: against a finite literal only the other operand can be NaN, so only it is tested
    assert kernels.expression(Node("v", "call", (4,), "float32", "maximum", ["v1", "c"]), ["acc", "0.0f"]) \
        == "select(max(acc, 0.0f), acc, is_nan(acc))"
    assert kernels.expression(Node("v", "call", (4,), "float32", "minimum", ["c", "v1"]), ["-6.0f", "acc"]) \
        == "select(min(acc, (-6.0f)), acc, is_nan(acc))"
    assert kernels.expression(Node("v", "call", (4,), "float32", "maximum", ["v1", "v2"]), ["acc", "x1"]) \
        == "maximum_f32(acc, x1)"


def test_unexportable_dtype_names_the_node():
    node = Node("v7", "call", (3,), "float64", "exp", ["x"])
    with pytest.raises(ExportError, match=r"%v7 \(exp\).*float64"):
        kernels.expression(node, ["a"])


def test_inlined_math_is_accurate_over_a_dense_range():
    """tanh, sigmoid, erf, sin and cos stay within 2e-6 relative / 2e-7 absolute of float64 references
    (WGSL's own sin/cos may be off by 2^-11, and SwiftShader's are)."""
    import math

    x = np.concatenate([np.linspace(-9, 9, 3001), np.linspace(-100, 100, 2001), np.geomspace(1e-6, 0.6, 200), -np.geomspace(1e-6, 0.6, 200)])
    x = x.astype(np.float32)
    x64 = x.astype(np.float64)
    references = {
        "tanh": np.tanh(x64),
        "sigmoid": 1 / (1 + np.exp(-x64)),
        "erf": np.vectorize(math.erf)(x64),
        "sin": np.sin(x64),
        "cos": np.cos(x64),
    }
    for op, expected in references.items():
        actual, _ = lower_and_run(op, [x], {}, Spec(x.shape, "float32"))
        np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=2e-7, err_msg=op)
