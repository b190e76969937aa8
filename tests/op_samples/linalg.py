"""Samples for ``matmul``: plain, batched, broadcast batch dims (both ways, ranks differing), int32, ``transpose_a``,
and sizes that are not multiples of the WGSL tile sizes (16 and 64) so the kernels' edge handling is exercised."""
import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(7)


def normal(*shape):
    return _rng.standard_normal(shape).astype(np.float32)


def _matmul(a, b):
    return np.matmul(a.astype(np.float64), b.astype(np.float64)) if a.dtype.kind == "f" else np.matmul(a, b)


def _matmul_transposed(a, b, transpose_a):
    return _matmul(np.swapaxes(a, -1, -2), b)


SAMPLES = [
    Sample("matmul", [normal(3, 4), normal(4, 5)], reference=_matmul, note="2d"),
    Sample("matmul", [normal(1, 7), normal(7, 1)], reference=_matmul, note="row-times-column"),
    Sample("matmul", [normal(2, 3, 4), normal(2, 4, 2)], reference=_matmul, note="batched"),
    Sample("matmul", [normal(2, 1, 3, 4), normal(3, 4, 5)], reference=_matmul, note="broadcast-batch"),
    Sample("matmul", [normal(1, 3, 4), normal(5, 4, 2)], reference=_matmul, note="batch-1-stretches"),
    Sample("matmul", [normal(3, 4), normal(2, 4, 5)], reference=_matmul, note="matrix-times-batch"),
    Sample("matmul", [normal(37, 70), normal(70, 65)], reference=_matmul, note="ragged-tiles"),
    Sample("matmul", [normal(2, 66, 20), normal(20, 70)], reference=_matmul, note="batched-big-tiles"),
    Sample("matmul", [_rng.integers(-4, 5, (3, 5)).astype(np.int32), _rng.integers(-4, 5, (5, 2)).astype(np.int32)],
           reference=_matmul, grad=False, note="int32 (not differentiable)"),
    # a read transposed: a training step's weight gradient xᵀ @ dy, contracting over the batch (pyml/graph/merge.py)
    Sample("matmul", [normal(7, 3), normal(7, 5)], {"transpose_a": True}, reference=_matmul_transposed,
           note="transpose-a"),
    Sample("matmul", [normal(9, 37), normal(9, 65)], {"transpose_a": True}, reference=_matmul_transposed,
           note="transpose-a-ragged-tiles"),
    Sample("matmul", [normal(2, 6, 3), normal(6, 4)], {"transpose_a": True}, reference=_matmul_transposed,
           note="transpose-a-batched"),
]
