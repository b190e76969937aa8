"""The optimizers added for Keras 3 breadth (Nadam, Adamax, Adadelta, Lion, Ftrl, Adam amsgrad) and the options
every optimizer takes (weight decay and its exclusions, each clipping mode, EMA), step by step against float32
NumPy re-implementations of the documented updates (Keras' formulas, written out here independently)."""
import numpy as np
import pytest

import pyml
from pyml import optimizers

F = np.float32
RNG = np.random.default_rng(3)
W0 = RNG.standard_normal(6).astype("float32")
GRADS = (RNG.standard_normal((8, 6)) * 0.5).astype("float32")


def run(optimizer, grads=GRADS, w0=W0):
    """Every step's weights from applying ``grads`` one by one."""
    w = pyml.Variable(w0.copy(), name="w")
    out = []
    for g in grads:
        optimizer.apply_gradients([(pyml.Tensor(g), w)])
        out.append(w.numpy().copy())
    return out


def check(optimizer, reference):
    got = run(optimizer)
    w = W0.copy()
    for t, (g, step) in enumerate(zip(GRADS, got), 1):
        w = reference(w, g, t)
        np.testing.assert_allclose(step, w, rtol=2e-6, atol=1e-7, err_msg=f"step {t}")


def adam_like(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    state = {"m": 0, "v": 0, "vmax": 0}

    def step(w, g, t):
        state["m"] = state["m"] + (g - state["m"]) * F(1 - b1)
        state["v"] = state["v"] + (g * g - state["v"]) * F(1 - b2)
        v = state["vmax"] = np.maximum(state["vmax"], state["v"]) if amsgrad else state["v"]
        alpha = F(lr) * np.sqrt(F(1) - F(b2) ** F(t)) / (F(1) - F(b1) ** F(t))
        return w - state["m"] * alpha / (np.sqrt(v) + F(eps))
    return step


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_and_amsgrad(amsgrad):
    check(optimizers.Adam(0.05, amsgrad=amsgrad), adam_like(0.05, amsgrad=amsgrad))


def test_amsgrad_keeps_the_largest_second_moment():
    big_then_small = np.array([[5.0] * 6, [0.01] * 6, [0.01] * 6], "float32")
    plain, ams = run(optimizers.Adam(0.1), big_then_small), run(optimizers.Adam(0.1, amsgrad=True), big_then_small)
    # after a large gradient, amsgrad divides by the old large v: its later steps are smaller
    assert np.all(np.abs(ams[2] - ams[1]) < np.abs(plain[2] - plain[1]))


def test_nadam():
    lr, b1, b2, eps = F(0.02), F(0.9), F(0.999), F(1e-7)
    state = {"m": 0, "v": 0, "prod": F(1)}

    def u(t):
        return b1 * (F(1) - F(0.5) * F(0.96) ** F(t))

    def step(w, g, t):
        state["prod"] = state["prod"] * b1 * (F(1) - F(0.5) * F(0.96) ** F(t))
        prod_next = state["prod"] * u(t + 1)
        state["m"] = state["m"] + (g - state["m"]) * (F(1) - b1)
        state["v"] = state["v"] + (g * g - state["v"]) * (F(1) - b2)
        m_hat = u(t + 1) * state["m"] / (F(1) - prod_next) + (F(1) - u(t)) * g / (F(1) - state["prod"])
        v_hat = state["v"] / (F(1) - b2 ** F(t))
        return w - m_hat * lr / (np.sqrt(v_hat) + eps)
    check(optimizers.Nadam(0.02), step)


def test_adamax():
    state = {"m": 0, "u": 0}

    def step(w, g, t):
        state["m"] = state["m"] + (g - state["m"]) * F(0.1)
        state["u"] = np.maximum(F(0.999) * state["u"], np.abs(g))
        return w - F(0.02) * state["m"] / ((F(1) - F(0.9) ** F(t)) * (state["u"] + F(1e-7)))
    check(optimizers.Adamax(0.02), step)


def test_adadelta():
    rho, eps = 0.95, F(1e-7)
    state = {"a": 0, "d": 0}

    def step(w, g, t):
        state["a"] = F(rho) * state["a"] + F(1 - rho) * g * g
        delta = -np.sqrt(state["d"] + eps) * g / np.sqrt(state["a"] + eps)
        state["d"] = F(rho) * state["d"] + F(1 - rho) * delta * delta
        return w + F(1.0) * delta
    check(optimizers.Adadelta(1.0), step)


def test_lion_moves_every_entry_by_the_learning_rate():
    state = {"m": np.zeros(6, "float32")}

    def step(w, g, t):
        update = np.sign(F(0.9) * state["m"] + F(0.1) * g)
        state["m"] = F(0.99) * state["m"] + F(0.01) * g
        return w - F(0.01) * update
    check(optimizers.Lion(0.01), step)
    steps = run(optimizers.Lion(0.01))
    np.testing.assert_allclose(np.abs(steps[1] - steps[0]), 0.01, rtol=1e-4)


def test_ftrl_with_l1_l2_shrinkage_and_beta():
    lr, p, l1, l2, shrink, beta = 0.1, 0.5, 0.05, 0.01, 0.02, 0.3
    state = {"n": F(0.1), "z": 0}

    def step(w, g, t):
        n_new = state["n"] + g * g
        state["z"] = state["z"] + (g + F(2 * shrink) * w - (n_new ** F(p) - state["n"] ** F(p)) / F(lr) * w)
        quadratic = n_new ** F(p) / F(lr) + F(2) * (F(l2) + F(beta) / (F(2) * F(lr)))
        state["n"] = n_new
        return (np.clip(state["z"], -l1, l1) - state["z"]) / quadratic
    check(optimizers.Ftrl(lr, l1_regularization_strength=l1, l2_regularization_strength=l2,
                          l2_shrinkage_regularization_strength=shrink, beta=beta), step)
    # L1 makes weights exactly zero while |z| <= l1: FTRL's sparsity
    sparse = run(optimizers.Ftrl(0.1, l1_regularization_strength=100.0))[-1]
    np.testing.assert_array_equal(sparse, 0.0)


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.Lion, optimizers.Adagrad])
def test_weight_decay_applies_before_the_update_on_every_optimizer(cls):
    lr, wd = 0.05, 0.2
    plain, decayed = cls(learning_rate=lr), cls(learning_rate=lr, weight_decay=wd)
    w = pyml.Variable(W0.copy(), name="w")
    decayed.apply_gradients([(pyml.Tensor(GRADS[0]), w)])
    # the same rule on the decayed weights: w - w * wd * lr, then the update
    reference = pyml.Variable(W0 - W0 * F(wd) * F(lr), name="w")
    plain.apply_gradients([(pyml.Tensor(GRADS[0]), reference)])
    np.testing.assert_allclose(w.numpy(), reference.numpy(), rtol=1e-6)


def test_exclude_from_weight_decay_by_variable_and_by_name():
    kernel, bias, other = (pyml.Variable(W0.copy(), name=n) for n in ("dense/kernel", "dense/bias", "other"))
    opt = optimizers.SGD(learning_rate=0.5, weight_decay=0.1)
    opt.exclude_from_weight_decay(var_list=[other], var_names=["bias"])
    zero = pyml.Tensor(np.zeros(6, "float32"))
    opt.apply_gradients([(zero, kernel), (zero, bias), (zero, other)])
    np.testing.assert_allclose(kernel.numpy(), W0 - W0 * F(0.1) * F(0.5), rtol=1e-7)
    np.testing.assert_array_equal(bias.numpy(), W0)
    np.testing.assert_array_equal(other.numpy(), W0)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["kernel"])


def test_each_clipping_mode_against_its_formula():
    g1, g2 = GRADS[0] * 4, GRADS[1] * 4
    for kwargs, expected in (
            ({"clipnorm": 0.5}, [g * F(0.5) / max(np.linalg.norm(g), F(0.5)) for g in (g1, g2)]),
            ({"global_clipnorm": 0.5}, [g * F(0.5 / np.sqrt(np.sum(g1 ** 2) + np.sum(g2 ** 2))) for g in (g1, g2)]),
            ({"clipvalue": 0.3}, [np.clip(g, -0.3, 0.3) for g in (g1, g2)])):
        a, b = pyml.Variable(np.zeros(6, "float32"), name="a"), pyml.Variable(np.zeros(6, "float32"), name="b")
        optimizers.SGD(learning_rate=1.0, **kwargs).apply_gradients([(pyml.Tensor(g1), a), (pyml.Tensor(g2), b)])
        np.testing.assert_allclose(a.numpy(), -expected[0], rtol=1e-5, err_msg=str(kwargs))
        np.testing.assert_allclose(b.numpy(), -expected[1], rtol=1e-5, err_msg=str(kwargs))


def test_ema_average_overwrite_and_finalize():
    opt = optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=3)
    w = pyml.Variable(W0.copy(), name="w")
    value, average = W0.copy(), None
    for t, g in enumerate(GRADS[:5], 1):
        opt.apply_gradients([(pyml.Tensor(g), w)])
        value = value - F(0.1) * g
        average = value.copy() if average is None else F(0.8) * average + F(0.2) * value  # first step copies
        np.testing.assert_allclose(opt.slot(w, "average"), average, rtol=1e-6)
        if t % 3 == 0:  # every 3rd step the weights become the average
            value = average.copy()
        np.testing.assert_allclose(w.numpy(), value, rtol=1e-6, err_msg=f"step {t}")
    opt.finalize_variable_values([w])
    np.testing.assert_allclose(w.numpy(), average, rtol=1e-6)


def test_gradient_accumulation_updates_every_n_steps_with_the_mean_gradient():
    opt = optimizers.Adam(0.05, gradient_accumulation_steps=3, clipvalue=0.2)
    got = run(opt, GRADS[:6])
    reference = adam_like(0.05)
    w = W0.copy()
    for k in range(6):
        if k % 3 == 2:  # the 3rd, 6th step: Adam's step t = 1, 2 on the clipped mean of the last three gradients
            mean = (GRADS[k] + (GRADS[k - 2] + GRADS[k - 1])) / F(3)
            w = reference(w, np.clip(mean, -0.2, 0.2), k // 3 + 1)
        np.testing.assert_allclose(got[k], w, rtol=2e-6, atol=1e-7, err_msg=f"step {k}")
    assert opt.iterations == 2 and opt.steps_seen == 6
    assert optimizers.get(optimizers.serialize(opt)).gradient_accumulation_steps == 3


def test_fit_ends_with_the_moving_averages_as_weights():
    x = RNG.standard_normal((32, 4)).astype("float32")
    y = x @ np.ones((4, 1), "float32")
    model = pyml.Sequential([pyml.Input(shape=(4,)), pyml.layers.Dense(1)])
    model.compile(optimizer=optimizers.Adam(0.05, use_ema=True), loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for variable in model.trainable_weights:
        np.testing.assert_array_equal(variable.numpy(), model.optimizer.slot(variable, "average"))


def test_unsupported_arguments_and_bad_values_are_named():
    with pytest.raises(NotImplementedError, match="loss_scale_factor"):
        optimizers.Adam(loss_scale_factor=128.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps to be None or an int >= 2"):
        optimizers.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate_power"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)


def test_unknown_optimizer_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"known ones are adadelta, adagrad, adam, adamax, adamw, ftrl, lion, "
                                         r"nadam, rmsprop, sgd\. Received: optimizer='adamm'"):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="Unknown optimizer class: known ones are Adadelta, Adagrad, Adam"):
        optimizers.get({"class_name": "Adamm", "config": {}})


@pytest.mark.parametrize("optimizer", [
    optimizers.Nadam(0.01, clipnorm=1.0), optimizers.Adamax(0.01, use_ema=True, ema_overwrite_frequency=5),
    optimizers.Adadelta(1.0, rho=0.9), optimizers.Lion(0.001, weight_decay=0.1),
    optimizers.Ftrl(0.1, l1_regularization_strength=0.01, beta=0.5), optimizers.Adam(0.01, amsgrad=True),
    optimizers.SGD(optimizers.schedules.CosineDecay(0.1, 100, warmup_target=0.2, warmup_steps=10))],
    ids=lambda o: o.name)
def test_config_round_trip(optimizer):
    restored = optimizers.get(optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer) and restored.get_config() == optimizer.get_config()
    assert restored.learning_rate == optimizer.learning_rate
