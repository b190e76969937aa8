"""Composite ops vs numpy references, their stability at extreme inputs, and their gradients
(by central differences in float64, and the Keras/TensorFlow conventions at kinks)."""
import math

import numpy as np
import pytest

import pyml
from pyml import ops

T = pyml.Tensor
X = np.array([[-3.0, -0.5, 0.25, 1.5], [2.0, -1.25, 0.75, -2.5]], np.float32)
_erf = np.vectorize(math.erf)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


REFERENCES = {
    "relu": (lambda x: ops.relu(x), lambda x: np.maximum(x, 0)),
    "relu6": (lambda x: ops.relu6(x * 2.5), lambda x: np.clip(x * 2.5, 0, 6)),
    "leaky_relu": (lambda x: ops.leaky_relu(x), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (lambda x: ops.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    "silu": (ops.silu, lambda x: x / (1 + np.exp(-x))),
    "gelu_exact": (lambda x: ops.gelu(x, approximate=False), lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    "gelu_tanh": (ops.gelu, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
    "softplus": (ops.softplus, lambda x: np.logaddexp(0, x)),
    "softmax": (ops.softmax, _softmax),
    "softmax_axis0": (lambda x: ops.softmax(x, axis=0), lambda x: _softmax(x, axis=0)),
    "log_softmax": (ops.log_softmax, lambda x: np.log(_softmax(x))),
    "logsumexp": (lambda x: ops.logsumexp(x, axis=1), lambda x: np.log(np.exp(x).sum(axis=1))),
    "logsumexp_all_keepdims": (lambda x: ops.logsumexp(x, keepdims=True),
                               lambda x: np.log(np.exp(x).sum(keepdims=True))),
    "square": (ops.square, np.square),
    "clip": (lambda x: ops.clip(x, -1.0, 1.0), lambda x: np.clip(x, -1, 1)),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_forward_matches_numpy(name):
    op, reference = REFERENCES[name]
    out = op(T(X))
    expected = reference(X.astype(np.float64))
    assert out.shape == expected.shape and out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gradient_matches_central_differences(name):
    """<g, J v> from autodiff equals the directional finite difference, in float64 (no kinks in X)."""
    op, _ = REFERENCES[name]
    rng = np.random.default_rng(0)
    x64 = X.astype(np.float64)
    out = op(T(x64))
    g, v = rng.standard_normal(out.shape), rng.standard_normal(X.shape)
    source = pyml.Variable(x64)
    with pyml.GradientTape() as tape:
        y = op(source)
    analytic = float(np.sum(tape.gradient(y, source, output_gradients=T(g)).numpy() * v))
    eps = 1e-6
    numeric = float(np.sum((op(T(x64 + eps * v)).numpy() - op(T(x64 - eps * v)).numpy()) / (2 * eps) * g))
    assert np.isclose(analytic, numeric, rtol=1e-6, atol=1e-8), (analytic, numeric)


def test_softmax_and_friends_are_stable_for_huge_inputs():
    x = T([[1000.0, 1000.0, -1000.0], [-1e30, 0.0, 1e30]])
    np.testing.assert_allclose(ops.softmax(x).numpy(), [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(ops.log_softmax(x).numpy()[0], [-np.log(2), -np.log(2), -2000 - np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(ops.logsumexp(x, axis=1).numpy(), [1000 + np.log(2), 1e30], rtol=1e-6)
    np.testing.assert_array_equal(ops.softplus(T([-1000.0, 1000.0])).numpy(), [0.0, 1000.0])


def test_logsumexp_of_all_minus_inf_is_minus_inf():
    out = ops.logsumexp(T([[-np.inf, -np.inf], [0.0, -np.inf]]), axis=1).numpy()
    np.testing.assert_array_equal(out, [-np.inf, 0.0])


def test_logsumexp_gradient_is_softmax():
    x = pyml.Variable(X)
    with pyml.GradientTape() as tape:
        y = ops.sum(ops.logsumexp(x, axis=-1))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), _softmax(X), rtol=1e-6)


def _grad_at(op, values):
    x = pyml.Variable(np.asarray(values, np.float32))
    with pyml.GradientTape() as tape:
        y = ops.sum(op(x))
    return tape.gradient(y, x).numpy()


def test_gradients_at_kinks_follow_keras():
    np.testing.assert_array_equal(_grad_at(ops.relu, [-1.0, 0.0, 2.0]), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(_grad_at(ops.relu6, [0.0, 3.0, 6.0, 7.0]), [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(_grad_at(ops.softplus, [0.0, -1000.0, 1000.0]), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(_grad_at(lambda x: ops.clip(x, 0.0, 1.0), [-1.0, 0.5, 2.0]), [0.0, 1.0, 0.0])
    assert np.all(np.isfinite(_grad_at(ops.elu, [-1000.0, 1000.0])))


def test_relu_keeps_int_dtype():
    out = ops.relu(T([-2, 3]))
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [0, 3])


def test_ones_zeros_full_like():
    x = T(np.ones((2, 3), np.float64))
    assert ops.ones_like(x).dtype == "float64"
    np.testing.assert_array_equal(ops.zeros_like(x, dtype="int32").numpy(), np.zeros((2, 3), np.int32))
    np.testing.assert_array_equal(ops.full_like(T([1, 2]), 7).numpy(), [7, 7])
    assert ops.ones_like(T([True])).dtype == "bool"


def test_ones_like_is_a_constant_for_autodiff():
    x = pyml.Variable([1.0, 2.0])
    with pyml.GradientTape() as tape:
        y = ops.sum(ops.ones_like(x) * 3.0 + x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 1.0])


def test_ones_like_traces_with_a_dynamic_batch():
    from pyml.graph import trace

    graph = trace(lambda x: x + ops.ones_like(x), [((None, 3), "float32")])
    assert all(n.shape[0] is None for n in graph.nodes if n.op == "call")
    from pyml.graph.interpreter import run_graph

    (out,) = run_graph(graph, [np.zeros((4, 3), np.float32)])
    np.testing.assert_array_equal(np.asarray(out), np.ones((4, 3)))


def test_composites_are_not_primitives():
    registered = set(ops.primitives())
    for name in ("relu", "softmax", "log_softmax", "logsumexp", "gelu", "silu", "softplus", "ones_like", "clip"):
        assert hasattr(ops, name) and name not in registered


def test_stop_gradient_blocks_gradients_eagerly_and_in_traced_graphs():
    x = pyml.Variable(3.0)
    with pyml.GradientTape() as tape:
        y = x * ops.stop_gradient(x)
    assert float(tape.gradient(y, x)) == 3.0  # d/dx (x * c) with c = x held constant

    graph = pyml.trace(lambda t: pyml.autodiff.grad([ops.sum(t * ops.stop_gradient(t))], [t])[0], [((3,), "float32")])
    from pyml.graph.interpreter import run_graph

    values = np.array([1.0, -2.0, 0.5], np.float32)
    (out,) = run_graph(graph, [values])
    np.testing.assert_allclose(np.asarray(out), values)
