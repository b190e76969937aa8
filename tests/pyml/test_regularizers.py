"""Regularizers against NumPy formulas; layer arguments, layer.losses / model.losses (Keras 3 semantics), the
penalty in fit (a hand-computed SGD step, compiled step == eager step), configs and save/load."""
import numpy as np
import pytest

import pyml
from pyml import layers, regularizers


def orthogonal_numpy(x, factor, mode):
    v = x if mode == "rows" else x.T
    u = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-7)
    p = np.abs(u @ u.T)
    n = len(v)
    return factor * 0.5 * (p.sum() - np.trace(p)) / (n * (n - 1) / 2)


def test_penalties_match_numpy():
    x = np.random.default_rng(0).standard_normal((4, 3))
    t = pyml.Tensor(x.astype("float32"))
    cases = [(regularizers.L1(0.3), 0.3 * np.abs(x).sum()), (regularizers.L2(0.2), 0.2 * (x ** 2).sum()),
             (regularizers.L1L2(0.1, 0.4), 0.1 * np.abs(x).sum() + 0.4 * (x ** 2).sum()),
             (regularizers.L1L2(), 0.0), (regularizers.L1(), 0.01 * np.abs(x).sum()),
             (regularizers.L2(), 0.01 * (x ** 2).sum()),
             (regularizers.OrthogonalRegularizer(0.5), orthogonal_numpy(x, 0.5, "rows")),
             (regularizers.OrthogonalRegularizer(0.5, mode="columns"), orthogonal_numpy(x, 0.5, "columns"))]
    for regularizer, expected in cases:
        assert float(regularizer(t)) == pytest.approx(expected, rel=1e-5, abs=1e-7), repr(regularizer)


def test_penalty_gradients_match_central_differences():
    x = np.random.default_rng(1).standard_normal((3, 4))
    v = np.random.default_rng(2).standard_normal(x.shape)
    for regularizer in (regularizers.L1L2(0.1, 0.4), regularizers.OrthogonalRegularizer(0.5, "columns")):
        t = pyml.Tensor(x, requires_grad=True)
        (grad,) = pyml.autodiff.grad([regularizer(t)], [t])
        e = 1e-6
        numeric = (float(regularizer(pyml.Tensor(x + e * v))) - float(regularizer(pyml.Tensor(x - e * v)))) / (2 * e)
        assert float((grad.numpy() * v).sum()) == pytest.approx(numeric, rel=1e-5)


def test_get_serialize_and_bad_arguments():
    assert regularizers.get(None) is None
    assert isinstance(regularizers.get("l1"), regularizers.L1) and regularizers.get("l2").l2 == 0.01
    l1_l2 = regularizers.get("l1_l2")
    assert (type(l1_l2), l1_l2.l1, l1_l2.l2) == (regularizers.L1L2, 0.01, 0.01)
    assert isinstance(regularizers.get("OrthogonalRegularizer"), regularizers.OrthogonalRegularizer)
    assert regularizers.get(regularizers.L1).get_config() == {"l1": 0.01}  # a class: its defaults
    for reg in (regularizers.L1(0.5), regularizers.L1L2(0.1, 0.2), regularizers.OrthogonalRegularizer(0.3, "columns")):
        restored = regularizers.get(regularizers.serialize(reg))
        assert type(restored) is type(reg) and restored.get_config() == reg.get_config()
    with pytest.raises(ValueError, match=r"known ones are .*l1, l1_l2.*l2.*Received: 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"non-negative float. Received: l2=-1"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match=r'mode "rows" or "columns". Received: mode=\'diagonal\''):
        regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"2-D weights .*Received: a weight of shape \(2, 2, 2\)"):
        regularizers.OrthogonalRegularizer()(pyml.Tensor(np.ones((2, 2, 2), "float32")))
    with pytest.raises(ValueError, match="Unknown regularizer: .*Received: 'l3'"):
        layers.Dense(2, kernel_regularizer="l3")


# ---- every layer that takes regularizers: the penalty of each weight in layer.losses --------------------------
LAYERS = {
    "Dense": (lambda **kw: layers.Dense(3, **kw), (2, 4), ["kernel", "bias"]),
    "Conv1D": (lambda **kw: layers.Conv1D(3, 2, **kw), (2, 5, 2), ["kernel", "bias"]),
    "Conv2D": (lambda **kw: layers.Conv2D(3, 2, **kw), (2, 4, 4, 2), ["kernel", "bias"]),
    "Conv2DTranspose": (lambda **kw: layers.Conv2DTranspose(3, 2, **kw), (2, 3, 3, 2), ["kernel", "bias"]),
    "DepthwiseConv2D": (lambda **kw: layers.DepthwiseConv2D(2, **kw), (2, 4, 4, 2), ["depthwise", "bias"]),
    "Embedding": (lambda **kw: layers.Embedding(6, 3, **kw), None, ["embeddings"]),
    "SimpleRNN": (lambda **kw: layers.SimpleRNN(3, **kw), (2, 4, 2), ["kernel", "recurrent", "bias"]),
    "LSTM": (lambda **kw: layers.LSTM(3, **kw), (2, 4, 2), ["kernel", "recurrent", "bias"]),
    "GRU": (lambda **kw: layers.GRU(3, **kw), (2, 4, 2), ["kernel", "recurrent", "bias"]),
    "LSTMCell": (lambda **kw: layers.RNN(layers.LSTMCell(3, **kw)), (2, 4, 2), ["kernel", "recurrent", "bias"]),
    "BatchNormalization": (lambda **kw: layers.BatchNormalization(**kw), (4, 3), ["beta", "gamma"]),
    "LayerNormalization": (lambda **kw: layers.LayerNormalization(**kw), (4, 3), ["beta", "gamma"]),
    "GroupNormalization": (lambda **kw: layers.GroupNormalization(2, **kw), (4, 4), ["beta", "gamma"]),
    "PReLU": (lambda **kw: layers.PReLU(alpha_initializer="ones", **kw), (2, 3), ["alpha"]),
    "SeparableConv2D": (lambda **kw: layers.SeparableConv2D(3, 2, **kw), (2, 4, 4, 2),
                        ["depthwise", "pointwise", "bias"]),
}
WEIGHT_NAMES = {"depthwise": "kernel", "recurrent": "recurrent_kernel"}  # weight names where they differ
SEPARABLE_NAMES = {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel"}


def _inputs(shape):
    if shape is None:
        return np.array([[1, 2, 5], [0, 3, 3]])
    return np.random.default_rng(0).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("name", LAYERS)
def test_layer_weight_penalties_in_losses(name):
    make, shape, weights = LAYERS[name]
    factors = {w: 0.1 * (k + 1) for k, w in enumerate(weights)}
    layer = make(**{f"{w}_regularizer": regularizers.L2(f) for w, f in factors.items()})
    layer(_inputs(shape))
    by_name = {v.name.split("/")[-1]: v for v in layer.weights}
    names = SEPARABLE_NAMES if name.startswith("Separable") else WEIGHT_NAMES
    expected = [f * (by_name[names.get(w, w)].numpy().astype("float64") ** 2).sum() for w, f in factors.items()]
    assert sorted(float(p) for p in layer.losses) == pytest.approx(sorted(expected), rel=1e-5)
    # penalties follow the weights: they are computed when asked, from the current values
    for v in layer.trainable_weights:
        v.assign(v.numpy() * 2)
    assert sum(float(p) for p in layer.losses) == pytest.approx(4 * sum(expected), rel=1e-5)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_config_round_trip_keeps_regularizers_and_constraints(name):
    make, shape, weights = LAYERS[name]
    kwargs = {f"{w}_regularizer": regularizers.L1L2(0.01, 0.02) for w in weights}
    kwargs.update({f"{w}_constraint": pyml.constraints.MaxNorm(1.5) for w in weights})
    layer = make(activity_regularizer="l2", **kwargs)
    config = pyml.layers.serialize(layer)
    restored = pyml.layers.deserialize(config)
    assert pyml.layers.serialize(restored) == config
    inner = restored.cell if hasattr(restored, "cell") and name == "LSTMCell" else restored
    for w in weights:
        if name == "DepthwiseConv2D":
            w = "kernel"  # pyml keeps DepthwiseConv2D's kernel options as kernel_*
        assert getattr(inner, f"{w}_regularizer").get_config() == {"l1": 0.01, "l2": 0.02}
        assert getattr(inner, f"{w}_constraint").get_config() == {"max_value": 1.5, "axis": 0}
    assert inner.activity_regularizer.get_config() == {"l2": 0.01}


def test_keras_config_keys():
    # Keras writes every regularizer/constraint key, None when unset; DepthwiseConv2D names its kernel's "depthwise"
    config = layers.Dense(2).get_config()
    assert {k: config[k] for k in config if k.endswith(("_regularizer", "_constraint"))} == {
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    depthwise = layers.DepthwiseConv2D(2, depthwise_regularizer="l1").get_config()
    assert depthwise["depthwise_regularizer"] == {"class_name": "L1", "config": {"l1": 0.01}}
    assert "kernel_regularizer" not in depthwise and "activity_regularizer" not in depthwise


def test_activity_regularizer_is_divided_by_the_batch_and_cleared_each_call():
    layer = layers.Dense(2, kernel_initializer="ones", activity_regularizer=regularizers.L1(0.1))
    x = np.arange(6, dtype="float32").reshape(3, 2)
    out = layer(x).numpy()
    assert [float(p) for p in layer.losses] == pytest.approx([0.1 * np.abs(out).sum() / 3])
    layer(x[:1])
    assert len(layer.losses) == 1  # a new call replaces the losses of the previous one
    assert float(layer.losses[0]) == pytest.approx(0.1 * np.abs(layer(x[:1]).numpy()).sum())


def test_activity_regularization_layer():
    layer = layers.ActivityRegularization(l1=0.1, l2=0.2)
    x = np.array([[1.0, -2.0], [3.0, 0.5]], "float32")
    np.testing.assert_array_equal(layer(x).numpy(), x)
    assert float(layer.losses[0]) == pytest.approx((0.1 * np.abs(x).sum() + 0.2 * (x ** 2).sum()) / 2)
    config = layer.get_config()
    assert config["l1"] == 0.1 and config["l2"] == 0.2 and "activity_regularizer" not in config
    assert layers.ActivityRegularization.from_config(config).activity_regularizer.get_config() == {"l1": 0.1, "l2": 0.2}


def regularized_model(trainable=True):
    model = pyml.Sequential([pyml.Input(shape=(3,)),
                             layers.Dense(4, activation="tanh", kernel_regularizer=regularizers.L2(0.1),
                                          bias_regularizer=regularizers.L1(0.05), activity_regularizer="l2"),
                             layers.ActivityRegularization(l1=0.01),
                             layers.Dense(2, kernel_regularizer=regularizers.L1L2(0.02, 0.03), trainable=trainable)])
    return model


def test_model_losses_lists_activity_then_weight_penalties():
    pyml.set_random_seed(0)
    model = regularized_model()
    assert len(model.losses) == 3  # before any call: the three weight penalties only
    x = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    model(x)
    first, _, last = model.layers
    hidden = np.tanh(x @ first.kernel.numpy() + first.bias.numpy())
    k1, b1, k2 = first.kernel.numpy(), first.bias.numpy(), last.kernel.numpy()
    expected = [0.01 * (hidden ** 2).sum() / 5, 0.01 * np.abs(hidden).sum() / 5, 0.1 * (k1 ** 2).sum(),
                0.05 * np.abs(b1).sum(), 0.02 * np.abs(k2).sum() + 0.03 * (k2 ** 2).sum()]
    assert [float(p) for p in model.losses] == pytest.approx(expected, rel=1e-5)
    last.trainable = False  # Keras: only trainable weights are penalised
    assert len(model.losses) == 4


def test_dense_l2_one_sgd_step_matches_hand_computation():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 3)).astype("float32"), rng.standard_normal((6, 2)).astype("float32")
    for eager in (True, False):
        pyml.set_random_seed(0)
        model = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(2, kernel_regularizer=regularizers.L2(0.3))])
        w0, b0 = (v.numpy().astype("float64") for v in model.weights)
        model.compile(optimizer=pyml.optimizers.SGD(0.1), loss="mse", run_eagerly=eager,
                      jit_compile=None if eager else True)
        loss = model.train_on_batch(x, y)
        error = x @ w0 + b0 - y  # d mean((xW + b - y)²) / dW = 2 xᵀ error / (batch · units)
        grad_w = 2 * x.T @ error / error.size + 2 * 0.3 * w0
        grad_b = 2 * error.sum(0) / error.size
        np.testing.assert_allclose(model.weights[0].numpy(), w0 - 0.1 * grad_w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.weights[1].numpy(), b0 - 0.1 * grad_b, rtol=1e-5, atol=1e-6)
        assert loss == pytest.approx((error ** 2).mean() + 0.3 * (w0 ** 2).sum(), rel=1e-5)  # the loss includes it


def _fit(eager, epochs=3):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((40, 3)).astype("float32"), rng.standard_normal((40, 2)).astype("float32")
    pyml.set_random_seed(0)
    model = regularized_model()
    model.compile(optimizer=pyml.optimizers.Adam(0.05), loss="mse", run_eagerly=eager,
                  jit_compile=None if eager else True)
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model, history, (x, y)


def test_fit_compiled_matches_eager_with_penalties_recomputed_each_step():
    # a penalty frozen at trace time would give the compiled step different gradients from the second step on
    eager, eager_history, _ = _fit(True)
    compiled, compiled_history, (x, y) = _fit(False)
    assert compiled._compiled_step
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2e-5, atol=1e-6, err_msg=a.name)
    np.testing.assert_allclose(compiled_history.history["loss"], eager_history.history["loss"], rtol=2e-5)
    # the penalties after training follow the trained weights, and evaluate's loss includes them (Keras 3)
    with pyml.autodiff.no_grad():
        predictions = compiled(x)
        penalty = sum(float(p) for p in compiled.losses)
    mse = float(((predictions.numpy() - y) ** 2).mean())
    assert compiled.evaluate(x, y, batch_size=40, verbose=0) == pytest.approx(mse + penalty, rel=1e-5)
    assert all(not p.is_symbolic for p in compiled.losses)  # no trace values left behind


def test_penalty_only_training_decays_weights_geometrically():
    # with a loss whose gradient is zero, SGD on an L2 penalty gives w_k = w_0 (1 - 2 lr l2)^k, step after step
    for eager in (True, False):
        pyml.set_random_seed(0)
        model = pyml.Sequential([pyml.Input(shape=(2,)),
                                 layers.Dense(2, use_bias=False, kernel_regularizer=regularizers.L2(0.5))])
        w0 = model.weights[0].numpy()
        model.compile(optimizer=pyml.optimizers.SGD(0.1), loss=lambda y_true, y_pred: pyml.ops.sum(y_pred * 0.0, -1),
                      run_eagerly=eager)
        model.fit(np.ones((12, 2), "float32"), np.zeros((12, 2), "float32"), batch_size=4, epochs=1, verbose=0)
        np.testing.assert_allclose(model.weights[0].numpy(), w0 * 0.9 ** 3, rtol=1e-5)


def test_save_and_load_keep_regularizers(tmp_path):
    model, _, (x, y) = _fit(True, epochs=1)
    model.save(tmp_path / "m.pyml")
    restored = pyml.load_model(tmp_path / "m.pyml")
    assert restored.layers[0].kernel_regularizer.get_config() == {"l2": 0.1}
    assert restored.layers[0].activity_regularizer.get_config() == {"l2": 0.01}
    assert restored.layers[1].get_config()["l1"] == 0.01
    model(x), restored(x)
    assert [float(p) for p in restored.losses] == pytest.approx([float(p) for p in model.losses], rel=1e-6)
    assert restored.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


class SparseOutput(layers.Layer):
    """A user layer that adds a penalty with add_loss (Keras's documented use)."""

    def call(self, inputs):
        self.add_loss(pyml.ops.multiply(pyml.ops.mean(pyml.ops.abs(inputs)), 0.5))
        return inputs


def test_add_loss_trains_compiled_as_eager():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((24, 3)).astype("float32"), rng.standard_normal((24, 2)).astype("float32")
    results = []
    for eager in (True, False):
        pyml.set_random_seed(0)
        model = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(4), SparseOutput(), layers.Dense(2)])
        model.compile(optimizer=pyml.optimizers.SGD(0.1), loss="mse", run_eagerly=eager,
                      jit_compile=None if eager else True)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results.append((model.get_weights(), history.history["loss"]))
        k1, b1, k2, b2 = model.get_weights()
        hidden = x @ k1 + b1
        expected = (((hidden @ k2 + b2) - y) ** 2).mean() + 0.5 * np.abs(hidden).mean()
        assert model.evaluate(x, y, batch_size=24, verbose=0) == pytest.approx(expected, rel=1e-5)
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=2e-5)
    with pytest.raises(ValueError, match=r"add_loss\(\) takes tensors computed in call\(\). Received: 0.5"):
        layers.Dense(2).add_loss(0.5)


def test_multi_head_attention_penalises_its_four_projections():
    layer = layers.MultiHeadAttention(2, 3, kernel_regularizer=regularizers.L2(0.1),
                                      bias_regularizer=regularizers.L1(0.2), kernel_constraint="non_neg")
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype("float32")
    layer(x, x)
    kernels = [v.numpy() for v in layer.weights if v.name.endswith("kernel")]
    biases = [v.numpy() for v in layer.weights if v.name.endswith("bias")]
    assert len(kernels) == len(biases) == 4 and len(layer.losses) == 8
    expected = sum(0.1 * (k ** 2).sum() for k in kernels) + sum(0.2 * np.abs(b).sum() for b in biases)
    assert sum(float(p) for p in layer.losses) == pytest.approx(expected, rel=1e-5)
    assert all(isinstance(v.constraint, pyml.constraints.NonNeg) for v in layer.weights if v.name.endswith("kernel"))
    restored = layers.MultiHeadAttention.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config() and restored.kernel_regularizer.get_config() == {"l2": 0.1}
