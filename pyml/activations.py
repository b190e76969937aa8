"""Activation functions, by Keras name: ``"relu"``, ``"softmax"``, ``"sigmoid"``, ``"tanh"``, ``"gelu"``, ...

Each is a function of a Tensor written in pyml ops (so models that use it trace and export).
Layers take them by name (``Dense(64, activation="relu")``) or as a callable.

    >>> pyml.activations.get("relu")(pyml.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
"""
from pyml import ops


def linear(x):
    """Identity: ``linear(x) = x``.

    >>> pyml.activations.linear(pyml.Tensor([-1.0, 0.0, 2.0])).numpy()
    array([-1.,  0.,  2.], dtype=float32)
    """
    return x


def relu(x):
    """``max(x, 0)``.

    >>> pyml.activations.relu(pyml.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    return ops.relu(x)


def relu6(x):
    """``min(max(x, 0), 6)``.

    >>> pyml.activations.relu6(pyml.Tensor([-1.0, 0.0, 2.0])).numpy()
    array([0., 0., 2.], dtype=float32)
    """
    return ops.relu6(x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (Keras default slope 0.2).

    >>> pyml.activations.leaky_relu(pyml.Tensor([-1.0, 0.0, 2.0])).numpy()
    array([-0.2,  0. ,  2. ], dtype=float32)
    """
    return ops.leaky_relu(x, negative_slope=negative_slope)


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    >>> pyml.activations.elu(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-0.6321,  0.    ,  2.    ], dtype=float32)
    """
    return ops.elu(x, alpha=alpha)


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with the self-normalising constants.

    >>> pyml.activations.selu(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-1.1113,  0.    ,  2.1014], dtype=float32)
    """
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return ops.multiply(elu(x, alpha), scale)


def sigmoid(x):
    """``1 / (1 + exp(-x))``.

    >>> pyml.activations.sigmoid(pyml.Tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """
    return ops.sigmoid(x)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(x / 6 + 0.5, 0, 1)`` (Keras 3).

    >>> pyml.activations.hard_sigmoid(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([0.3333, 0.5   , 0.8333], dtype=float32)
    """
    return ops.minimum(ops.maximum(ops.add(ops.divide(x, 6.0), 0.5), 0.0), 1.0)


def tanh(x):
    """Hyperbolic tangent.

    >>> pyml.activations.tanh(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-0.7616,  0.    ,  0.964 ], dtype=float32)
    """
    return ops.tanh(x)


def softplus(x):
    """``log(1 + exp(x))``, computed so it never overflows.

    >>> pyml.activations.softplus(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([0.3133, 0.6931, 2.1269], dtype=float32)
    """
    return ops.softplus(x)


def softsign(x):
    """``x / (1 + |x|)``.

    >>> pyml.activations.softsign(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-0.5   ,  0.    ,  0.6667], dtype=float32)
    """
    return ops.divide(x, ops.add(ops.abs(x), 1.0))


def silu(x):
    """``x * sigmoid(x)`` (also called swish).

    >>> pyml.activations.silu(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-0.2689,  0.    ,  1.7616], dtype=float32)
    """
    return ops.silu(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit: ``x * Phi(x)``; with ``approximate=True`` the tanh form.

    Keras' activation defaults to the exact (erf) form (``keras.ops.gelu`` to the tanh form).

    >>> pyml.activations.gelu(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-0.1587,  0.    ,  1.9545], dtype=float32)
    """
    return ops.gelu(x, approximate=approximate)


def exponential(x):
    """``exp(x)``.

    >>> pyml.activations.exponential(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([0.3679, 1.    , 7.3891], dtype=float32)
    """
    return ops.exp(x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``.

    >>> pyml.activations.softmax(pyml.Tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """
    return ops.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``.

    >>> pyml.activations.log_softmax(pyml.Tensor([-1.0, 0.0, 2.0])).numpy().round(4)
    array([-3.1698, -2.1698, -0.1698], dtype=float32)
    """
    return ops.log_softmax(x, axis=axis)


swish = silu
_FUNCTIONS = {fn.__name__: fn for fn in (
    linear, relu, relu6, leaky_relu, elu, selu, sigmoid, hard_sigmoid, tanh, softplus, softsign, silu,
    gelu, exponential, softmax, log_softmax)}
_FUNCTIONS["swish"] = silu


def serialize(activation):
    """The Keras name of a built-in activation; a custom function keeps its ``__name__``.

    >>> pyml.activations.serialize(pyml.activations.get("relu"))
    'relu'
    """
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
