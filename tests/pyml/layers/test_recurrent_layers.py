"""Recurrent layers against the documented Keras 3 equations (keras/src/layers/rnn/*.py), written again here in
NumPy one batch row and one step at a time. ONE table (``CASES``) drives every check, so no layer is skipped:
forward (with and without a mask), gradients by central differences, config and save/load round trips, weight
shapes and order. Then the named rules (gate orders, masking), training (compiled step = eager step, a
Bidirectional LSTM classifier that learns), and bad input."""
import warnings

import numpy as np
import pytest

import pyml
from pyml import layers, ops

B, T, F = 3, 6, 5
MASK = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1]], bool)  # trailing, leading, holes


class MinimalCell(layers.Layer):
    """A user-written cell (RNN runs it as a Python loop of ops): h = tanh(x @ w + h_prev @ v)."""

    state_size = 4

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 4), name="w")
        self.v = self.add_weight(shape=(4, 4), name="v")

    def call(self, inputs, states):
        h = ops.tanh(inputs @ self.w + states[0] @ self.v)
        return h, [h]


# ---- the NumPy reference ------------------------------------------------------------------------------------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def step(kind, w, x, states, reset_after=True):
    """One Keras step; ``w`` the cell's weights in Keras order, ``states`` a list."""
    if kind == "minimal":
        h = np.tanh(x @ w[0] + states[0] @ w[1])
        return [h]
    kernel, rec = w[0], w[1]
    bias = w[2] if len(w) > 2 else np.zeros(kernel.shape[1])
    H = rec.shape[0]
    if kind == "simple":
        return [np.tanh(x @ kernel + bias + states[0] @ rec)]
    if kind == "lstm":  # gate order i, f, c, o
        z = x @ kernel + bias + states[0] @ rec
        i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
        c = f * states[1] + i * g
        return [o * np.tanh(c), c]
    h = states[0]  # gru, gate order z, r, h
    if reset_after:
        xb = x @ kernel + bias[0]
        rb = h @ rec + bias[1]
        z, r = sigmoid(xb[:, :H] + rb[:, :H]), sigmoid(xb[:, H:2 * H] + rb[:, H:2 * H])
        hh = np.tanh(xb[:, 2 * H:] + r * rb[:, 2 * H:])
    else:
        xb = x @ kernel + bias
        z, r = sigmoid(xb[:, :H] + h @ rec[:, :H]), sigmoid(xb[:, H:2 * H] + h @ rec[:, H:2 * H])
        hh = np.tanh(xb[:, 2 * H:] + (r * h) @ rec[:, 2 * H:])
    return [z * h + (1 - z) * hh]


def run_reference(cells, weights, x, mask=None, go_backwards=False, return_sequences=False, zero_output=False):
    """Stacked ``cells`` [(kind, n_weights, units, n_states, reset_after)] over ``x``: (output, final states)."""
    batch, steps = x.shape[:2]
    states = [[np.zeros((batch, units)) for _ in range(n_states)] for _, _, units, n_states, _ in cells]
    outputs = []
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        inp = x[:, t]
        new_all = []
        offset = 0
        for (kind, n, units, n_states, reset_after), state in zip(cells, states):
            new = step(kind, weights[offset:offset + n], inp, state, reset_after)
            offset += n
            new_all.append(new)
            inp = new[0]
        m = np.ones((batch, 1)) if mask is None else mask[:, t:t + 1].astype(float)
        # a masked step carries every state; its output is the carried h (zeros with zero_output)
        states = [[np.where(m > 0, n, s) for n, s in zip(new, old)] for new, old in zip(new_all, states)]
        out = states[-1][0]
        outputs.append(out * m if zero_output else out)
    output = np.stack(outputs, 1) if return_sequences else outputs[-1]
    return output, [s for cell_states in states for s in cell_states]


def reference(case, weights, x, mask=None):
    """The layer's outputs as a list, from the NumPy reference."""
    if case.kind == "time_distributed":
        return [x @ weights[0] + weights[1]]
    if case.kind == "bidirectional":
        n = len(weights) // 2
        rs = case.return_sequences
        fwd, f_states = run_reference(case.cells, weights[:n], x, mask, False, rs, zero_output=rs)
        bwd, b_states = run_reference(case.cells, weights[n:], x, mask, True, rs, zero_output=rs)
        if rs:
            bwd = bwd[:, ::-1]
        merged = {"concat": lambda: [np.concatenate([fwd, bwd], -1)], "sum": lambda: [fwd + bwd],
                  "ave": lambda: [(fwd + bwd) / 2], "mul": lambda: [fwd * bwd], None: lambda: [fwd, bwd]}[case.merge]()
        return merged + (f_states + b_states if case.return_state else [])
    out, states = run_reference(case.cells, weights, x, mask, case.go_backwards, case.return_sequences)
    return [out] + (states if case.return_state else [])


# ---- the table --------------------------------------------------------------------------------------------
class Case:
    def __init__(self, id, make, kind, shapes, cells=(), return_sequences=False, return_state=False,
                 go_backwards=False, merge="concat"):
        self.id, self.make, self.kind, self.shapes, self.cells = id, make, kind, shapes, list(cells)
        self.return_sequences, self.return_state, self.go_backwards, self.merge = (
            return_sequences, return_state, go_backwards, merge)

    def __repr__(self):
        return self.id


LSTM3 = ("lstm", 3, 3, 2, False)
CASES = [
    Case("simple_rnn", lambda **k: layers.SimpleRNN(4, return_sequences=True, **k), "rnn",
         [(F, 4), (4, 4), (4,)], [("simple", 3, 4, 1, False)], return_sequences=True),
    Case("lstm", lambda **k: layers.LSTM(3, **k), "rnn", [(F, 12), (3, 12), (12,)], [LSTM3]),
    Case("lstm_backwards_states", lambda **k: layers.LSTM(3, go_backwards=True, return_sequences=True,
                                                          return_state=True, **k),
         "rnn", [(F, 12), (3, 12), (12,)], [LSTM3], return_sequences=True, return_state=True, go_backwards=True),
    Case("gru", lambda **k: layers.GRU(4, return_state=True, **k), "rnn", [(F, 12), (4, 12), (2, 12)],
         [("gru", 3, 4, 1, True)], return_state=True),
    Case("gru_reset_before", lambda **k: layers.GRU(4, reset_after=False, return_sequences=True, **k), "rnn",
         [(F, 12), (4, 12), (12,)], [("gru", 3, 4, 1, False)], return_sequences=True),
    Case("rnn_stacked_cells", lambda **k: layers.RNN([layers.LSTMCell(3), layers.GRUCell(2)],
                                                      return_sequences=True, **k),
         "rnn", [(F, 12), (3, 12), (12,), (3, 6), (2, 6), (2, 6)], [LSTM3, ("gru", 3, 2, 1, True)],
         return_sequences=True),
    Case("rnn_user_cell", lambda **k: layers.RNN(MinimalCell(), go_backwards=True, **k), "rnn", [(F, 4), (4, 4)],
         [("minimal", 2, 4, 1, False)], go_backwards=True),
    Case("bidirectional_concat", lambda **k: layers.Bidirectional(layers.LSTM(3, return_sequences=True, **k)),
         "bidirectional", [(F, 12), (3, 12), (12,)] * 2, [LSTM3], return_sequences=True),
    Case("bidirectional_sum_states", lambda **k: layers.Bidirectional(layers.GRU(3, return_state=True, **k),
                                                                      merge_mode="sum"),
         "bidirectional", [(F, 9), (3, 9), (2, 9)] * 2, [("gru", 3, 3, 1, True)], return_state=True, merge="sum"),
    Case("bidirectional_none", lambda **k: layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True, **k),
                                                                merge_mode=None),
         "bidirectional", [(F, 3), (3, 3), (3,)] * 2, [("simple", 3, 3, 1, False)], return_sequences=True, merge=None),
    Case("bidirectional_ave_mul", lambda **k: layers.Bidirectional(layers.LSTM(3, **k), merge_mode="mul"),
         "bidirectional", [(F, 12), (3, 12), (12,)] * 2, [LSTM3], merge="mul"),
    Case("time_distributed", lambda: layers.TimeDistributed(layers.Dense(3)), "time_distributed",
         [(F, 3), (3,)]),
]
RNN_CASES = [c for c in CASES if c.kind != "time_distributed"]


def _inputs(seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal((B, T, F)).astype(dtype)


def _built(case, dtype="float32", seed=1):
    """The case's layer, built, with random weights (so biases and forget gates are exercised too)."""
    layer = _with_dtype(case, dtype)
    layer(_inputs(dtype=dtype))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.weights])
    return layer


def _with_dtype(case, dtype):
    """The case's layer with every (nested) layer in ``dtype``."""
    layer = case.make()
    if dtype == "float32":
        return layer
    config = pyml.layers.serialize(layer)

    def set_dtype(c):
        if isinstance(c, dict):
            if "dtype" in c:
                c["dtype"] = dtype
            for v in c.values():
                set_dtype(v)
        elif isinstance(c, list):
            for v in c:
                set_dtype(v)

    set_dtype(config)
    return pyml.layers.deserialize(config, custom_objects={"MinimalCell": MinimalCell})


def _outputs(layer, x, **kwargs):
    out = layer(x, **kwargs)
    return [o.numpy() for o in out] if isinstance(out, (list, tuple)) else [out.numpy()]


# ---- table-driven checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_weights_have_keras_shapes_and_order(case):
    layer = _built(case)
    assert [tuple(w.shape) for w in layer.get_weights()] == case.shapes
    assert all(w.name.startswith(layer.name + "/") for w in layer.weights)
    assert len({w.name for w in layer.weights}) == len(layer.weights)


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("case", CASES, ids=repr)
def test_forward_matches_the_keras_equations(case, masked):
    layer = _built(case)
    x = _inputs()
    mask = MASK if masked else None
    # TimeDistributed takes no mask (it passes masks on untouched: test_compute_mask_follows_keras)
    got = _outputs(layer, x, **({"mask": mask} if masked and case.kind != "time_distributed" else {}))
    want = reference(case, [w.astype(np.float64) for w in layer.get_weights()], x.astype(np.float64), mask)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_gradients_match_central_differences(case):
    """d <g, outputs> / d (weights, inputs), float64, masked (RNNs): tape vs central differences along a random
    direction."""
    layer = _built(case, dtype="float64")
    rng = np.random.default_rng(3)
    x = pyml.Tensor(_inputs(dtype="float64"), requires_grad=True)
    kwargs = {"mask": MASK} if case.kind != "time_distributed" else {}
    weights = layer.trainable_weights
    cotangents = [rng.standard_normal(o.shape) for o in _outputs(layer, x.numpy(), **kwargs)]

    def loss(inputs):
        out = layer(inputs, **kwargs)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        return sum(ops.sum(o * c) for o, c in zip(out, cotangents))

    with pyml.GradientTape() as tape:
        value = loss(x)
    grads = tape.gradient(value, weights + [x])
    assert all(g is not None for g in grads)
    directions = [rng.standard_normal(w.shape) for w in weights + [x]]
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, directions))
    originals = [w.numpy().copy() for w in weights]
    eps, values = 1e-6, []
    for sign in (1, -1):
        for w, o, d in zip(weights, originals, directions):
            w.assign(o + sign * eps * d)
        values.append(float(loss(pyml.Tensor(x.numpy() + sign * eps * directions[-1]))))
    for w, o in zip(weights, originals):
        w.assign(o)
    numeric = (values[0] - values[1]) / (2 * eps)
    assert np.isclose(analytic, numeric, rtol=1e-6, atol=1e-8), f"tape {analytic} vs numeric {numeric}"


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_config_round_trip(case):
    layer = case.make()
    config = pyml.layers.serialize(layer)
    custom = {"MinimalCell": MinimalCell}
    again = pyml.layers.deserialize(config, custom_objects=custom)
    assert pyml.layers.serialize(again) == config
    assert type(again) is type(layer)


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_save_and_load_give_the_same_outputs(case, tmp_path):
    inputs = pyml.Input(shape=(T, F))
    layer = _built(case)
    out = layer(inputs)
    model = pyml.Model(inputs, list(out) if isinstance(out, (list, tuple)) else out)
    path = tmp_path / "m.pyml"
    model.save(path)
    loaded = pyml.load_model(path, custom_objects={"MinimalCell": MinimalCell})
    x = _inputs(seed=5)
    before, after = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    before, after = (before, after) if isinstance(before, list) else ([before], [after])
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights]


# ---- named rules --------------------------------------------------------------------------------------------
def test_lstm_gate_order_is_i_f_c_o():
    """Only the input-gate and cell blocks of the bias are large: c = sigmoid(i) * tanh(g) with f and o at
    sigmoid(0); swapping any two blocks changes the answer."""
    layer = layers.LSTM(1, return_state=True)
    layer(np.zeros((1, 1, 1), "float32"))
    layer.set_weights([np.zeros((1, 4)), np.zeros((1, 4)), np.array([2.0, 0.0, 1.0, -1.0])])  # i, f, c, o
    _, h, c = layer(np.zeros((1, 1, 1), "float32"))
    want_c = sigmoid(2.0) * np.tanh(1.0)  # f * c_prev = 0
    np.testing.assert_allclose(c.numpy().item(), want_c, rtol=1e-6)
    np.testing.assert_allclose(h.numpy().item(), sigmoid(-1.0) * np.tanh(want_c), rtol=1e-6)


def test_gru_reset_after_gate_order_is_z_r_h_with_the_recurrent_bias_inside_the_reset():
    layer = layers.GRU(1)
    h0 = np.array([[0.5]], "float32")
    layer(np.zeros((1, 1, 1), "float32"), initial_state=[h0])
    # input bias (z, r, h) = (0, 3, 0); recurrent bias (z, r, h) = (0, 0, 2); no kernels
    layer.set_weights([np.zeros((1, 3)), np.zeros((1, 3)), np.array([[0.0, 3.0, 0.0], [0.0, 0.0, 2.0]])])
    h = layer(np.zeros((1, 1, 1), "float32"), initial_state=[h0]).numpy().item()
    z, r = sigmoid(0.0), sigmoid(3.0)
    np.testing.assert_allclose(h, z * 0.5 + (1 - z) * np.tanh(r * 2.0), rtol=1e-6)


def test_masked_steps_carry_the_state_and_the_last_output_is_the_last_real_step():
    layer = layers.LSTM(3, return_sequences=True, return_state=True)
    x = _inputs()
    seq, h, c = layer(x, mask=MASK)
    seq = seq.numpy()
    np.testing.assert_array_equal(seq[0, 4], seq[0, 3])  # trailing masked steps repeat the last real state
    np.testing.assert_array_equal(seq[0, 5], seq[0, 3])
    np.testing.assert_array_equal(seq[1, 0], 0)  # leading masked steps carry the zero initial state
    np.testing.assert_array_equal(h.numpy()[0], seq[0, 3])
    short = layer(x[:1, :4])[1]  # the same as running the real steps alone
    np.testing.assert_allclose(h.numpy()[:1], short.numpy(), rtol=1e-6)


def test_bidirectional_zeroes_masked_outputs_when_returning_sequences():
    out = layers.Bidirectional(layers.GRU(2, return_sequences=True))(_inputs(), mask=MASK).numpy()
    np.testing.assert_array_equal(out[~MASK], 0)
    assert np.all(np.abs(out[MASK]).sum(-1) > 0)


def test_compute_mask_follows_keras():
    mask = pyml.Tensor(MASK)
    assert layers.LSTM(2, return_sequences=True).compute_mask(None, mask) is mask
    assert layers.LSTM(2).compute_mask(None, mask) is None
    assert layers.GRU(2, return_sequences=True, return_state=True).compute_mask(None, mask) == [mask, None]
    assert layers.Bidirectional(layers.LSTM(2, return_sequences=True)).compute_mask(None, mask) is mask
    assert layers.TimeDistributed(layers.Dense(2)).compute_mask(None, mask) is mask


def test_initial_state_and_unroll_give_keras_numbers():
    case = CASES[1]  # lstm
    layer = _built(case)
    x = _inputs()
    rng = np.random.default_rng(4)
    h0, c0 = rng.standard_normal((B, 3)).astype("float32"), rng.standard_normal((B, 3)).astype("float32")
    got = layer(x, initial_state=[h0, c0]).numpy()
    w = [a.astype(np.float64) for a in layer.get_weights()]
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    for t in range(T):
        h, c = step("lstm", w, x[:, t].astype(np.float64), [h, c])
    np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-6)
    unrolled = layers.LSTM.from_config({**layer.get_config(), "unroll": True, "name": "unrolled"})
    unrolled(x)
    unrolled.set_weights(layer.get_weights())
    np.testing.assert_array_equal(unrolled(x, initial_state=[h0, c0]).numpy(), got)


def test_recurrent_dropout_runs_the_step_loop_and_only_while_training():
    layer = layers.LSTM(3, recurrent_dropout=0.5, dropout=0.3, seed=1)
    x = _inputs()
    plain = layers.LSTM.from_config({**layer.get_config(), "dropout": 0.0, "recurrent_dropout": 0.0, "name": "p"})
    plain(x)
    layer(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(x, training=False).numpy(), plain(x).numpy())
    assert not np.allclose(layer(x, training=True).numpy(), plain(x).numpy())


# ---- training -----------------------------------------------------------------------------------------------
def _sequence_model(rnn):
    return pyml.Sequential([pyml.Input(shape=(8,), dtype="int32"), layers.Embedding(12, 6), rnn,
                            layers.Dense(2, activation="softmax")])


@pytest.mark.parametrize("make", [
    lambda: layers.LSTM(5, dropout=0.2, seed=3),
    lambda: layers.GRU(5, go_backwards=True),
    lambda: layers.Bidirectional(layers.SimpleRNN(4)),
    lambda: layers.LSTM(4, recurrent_dropout=0.3, seed=2),  # the step loop, traced
], ids=["lstm_dropout", "gru_backwards", "bidirectional_simple", "lstm_recurrent_dropout"])
def test_compiled_step_matches_the_eager_step(make):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 12, (40, 8)).astype("int32"), rng.integers(0, 2, 40)
    weights = []
    for eager in (True, False):
        pyml.set_random_seed(0)
        model = _sequence_model(make())
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=eager,
                      jit_compile=None if eager else True)
        pyml.set_random_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the compiled step must trace, not fall back
            model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        weights.append(model.get_weights())
    for eager_w, compiled_w in zip(*weights):
        np.testing.assert_allclose(compiled_w, eager_w, rtol=1e-4, atol=1e-6)


def test_bidirectional_lstm_learns_whether_token_7_comes_before_token_3():
    """Sequences of 12 tokens from 1..9 holding one 7 and one 3 at random places; label: 7 comes first.
    Embedding -> Bidirectional(LSTM) -> Dense reaches >= 90 % on held-out sequences."""
    rng = np.random.default_rng(0)
    n = 2400
    x = rng.integers(1, 10, (n, 12))
    x[np.isin(x, (3, 7))] = 5
    pos = np.array([rng.choice(12, 2, replace=False) for _ in range(n)])
    x[np.arange(n), pos[:, 0]] = 7
    x[np.arange(n), pos[:, 1]] = 3
    y = (pos[:, 0] < pos[:, 1]).astype("int32")
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(12,), dtype="int32"), layers.Embedding(10, 8),
                             layers.Bidirectional(layers.LSTM(12)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pyml.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x[:2000], y[:2000], batch_size=32, epochs=6, verbose=0)
    accuracy = np.mean((model.predict(x[2000:], verbose=0)[:, 0] > 0.5) == y[2000:])
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.3f}"


# ---- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", RNN_CASES, ids=repr)
def test_2d_input_is_refused_naming_the_layer_and_shape(case):
    layer = case.make()
    with pytest.raises(ValueError, match=rf'"{layer.name}".*\(3, 5\)'):
        layer(np.ones((3, 5), "float32"))


@pytest.mark.parametrize("case", RNN_CASES, ids=repr)
def test_a_mask_of_the_wrong_shape_is_refused(case):
    layer = case.make()
    with pytest.raises(ValueError, match=r"mask.*\(3, 6\).*\(3, 5\)"):
        layer(_inputs(), mask=np.ones((3, 5), bool))


def test_stateful_is_refused_clearly():
    with pytest.raises(ValueError, match="stateful=True"):
        layers.LSTM(3, stateful=True)


def test_second_order_gradients_through_an_rnn_raise():
    layer = layers.GRU(2)
    x = pyml.Tensor(_inputs(), requires_grad=True)
    out = ops.sum(layer(x))
    (g,) = pyml.autodiff.grad([out], [x], create_graph=True)
    with pytest.raises(pyml.errors.OpError, match="rnn_scan_grad: has no gradient"):
        pyml.autodiff.grad([ops.sum(g * g)], [x])
