"""Callbacks: hook order, History, EarlyStopping (patience, restore_best_weights), LambdaCallback,
ModelCheckpoint, TerminateOnNaN, LearningRateScheduler."""
import os

import numpy as np
import pytest

import pyml
from pyml import callbacks, layers


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, (x @ np.array([1.0, -1.0, 2.0])).astype("float32")


def linear_model(lr=0.05):
    model = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=pyml.optimizers.SGD(lr), loss="mse")
    return model


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", self.params["epochs"], self.params["steps"]))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):  # Keras 2 name, reached through on_train_batch_end
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_hooks_run_in_order_with_logs():
    x, y = data()
    recorder = Recorder()
    linear_model().fit(x, y, batch_size=20, epochs=2, verbose=0, validation_split=0.5, callbacks=[recorder])
    assert recorder.events == [
        ("train_begin", 2, 1),
        ("epoch_begin", 0), ("batch_end", 0, ["loss"]), ("epoch_end", 0, ["loss", "val_loss"]),
        ("epoch_begin", 1), ("batch_end", 0, ["loss"]), ("epoch_end", 1, ["loss", "val_loss"]),
        ("train_end",)]
    assert recorder.model is not None


def test_history_epoch_values_equal_evaluation_of_training_batches():
    x, y = data()
    model = linear_model(lr=0.0)  # weights never change, so the epoch loss is the plain evaluation
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    expected = model.evaluate(x, y, verbose=0)
    assert history.history["loss"] == pytest.approx([expected, expected], rel=1e-5)


def test_early_stopping_stops_after_patience_and_restores_best():
    x, y = data()
    model = linear_model(lr=0.05)
    losses_seen = iter([5.0, 3.0, 4.0, 4.5, 4.2, 1.0])

    class FakeLoss(callbacks.Callback):  # drives the monitored value, to test the logic exactly
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = next(losses_seen)
            snapshots.append(model.get_weights())

    snapshots = []
    stop = callbacks.EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[FakeLoss(), stop])
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3 and stop.best_epoch == 1
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)


def test_early_stopping_mode_for_accuracy_and_min_delta():
    stop = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.1)
    assert stop.mode == "max"
    assert not stop._improved(0.55, 0.5) and stop._improved(0.65, 0.5)
    assert callbacks.EarlyStopping(monitor="val_loss").mode == "min"


def test_early_stopping_warns_on_missing_key():
    x, y = data()
    with pytest.warns(UserWarning, match="monitor 'val_loss' is not in the logs"):
        linear_model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_lambda_callback():
    x, y = data()
    ends = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append((epoch, round(logs["loss"], 6))))
    history = linear_model().fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert ends == [(e, round(v, 6)) for e, v in zip(range(3), history.history["loss"])]
    with pytest.raises(ValueError, match="Received: on_epoch_ended"):
        callbacks.LambdaCallback(on_epoch_ended=print)


def test_model_checkpoint_best_only(tmp_path):
    x, y = data()
    path = str(tmp_path / "best.pyml")
    scores = iter([3.0, 1.0, 2.0])
    saved = []

    class Score(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = next(scores)

    class Spy(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved.append(os.path.getmtime(path) if os.path.exists(path) else None)

    checkpoint = callbacks.ModelCheckpoint(path, monitor="score", save_best_only=True)
    model = linear_model()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Score(), checkpoint, Spy()])
    assert checkpoint.best == 1.0 and saved[0] is not None and saved[2] == saved[1]
    assert isinstance(pyml.load_model(path), pyml.Sequential)


def test_model_checkpoint_every_epoch_with_pattern(tmp_path):
    x, y = data()
    pattern = str(tmp_path / "w-{epoch:02d}.weights.safetensors")
    linear_model().fit(x, y, epochs=2, verbose=0,
                       callbacks=[callbacks.ModelCheckpoint(pattern, save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["w-01.weights.safetensors", "w-02.weights.safetensors"]


def test_terminate_on_nan():
    x, y = data()
    model = linear_model(lr=1e6)  # diverges to inf / nan within a few batches
    with np.errstate(all="ignore"):
        history = model.fit(x * 1e3, y, epochs=50, batch_size=4, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.epoch) < 50


def test_learning_rate_scheduler():
    x, y = data()
    model = linear_model(lr=0.1)
    history = model.fit(x, y, epochs=3, verbose=0,
                        callbacks=[callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_every_hook_receives_logs_so_keras_style_lambdas_work():
    # Keras passes `logs` to every hook (None where there are none): one-argument `lambda logs: ...`
    # and two-argument `lambda epoch, logs: ...` hooks must both run
    x, y = data()
    seen = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append(("train_begin", logs)),
                                  on_epoch_begin=lambda epoch, logs: seen.append(("epoch_begin", epoch, logs)),
                                  on_train_batch_begin=lambda batch, logs: seen.append(("batch_begin", batch, logs)))
    linear_model().fit(x, y, batch_size=40, epochs=1, verbose=0, callbacks=[cb])
    assert seen == [("train_begin", None), ("epoch_begin", 0, None), ("batch_begin", 0, None)]

    class Strict(callbacks.Callback):  # hooks written without defaults, as Keras allows
        def on_test_begin(self, logs):
            seen.append("test_begin")

        def on_predict_batch_begin(self, batch, logs):
            seen.append(("predict_batch_begin", batch))

    model = linear_model()
    model.evaluate(x, y, verbose=0, callbacks=[Strict()])
    model.predict(x, verbose=0, callbacks=[Strict()])
    assert seen[3:] == ["test_begin", ("predict_batch_begin", 0), ("predict_batch_begin", 1)]


def test_early_stopping_restores_best_weights_even_when_it_never_stops():
    # Keras 3 restores the best epoch's weights at the end of training whether or not it stopped early
    x, y = data()
    model = linear_model(lr=0.05)
    scores = iter([2.0, 1.0, 3.0])
    snapshots = []

    class Score(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = next(scores)
            snapshots.append(model.get_weights())

    stop = callbacks.EarlyStopping(monitor="score", patience=5, restore_best_weights=True)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[Score(), stop])
    assert stop.stopped_epoch == 0 and stop.best_epoch == 1
    for restored, best in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)


def test_model_checkpoint_accepts_keras_save_freq_epoch(tmp_path):
    x, y = data()
    path = str(tmp_path / "m-{epoch}.pyml")
    linear_model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(path, save_freq="epoch")])
    assert os.listdir(tmp_path) == ["m-1.pyml"]
    with pytest.raises(ValueError, match="Received: save_freq=10"):
        callbacks.ModelCheckpoint(path, save_freq=10)
