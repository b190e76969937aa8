"""Convolution and max pooling in NumPy, several formulations side by side, on the Keras MNIST convnet's
largest layer at batch 128 (Conv2D 32 -> 64, 3x3, 26x26 input; MaxPooling2D 2 on 24x24x64): the measurement
behind pyml's choice (pyml/ops/conv.py, pyml/ops/pooling.py).

    $ python benchmarks/conv_numpy.py              # BLAS and pyml on 1 thread, best of 7 interleaved runs
    $ python benchmarks/conv_numpy.py --threads 2

Each formulation computes the same array (checked against pyml's to 1e-5 relative); the table prints the
best milliseconds of 7 runs, taken in interleaved order so that a busy machine disturbs all alike.
"""
import argparse
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import common

N, H, W, C_IN, C_OUT, K = 128, 26, 26, 32, 64, 3
OH, OW = H - K + 1, W - K + 1
VALID = dict(strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1)


def windows(x):
    """``(n, oh, ow, kh, kw, c)`` view of every 3x3 window."""
    return sliding_window_view(x, (K, K), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)


# ---- forward: out[n, o, co] = sum_{k, ci} x[n, o + k, ci] w[k, ci, co] -----------------------------------------
def forward_formulations(x, w):
    from pyml.ops.conv import conv_into

    def pyml_chunked():
        out = np.empty((N, OH, OW, C_OUT), np.float32)
        conv_into(out, x, w, **VALID)
        return out

    def im2col_whole_batch():  # per-tap copies into one (N*OH*OW, 9*C) matrix, one GEMM
        cols = np.empty((N, OH, OW, K * K, C_IN), np.float32)
        for t, (i, j) in enumerate(np.ndindex(K, K)):
            cols[:, :, :, t] = x[:, i:i + OH, j:j + OW]
        return (cols.reshape(-1, K * K * C_IN) @ w.reshape(-1, C_OUT)).reshape(N, OH, OW, C_OUT)

    def tensordot():
        return np.tensordot(sliding_window_view(x, (K, K), axis=(1, 2)), w, axes=([3, 4, 5], [2, 0, 1]))

    def einsum():
        return np.einsum("nhwijc,ijco->nhwo", windows(x), w, optimize=True)

    def per_tap():  # nine GEMMs of K = C_in, accumulated
        out = np.zeros((N * OH * OW, C_OUT), np.float32)
        for i, j in np.ndindex(K, K):
            out += np.ascontiguousarray(x[:, i:i + OH, j:j + OW]).reshape(-1, C_IN) @ w[i, j]
        return out.reshape(N, OH, OW, C_OUT)

    return {"pyml: im2col + GEMM per chunk of samples": pyml_chunked, "im2col of the whole batch + GEMM": im2col_whole_batch,
            "sliding_window_view + tensordot": tensordot, "sliding_window_view + einsum": einsum,
            "per-tap GEMMs, accumulated": per_tap}


# ---- input gradient: the adjoint of the forward in x ---------------------------------------------------------------
def input_grad_formulations(g, w):
    from pyml.ops.conv import conv_transpose_into

    def pyml_chunked():
        out = np.empty((N, H, W, C_IN), np.float32)
        conv_transpose_into(out, g, w, spatial_shape=(H, W), **VALID)
        return out

    def col2im_whole_batch():
        cols = (g.reshape(-1, C_OUT) @ w.reshape(-1, C_OUT).T).reshape(N, OH, OW, K, K, C_IN)
        dx = np.zeros((N, H, W, C_IN), np.float32)
        for i, j in np.ndindex(K, K):
            dx[:, i:i + OH, j:j + OW] += cols[:, :, :, i, j]
        return dx

    def full_correlation():  # pad g by k - 1, im2col, GEMM with the flipped kernel
        padded = np.pad(g, ((0, 0), (K - 1, K - 1), (K - 1, K - 1), (0, 0)))
        flipped = w[::-1, ::-1].transpose(0, 1, 3, 2).reshape(-1, C_IN)
        return (np.ascontiguousarray(windows(padded)).reshape(-1, K * K * C_OUT) @ flipped).reshape(N, H, W, C_IN)

    def per_tap():
        dx = np.zeros((N, H, W, C_IN), np.float32)
        rows = g.reshape(-1, C_OUT)
        for i, j in np.ndindex(K, K):
            dx[:, i:i + OH, j:j + OW] += (rows @ w[i, j].T).reshape(N, OH, OW, C_IN)
        return dx

    return {"pyml: per-tap GEMMs on the input grid, per chunk": pyml_chunked, "GEMM + col2im, whole batch": col2im_whole_batch,
            "full correlation (padded im2col + GEMM)": full_correlation, "per-tap GEMMs, added in place": per_tap}


# ---- filter gradient: sum over samples and positions of x-window ⊗ g --------------------------------------------------
def filter_grad_formulations(x, g):
    from pyml.ops.conv import conv_filter_grad_into

    def pyml_chunked():
        out = np.empty((K, K, C_IN, C_OUT), np.float32)
        conv_filter_grad_into(out, x, g, kernel_shape=(K, K), **VALID)
        return out

    def im2col_whole_batch():
        cols = np.ascontiguousarray(windows(x)).reshape(-1, K * K * C_IN)
        return (cols.T @ g.reshape(-1, C_OUT)).reshape(K, K, C_IN, C_OUT)

    def tensordot():
        return np.tensordot(windows(x), g, axes=([0, 1, 2], [0, 1, 2]))

    def per_tap():
        rows = g.reshape(-1, C_OUT)
        return np.stack([np.ascontiguousarray(x[:, i:i + OH, j:j + OW]).reshape(-1, C_IN).T @ rows
                         for i, j in np.ndindex(K, K)]).reshape(K, K, C_IN, C_OUT)

    return {"pyml: im2col + GEMM per chunk, summed": pyml_chunked, "im2col of the whole batch + GEMM": im2col_whole_batch,
            "sliding_window_view + tensordot": tensordot, "per-tap GEMMs": per_tap}


# ---- 2x2 max pooling and its gradient (to the first maximum of each window) -------------------------------------------
def pool_formulations(a, g):
    from pyml.ops.pooling import max_pool_grad_into, max_pool_into

    attrs = dict(window=(2, 2), strides=(2, 2), padding=((0, 0), (0, 0)))

    def pyml_views():
        out = np.empty((N, 12, 12, C_OUT), np.float32)
        max_pool_into(out, a, **attrs)
        grad = np.empty(a.shape, np.float32)
        max_pool_grad_into(grad, a, g, **attrs)
        return grad

    def im2col_argmax():  # the formulation pyml used before: window columns, argmax, scatter
        cols = np.ascontiguousarray(windows_2x2(a))
        picked = cols.reshape(N, 12, 12, 4, C_OUT).argmax(axis=3)
        routed = np.where(np.arange(4)[:, None] == picked[..., None, :], g[..., None, :], 0)
        return routed.reshape(N, 12, 12, 2, 2, C_OUT).transpose(0, 1, 3, 2, 4, 5).reshape(a.shape)

    def reshape_mask():  # the NumPy idiom: compare with the broadcast maximum (ties all receive the gradient)
        blocks = a.reshape(N, 12, 2, 12, 2, C_OUT)
        best = blocks.max(axis=(2, 4), keepdims=True)
        return ((blocks == best) * g.reshape(N, 12, 1, 12, 1, C_OUT)).reshape(a.shape)

    return {"pyml: strided views, bit-masked routing": pyml_views, "im2col + argmax + scatter": im2col_argmax,
            "reshape + compare with the maximum": reshape_mask}


def windows_2x2(a):
    return a.reshape(N, 12, 2, 12, 2, C_OUT).transpose(0, 1, 3, 2, 4, 5)


def compare(title, formulations, rounds=7):
    names = list(formulations)
    reference = formulations[names[0]]()
    for name in names[1:]:
        got = formulations[name]()
        error = float(np.abs(got - reference).max() / max(np.abs(reference).max(), 1e-30))
        if error > 1e-5:
            raise common.BenchmarkError(f"{title}: {name} differs from pyml's by {error:.2e} (relative)")
    times = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            start = time.perf_counter()
            formulations[name]()
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) * 1e3 for name, t in times.items()}
    rows = [[name, best[name], common.ratio(best[name], best[names[0]])] for name in names]
    common.print_table(title, ["formulation", "best ms", "vs pyml"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    import pyml.threads

    limits = threadpool_limits(args.threads)  # noqa: F841  (kept for the whole run)
    pyml.threads.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, H, W, C_IN), dtype=np.float32)
    w = rng.standard_normal((K, K, C_IN, C_OUT), dtype=np.float32)
    g = rng.standard_normal((N, OH, OW, C_OUT), dtype=np.float32)
    a = rng.standard_normal((N, OH, OW, C_OUT), dtype=np.float32)
    pooled_g = rng.standard_normal((N, 12, 12, C_OUT), dtype=np.float32)
    print(f"machine: {common.machine_summary()}")
    print(f"{args.threads} thread(s); conv {N}x{H}x{W}x{C_IN} -> {C_OUT}, 3x3 valid; pool 2x2 on {N}x{OH}x{OW}x{C_OUT}")
    compare("conv forward", forward_formulations(x, w), args.rounds)
    compare("conv input gradient (conv_transpose)", input_grad_formulations(g, w), args.rounds)
    compare("conv kernel gradient (conv_filter_grad)", filter_grad_formulations(x, g), args.rounds)
    compare("max pool + its gradient", pool_formulations(a, pooled_g), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
