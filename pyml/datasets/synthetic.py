"""Seeded synthetic datasets for demos and tests (NumPy only).

``seed=None`` draws from pyml's generator (``pyml.set_random_seed`` makes it reproducible); an int gives
the same data every time. Rows come shuffled, so batches mix the classes.

    >>> x, y = pyml.datasets.synthetic.spirals(100, num_classes=2, seed=0)
    >>> x.shape, x.dtype, np.bincount(y).tolist()
    ((100, 2), dtype('float32'), [50, 50])
"""
import numpy as np

from pyml import random


def _check_positive(**values):
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")


def _shuffled(rng, x, y):
    order = rng.permutation(len(x))
    return x[order], y[order]


def spirals(n_samples=200, num_classes=2, noise=0.1, turns=1.5, seed=None):
    """Interleaved spiral arms, one per class: points ``r (sin a, cos a)`` with ``r`` from 0 to 1 and
    ``a = 2 pi (turns r + k / num_classes)`` for class ``k``, plus normal noise of std ``noise``.

    Returns:
        ``(x, y)``: float32 ``(n_samples, 2)`` and int32 labels (classes as equal as ``n_samples`` allows).
    """
    _check_positive(n_samples=n_samples, num_classes=num_classes)
    rng = random.generator(seed)
    y = np.arange(n_samples) % num_classes
    radius = rng.uniform(0.0, 1.0, n_samples)
    angle = 2 * np.pi * (turns * radius + y / num_classes)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1) + rng.normal(0.0, noise, (n_samples, 2))
    return _shuffled(rng, x.astype(np.float32), y.astype(np.int32))


def blobs(n_samples=300, centers=3, num_features=2, cluster_std=1.0, center_box=(-10.0, 10.0), seed=None):
    """Gaussian clusters: ``centers`` centres uniform in ``center_box`` per feature, points normal around them.

    Returns:
        ``(x, y)``: float32 ``(n_samples, num_features)`` and int32 cluster labels.

        >>> x, y = pyml.datasets.synthetic.blobs(6, centers=2, seed=1)
        >>> x.shape, sorted(y.tolist())
        ((6, 2), [0, 0, 0, 1, 1, 1])
    """
    _check_positive(n_samples=n_samples, centers=centers, num_features=num_features)
    rng = random.generator(seed)
    middle = rng.uniform(center_box[0], center_box[1], (centers, num_features))
    y = np.arange(n_samples) % centers
    x = middle[y] + rng.normal(0.0, cluster_std, (n_samples, num_features))
    return _shuffled(rng, x.astype(np.float32), y.astype(np.int32))


def sine_sequences(n_samples=256, timesteps=32, noise=0.0, seed=None):
    """Windows of sine waves of random frequency (0.05-0.25 cycles per step) and phase, for sequence models:
    predict the value after the window.

    Returns:
        ``(x, y)``: float32 ``(n_samples, timesteps, 1)`` (plus normal noise of std ``noise``) and float32
        ``(n_samples, 1)``, the noiseless next value.

        >>> x, y = pyml.datasets.synthetic.sine_sequences(4, timesteps=10, seed=0)
        >>> x.shape, y.shape
        ((4, 10, 1), (4, 1))
    """
    _check_positive(n_samples=n_samples, timesteps=timesteps)
    rng = random.generator(seed)
    frequency = rng.uniform(0.05, 0.25, (n_samples, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n_samples, 1))
    waves = np.sin(2 * np.pi * frequency * np.arange(timesteps + 1) + phase)
    x = waves[:, :timesteps] + rng.normal(0.0, noise, (n_samples, timesteps))
    return x[..., None].astype(np.float32), waves[:, timesteps:].astype(np.float32)
