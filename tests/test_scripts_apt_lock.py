"""scripts/lib.sh waits (bounded, saying so) while another apt/dpkg holds its lock, instead of failing at once.

The fake lock holder takes the same kind of lock apt and dpkg take (a POSIX fcntl write lock) on a temp file that
PYML_APT_LOCKS points the script at.
"""
import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent.parent / "scripts" / "lib.sh"


def run_lib(snippet, locks, wait=600):
    env = {**os.environ, "PYML_APT_LOCKS": " ".join(map(str, locks)), "PYML_APT_LOCK_WAIT": str(wait)}
    started = time.monotonic()
    result = subprocess.run(["bash", "-c", f'source "{LIB}"; {snippet}'], env=env, capture_output=True, text=True,
                            timeout=60)
    return result, time.monotonic() - started


@pytest.fixture
def held_lock(tmp_path):
    """A lock file held by this process with fcntl.lockf (as dpkg does), released by calling the fixture."""
    path = tmp_path / "lock-frontend"
    handle = open(path, "w")
    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield path, handle.close
    handle.close()


def test_no_held_lock_means_no_wait_and_no_message(tmp_path):
    (tmp_path / "free").touch()
    result, seconds = run_lib("wait_for_apt; echo ready", [tmp_path / "missing", tmp_path / "free"])
    assert result.returncode == 0 and result.stdout == "ready\n", result
    assert seconds < 5


def test_a_held_lock_is_found_with_its_holder(held_lock, tmp_path):
    path, _ = held_lock
    result, _ = run_lib("apt_lock_holder", [tmp_path / "missing", path])
    assert result.stdout.split() == [str(os.getpid()), str(path)], result


def test_waits_for_the_holder_says_for_what_then_goes_on(held_lock):
    path, release = held_lock
    threading.Timer(2.0, release).start()
    result, seconds = run_lib("wait_for_apt; echo ready", [path])
    assert result.returncode == 0, result
    assert "waiting for" in result.stdout and f"(pid {os.getpid()}) to release {path}" in result.stdout
    assert "up to 600s" in result.stdout
    assert result.stdout.rstrip().endswith("ready")
    assert 1.5 < seconds < 15


def test_gives_up_after_the_bound_naming_the_lock_and_never_runs_apt(held_lock):
    path, _ = held_lock
    # as_root is the seam every apt-get goes through: it must not be reached while the lock is held.
    result, seconds = run_lib('as_root() { echo "RAN $*"; }; can_apt() { return 0; }; apt_install chromium', [path],
                              wait=1)
    assert result.returncode == 1, result
    assert "RAN" not in result.stdout
    assert f"still holds {path} after 1s" in result.stderr and "PYML_APT_LOCK_WAIT" in result.stderr
    assert seconds < 10
