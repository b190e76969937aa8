"""IoU, MeanIoU, BinaryIoU, OneHotIoU and OneHotMeanIoU against scikit-learn's jaccard_score (the IoU per class
is the Jaccard index of "is class c" in targets and predictions), over batches, weights, ignore_class, resets."""
import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from pyml import metrics
from tests.pyml.metrics.helpers import accumulate


def labels(n=400, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, classes, n))
    return y, pred, rng.uniform(0.1, 3.0, n)


def test_mean_iou_and_iou_match_jaccard():
    y, pred, weight = labels()
    per_class = jaccard_score(y, pred, average=None, sample_weight=weight)
    m = metrics.MeanIoU(num_classes=4)
    # Keras adds 1e-7 to each denominator and to the class count: a relative error of about 1e-7 / weight
    assert accumulate(m, y, pred, weight) == pytest.approx(np.mean(per_class), rel=1e-6)
    m = metrics.IoU(num_classes=4, target_class_ids=[0, 3])
    assert accumulate(m, y, pred, weight) == pytest.approx(np.mean(per_class[[0, 3]]), rel=1e-6)
    m.reset_state()
    assert m.result() == 0.0
    assert accumulate(m, y[:60], pred[:60]) == pytest.approx(
        np.mean(jaccard_score(y[:60], pred[:60], average=None, labels=[0, 3])), rel=1e-6)


def test_a_class_never_seen_is_left_out_of_the_mean():
    y, pred = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 2])  # class 3 appears nowhere
    m = metrics.MeanIoU(num_classes=4)
    m.update_state(y, pred)
    assert m.result() == pytest.approx(np.mean(jaccard_score(y, pred, average=None, labels=[0, 1, 2])), rel=1e-6)


def test_segmentation_maps_with_per_image_weights_and_ignore_class():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, (6, 5, 5))
    y[:, 0, :] = 255  # a "void" border, ignored
    pred = np.where(rng.random((6, 5, 5)) < 0.7, y % 3, rng.integers(0, 3, (6, 5, 5)))
    per_image = rng.uniform(0.5, 2.0, 6)
    m = metrics.MeanIoU(num_classes=3, ignore_class=255)
    result = accumulate(m, y, pred, per_image, size=4)
    keep = y != 255
    weight = np.broadcast_to(per_image[:, None, None], y.shape)
    expected = jaccard_score(y[keep], pred[keep], average=None, sample_weight=weight[keep])
    assert result == pytest.approx(np.mean(expected), rel=1e-6)


def test_one_hot_and_score_inputs_take_the_arg_max():
    rng = np.random.default_rng(2)
    y, pred, weight = labels(200, 3, seed=2)
    one_hot = np.eye(3)[y]
    scores = rng.random((200, 3)) + 2 * np.eye(3)[pred]
    per_class = jaccard_score(y, pred, average=None, sample_weight=weight)
    assert accumulate(metrics.OneHotMeanIoU(num_classes=3), one_hot, scores, weight) == pytest.approx(
        np.mean(per_class), rel=1e-6)
    assert accumulate(metrics.OneHotIoU(num_classes=3, target_class_ids=[1]), one_hot, scores) == pytest.approx(
        jaccard_score(y, pred, average=None)[1], rel=1e-6)
    assert accumulate(metrics.OneHotIoU(3, [2], sparse_y_pred=True), one_hot, pred) == pytest.approx(
        jaccard_score(y, pred, average=None)[2], rel=1e-6)
    assert accumulate(metrics.IoU(3, [0, 2], sparse_y_pred=False), y, scores) == pytest.approx(
        np.mean(jaccard_score(y, pred, average=None)[[0, 2]]), rel=1e-6)


def test_binary_iou_thresholds_with_greater_or_equal():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 1).astype("float32")  # many scores exactly at the threshold 0.3
    weight = rng.uniform(0.5, 2.0, 300)
    predicted = scores >= np.float32(0.3)
    per_class = jaccard_score(y, predicted, average=None, sample_weight=weight)
    assert accumulate(metrics.BinaryIoU(threshold=0.3), y, scores, weight) == pytest.approx(
        np.mean(per_class), rel=1e-6)
    assert accumulate(metrics.BinaryIoU([1], threshold=0.3), y, scores, weight) == pytest.approx(per_class[1], rel=1e-6)


def test_wrong_num_classes_and_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"y_true holds class id 4, outside \[0, 3\): `num_classes`=3 does not match"):
        metrics.MeanIoU(num_classes=3).update_state(np.array([0, 4]), np.array([0, 1]))
    with pytest.raises(ValueError, match="y_pred holds class id -1"):
        metrics.MeanIoU(num_classes=3).update_state(np.array([0, 1]), np.array([0, -1]))
    with pytest.raises(ValueError, match="y_pred has 4 classes along axis -1 but num_classes=3"):
        metrics.OneHotMeanIoU(num_classes=3).update_state(np.eye(3)[[0, 1]], np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"`target_class_ids` must be .*\[0, 3\).*Received: target_class_ids=\[3\]"):
        metrics.IoU(num_classes=3, target_class_ids=[3])
    with pytest.raises(ValueError, match="`num_classes` must be an integer >= 1. Received: num_classes=0"):
        metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match="y_true holds 3 class ids and y_pred 2"):
        metrics.MeanIoU(num_classes=3).update_state(np.array([0, 1, 2]), np.array([0, 1]))
