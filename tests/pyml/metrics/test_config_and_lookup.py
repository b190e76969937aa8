"""Every metric class: its config survives JSON and rebuilds a metric that computes the same; names resolve as
Keras resolves them; unknown names list the known ones."""
import json

import numpy as np
import pytest

from pyml import metrics

rng = np.random.default_rng(0)
LABELS = rng.integers(0, 3, 40)
ONE_HOT = np.eye(3)[LABELS]
SCORES = rng.dirichlet(np.ones(3), 40).astype("float32")
BINARY = rng.integers(0, 2, (40, 1))
REGRESSION = rng.uniform(0.5, 2.0, (40, 3))

# (metric with non-default arguments, y_true, y_pred)
CASES = [
    (metrics.Accuracy(name="acc2"), LABELS, SCORES.argmax(1)),
    (metrics.BinaryAccuracy(threshold=0.3), BINARY, SCORES[:, :1]),
    (metrics.CategoricalAccuracy(), ONE_HOT, SCORES),
    (metrics.SparseCategoricalAccuracy(), LABELS, SCORES),
    (metrics.TopKCategoricalAccuracy(k=2), ONE_HOT, SCORES),
    (metrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True), LABELS, np.argsort(-SCORES, 1)),
    (metrics.MeanSquaredError(), REGRESSION, REGRESSION[::-1]),
    (metrics.MeanAbsoluteError(), REGRESSION, REGRESSION[::-1]),
    (metrics.MeanAbsolutePercentageError(), REGRESSION, REGRESSION[::-1]),
    (metrics.MeanSquaredLogarithmicError(), REGRESSION, REGRESSION[::-1]),
    (metrics.RootMeanSquaredError(), REGRESSION, REGRESSION[::-1]),
    (metrics.CosineSimilarity(axis=1), REGRESSION, REGRESSION[::-1]),
    (metrics.LogCoshError(), REGRESSION, REGRESSION[::-1]),
    (metrics.R2Score(class_aggregation=None, num_regressors=2), REGRESSION, REGRESSION[::-1]),
    (metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), BINARY, SCORES[:, :1]),
    (metrics.CategoricalCrossentropy(label_smoothing=0.2), ONE_HOT, SCORES),
    (metrics.SparseCategoricalCrossentropy(from_logits=True), LABELS, SCORES),
    (metrics.KLDivergence(), ONE_HOT, SCORES),
    (metrics.Poisson(), REGRESSION, REGRESSION[::-1]),
    (metrics.Hinge(), BINARY, SCORES[:, :1]),
    (metrics.SquaredHinge(), BINARY, SCORES[:, :1]),
    (metrics.CategoricalHinge(), ONE_HOT, SCORES),
    (metrics.TruePositives(thresholds=np.array([0.2, 0.6])), ONE_HOT, SCORES),
    (metrics.FalsePositives(thresholds=0.4), ONE_HOT, SCORES),
    (metrics.TrueNegatives(), ONE_HOT, SCORES),
    (metrics.FalseNegatives(thresholds=[0.1]), ONE_HOT, SCORES),
    (metrics.Precision(thresholds=[0.2, 0.5], class_id=1), ONE_HOT, SCORES),
    (metrics.Recall(top_k=2), ONE_HOT, SCORES),
    (metrics.PrecisionAtRecall(recall=0.6, num_thresholds=30, class_id=0), ONE_HOT, SCORES),
    (metrics.RecallAtPrecision(precision=0.4), ONE_HOT, SCORES),
    (metrics.SensitivityAtSpecificity(specificity=0.5, num_thresholds=10), ONE_HOT, SCORES),
    (metrics.SpecificityAtSensitivity(sensitivity=0.5), ONE_HOT, SCORES),
    (metrics.AUC(curve="PR", summation_method="majoring", multi_label=True, num_labels=3,
                 label_weights=[1.0, 2.0, 0.5]), ONE_HOT, SCORES),
    (metrics.AUC(thresholds=(0.7, 0.1, 0.5), from_logits=True), ONE_HOT, SCORES * 3000 - 1000),
    (metrics.F1Score(average="weighted", threshold=0.3), ONE_HOT, SCORES),
    (metrics.FBetaScore(beta=2.0), ONE_HOT, SCORES),
    (metrics.IoU(num_classes=3, target_class_ids=[0, 2], ignore_class=1, sparse_y_pred=False), LABELS, SCORES),
    (metrics.MeanIoU(num_classes=3, sparse_y_true=False, sparse_y_pred=False), ONE_HOT, SCORES),
    (metrics.BinaryIoU(target_class_ids=[1], threshold=0.4), BINARY, SCORES[:, :1]),
    (metrics.OneHotIoU(num_classes=3, target_class_ids=[1]), ONE_HOT, SCORES),
    (metrics.OneHotMeanIoU(num_classes=3, name="miou"), ONE_HOT, SCORES),
]


def test_every_exported_metric_class_is_covered():
    assert {type(m).__name__ for m, _, _ in CASES} == set(metrics._CLASSES) - {"Mean"}


@pytest.mark.parametrize("metric, y_true, y_pred", CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_config_round_trip_rebuilds_the_same_metric(metric, y_true, y_pred):
    metric.reset_state()
    config = json.loads(json.dumps(metrics.serialize(metric)))
    rebuilt = metrics.get(config)
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()
    weight = np.linspace(0.5, 1.5, len(y_true))
    np.testing.assert_allclose(rebuilt(y_true, y_pred, sample_weight=weight), metric(y_true, y_pred, weight))


def test_names_resolve_as_keras():
    for name, cls in [("auc", metrics.AUC), ("AUC", metrics.AUC), ("f1_score", metrics.F1Score),
                      ("precision", metrics.Precision), ("true_positives", metrics.TruePositives),
                      ("r2_score", metrics.R2Score), ("mape", metrics.MeanAbsolutePercentageError),
                      ("logcosh", metrics.LogCoshError), ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
                      ("kl_divergence", metrics.KLDivergence), ("binary_crossentropy", metrics.BinaryCrossentropy)]:
        assert type(metrics.get(name)) is cls, name
    assert metrics.get("auc").name == "auc" and metrics.get("mape").name == "mape"
    assert metrics._FUNCTIONS["log_cosh"] is metrics.log_cosh


def test_unknown_or_incomplete_names_say_what_is_valid():
    with pytest.raises(ValueError, match=r"Unknown metric: known ones are .*auc.*f1_score.*Received: metric='f2'"):
        metrics.get("f2")
    with pytest.raises(ValueError, match=r"Metric 'mean_io_u' \(MeanIoU\) needs arguments.*num_classes"):
        metrics.get("mean_io_u")
    with pytest.raises(ValueError, match="Unknown metric class: known ones are .*OneHotMeanIoU"):
        metrics.get({"class_name": "MeanIOU", "config": {}})
