"""Activation functions, by Keras name: ``"relu"``, ``"softmax"``, ``"sigmoid"``, ``"tanh"``, ``"gelu"``, ...

Each is a function of a Tensor written in pyml ops (so models that use it trace and export).
Layers take them by name (``Dense(64, activation="relu")``) or as a callable.

    >>> pyml.activations.get("relu")(pyml.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
"""
from pyml import ops


def linear(x):
    """Identity: ``linear(x) = x``."""
    return x


def relu(x):
    """``max(x, 0)``.

    >>> pyml.activations.relu(pyml.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    return ops.relu(x)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return ops.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (Keras default slope 0.2)."""
    return ops.leaky_relu(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return ops.elu(x, alpha=alpha)


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalising constants."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return ops.multiply(elu(x, alpha), scale)


def sigmoid(x):
    """``1 / (1 + exp(-x))``.

    >>> pyml.activations.sigmoid(pyml.Tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """
    return ops.sigmoid(x)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(x / 6 + 0.5, 0, 1)`` (Keras 3)."""
    return ops.minimum(ops.maximum(ops.add(ops.divide(x, 6.0), 0.5), 0.0), 1.0)


def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(x)


def softplus(x):
    """``log(1 + exp(x))``, computed so it never overflows."""
    return ops.softplus(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return ops.divide(x, ops.add(ops.abs(x), 1.0))


def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    return ops.silu(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit: ``x * Phi(x)``; with ``approximate=True`` the tanh form.

    Keras' activation defaults to the exact (erf) form (``keras.ops.gelu`` to the tanh form).
    """
    return ops.gelu(x, approximate=approximate)


def exponential(x):
    """``exp(x)``."""
    return ops.exp(x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``.

    >>> pyml.activations.softmax(pyml.Tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """
    return ops.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    return ops.log_softmax(x, axis=axis)


swish = silu
_FUNCTIONS = {fn.__name__: fn for fn in (
    linear, relu, relu6, leaky_relu, elu, selu, sigmoid, hard_sigmoid, tanh, softplus, softsign, silu,
    gelu, exponential, softmax, log_softmax)}
_FUNCTIONS["swish"] = silu


def serialize(activation):
    """The Keras name of a built-in activation; a custom function keeps its ``__name__``."""
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", type(activation).__name__)


def get(identifier):
    """An activation function from a name, a callable or None (``linear``).

    >>> pyml.activations.get(None) is pyml.activations.linear
    True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _FUNCTIONS.get(identifier)
        if fn is None:
            raise ValueError(f"Unknown activation: known ones are {', '.join(sorted(_FUNCTIONS))}. "
                             f"Received: activation={identifier!r}")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"Expected an activation name or a callable. Received: activation={identifier!r}")
