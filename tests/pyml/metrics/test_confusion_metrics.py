"""The confusion-count metrics (TruePositives and siblings, Precision, Recall, PrecisionAtRecall and the other
X-at-Y metrics) against scikit-learn on the same thresholded predictions, over batches, weights and resets."""
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_score, recall_score

from pyml import metrics
from tests.pyml.metrics.helpers import accumulate, binary_data


def sk_counts(y, scores, threshold, weight=None):
    tn, fp, fn, tp = confusion_matrix(y.ravel(), (scores > threshold).ravel(), labels=[0, 1],
                                      sample_weight=weight).ravel()
    return {"TruePositives": tp, "FalsePositives": fp, "TrueNegatives": tn, "FalseNegatives": fn}


@pytest.mark.parametrize("name", ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"])
def test_counters_match_sklearn_confusion_matrix(name):
    y, scores, weight = binary_data()
    thresholds = [0.2, 0.5, 0.9, 0.0]  # unsorted on purpose: the result keeps this order
    metric = getattr(metrics, name)(thresholds=thresholds)
    result = accumulate(metric, y, scores, weight)
    expected = [sk_counts(y, scores, t, weight)[name] for t in thresholds]
    np.testing.assert_allclose(result, expected, rtol=1e-10)
    single = getattr(metrics, name)()  # default threshold 0.5, a float result
    assert accumulate(single, y, scores) == pytest.approx(sk_counts(y, scores, 0.5)[name])
    single.reset_state()
    assert single.result() == 0.0


@pytest.mark.parametrize("cls, reference", [(metrics.Precision, precision_score), (metrics.Recall, recall_score)])
def test_precision_recall_at_each_threshold_match_sklearn(cls, reference):
    y, scores, weight = binary_data(seed=1)
    thresholds = [0.1, 0.4, 0.6, 0.95]
    metric = cls(thresholds=thresholds)
    result = accumulate(metric, y, scores, weight)
    assert isinstance(result, np.ndarray) and result.shape == (4,)
    expected = [reference(y, scores > t, sample_weight=weight, zero_division=0) for t in thresholds]
    np.testing.assert_allclose(result, expected, rtol=1e-10)
    metric.reset_state()
    assert accumulate(metric, y[:50], scores[:50]) == pytest.approx(
        [reference(y[:50], scores[:50] > t, zero_division=0) for t in thresholds])
    assert isinstance(cls(thresholds=[0.3]).result(), float)  # a one-element list reports a float, as Keras


@pytest.mark.parametrize("cls, reference", [(metrics.Precision, precision_score), (metrics.Recall, recall_score)])
def test_top_k_and_class_id_slice_like_keras(cls, reference):
    rng = np.random.default_rng(2)
    y = (rng.random((120, 5)) < 0.3).astype(int)
    scores = rng.random((120, 5)).astype("float32")
    weight = rng.uniform(0.5, 2.0, 120)
    in_top2 = np.zeros_like(y, bool)
    np.put_along_axis(in_top2, np.argsort(-scores, axis=1)[:, :2], True, axis=1)
    # top_k alone: every top-2 entry is a positive prediction (no threshold), all classes pooled
    m = cls(top_k=2)
    assert accumulate(m, y, scores, weight) == pytest.approx(
        reference(y.ravel(), in_top2.ravel(), sample_weight=np.repeat(weight, 5)))
    # class_id: only column 3; with top_k the entry must also be in the row's top 2; thresholds still apply
    m = cls(class_id=3, thresholds=0.4)
    assert accumulate(m, y, scores, weight) == pytest.approx(
        reference(y[:, 3], scores[:, 3] > 0.4, sample_weight=weight))
    m = cls(top_k=2, class_id=3, thresholds=0.4)
    assert accumulate(m, y, scores, weight) == pytest.approx(
        reference(y[:, 3], in_top2[:, 3] & (scores[:, 3] > 0.4), sample_weight=weight))


def test_nonzero_targets_are_positive_and_per_entry_weights():
    # Keras casts y_true to bool: 0.3 and -1 are positives
    y_true, y_pred = np.array([0.3, -1.0, 0.0, 2.0, 0.0]), np.array([0.9, 0.2, 0.8, 0.7, 0.1])
    recall = metrics.Recall()
    recall.update_state(y_true, y_pred, sample_weight=np.array([1.0, 3.0, 1.0, 1.0, 1.0]))
    assert recall.result() == pytest.approx(2 / 5)
    precision = metrics.Precision()
    y2, s2 = np.array([[1, 0], [1, 1]]), np.array([[0.9, 0.8], [0.7, 0.2]])
    precision.update_state(y2, s2, sample_weight=np.array([[1.0, 4.0], [2.0, 1.0]]))  # one weight per entry
    assert precision.result() == pytest.approx((1 + 2) / (1 + 4 + 2))


@pytest.mark.parametrize("cls, argument, constrained, dependent", [
    (metrics.PrecisionAtRecall, "recall", "recall", "precision"),
    (metrics.RecallAtPrecision, "precision", "precision", "recall"),
    (metrics.SensitivityAtSpecificity, "specificity", "specificity", "recall"),
    (metrics.SpecificityAtSensitivity, "sensitivity", "recall", "specificity"),
])
def test_x_at_y_is_the_best_over_the_thresholds(cls, argument, constrained, dependent):
    y, scores, weight = binary_data(seed=3)
    metric = cls(**{argument: 0.7}, num_thresholds=51)
    result = accumulate(metric, y, scores, weight)
    best = 0.0
    for t in np.linspace(0, 1, 51):
        predicted = scores > np.float32(t)
        rates = {"precision": precision_score(y, predicted, sample_weight=weight, zero_division=0),
                 "recall": recall_score(y, predicted, sample_weight=weight, zero_division=0),
                 "specificity": recall_score(1 - y, ~predicted, sample_weight=weight, zero_division=0)}
        if rates[constrained] >= 0.7:
            best = max(best, rates[dependent])
    assert 0 < result and result == pytest.approx(best, rel=1e-9)
    config = metric.get_config()
    assert config[argument] == 0.7 and config["num_thresholds"] == 51
    assert metrics.get(metrics.serialize(metric)).get_config() == config


def test_bad_arguments_name_the_argument():
    for bad in (1.5, -0.1, [0.2, 2.0], "0.5", []):
        with pytest.raises(ValueError, match=r"`thresholds` must be .*\[0, 1\]. Received: thresholds="):
            metrics.Precision(thresholds=bad)
    with pytest.raises(ValueError, match="`thresholds`"):
        metrics.TruePositives(thresholds=[0.5, 1.2])
    with pytest.raises(ValueError, match=r"`recall` must be a number in \[0.0, 1.0\]. Received: recall=1.5"):
        metrics.PrecisionAtRecall(recall=1.5)
    with pytest.raises(ValueError, match="`num_thresholds` must be an integer > 0"):
        metrics.RecallAtPrecision(precision=0.5, num_thresholds=0)
    with pytest.raises(ValueError, match="`top_k` must be None or an integer >= 1. Received: top_k=0"):
        metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="class_id=4 needs y_pred of shape"):
        metrics.Recall(class_id=4).update_state(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="y_true and y_pred must have one shape"):
        metrics.Precision().update_state(np.zeros(4), np.zeros((4, 2)))
