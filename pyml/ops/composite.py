"""Composite ops: activations, softmax and friends, written in primitive ops (no registry entries).

Gradients, tracing and export come for free from the primitives they are made of (shared/STYLE.md §1,
"Composites stay composites"). Names and defaults follow ``keras.ops``:

    >>> pyml.ops.softmax(pyml.Tensor([0.0, 0.0])).numpy()
    array([0.5, 0.5], dtype=float32)
"""
import math
import numbers

import numpy as np

from pyml import backend, dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import (abs, cast, convert_to_tensor, equal, erf, exp, greater, less, log, maximum,
                                  minimum, multiply, sigmoid, tanh, where)
from pyml.ops.reduction import max, min, normalize_axes, sum

__all__ = ["ones_like", "zeros_like", "full_like", "square", "clip", "relu", "relu6", "leaky_relu", "elu",
           "silu", "gelu", "softplus", "softmax", "log_softmax", "logsumexp", "stop_gradient", "logical_not",
           "logical_and", "logical_or", "any", "all"]


def full_like(x, fill_value, dtype=None):
    """A tensor of ``x``'s shape filled with ``fill_value`` (dtype: ``dtype`` or ``x``'s). It is a constant:
    gradients do not flow through it. While tracing it stays in the graph as a broadcast scalar.

    >>> pyml.ops.full_like(pyml.Tensor([[1, 2]]), 7).numpy()
    array([[7, 7]], dtype=int32)
    """
    from pyml import ops
    from pyml.tensor import Tensor

    x = convert_to_tensor(x)
    dtype = dtypes.canonical(dtype) if dtype is not None else x.dtype
    if not isinstance(fill_value, (numbers.Real, np.bool_)) or np.ndim(fill_value):
        raise OpError("full_like", f"fill_value must be a number. Received: fill_value={fill_value!r}")
    if x.is_symbolic:  # a shape-() constant broadcast by the graph, so a dynamic batch stays dynamic
        return ops.broadcast_to(Tensor(fill_value, dtype=dtype), x.shape)
    return Tensor._wrap(backend.xp().full(x.shape, fill_value, dtype=dtype))


def ones_like(x, dtype=None):
    """Ones with the shape (and, unless ``dtype`` is given, the dtype) of ``x``.

    >>> pyml.ops.ones_like(pyml.Tensor([1.0, 2.0])).numpy()
    array([1., 1.], dtype=float32)
    """
    return full_like(x, 1, dtype)


def zeros_like(x, dtype=None):
    """Zeros with the shape (and, unless ``dtype`` is given, the dtype) of ``x``.

    >>> pyml.ops.zeros_like(pyml.Tensor([1, 2])).numpy()
    array([0, 0], dtype=int32)
    """
    return full_like(x, 0, dtype)


def square(x):
    """Elementwise ``x * x``.

    >>> pyml.ops.square(pyml.Tensor([-3.0, 2.0])).numpy()
    array([9., 4.], dtype=float32)
    """
    x = convert_to_tensor(x)
    return multiply(x, x)


def clip(x, x_min, x_max):
    """Elementwise ``min(max(x, x_min), x_max)``; at a bound the gradient still flows to ``x``.

    >>> pyml.ops.clip(pyml.Tensor([-2.0, 0.5, 3.0]), 0.0, 1.0).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    return minimum(maximum(x, x_min), x_max)


def relu(x):
    """Rectified linear unit ``max(x, 0)``; its gradient at 0 is 0, as in Keras/TensorFlow.

    >>> pyml.ops.relu(pyml.Tensor([-1.0, 0.0, 2.0])).numpy()
    array([0., 0., 2.], dtype=float32)
    """
    # maximum(0, x), not maximum(x, 0): at the tie x == 0 maximum's VJP routes the cotangent to its first
    # operand, the constant, so relu'(0) = 0. One maximum with a constant also fuses into matmul epilogues.
    x = convert_to_tensor(x)
    return maximum(convert_to_tensor(0, x.dtype), x)


def relu6(x):
    """``min(max(x, 0), 6)``; its gradient is 0 at 0 and at 6, as in TensorFlow.

    >>> pyml.ops.relu6(pyml.Tensor([-1.0, 3.0, 8.0])).numpy()
    array([0., 3., 6.], dtype=float32)
    """
    x = convert_to_tensor(x)
    return minimum(convert_to_tensor(6, x.dtype), relu(x))  # the constant first: the tie at 6 goes to it


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (Keras's default slope is 0.2).

    >>> pyml.ops.leaky_relu(pyml.Tensor([-1.0, 2.0])).numpy()
    array([-0.2,  2. ], dtype=float32)
    """
    x = convert_to_tensor(x)
    return where(greater(x, 0), x, x * negative_slope)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    >>> pyml.ops.elu(pyml.Tensor([0.0, 1.0])).numpy()
    array([0., 1.], dtype=float32)
    """
    x = convert_to_tensor(x)
    # exp of min(x, 0): the unused branch can never overflow (an inf there would make 0 * inf = NaN gradients).
    return where(greater(x, 0), x, (exp(minimum(x, 0)) - 1) * alpha)


def silu(x):
    """Sigmoid linear unit (swish) ``x * sigmoid(x)``.

    >>> pyml.ops.silu(pyml.Tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    x = convert_to_tensor(x)
    return x * sigmoid(x)


def gelu(x, approximate=True):
    """Gaussian error linear unit. Exact: ``x/2 (1 + erf(x/√2))``; ``approximate=True`` (Keras's default)
    uses the tanh form ``x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))``.

    >>> pyml.ops.gelu(pyml.Tensor([0.0, 1.0]), approximate=False).numpy().round(4)
    array([0.    , 0.8413], dtype=float32)
    """
    x = convert_to_tensor(x)
    if approximate:
        inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
        return x * 0.5 * (tanh(inner) + 1)
    return x * 0.5 * (erf(x * (1 / math.sqrt(2))) + 1)


def softplus(x):
    """``log(1 + exp(x))``, computed without overflow for large ``|x|``.

    >>> pyml.ops.softplus(pyml.Tensor([0.0])).numpy().round(4)
    array([0.6931], dtype=float32)
    """
    x = convert_to_tensor(x)
    positive = greater(x, 0)
    # x + log(1 + e^-x) for x > 0, log(1 + e^x) otherwise; each branch sees only safe inputs.
    high = where(positive, x, 0)
    low = where(positive, 0, x)
    return where(positive, high + log(exp(-high) + 1), log(exp(low) + 1))


def stop_gradient(x):
    """``x`` as a value that autodiff treats as a constant (Keras ``ops.stop_gradient``).

    >>> x = pyml.Variable(2.0)
    >>> with pyml.GradientTape() as tape:
    ...     y = x * pyml.ops.stop_gradient(x)
    >>> float(tape.gradient(y, x))
    2.0
    """
    return convert_to_tensor(x).detach()


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, stable (the max is subtracted first).

    >>> pyml.ops.softmax(pyml.Tensor([[1.0, 1.0, 1.0, 1.0]])).numpy()
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """
    x = convert_to_tensor(x)
    axes = normalize_axes("softmax", axis, x.ndim)
    e = exp(x - stop_gradient(max(x, axis=axes, keepdims=True)))  # the shift cancels in the gradient
    return e / sum(e, axis=axes, keepdims=True)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, stable.

    >>> pyml.ops.log_softmax(pyml.Tensor([0.0, 0.0])).numpy().round(4)
    array([-0.6931, -0.6931], dtype=float32)
    """
    x = convert_to_tensor(x)
    axes = normalize_axes("log_softmax", axis, x.ndim)
    shifted = x - stop_gradient(max(x, axis=axes, keepdims=True))
    return shifted - log(sum(exp(shifted), axis=axes, keepdims=True))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, stable; all ``-inf`` gives ``-inf``.

    >>> round(float(pyml.ops.logsumexp(pyml.Tensor([1000.0, 1000.0]))), 3)
    1000.693
    """
    x = convert_to_tensor(x)
    if not dtypes.is_float(x.dtype):
        x = cast(x, "float32")
    axes = normalize_axes("logsumexp", axis, x.ndim)
    top = stop_gradient(max(x, axis=axes, keepdims=True))
    top = where(less(abs(top), math.inf), top, 0)  # an infinite max would make x - top NaN
    total = log(sum(exp(x - top), axis=axes, keepdims=True)) + top
    if keepdims:
        return total
    from pyml import ops

    return ops.reshape(total, tuple(d for i, d in enumerate(x.shape) if i not in axes))



def _as_bool(x):
    x = convert_to_tensor(x)
    return x if x.dtype == "bool" else cast(x, "bool")


def logical_not(x):
    """Elementwise ``not x`` (non-bool inputs count as ``x != 0``).

    >>> pyml.ops.logical_not(pyml.Tensor([True, False])).numpy()
    array([False,  True])
    """
    return equal(_as_bool(x), False)


def logical_and(x1, x2):
    """Elementwise ``x1 and x2`` with broadcasting (non-bool inputs count as ``x != 0``).

    >>> pyml.ops.logical_and(pyml.Tensor([True, True]), pyml.Tensor([True, False])).numpy()
    array([ True, False])
    """
    return where(_as_bool(x1), _as_bool(x2), False)


def logical_or(x1, x2):
    """Elementwise ``x1 or x2`` with broadcasting (non-bool inputs count as ``x != 0``).

    >>> pyml.ops.logical_or(pyml.Tensor([False, False]), pyml.Tensor([True, False])).numpy()
    array([ True, False])
    """
    return where(_as_bool(x1), True, _as_bool(x2))


def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Whether any element over ``axis`` is true (non-zero).

    >>> pyml.ops.any(pyml.Tensor([[True, False], [False, False]]), axis=1).numpy()
    array([ True, False])
    """
    return greater(max(cast(_as_bool(x), "float32"), axis=axis, keepdims=keepdims), 0.0)


def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Whether every element over ``axis`` is true (non-zero).

    >>> pyml.ops.all(pyml.Tensor([[True, False], [True, True]]), axis=1).numpy()
    array([False,  True])
    """
    return greater(min(cast(_as_bool(x), "float32"), axis=axis, keepdims=keepdims), 0.0)
