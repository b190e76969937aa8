"""Losses against NumPy formulas and the values in Keras' documentation; reductions, weights, gradients."""
import numpy as np
import pytest

import pyml
from pyml import losses

EPS = 1e-7


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# Values from the examples in Keras' loss docstrings.
def test_keras_documented_values():
    y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 0.0]], "float32")
    assert float(losses.MeanSquaredError()(y_true, y_pred)) == pytest.approx(0.5)
    assert float(losses.MeanAbsoluteError()(y_true, y_pred)) == pytest.approx(0.5)
    bce = losses.BinaryCrossentropy()(np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]], "float32"))
    assert float(bce) == pytest.approx(0.815, abs=1e-3)
    logits = losses.BinaryCrossentropy(from_logits=True)(np.array([0.0, 1.0, 0.0, 0.0]),
                                                         np.array([-18.6, 0.51, 2.94, -12.8], "float32"))
    assert float(logits) == pytest.approx(0.865, abs=1e-3)
    probs = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]], "float32")
    cce = losses.CategoricalCrossentropy()(np.array([[0, 1, 0], [0, 0, 1]]), probs)
    assert float(cce) == pytest.approx(1.177, abs=1e-3)
    assert float(losses.SparseCategoricalCrossentropy()(np.array([1, 2]), probs)) == pytest.approx(1.177, abs=1e-3)


def test_regression_losses_match_numpy():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((5, 3)), rng.standard_normal((5, 3)).astype("float32")
    np.testing.assert_allclose(losses.mean_squared_error(y_true, y_pred).numpy(), ((y_pred - y_true) ** 2).mean(-1),
                               rtol=1e-5)
    np.testing.assert_allclose(losses.mean_absolute_error(y_true, y_pred).numpy(), np.abs(y_pred - y_true).mean(-1),
                               rtol=1e-5)


def test_crossentropies_match_numpy():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4)).astype("float32")
    labels = rng.integers(0, 4, 6)
    one_hot = np.eye(4)[labels]
    p = softmax(logits.astype("float64"))
    expected = -np.log(np.clip(p[np.arange(6), labels], EPS, 1 - EPS))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, p.astype("float32")).numpy(), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy(),
                               expected, rtol=1e-5)
    np.testing.assert_allclose(losses.categorical_crossentropy(one_hot, logits, from_logits=True).numpy(), expected,
                               rtol=1e-5)
    z = rng.integers(0, 2, (6, 4)).astype("float64")
    q = 1 / (1 + np.exp(-logits.astype("float64")))
    bce = -(z * np.log(np.clip(q, EPS, 1 - EPS)) + (1 - z) * np.log(1 - np.clip(q, EPS, 1 - EPS)))
    np.testing.assert_allclose(losses.binary_crossentropy(z, q.astype("float32")).numpy(), bce.mean(-1), rtol=1e-4)
    np.testing.assert_allclose(losses.binary_crossentropy(z, logits, from_logits=True).numpy(), bce.mean(-1),
                               rtol=1e-4)


def test_probabilities_are_clipped_and_renormalised():
    # p = 0 for the true class: -log(1e-7), not infinity (Keras clips)
    assert float(losses.sparse_categorical_crossentropy(np.array([0]), np.array([[0.0, 1.0]], "float32"))[0]) == \
        pytest.approx(-np.log(EPS), rel=1e-3)
    # unnormalised probabilities are divided by their sum first
    a = losses.categorical_crossentropy(np.array([[0.0, 1.0]]), np.array([[1.0, 3.0]], "float32")).numpy()
    np.testing.assert_allclose(a, [-np.log(0.75)], rtol=1e-6)


def test_logits_are_stable_for_large_values():
    out = losses.sparse_categorical_crossentropy(np.array([0]), np.array([[1000.0, -1000.0]], "float32"),
                                                 from_logits=True)
    assert np.isfinite(out.numpy()).all() and float(out[0]) == pytest.approx(0.0, abs=1e-6)
    out = losses.binary_crossentropy(np.array([[0.0]]), np.array([[500.0]], "float32"), from_logits=True)
    assert float(out[0]) == pytest.approx(500.0)


def test_label_smoothing_and_ignore_class():
    y = np.array([[0.0, 1.0]])
    p = np.array([[0.3, 0.7]], "float32")
    smoothed = losses.categorical_crossentropy(y, p, label_smoothing=0.2).numpy()
    np.testing.assert_allclose(smoothed, [-(0.1 * np.log(0.3) + 0.9 * np.log(0.7))], rtol=1e-5)
    ignored = losses.sparse_categorical_crossentropy(np.array([1, 0]), np.array([[0.3, 0.7], [0.4, 0.6]], "float32"),
                                                     ignore_class=0).numpy()
    np.testing.assert_allclose(ignored, [-np.log(0.7), 0.0], rtol=1e-5)


def test_reductions_and_sample_weight():
    y_true, y_pred = np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [4.0], [6.0]], "float32")
    per_sample = np.array([0.0, 4.0, 9.0])
    np.testing.assert_allclose(losses.MeanSquaredError(reduction=None)(y_true, y_pred).numpy(), per_sample)
    assert float(losses.MeanSquaredError(reduction="sum")(y_true, y_pred)) == pytest.approx(13.0)
    assert float(losses.MeanSquaredError()(y_true, y_pred)) == pytest.approx(13.0 / 3)
    weighted = losses.MeanSquaredError()(y_true, y_pred, sample_weight=np.array([1.0, 0.0, 2.0]))
    assert float(weighted) == pytest.approx(18.0 / 3)  # Keras: weighted sum over the number of samples
    with pytest.raises(ValueError, match="Received: reduction='avg'"):
        losses.MeanSquaredError(reduction="avg")


def test_rank_one_targets_match_column_predictions():
    out = losses.mean_squared_error(np.array([1.0, 2.0]), np.array([[1.5], [2.0]], "float32")).numpy()
    np.testing.assert_allclose(out, [0.25, 0.0])


def test_sparse_shape_mismatch_is_clear():
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(2, 3\), y_pred.shape=\(2, 3\)"):
        losses.sparse_categorical_crossentropy(np.eye(3)[:2], np.ones((2, 3), "float32") / 3)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((4, 3))
    labels = rng.integers(0, 3, 4)
    x = pyml.Tensor(logits, requires_grad=True)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)(labels, x)
    (grad,) = pyml.autodiff.grad([loss], [x])
    expected = (softmax(logits) - np.eye(3)[labels]) / 4  # d mean(CE) / d logits
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_get_and_serialize():
    assert losses.get("mse") is losses.mean_squared_error
    assert isinstance(losses.get("BinaryCrossentropy"), losses.BinaryCrossentropy)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    restored = losses.get(losses.serialize(loss))
    assert isinstance(restored, losses.SparseCategoricalCrossentropy) and restored.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="Unknown loss: known ones are .*sparse_categorical_crossentropy"):
        losses.get("hinge_loss")


def test_sparse_class_ids_out_of_range_are_refused():
    # a one-hot of id 3 among 3 classes is all zeros: without this check the loss would silently be 0
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], "float32")
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\).*Received: y_true holds 3"):
        losses.sparse_categorical_crossentropy(np.array([0, 3]), p)
    with pytest.raises(ValueError, match="Received: y_true holds -1"):
        losses.SparseCategoricalCrossentropy()(np.array([-1, 2]), p)
    # the ignored id may lie outside the range (a padding id such as -1)
    out = losses.sparse_categorical_crossentropy(np.array([-1, 2]), p, ignore_class=-1).numpy()
    np.testing.assert_allclose(out, [0.0, -np.log(0.8)], rtol=1e-6)


def test_ignore_class_mean_is_over_the_entries_that_count():
    # Keras masks the ignored entries, so "sum_over_batch_size" divides by the number of valid entries
    y_true = np.array([[1, 0, 0], [1, 1, 0]])
    p = np.tile(np.array([0.3, 0.7], "float32"), (2, 3, 1))
    per_entry = np.where(y_true == 0, 0.0, -np.log(0.7))
    loss = losses.SparseCategoricalCrossentropy(ignore_class=0)
    assert float(loss(y_true, p)) == pytest.approx(per_entry.sum() / 3, rel=1e-6)
    weights = np.array([2.0, 1.0])
    assert float(loss(y_true, p, sample_weight=weights)) == pytest.approx(
        (per_entry * weights[:, None]).sum() / 3, rel=1e-6)
    summed = losses.SparseCategoricalCrossentropy(ignore_class=0, reduction="sum")
    assert float(summed(y_true, p)) == pytest.approx(per_entry.sum(), rel=1e-6)
    assert float(loss(np.zeros((2, 3), "int32"), p)) == 0.0  # nothing counts: 0, not nan


def test_a_custom_loss_call_receives_tensors():
    # Keras converts y_true and y_pred before call(), so a subclass may use Tensor methods on both
    class MeanGap(losses.Loss):
        def call(self, y_true, y_pred):
            assert isinstance(y_true, pyml.Tensor) and isinstance(y_pred, pyml.Tensor)
            return pyml.ops.mean(pyml.ops.abs(y_pred - pyml.ops.cast(y_true, y_pred.dtype)), axis=-1)

    assert float(MeanGap()([[1, 2]], np.array([[2.0, 2.0]], "float32"))) == pytest.approx(0.5)
