"""ReduceLROnPlateau, CSVLogger, TensorBoard and ProgbarLogger: each against hand-worked Keras semantics, the
files read back independently (csv module; TensorBoard event records parsed with the protobuf classes and
their CRCs checked)."""
import csv
import re
import struct
import sys

import numpy as np
import pytest

import pyml
from pyml import callbacks, layers, optimizers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 6)).astype("float32")
Y = RNG.integers(0, 3, 40)
VALIDATION = (RNG.standard_normal((10, 6)).astype("float32"), RNG.integers(0, 3, 10))


def model(optimizer=None, eager=False):
    pyml.set_random_seed(1)
    m = pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizer or optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"], run_eagerly=eager)
    return m


# ---- ReduceLROnPlateau ------------------------------------------------------------------------------------
def drive(callback, values, lr=1.0):
    """Call the epoch hooks with a scripted monitored value; returns the rates logged each epoch."""
    callback.set_model(model(optimizers.SGD(lr)))
    callback.on_train_begin()
    logged = []
    for epoch, value in enumerate(values):
        logs = {"val_loss": value}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    return logged, callback.model.optimizer.learning_rate


def test_reduce_lr_on_plateau_patience_min_delta_and_cooldown():
    reduce = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_delta=0.01)
    # worked by hand: 0.9 improves on 1.0 by more than min_delta; two epochs without improvement halve the
    # rate; the epoch after a reduction is cooldown (its wait is reset, then counts 1); 0.8 improves.
    logged, final = drive(reduce, [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85])
    assert logged == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25] and final == 0.25


def test_reduce_lr_on_plateau_min_lr_mode_max_and_bad_factor():
    _, final = drive(callbacks.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.3), [1.0, 1.0, 1.0, 1.0])
    assert final == pytest.approx(0.3)
    # mode max: a rising value is an improvement, so nothing is reduced
    _, final = drive(callbacks.ReduceLROnPlateau(monitor="val_loss", mode="max", patience=1), [0.1, 0.2, 0.3])
    assert final == 1.0
    with pytest.raises(ValueError, match="factor >= 1.0. Received: factor=1.5"):
        callbacks.ReduceLROnPlateau(factor=1.5)


@pytest.mark.parametrize("eager", [True, False])
def test_reduced_learning_rates_reach_the_training_step(eager):
    # min_delta 10: only the first epoch improves, then the rate halves every epoch
    m = model(eager=eager)
    history = m.fit(X, Y, epochs=4, batch_size=16, verbose=0,
                    callbacks=[callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10)])
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
    # the same run with the rates set by hand, epoch by epoch, ends with the same weights
    rates = iter([0.1, 0.1, 0.05, 0.025])
    reference = model(eager=eager)
    reference.fit(X, Y, epochs=4, batch_size=16, verbose=0, callbacks=[
        callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: setattr(reference.optimizer, "learning_rate",
                                                                         np.float32(next(rates))))])
    for a, b in zip(reference.weights, m.weights):
        np.testing.assert_array_equal(b.numpy(), a.numpy())


# ---- CSVLogger ------------------------------------------------------------------------------------------
def test_csv_logger_rows_append_and_separator(tmp_path):
    path = tmp_path / "log.csv"
    m = model()
    history = m.fit(X, Y, epochs=2, batch_size=16, verbose=0, validation_data=VALIDATION,
                    callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for key, values in history.history.items():
        assert [float(r[key]) for r in rows] == values
    m.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,") and lines[3].startswith("0,")
    # no validation: Keras adds val_ columns anyway, holding NA
    other = tmp_path / "semicolons.csv"
    m.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[callbacks.CSVLogger(other, separator=";")])
    header, row = other.read_text().splitlines()
    assert header == "epoch;accuracy;loss;val_accuracy;val_loss" and row.endswith(";NA;NA")


# ---- TensorBoard ----------------------------------------------------------------------------------------
def masked_crc(data):
    from tensorboardX.crc32c import crc32c

    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_scalars(folder):
    """``{tag: [(step, value)]}`` from every event file in ``folder``: TFRecord framing (length, its masked CRC,
    the record, its masked CRC), each record an ``Event`` protobuf."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            header = data[offset:offset + 8]
            (length,) = struct.unpack("<Q", header)
            assert struct.unpack("<I", data[offset + 8:offset + 12])[0] == masked_crc(header)
            record = data[offset + 12:offset + 12 + length]
            assert struct.unpack("<I", data[offset + 12 + length:offset + 16 + length])[0] == masked_crc(record)
            offset += 16 + length
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_writes_scalars_that_read_back(tmp_path):
    m = model()
    history = m.fit(X, Y, epochs=2, batch_size=16, verbose=0, validation_data=VALIDATION,
                    callbacks=[callbacks.TensorBoard(tmp_path / "logs", update_freq=2, write_steps_per_second=True)])
    train, validation = read_scalars(tmp_path / "logs" / "train"), read_scalars(tmp_path / "logs" / "validation")
    for key in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{key}"]] == [0, 1]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{key}"]], history.history[key], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in validation[f"epoch_{key}"]], history.history[f"val_{key}"],
                                   rtol=1e-6)
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.1, 0.1], rtol=1e-6)
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])
    assert [s for s, _ in validation["evaluation_loss_vs_iterations"]] == [3, 6]  # 3 batches per epoch
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6]  # every 2nd of the 6 batches


def test_tensorboard_without_tensorboardx_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install tensorboardX"):
        callbacks.TensorBoard("logs")
    with pytest.raises(NotImplementedError, match="histogram_freq"):
        monkeypatch.delitem(sys.modules, "tensorboardX")
        callbacks.TensorBoard("logs", histogram_freq=1)


# ---- ProgbarLogger --------------------------------------------------------------------------------------
def test_progbar_logger_prints_time_per_step_once_per_epoch(capsys):
    m = model()
    m.fit(X, Y, epochs=2, batch_size=16, verbose=2, callbacks=[callbacks.ProgbarLogger()])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, "the logger passed in replaces fit's own"
    for epoch, line in enumerate(lines, 1):
        assert re.fullmatch(rf"Epoch {epoch}/2 - 3/3 - \d+s \d+(s|ms|us)/step - accuracy: \d\.\d{{4}} - "
                            r"loss: \d\.\d{4}", line), line
    m.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[callbacks.ProgbarLogger()])
    assert capsys.readouterr().out == ""
