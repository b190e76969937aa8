"""Constraints against NumPy formulas, and applied after each optimizer update: eager apply_gradients, fit's
compiled step (the same weights as eager), the guarantees after fit (NonNeg >= 0, MaxNorm norms <= max), configs."""
import numpy as np
import pytest

import pyml
from pyml import constraints, layers

EPS = 1e-7


def norms(w, axis):
    return np.sqrt((w ** 2).sum(axis=axis, keepdims=True))


CASES = [
    (constraints.MaxNorm(1.0), lambda w: w * np.clip(norms(w, 0), 0, 1.0) / (EPS + norms(w, 0))),
    (constraints.MaxNorm(2.5, axis=1), lambda w: w * np.clip(norms(w, 1), 0, 2.5) / (EPS + norms(w, 1))),
    (constraints.NonNeg(), lambda w: np.maximum(w, 0)),
    (constraints.UnitNorm(), lambda w: w / (EPS + norms(w, 0))),
    (constraints.UnitNorm(axis=[0, 1]), lambda w: w / (EPS + norms(w, (0, 1)))),
    (constraints.MinMaxNorm(0.5, 1.5, rate=0.7),
     lambda w: w * (0.7 * np.clip(norms(w, 0), 0.5, 1.5) + 0.3 * norms(w, 0)) / (EPS + norms(w, 0))),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_constraints_match_numpy(case):
    constraint, reference = CASES[case]
    w = np.random.default_rng(case).standard_normal((4, 3, 2)) * 2
    np.testing.assert_allclose(constraint(pyml.Tensor(w.astype("float32"))).numpy(), reference(w), rtol=1e-5,
                               atol=1e-6)


def test_get_serialize_and_errors():
    assert constraints.get(None) is None
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    assert constraints.get("max_norm").get_config() == {"max_value": 2.0, "axis": 0}
    for c in (constraints.MaxNorm(3, axis=[0, 1, 2]), constraints.MinMaxNorm(0.1, 0.9, 0.5, 1),
              constraints.UnitNorm(1)):
        restored = constraints.get(constraints.serialize(c))
        assert type(restored) is type(c) and restored.get_config() == c.get_config()
    with pytest.raises(ValueError, match=r"known ones are .*max_norm.*non_neg.*Received: 'positive'"):
        constraints.get("positive")
    with pytest.raises(ValueError, match="min_value <= max_value. Received: min_value=2, max_value=1"):
        constraints.MinMaxNorm(2, 1)


def test_apply_gradients_projects_after_the_update():
    w = pyml.Variable(np.array([[0.5, -0.2], [0.1, 0.3]], "float32"))
    w.constraint = constraints.NonNeg()
    pyml.optimizers.SGD(1.0).apply_gradients([(np.array([[1.0, -1.0], [0.0, 1.0]], "float32"), w)])
    np.testing.assert_allclose(w.numpy(), [[0.0, 0.8], [0.1, 0.0]], atol=1e-7)


def constrained_model():
    return pyml.Sequential([
        pyml.Input(shape=(6, 2)),
        layers.Conv1D(4, 3, kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1]), bias_constraint="non_neg"),
        layers.LSTM(3, recurrent_constraint=constraints.UnitNorm(), return_sequences=False),
        layers.Dense(5, activation="relu", kernel_constraint="non_neg"),
        layers.Dense(2, kernel_constraint=constraints.MinMaxNorm(0.2, 0.6))])


def fit(eager):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6, 2)).astype("float32"), rng.standard_normal((32, 2)).astype("float32")
    pyml.set_random_seed(0)
    model = constrained_model()
    model.compile(optimizer=pyml.optimizers.Adam(0.05), loss="mse", run_eagerly=eager,
                  jit_compile=None if eager else True)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model


def test_fit_keeps_constraints_and_compiled_matches_eager():
    eager, compiled = fit(True), fit(False)
    assert compiled._compiled_step
    for a, b in zip(eager.weights, compiled.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2e-5, atol=1e-6, err_msg=a.name)
    conv, lstm, hidden, out = compiled.layers
    assert norms(conv.kernel.numpy(), (0, 1)).max() <= 0.5 + 1e-5
    assert (conv.bias.numpy() >= 0).all() and (hidden.kernel.numpy() >= 0).all()
    np.testing.assert_allclose(norms(lstm.cell.recurrent_kernel.numpy(), 0), 1.0, rtol=1e-5)
    column_norms = norms(out.kernel.numpy(), 0)
    assert (column_norms >= 0.2 - 1e-5).all() and (column_norms <= 0.6 + 1e-5).all()
    assert (hidden.kernel.numpy() == 0).any(), "the constraint was active (some weights pushed to 0)"


def test_one_sgd_step_is_the_projection_of_the_plain_update():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 3)).astype("float32"), rng.standard_normal((6, 2)).astype("float32")
    for eager in (True, False):
        pyml.set_random_seed(0)
        model = pyml.Sequential([pyml.Input(shape=(3,)), layers.Dense(2, kernel_constraint="non_neg",
                                                                      bias_constraint=constraints.MaxNorm(0.05))])
        w0, b0 = (v.numpy().astype("float64") for v in model.weights)
        model.compile(optimizer=pyml.optimizers.SGD(0.5), loss="mse", run_eagerly=eager,
                      jit_compile=None if eager else True)
        model.train_on_batch(x, y)
        error = x @ w0 + b0 - y
        w1 = w0 - 0.5 * 2 * x.T @ error / error.size
        b1 = b0 - 0.5 * 2 * error.sum(0) / error.size
        assert (w1 < 0).any() and np.linalg.norm(b1) > 0.05, "both constraints have work to do"
        np.testing.assert_allclose(model.weights[0].numpy(), np.maximum(w1, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.weights[1].numpy(), b1 * 0.05 / (EPS + np.linalg.norm(b1)), rtol=1e-5)


def test_save_and_load_keep_constraints(tmp_path):
    model = fit(True)
    model.save(tmp_path / "m.pyml")
    restored = pyml.load_model(tmp_path / "m.pyml")
    conv, lstm, hidden, out = restored.layers
    assert conv.kernel_constraint.get_config() == {"max_value": 0.5, "axis": (0, 1)}
    assert conv.kernel.constraint is conv.kernel_constraint and isinstance(hidden.kernel.constraint,
                                                                           constraints.NonNeg)
    assert lstm.cell.recurrent_kernel.constraint.get_config() == {"axis": 0}
    assert out.kernel_constraint.get_config() == {"min_value": 0.2, "max_value": 0.6, "rate": 1.0, "axis": 0}
