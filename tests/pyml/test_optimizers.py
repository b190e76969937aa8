"""Optimizers: two update steps against the formulas written out by hand (Keras' definitions)."""
import math

import numpy as np
import pytest

import pyml
from pyml import optimizers

G1 = np.array([0.5, -1.0, 2.0], "float32")
G2 = np.array([-0.25, 0.5, 1.0], "float32")
W0 = np.array([1.0, 2.0, -3.0], "float32")


def two_steps(optimizer):
    w = pyml.Variable(W0.copy(), name="w")
    optimizer.apply_gradients([(pyml.Tensor(G1), w)])
    first = w.numpy().copy()
    optimizer.apply_gradients([(G2, w)])
    return first, w.numpy()


def test_sgd_plain():
    first, second = two_steps(optimizers.SGD(learning_rate=0.1))
    np.testing.assert_allclose(first, W0 - 0.1 * G1, rtol=1e-6)
    np.testing.assert_allclose(second, W0 - 0.1 * G1 - 0.1 * G2, rtol=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(nesterov):
    lr, mu = 0.1, 0.9
    first, second = two_steps(optimizers.SGD(learning_rate=lr, momentum=mu, nesterov=nesterov))
    w, v = W0.astype("float64"), np.zeros(3)
    for g, got in ((G1, first), (G2, second)):
        v = mu * v - lr * g
        w = w + (mu * v - lr * g if nesterov else v)
        np.testing.assert_allclose(got, w, rtol=1e-6)


def test_adam():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    first, second = two_steps(optimizers.Adam(learning_rate=lr))
    w, m, v = W0.astype("float64"), np.zeros(3), np.zeros(3)
    for t, (g, got) in enumerate(((G1, first), (G2, second)), 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        w = w - alpha * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(got, w, rtol=1e-5)
    # the first Adam step moves each weight by about lr in the direction opposite the gradient's sign
    np.testing.assert_allclose(first - W0, -lr * np.sign(G1), rtol=1e-3)


def test_adamw_decays_weights():
    lr, wd = 0.01, 0.1
    first, _ = two_steps(optimizers.AdamW(learning_rate=lr, weight_decay=wd))
    decayed = W0 - W0 * wd * lr
    np.testing.assert_allclose(first, decayed - lr * np.sign(G1), rtol=1e-3)


@pytest.mark.parametrize("momentum, centered", [(0.0, False), (0.5, True)])
def test_rmsprop(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-7
    first, second = two_steps(optimizers.RMSprop(learning_rate=lr, rho=rho, momentum=momentum, centered=centered))
    w, s, mg, mom = W0.astype("float64"), np.zeros(3), np.zeros(3), np.zeros(3)
    for g, got in ((G1, first), (G2, second)):
        s = rho * s + (1 - rho) * g * g
        denominator = s + eps
        if centered:
            mg = rho * mg + (1 - rho) * g
            denominator = denominator - mg * mg
        increment = lr * g / np.sqrt(denominator)
        if momentum:
            mom = momentum * mom + increment
            increment = mom
        w = w - increment
        np.testing.assert_allclose(got, w, rtol=1e-5)


def test_adagrad():
    lr, acc0, eps = 0.1, 0.1, 1e-7
    first, second = two_steps(optimizers.Adagrad(learning_rate=lr))
    acc = acc0 + G1 ** 2
    w = W0 - lr * G1 / np.sqrt(acc + eps)
    np.testing.assert_allclose(first, w, rtol=1e-5)
    acc = acc + G2 ** 2
    np.testing.assert_allclose(second, w - lr * G2 / np.sqrt(acc + eps), rtol=1e-5)


def test_iterations_none_gradients_and_clipping():
    a, b = pyml.Variable([1.0], name="a"), pyml.Variable([1.0], name="b")
    opt = optimizers.SGD(learning_rate=1.0, clipvalue=0.5)
    opt.apply_gradients([(pyml.Tensor([3.0]), a), (None, b)])
    assert opt.iterations == 1 and a.numpy()[0] == pytest.approx(0.5) and b.numpy()[0] == 1.0
    c = pyml.Variable([0.0, 0.0], name="c")
    optimizers.SGD(learning_rate=1.0, clipnorm=1.0).apply_gradients([(pyml.Tensor([3.0, 4.0]), c)])
    np.testing.assert_allclose(c.numpy(), [-0.6, -0.8], rtol=1e-5)


def test_learning_rate_schedule_and_setter():
    w = pyml.Variable([0.0], name="w")
    opt = optimizers.SGD(learning_rate=lambda step: 1.0 / (step + 1))
    for _ in range(3):
        opt.apply_gradients([(pyml.Tensor([1.0]), w)])
    assert w.numpy()[0] == pytest.approx(-(1 + 1 / 2 + 1 / 3))
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5


def test_minimize_descends():
    w = pyml.Variable([3.0], name="w")
    opt = optimizers.SGD(learning_rate=0.25)
    for _ in range(20):
        opt.minimize(lambda: pyml.ops.sum(pyml.ops.square(w)), [w])
    assert abs(w.numpy()[0]) < 1e-3


def test_get_config_round_trip_and_errors():
    opt = optimizers.Adam(learning_rate=0.02, beta_1=0.8)
    restored = optimizers.get(optimizers.serialize(opt))
    assert isinstance(restored, optimizers.Adam) and restored.get_config() == opt.get_config()
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        optimizers.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="gradient for variable 'w' has shape \\(2,\\)"):
        optimizers.SGD().apply_gradients([(pyml.Tensor([1.0, 2.0]), pyml.Variable([1.0], name="w"))])


@pytest.mark.parametrize("kwargs", [{"clipnorm": 1.0, "clipvalue": 0.5}, {"clipnorm": 1.0, "global_clipnorm": 1.0},
                                    {"clipvalue": 0.5, "global_clipnorm": 1.0},
                                    {"clipnorm": 1.0, "clipvalue": 0.5, "global_clipnorm": 1.0}])
def test_only_one_gradient_clipping_argument_may_be_set(kwargs):
    # Keras applies one of clipnorm / global_clipnorm / clipvalue and refuses more than one
    with pytest.raises(ValueError, match=r"Only one of clipnorm, clipvalue and global_clipnorm.*Received: clipnorm="):
        optimizers.SGD(**kwargs)


def test_global_clipnorm_scales_all_gradients_together():
    a, b = pyml.Variable([0.0], name="a"), pyml.Variable([0.0], name="b")
    optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).apply_gradients(
        [(pyml.Tensor([3.0]), a), (pyml.Tensor([4.0]), b)])  # global norm 5, scaled to 1
    np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [-0.6, -0.8], rtol=1e-5)


@pytest.mark.parametrize("optimizer", [optimizers.SGD(0.1, momentum=0.9, nesterov=True), optimizers.Adam(0.1, amsgrad=True),
                                       optimizers.AdamW(0.1), optimizers.RMSprop(0.1, momentum=0.5, centered=True),
                                       optimizers.Adagrad(0.1)], ids=lambda o: o.name)
def test_the_update_rule_is_the_same_on_numpy_arrays_and_on_pyml_tensors(optimizer):
    # fit's compiled step runs the rule with pyml.ops over every parameter at once; eager steps with NumPy
    slots = {name: np.abs(np.random.default_rng(1).standard_normal(3)).astype("float32")
             for name, _ in optimizer._slot_specs()}
    hyper = optimizer.step_hyperparameters()
    value, new_slots = optimizer._update(np, W0, G1, slots, hyper)
    tensors = {name: pyml.Tensor(array) for name, array in slots.items()}
    value_t, new_slots_t = optimizer._update(pyml.ops, pyml.Tensor(W0), pyml.Tensor(G1), tensors,
                                             {k: pyml.Tensor(np.float32(v)) for k, v in hyper.items()})
    np.testing.assert_array_equal(value_t.numpy(), value)
    for name in slots:
        np.testing.assert_array_equal(new_slots_t[name].numpy(), new_slots[name])
    assert ("weight_decay" in hyper) == bool(optimizer.weight_decay)


def test_gradient_clipping_is_the_same_on_numpy_arrays_and_on_pyml_tensors():
    for kwargs in ({"clipvalue": 0.7}, {"clipnorm": 1.0}, {"global_clipnorm": 1.5}):
        optimizer = optimizers.SGD(**kwargs)
        numpy_grads = optimizer.clip_gradients(np, [G1, G2])
        tensor_grads = optimizer.clip_gradients(pyml.ops, [pyml.Tensor(G1), pyml.Tensor(G2)])
        for a, b in zip(numpy_grads, tensor_grads):
            np.testing.assert_allclose(b.numpy(), a, rtol=1e-6)
