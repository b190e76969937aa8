"""AUC against scikit-learn.

With ``num_thresholds=n`` the ROC curve is known at the evenly spaced thresholds only, and the trapezoid
rule between them counts a positive and a negative whose scores share a bin as half a correct ordering. That is
exactly the Mann-Whitney AUC of the scores replaced by their bin index (ties count one half), which is what
``roc_auc_score`` computes on those indices: so the thresholded AUC must equal ``roc_auc_score(y,
bin_index)`` to rounding. Against the exact ``roc_auc_score(y, scores)`` it may differ by at most half the
weighted fraction of positive/negative pairs that share a bin, a bound the test computes from the data.
"""
import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from pyml import metrics
from tests.pyml.metrics.helpers import accumulate, binary_data


def bin_index(scores, n):
    """Which of the n - 1 intervals between evenly spaced thresholds a score falls in (0 for a score of 0)."""
    return np.ceil(np.clip(scores.astype("float64"), 0, 1) * (n - 1))


def shared_bin_bound(y, bins, weight):
    pos = np.bincount(bins[y == 1].astype(int), weights=weight[y == 1], minlength=int(bins.max()) + 1)
    neg = np.bincount(bins[y == 0].astype(int), weights=weight[y == 0], minlength=int(bins.max()) + 1)
    return 0.5 * np.sum(pos * neg) / (pos.sum() * neg.sum())


@pytest.mark.parametrize("n", [3, 20, 200])
def test_roc_equals_sklearn_on_the_binned_scores(n):
    y, scores, weight = binary_data(n=400, seed=4)
    metric = metrics.AUC(num_thresholds=n)
    result = accumulate(metric, y, scores, weight)
    bins = bin_index(scores, n)
    assert result == pytest.approx(roc_auc_score(y, bins, sample_weight=weight), abs=1e-9)
    exact = roc_auc_score(y, scores, sample_weight=weight)
    assert abs(result - exact) <= shared_bin_bound(y, bins, weight) + 1e-9
    metric.reset_state()
    assert accumulate(metric, y[:100], scores[:100]) == pytest.approx(roc_auc_score(y[:100], bins[:100]), abs=1e-9)


def test_more_thresholds_approach_the_exact_area():
    y, scores, weight = binary_data(n=500, seed=5)
    exact = roc_auc_score(y, scores, sample_weight=weight)
    errors = [abs(accumulate(metrics.AUC(num_thresholds=n), y, scores, weight) - exact) for n in (5, 50, 2000)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-3


def thresholded_curve(y, scores, thresholds, weight):
    """(tp, fp, tn, fn) per threshold, from sklearn's confusion matrix of ``scores > t``."""
    rows = [confusion_matrix(y, scores > np.float32(t), labels=[0, 1], sample_weight=weight).ravel()
            for t in thresholds]
    tn, fp, fn, tp = np.array(rows, "float64").T
    return tp, fp, tn, fn


def rate(a, b):
    return np.divide(a, a + b, out=np.zeros_like(a), where=(a + b) != 0)


@pytest.mark.parametrize("summation", ["minoring", "majoring", "interpolation"])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_explicit_thresholds_each_summation(curve, summation):
    y, scores, weight = binary_data(n=250, seed=6)
    inner = [0.15, 0.3, 0.45, 0.5, 0.62, 0.8]
    result = accumulate(metrics.AUC(thresholds=inner, curve=curve, summation_method=summation), y, scores, weight)
    tp, fp, tn, fn = thresholded_curve(y, scores, [-1e-7] + inner + [1 + 1e-7], weight)
    if curve == "PR" and summation == "interpolation":
        # Davis & Goadrich: between two thresholds tp and fp move along a straight line; integrate the precision
        # along it against recall numerically (a fine trapezoid rule, independent of the closed form)
        area = 0.0
        for i in range(len(tp) - 1):
            s = np.linspace(0.0, 1.0, 20001)
            t_line = tp[i] + s * (tp[i + 1] - tp[i])
            p_line = t_line + fp[i] + s * (fp[i + 1] - fp[i])
            # where the line reaches p = 0 (the last threshold) precision is its limit along the line, dtp / dp
            dp = p_line[-1] - p_line[0]
            limit = (t_line[-1] - t_line[0]) / dp if dp else 0.0
            precision = np.divide(t_line, p_line, out=np.full_like(s, limit), where=p_line > 0)
            area -= np.trapezoid(precision, t_line / (tp[0] + fn[0]))
        assert result == pytest.approx(area, abs=1e-6)
        return
    x, h = (rate(fp, tn), rate(tp, fn)) if curve == "ROC" else (rate(tp, fn), rate(tp, fp))
    pick = {"minoring": np.minimum, "majoring": np.maximum, "interpolation": lambda a, b: (a + b) / 2}[summation]
    assert result == pytest.approx(np.sum((x[:-1] - x[1:]) * pick(h[:-1], h[1:])), abs=1e-9)


def test_multi_label_is_the_mean_of_per_label_aucs_and_label_weights_weigh_it():
    y, scores, weight = binary_data(n=300, seed=7, labels=3)
    bins = bin_index(scores, 200)
    per_label = [roc_auc_score(y[:, j], bins[:, j], sample_weight=weight) for j in range(3)]
    m = metrics.AUC(multi_label=True)
    assert accumulate(m, y, scores, weight) == pytest.approx(np.mean(per_label), abs=1e-9)
    m = metrics.AUC(multi_label=True, num_labels=3, label_weights=[1.0, 0.0, 3.0])
    assert accumulate(m, y, scores, weight) == pytest.approx((per_label[0] + 3 * per_label[2]) / 4, abs=1e-9)
    # without multi_label every entry is a sample of one curve; label weights weigh the entries
    m = metrics.AUC(label_weights=[1.0, 0.5, 2.0])
    flat_weight = (weight[:, None] * np.array([1.0, 0.5, 2.0])).ravel()
    assert accumulate(m, y, scores, weight) == pytest.approx(
        roc_auc_score(y.ravel(), bins.ravel(), sample_weight=flat_weight), abs=1e-9)
    with pytest.raises(ValueError, match=r"expected 3 labels \(num_labels\) but y_pred has 2"):
        metrics.AUC(multi_label=True, num_labels=3).update_state(y[:, :2], scores[:, :2])


def test_from_logits_applies_a_sigmoid():
    y, scores, _ = binary_data(n=200, seed=8)
    logits = np.log(scores + 1e-6) - np.log1p(-scores + 1e-6)
    plain, from_logits = metrics.AUC(), metrics.AUC(from_logits=True)
    assert accumulate(from_logits, y, logits) == pytest.approx(accumulate(plain, y, scores), abs=1e-6)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match=r"`curve`.*\('ROC', 'PR'\). Received: curve='XY'"):
        metrics.AUC(curve="xy")
    with pytest.raises(ValueError, match="`summation_method`.*Received: summation_method='trapezoid'"):
        metrics.AUC(summation_method="trapezoid")
    with pytest.raises(ValueError, match="`num_thresholds` must be an integer > 1. Received: num_thresholds=1"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match=r"`thresholds` must be .*Received: thresholds=\[0.5, 1.5\]"):
        metrics.AUC(thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="`num_labels` is needed only when `multi_label` is True"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match="multi_label=True needs y_pred of shape"):
        metrics.AUC(multi_label=True).update_state(np.zeros(4), np.zeros(4))
