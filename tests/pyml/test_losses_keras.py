"""Every Keras 3 loss against a NumPy formula written here from Keras' documented math: per-sample values for
several shapes, each reduction with and without sample_weight and masks, gradients by central differences,
names, configs, and fit compiled vs eager."""
import numpy as np
import pytest

import pyml
from pyml import layers, losses

EPS = 1e-7
rng = np.random.default_rng(7)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _smoothed(t, s, k):
    return t * (1 - s) + s / k


def _signed(t):
    return 2 * t - 1 if np.isin(t, (0, 1)).all() else t


def _bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPS)


def ref_bfce(t, p, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    t = _smoothed(t, label_smoothing, 2)
    p = _sigmoid(p) if from_logits else p
    p_t = t * p + (1 - t) * (1 - p)
    out = (1 - p_t) ** gamma * _bce(t, p)
    if apply_class_balancing:
        out = (t * alpha + (1 - t) * (1 - alpha)) * out
    return out.mean(-1)


def ref_cfce(t, p, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0):
    t = _smoothed(t, label_smoothing, t.shape[-1])
    p = _softmax(p) if from_logits else p
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return (np.asarray(alpha) * (1 - p) ** gamma * -t * np.log(p)).sum(-1)


def ref_bce(t, p, from_logits=False, label_smoothing=0.0):
    t = _smoothed(t, label_smoothing, 2)
    return _bce(t, _sigmoid(p) if from_logits else p).mean(-1)


def ref_cce(t, p, from_logits=False, label_smoothing=0.0):
    t = _smoothed(t, label_smoothing, t.shape[-1])
    p = _softmax(p) if from_logits else np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(-1)


def ref_huber(t, p, delta=1.0):
    e = np.abs(p - t)
    return np.where(e <= delta, 0.5 * e ** 2, delta * e - 0.5 * delta ** 2).mean(-1)


def ref_kld(t, p):
    t, p = np.clip(t, EPS, 1), np.clip(p, EPS, 1)
    return (t * np.log(t / p)).sum(-1)


# data kinds: how y_true / y_pred are drawn for a loss
def draw(kind, shape, rng=rng):
    if kind == "real":  # targets away from 0 (MAPE divides by them)
        return rng.uniform(0.5, 2, shape) * rng.choice([-1, 1], shape), rng.standard_normal(shape)
    if kind == "positive":  # counts and rates, logs of 1 + y
        return rng.integers(0, 5, shape).astype(float), rng.uniform(0.2, 3, shape)
    if kind == "binary":  # 0/1 targets, probabilities
        return rng.integers(0, 2, shape).astype(float), rng.uniform(0.05, 0.95, shape)
    if kind == "logits":
        return rng.integers(0, 2, shape).astype(float), rng.standard_normal(shape) * 2
    if kind == "onehot":  # one-hot targets, probabilities (unnormalised on purpose: losses renormalise)
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])], rng.uniform(0.05, 1, shape)
    if kind == "onehot-logits":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])], rng.standard_normal(shape) * 2
    if kind == "distribution":
        return _softmax(rng.standard_normal(shape)), _softmax(rng.standard_normal(shape))
    if kind == "signed":  # hinge targets already in {-1, 1}
        return rng.choice([-1.0, 1.0], shape), rng.standard_normal(shape)
    raise ValueError(kind)


# (class, function, constructor kwargs, NumPy reference of the per-sample values, data kind)
CASES = {
    "mse": (losses.MeanSquaredError, losses.mean_squared_error, {}, lambda t, p: ((t - p) ** 2).mean(-1), "real"),
    "mae": (losses.MeanAbsoluteError, losses.mean_absolute_error, {}, lambda t, p: np.abs(t - p).mean(-1), "real"),
    "mape": (losses.MeanAbsolutePercentageError, losses.mean_absolute_percentage_error, {},
             lambda t, p: 100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1), "real"),
    "msle": (losses.MeanSquaredLogarithmicError, losses.mean_squared_logarithmic_error, {},
             lambda t, p: ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2).mean(-1), "positive"),
    "cosine": (losses.CosineSimilarity, losses.cosine_similarity, {}, lambda t, p: -(_unit(t) * _unit(p)).sum(-1),
               "real"),
    "huber": (losses.Huber, losses.huber, {}, ref_huber, "real"),
    "huber-delta": (losses.Huber, losses.huber, {"delta": 0.4}, ref_huber, "real"),
    "log_cosh": (losses.LogCosh, losses.log_cosh, {}, lambda t, p: np.log(np.cosh(p - t)).mean(-1), "real"),
    "kld": (losses.KLDivergence, losses.kl_divergence, {}, ref_kld, "distribution"),
    "poisson": (losses.Poisson, losses.poisson, {}, lambda t, p: (p - t * np.log(p + EPS)).mean(-1), "positive"),
    "hinge": (losses.Hinge, losses.hinge, {}, lambda t, p: np.maximum(1 - _signed(t) * p, 0).mean(-1), "binary"),
    "hinge-signed": (losses.Hinge, losses.hinge, {}, lambda t, p: np.maximum(1 - t * p, 0).mean(-1), "signed"),
    "squared_hinge": (losses.SquaredHinge, losses.squared_hinge, {},
                      lambda t, p: (np.maximum(1 - _signed(t) * p, 0) ** 2).mean(-1), "binary"),
    "categorical_hinge": (losses.CategoricalHinge, losses.categorical_hinge, {},
                          lambda t, p: np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0), "onehot-logits"),
    "bce": (losses.BinaryCrossentropy, losses.binary_crossentropy, {}, ref_bce, "binary"),
    "bce-logits-smoothing": (losses.BinaryCrossentropy, losses.binary_crossentropy,
                             {"from_logits": True, "label_smoothing": 0.2}, ref_bce, "logits"),
    "cce-smoothing": (losses.CategoricalCrossentropy, losses.categorical_crossentropy, {"label_smoothing": 0.1},
                      ref_cce, "onehot"),
    "bfce": (losses.BinaryFocalCrossentropy, losses.binary_focal_crossentropy, {}, ref_bfce, "binary"),
    "bfce-balanced-logits": (losses.BinaryFocalCrossentropy, losses.binary_focal_crossentropy,
                             {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5, "from_logits": True,
                              "label_smoothing": 0.1}, ref_bfce, "logits"),
    "cfce": (losses.CategoricalFocalCrossentropy, losses.categorical_focal_crossentropy, {}, ref_cfce, "onehot"),
    "cfce-logits-smoothing": (losses.CategoricalFocalCrossentropy, losses.categorical_focal_crossentropy,
                              {"alpha": 0.5, "gamma": 3.0, "from_logits": True, "label_smoothing": 0.2}, ref_cfce,
                              "onehot-logits"),
    "cfce-alpha-per-class": (losses.CategoricalFocalCrossentropy, losses.categorical_focal_crossentropy,
                             {"alpha": [0.2, 0.3, 0.5]}, ref_cfce, "onehot"),
}
SHAPES = [(5, 3), (4, 2, 3), (6, 1)]


def _case_shapes(name):
    kind = CASES[name][4]
    return [s for s in SHAPES if not (kind.startswith("onehot") or name == "cfce-alpha-per-class") or s[-1] == 3]


def reduce_numpy(values, weights, reduction):
    """Keras 3's reductions, in NumPy (per-sample weights broadcast over any trailing axes of the values)."""
    w = np.ones(values.shape[:1]) if weights is None else weights
    weighted = values * w.reshape(w.shape + (1,) * (values.ndim - w.ndim))
    if reduction in ("none", None):
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean_with_sample_weight" and weights is not None:
        return weighted.sum() / weights.sum()
    return weighted.sum() / values.size


@pytest.mark.parametrize("name", CASES)
def test_function_matches_numpy_formula(name):
    cls, fn, kwargs, reference, kind = CASES[name]
    for shape in _case_shapes(name):
        y_true, y_pred = draw(kind, shape)
        got = fn(y_true, y_pred.astype("float32"), **kwargs).numpy()
        assert got.shape == shape[:-1], (name, shape)
        np.testing.assert_allclose(got, reference(y_true, y_pred, **kwargs), rtol=2e-5, atol=2e-6,
                                   err_msg=f"{name} {shape}")


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None])
@pytest.mark.parametrize("name", CASES)
def test_class_reductions_and_sample_weight_match_numpy(name, reduction):
    cls, _, kwargs, reference, kind = CASES[name]
    loss = cls(reduction=reduction, **kwargs)
    for shape in _case_shapes(name):
        y_true, y_pred = draw(kind, shape)
        values = reference(y_true, y_pred, **kwargs)
        for weights in (None, rng.uniform(0, 2, shape[:1])):
            got = loss(y_true, y_pred.astype("float32"), sample_weight=weights).numpy()
            np.testing.assert_allclose(got, reduce_numpy(values, weights, reduction), rtol=2e-5, atol=2e-6,
                                       err_msg=f"{name} {shape} weights={weights is not None}")


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_central_differences(name):
    """<grad, v> against (L(p + e v) - L(p - e v)) / 2e in float64, in one random direction v."""
    cls, _, kwargs, _, kind = CASES[name]
    local = np.random.default_rng(3)
    y_true, y_pred = draw(kind, (4, 3))
    loss = cls(**kwargs)
    x = pyml.Tensor(y_pred, requires_grad=True)
    (grad,) = pyml.autodiff.grad([loss(y_true, x)], [x])
    v = local.standard_normal(y_pred.shape)
    e = 1e-6
    numeric = (float(loss(y_true, y_pred + e * v)) - float(loss(y_true, y_pred - e * v))) / (2 * e)
    assert float((grad.numpy() * v).sum()) == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_gradients_are_finite_at_the_edges():
    # a zero vector for cosine similarity, probabilities at 0 and 1 for the focal losses
    for loss, y_true, y_pred in [
            (losses.CosineSimilarity(), [[1.0, 0.0]], [[0.0, 0.0]]),
            (losses.BinaryFocalCrossentropy(), [[1.0, 0.0]], [[1.0, 0.0]]),
            (losses.CategoricalFocalCrossentropy(), [[0.0, 1.0]], [[0.0, 1.0]]),
            (losses.LogCosh(), [[0.0]], [[200.0]])]:
        x = pyml.Tensor(np.array(y_pred, "float32"), requires_grad=True)
        value = loss(np.array(y_true), x)
        (grad,) = pyml.autodiff.grad([value], [x])
        assert np.isfinite(float(value)) and np.isfinite(grad.numpy()).all(), type(loss).__name__


def test_keras_documented_examples():
    # the examples in Keras 3's docstrings
    y_true, y_pred = np.array([[0.0, 1.0], [0.0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]], "float32")
    assert float(losses.Huber()(y_true, y_pred)) == pytest.approx(0.155, abs=1e-3)
    log_cosh = losses.LogCosh()(y_true, np.array([[1.0, 1.0], [0.0, 0.0]], "float32"))
    assert float(log_cosh) == pytest.approx(0.108, abs=1e-3)
    # {0, 1} targets act as {-1, 1}: (1.6 + 0.6) / 2 and (1.4 + 1.6) / 2
    np.testing.assert_allclose(losses.hinge(y_true, y_pred).numpy(), [1.1, 1.5], rtol=1e-6)
    y_true, y_pred = [[0, 1], [0, 0]], np.array([[0.6, 0.4], [0.4, 0.6]], "float32")
    focal = losses.binary_focal_crossentropy(y_true, y_pred, gamma=2.0).numpy()
    np.testing.assert_allclose(focal, [0.330, 0.206], atol=1e-3)
    y_true, y_pred = [[0, 1, 0], [0, 0, 1]], np.array([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]], "float32")
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(y_true, y_pred).numpy(),
                               [2.634e-4, 0.6759], rtol=1e-3)
    cosine = losses.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
                                      np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]], "float32")).numpy()
    np.testing.assert_allclose(cosine, [0.0, -1.0, 1.0], atol=1e-6)


def test_hinge_leaves_non_binary_targets_alone():
    # {0, 1} targets become {-1, 1}; targets with any other value are used as given (Keras' rule)
    p = np.array([[0.3, -0.2]], "float32")
    np.testing.assert_allclose(losses.hinge([[0.0, 1.0]], p).numpy(), [(1.3 + 1.2) / 2], rtol=1e-6)
    np.testing.assert_allclose(losses.hinge([[0.5, 1.0]], p).numpy(), [(0.85 + 1.2) / 2], rtol=1e-6)


def test_mask_of_y_pred_weighs_the_reduction():
    # a masked output: masked entries count 0, the mean runs over the others; with mean_with_sample_weight the
    # divisor is the sum of the weights of the unmasked entries
    y_true, y_pred = draw("real", (2, 3, 4))
    mask = np.array([[True, True, False], [True, False, False]])
    values = ((y_true - y_pred) ** 2).mean(-1)
    weights = np.array([2.0, 0.5])
    pred = pyml.Tensor(y_pred.astype("float32"))
    pred._keras_mask = pyml.Tensor(mask)
    w = weights[:, None] * mask
    for reduction, expected in [("sum_over_batch_size", (values * w).sum() / mask.sum()),
                                ("mean", (values * w).sum() / mask.sum()),
                                ("sum", (values * w).sum()),
                                ("mean_with_sample_weight", (values * w).sum() / w.sum()),
                                ("none", values * w)]:
        got = losses.MeanSquaredError(reduction=reduction)(y_true, pred, sample_weight=weights).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=reduction)


def test_ignore_class_with_every_reduction():
    # the ignored entries are masked like a y_pred mask (Keras sets the loss' mask)
    y_true = np.array([[1, 0, 2], [0, 0, 1]])
    p = _softmax(np.random.default_rng(0).standard_normal((2, 3, 3))).astype("float32")
    ce = -np.log(np.take_along_axis(p, y_true[..., None], -1)[..., 0])
    valid = y_true != 0
    for reduction, expected in [("sum_over_batch_size", (ce * valid).sum() / valid.sum()),
                                ("sum", (ce * valid).sum()),
                                ("mean_with_sample_weight", (ce * valid).sum() / valid.sum()),
                                (None, ce * valid)]:
        got = losses.SparseCategoricalCrossentropy(ignore_class=0, reduction=reduction)(y_true, p).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=str(reduction))


def test_mean_with_sample_weight_of_zero_weights_is_zero():
    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    assert float(loss([[1.0], [2.0]], np.zeros((2, 1), "float32"), sample_weight=np.zeros(2))) == 0.0
    # without weights it is the plain mean (Keras)
    assert float(loss([[1.0], [2.0]], np.zeros((2, 1), "float32"))) == pytest.approx(2.5)


NAMES = {"huber": losses.huber, "log_cosh": losses.log_cosh, "logcosh": losses.log_cosh, "kld": losses.kl_divergence,
         "KLD": losses.kl_divergence, "kl_divergence": losses.kl_divergence,
         "kullback_leibler_divergence": losses.kl_divergence, "msle": losses.mean_squared_logarithmic_error,
         "MSLE": losses.mean_squared_logarithmic_error, "mape": losses.mean_absolute_percentage_error,
         "MAPE": losses.mean_absolute_percentage_error, "poisson": losses.poisson,
         "cosine_similarity": losses.cosine_similarity, "hinge": losses.hinge, "squared_hinge": losses.squared_hinge,
         "categorical_hinge": losses.categorical_hinge, "bce": losses.binary_crossentropy,
         "binary_focal_crossentropy": losses.binary_focal_crossentropy,
         "categorical_focal_crossentropy": losses.categorical_focal_crossentropy}


def test_get_resolves_keras_names_and_aliases():
    for name, fn in NAMES.items():
        assert losses.get(name) is fn, name
    for name, (cls, *_) in CASES.items():
        assert type(losses.get(cls.__name__)) is cls


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"known ones are .*Huber.*huber.*log_cosh.*Received: loss='hubber'"):
        losses.get("hubber")
    with pytest.raises(ValueError, match=r"Unknown loss class: known ones are .*BinaryFocalCrossentropy"):
        losses.get({"class_name": "Focal", "config": {}})


@pytest.mark.parametrize("name", CASES)
def test_config_round_trip(name):
    cls, _, kwargs, _, kind = CASES[name]
    loss = cls(reduction="sum", name="mine", **kwargs)
    restored = losses.get(losses.serialize(loss))
    assert type(restored) is cls and restored.get_config() == loss.get_config()
    assert restored.get_config()["reduction"] == "sum" and restored.name == "mine"
    y_true, y_pred = draw(kind, (4, 3))
    assert float(restored(y_true, y_pred.astype("float32"))) == pytest.approx(float(loss(y_true,
                                                                                            y_pred.astype("float32"))))


# ---- training with each loss: compiled step vs eager, and save/load -------------------------------------------
# (loss, output activation, how targets are made from a class id and a real number)
TRAINING = {
    "mse": (losses.MeanSquaredError(), None, "real"), "mae": (losses.MeanAbsoluteError(), None, "real"),
    "mape": ("mape", None, "real"), "msle": ("msle", "softplus", "positive"),
    "cosine": (losses.CosineSimilarity(), None, "real"), "huber": (losses.Huber(delta=0.5), None, "real"),
    "log_cosh": ("log_cosh", None, "real"), "kld": ("kld", "softmax", "distribution"),
    "poisson": (losses.Poisson(), "softplus", "positive"), "hinge": ("hinge", "tanh", "binary"),
    "squared_hinge": (losses.SquaredHinge(), "tanh", "binary"),
    "categorical_hinge": (losses.CategoricalHinge(), None, "onehot"),
    "bfce": (losses.BinaryFocalCrossentropy(apply_class_balancing=True, from_logits=True, label_smoothing=0.1),
             None, "binary"),
    "cfce": (losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5]), "softmax", "onehot"),
    "cfce-logits": (losses.CategoricalFocalCrossentropy(from_logits=True, label_smoothing=0.1), None, "onehot"),
    "bce": (losses.BinaryCrossentropy(label_smoothing=0.1), "sigmoid", "binary"),
    "cce": (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), None, "onehot"),
    "scce-ignore_class": (losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), None, "sparse"),
    "mean_with_sample_weight": (losses.MeanSquaredError(reduction="mean_with_sample_weight"), None, "real"),
    "sum": (losses.Huber(reduction="sum"), None, "real"),
}


def training_data(kind, n=40):
    local = np.random.default_rng(11)
    x = local.standard_normal((n, 4)).astype("float32")
    if kind == "sparse":  # class ids, 0 the ignored one
        return x, local.integers(0, 3, n).astype("int32")
    y_true, _ = draw(kind, (n, 3), local)
    return x, y_true.astype("float32")


def fit_once(loss, activation, kind, eager):
    x, y = training_data(kind)
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(4,)), layers.Dense(8, activation="tanh"),
                             layers.Dense(3, activation=activation)])
    model.compile(optimizer=pyml.optimizers.SGD(0.05), loss=loss, run_eagerly=eager,
                  jit_compile=None if eager else True)
    weights = np.random.default_rng(5).uniform(0.2, 2, len(x))
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, sample_weight=weights)
    return model, history


@pytest.mark.parametrize("name", TRAINING)
def test_fit_compiled_matches_eager(name):
    loss, activation, kind = TRAINING[name]
    eager, eager_history = fit_once(loss, activation, kind, eager=True)
    compiled, compiled_history = fit_once(loss, activation, kind, eager=False)
    assert compiled._compiled_step, "the step compiled (jit_compile=True raises otherwise)"
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{name} {a.name}")
    np.testing.assert_allclose(compiled_history.history["loss"], eager_history.history["loss"], rtol=1e-5)
    assert eager_history.history["loss"][1] != eager_history.history["loss"][0], "training moved the weights"


@pytest.mark.parametrize("name", TRAINING)
def test_model_compiled_with_the_loss_saves_and_loads(name, tmp_path):
    loss, activation, kind = TRAINING[name]
    model, _ = fit_once(loss, activation, kind, eager=True)
    path = tmp_path / "model.pyml"
    model.save(path)
    restored = pyml.load_model(path)
    if isinstance(loss, str):
        assert restored.loss == loss
    else:
        assert type(restored.loss) is type(loss) and restored.loss.get_config() == loss.get_config()
    x, y = training_data(kind)
    assert restored.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_sample_weight_indexes_samples_even_when_a_later_axis_has_the_batch_size():
    # values (3, 3) (3 samples of 3 steps) and weights (3,): each sample's row is scaled, never each column
    y_true, y_pred = draw("real", (3, 3, 2))
    values = ((y_true - y_pred) ** 2).mean(-1)
    weights = np.array([1.0, 0.0, 2.0])
    got = losses.MeanSquaredError(reduction=None)(y_true, y_pred.astype("float32"), sample_weight=weights).numpy()
    np.testing.assert_allclose(got, values * weights[:, None], rtol=1e-5)
