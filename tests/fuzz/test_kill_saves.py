"""``kill -9`` during saves (tests/fuzz/kill_saves.py, 105 kills per run) and during training: resuming from
what a killed run left gives the weights of an uninterrupted run."""
import os
import signal
import time

import numpy as np
import pytest
import safetensors

import pyml
from pyml import layers
from pyml.utils import atomic
from tests.fuzz import kill_saves


@pytest.mark.parametrize("kind,kills", [("save", 40), ("checkpoint", 35), ("export", 30)])
def test_kill_9_never_leaves_a_broken_target(kind, kills, tmp_path):
    stats = kill_saves.run(kind, kills, seed=0, folder=str(tmp_path))
    assert stats["completed"] > 0 and stats["leftovers"] > 0, f"no kill landed mid-write or after one: {stats}"


def test_a_save_removes_dead_writers_temporaries_only(tmp_path):
    target = tmp_path / "m.pyml"
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = tmp_path / f".m.pyml.tmp-{dead}-00ff"
    live = tmp_path / f".m.pyml.tmp-{os.getppid()}-00aa"  # the test runner's parent is alive
    other = tmp_path / f".n.pyml.tmp-{dead}-00ff"  # another target's
    for path in (stale, live, other):
        path.write_bytes(b"half a model")
    model = pyml.Sequential([pyml.Input(shape=(2,)), layers.Dense(1)])
    model.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.pyml", live.name, other.name])


def test_a_bundle_set_aside_by_a_killed_swap_is_moved_back(tmp_path):
    target = tmp_path / "bundle"
    target.mkdir()
    (target / "model.json").write_text("{}")
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    aside = tmp_path / f".bundle.old-{dead}-0a"
    os.rename(target, aside)  # killed between the two renames of the fallback swap
    atomic.remove_stale(str(target))
    assert (target / "model.json").read_text() == "{}" and sorted(os.listdir(tmp_path)) == ["bundle"]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_replace_folder_swaps_a_complete_folder_in(exchange, tmp_path, monkeypatch):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    target = tmp_path / "bundle"
    for version in ("old", "new"):
        staging = atomic.temp_path(str(target))
        os.mkdir(staging)
        (tmp_path / staging / "model.json").write_text(version)
        atomic.replace_folder(staging, str(target))
        assert (target / "model.json").read_text() == version and os.listdir(tmp_path) == ["bundle"]


# ---- resuming after kill -9 -----------------------------------------------------------------------------
RNG = np.random.default_rng(0)
X = RNG.standard_normal((160, 6)).astype("float32")
Y = RNG.integers(0, 3, 160)
EPOCHS = 12


def build(dropout):
    pyml.set_random_seed(1)
    model = pyml.Sequential([pyml.Input(shape=(6,)), layers.Dense(8, activation="relu"),
                             *([layers.Dropout(0.2)] if dropout else []), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=pyml.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


class Slow(pyml.callbacks.Callback):
    """Gives the killer time to land mid-run (changes no numbers)."""

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.01)  # 12 epochs of 10 batches: over a second, longer than any kill delay below


def fit(model, callbacks=(), initial_epoch=0, shuffle=True):
    pyml.set_random_seed(5)
    model.fit(X, Y, epochs=EPOCHS, batch_size=16, verbose=0, shuffle=shuffle, initial_epoch=initial_epoch,
              callbacks=list(callbacks))
    return model


def kill_mid_run(train, wait_for, delay):
    """Fork a child running ``train()``, SIGKILL it ``delay`` s after ``wait_for`` exists; False if it finished."""
    pid = os.fork()
    if pid == 0:
        try:
            train()
        finally:
            os._exit(0)
    while not os.path.exists(wait_for):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            raise AssertionError(f"the training child ended before writing {wait_for}")
        time.sleep(0.001)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def assert_same_weights(a, b):
    for p, q in zip(a.weights, b.weights):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-6, atol=1e-7, err_msg=p.name)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.35])
def test_backup_and_restore_after_kill_9_equals_one_fit(delay, tmp_path):
    # per epoch: a save every N batches restarts the killed epoch from mid-epoch weights (as Keras), not exact
    save_freq = "epoch"
    reference = fit(build(dropout=True))
    backup = str(tmp_path / "backup")
    killed = kill_mid_run(lambda: fit(build(dropout=True), [Slow(), pyml.callbacks.BackupAndRestore(
        backup, save_freq=save_freq)]), os.path.join(backup, "latest.backup"), delay)
    assert killed, "the child finished before the kill"
    with safetensors.safe_open(os.path.join(backup, "latest.backup"), framework="numpy") as f:
        assert 0 <= int(f.metadata()["epoch"]) < EPOCHS  # the run to resume stopped mid-run
    resumed = fit(build(dropout=True), [pyml.callbacks.BackupAndRestore(backup, save_freq=save_freq)])
    assert_same_weights(reference, resumed)


@pytest.mark.parametrize("delay", [0.03, 0.15])
def test_model_checkpoint_after_kill_9_resumes_to_one_fit(delay, tmp_path):
    # a .pyml file holds no random state: without shuffling or dropout the run after it is determined
    reference = fit(build(dropout=False), shuffle=False)
    path = str(tmp_path / "last.pyml")
    killed = kill_mid_run(lambda: fit(build(dropout=False), [Slow(), pyml.callbacks.ModelCheckpoint(path)],
                                      shuffle=False), path, delay)
    assert killed, "the child finished before the kill"
    restored = pyml.load_model(path)
    epoch, partial = divmod(restored.optimizer.iterations, 10)  # 160 rows / 16: 10 steps per epoch
    assert partial == 0 and 0 < epoch < EPOCHS
    assert_same_weights(reference, fit(restored, initial_epoch=epoch, shuffle=False))
