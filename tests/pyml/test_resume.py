"""Training resumes exactly: the optimizer state saved in .pyml files, and BackupAndRestore after a crash. An
interrupted run must end with the weights of an uninterrupted one (same seeds for data order and dropout)."""
import json
import os
import zipfile

import numpy as np
import pytest

import pyml
from pyml import layers, optimizers

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 6)).astype("float32")
Y = RNG.integers(0, 3, 40)


def build(optimizer):
    pyml.set_random_seed(1)
    model = pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                             layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def uninterrupted(optimizer, epochs=3, **fit_kwargs):
    model = build(optimizer())
    pyml.set_random_seed(5)
    model.fit(X, Y, epochs=epochs, batch_size=16, verbose=0, **fit_kwargs)
    return model


def assert_same_weights(a, b):
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-6, atol=1e-7, err_msg=p.name)


OPTIMIZERS = {"adam-amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
              "nadam": lambda: optimizers.Nadam(0.01),
              "sgd-momentum-schedule": lambda: optimizers.SGD(optimizers.schedules.ExponentialDecay(0.1, 3, 0.5),
                                                              momentum=0.9),
              "ftrl": lambda: optimizers.Ftrl(0.1),
              "adam-accumulate-2": lambda: optimizers.Adam(0.01, gradient_accumulation_steps=2)}  # across epochs


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fit_save_load_fit_equals_one_fit(name, tmp_path):
    reference = uninterrupted(OPTIMIZERS[name], epochs=2)
    model = build(OPTIMIZERS[name]())
    pyml.set_random_seed(5)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.pyml")
    rng_state = pyml.random.generator().bit_generator.state  # load_model draws initial weights: keep the data order
    restored = pyml.load_model(tmp_path / "m.pyml")
    pyml.random.generator().bit_generator.state = rng_state
    assert restored.optimizer.steps_seen == 3
    restored.fit(X, Y, epochs=2, initial_epoch=1, batch_size=16, verbose=0)
    assert_same_weights(reference, restored)


def test_the_saved_optimizer_state_is_named_by_slot_and_variable(tmp_path):
    model = uninterrupted(lambda: optimizers.Adam(0.01), epochs=1)
    model.save(tmp_path / "m.pyml")
    with zipfile.ZipFile(tmp_path / "m.pyml") as archive:
        data = archive.read("optimizer.safetensors")
    import safetensors.numpy
    arrays = safetensors.numpy.load(data)
    assert int(arrays["iterations"]) == 3
    kernel = model.layers[0].kernel
    assert {"m/" + kernel.name, "v/" + kernel.name} <= set(arrays)
    np.testing.assert_array_equal(arrays["m/" + kernel.name], model.optimizer.slot(kernel, "m"))


def test_files_without_optimizer_state_still_load(tmp_path):
    model = uninterrupted(lambda: optimizers.Adam(0.01), epochs=1)
    model.save(tmp_path / "m.pyml")
    with zipfile.ZipFile(tmp_path / "m.pyml") as src, zipfile.ZipFile(tmp_path / "old.pyml", "w") as dst:
        for name in ("config.json", "metadata.json", "model.safetensors"):  # a file written before this change
            dst.writestr(name, src.read(name))
    restored = pyml.load_model(tmp_path / "old.pyml")
    assert restored.optimizer.iterations == 0
    assert_same_weights(model, restored)


def test_optimizer_state_of_another_optimizer_is_refused_with_the_file(tmp_path):
    model = uninterrupted(lambda: optimizers.Adam(0.01), epochs=1)
    model.save(tmp_path / "m.pyml")
    with zipfile.ZipFile(tmp_path / "m.pyml") as archive:
        config = json.loads(archive.read("config.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
    config["compile_config"]["optimizer"] = optimizers.serialize(optimizers.RMSprop())
    members["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "bad.pyml", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"bad.pyml: optimizer.safetensors: optimizer state '[mv]/.*' matches no slot "
                                         r"of RMSprop \(velocity\)"):
        pyml.load_model(tmp_path / "bad.pyml")


class Crash(pyml.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("save_freq", ["epoch", 2])
def test_backup_and_restore_resumes_after_a_crash_and_ends_as_an_uninterrupted_run(save_freq, tmp_path):
    reference = uninterrupted(lambda: optimizers.Adam(0.01), epochs=4)
    backup_dir = tmp_path / "backup"
    model = build(optimizers.Adam(0.01))
    pyml.set_random_seed(5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(X, Y, epochs=4, batch_size=16, verbose=0,
                  callbacks=[pyml.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq), Crash(2)])
    assert os.listdir(backup_dir) == ["latest.backup"], "one file, no temporary left behind"
    fresh = build(optimizers.Adam(0.01))
    pyml.set_random_seed(123)  # another seed: the backup's generator state must win
    epochs = []
    history = fresh.fit(X, Y, epochs=4, batch_size=16, verbose=0,
                        callbacks=[pyml.callbacks.BackupAndRestore(backup_dir, save_freq=save_freq),
                                   pyml.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))])
    if save_freq == "epoch":
        assert epochs == [2, 3] and len(history.history["loss"]) == 2 and fresh.optimizer.iterations == 12
        assert_same_weights(reference, fresh)
    else:  # 3 batches per epoch, a save every 2: the last came after epoch 1's last batch but before its end
        # (6 steps), so epoch 1 runs again from those weights, as in Keras
        assert epochs == [1, 2, 3] and fresh.optimizer.iterations == 6 + 9
    assert not backup_dir.exists(), "deleted when training ends normally"


def test_backup_is_written_atomically(tmp_path, monkeypatch):
    backup_dir = tmp_path / "backup"
    model = build(optimizers.SGD(0.1))
    callback = pyml.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    before = (backup_dir / "latest.backup").read_bytes()

    def disk_full(fd):  # the new backup's bytes are written to the temporary file, then saving fails
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="disk full"):
        model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    assert (backup_dir / "latest.backup").read_bytes() == before and os.listdir(backup_dir) == ["latest.backup"]
