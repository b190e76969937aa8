"""Activation functions against NumPy, lookup by name, and their use in traced graphs."""
import math

import numpy as np
import pytest

import pyml
from pyml import activations

X = np.linspace(-4, 4, 17).astype("float32")
ERF = np.vectorize(math.erf)

REFERENCES = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "tanh": np.tanh,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + ERF(x / np.sqrt(2))),
    "exponential": np.exp,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "log_softmax": lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_matches_numpy(name):
    out = activations.get(name)(pyml.Tensor(X)).numpy()
    np.testing.assert_allclose(out, REFERENCES[name](X.astype("float64")), rtol=1e-5, atol=1e-6)


def test_every_named_activation_has_a_reference():
    assert set(activations._FUNCTIONS) == set(REFERENCES)


def test_gelu_approximate_form():
    out = activations.gelu(pyml.Tensor(X), approximate=True).numpy()
    x = X.astype("float64")
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.serialize(activations.get("relu")) == "relu"
    custom = lambda x: x  # noqa: E731
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="Unknown activation: known ones are .*Received: activation='rellu'"):
        activations.get("rellu")
