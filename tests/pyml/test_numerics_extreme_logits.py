"""Softmax, log-softmax, log-sum-exp and the cross-entropies (from logits and from probabilities) under logits of
±1e4: finite values and gradients equal to float64 references (tests/extreme_logits.py), in the ops, and in a
training step run eagerly and compiled."""
import numpy as np
import pytest

import pyml
from pyml import ops
from tests import extreme_logits as ref

WEIGHTS = np.array([1.0, 2.0, 3.0], np.float32)  # makes a scalar of a vector output without symmetric cancelling

# name: (pyml function of the logits tensor -> per-row values, float64 reference (values, d sum(values) / d z))
CASES = {
    "softmax": (lambda z: ops.sum(ops.softmax(z) * WEIGHTS, axis=-1),
                lambda z: ((ref.softmax(z) * WEIGHTS).sum(-1),
                           ref.softmax(z) * (WEIGHTS - (ref.softmax(z) * WEIGHTS).sum(-1, keepdims=True)))),
    "log_softmax": (lambda z: ops.sum(ops.log_softmax(z) * ref.ONE_HOT, axis=-1),
                    lambda z: ((ref.log_softmax(z) * ref.ONE_HOT).sum(-1), ref.ONE_HOT - ref.softmax(z))),
    "logsumexp": (lambda z: ops.logsumexp(z, axis=-1), lambda z: (ref.logsumexp(z), ref.softmax(z))),
    "categorical_crossentropy_logits": (
        lambda z: pyml.losses.categorical_crossentropy(ref.ONE_HOT, z, from_logits=True),
        lambda z: ref.cce_logits(z, ref.ONE_HOT)),
    "sparse_categorical_crossentropy_logits": (
        lambda z: pyml.losses.sparse_categorical_crossentropy(ref.CLASSES, z, from_logits=True),
        lambda z: ref.cce_logits(z, ref.ONE_HOT)),
    "binary_crossentropy_logits": (
        lambda z: pyml.losses.binary_crossentropy(ref.MULTI_HOT, z, from_logits=True),
        lambda z: ref.bce_logits(z, ref.MULTI_HOT)),
    "categorical_crossentropy_probabilities": (
        lambda z: pyml.losses.categorical_crossentropy(ref.ONE_HOT, ops.softmax(z)),
        lambda z: ref.cce_probabilities(z, ref.ONE_HOT)),
    "sparse_categorical_crossentropy_probabilities": (
        lambda z: pyml.losses.sparse_categorical_crossentropy(ref.CLASSES, ops.softmax(z)),
        lambda z: ref.cce_probabilities(z, ref.ONE_HOT)),
    "binary_crossentropy_probabilities": (
        lambda z: pyml.losses.binary_crossentropy(ref.MULTI_HOT, ops.sigmoid(z)),
        lambda z: ref.bce_probabilities(z, ref.MULTI_HOT)),
}


@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_are_finite_and_match_float64(name):
    function, reference = CASES[name]
    logits = pyml.Variable(ref.LOGITS)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow on the way, not even hidden
        with pyml.GradientTape() as tape:
            values = function(logits)
            total = ops.sum(values)
        gradient = tape.gradient(total, logits).numpy()
    expected, expected_gradient = reference(ref.z64())
    assert np.isfinite(values.numpy()).all() and np.isfinite(gradient).all()
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-5, atol=1e-6)


def test_the_cases_are_extreme():
    # the naive formulas overflow on these logits: without the shift, exp(1e4) is inf in float64 too
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(ref.z64()) / np.exp(ref.z64()).sum(-1, keepdims=True)
    assert not np.isfinite(naive).all()
    assert ref.cce_logits(ref.z64(), ref.ONE_HOT)[0].max() == pytest.approx(2e4 + np.log(2))  # row 2: tie, wrong class


# (loss, output activation, float64 reference of the per-row loss and its gradient, targets)
TRAINING = {
    "categorical_crossentropy_logits": (pyml.losses.CategoricalCrossentropy(from_logits=True), None,
                                        ref.cce_logits, ref.ONE_HOT),
    "categorical_crossentropy_probabilities": ("categorical_crossentropy", "softmax", ref.cce_probabilities,
                                               ref.ONE_HOT),
    "binary_crossentropy_logits": (pyml.losses.BinaryCrossentropy(from_logits=True), None, ref.bce_logits,
                                   ref.MULTI_HOT),
    "binary_crossentropy_probabilities": ("binary_crossentropy", "sigmoid", ref.bce_probabilities, ref.MULTI_HOT),
}


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", TRAINING)
def test_one_training_step_on_extreme_logits_matches_float64(name, eager):
    # x = the logits, kernel = identity, no bias: the model's logits are exactly LOGITS; one SGD step on the
    # batch's mean loss moves the kernel by -lr * x^T dL/dz / batch.
    loss, activation, reference, y = TRAINING[name]
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(3, use_bias=False, activation=activation)])
    model.set_weights([np.eye(3, dtype=np.float32)])
    model.compile(optimizer=pyml.optimizers.SGD(learning_rate=1e-4), loss=loss, run_eagerly=eager)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        history = model.fit(ref.LOGITS, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    values, gradient = reference(ref.z64(), y)
    kernel = np.eye(3) - 1e-4 * ref.z64().T @ gradient / len(y)
    assert np.isfinite(history.history["loss"][0])
    assert history.history["loss"][0] == pytest.approx(values.mean(), rel=1e-6)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-5, atol=1e-6)


def test_binary_crossentropy_from_logits_has_the_right_gradient_at_zero_logits():
    # a zero-initialised output layer starts here: d/dz (softplus(z) - z y) = sigmoid(0) - y = 0.5 - y, where the
    # max(z, 0) + log(1 + exp(-|z|)) form with relu's and abs's subgradients gave -y
    logits = pyml.Variable(np.zeros((2, 2), np.float32))
    y = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    with pyml.GradientTape() as tape:
        loss = ops.sum(pyml.losses.binary_crossentropy(y, logits, from_logits=True))
    np.testing.assert_allclose(tape.gradient(loss, logits).numpy(), (0.5 - y) / 2)
    assert float(loss) == pytest.approx(2 * np.log(2))
