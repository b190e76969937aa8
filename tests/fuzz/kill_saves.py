"""Seeded ``kill -9`` harness for pyml's writers: ``model.save``, ``ModelCheckpoint`` during ``fit``, and
``webexport.export``.

A forked child saves the same target over and over, each version stamped with a counter (every weight of
version k equals k, so a file mixing two versions, or a half-written one, shows). The parent sends SIGKILL at a
seeded random moment, then checks: the target loads (``load_model``; ``load_bundle``, which checks every
SHA-256), it is one complete version no older than the last one seen, and every temporary sibling left belongs to
a child killed since the last save that completed (a completed save removes dead writers' leftovers). At the end
one more save must leave the target alone in its folder. CI runs ~110 kills (tests/fuzz/test_kill_saves.py);
``scripts/kill_saves.py`` runs more.
"""
import os
import re
import signal
import time

import numpy as np

import pyml
from pyml import layers

UNITS = 1000  # a 1000x1000 Dense: 4 MB of weights, so a save takes long enough to be killed in the middle
KINDS = {"save": "m.pyml", "checkpoint": "ckpt.pyml", "export": "bundle"}
MAX_DELAY = {"save": 0.3, "checkpoint": 0.4, "export": 0.8}  # seconds: a few writes' worth
VERSIONS = 1000  # child i writes versions i * VERSIONS + 1, + 2, ... (exact in float32 up to 16,000 kills)


def build():
    model = pyml.Sequential([pyml.Input(shape=(UNITS,)), layers.Dense(UNITS)])
    model.compile(optimizer=pyml.optimizers.SGD(1e-6), loss="mse")
    return model


def stamp(model, k):
    for variable in model.weights:
        variable.assign(np.full(variable.shape, k, dtype=variable.dtype))


class Stamp(pyml.callbacks.Callback):
    """Before ModelCheckpoint saves epoch e, make every weight ``start + e + 1``."""

    def __init__(self, start):
        super().__init__()
        self.start = start

    def on_epoch_end(self, epoch, logs=None):
        stamp(self.model, self.start + epoch + 1)


def write(kind, target, model, k):
    """Write version ``k`` of ``target`` (the parent writes version 0 and the final one this way)."""
    stamp(model, k)
    if kind == "export":
        import webexport

        webexport.export(model, target, include_runtime=True)
    else:
        model.save(target)


def child(kind, target, start):
    """Write versions ``start + 1, start + 2, ...`` until killed."""
    model = build()
    if kind == "checkpoint":
        x = np.zeros((8, UNITS), "float32")
        callbacks = [Stamp(start), pyml.callbacks.ModelCheckpoint(target, save_best_only=False)]
        model.fit(x, x, epochs=10**9, batch_size=8, verbose=0, callbacks=callbacks)
    k = start
    while True:
        k += 1
        write(kind, target, model, k)


def read_version(kind, target):
    """The version ``target`` holds, after checking it loads and is one whole version."""
    if kind == "export":
        import webexport

        arrays = list(webexport.load_bundle(target).weights.values())
    else:
        model = pyml.load_model(target)
        arrays = [v.numpy() for v in model.weights]
    k = arrays[0].flat[0]
    for array in arrays:
        if not (array == k).all():
            raise AssertionError(f"{target} mixes versions: values {np.unique(array)[:5]} beside {k}")
    if kind == "checkpoint":
        steps = int(model.optimizer.iterations)
        if k % VERSIONS and steps != k % VERSIONS:  # one step per epoch: weights and optimizer from one save
            raise AssertionError(f"{target}: weights of epoch {k % VERSIONS} with optimizer step {steps}")
    return int(k)


def leftovers(target):
    """``{pid: [names]}`` of the temporary siblings of ``target`` (``pyml.utils.atomic`` names them)."""
    folder, name = os.path.split(target)
    pattern = re.compile(rf"\.{re.escape(name)}\.(tmp|old)-(\d+)-[0-9a-f]+")
    found = {}
    for entry in os.listdir(folder):
        match = pattern.fullmatch(entry)
        if match:
            found.setdefault(int(match.group(2)), []).append(entry)
        elif entry != name:
            raise AssertionError(f"{folder} holds {entry!r}, neither {name} nor a recognisable temporary sibling")
    return found


def run(kind, kills, seed, folder):
    """Kill ``kills`` children writing ``kind`` at seeded random moments; returns ``{"saves": versions seen
    advancing, "leftovers": kills that left a temporary sibling}``. Raises AssertionError naming the seed."""
    if (kills + 2) * VERSIONS >= 2**24:
        raise ValueError(f"at most {2**24 // VERSIONS - 2} kills per run (versions must stay exact in float32)")
    rng = np.random.default_rng(seed)
    target = os.path.join(folder, KINDS[kind])
    model = build()
    write(kind, target, model, 0)
    last, completed, since_completed, left = 0, 0, [], 0
    for i in range(1, kills + 1):
        pid = os.fork()
        if pid == 0:  # the child never returns into the caller (a test runner)
            try:
                child(kind, target, i * VERSIONS)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0, MAX_DELAY[kind]))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        where = f"kind={kind} seed={seed} kill {i}"
        try:
            k = read_version(kind, target)
        except Exception as exc:
            raise AssertionError(f"{where}: the target does not load after kill -9: {exc}") from exc
        assert k >= last, f"{where}: {target} went back from version {last} to {k}"
        since_completed = [pid] if k // VERSIONS == i else since_completed + [pid]
        completed += k // VERSIONS == i
        last = k
        found = leftovers(target)
        left += bool(found)
        stray = set(found) - set(since_completed)
        assert not stray, f"{where}: a completed save left dead writers' temporaries {[found[p] for p in stray]}"
    final = (kills + 1) * VERSIONS
    write(kind, target, model, final)
    assert not leftovers(target), f"kind={kind} seed={seed}: temporaries remain after a save: {leftovers(target)}"
    assert read_version(kind, target) == final
    return {"kills": kills, "completed": completed, "leftovers": left}
