"""compile / fit / evaluate / predict: learning a real dataset, History, progress output, data options, errors."""
import time

import numpy as np
import pytest

import pyml
from pyml import layers
from pyml.models import progbar


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn provides the digits dataset")
    x, y = datasets.load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1437], y[:1437]), (x[1437:], y[1437:])


def small_model(units=8, classes=3, features=4):
    return pyml.Sequential([pyml.Input(shape=(features,)), layers.Dense(units, activation="relu"),
                            layers.Dense(classes, activation="softmax")])


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((n, 4)) * 0.3 + np.eye(4)[y] * 2).astype("float32")
    return x, y


def test_digits_mlp_reaches_95_percent(digits):
    (x_train, y_train), (x_test, y_test) = digits
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(64,)), layers.Dense(64, activation="relu"),
                             layers.Dense(10, activation="softmax")])
    model.compile(optimizer=pyml.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=6, batch_size=32, validation_split=0.1, verbose=0)
    elapsed = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f} after {elapsed:.1f}s"
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 6 for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.history is history and history.epoch == list(range(6))
    # evaluate's accuracy is the fraction of argmax hits, computed here independently
    predictions = model.predict(x_test, verbose=0)
    assert predictions.shape == (len(x_test), 10)
    assert accuracy == pytest.approx(np.mean(predictions.argmax(-1) == y_test))
    expected_loss = -np.mean(np.log(np.clip(predictions[np.arange(len(y_test)), y_test], 1e-7, 1)))
    assert loss == pytest.approx(expected_loss, rel=1e-4)


def test_evaluate_return_forms_and_predict_batches():
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.metrics_names == ["loss", "accuracy"]
    result = model.evaluate(x, y, batch_size=7, verbose=0)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert isinstance(result, list) and len(result) == 2
    assert result == pytest.approx([as_dict["loss"], as_dict["accuracy"]])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    np.testing.assert_allclose(model.predict(x, batch_size=7, verbose=0), model(x).numpy(), rtol=1e-6)


def test_fit_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=16, validation_data=(x, y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"Epoch {epoch}/3 - 4/4 - ")
        assert "ms/step" in line or "us/step" in line or "s/step" in line
        assert line.index("accuracy:") < line.index("loss:") < line.index("val_accuracy:") < line.index("val_loss:")


def test_fit_verbose_zero_is_silent(capsys):
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_fit_on_a_terminal_draws_a_bar(capsys, monkeypatch):
    monkeypatch.setattr(progbar, "is_interactive", lambda: True)
    monkeypatch.setattr(pyml.callbacks, "is_interactive", lambda: True)
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=30)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/2\n") and "\nEpoch 2/2\n" in out
    assert "\r2/2 " in out and "━" * 5 in out and " - accuracy: " in out and " - loss: " in out
    assert out.endswith("\n")


def test_evaluate_prints_one_line(capsys):
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.evaluate(x, y, batch_size=20)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("3/3 - ") and "loss:" in lines[0]


def test_fit_before_compile_is_an_error():
    with pytest.raises(RuntimeError, match="You must call `compile\\(\\)` before `fit\\(\\)`"):
        small_model().fit(*blobs())


def test_length_mismatch_names_both_lengths():
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = blobs()
    with pytest.raises(ValueError, match="x has 60 samples, y has 59"):
        model.fit(x, y[:-1], verbose=0)


def test_wrong_feature_size_names_model_and_shapes():
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r'model "sequential.*expected shape \(None, 4\). Received: data of shape '
                                         r'\(60, 5\)'):
        model.fit(np.ones((60, 5), "float32"), np.zeros(60), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape \(None, 4\)"):
        model.predict(np.ones((2, 3), "float32"), verbose=0)


def test_unknown_names_list_the_known_ones():
    model = small_model()
    with pytest.raises(ValueError, match="Unknown loss: known ones are .*mse.*Received: loss='msee'"):
        model.compile(loss="msee")
    with pytest.raises(ValueError, match="Unknown optimizer: known ones are .*adam.*Received: optimizer='adamm'"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="Unknown metric: known ones are .*accuracy.*Received: metric='acuracy'"):
        model.compile(loss="mse", metrics=["acuracy"])


def test_accuracy_resolution_follows_the_shapes():
    # Keras 3 (compile_utils.get_metric) reads the shapes only; in these two cases the loss agrees with them
    x = np.eye(4, dtype="float32")
    one_hot = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    model = small_model()
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    logs = model.evaluate(x, one_hot, verbose=0, return_dict=True)
    expected = np.mean(model.predict(x, verbose=0).argmax(-1) == one_hot.argmax(-1))
    assert logs["accuracy"] == pytest.approx(expected)
    binary = small_model(classes=1)
    binary.layers[-1].activation = pyml.activations.sigmoid
    binary.compile(loss="binary_crossentropy", metrics=["accuracy"])
    targets = np.array([1, 0, 1, 1], "float32")
    logs = binary.evaluate(x, targets, verbose=0, return_dict=True)
    expected = np.mean((binary.predict(x, verbose=0)[:, 0] > 0.5) == targets)
    assert logs["accuracy"] == pytest.approx(expected)


def test_regression_with_mse_and_rank_one_targets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=pyml.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 1e-3
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(kernel[:, 0], [1.0, -2.0, 0.5], atol=0.05)
    assert sorted(history.history) == ["loss", "mae"]


def test_sample_weight_zero_ignores_samples():
    x, y = blobs()
    weights = np.where(np.arange(60) < 30, 1.0, 0.0).astype("float32")
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    weighted = model.evaluate(x, y, sample_weight=weights, batch_size=60, verbose=0)
    half = model.evaluate(x[:30], y[:30], batch_size=60, verbose=0)
    assert weighted == pytest.approx(half / 2, rel=1e-5)  # Keras: sum(w * loss) / number of samples


def test_class_weight_scales_losses():
    x, y = blobs()
    pyml.set_random_seed(1)
    model = small_model()
    model.compile(optimizer=pyml.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    plain = model.fit(x, y, batch_size=60, epochs=1, verbose=0).history["loss"][0]
    doubled = model.fit(x, y, batch_size=60, epochs=1, verbose=0,
                        class_weight={0: 2.0, 1: 2.0, 2: 2.0}).history["loss"][0]
    assert doubled == pytest.approx(2 * plain, rel=1e-5)
    with pytest.raises(ValueError, match="class_weight has no entry for classes \\[2\\]"):
        model.fit(x, y, verbose=0, class_weight={0: 1.0, 1: 1.0})


def test_fit_from_an_iterable_of_batches_and_steps():
    x, y = blobs()
    batches = [(x[i:i + 20], y[i:i + 20]) for i in range(0, 60, 20)]
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(batches, epochs=2, verbose=0, validation_data=batches)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert model.predict(batches[0][0], verbose=0).shape == (20, 3)
    seen = []
    model.fit(x, y, batch_size=10, steps_per_epoch=2, epochs=1, verbose=0,
              callbacks=[pyml.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))])
    assert seen == [0, 1]


def test_initial_epoch_and_shuffle_are_reproducible():
    x, y = blobs()

    def run():
        pyml.set_random_seed(5)
        model = small_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model.fit(x, y, epochs=3, initial_epoch=1, batch_size=8, verbose=0)

    first, second = run(), run()
    assert first.epoch == [1, 2]
    assert first.history["loss"] == second.history["loss"]


def test_train_on_batch_and_test_on_batch():
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.test_on_batch(x, y)
    loss, accuracy = model.train_on_batch(x, y)
    assert loss == pytest.approx(before[0], rel=1e-5) and 0 <= accuracy <= 1
    assert model.test_on_batch(x, y)[0] < before[0]
    np.testing.assert_allclose(model.predict_on_batch(x), model(x).numpy(), rtol=1e-6)


def test_train_on_batch_without_targets_names_the_method():
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"`train_on_batch\(\)` needs targets.*Received: y=None"):
        model.train_on_batch(blobs()[0])


def test_epochs_may_be_a_numpy_integer():
    x, y = blobs()
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model.fit(x, y, epochs=np.int64(2), verbose=0).epoch == [0, 1]
    with pytest.raises(ValueError, match="Received: epochs=True"):
        model.fit(x, y, epochs=True, verbose=0)


def test_a_multi_output_model_given_one_target_array_is_refused_clearly():
    inputs = pyml.Input(shape=(4,))
    model = pyml.Model(inputs, [layers.Dense(1)(inputs), layers.Dense(1)(inputs)], name="two_heads")
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((6, 4), "float32")
    with pytest.raises(ValueError, match=r"has 2 outputs, so y needs one target per output.*Received: y with one "):
        model.fit(x, np.ones((6, 1), "float32"), verbose=0)
    assert [p.shape for p in model.predict(x, verbose=0)] == [(6, 1), (6, 1)]  # inference still works


def _mse_model(seed=0):
    pyml.set_random_seed(seed)
    return pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(1, name="out")])


@pytest.mark.parametrize("loss_weights", [0.25, [0.25], (0.25,), {"out": 0.25}])
def test_loss_weights_scale_the_reported_loss_and_the_gradients(loss_weights):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 3)).astype("float32"), rng.standard_normal((16, 1)).astype("float32")
    weighted, plain = _mse_model(), _mse_model()
    weighted.compile(optimizer=pyml.optimizers.SGD(learning_rate=0.4), loss="mse", loss_weights=loss_weights)
    plain.compile(optimizer=pyml.optimizers.SGD(learning_rate=0.1), loss="mse")
    kernel, bias = (w.numpy() for w in weighted.weights)
    expected = 0.25 * np.mean((x @ kernel + bias - y) ** 2)  # Keras reports the weighted total as "loss"
    assert weighted.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    # one SGD step: lr 0.4 on 0.25 * loss moves the weights exactly as lr 0.1 on the loss
    weighted.train_on_batch(x, y)
    plain.train_on_batch(x, y)
    for a, b in zip(weighted.weights, plain.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss_weights, message", [
    ([1.0, 0.5], r"one output.*Received: loss_weights=\[1.0, 0.5\]"),
    ({"a": 1.0, "b": 2.0}, r"one output.*Received: loss_weights=\{'a': 1.0, 'b': 2.0\}"),
    ("heavy", r"float.*Received: loss_weights='heavy'"),
    ([None], r"float.*Received: loss_weights=\[None\]"),
    (True, r"float.*Received: loss_weights=True"),
])
def test_loss_weights_that_do_not_fit_one_output_are_refused(loss_weights, message):
    with pytest.raises(ValueError, match=message):
        _mse_model().compile(optimizer="sgd", loss="mse", loss_weights=loss_weights)
