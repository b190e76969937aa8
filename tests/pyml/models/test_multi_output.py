"""Keras 3 compile semantics on a model with two named inputs and two named outputs: losses, loss weights,
metrics and weighted_metrics by list or by output name, the log keys Keras 3.15 writes (checked by hand
against Keras on JAX, written out here), dict inputs and targets, and the values recomputed with NumPy."""
import numpy as np
import pytest

import pyml
from pyml import layers

N = 12
# The keys Keras 3.15 logs for `compile(loss={...}, metrics={"bin": ["accuracy", "mse"], "cls": ["accuracy"]},
# weighted_metrics={"cls": ["accuracy"]})` on outputs named "bin" and "cls" (fit's History, sorted by name),
# and the order of evaluate's list: loss, the per-output losses, then the other keys by name.
KERAS_KEYS = ["bin_accuracy", "bin_loss", "bin_mse", "cls_accuracy", "cls_loss", "cls_weighted_accuracy", "loss"]
KERAS_EVALUATE_ORDER = ["loss", "bin_loss", "cls_loss", "bin_accuracy", "bin_mse", "cls_accuracy",
                        "cls_weighted_accuracy"]


def two_heads(seed=0, extra=False):
    """Inputs "in_a" (3 features) and "in_b" (2); outputs "bin" (one sigmoid unit) and "cls" (3-way softmax)."""
    pyml.set_random_seed(seed)
    a, b = pyml.Input(shape=(3,), name="in_a"), pyml.Input(shape=(2,), name="in_b")
    hidden = layers.Dense(8, activation="tanh")(layers.Concatenate()([a, b]))
    if extra:  # state and random masks, for the compiled step
        hidden = layers.Dropout(0.3)(layers.BatchNormalization()(hidden))
    return pyml.Model([a, b], [layers.Dense(1, activation="sigmoid", name="bin")(hidden),
                               layers.Dense(3, activation="softmax", name="cls")(hidden)])


def data(seed=0, n=N):
    rng = np.random.default_rng(seed)
    xa, xb = rng.standard_normal((n, 3)).astype("float32"), rng.standard_normal((n, 2)).astype("float32")
    y_bin = (rng.random((n, 1)) > 0.5).astype("float32")
    y_cls = rng.integers(0, 3, n)
    weights = rng.uniform(0.1, 2.0, n).astype("float32")
    return xa, xb, y_bin, y_cls, weights


COMPILE = dict(loss={"bin": "binary_crossentropy", "cls": "sparse_categorical_crossentropy"},
               loss_weights={"bin": 0.5, "cls": 2.0}, metrics={"bin": ["accuracy", "mse"], "cls": ["accuracy"]},
               weighted_metrics={"cls": ["accuracy"]})


def numpy_logs(p_bin, p_cls, y_bin, y_cls, w):
    """Keras' numbers, from the predictions: losses weighted by w and averaged over the batch."""
    p = np.clip(p_bin[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    bce = -(y_bin[:, 0] * np.log(p) + (1 - y_bin[:, 0]) * np.log(1 - p))
    sce = -np.log(np.clip(p_cls[np.arange(len(y_cls)), y_cls].astype(np.float64), 1e-7, 1))
    bin_loss, cls_loss = np.mean(w * bce), np.mean(w * sce)
    hits = p_cls.argmax(-1) == y_cls
    return {"loss": 0.5 * bin_loss + 2.0 * cls_loss, "bin_loss": bin_loss, "cls_loss": cls_loss,
            "bin_accuracy": np.mean((p_bin[:, 0] > 0.5) == (y_bin[:, 0] > 0.5)),
            "bin_mse": np.mean((p_bin[:, 0] - y_bin[:, 0]) ** 2),
            "cls_accuracy": np.mean(hits), "cls_weighted_accuracy": np.sum(w * hits) / np.sum(w)}


@pytest.mark.parametrize("eager", [True, False])
def test_fit_logs_the_keras_keys_with_values_recomputed_in_numpy(eager):
    xa, xb, y_bin, y_cls, w = data()
    model = two_heads()
    model.compile(optimizer=pyml.optimizers.SGD(0.1), run_eagerly=eager, **COMPILE)
    p_bin, p_cls = model.predict({"in_a": xa, "in_b": xb}, verbose=0)  # the step's forward: no dropout
    history = model.fit({"in_a": xa, "in_b": xb}, {"bin": y_bin, "cls": y_cls}, sample_weight=w, batch_size=N,
                        epochs=1, verbose=0, shuffle=False)
    assert sorted(history.history) == KERAS_KEYS
    expected = numpy_logs(p_bin, p_cls, y_bin, y_cls, w)
    for key in KERAS_KEYS:
        assert history.history[key][0] == pytest.approx(expected[key], rel=1e-5), key
    # metrics ignore the weights, weighted_metrics apply them: the two accuracies differ on this batch
    assert expected["cls_accuracy"] != pytest.approx(expected["cls_weighted_accuracy"])


def test_evaluate_lists_results_in_keras_order_and_validation_logs_are_prefixed():
    xa, xb, y_bin, y_cls, w = data()
    model = two_heads()
    model.compile(optimizer="sgd", **COMPILE)
    assert model.metrics_names == KERAS_EVALUATE_ORDER
    as_dict = model.evaluate([xa, xb], [y_bin, y_cls], sample_weight=w, verbose=0, return_dict=True)
    as_list = model.evaluate([xa, xb], [y_bin, y_cls], sample_weight=w, verbose=0)
    assert as_list == [as_dict[key] for key in KERAS_EVALUATE_ORDER]
    p_bin, p_cls = model.predict([xa, xb], verbose=0)
    expected = numpy_logs(p_bin, p_cls, y_bin, y_cls, w)
    assert as_dict == pytest.approx(expected, rel=1e-5)
    assert model.test_on_batch({"in_a": xa, "in_b": xb}, [y_bin, y_cls], sample_weight=w) == pytest.approx(as_list)
    history = model.fit([xa, xb], [y_bin, y_cls], validation_data=([xa, xb], [y_bin, y_cls]), epochs=1, verbose=0)
    assert sorted(history.history) == sorted(KERAS_KEYS + [f"val_{key}" for key in KERAS_KEYS])


def test_losses_by_list_and_by_dict_train_alike():
    xa, xb, y_bin, y_cls, _ = data()
    runs = []
    for loss, loss_weights in ((COMPILE["loss"], COMPILE["loss_weights"]),
                               (["binary_crossentropy", "sparse_categorical_crossentropy"], [0.5, 2.0])):
        model = two_heads()
        model.compile(optimizer=pyml.optimizers.SGD(0.1), loss=loss, loss_weights=loss_weights)
        history = model.fit([xa, xb], [y_bin, y_cls], batch_size=4, epochs=2, verbose=0, shuffle=False)
        runs.append((history.history, model.get_weights()))
    assert sorted(runs[0][0]) == ["bin_loss", "cls_loss", "loss"]
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_one_loss_for_every_output_and_per_output_weights():
    xa, xb, y_bin, _, _ = data()
    targets = [y_bin, np.eye(3, dtype="float32")[data(1)[3]]]
    model = two_heads()
    model.compile(optimizer="sgd", loss="mse", loss_weights=[3.0, 0.25], metrics=[["mae"], ["mae"]])
    logs = model.evaluate([xa, xb], targets, verbose=0, return_dict=True)
    predictions = model.predict([xa, xb], verbose=0)
    mse = [np.mean((p - t) ** 2) for p, t in zip(predictions, targets)]
    mae = [np.mean(np.abs(p - t)) for p, t in zip(predictions, targets)]
    assert logs == pytest.approx({"loss": 3.0 * mse[0] + 0.25 * mse[1], "bin_loss": mse[0], "cls_loss": mse[1],
                                  "bin_mae": mae[0], "cls_mae": mae[1]}, rel=1e-5)


def test_an_output_whose_loss_is_none_is_not_trained():
    xa, xb, y_bin, y_cls, _ = data()
    model = two_heads()
    model.compile(optimizer=pyml.optimizers.SGD(0.5), loss={"bin": "binary_crossentropy", "cls": None},
                  metrics={"cls": ["accuracy"]})
    before = {name: [w.numpy().copy() for w in model.get_layer(name).weights] for name in ("bin", "cls")}
    history = model.fit([xa, xb], {"bin": y_bin, "cls": y_cls}, epochs=1, verbose=0)
    assert sorted(history.history) == ["cls_accuracy", "loss"]  # one loss: no per-output loss keys (as Keras)
    for old, new in zip(before["cls"], model.get_layer("cls").weights):
        np.testing.assert_array_equal(old, new.numpy())
    assert any(not np.array_equal(old, new.numpy()) for old, new in zip(before["bin"], model.get_layer("bin").weights))


def test_dict_inputs_and_targets_equal_lists_everywhere():
    xa, xb, y_bin, y_cls, w = data()
    x_dict, y_dict = {"in_b": xb, "in_a": xa}, {"cls": y_cls, "bin": y_bin}  # key order does not matter
    model = two_heads()
    model.compile(optimizer="sgd", **COMPILE)
    for got, want in ((model.predict(x_dict, verbose=0), model.predict([xa, xb], verbose=0)),
                      (model.predict_on_batch(x_dict), model.predict_on_batch([xa, xb]))):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert model.evaluate(x_dict, y_dict, sample_weight={"bin": w, "cls": w}, verbose=0) == \
        model.evaluate([xa, xb], [y_bin, y_cls], sample_weight=w, verbose=0)
    # batches yielded by an iterable, as (x_dict, y_dict)
    batches = [({"in_a": xa[i:i + 4], "in_b": xb[i:i + 4]}, {"bin": y_bin[i:i + 4], "cls": y_cls[i:i + 4]})
               for i in range(0, N, 4)]
    assert model.evaluate(batches, verbose=0) == pytest.approx(model.evaluate([xa, xb], [y_bin, y_cls], verbose=0,
                                                                              batch_size=4))
    first, second = two_heads(), two_heads()
    for model in (first, second):
        model.compile(optimizer=pyml.optimizers.SGD(0.1), **COMPILE)
    first.train_on_batch(x_dict, y_dict)
    second.train_on_batch([xa, xb], [y_bin, y_cls])
    history = first.fit(batches, epochs=1, verbose=0)
    assert sorted(history.history) == KERAS_KEYS
    second.fit([xa, xb], [y_bin, y_cls], batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_mismatched_names_are_refused_with_both_lists():
    xa, xb, y_bin, y_cls, _ = data()
    model = two_heads()
    model.compile(optimizer="sgd", **COMPILE)
    with pytest.raises(ValueError, match=r"x is a dict by input name.*\['in_a', 'in_b'\]\. "
                                         r"Received: x keys \['in_a', 'in_c'\]"):
        model.fit({"in_a": xa, "in_c": xb}, [y_bin, y_cls], verbose=0)
    with pytest.raises(ValueError, match=r"x is a dict.*Received: x keys \['in_a'\]"):
        model.predict({"in_a": xa}, verbose=0)
    with pytest.raises(ValueError, match=r"y is a dict by output name.*\['bin', 'cls'\].*Received: y keys "
                                         r"\['bin', 'clz'\]"):
        model.evaluate([xa, xb], {"bin": y_bin, "clz": y_cls}, verbose=0)
    with pytest.raises(ValueError, match=r"Output 'cls' has a loss but no target"):
        model.evaluate([xa, xb], {"bin": y_bin}, verbose=0)
    with pytest.raises(ValueError, match=r"loss is a dict by output name.*\['bin', 'cls'\]\. Received: loss keys "
                                         r"\['bin', 'clz'\]"):
        two_heads().compile(loss={"bin": "mse", "clz": "mse"})
    with pytest.raises(ValueError, match=r"metrics is a dict.*Received: metrics keys \['bim'\]"):
        two_heads().compile(loss="mse", metrics={"bim": ["mae"]})
    with pytest.raises(ValueError, match=r"2 outputs \(\['bin', 'cls'\]\): pass metrics as a list with one entry"):
        two_heads().compile(loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match=r"loss is a list, so it needs one entry per model output \(2"):
        two_heads().compile(loss=["mse"])
    with pytest.raises(ValueError, match=r"class_weight is for models with one output"):
        model.fit([xa, xb], [y_bin, y_cls], class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_compiled_step_equals_the_eager_step_on_two_inputs_and_two_outputs():
    xa, xb, y_bin, y_cls, w = data(n=40)
    results = []
    for eager in (True, False):
        model = two_heads(extra=True)
        model.compile(optimizer=pyml.optimizers.Adam(0.01), run_eagerly=eager, **COMPILE)
        pyml.set_random_seed(7)  # the same shuffles and dropout masks
        history = model.fit({"in_a": xa, "in_b": xb}, {"bin": y_bin, "cls": y_cls}, sample_weight=w,
                            batch_size=16, epochs=3, verbose=0)
        results.append((history.history, model.get_weights(), model._compiled_step))
    (eager_logs, eager_weights, no_step), (logs, weights, step) = results
    assert no_step is None and step  # the compiled run did compile (no eager fallback)
    assert step._plans and any("y1" in p.graph.inputs for p in step._plans.values())
    assert sorted(logs) == KERAS_KEYS
    for key in KERAS_KEYS:
        np.testing.assert_allclose(logs[key], eager_logs[key], rtol=1e-5, err_msg=key)
    for a, b in zip(weights, eager_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_multi_output_model_saves_and_loads_compiled(tmp_path):
    xa, xb, y_bin, y_cls, w = data()
    model = two_heads()
    model.compile(optimizer="adam", **COMPILE)
    model.fit([xa, xb], [y_bin, y_cls], epochs=1, verbose=0)
    path = tmp_path / "two_heads.pyml"
    model.save(path)
    restored = pyml.load_model(path)
    assert restored.get_compile_config() == model.get_compile_config()
    assert restored.get_compile_config()["weighted_metrics"] == {"cls": ["accuracy"]}
    assert restored.metrics_names == KERAS_EVALUATE_ORDER
    args = ([xa, xb], [y_bin, y_cls])
    assert restored.evaluate(*args, sample_weight=w, verbose=0) == pytest.approx(
        model.evaluate(*args, sample_weight=w, verbose=0), rel=1e-6)


# ---- "accuracy" and "crossentropy" resolve from the shapes (Keras 3's get_metric / get_loss) ----------------
def dense(units, activation, features=4, seed=0):
    pyml.set_random_seed(seed)
    return pyml.Sequential([pyml.Input(shape=(features,)), layers.Dense(units, activation=activation)])


def resolution_case(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 4)).astype("float32")
    if name == "binary, one unit":
        return dense(1, "sigmoid"), x, (rng.random(32) > 0.5).astype("float32")
    if name == "sparse int ids":
        return dense(3, "softmax"), x, rng.integers(0, 3, 32)
    if name == "sparse ids in a column":
        return dense(3, "softmax"), x, rng.integers(0, 3, (32, 1))
    if name == "one-hot":
        return dense(3, "softmax"), x, np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]
    return dense(4, "sigmoid"), x, (rng.random((32, 4)) > 0.5).astype("float32")  # multi-label


def numpy_accuracy_and_crossentropy(name, p, y):
    rows = np.arange(len(p))
    if name == "binary, one unit":
        q = np.clip(p[:, 0], 1e-7, 1 - 1e-7)
        return np.mean((p[:, 0] > 0.5) == y), np.mean(-(y * np.log(q) + (1 - y) * np.log(1 - q)))
    if name.startswith("sparse"):
        ids = y.reshape(-1)
        return np.mean(p.argmax(-1) == ids), np.mean(-np.log(p[rows, ids]))
    # one-hot, and multi-label: several columns on both sides is categorical (whatever the loss)
    q = np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    return np.mean(p.argmax(-1) == y.argmax(-1)), np.mean(-(y * np.log(q)).sum(-1))


@pytest.mark.parametrize("name", ["binary, one unit", "sparse int ids", "sparse ids in a column", "one-hot",
                                  "multi-label"])
def test_accuracy_and_crossentropy_resolve_from_the_shapes(name):
    model, x, y = resolution_case(name)
    model.compile(optimizer="sgd", loss="ce", metrics=["acc"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    accuracy, crossentropy = numpy_accuracy_and_crossentropy(name, model.predict(x, verbose=0), y)
    assert logs == pytest.approx({"loss": crossentropy, "acc": accuracy}, rel=1e-5)


def test_multi_label_accuracy_is_categorical_even_with_binary_crossentropy():
    # Keras 3 reads the shapes only: 4 target columns against 4 units is categorical, not binary, accuracy
    # (checked by hand on Keras 3.15: 0.25 categorical where binary accuracy would be 0.55)
    model, x, y = resolution_case("multi-label")
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    p = model.predict(x, verbose=0)
    assert model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        np.mean(p.argmax(-1) == y.argmax(-1)))


def test_one_output_with_a_metric_in_both_lists_logs_weighted_name():
    model, x, y = resolution_case("sparse int ids")
    w = np.random.default_rng(5).uniform(0.1, 2.0, len(x)).astype("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    hits = model.predict(x, verbose=0).argmax(-1) == y
    assert sorted(logs) == ["accuracy", "loss", "weighted_accuracy"]  # Keras 3.15's keys
    assert logs["accuracy"] == pytest.approx(np.mean(hits))
    assert logs["weighted_accuracy"] == pytest.approx(np.sum(w * hits) / np.sum(w))
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    only_weighted, _, _ = resolution_case("sparse int ids")
    only_weighted.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    assert only_weighted.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["accuracy"] == \
        pytest.approx(np.sum(w * hits) / np.sum(w))


def test_a_dict_of_outputs_predicts_a_dict_and_compiles_by_its_keys(tmp_path):
    xa, _, y_bin, y_cls, _ = data()
    pyml.set_random_seed(0)
    inputs = pyml.Input(shape=(3,), name="features")
    hidden = layers.Dense(6, activation="tanh")(inputs)
    model = pyml.Model(inputs, {"zeta": layers.Dense(1, activation="sigmoid", name="bin")(hidden),
                                "alpha": layers.Dense(3, activation="softmax", name="cls")(hidden)})
    assert [t.shape for t in model.outputs] == [(None, 3), (None, 1)]  # by sorted key, as Keras flattens dicts
    predictions = model.predict(xa, verbose=0)
    assert sorted(predictions) == ["alpha", "zeta"] and predictions["zeta"].shape == (N, 1)
    model.compile(optimizer="sgd", loss={"zeta": "binary_crossentropy", "alpha": "sparse_categorical_crossentropy"},
                  metrics={"zeta": ["accuracy"]})
    # Keras 3.15 names the logs after the dict's keys (checked by hand)
    assert model.metrics_names == ["loss", "alpha_loss", "zeta_loss", "zeta_accuracy"]
    logs = model.evaluate({"features": xa}, {"zeta": y_bin, "alpha": y_cls}, verbose=0, return_dict=True)
    zeta, alpha = np.clip(predictions["zeta"][:, 0], 1e-7, 1 - 1e-7), predictions["alpha"]
    bce = np.mean(-(y_bin[:, 0] * np.log(zeta) + (1 - y_bin[:, 0]) * np.log(1 - zeta)))
    sce = np.mean(-np.log(alpha[np.arange(N), y_cls]))
    assert logs == pytest.approx({"loss": bce + sce, "alpha_loss": sce, "zeta_loss": bce,
                                  "zeta_accuracy": np.mean((zeta > 0.5) == (y_bin[:, 0] > 0.5))}, rel=1e-5)
    history = model.fit(xa, {"zeta": y_bin, "alpha": y_cls}, epochs=1, verbose=0)  # compiled step
    assert sorted(history.history) == ["alpha_loss", "loss", "zeta_accuracy", "zeta_loss"]
    assert model._compiled_step
    model.save(tmp_path / "dict.pyml")
    restored = pyml.load_model(tmp_path / "dict.pyml")
    again = restored.predict(xa, verbose=0)
    for key, value in model.predict(xa, verbose=0).items():
        np.testing.assert_array_equal(again[key], value)


def test_a_flat_list_gives_one_metric_per_output_and_a_repeated_metric_is_named_weighted():
    xa, xb, y_bin, _, w = data()
    targets = [y_bin, np.eye(3, dtype="float32")[data(1)[3]]]
    model = two_heads()
    # Keras 3.15, by hand: ["mae", "mse"] on two outputs is one metric each: bin_mae and cls_mse
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mse"])
    assert model.metrics_names == ["loss", "bin_loss", "cls_loss", "bin_mae", "cls_mse"]
    model.compile(optimizer="sgd", loss="mse", metrics=[["mae"], ["mae"]], weighted_metrics=[["mae"], ["mae"]])
    logs = model.evaluate([xa, xb], targets, sample_weight=w, verbose=0, return_dict=True)
    assert list(logs) == ["bin_loss", "bin_mae", "bin_weighted_mae", "cls_loss", "cls_mae", "cls_weighted_mae",
                          "loss"]  # Keras 3.15's keys, in its (sorted) order
    for prediction, target, output in zip(model.predict([xa, xb], verbose=0), targets, ("bin", "cls")):
        errors = np.abs(prediction - target).mean(-1)
        assert logs[f"{output}_mae"] == pytest.approx(errors.mean(), rel=1e-5)
        assert logs[f"{output}_weighted_mae"] == pytest.approx(np.sum(w * errors) / np.sum(w), rel=1e-5)
