"""Top-k accuracy, R2Score and the mean-of-a-formula metrics (regression, probabilistic, hinge) against
scikit-learn, SciPy or the textbook formula computed here with NumPy, over batches and sample weights."""
import numpy as np
import pytest
from scipy.special import rel_entr
from sklearn.metrics import (hinge_loss, log_loss, mean_absolute_percentage_error, mean_squared_log_error,
                             r2_score, top_k_accuracy_score)

from pyml import metrics
from tests.pyml.metrics.helpers import accumulate


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_accuracy_matches_sklearn(k):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 300)
    scores = rng.random((300, 6)).astype("float32")  # continuous: no ties, where sklearn and Keras could differ
    weight = rng.uniform(0.1, 2.0, 300)
    expected = top_k_accuracy_score(y, scores, k=k, labels=range(6), sample_weight=weight)
    assert accumulate(metrics.SparseTopKCategoricalAccuracy(k=k), y, scores, weight) == pytest.approx(expected)
    assert accumulate(metrics.SparseTopKCategoricalAccuracy(k=k), y[:, None], scores, weight) == pytest.approx(expected)
    assert accumulate(metrics.TopKCategoricalAccuracy(k=k), np.eye(6)[y], scores, weight) == pytest.approx(expected)
    sorted_ids = np.argsort(-scores, axis=1)
    m = metrics.SparseTopKCategoricalAccuracy(k=k, from_sorted_ids=True)
    assert accumulate(m, y, sorted_ids, weight) == pytest.approx(expected)
    per_sample = metrics.sparse_top_k_categorical_accuracy(y, scores, k=k).numpy()
    np.testing.assert_array_equal(per_sample, np.any(sorted_ids[:, :k] == y[:, None], axis=1))


def test_top_k_ties_count_in_favour_as_keras():
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    assert metrics.sparse_top_k_categorical_accuracy(np.array([2]), scores, k=1).numpy()[0] == 1.0
    assert metrics.sparse_top_k_categorical_accuracy(np.array([3]), scores, k=3).numpy()[0] == 0.0
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 4\)"):
        metrics.sparse_top_k_categorical_accuracy(np.array([4]), scores)


@pytest.mark.parametrize("aggregation, multioutput", [("uniform_average", "uniform_average"),
                                                      ("variance_weighted_average", "variance_weighted"),
                                                      (None, "raw_values")])
def test_r2_score_matches_sklearn(aggregation, multioutput):
    rng = np.random.default_rng(1)
    y = rng.standard_normal((200, 3)) * [1.0, 3.0, 0.5]
    pred = y + rng.standard_normal((200, 3)) * 0.7
    weight = rng.uniform(0.1, 2.0, 200)
    m = metrics.R2Score(class_aggregation=aggregation)
    np.testing.assert_allclose(accumulate(m, y, pred, weight),
                               r2_score(y, pred, sample_weight=weight, multioutput=multioutput), rtol=1e-9)
    m.reset_state()
    np.testing.assert_allclose(accumulate(m, y[:30], pred[:30]), r2_score(y[:30], pred[:30], multioutput=multioutput),
                               rtol=1e-9)


def test_adjusted_r2_and_r2_errors():
    rng = np.random.default_rng(2)
    y = rng.standard_normal((50, 1))
    pred = y + 0.5 * rng.standard_normal((50, 1))
    plain = r2_score(y, pred)
    m = metrics.R2Score(num_regressors=3)
    assert accumulate(m, y, pred) == pytest.approx(1 - (1 - plain) * 49 / 46)
    with pytest.raises(ValueError, match="invalid `class_aggregation`.*Received: class_aggregation='mean'"):
        metrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match="`num_regressors` must be an integer >= 0. Received: num_regressors=-1"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match=r"R2Score expects y_true and y_pred of one shape \(batch_size, outputs\)"):
        metrics.R2Score().update_state(np.zeros((4, 2)), np.zeros((4, 3)))


def weighted_mean(values, weight):
    return np.sum(values * weight) / np.sum(weight)


def test_formula_metrics_match_independent_references():
    rng = np.random.default_rng(3)
    positive = rng.uniform(0.5, 3.0, (120, 4))
    other = rng.uniform(0.5, 3.0, (120, 4))
    weight = rng.uniform(0.1, 2.0, 120)
    probs = rng.dirichlet(np.ones(4), 120)
    probs2 = rng.dirichlet(np.ones(4), 120)
    labels = rng.integers(0, 4, 120)
    signs = rng.choice([-1.0, 1.0], (120, 1))
    margins = rng.standard_normal((120, 1)) * 2
    x = other - positive
    cases = [
        (metrics.MeanAbsolutePercentageError(), positive, other,
         mean_absolute_percentage_error(positive, other, sample_weight=weight) * 100),
        (metrics.MeanSquaredLogarithmicError(), positive, other,
         mean_squared_log_error(positive, other, sample_weight=weight)),
        (metrics.LogCoshError(), positive, other, weighted_mean(np.mean(np.log(np.cosh(x)), 1), weight)),
        (metrics.CosineSimilarity(), positive, other, weighted_mean(
            np.sum(positive * other, 1) / np.linalg.norm(positive, axis=1) / np.linalg.norm(other, axis=1), weight)),
        (metrics.KLDivergence(), probs, probs2, weighted_mean(np.sum(rel_entr(probs, probs2), 1), weight)),
        (metrics.Poisson(), positive, other, weighted_mean(np.mean(other - positive * np.log(other), 1), weight)),
        (metrics.Hinge(), signs, margins, hinge_loss(signs.ravel(), margins.ravel(), sample_weight=weight)),
        (metrics.Hinge(), (signs + 1) / 2, margins, hinge_loss(signs.ravel(), margins.ravel(), sample_weight=weight)),
        (metrics.SquaredHinge(), signs, margins, weighted_mean(np.maximum(1 - signs * margins, 0).ravel() ** 2, weight)),
        (metrics.CategoricalHinge(), np.eye(4)[labels], probs, weighted_mean(np.maximum(
            np.max(np.where(np.eye(4)[labels] == 1, -np.inf, probs), 1) - probs[range(120), labels] + 1, 0), weight)),
        (metrics.CategoricalCrossentropy(), np.eye(4)[labels], probs,
         log_loss(labels, probs, sample_weight=weight, labels=range(4))),
        (metrics.SparseCategoricalCrossentropy(), labels, probs,
         log_loss(labels, probs, sample_weight=weight, labels=range(4))),
        (metrics.BinaryCrossentropy(), (signs > 0).astype(int), probs[:, :1],
         log_loss((signs > 0).ravel(), probs[:, 0], sample_weight=weight, labels=[False, True])),
        (metrics.MeanSquaredError(), positive, other, weighted_mean(np.mean(x ** 2, 1), weight)),
        (metrics.RootMeanSquaredError(), positive, other, np.sqrt(weighted_mean(np.mean(x ** 2, 1), weight))),
    ]
    for metric, y_true, y_pred, expected in cases:
        # the functions compute in float32 like Keras: ~1e-6 relative
        assert accumulate(metric, y_true, y_pred.astype("float32"), weight) == pytest.approx(expected, rel=2e-5), \
            metric.name
        metric.reset_state()
        assert metric.result() == 0.0


def test_log_cosh_stays_finite_for_large_errors():
    value = metrics.log_cosh(np.array([[0.0]]), np.array([[500.0]])).numpy()[0]
    assert value == pytest.approx(500.0 - np.log(2.0))
