"""TerminateOnNaN: training stops at the end of the first batch whose loss is NaN or infinite (Keras), and the
model keeps the weights from before the step that spoiled them (pyml's addition), eager and compiled alike.
The reference is plain SGD on a linear model under MSE, by hand in float64."""
import numpy as np
import pytest

import pyml
from pyml import callbacks

LR, BATCH = 0.05, 4
W0, B0 = np.array([[0.5], [-0.25], [0.125]], np.float32), np.array([0.1], np.float32)


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 3)).astype(np.float32)
    return x, (x @ np.array([[1.0], [2.0], [-1.0]]) + 0.5).astype(np.float32)


def sgd_reference(x, y, steps):
    """Weights after ``steps`` SGD steps of BATCH rows each, on mean((x w + b - y)^2), in float64."""
    w, b = W0.astype(np.float64), B0.astype(np.float64)
    for i in range(steps):
        xb, yb = x[i * BATCH:(i + 1) * BATCH].astype(np.float64), y[i * BATCH:(i + 1) * BATCH]
        residual = xb @ w + b - yb
        w, b = w - LR * 2 * xb.T @ residual / len(xb), b - LR * 2 * residual.mean(axis=0)
    return w, b


def fit(x, y, eager, **options):
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(1)])
    model.set_weights([W0, B0])
    model.compile(optimizer=pyml.optimizers.SGD(learning_rate=LR), loss="mse", run_eagerly=eager)
    stop, ran = callbacks.TerminateOnNaN(**options), []
    counter = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ran.append(batch))
    with np.errstate(all="ignore"):
        history = model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, callbacks=[stop, counter])
    return model, stop, ran, history


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_a_bad_value_in_a_batch_stops_there_and_keeps_the_weights_from_before_it(eager, bad):
    x, y = data()
    x[3 * BATCH + 1, 2] = bad  # batch 3 of the first epoch
    model, stop, ran, history = fit(x, y, eager)
    assert ran == [0, 1, 2, 3] and stop.stopped_batch == 3 and len(history.epoch) == 1
    w, b = sgd_reference(x, y, steps=3)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.layers[0].bias.numpy(), b, rtol=1e-5, atol=1e-6)
    assert model.optimizer.iterations == 3  # the spoiled step is not counted either
    assert np.isfinite(model.predict(x[:2], verbose=0)).all()


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
def test_a_finite_loss_whose_update_overflows_is_caught_next_batch_and_rolled_back_past(eager):
    # Logistic regression, learning rate 100: batch 0 has a row of 2e37, whose logit (1e37) and loss (softplus,
    # linear: ~2.5e36) are finite, but whose gradient step (100 * 2e37 / 4 = 5e38) is past float32's 3.4e38: the
    # kernel becomes infinite with a finite loss. Batch 1's loss is then not finite, and the copy taken before it
    # holds infinities, so the weights go back to the last finite copy: the initial ones.
    x, _ = data()
    y = (x[:, :1] > 0).astype(np.float32)
    x[0, 0], y[0, 0] = 2e37, 0.0  # a huge positive logit on a negative label
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(1)])
    model.set_weights([W0, B0])
    model.compile(optimizer=pyml.optimizers.SGD(learning_rate=100.0),
                  loss=pyml.losses.BinaryCrossentropy(from_logits=True), run_eagerly=eager)
    stop, seen = callbacks.TerminateOnNaN(), []
    spy = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        (logs["loss"], bool(np.isfinite(model.layers[0].kernel.numpy()).all()))))
    with np.errstate(all="ignore"):
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[spy, stop])
    assert np.isfinite(seen[0][0]) and not seen[0][1]  # the case is what it claims: finite loss, infinite kernel
    assert stop.stopped_batch == 1
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), W0)
    np.testing.assert_array_equal(model.layers[0].bias.numpy(), B0)
    assert model.optimizer.iterations == 0


def test_raise_error_raises_after_restoring_the_weights():
    x, y = data()
    x[BATCH, 0] = np.nan  # batch 1
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch 1"):
        fit(x, y, eager=True, raise_error=True)


def test_adam_slots_are_restored_so_training_can_go_on_as_if_the_bad_batch_never_came():
    x, y = data()
    clean = np.delete(x, np.s_[BATCH:2 * BATCH], axis=0), np.delete(y, np.s_[BATCH:2 * BATCH], axis=0)
    bad = x.copy()
    bad[BATCH, 0] = np.nan

    def adam_model():
        model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(1)])
        model.set_weights([W0, B0])
        model.compile(optimizer=pyml.optimizers.Adam(learning_rate=LR), loss="mse")
        return model

    stopped = adam_model()
    with np.errstate(all="ignore"):
        stopped.fit(bad, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                    callbacks=[callbacks.TerminateOnNaN()])
    stopped.fit(clean[0][BATCH:2 * BATCH], clean[1][BATCH:2 * BATCH], batch_size=BATCH, verbose=0, shuffle=False)
    straight = adam_model()
    straight.fit(clean[0][:2 * BATCH], clean[1][:2 * BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(stopped.get_weights(), straight.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
