"""The WebAssembly kernels (web/wasm/*.c) through the wasm backend in Chromium, against numpy.

The op suite exports one-node graphs whose weights are inputs, which the wasm backend leaves to the JS
kernels; here the weights are graph constants, as in a trained model, so every case runs the kernel the
exported CPU program names (checked first). Cases: matrix products at sizes that are no multiple of the
tiles (one row, one column, K = 1, K = 2000, rows past a 4-row tile, columns past an 8-column panel and
a 32-column wide tile, a batch of matrices), every kind of fused epilogue (bias, clamps, residual, per-row
operand, programs with tanh/erf/exp/log/where...) on a matmul and on a convolution, convolutions (1-3
spatial dims, strides, dilation, padding, groups, depthwise with one and two outputs per channel), pooling,
softmax and log-softmax, the recurrence (rnn_scan: every cell, masks, go_backwards, units past a vector or a panel), a model whose
ops partly have no wasm kernel (JS steps on wasm memory), and a
model run at batch sizes that change between calls (the arena re-planned, then taken from the cache).
Every case runs on both builds: relaxed SIMD (fused multiply-add; what Chromium takes) and plain SIMD128
(what a browser without relaxed SIMD takes: here the relaxed probe is made to fail). All cases of a build
run in one page; results match numpy to 1e-5 (rtol and atol)."""
import json

import numpy as np
import pytest

import pyml
from pyml.graph import trace
from pyml.ops import registry
from tests.browser.harness import Harness, open_harness_page
from tests.op_samples.conv import conv_reference, pool_reference
from tests.webexport.recurrent_reference import random_case
from tests.webexport.recurrent_reference import rnn_scan as scan_reference
from webexport import export

ops = pyml.ops
RNG = np.random.default_rng(11)
TOLERANCE = 1e-5


def constant(*shape, scale=1.0, name="layer/w"):
    return pyml.Variable((RNG.standard_normal(shape) * scale).astype(np.float32), name=name)


def normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


# Epilogues as (pyml function of the anchor's output y, numpy twin); `extra` adds a second input.
EPILOGUES = {
    "bias": (lambda y, b: y + b, lambda y, b: y + b),
    "relu": (lambda y, b: ops.relu(y + b), lambda y, b: np.maximum(y + b, 0)),
    "relu6": (lambda y, b: ops.relu6(y + b), lambda y, b: np.clip(y + b, 0, 6)),
    "leaky_relu": (lambda y, b: ops.leaky_relu(y + b), lambda y, b: np.where(y + b > 0, y + b, 0.2 * (y + b))),
    "elu": (lambda y, b: ops.elu(y + b), lambda y, b: np.where(y + b > 0, y + b, np.expm1(np.minimum(y + b, 0)))),
    "gelu_tanh": (lambda y, b: ops.gelu(y + b, approximate=True),
                  lambda y, b: 0.5 * (y + b) * (1 + np.tanh(np.sqrt(2 / np.pi) * ((y + b) + 0.044715 * (y + b) ** 3)))),
    "gelu_erf": (lambda y, b: ops.gelu(y + b, approximate=False),
                 lambda y, b: 0.5 * (y + b) * (1 + np.vectorize(__import__("math").erf)((y + b) / np.sqrt(2)))),
    "sigmoid": (lambda y, b: ops.sigmoid(y + b), lambda y, b: sigmoid(y + b)),
    "silu": (lambda y, b: ops.silu(y), lambda y, b: y * sigmoid(y)),
    "tanh_scaled": (lambda y, b: ops.tanh(y) * 3.0 - b, lambda y, b: np.tanh(y) * 3 - b),
    "softplus": (lambda y, b: ops.softplus(y * 4.0), lambda y, b: np.logaddexp(0, y * 4)),
    "sqrt_abs_neg": (lambda y, b: -ops.sqrt(ops.abs(y)) / b, lambda y, b: -np.sqrt(np.abs(y)) / b),
}


def matmul_case(m, k, n, epilogue="bias", batch_dims=()):
    w, b = constant(k, n, scale=k ** -0.5), constant(n, name="layer/b")
    fn, ref = EPILOGUES[epilogue]
    graph = trace(lambda x: fn(x @ w, b), [((None, *batch_dims, k), "float32")])
    x = normal(m, *batch_dims, k)
    return graph, [x], ref(x.astype(np.float64) @ w.numpy(), b.numpy()), "matmul"


def residual_case(row=False):
    """relu(x @ w + b + r) with r a second input (the residual, in registers), or y * s with s one value per
    row (a program load)."""
    w, b = constant(6, 10, scale=0.4), constant(10, name="layer/b")
    if row:
        graph = trace(lambda x, s: ops.relu(x @ w + b) * s, [((None, 6), "float32"), ((None, 1), "float32")])
        x, s = normal(5, 6), normal(5, 1)
        return graph, [x, s], np.maximum(x @ w.numpy() + b.numpy(), 0) * s, "matmul"
    graph = trace(lambda x, r: ops.relu(x @ w + b + r), [((None, 6), "float32"), ((None, 10), "float32")])
    x, r = normal(5, 6), normal(5, 10)
    return graph, [x, r], np.maximum(x @ w.numpy() + b.numpy() + r, 0), "matmul"


def conv_case(x_shape, w_shape, strides, padding, dilation=None, groups=1, epilogue="bias", kernel="conv"):
    rank = len(x_shape) - 2
    attrs = {"strides": tuple(strides), "padding": tuple(map(tuple, padding)),
             "dilation": tuple(dilation or [1] * rank), "groups": groups}
    w, b = constant(*w_shape, scale=0.5), constant(w_shape[-1], name="layer/b")
    fn, ref = EPILOGUES[epilogue]
    graph = trace(lambda x: fn(registry.bind("conv", x, w, **attrs), b), [((None, *x_shape[1:]), "float32")])
    x = normal(*x_shape)
    return graph, [x], ref(conv_reference(x.astype(np.float64), w.numpy().astype(np.float64), **attrs), b.numpy()), kernel


def pool_case(kind, x_shape, window, strides, padding):
    attrs = {"window": tuple(window), "strides": tuple(strides), "padding": tuple(map(tuple, padding))}
    graph = trace(lambda x: registry.bind(kind, x, **attrs), [((None, *x_shape[1:]), "float32")])
    x = normal(*x_shape)
    return graph, [x], pool_reference(kind.split("_")[0])(x, **attrs), kind


def softmax_case(n, log=False):
    graph = trace(ops.log_softmax if log else ops.softmax, [((None, 2, n), "float32")])
    x = normal(3, 2, n) * 3
    shifted = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return graph, [x], shifted - lse if log else np.exp(shifted - lse), "log_softmax" if log else "softmax"


def js_between_case():
    """Dense -> concatenate (no wasm kernel: a JS step reading and writing wasm memory) -> Dense."""
    w1, w2 = constant(5, 4, name="a/w"), constant(8, 3, name="b/w")
    graph = trace(lambda x: ops.relu(ops.concatenate([x @ w1, ops.exp(x @ w1 * 0.1)], axis=-1) @ w2),
                  [((None, 5), "float32")])
    x = normal(4, 5)
    h = x @ w1.numpy()
    return graph, [x], np.maximum(np.concatenate([h, np.exp(h * 0.1)], axis=-1) @ w2.numpy(), 0), "js"


def scan_case(cell, batch, units, masked=False, **attrs):
    """rnn_scan with its recurrent kernel (and GRU's recurrent bias) a constant, as a trained layer has them;
    xp, the initial states and the mask are inputs. 21 steps."""
    steps = 21
    inputs = random_case(cell, batch, steps, units, masked=masked, seed=units)
    u = pyml.Variable(inputs[1], name="rnn/recurrent_kernel")
    b_rec = pyml.Variable(inputs[2], name="rnn/recurrent_bias") if cell == "gru" else None
    feeds = [x for i, x in enumerate(inputs) if i != 1 and not (cell == "gru" and i == 2)]
    if cell == "gru":
        attrs.setdefault("reset_after", True)

    def fn(xp, *rest):
        states, mask = (rest[:-1], rest[-1]) if masked else (rest, None)
        return ops.rnn_scan(cell, xp, u, *states, recurrent_bias=b_rec, mask=mask, **attrs)

    graph = trace(fn, [((None, *x.shape[1:]), "float32") for x in feeds])
    full = {"activation": "tanh", "recurrent_activation": "sigmoid", "go_backwards": False, "reset_after": False,
            **attrs}
    return graph, feeds, scan_reference(*inputs, cell=cell, units=units, masked=masked, **full), "rnn_scan"


CASES = {
    "matmul-1x1x1": lambda: matmul_case(1, 1, 1),
    "matmul-1x70x65-wide-tiles": lambda: matmul_case(1, 70, 65),
    "matmul-5x3x9-row-and-panel-tails": lambda: matmul_case(5, 3, 9),
    "matmul-4x1x33-k1": lambda: matmul_case(4, 1, 33),
    "matmul-7x2000x10-large-k": lambda: matmul_case(7, 2000, 10),
    "matmul-33x64x40": lambda: matmul_case(33, 64, 40),
    "matmul-2x3x6x5-batch-of-matrices": lambda: matmul_case(2, 6, 5, batch_dims=(3,)),
    **{f"matmul-epilogue-{name}": (lambda name=name: matmul_case(5, 7, 12, name)) for name in EPILOGUES},
    "matmul-epilogue-residual": lambda: residual_case(),
    "matmul-epilogue-row-operand": lambda: residual_case(row=True),
    **{f"conv-epilogue-{name}": (lambda name=name: conv_case((2, 6, 6, 3), (3, 3, 3, 8), (1, 1), [(1, 1), (1, 1)],
                                                             epilogue=name)) for name in ("relu6", "gelu_tanh", "elu")},
    "conv2d-mnist-first-layer": lambda: conv_case((2, 28, 28, 1), (3, 3, 1, 32), (1, 1), [(0, 0), (0, 0)], epilogue="relu"),
    "conv2d-stride2-same-odd-channels": lambda: conv_case((2, 7, 7, 3), (3, 3, 3, 5), (2, 2), [(1, 1), (1, 1)]),
    "conv2d-dilation2-asymmetric-padding": lambda: conv_case((1, 8, 7, 6), (2, 3, 6, 9), (1, 1), [(1, 0), (2, 1)], (2, 2)),
    "conv2d-1x1-many-channels": lambda: conv_case((2, 3, 3, 40), (1, 1, 40, 17), (1, 1), [(0, 0), (0, 0)]),
    "conv2d-groups2-relu": lambda: conv_case((2, 5, 5, 4), (3, 3, 2, 6), (1, 1), [(1, 1), (1, 1)], groups=2, epilogue="relu"),
    "conv2d-groups3-wide-groups": lambda: conv_case((1, 4, 4, 12), (3, 3, 4, 30), (1, 1), [(1, 1), (1, 1)], groups=3),
    "depthwise-multiplier1-relu6": lambda: conv_case((2, 6, 6, 6), (3, 3, 1, 6), (1, 1), [(1, 1), (1, 1)], groups=6,
                                                     epilogue="relu6", kernel="depthwise"),
    "depthwise-multiplier2-stride2": lambda: conv_case((1, 7, 6, 3), (3, 3, 1, 6), (2, 2), [(1, 1), (0, 1)], groups=3,
                                                       kernel="depthwise"),
    "depthwise-20-channels-gelu": lambda: conv_case((1, 5, 5, 20), (3, 3, 1, 20), (1, 1), [(1, 1), (1, 1)], groups=20,
                                                    epilogue="gelu_erf", kernel="depthwise"),
    "conv1d-causal-dilated": lambda: conv_case((2, 16, 4), (3, 4, 8), (1,), [(4, 0)], (2,), epilogue="relu"),
    "conv3d-strided": lambda: conv_case((1, 4, 5, 4, 2), (2, 3, 2, 2, 3), (1, 2, 1), [(0, 1), (1, 1), (0, 0)]),
    "max_pool-3x3-stride2-padded": lambda: pool_case("max_pool", (2, 7, 7, 5), (3, 3), (2, 2), [(1, 1), (1, 1)]),
    "avg_pool-padding-not-counted": lambda: pool_case("avg_pool", (2, 7, 7, 5), (3, 3), (2, 2), [(1, 1), (1, 1)]),
    "max_pool-1d": lambda: pool_case("max_pool", (2, 9, 3), (2,), (2,), [(0, 0)]),
    "avg_pool-3d": lambda: pool_case("avg_pool", (1, 4, 4, 5, 2), (2, 2, 3), (2, 1, 2), [(0, 0), (0, 1), (1, 1)]),
    "softmax-n1": lambda: softmax_case(1),
    "softmax-n5": lambda: softmax_case(5),
    "softmax-n1000": lambda: softmax_case(1000),
    "log_softmax-n7": lambda: softmax_case(7, log=True),
    "js-steps-between-wasm-steps": js_between_case,
    "rnn_scan-lstm-batch1": lambda: scan_case("lstm", 1, 16),
    "rnn_scan-lstm-13-units-masked-backwards": lambda: scan_case("lstm", 5, 13, masked=True, go_backwards=True),
    "rnn_scan-gru-reset-after": lambda: scan_case("gru", 3, 10),
    "rnn_scan-gru-reset-before-masked": lambda: scan_case("gru", 6, 9, masked=True, reset_after=False),
    "rnn_scan-simple-relu-batch1": lambda: scan_case("simple", 1, 7, activation="relu"),
    "rnn_scan-lstm-hard-sigmoid-softsign": lambda: scan_case("lstm", 2, 12, activation="softsign",
                                                             recurrent_activation="hard_sigmoid"),
    "rnn_scan-simple-linear-masked": lambda: scan_case("simple", 4, 33, masked=True, activation="linear"),
    # more rows than a GEMM tile and an odd last one, units past a vector and past a panel of 8
    "rnn_scan-gru-rows-past-a-tile-masked": lambda: scan_case("gru", 5, 20, masked=True),
    "rnn_scan-simple-odd-batch-backwards": lambda: scan_case("simple", 3, 40, go_backwards=True),
    "rnn_scan-lstm-batch7-two-panels": lambda: scan_case("lstm", 7, 16),
}


# Reject modules holding f32x4.relaxed_madd (0xfd 0x85 0x02) so that the runtime takes the plain SIMD build.
NO_RELAXED_SIMD = """{ const validate = WebAssembly.validate;
  WebAssembly.validate = (bytes) => !new Uint8Array(bytes).some((b, i, a) => b === 0xfd && a[i + 1] === 0x85 && a[i + 2] === 2)
    && validate(bytes); }"""
BUILDS = {"relaxed": None, "simd": NO_RELAXED_SIMD}


@pytest.fixture(scope="module", params=list(BUILDS))
def session(request, browser, web_server):
    page, errors = open_harness_page(browser, web_server, timeout_ms=300_000, init_script=BUILDS[request.param])
    try:
        yield Harness(page), request.param
    finally:
        page.close()
    errors.check()


@pytest.fixture(scope="module")
def cases(web_server):
    """Export every case once: {name: (url, inputs, reference, kernel, cpu steps)}."""
    out = {}
    for name, build in CASES.items():
        graph, inputs, reference, kernel = build()
        folder = web_server.path(f"wasm-kernels/{name}")
        export(graph, folder, include_runtime=False)
        steps = json.loads((folder / "model.json").read_text())["cpu"]["steps"]
        out[name] = (web_server.url(f"wasm-kernels/{name}/model.json"), inputs, reference, kernel, steps)
    return out


@pytest.fixture(scope="module")
def results(session, cases):
    """Every case run on the wasm backend in one evaluate: {name: (outputs | error, reference, kernel, steps)}."""
    harness, build = session
    reason = harness.evaluate("async (url) => { const m = await harness.runtime.loadModel(url, { backend: 'wasm' }); "
                              "m.dispose(); return m.info.reason; }", next(iter(cases.values()))[0])
    assert reason.endswith({"relaxed": "WebAssembly relaxed SIMD", "simd": "WebAssembly SIMD"}[build]), reason
    jobs = [{"url": url, "backends": ["wasm"], "inputs": inputs} for url, inputs, *_ in cases.values()]
    return {name: (result["wasm"], *cases[name][2:]) for name, result in zip(cases, harness.run_many(jobs))}


@pytest.mark.parametrize("name", CASES)
def test_wasm_kernel_matches_numpy(results, name):
    outputs, reference, kernel, steps = results[name]
    kernels = [s["kernel"] for s in steps]
    assert kernel in kernels, f"{name}: the CPU program has no {kernel} step: {kernels}"
    if kernel != "js":
        assert "js" not in kernels, f"{name}: part of the case fell back to JS: {kernels}"
    assert not isinstance(outputs, str), f"{name}: {outputs}"
    np.testing.assert_allclose(outputs[0], reference, rtol=TOLERANCE, atol=TOLERANCE, err_msg=name)


def test_the_arena_is_laid_out_again_when_the_batch_changes(session, web_server):
    w1, w2 = constant(12, 16, name="a/w"), constant(16, 3, name="b/w")
    b1 = constant(16, name="a/b")
    graph = trace(lambda x: ops.softmax(ops.relu(x @ w1 + b1) @ w2), [((None, 12), "float32")])
    export(graph, web_server.path("wasm-kernels/batches"), include_runtime=False)
    batches = [3, 1, 40, 3, 7, 2, 1]  # more sizes than the 4 cached: some are laid out twice
    xs = [normal(b, 12) for b in batches]
    outputs, info = session[0].run_series(web_server.url("wasm-kernels/batches/model.json"), "wasm", [[x] for x in xs])
    assert info["backend"] == "wasm"
    for x, (y,) in zip(xs, outputs):
        h = np.maximum(x @ w1.numpy() + b1.numpy(), 0) @ w2.numpy()
        e = np.exp(h - h.max(axis=1, keepdims=True))
        np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=TOLERANCE, atol=TOLERANCE,
                                   err_msg=f"batch {len(x)}")


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 88.0, -90.0, 1e-30, 3.0, -3.0, 1e30, -1e30], np.float32)
# pyml functions of y (finite: x @ w) + r (r holds SPECIAL), with their numpy twins on float64
EDGE_EPILOGUES = {
    "exp": (ops.exp, np.exp), "log": (ops.log, np.log), "sqrt": (ops.sqrt, np.sqrt), "tanh": (ops.tanh, np.tanh),
    "sigmoid": (ops.sigmoid, sigmoid), "relu6": (ops.relu6, lambda v: np.minimum(6, np.maximum(0, v))),
    "erf": (ops.erf, np.vectorize(__import__("math").erf, otypes=[np.float64])),
    "reciprocal": (lambda v: 1.0 / v, lambda v: 1.0 / v),
}


@pytest.mark.parametrize("name", EDGE_EPILOGUES)
def test_epilogue_programs_follow_numpy_on_nan_and_infinities(session, web_server, name):
    harness, _ = session
    fn, ref = EDGE_EPILOGUES[name]
    w = pyml.Variable(np.full((2, len(SPECIAL)), 1e-3, np.float32), name="layer/w")  # y small and finite
    graph = trace(lambda x, r: fn(x @ w + r), [((None, 2), "float32"), ((None, len(SPECIAL)), "float32")])
    folder = web_server.path(f"wasm-kernels/edge-{name}")
    export(graph, folder, include_runtime=False)
    assert [s["kernel"] for s in json.loads((folder / "model.json").read_text())["cpu"]["steps"]] == ["matmul"]
    x, r = np.zeros((3, 2), np.float32), np.tile(SPECIAL, (3, 1))
    (y,), _ = harness.run(web_server.url(f"wasm-kernels/edge-{name}/model.json"), "wasm", [x, r])
    with np.errstate(all="ignore"):
        expected = ref(x.astype(np.float64) @ w.numpy() + r).astype(np.float32)  # x @ w is +0: -0 + +0 is +0
    np.testing.assert_allclose(y, expected, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True, err_msg=name)


def test_softmax_and_max_pool_follow_numpy_on_nan_and_infinities(session, web_server):
    harness, _ = session
    rows = np.array([[np.nan, 1, 2, 0, 5], [np.inf, 1, 2, 0, 5], [-np.inf] * 5, [1, 2, 3, -np.inf, 4]], np.float32)
    for log in (False, True):
        graph = trace(ops.log_softmax if log else ops.softmax, [((None, 5), "float32")])
        export(graph, web_server.path(f"wasm-kernels/edge-softmax-{log}"), include_runtime=False)
        (y,), _ = harness.run(web_server.url(f"wasm-kernels/edge-softmax-{log}/model.json"), "wasm", [rows])
        with np.errstate(all="ignore"):
            shifted = rows.astype(np.float64) - rows.max(axis=1, keepdims=True)
            lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        expected = (shifted - lse if log else np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(y, expected.astype(np.float32), rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True,
                                   err_msg=f"log={log}")
    x = np.array([np.nan, 1, 2, np.nan, -np.inf, -np.inf, np.inf, 3], np.float32).reshape(1, 4, 2, 1)
    graph = trace(lambda v: registry.bind("max_pool", v, window=(2, 1), strides=(2, 1), padding=((0, 0), (0, 0))),
                  [((None, 4, 2, 1), "float32")])
    export(graph, web_server.path("wasm-kernels/edge-max-pool"), include_runtime=False)
    (y,), _ = harness.run(web_server.url("wasm-kernels/edge-max-pool/model.json"), "wasm", [x])
    (js,), _ = harness.run(web_server.url("wasm-kernels/edge-max-pool/model.json"), "js", [x])
    expected = pool_reference("max")(x, window=(2, 1), strides=(2, 1), padding=((0, 0), (0, 0))).astype(np.float32)
    np.testing.assert_array_equal(y, expected)  # a NaN anywhere in a window wins, as numpy's max
    np.testing.assert_array_equal(js, expected)


def test_a_batch_past_the_wasm_memory_limit_fails_naming_the_batch(session, web_server):
    harness, _ = session
    w = constant(1, 65536, name="wide/w")
    graph = trace(lambda x: ops.relu(x @ w), [((None, 1), "float32")])
    export(graph, web_server.path("wasm-kernels/huge-batch"), include_runtime=False)
    message = harness.evaluate("""async (url) => {
        const m = await harness.runtime.loadModel(url, { backend: "wasm" });
        try {
            await m.predict(new Float32Array(2), [2, 1]);  // fine
            await m.predict(new Float32Array(20000), [20000, 1]);  // 5 GiB of output: past wasm32's 4 GiB
            return null;
        } catch (e) { return e.message; } finally { m.dispose(); }
    }""", web_server.url("wasm-kernels/huge-batch/model.json"))
    assert message is not None and "for batch 20000" in message and "MiB of WebAssembly memory" in message, message


def test_the_program_op_tables_agree_in_c_js_and_python(session):
    """An op's opcode is its index: the C enum, web/src/cpuplan.js and webexport/validate_cpu.py list the same
    names in the same order."""
    import re

    from tests.browser.harness import ROOT
    from webexport.validate_cpu import PROGRAM_OPS

    header = (ROOT / "web" / "wasm" / "epilogue.h").read_text()
    enum = re.search(r"enum \{(.*?)\};", header, re.S).group(1)
    in_c = [name.strip()[len("OP_"):].lower() for name in enum.split(",") if name.strip()]
    in_js = session[0].evaluate('import("/runtime/cpuplan.js").then((m) => [...m.PROGRAM_OPS])')
    assert in_c == in_js == list(PROGRAM_OPS)
