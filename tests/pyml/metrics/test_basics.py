"""Metrics: values from Keras' documentation, accumulation over batches, weights, reset, lookup."""
import numpy as np
import pytest

from pyml import metrics


# Values from the examples in Keras' metric docstrings.
def test_keras_documented_values():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(np.array([[2], [1]]), np.array([[0.1, 0.6, 0.3], [0.05, 0.95, 0]]))
    assert m.result() == pytest.approx(0.5)
    m = metrics.CategoricalAccuracy()
    m.update_state(np.array([[0, 0, 1], [0, 1, 0]]), np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]]))
    assert m.result() == pytest.approx(0.5)
    m = metrics.BinaryAccuracy()
    m.update_state(np.array([[1], [1], [0], [0]]), np.array([[0.98], [1], [0], [0.6]]))
    assert m.result() == pytest.approx(0.75)
    m = metrics.Accuracy()
    m.update_state(np.array([[1], [2], [3], [4]]), np.array([[0], [2], [3], [4]]))
    assert m.result() == pytest.approx(0.75)
    m = metrics.MeanSquaredError()
    m.update_state(np.array([[0, 1], [0, 0]]), np.array([[1, 1], [0, 0]], "float32"))
    assert m.result() == pytest.approx(0.25)
    m = metrics.MeanAbsoluteError()
    m.update_state(np.array([[0, 1], [0, 0]]), np.array([[1, 1], [0, 0]], "float32"))
    assert m.result() == pytest.approx(0.25)


def test_accumulates_over_batches_and_resets():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 50)
    scores = rng.random((50, 4))
    m = metrics.SparseCategoricalAccuracy()
    for start in range(0, 50, 16):
        m.update_state(labels[start:start + 16], scores[start:start + 16])
    assert m.result() == pytest.approx(np.mean(scores.argmax(-1) == labels))
    m.reset_state()
    assert m.result() == 0.0
    m.update_state(labels[:1], scores[:1])
    assert m.result() in (0.0, 1.0)


def test_mean_with_weights():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 3.0], sample_weight=[1.0, 0.0, 1.0])
    assert m.result() == pytest.approx(2.0)
    m.update_state([10.0])
    assert m.result() == pytest.approx(14.0 / 3)


def test_functions_return_per_sample_values():
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy(np.array([0, 1]), np.array([[0.9, 0.1],
                                                                                                  [0.8, 0.2]])).numpy(),
                                  [1.0, 0.0])
    np.testing.assert_array_equal(metrics.binary_accuracy(np.array([[1.0, 0.0]]), np.array([[0.7, 0.7]])).numpy(),
                                  [0.5])


def test_precision_recall_and_rmse():
    y_true, y_pred = np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.4, 0.7])
    precision, recall = metrics.Precision(), metrics.Recall()
    precision.update_state(y_true, y_pred)
    recall.update_state(y_true, y_pred)
    assert precision.result() == pytest.approx(2 / 3) and recall.result() == pytest.approx(2 / 3)
    rmse = metrics.RootMeanSquaredError()
    rmse.update_state(np.array([1.0, 2.0]), np.array([2.0, 4.0]))
    assert rmse.result() == pytest.approx(np.sqrt(2.5))


def test_calling_a_metric_updates_and_returns():
    m = metrics.Accuracy()
    assert m(np.array([1, 2]), np.array([1, 3])) == pytest.approx(0.5)
    assert m(np.array([1, 2]), np.array([1, 2])) == pytest.approx(0.75)


def test_get_by_name_and_errors():
    assert isinstance(metrics.get("mae"), metrics.MeanAbsoluteError) and metrics.get("mae").name == "mae"
    assert metrics.get("binary_crossentropy").name == "binary_crossentropy"
    custom = metrics.get(lambda y_true, y_pred: y_pred)
    assert isinstance(custom, metrics.MeanMetricWrapper)
    restored = metrics.get(metrics.serialize(metrics.BinaryAccuracy(threshold=0.3)))
    assert restored.get_config()["threshold"] == 0.3
    with pytest.raises(ValueError, match="Unknown metric: known ones are .*Received: metric='f1'"):
        metrics.get("f1")


def test_precision_recall_count_any_nonzero_target_as_positive():
    # Keras casts y_true to bool (metrics_utils.update_confusion_matrix_variables): 0.3 and -1 are positives
    y_true, y_pred = np.array([0.3, -1.0, 0.0, 2.0, 0.0]), np.array([0.9, 0.2, 0.8, 0.7, 0.1])
    true_positive = (y_true != 0) & (y_pred > 0.5)
    precision, recall = metrics.Precision(), metrics.Recall()
    precision.update_state(y_true, y_pred)
    recall.update_state(y_true, y_pred)
    assert precision.result() == pytest.approx(true_positive.sum() / (y_pred > 0.5).sum())  # 2 / 3
    assert recall.result() == pytest.approx(true_positive.sum() / (y_true != 0).sum())  # 2 / 3
    weighted = metrics.Recall()
    weighted.update_state(y_true, y_pred, sample_weight=np.array([1.0, 3.0, 1.0, 1.0, 1.0]))
    assert weighted.result() == pytest.approx(2 / 5)
