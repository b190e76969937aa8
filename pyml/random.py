"""Seeding: one NumPy ``Generator`` behind every random number pyml draws (initializers, dropout, shuffling).

    >>> pyml.set_random_seed(42)
    >>> a = pyml.random.normal((2,))
    >>> pyml.set_random_seed(42)
    >>> bool((pyml.random.normal((2,)) == a).all())
    True

Random values are drawn on the host with NumPy (they are data, like a dataset), then handed to
pyml as arrays; results are the same on every backend for the same seed.
"""
import random as _py_random

import numpy as np

_state = {"generator": np.random.default_rng()}


def set_random_seed(seed):
    """Make every later random draw in pyml reproducible (Keras ``keras.utils.set_random_seed``).

    Seeds pyml's generator, Python's ``random`` and NumPy's legacy global state (so user code that
    shuffles with ``np.random`` is reproducible too).

    Args:
        seed: a non-negative int.

    >>> pyml.set_random_seed(0)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed expects a non-negative int. Received: seed={seed!r}")
    seed = int(seed)
    _state["generator"] = np.random.default_rng(seed)
    _py_random.seed(seed)
    np.random.seed(seed % 2**32)


def generator(seed=None):
    """The shared generator, or a fresh one of its own when ``seed`` is an int."""
    if seed is None:
        return _state["generator"]
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(int(seed))


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """A NumPy array of normal samples."""
    return generator(seed).normal(mean, stddev, size=tuple(shape)).astype(dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype="float32", seed=None):
    """A NumPy array of samples uniform in ``[minval, maxval)``."""
    return generator(seed).uniform(minval, maxval, size=tuple(shape)).astype(dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal samples redrawn until within two standard deviations of the mean (as Keras/TF)."""
    rng = generator(seed)
    out = rng.standard_normal(size=tuple(shape))
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (mean + stddev * out).astype(dtype)


def permutation(n, seed=None):
    """A random permutation of ``range(n)`` (used to shuffle training data)."""
    return generator(seed).permutation(n)
