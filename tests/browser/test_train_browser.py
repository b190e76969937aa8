"""Training in Chromium (issue #12): a bundle exported with ``train=`` takes optimizer steps in the page
(``model.trainStep``, ``fit``) on WebGPU and on the CPU path (WebAssembly and plain JavaScript), at any batch
size (5 steps of 4, 7, 1, 4 and 3 examples; ``fit`` with a last batch smaller than the others), and the weights
it ends with (``saveWeights`` → ``pyml`` ``load_weights``) equal those of the same steps in Python
(``train_on_batch`` on the same batches in the same order, a fresh optimizer of the same configuration) within
1e-4 relative; ``predict`` after training uses the new weights (it equals the Python model's ``predict``), and
``resetWeights`` gives the exported model's outputs back.

Models: an MLP (Dense, Dropout at rate 0, Dense softmax) and a small convnet with BatchNormalization (its moving
statistics are state the step updates), with SGD (momentum, nesterov), Adam and AdamW.
"""
import base64

import numpy as np
import pytest

import pyml
from tests.browser.harness import encode
from webexport import export

BACKENDS = ["webgpu", "wasm", "js"]
BATCH = 4
SIZES = [4, 7, 1, 4, 3]  # the batch of each step (the step graph takes any)
RTOL = 1e-4

OPTIMIZERS = {
    "sgd": lambda: pyml.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: pyml.optimizers.Adam(0.01),
    "adamw": lambda: pyml.optimizers.AdamW(0.01, weight_decay=0.05),
}


def mlp():
    pyml.utils.set_random_seed(1)
    return pyml.Sequential([pyml.Input(shape=(6,)), pyml.layers.Dense(8, activation="relu"),
                            pyml.layers.Dropout(0.0), pyml.layers.Dense(3, activation="softmax")])


def convnet():
    pyml.utils.set_random_seed(2)
    return pyml.Sequential([pyml.Input(shape=(6, 6, 2)), pyml.layers.Conv2D(4, 3, activation="relu"),
                            pyml.layers.BatchNormalization(), pyml.layers.MaxPooling2D(2), pyml.layers.Flatten(),
                            pyml.layers.Dense(3, activation="softmax")])


MODELS = {"mlp": mlp, "convnet": convnet}


def data(model, n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n,) + tuple(model.input_specs()[0][0][1:])).astype(np.float32)
    return x, rng.integers(0, 3, n).astype(np.int32)


def python_steps(make, optimizer, x, y, batches):
    """The model after ``train_on_batch`` on each batch of rows in ``batches``, in order."""
    model = make()
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="sparse_categorical_crossentropy")
    model.history_losses = [model.train_on_batch(x[rows], y[rows]) for rows in batches]
    return model


def load_saved(make, b64, tmp_path):
    """A fresh model of ``make`` with the page's ``saveWeights`` bytes loaded by pyml's ``load_weights``."""
    path = tmp_path / "page.weights.safetensors"
    path.write_bytes(base64.b64decode(b64))
    model = make()
    model.load_weights(str(path))
    return model


def assert_same_weights(got, want):
    for v, a, b in zip(want.weights, got.get_weights(), want.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * max(1.0, float(np.abs(b).max())), err_msg=v.name)


@pytest.fixture(scope="module")
def bundle_url(web_server):
    urls = {}

    def get(name, optimizer):
        key = f"{name}-{optimizer}"
        if key not in urls:
            export(MODELS[name](), web_server.path(f"train/{key}"), include_runtime=False,
                   train=dict(loss="sparse_categorical_crossentropy", optimizer=OPTIMIZERS[optimizer]()))
            urls[key] = web_server.url(f"train/{key}/model.json")
        return urls[key]

    return get


STEP_SCRIPT = """async ([url, backend, x, y, sizes]) => {
    const decode = ({b64, shape, dtype}) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        return { data: new ({float32: Float32Array, int32: Int32Array})[dtype](bytes.buffer), shape };
    };
    const m = await harness.runtime.loadModel(url, { backend });
    try {
        const X = decode(x), Y = decode(y), row = X.data.length / X.shape[0];
        const before = await m.predict(X.data, X.shape);
        const losses = [];
        let start = 0;
        for (const n of sizes) {
            const xs = X.data.slice(start * row, (start + n) * row), ys = Y.data.slice(start, start + n);
            losses.push(await m.trainStep({ data: xs, shape: [n, ...X.shape.slice(1)] }, ys));
            start += n;
        }
        const after = await m.predict(X.data, X.shape);
        const saved = await m.saveWeights();
        await m.resetWeights();
        const reset = await m.predict(X.data, X.shape);
        let bin = "";
        for (const b of saved) bin += String.fromCharCode(b);
        return { backend: m.info.backend, losses, saved: btoa(bin), before: Array.from(before.data),
                 after: Array.from(after.data), reset: Array.from(reset.data) };
    } finally { m.dispose(); }
}"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,optimizer", [("mlp", "sgd"), ("mlp", "adam"), ("mlp", "adamw"), ("convnet", "adam")])
def test_steps_in_the_page_equal_train_on_batch(shared_page, bundle_url, tmp_path, name, optimizer, backend):
    harness, _ = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    make = MODELS[name]
    x, y = data(make(), sum(SIZES))
    result = harness.evaluate(STEP_SCRIPT, [bundle_url(name, optimizer), backend, encode(x), encode(y), SIZES])
    assert result["backend"] == backend
    ends = np.cumsum(SIZES)
    want = python_steps(make, optimizer, x, y, [slice(end - n, end) for n, end in zip(SIZES, ends)])
    np.testing.assert_allclose(result["losses"], want.history_losses, rtol=RTOL)
    assert_same_weights(load_saved(make, result["saved"], tmp_path), want)
    shape = (len(x), 3)
    np.testing.assert_allclose(np.reshape(result["after"], shape), want.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.reshape(result["reset"], shape), np.reshape(result["before"], shape), rtol=0, atol=0)
    np.testing.assert_allclose(np.reshape(result["before"], shape), make().predict(x, verbose=0), rtol=1e-4, atol=1e-5)


FIT_SCRIPT = """async ([url, backend, x, y, batchSize, epochs]) => {
    const decode = ({b64, shape, dtype}) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        return { data: new ({float32: Float32Array, int32: Int32Array})[dtype](bytes.buffer), shape };
    };
    const m = await harness.runtime.loadModel(url, { backend });
    try {
        const X = decode(x), Y = decode(y);
        const batches = [], epochLogs = [];
        const { history } = await m.fit(X, Y.data, { epochs, batchSize, shuffle: false,
            onBatchEnd: (b, logs) => batches.push([b, logs.loss]), onEpochEnd: (e, logs) => epochLogs.push([e, logs.loss]) });
        const { loss } = await m.evaluate(X, Array.from(Y.data), { batchSize: 3 });
        const saved = await m.saveWeights();
        let bin = "";
        for (const b of saved) bin += String.fromCharCode(b);
        return { history, batches, epochLogs, evaluated: loss, saved: btoa(bin) };
    } finally { m.dispose(); }
}"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_and_evaluate_equal_pythons(shared_page, bundle_url, tmp_path, backend):
    harness, _ = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    x, y = data(mlp(), 12, seed=1)  # batches of 5, 5 and 2: the step takes any batch
    result = harness.evaluate(FIT_SCRIPT, [bundle_url("mlp", "adam"), backend, encode(x), encode(y), 5, 2])
    want = mlp()
    want.compile(optimizer=OPTIMIZERS["adam"](), loss="sparse_categorical_crossentropy")
    history = want.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(result["history"]["loss"], history["loss"], rtol=RTOL)
    assert [e for e, _ in result["epochLogs"]] == [0, 1] and [b for b, _ in result["batches"]] == [0, 1, 2] * 2
    np.testing.assert_allclose([loss for _, loss in result["epochLogs"]], history["loss"], rtol=RTOL)
    assert_same_weights(load_saved(mlp, result["saved"], tmp_path), want)
    np.testing.assert_allclose(result["evaluated"], want.evaluate(x, y, batch_size=3, verbose=0), rtol=RTOL)


ERROR_SCRIPT = """async ([url, backend, call]) => {
    const m = await harness.runtime.loadModel(url, { backend });
    try {
        await ({ step: () => m.trainStep([[0, 0, 0, 0, 0, 0]], [1]),
                 y: () => m.trainStep([[0, 0, 0, 0, 0, 0]], [[1, 2]]),
                 fit: () => m.fit([[0, 0, 0, 0, 0, 0]], [1], { batchSize: 0 }) })[call]();
        return { canTrain: m.canTrain, error: null };
    } catch (err) {
        return { canTrain: m.canTrain, error: err.message };
    } finally { m.dispose(); }
}"""


@pytest.mark.parametrize("backend", ["webgpu", "cpu"])
def test_training_calls_are_refused_naming_what_is_wrong(shared_page, bundle_url, web_server, backend):
    harness, _ = shared_page
    if backend == "webgpu":
        harness.require_webgpu()
    export(mlp(), web_server.path("train/plain"), include_runtime=False)
    plain = harness.evaluate(ERROR_SCRIPT, [web_server.url("train/plain/model.json"), backend, "step"])
    assert plain == {"canTrain": False, "error": plain["error"]} and "no training step" in plain["error"]
    wrong_y = harness.evaluate(ERROR_SCRIPT, [bundle_url("mlp", "sgd"), backend, "y"])
    assert wrong_y["canTrain"] and 'input "y"' in wrong_y["error"] and "[1,2]" in wrong_y["error"].replace(" ", "")
    bad_fit = harness.evaluate(ERROR_SCRIPT, [bundle_url("mlp", "sgd"), backend, "fit"])
    assert "batchSize must be a positive integer" in bad_fit["error"]


DROPOUT_SCRIPT = """async ([url, backend, x, y]) => {
    const m = await harness.runtime.loadModel(url, { backend });
    try {
        const losses = [];
        for (let i = 0; i < 4; i++) {
            await m.resetWeights();
            losses.push(await m.trainStep(x, y));
        }
        return losses;
    } finally { m.dispose(); }
}"""


@pytest.mark.parametrize("backend", ["webgpu", "cpu"])
def test_dropout_draws_a_fresh_mask_at_every_step(shared_page, web_server, backend):
    harness, _ = shared_page
    if backend == "webgpu":
        harness.require_webgpu()

    def make():
        pyml.utils.set_random_seed(5)
        return pyml.Sequential([pyml.Input(shape=(6,)), pyml.layers.Dense(32, activation="relu"),
                                pyml.layers.Dropout(0.5), pyml.layers.Dense(3, activation="softmax")])

    export(make(), web_server.path("train/dropout"), include_runtime=False,
           train=dict(loss="sparse_categorical_crossentropy", optimizer="sgd"))
    x, y = data(make(), BATCH, seed=2)
    losses = harness.evaluate(DROPOUT_SCRIPT, [web_server.url("train/dropout/model.json"), backend, x.tolist(),
                                               y.tolist()])
    assert all(np.isfinite(losses)) and len(set(losses)) == 4, losses  # the same weights and batch: only the masks differ
