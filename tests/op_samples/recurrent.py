"""Samples for ``rnn_scan`` (and its gradient helper ``rnn_scan_grad``), with a float64 reference written from the
documented Keras 3 step equations (keras/src/layers/rnn/{simple_rnn,lstm,gru}.py), one sample at a time per
batch row, independently of pyml's batched forward.

Covers the three cells, masked and not, go_backwards, GRU with reset_after true and false, each activation
of the closed set, and batch 1. Masks start and end with masked steps (the state must be carried both ways).
"""
import numpy as np

from tests.op_samples import Sample

_rng = np.random.default_rng(17)
GATES = {"simple": 1, "gru": 3, "lstm": 4}


def normal(*shape, scale=1.0):
    return (_rng.standard_normal(shape) * scale).astype(np.float32)


def _act(name, x):
    return {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "relu": lambda v: np.maximum(v, 0),
            "linear": lambda v: v, "hard_sigmoid": lambda v: np.clip((v + 3) / 6, 0, 1),
            "softsign": lambda v: v / (1 + np.abs(v))}[name](x)


NAMES = {"simple": ["xp", "u", "h0"], "gru": ["xp", "u", "b_rec", "h0"], "lstm": ["xp", "u", "h0", "c0"]}


def scan_reference(*inputs, cell, units, activation, recurrent_activation, go_backwards, reset_after, masked,
                   rec_shift=None, blend=False, record=None):
    """Keras's step equations, one batch row and one step at a time, in float64.

    For the gradient helper's reference: ``rec_shift[b, t]`` is added to GRU's recurrent pre-activation,
    ``blend`` makes a step ``m * new + (1 - m) * old`` (equal for 0/1 masks, differentiable in m), and
    ``record[b, t]`` receives GRU's ``r * h_prev``."""
    names = NAMES[cell]
    v = {n: a.astype(np.float64) for n, a in zip(names + ["mask"] * masked, inputs)}
    batch, steps, _ = v["xp"].shape
    H = units
    a = lambda x: _act(activation, x)  # noqa: E731
    s = lambda x: _act(recurrent_activation, x)  # noqa: E731
    out = np.zeros((batch, steps, (2 if cell == "lstm" else 1) * H))
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for b in range(batch):
        h = v["h0"][b]
        c = v["c0"][b] if cell == "lstm" else None
        for k, t in enumerate(order):
            x = v["xp"][b, t]
            if cell == "simple":
                h_new, c_new = a(x + h @ v["u"]), None
            elif cell == "lstm":
                z = x + h @ v["u"]
                i, f, g, o = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]  # Keras gate order i, f, c, o
                c_new = s(f) * c + s(i) * a(g)
                h_new = s(o) * a(c_new)
            else:
                u_z, u_r, u_h = v["u"][:, :H], v["u"][:, H:2 * H], v["u"][:, 2 * H:]  # Keras gate order z, r, h
                x_z, x_r, x_h = x[:H], x[H:2 * H], x[2 * H:]
                if reset_after:
                    rec = h @ v["u"] + v["b_rec"] + (0 if rec_shift is None else rec_shift[b, t])
                    z = s(x_z + rec[:H])
                    r = s(x_r + rec[H:2 * H])
                    hh = a(x_h + r * rec[2 * H:])
                else:
                    z = s(x_z + h @ u_z)
                    r = s(x_r + h @ u_r)
                    hh = a(x_h + (r * h) @ u_h)
                    if record is not None:
                        record[b, t] = r * h
                h_new, c_new = z * h + (1 - z) * hh, None
            if masked and blend:
                m = v["mask"][b, t]
                h_new = m * h_new + (1 - m) * h
                c_new = None if c is None else m * c_new + (1 - m) * c
            elif masked and v["mask"][b, t] == 0:  # a masked step carries every state unchanged
                h_new, c_new = h, c
            h, c = h_new, c_new
            out[b, k, :H] = h
            if cell == "lstm":
                out[b, k, H:] = c
    return out


def scan_inputs(cell, batch, steps, units, masked, rng_mask=None):
    G = GATES[cell]
    inputs = [normal(batch, steps, G * units), normal(units, G * units, scale=0.5)]
    if cell == "gru":
        inputs.append(normal(G * units, scale=0.5))
    inputs.append(normal(batch, units))
    if cell == "lstm":
        inputs.append(normal(batch, units))
    if masked:
        mask = (_rng.random((batch, steps)) > 0.4).astype(np.float32)
        mask[:, 0] = 0  # leading and trailing masked steps: the state is carried both ways
        mask[:, -1] = 0
        mask[0, 1] = 1
        inputs.append(mask)
    return inputs


def scan_sample(cell, batch=2, steps=5, units=3, masked=False, go_backwards=False, reset_after=False,
                activation="tanh", recurrent_activation="sigmoid", note=""):
    attrs = dict(cell=cell, units=units, activation=activation, recurrent_activation=recurrent_activation,
                 go_backwards=go_backwards, reset_after=reset_after, masked=masked)
    label = "-".join([cell, *(["masked"] if masked else []), *(["backwards"] if go_backwards else []),
                      *(["reset_after"] if reset_after else []), *([note] if note else [])])
    return Sample("rnn_scan", scan_inputs(cell, batch, steps, units, masked), attrs, scan_reference, note=label)


def _numeric_grad(fn, x, g, eps=1e-6):
    """d <g, fn(x)> / dx by central differences, element by element (float64)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[idx] = eps
        grad[idx] = np.sum((fn(x + step) - fn(x - step)) * g) / (2 * eps)
    return grad


def grad_reference(g, out, *inputs, **attrs):
    """rnn_scan_grad's packed output, each block by its definition: dx, dh0, dc0, dmask and GRU's drec are
    central differences of the reference (in xp, h0, c0, mask, a shift of the recurrent pre-activation);
    GRU's ``rh`` is the ``r * h_prev`` the reference records."""
    cell, H, masked = attrs["cell"], attrs["units"], attrs["masked"]
    v = dict(zip(NAMES[cell] + ["mask"] * masked, [a.astype(np.float64) for a in inputs]))
    batch, steps, width = v["xp"].shape

    def run(**changed):
        shift = changed.pop("rec_shift", None)
        values = {**v, **changed}
        return scan_reference(*[values[n] for n in NAMES[cell] + ["mask"] * masked], **attrs, rec_shift=shift,
                              blend=True)

    blocks = {"dx": _numeric_grad(lambda x: run(xp=x), v["xp"], g)}
    if cell == "gru" and attrs["reset_after"]:
        blocks["drec"] = _numeric_grad(lambda d: run(rec_shift=d), np.zeros_like(v["xp"]), g)
    elif cell == "gru":
        blocks["rh"] = np.zeros((batch, steps, H))
        scan_reference(*inputs, **attrs, record=blocks["rh"])
    if masked:
        blocks["dmask"] = _numeric_grad(lambda m: run(mask=m), v["mask"], g)[:, :, None]
    rows = np.concatenate(list(blocks.values()), axis=2)
    last = np.zeros((batch, 1, rows.shape[2]))
    last[:, 0, :H] = _numeric_grad(lambda h: run(h0=h), v["h0"], g)
    if cell == "lstm":
        last[:, 0, H:2 * H] = _numeric_grad(lambda c: run(c0=c), v["c0"], g)
    return np.concatenate([rows, last], axis=1)


def grad_sample(scan):
    """An rnn_scan_grad sample on ``scan``'s inputs (in float64, as its reference is central differences)."""
    inputs = [x.astype(np.float64) for x in scan.inputs]
    out = scan_reference(*inputs, **scan.attrs)
    g = _rng.standard_normal(out.shape)
    return Sample("rnn_scan_grad", [g, out, *inputs], scan.attrs, grad_reference, grad=False,
                  note=scan.note + "-float64 (no second order: its VJP raises)")


SCAN_SAMPLES = [
    scan_sample("simple"),
    scan_sample("simple", masked=True, go_backwards=True, activation="relu", note="relu"),
    scan_sample("simple", batch=1, steps=7, activation="softsign", note="batch1-softsign"),
    scan_sample("lstm"),
    scan_sample("lstm", masked=True),
    scan_sample("lstm", go_backwards=True),
    scan_sample("lstm", masked=True, go_backwards=True, batch=1),
    scan_sample("lstm", recurrent_activation="hard_sigmoid", note="hard_sigmoid"),
    scan_sample("gru", reset_after=True),
    scan_sample("gru", reset_after=False),
    scan_sample("gru", reset_after=True, masked=True, go_backwards=True),
    scan_sample("gru", reset_after=False, masked=True),
    scan_sample("gru", reset_after=False, go_backwards=True, activation="linear", note="linear"),
]
GRAD_SAMPLES = [grad_sample(SCAN_SAMPLES[i]) for i in (1, 3, 4, 6, 10, 11)]
SAMPLES = SCAN_SAMPLES + GRAD_SAMPLES
