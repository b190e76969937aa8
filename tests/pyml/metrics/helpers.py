"""Shared data for the metric tests: batches of labels, scores and weights from a seeded generator."""
import numpy as np


def batches(*arrays, size=17):
    """Yield the arrays cut into batches of ``size`` rows (the last one shorter)."""
    for start in range(0, len(arrays[0]), size):
        yield tuple(a[start:start + size] for a in arrays)


def accumulate(metric, *arrays, size=17):
    """Feed ``(y_true, y_pred[, sample_weight])`` to ``metric`` batch by batch; return its result."""
    for batch in batches(*arrays, size=size):
        metric.update_state(*batch)
    return metric.result()


def binary_data(n=300, seed=0, labels=None):
    """0/1 targets, scores that lean towards them, and positive weights."""
    rng = np.random.default_rng(seed)
    shape = (n,) if labels is None else (n, labels)
    y = rng.integers(0, 2, shape)
    scores = np.clip(0.35 * y + 0.65 * rng.random(shape), 0, 1).astype("float32")
    return y, scores, rng.uniform(0.2, 2.0, n)
