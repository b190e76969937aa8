"""Linear algebra: the ``matmul`` primitive and the public ``matmul``, ``dot`` and ``tensordot`` ops.

``matmul(a, b)`` is numpy's: both operands have at least 2 dims, the last two are the matrix dims and
the leading (batch) dims broadcast. The public ``matmul`` (and the ``@`` operator) also takes 1-D
operands, as numpy does, by reshaping them to a row or a column and dropping that axis afterwards:

    >>> a = pyml.Tensor(np.ones((2, 3), np.float32))
    >>> (a @ pyml.Tensor(np.ones((3, 4)))).shape
    (2, 4)
    >>> pyml.ops.matmul(a, pyml.Tensor([1.0, 2.0, 3.0])).numpy()
    array([6., 6.], dtype=float32)

``dot`` and ``tensordot`` are composites of transpose, reshape and ``matmul``.
"""
import numpy as np

from pyml import dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import cast, convert_to_tensor, multiply
from pyml.ops.movement import reshape, transpose
from pyml.ops.registry import Spec, bind, primitive

__all__ = ["matmul", "dot", "tensordot"]

MATMUL_DTYPES = ("float32", "float64", "int32")


def _broadcast_batch(a_shape, b_shape):
    """The broadcast of two batch shapes (aligned from the right), or None when they do not broadcast."""
    ndim = max(len(a_shape), len(b_shape))
    a_shape = (1,) * (ndim - len(a_shape)) + tuple(a_shape)
    b_shape = (1,) * (ndim - len(b_shape)) + tuple(b_shape)
    out = []
    for x, y in zip(a_shape, b_shape):
        if x != y and 1 not in (x, y):
            return None
        out.append(y if x == 1 else x)
    return tuple(out)


# ---- matmul ----------------------------------------------------------------------------------------------
def _matmul_rule(a, b, transpose_a=False):
    if transpose_a:  # a is stored (..., K, M): the rule sees the matrix it stands for
        a = Spec(tuple(a.shape[:-2]) + (a.shape[-1], a.shape[-2]), a.dtype) if len(a.shape) >= 2 else a
    if a.dtype != b.dtype or a.dtype not in MATMUL_DTYPES:
        raise OpError("matmul", f"operands must share one dtype of ({', '.join(MATMUL_DTYPES)}). "
                                f"Received: dtypes {a.dtype} and {b.dtype}")
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise OpError("matmul", "the primitive needs operands with at least 2 dimensions (the public "
                                f"ops.matmul handles 1-D ones). Received: shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise OpError("matmul", f"inner dimensions differ: a has shape {a.shape}, b has shape {b.shape} "
                                f"({a.shape[-1]} != {b.shape[-2]})")
    batch = _broadcast_batch(a.shape[:-2], b.shape[:-2])
    if batch is None:
        raise OpError("matmul", f"batch dimensions {a.shape[:-2]} and {b.shape[:-2]} do not broadcast. "
                                f"Received: a.shape={a.shape}, b.shape={b.shape}")
    return Spec(batch + (a.shape[-2], b.shape[-1]), a.dtype)


def _swap_last(x):
    """``x`` with its last two axes swapped (the batched matrix transpose)."""
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, perm)


def _matmul_vjp(g, inputs, out, attrs):
    # out = a @ b  =>  da = g @ bᵀ, db = aᵀ @ g (the driver sums broadcast batch dims back).
    a, b = inputs
    if attrs.get("transpose_a"):  # out = aᵀ @ b  =>  da = b @ gᵀ, db = a @ g
        return lambda: bind(matmul_p, b, _swap_last(g)), lambda: bind(matmul_p, a, g)
    return lambda: bind(matmul_p, g, _swap_last(b)), lambda: _weight_grad(a, b, g)


def _weight_grad(a, b, g):
    """``aᵀ @ g`` summed over a's batch axes; for a 2-D ``b`` (a Dense or RNN kernel applied to every step of
    a sequence) one GEMM over all rows, ``(rows, K)ᵀ @ (rows, N)``, rather than one small product per batch
    entry and a sum of their ``(batch, K, N)`` stack."""
    if b.ndim == 2 and a.ndim > 2:
        k, n = a.shape[-1], g.shape[-1]
        return bind(matmul_p, transpose(reshape(a, (-1, k))), reshape(g, (-1, n)))
    return bind(matmul_p, _swap_last(a), g)


matmul_p = primitive(
    "matmul",
    shape=_matmul_rule,
    forward=lambda xp, a, b, transpose_a=False: xp.matmul(xp.swapaxes(a, -1, -2) if transpose_a else a, b),
    vjp=_matmul_vjp,
    doc="Batched matrix product, numpy semantics for operands of rank >= 2 (batch dims broadcast); with "
        "transpose_a, a's last two axes are swapped first (a traced step's weight gradient xᵀ @ dy keeps the "
        "batch on axis 0 of every value: pyml/graph/merge.py).",
)


def _promote(x1, x2):
    a, b = convert_to_tensor(x1), convert_to_tensor(x2)
    common = dtypes.result_type(a.dtype, b.dtype)
    if common == "bool":
        common = "int32"  # numpy's bool matmul is a logical or-and; count bools as 0/1 like Keras
    return cast(a, common), cast(b, common)


def matmul(x1, x2):
    """Matrix product of two tensors, with numpy ``matmul`` semantics (also the ``@`` operator).

    For rank >= 2 the last two axes are the matrices and the leading axes broadcast. A 1-D ``x1`` is
    treated as a row vector and a 1-D ``x2`` as a column vector; that axis is removed from the result.
    Mixed dtypes promote (``int32 @ float32`` is float32).

    Args:
        x1: tensor of shape ``(..., M, K)`` or ``(K,)``.
        x2: tensor of shape ``(..., K, N)`` or ``(K,)``.

    Returns:
        A tensor of shape ``broadcast(...) + (M, N)`` (without ``M``/``N`` for 1-D operands).

    >>> x = pyml.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> pyml.ops.matmul(x, x).numpy()
    array([[ 7., 10.],
           [15., 22.]], dtype=float32)
    >>> pyml.ops.matmul(pyml.Tensor(np.ones((5, 2, 3))), pyml.Tensor(np.ones((3, 4)))).shape
    (5, 2, 4)
    """
    a, b = _promote(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        raise OpError("matmul", f"operands must have at least 1 dimension (use multiply for scalars). "
                                f"Received: x1.shape={a.shape}, x2.shape={b.shape}")
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise OpError("matmul", f"inner dimensions differ: a has shape {a.shape}, b has shape {b.shape} "
                                f"({k_a} != {k_b})")
    row, col = a.ndim == 1, b.ndim == 1
    if row:
        a = reshape(a, (1, a.shape[0]))
    if col:
        b = reshape(b, (b.shape[0], 1))
    out = bind(matmul_p, a, b)
    if row or col:
        shape = out.shape[:-2] + (() if row else out.shape[-2:-1]) + (() if col else out.shape[-1:])
        out = reshape(out, shape)
    return out


# ---- composites ------------------------------------------------------------------------------------------
def _axes_pair(axes, a_ndim, b_ndim):
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if not 0 <= n <= min(a_ndim, b_ndim):
            raise OpError("tensordot", f"axes={n} needs both operands to have at least {n} dimensions. "
                                       f"Received: ndims {a_ndim} and {b_ndim}")
        return tuple(range(a_ndim - n, a_ndim)), tuple(range(n))
    try:
        a_axes, b_axes = axes
    except (TypeError, ValueError):
        raise OpError("tensordot", f"axes must be an int or a pair of axis lists. Received: axes={axes!r}") from None
    a_axes = (a_axes,) if isinstance(a_axes, (int, np.integer)) else tuple(a_axes)
    b_axes = (b_axes,) if isinstance(b_axes, (int, np.integer)) else tuple(b_axes)
    if len(a_axes) != len(b_axes):
        raise OpError("tensordot", f"the two axis lists must have the same length. Received: axes={axes!r}")
    for ax, nd in [(a, a_ndim) for a in a_axes] + [(b, b_ndim) for b in b_axes]:
        if not -nd <= ax < nd:
            raise OpError("tensordot", f"axis {ax} is out of bounds for a tensor with ndim {nd}. Received: axes={axes!r}")
    return tuple(int(a) % a_ndim for a in a_axes), tuple(int(b) % b_ndim for b in b_axes)


def tensordot(x1, x2, axes=2):
    """Sum of products over the given axes (numpy ``tensordot``).

    Args:
        x1, x2: tensors.
        axes: an int ``n`` (the last ``n`` axes of ``x1`` against the first ``n`` of ``x2``) or a pair
            ``(axes_of_x1, axes_of_x2)`` of equal-length axis lists.

    Returns:
        A tensor of shape ``free axes of x1 + free axes of x2``.

    >>> a = pyml.Tensor(np.ones((2, 3, 4)))
    >>> pyml.ops.tensordot(a, pyml.Tensor(np.ones((4, 3, 5))), axes=([1, 2], [1, 0])).shape
    (2, 5)
    """
    a, b = _promote(x1, x2)
    a_axes, b_axes = _axes_pair(axes, a.ndim, b.ndim)
    for i, j in zip(a_axes, b_axes):
        if a.shape[i] != b.shape[j]:
            raise OpError("tensordot", f"contracted sizes differ: axis {i} of shape {a.shape} has {a.shape[i]}, "
                                       f"axis {j} of shape {b.shape} has {b.shape[j]}. Received: axes={axes!r}")
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [j for j in range(b.ndim) if j not in b_axes]
    size = int(np.prod([a.shape[i] for i in a_axes], dtype=np.int64))
    a_shape, b_shape = tuple(a.shape[i] for i in a_free), tuple(b.shape[j] for j in b_free)
    # explicit sizes, not -1: a zero-sized contraction leaves -1 undetermined
    a_mat = reshape(transpose(a, tuple(a_free) + a_axes), (int(np.prod(a_shape, dtype=np.int64)), size))
    b_mat = reshape(transpose(b, b_axes + tuple(b_free)), (size, int(np.prod(b_shape, dtype=np.int64))))
    return reshape(bind(matmul_p, a_mat, b_mat), a_shape + b_shape)


def dot(x1, x2):
    """Dot product with numpy ``dot`` semantics.

    Scalars multiply; for 1-D and 2-D operands it is ``matmul``; for N-D it sums over the last axis of
    ``x1`` and the second-to-last of ``x2`` (the last when ``x2`` is 1-D).

    >>> pyml.ops.dot(pyml.Tensor([1.0, 2.0]), pyml.Tensor([3.0, 4.0])).numpy()
    array(11., dtype=float32)
    """
    a, b = _promote(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=((a.ndim - 1,), (max(b.ndim - 2, 0),)))
