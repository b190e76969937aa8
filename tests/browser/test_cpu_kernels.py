"""The JS CPU backend (web/src/cpu.js, web/src/cpu/*.js) on the corners the op samples leave out: NaN and
infinities, int32 wrap-around, empty and 0-d values, out-of-range indices. Each kernel is called directly
in the page and compared with eager pyml (numpy semantics); and results never share memory with the
model's weights or the caller's inputs."""
import numpy as np

from tests.webexport.helpers import eager

f32 = lambda *v: np.array(v, np.float32)  # noqa: E731
i32 = lambda *v: np.array(v, np.int32)  # noqa: E731

# (op, inputs, attrs): compared with eager pyml, NaN equal to NaN
CASES = [
    ("pow", [f32(-2, -2, 0, 1, -1, -1, np.nan, 2), f32(3, 0.5, 0, np.nan, np.inf, -np.inf, 0, -np.inf)], {}),
    ("sign", [f32(-2, 0, 3, np.nan)], {}),
    ("maximum", [f32(1, np.nan, 2), f32(np.nan, 2, 1)], {}),
    ("minimum", [f32(1, np.nan, 2), f32(np.nan, 2, 1)], {}),
    ("equal", [f32(np.nan, 1), f32(np.nan, 1)], {}),
    ("not_equal", [f32(np.nan, 1), f32(np.nan, 1)], {}),
    ("cast", [f32(1.7, -1.7, 0.0, np.nan)], {"dtype": "bool"}),
    ("cast", [f32(1.7, -1.7, -0.5)], {"dtype": "int32"}),
    ("cast", [i32(16777217, -3)], {"dtype": "float32"}),
    ("neg", [i32(-2**31, 5)], {}),
    ("abs", [i32(-2**31, -5)], {}),
    ("add", [i32(2**31 - 1, -2**31), i32(1, -1)], {}),
    ("mul", [i32(2**30, 3, -2**31), i32(4, 5, -1)], {}),
    ("sum", [i32(2**31 - 1, 1, 5)], {"axes": (0,), "keepdims": False}),
    ("sum", [np.zeros((0, 3), np.float32)], {"axes": (0,), "keepdims": False}),
    ("sum", [np.float32(5.0)], {"axes": (), "keepdims": False}),
    ("max", [f32(1, np.nan, 3)], {"axes": (0,), "keepdims": False}),
    ("max", [np.array([True, False])], {"axes": (0,), "keepdims": False}),
    ("argmax", [f32(1, np.nan, 3, np.nan)], {"axis": 0, "keepdims": False}),
    ("take", [np.arange(6, dtype=np.float32).reshape(2, 3), i32(-1, 0, -3)], {"axis": 1}),
    ("take", [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(2, np.int32)], {"axis": 1}),
    ("one_hot", [i32(0, 2, -1, 5)], {"depth": 3, "dtype": "float32"}),
    ("pad", [i32(1, 2)], {"pad_width": ((1, 1),), "value": -1.5}),
    ("pad", [np.zeros((2, 0), np.float32)], {"pad_width": ((1, 0), (1, 1)), "value": 2.0}),
    ("slice", [np.arange(10, dtype=np.float32)], {"start": (8,), "stop": (1,), "step": (-3,)}),
    # a contiguous last axis is copied in runs (blocks from 16 elements): runs of 20 and of 3, rows skipped
    ("slice", [np.arange(3 * 4 * 40, dtype=np.float32).reshape(3, 4, 40)], {"start": (0, 1, 20), "stop": (3, 4, 40),
                                                                             "step": (2, 1, 1)}),
    ("slice", [np.arange(60, dtype=np.int32).reshape(3, 20)], {"start": (1, 2), "stop": (3, 5), "step": (1, 1)}),
    ("slice", [np.arange(60).reshape(3, 20) % 3 == 0], {"start": (0, 0), "stop": (3, 17), "step": (1, 1)}),
    ("slice", [np.arange(60, dtype=np.float32).reshape(3, 20)], {"start": (0, 19), "stop": (3, 0), "step": (1, -2)}),
    ("broadcast_to", [np.arange(18, dtype=np.float32).reshape(1, 18)], {"shape": (3, 18)}),
    ("broadcast_to", [np.arange(3, dtype=np.int32).reshape(3, 1)], {"shape": (3, 17)}),
    ("transpose", [np.arange(2 * 3 * 17, dtype=np.float32).reshape(2, 3, 17)], {"perm": (1, 0, 2)}),
    ("concatenate", [np.zeros((2, 0), np.float32), np.ones((2, 1), np.float32)], {"axis": 1}),
    ("matmul", [np.ones((0, 3), np.float32), np.ones((3, 2), np.float32)], {}),
    # a training step's weight gradient xᵀ @ dy, a read transposed (pyml/graph/merge.py), 2-D and batched (exact sums)
    ("matmul", [np.arange(15, dtype=np.float32).reshape(5, 3) - 4, np.arange(20, dtype=np.float32).reshape(5, 4) - 9],
     {"transpose_a": True}),
    ("matmul", [np.arange(30, dtype=np.float32).reshape(2, 5, 3) - 7, np.arange(20, dtype=np.float32).reshape(5, 4)],
     {"transpose_a": True}),
    # a NaN anywhere in a window: max_pool gives NaN and the gradient goes to the first NaN (numpy's argmax)
    ("max_pool", [f32(1, np.nan, 2, 3, np.nan, 0).reshape(1, 6, 1)], {"window": (2,), "strides": (2,), "padding": ((0, 0),)}),
    ("max_pool_grad", [f32(1, np.nan, np.nan, 3, 2, np.nan).reshape(1, 6, 1), f32(5, 6, 7).reshape(1, 3, 1)],
     {"window": (2,), "strides": (2,), "padding": ((0, 0),)}),
]


def _encode(x):
    x = np.asarray(x)
    return {"data": [v if np.isfinite(v) else str(v) for v in x.reshape(-1).astype(np.float64).tolist()],
            "shape": list(x.shape), "dtype": "bool" if x.dtype == bool else str(x.dtype)}


def _jsonable(attrs):
    return {k: [list(p) if isinstance(p, tuple) else p for p in v] if isinstance(v, tuple) else v for k, v in attrs.items()}


def test_cpu_kernels_follow_numpy_on_edge_values(page):
    references = [eager(op, inputs, attrs) for op, inputs, attrs in CASES]
    jobs = [{"op": op, "inputs": [_encode(x) for x in inputs], "attrs": _jsonable(attrs),
             "out": {"shape": list(ref.shape), "dtype": "bool" if ref.dtype == bool else str(ref.dtype)}}
            for (op, inputs, attrs), ref in zip(CASES, references)]
    results = page.evaluate("""async (jobs) => {
        const { loadKernels } = await import("/runtime/cpu.js");
        const kernels = await loadKernels();
        const TYPES = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };
        const number = (v) => (typeof v === "string" ? Number(v.replace("inf", "Infinity")) : v);
        return jobs.map(({ op, inputs, attrs, out }) => {
            const args = inputs.map((x) => ({ data: TYPES[x.dtype].from(x.data, number), shape: x.shape, dtype: x.dtype }));
            return Array.from(kernels[op](args, attrs, out), (v) => (Number.isFinite(v) ? v : String(v)));
        });
    }""", jobs)
    problems = []
    for (op, inputs, attrs), ref, got in zip(CASES, references, results):
        got = np.array([float(v.replace("Infinity", "inf")) if isinstance(v, str) else v for v in got]).reshape(ref.shape)
        if not np.array_equal(got, ref.astype(np.float64), equal_nan=True):
            problems.append(f"{op}{[np.asarray(x).reshape(-1).tolist() for x in inputs]} {attrs}: JS {got.tolist()}, "
                            f"numpy {ref.tolist()}")
    assert not problems, "\n".join(problems)


def test_outputs_never_share_memory_with_weights_or_inputs(page):
    """A caller editing a result in place must not change the model's weights, its own input array, or another
    output (the same value listed twice)."""
    result = page.evaluate("""async () => {
        const { loadKernels, runGraph } = await import("/runtime/cpu.js");
        await loadKernels(["neg"]);
        const graph = { inputs: ["x"], outputs: ["c", "x", "v", "v"], nodes: [
            { name: "x", op: "placeholder", inputs: [], shape: [2], dtype: "float32" },
            { name: "c", op: "constant", inputs: [], shape: [2], dtype: "float32" },
            { name: "v", op: "call", target: "neg", inputs: ["x"], attrs: {}, shape: [2], dtype: "float32" }] };
        const weights = { c: { data: new Float32Array([1, 2]), shape: [2], dtype: "float32" } };
        const x = { data: new Float32Array([3, 4]), shape: [2], dtype: "float32" };
        const [c, y, v, w] = runGraph(graph, weights, [x]);
        c.data[0] = y.data[0] = v.data[0] = 100;
        const [again] = runGraph(graph, weights, [x]);
        return { weight: Array.from(weights.c.data), input: Array.from(x.data), again: Array.from(again.data),
                 second: Array.from(w.data) };
    }""")
    assert result == {"weight": [1, 2], "input": [3, 4], "again": [1, 2], "second": [-3, -4]}
