"""Metrics compiled into a model: fit logs them (vector results as arrays in History, their mean on the progress
line, as Keras), evaluate reports what scikit-learn computes on the model's predictions, reset each epoch, and
they survive save/load with the model."""
import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score, roc_auc_score, top_k_accuracy_score

import pyml
from pyml import layers, metrics


def data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 4)).astype("float32") + np.eye(3, 4, dtype="float32")[y]
    return x, np.eye(3, dtype="float32")[y]


def compiled_model():
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy",
                  metrics=["auc", metrics.F1Score(), metrics.F1Score(average="macro", name="f1_macro"),
                           metrics.OneHotMeanIoU(num_classes=3), metrics.TopKCategoricalAccuracy(k=2),
                           metrics.Precision(thresholds=[0.3, 0.6])])
    return model


def test_fit_logs_vector_metrics_and_evaluate_matches_sklearn(capsys, tmp_path):
    x, y = data()
    model = compiled_model()
    history = model.fit(x, y, epochs=2, batch_size=32, validation_data=data(60, seed=1), verbose=2)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    for key in ("auc", "f1_score", "f1_macro", "one_hot_mean_io_u", "top_k_categorical_accuracy", "precision",
                "val_f1_score", "val_auc"):
        assert f" {key}: " in line, (key, line)
    f1 = history.history["f1_score"][-1]
    assert isinstance(f1, np.ndarray) and f1.shape == (3,)
    assert f" f1_score: {f1.mean():.4f}" in line  # the progress line shows the vector's mean, as Keras
    assert history.history["val_precision"][-1].shape == (2,)

    logs = model.evaluate(x, y, batch_size=25, verbose=0, return_dict=True)  # batches of another size
    probs = model.predict(x, verbose=0)
    labels, predicted = y.argmax(1), probs.argmax(1)
    np.testing.assert_allclose(logs["f1_score"], f1_score(labels, predicted, average=None), atol=1e-6)
    assert logs["f1_macro"] == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-6)
    assert logs["one_hot_mean_io_u"] == pytest.approx(np.mean(jaccard_score(labels, predicted, average=None)),
                                                      rel=1e-6)
    assert logs["top_k_categorical_accuracy"] == pytest.approx(top_k_accuracy_score(labels, probs, k=2))
    # AUC with every entry one sample of one curve: within the shared-bin bound of the exact area (see test_auc)
    assert logs["auc"] == pytest.approx(roc_auc_score(y.ravel(), probs.ravel()), abs=0.01)
    np.testing.assert_allclose(logs["precision"], [np.sum((probs > t) & (y == 1)) / np.sum(probs > t)
                                                   for t in (0.3, 0.6)], rtol=1e-6)

    path = tmp_path / "model.pyml"
    model.save(path)
    restored = pyml.load_model(path)
    again = restored.evaluate(x, y, batch_size=25, verbose=0, return_dict=True)
    assert again.keys() == logs.keys()
    for key in logs:
        np.testing.assert_allclose(again[key], logs[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_metrics_restart_each_epoch():
    x, y = data()
    model = compiled_model()
    model.compile(optimizer=pyml.optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy",
                  metrics=[metrics.AUC(), metrics.R2Score()])
    history = model.fit(x, y, epochs=3, batch_size=40, shuffle=False, verbose=0)
    # nothing learns (learning rate 0), so every epoch sees the same predictions: the same values, not a sum
    assert history.history["auc"][0] == pytest.approx(history.history["auc"][2])
    assert history.history["r2_score"][0] == pytest.approx(history.history["r2_score"][2])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["auc"] == pytest.approx(history.history["auc"][0])
