"""A numpy reference of the ``rnn_scan`` primitive, written from the contract's equations (RNN_CONTRACT.md,
Keras 3's ``keras/src/layers/rnn``), independent of ``pyml/ops/recurrent.py``: the export tests compare the
WGSL, JS and wasm kernels with it, and with the primitive's own forward.

``random_case`` builds inputs of a cell in the contract's order: ``xp, u[, b_rec], h0[, c0][, mask]``."""
import numpy as np

GATES = {"simple": 1, "gru": 3, "lstm": 4}

ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,  # Keras 3: relu6(x + 3) / 6
    "softsign": lambda x: x / (1 + np.abs(x)),
}


def rnn_scan(*inputs, cell, units, activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
             reset_after=False, masked=False):
    """``out [B, T, S*H]``: the state after each processed step (h, then c for the LSTM), in float64."""
    inputs = [np.asarray(x, np.float64) for x in inputs]
    mask = inputs.pop() if masked else None
    xp, u = inputs[0], inputs[1]
    b_rec = inputs.pop(2) if cell == "gru" else None
    h, c = inputs[2], (inputs[3] if cell == "lstm" else None)
    a, s, H = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation], units
    steps = xp.shape[1]
    out = []
    for k in range(steps):
        t = steps - 1 - k if go_backwards else k
        x = xp[:, t]
        if cell == "simple":
            h_new, c_new = a(x + h @ u), None
        elif cell == "lstm":
            z = x + h @ u
            i, f, g, o = (z[:, n * H:(n + 1) * H] for n in range(4))
            c_new = s(f) * c + s(i) * a(g)
            h_new = s(o) * a(c_new)
        else:
            xz, xr, xh = (x[:, n * H:(n + 1) * H] for n in range(3))
            if reset_after:
                rec = h @ u + b_rec
                z, r = s(xz + rec[:, :H]), s(xr + rec[:, H:2 * H])
                hh = a(xh + r * rec[:, 2 * H:])
            else:
                z, r = s(xz + h @ u[:, :H]), s(xr + h @ u[:, H:2 * H])
                hh = a(xh + (r * h) @ u[:, 2 * H:])
            h_new, c_new = z * h + (1 - z) * hh, None
        if mask is not None:  # a masked step (m = 0) carries every state unchanged: a blend, as pyml computes it
            m = mask[:, t:t + 1]
            h_new = m * h_new + (1 - m) * h
            c_new = m * c_new + (1 - m) * c if c is not None else None
        h, c = h_new, c_new
        out.append(np.concatenate([h, c], axis=1) if cell == "lstm" else h)
    return np.stack(out, axis=1)


def random_case(cell, batch, steps, units, masked=False, seed=0, scale=0.5):
    """Float32 inputs of ``rnn_scan`` for ``cell``, in the contract's order (a mask with padding at the end of
    each row and one hole in the middle when ``masked``)."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]

    def normal(*shape, s=scale):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    inputs = [normal(batch, steps, G * units, s=1.0), normal(units, G * units, s=scale / np.sqrt(units) * 2)]
    if cell == "gru":
        inputs.append(normal(G * units))
    inputs.append(normal(batch, units))
    if cell == "lstm":
        inputs.append(normal(batch, units))
    if masked:
        mask = np.ones((batch, steps), np.float32)
        for b in range(batch):
            mask[b, steps - b % 3 - 1:] = 0  # padding at the end, different per row
            mask[b, steps // 2] = 0
        inputs.append(mask)
    return inputs
