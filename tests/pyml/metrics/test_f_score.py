"""F1Score and FBetaScore against scikit-learn's f1_score / fbeta_score for every ``average``, thresholded
multi-label data and arg-max single-label data, over batches and sample weights."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, fbeta_score

from pyml import metrics
from tests.pyml.metrics.helpers import accumulate

# Keras adds 1e-7 to the precision, recall and F denominators: with weighted counts of order 10-100 that moves
# the score by well under 1e-6
TOL = 1e-6


def multilabel(n=250, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, classes)) < 0.4).astype(int)
    scores = np.clip(0.3 * y + 0.7 * rng.random((n, classes)), 0, 1).astype("float32")
    return y, scores, rng.uniform(0.2, 2.0, n)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_thresholded_multilabel_matches_sklearn(average, beta):
    y, scores, weight = multilabel()
    m = metrics.F1Score(average=average, threshold=0.5) if beta == 1.0 else \
        metrics.FBetaScore(average=average, beta=beta, threshold=0.5)
    result = accumulate(m, y, scores, weight)
    expected = fbeta_score(y, scores > 0.5, beta=beta, average=average, sample_weight=weight)
    np.testing.assert_allclose(result, expected, atol=TOL)
    assert isinstance(result, np.ndarray) == (average is None)
    m.reset_state()
    np.testing.assert_allclose(accumulate(m, y[:40], scores[:40]),
                               fbeta_score(y[:40], scores[:40] > 0.5, beta=beta, average=average), atol=TOL)


@pytest.mark.parametrize("average", [None, "macro", "weighted"])
def test_no_threshold_predicts_each_rows_top_class(average):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    scores = rng.random((200, 3)).astype("float32") + np.eye(3, dtype="float32")[y] * 0.4
    result = accumulate(metrics.F1Score(average=average), np.eye(3)[y], scores)
    np.testing.assert_allclose(result, f1_score(y, scores.argmax(1), average=average), atol=TOL)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"invalid `average`.*Received: average='samples'"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match=r"`beta` must be a number in \(0.0, inf\). Received: beta=0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"`threshold` must be a number in \(0.0, 1.0\]. Received: threshold=0.0"):
        metrics.F1Score(threshold=0.0)
    with pytest.raises(ValueError, match="expects y_true and y_pred of one shape"):
        metrics.F1Score().update_state(np.array([0, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]))
    m = metrics.F1Score()
    m.update_state(np.eye(3)[[0, 1]], np.eye(3)[[0, 1]])
    with pytest.raises(ValueError, match="saw 3 classes before and 2 now"):
        m.update_state(np.eye(2), np.eye(2))
