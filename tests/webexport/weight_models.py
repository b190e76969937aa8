"""Graphs whose weights take every kernel path that reads float16/int8 weights as stored (webexport/kernels/
packed.wgsl.j2), shared by the native (tests/webexport/test_weights.py) and browser
(tests/browser/test_weights_browser.py) parity tests.

- ``mlp``: Dense 50→64 tanh → Dense 64→40: K = 50 is no multiple of 4 (scalar loads, K read from the packed
  buffer's length); GEMV at batch 1, the register-tiled variant from ``linalg.TILED_MIN_BATCH`` rows; 64 columns
  are read a word at a time (4 adjacent columns per invocation for int8), 40 per element for int8.
- ``convnet`` on 6×6×8 images: a 3×3 conv 8→128 (Winograd), a 3×3 depthwise conv (direct), a 2×2 stride-2 conv
  128→64 (implicit GEMM, vec4 loads, whole words of the weight), a 3×3 conv 64→128 in 2 groups (the grouped
  implicit GEMM, whole words), a 1×1 conv 128→20 (implicit GEMM, element by element), Dense 180→32 (vec4 GEMV /
  tiled), plus Dense 4608→32 from the depthwise output (split-K), added.
- ``shared``: one weight read by a matmul and by an elementwise ``mul``, so it must stay float32 on the GPU.
- ``tiles``: a static 256×64 @ 64×64 matmul (workgroup-memory tiles).
- ``recurrent``: an LSTM of 24 units over 20 steps (rnn_scan, its recurrent kernel read as stored, one int8
  scale per gate column; the multi-row variant from batch 8), after a Dense 5→96 input projection.

Every weight matrix has at least ``webexport.weights.MIN_QUANTIZED_ELEMENTS`` elements (the tiers store it),
scaled by 1/sqrt(fan-in) so outputs stay near 1 and a 1e-5 tolerance means float32 rounding.
"""
import numpy as np

import pyml
from pyml.graph import trace

RNG = np.random.default_rng(11)


def _weight(shape, name, fan_in=None):
    fan_in = fan_in or int(np.prod(shape[:-1]))
    return pyml.Variable((RNG.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32), name=name)


MLP = {"a": _weight((50, 64), "dense/kernel"), "bias": _weight((64,), "dense/bias", 1),
       "b": _weight((64, 40), "head/kernel")}
CONV = {"winograd": _weight((3, 3, 8, 128), "conv/kernel"), "depthwise": _weight((3, 3, 1, 128), "depthwise/kernel", 9),
        "gemm": _weight((2, 2, 128, 64), "down/kernel"), "pointwise": _weight((1, 1, 128, 20), "pointwise/kernel"),
        "dense": _weight((180, 32), "dense/kernel"),
        "long": _weight((4608, 32), "long/kernel"), "grouped": _weight((3, 3, 32, 128), "grouped/kernel")}
RECURRENT = {"kernel": _weight((5, 96), "lstm/kernel"), "recurrent": _weight((24, 96), "lstm/recurrent_kernel")}
SHARED = _weight((64, 32), "shared/kernel")
TILES = _weight((64, 64), "tiles/kernel")


def mlp(x):
    return pyml.ops.matmul(pyml.ops.tanh(pyml.ops.matmul(x, MLP["a"]) + MLP["bias"]), MLP["b"])


def convnet(x):
    c = pyml.ops.relu(pyml.ops.conv(x, CONV["winograd"], padding="same"))
    c = pyml.ops.conv(c, CONV["depthwise"], padding="same", groups=128)
    d = pyml.ops.conv(pyml.ops.conv(c, CONV["gemm"], strides=2), CONV["grouped"], padding="same", groups=2)
    d = pyml.ops.conv(d, CONV["pointwise"])
    head = pyml.ops.matmul(pyml.ops.reshape(d, (-1, 180)), CONV["dense"])
    return head + pyml.ops.matmul(pyml.ops.reshape(c, (-1, 4608)), CONV["long"])


def shared(x):
    return pyml.ops.matmul(x, SHARED) + pyml.ops.matmul(x, SHARED * pyml.ops.mean(x))


def tiles(x):
    return pyml.ops.matmul(x, TILES)


def recurrent(x):
    xp = pyml.ops.matmul(x, RECURRENT["kernel"])
    h0 = pyml.ops.zeros_like(xp[:, 0, :24])
    return pyml.ops.rnn_scan("lstm", xp, RECURRENT["recurrent"], h0, h0 + 0.5)


GRAPHS = {  # name: (graph builder, input shape per example or the static shape)
    "mlp": (mlp, (None, 50)),
    "convnet": (convnet, (None, 6, 6, 8)),
    "shared": (shared, (None, 64)),
    "tiles": (tiles, (256, 64)),
    "recurrent": (recurrent, (None, 20, 5)),
}
# Text each graph's kernels must contain, so the tests cover the programs they are written for: whole words of
# a packed weight (_unpack), Winograd's filter transform, the implicit GEMM (w_row) and its grouped form (cg), the
# direct conv (grp),
# split-K, the workgroup-memory tiles.
PROGRAMS = {"mlp": ["// matmul+add+tanh", "in1_unpack("],
            "convnet": ["// conv.filter", "let w_row", "let cg", "let grp", "// matmul.partial", "// matmul.reduce",
                        "in1_at(", "in1_unpack("],
            "shared": ["// mul"], "tiles": ["var<workgroup> tile_b"], "recurrent": ["// rnn_scan", "in1_at("]}


def graph(name):
    """The traced graph ``name`` (see the module docstring)."""
    fn, shape = GRAPHS[name]
    return trace(fn, [(shape, "float32")])


def inputs(name, batch):
    """Standard-normal inputs for ``name`` at ``batch`` (ignored for a static shape)."""
    _, shape = GRAPHS[name]
    concrete = tuple(batch if d is None else d for d in shape)
    return [np.random.default_rng(batch).standard_normal(concrete).astype(np.float32)]
