"""MPIStrategy under real ``mpiexec -n 2`` / ``-n 3`` (oversubscribed on 2 cores): N ranks compute what one
process computes on the same global batches, log the same numbers, write checkpoints on rank 0 only, and stop
together, naming the rank, when one dies."""
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pyml.distribute import launch
from tests.distribute import worker

ROOT = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).parent / "mpiexec"
TIMEOUT = 60


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYML_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _mpiexec(ranks, *args, timeout=TIMEOUT):
    command = [str(MPIEXEC), "-n", str(ranks), sys.executable, "-m", "tests.distribute.worker", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


def _weights(npz, count):
    return [npz[f"arr_{i}"] for i in range(count)]


@pytest.mark.parametrize("model, batch, ranks, eager", [
    ("mlp", 32, 2, False),
    ("conv", 25, 2, False),  # 25 rows: shards of 12 and 13, and a last batch of 21
    ("mlp", 25, 2, True),  # the eager step reduces its gradients too
    ("conv", 25, 3, False),
    ("weighted", 20, 2, False),  # sample weights: the loss is the global batch's weighted mean
    ("extras", 25, 2, False),  # two outputs, constraint, penalty, AdamW with clipping and accumulation
    ("extras", 25, 2, True),
    ("lazy", 32, 2, False),  # no Input: built by the first batch, then rank 0's weights are sent
])
def test_ranks_train_as_one_process(tmp_path, model, batch, ranks, eager):
    result = _mpiexec(ranks, model, batch, tmp_path, *(["--eager"] if eager else []))
    assert result.returncode == 0, result.stderr
    reference, history = worker.train(model, batch, eager)
    expected = reference.get_weights()
    for rank in range(ranks):
        saved = np.load(tmp_path / f"rank{rank}.npz")
        for got, want in zip(_weights(saved, len(expected)), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        for name, values in history.history.items():  # every rank logs the one-process numbers
            np.testing.assert_allclose(saved[f"log_{name}"], values, rtol=1e-5)


def test_only_rank_0_writes_checkpoints(tmp_path):
    result = _mpiexec(2, "mlp", 32, tmp_path, "--checkpoint")
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.glob("*.weights.h5"))
    assert written == ["rank0-1.weights.h5", "rank0-2.weights.h5"]


def test_a_rank_that_raises_aborts_every_rank_naming_itself(tmp_path):
    start = time.monotonic()
    result = _mpiexec(2, "mlp", 16, tmp_path, "--die", 1, timeout=30)
    assert result.returncode != 0
    assert time.monotonic() - start < 30
    assert "rank 1 of 2 failed with RuntimeError: this rank was told to fail" in result.stderr
    assert not list(tmp_path.glob("rank*.npz"))  # rank 0 did not finish training alone


def test_pyml_launch_names_a_rank_that_exits_abruptly(tmp_path):
    start = time.monotonic()
    command = [sys.executable, "-m", "pyml.cli", "launch", "-n", "2", str(ROOT / "tests/distribute/worker.py"),
               "mlp", "16", str(tmp_path), "--die", "1", "--how", "exit"]
    result = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert time.monotonic() - start < 30
    assert "pyml launch: rank 1 of 2 exited with status 3" in result.stderr
    assert not list(tmp_path.glob("rank*.npz"))


def test_launch_reads_mpich_exit_codes():
    line = "[mpiexec@a] Exit codes: [a] 0,768 [b] 9,0\n"
    assert launch.failed_ranks(line) == [(1, "exited with status 3"), (2, "was killed by signal 9")]
    assert launch.failed_ranks("training...\n") == []


def test_launch_without_mpiexec_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(FileNotFoundError, match=r"pip install 'pyml\[distributed\]'"):
        launch.command(2, "train.py")
    with pytest.raises(ValueError, match="-n 0"):
        launch.command(0, "train.py")
