"""Recurrence: ``rnn_scan``, one SimpleRNN/LSTM/GRU layer's loop over time, as a single primitive.

The input projection ``xp = x @ kernel + bias`` of every step is an ordinary matmul outside the loop (one big
GEMM); ``rnn_scan`` runs only what must be sequential: ``state = step(xp[:, t], state @ recurrent_kernel)``.
One primitive, so an exported model takes one dispatch per step with the gate maths fused (the contract is
docs/internals.md §1 "Recurrence"). Gate blocks are in Keras order: LSTM ``i, f, c, o``; GRU ``z, r, h``.

    >>> B, T, H = 2, 5, 3
    >>> xp = pyml.Tensor(np.zeros((B, T, 4 * H), "float32"))
    >>> u = pyml.Tensor(np.zeros((H, 4 * H), "float32"))
    >>> h0 = c0 = pyml.Tensor(np.zeros((B, H), "float32"))
    >>> pyml.ops.rnn_scan("lstm", xp, u, h0, c0).shape   # h then c for every step
    (2, 5, 6)

Its gradient is a second primitive, ``rnn_scan_grad`` (backpropagation through time in one NumPy loop), whose
packed output the VJP slices; the recurrent kernel's gradient is then one batched matmul over all steps.
"""
import numpy as np

from pyml import dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import cast, convert_to_tensor
from pyml.ops.linalg import matmul
from pyml.ops.movement import concatenate, expand_dims, transpose
from pyml.ops.reduction import sum
from pyml.ops.registry import Spec, bind, primitive, refuse_gradient

__all__ = ["rnn_scan"]

GATES = {"simple": 1, "gru": 3, "lstm": 4}  # G: gate blocks of width H in xp and u
STATES = {"simple": 1, "gru": 1, "lstm": 2}  # S: states per step in the output (h, and c for lstm)


# ---- activations: (forward, derivative from input x and output y), NumPy on backend arrays --------------
def _sigmoid(xp, x):
    # 1/(1+e^-x) = (1 + tanh(x/2)) / 2: never overflows, and three in-place ufuncs are ~3x faster than the
    # select-based stable form; the scan calls it on every step
    y = xp.tanh(x * 0.5)
    y *= 0.5
    y += 0.5
    return y


def _hard_sigmoid(xp, x):
    return xp.clip(x / 6 + 0.5, 0, 1)  # Keras 3: relu6(x + 3) / 6


ACTIVATIONS = {
    "tanh": (lambda xp, x: xp.tanh(x), lambda xp, x, y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda xp, x, y: y * (1 - y)),
    "relu": (lambda xp, x: xp.maximum(x, 0), lambda xp, x, y: (x > 0).astype(x.dtype)),
    "linear": (lambda xp, x: x, lambda xp, x, y: xp.ones_like(x)),
    "hard_sigmoid": (_hard_sigmoid, lambda xp, x, y: ((x > -3) & (x < 3)).astype(x.dtype) / 6),
    "softsign": (lambda xp, x: x / (1 + xp.abs(x)), lambda xp, x, y: 1 / (1 + xp.abs(x)) ** 2),
}


def input_names(cell, masked):
    """The primitive's inputs, in order, for ``cell`` (the contract's table)."""
    names = {"simple": ["xp", "u", "h0"], "gru": ["xp", "u", "b_rec", "h0"], "lstm": ["xp", "u", "h0", "c0"]}[cell]
    return names + ["mask"] if masked else names


# ---- shape rule ----------------------------------------------------------------------------------------
def _check_attrs(op, cell, units, activation, recurrent_activation, go_backwards, reset_after, masked):
    if cell not in GATES:
        raise OpError(op, f"cell must be one of {sorted(GATES)}. Received: cell={cell!r}")
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise OpError(op, f"units must be a positive int. Received: units={units!r}")
    for name, value in (("activation", activation), ("recurrent_activation", recurrent_activation)):
        if value not in ACTIVATIONS:
            raise OpError(op, f"{name} must be one of {sorted(ACTIVATIONS)}. Received: {name}={value!r}")
    for name, value in (("go_backwards", go_backwards), ("reset_after", reset_after), ("masked", masked)):
        if not isinstance(value, bool):
            raise OpError(op, f"{name} must be a bool. Received: {name}={value!r}")
    if reset_after and cell != "gru":
        raise OpError(op, f"reset_after applies to cell 'gru' only. Received: cell={cell!r}, reset_after=True")


def _scan_rule(*specs, cell, units, activation, recurrent_activation, go_backwards, reset_after, masked,
               op="rnn_scan"):
    _check_attrs(op, cell, units, activation, recurrent_activation, go_backwards, reset_after, masked)
    names = input_names(cell, masked)
    shapes = ", ".join(f"{n}={s.shape}" for n, s in zip(names, specs))
    if len(specs) != len(names):
        raise OpError(op, f"cell {cell!r} (masked={masked}) takes inputs ({', '.join(names)}). "
                          f"Received: {len(specs)} inputs with shapes {[s.shape for s in specs]}")
    dtype = specs[0].dtype
    if dtype not in dtypes.FLOATS or any(s.dtype != dtype for s in specs):
        raise OpError(op, f"every input must have one float dtype. Received: dtypes {[s.dtype for s in specs]}")
    xp = specs[0].shape
    if len(xp) != 3 or xp[1] < 1:
        raise OpError(op, f"xp must have shape (batch, steps >= 1, gates * units). Received: {shapes}")
    batch, steps = xp[0], xp[1]
    h, g = units, GATES[cell] * units
    expected = {"xp": (batch, steps, g), "u": (h, g), "b_rec": (g,), "h0": (batch, h), "c0": (batch, h),
                "mask": (batch, steps)}
    wrong = [n for n, s in zip(names, specs) if s.shape != expected[n]]
    if wrong:
        want = ", ".join(f"{n}={expected[n]}" for n in names)
        raise OpError(op, f"cell {cell!r} with units={units} expects shapes {want} "
                          f"({', '.join(wrong)} differ). Received: {shapes}")
    return Spec((batch, steps, STATES[cell] * units), dtype)


# ---- forward -------------------------------------------------------------------------------------------
def _unpack(arrays, cell, masked):
    """(xp, u, b_rec, h0, c0, mask) with None for those the cell does not take."""
    values = dict(zip(input_names(cell, masked), arrays))
    return tuple(values.get(n) for n in ("xp", "u", "b_rec", "h0", "c0", "mask"))


def _step(xp, cell, x_t, h, c, u, b_rec, act, rec_act, reset_after):
    """One step from state (h, c): the new (unmasked) state and what the backward pass needs of it."""
    H = h.shape[1]
    if cell == "simple":
        z = x_t + h @ u
        return act[0](xp, z), None, (z,)
    if cell == "lstm":
        z = x_t + h @ u
        s = rec_act[0](xp, z)  # one call over all four blocks (the c block's is unused): fewer NumPy calls
        i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
        g = act[0](xp, z[:, 2 * H:3 * H])
        c_new = f * c + i * g
        a_c = act[0](xp, c_new)
        return o * a_c, c_new, (z, i, f, g, o, c_new, a_c)
    if reset_after:
        rec = h @ u + b_rec
        z_pre = x_t[:, :2 * H] + rec[:, :2 * H]
        zr = rec_act[0](xp, z_pre)
        r = zr[:, H:]
        hh_pre = x_t[:, 2 * H:] + r * rec[:, 2 * H:]
    else:
        rec = None
        z_pre = x_t[:, :2 * H] + h @ u[:, :2 * H]
        zr = rec_act[0](xp, z_pre)
        r = zr[:, H:]
        hh_pre = x_t[:, 2 * H:] + (r * h) @ u[:, 2 * H:]
    z = zr[:, :H]
    hh = act[0](xp, hh_pre)
    return z * h + (1 - z) * hh, None, (z_pre, zr, hh_pre, hh, rec)


def _scan_forward(xp, *arrays, cell, units, activation, recurrent_activation, go_backwards, reset_after, masked):
    x, u, b_rec, h, c, mask = _unpack(arrays, cell, masked)
    act, rec_act = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    batch, steps, _ = x.shape
    out = xp.empty((batch, steps, STATES[cell] * units), dtype=x.dtype)
    with np.errstate(over="ignore", under="ignore"):
        for k in range(steps):
            t = steps - 1 - k if go_backwards else k
            h_new, c_new, _ = _step(xp, cell, x[:, t], h, c, u, b_rec, act, rec_act, reset_after)
            if masked:  # a blend rather than a select, so the output is differentiable in the mask too
                m = mask[:, t, None]
                h_new = m * h_new + (1 - m) * h
                c_new = None if c is None else m * c_new + (1 - m) * c
            h, c = h_new, c_new
            out[:, k, :units] = h
            if c is not None:
                out[:, k, units:] = c
    return out


# ---- gradient ------------------------------------------------------------------------------------------
def grad_layout(cell, units, reset_after, masked):
    """Column blocks of ``rnn_scan_grad``'s rows ``[:, t]`` (t in xp's time order): name -> (start, stop).

    ``dx``: cotangent of ``xp[:, t]``; ``drec``: of the recurrent pre-activation ``h @ u + b_rec`` (GRU with
    reset_after; elsewhere it equals ``dx``); ``rh``: ``r * h_prev`` (GRU without reset_after: the operand of
    ``u``'s h block, so its gradient is one matmul too); ``dmask``: cotangent of ``mask[:, t]``. Row ``T``
    holds ``dh0`` then ``dc0`` (lstm) from column 0.
    """
    width = GATES[cell] * units
    blocks = {"dx": (0, width)}
    if cell == "gru" and reset_after:
        blocks["drec"] = (width, 2 * width)
    elif cell == "gru":
        blocks["rh"] = (width, width + units)
    end = max(stop for _, stop in blocks.values())
    if masked:
        blocks["dmask"] = (end, end + 1)
    return blocks


def _grad_rule(g, out, *specs, **attrs):
    spec = _scan_rule(*specs, **attrs, op="rnn_scan_grad")
    if g.shape != spec.shape or out.shape != spec.shape or g.dtype != spec.dtype or out.dtype != spec.dtype:
        raise OpError("rnn_scan_grad", f"g and out must match rnn_scan's output {spec.shape} {spec.dtype}. "
                                       f"Received: g {g.shape} {g.dtype}, out {out.shape} {out.dtype}")
    batch, steps, _ = spec.shape
    blocks = grad_layout(attrs["cell"], attrs["units"], attrs["reset_after"], attrs["masked"])
    return Spec((batch, steps + 1, _width(blocks)), spec.dtype)


def _width(blocks):
    return max(stop for _, stop in blocks.values())


def _grad_forward(xp, g, out, *arrays, cell, units, activation, recurrent_activation, go_backwards, reset_after,
                  masked):
    """Backpropagation through time: walk the steps in reverse processing order, recomputing each step's gates
    from the stored states (cheaper in memory than keeping the gates, and the output stays the contract's)."""
    x, u, b_rec, h0, c0, mask = _unpack(arrays, cell, masked)
    act, rec_act = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    batch, steps, _ = x.shape
    H, lstm = units, cell == "lstm"
    blocks = grad_layout(cell, units, reset_after, masked)
    packed = xp.zeros((batch, steps + 1, _width(blocks)), x.dtype)
    dh = xp.zeros_like(h0)
    dc = xp.zeros_like(h0) if lstm else None
    with np.errstate(over="ignore", under="ignore"):
        for k in reversed(range(steps)):
            t = steps - 1 - k if go_backwards else k
            h = h0 if k == 0 else out[:, k - 1, :H]
            c = (c0 if k == 0 else out[:, k - 1, H:]) if lstm else None
            dh = dh + g[:, k, :H]
            if lstm:
                dc = dc + g[:, k, H:]
            h_new, c_new, saved = _step(xp, cell, x[:, t], h, c, u, b_rec, act, rec_act, reset_after)
            row = packed[:, t]
            if masked:
                m = mask[:, t, None]
                d_m = xp.sum(dh * (h_new - h), axis=1)
                if lstm:
                    d_m = d_m + xp.sum(dc * (c_new - c), axis=1)
                row[:, blocks["dmask"][0]] = d_m
                dh, carry_h = m * dh, (1 - m) * dh
                if lstm:
                    dc, carry_c = m * dc, (1 - m) * dc
            dh, dc = _step_backward(xp, cell, saved, dh, dc, h, c, u, row, blocks, act, rec_act, reset_after)
            if masked:
                dh = dh + carry_h
                if lstm:
                    dc = dc + carry_c
    packed[:, steps, :H] = dh
    if lstm:
        packed[:, steps, H:2 * H] = dc
    return packed


def _step_backward(xp, cell, saved, dh, dc, h, c, u, row, blocks, act, rec_act, reset_after):
    """Cotangents of one step: writes dx (and drec / rh) into ``row``; returns (dh_prev, dc_prev)."""
    H = h.shape[1]
    dx = row[:, slice(*blocks["dx"])]
    if cell == "simple":
        (z,) = saved
        dx[...] = dh * act[1](xp, z, act[0](xp, z))
        return dx @ u.T, None
    if cell == "lstm":
        z, i, f, g, o, c_new, a_c = saved
        dc = dc + dh * o * act[1](xp, c_new, a_c)
        for k, (y, d) in enumerate(((i, dc * g), (f, dc * c), (g, dc * i), (o, dh * a_c))):
            derivative = act if k == 2 else rec_act
            dx[:, k * H:(k + 1) * H] = d * derivative[1](xp, z[:, k * H:(k + 1) * H], y)
        return dx @ u.T, dc * f
    z_pre, zr, hh_pre, hh, rec = saved
    z, r = zr[:, :H], zr[:, H:]
    d_hh_pre = dh * (1 - z) * act[1](xp, hh_pre, hh)
    dx[:, 2 * H:] = d_hh_pre
    if reset_after:
        dr = d_hh_pre * rec[:, 2 * H:]
    else:
        d_rh = d_hh_pre @ u[:, 2 * H:].T
        dr = d_rh * h
        row[:, slice(*blocks["rh"])] = r * h
    d_zr = xp.concatenate([dh * (h - hh), dr], axis=1)
    dx[:, :2 * H] = d_zr * rec_act[1](xp, z_pre, zr)
    if reset_after:
        drec = row[:, slice(*blocks["drec"])]
        drec[:, :2 * H] = dx[:, :2 * H]
        drec[:, 2 * H:] = d_hh_pre * r
        return drec @ u.T + dh * z, None
    return dx[:, :2 * H] @ u[:, :2 * H].T + d_rh * r + dh * z, None


def _scan_vjp(g, inputs, out, attrs):
    cell, H, masked = attrs["cell"], attrs["units"], attrs["masked"]
    names = input_names(cell, masked)
    x = dict(zip(names, inputs))
    packed = bind("rnn_scan_grad", g, out, *inputs, **attrs)
    steps = out.shape[1]
    blocks = grad_layout(cell, H, attrs["reset_after"], masked)
    rows = packed[:, :steps]
    dx = rows[:, :, slice(*blocks["dx"])]
    # the state before each step, in xp's time order (out is in processing order)
    h_prev = concatenate([expand_dims(x["h0"], 1), out[:, :steps - 1, :H]], axis=1)
    if attrs["go_backwards"]:
        h_prev = h_prev[:, ::-1]

    def weight_grad(operand, d):  # sum over batch and time of operandᵀ @ d: one batched matmul
        return sum(matmul(transpose(operand, (0, 2, 1)), d), axis=0)

    def du():
        if cell == "gru" and attrs["reset_after"]:
            return weight_grad(h_prev, rows[:, :, slice(*blocks["drec"])])
        if cell == "gru":
            return concatenate([weight_grad(h_prev, dx[:, :, :2 * H]),
                                weight_grad(rows[:, :, slice(*blocks["rh"])], dx[:, :, 2 * H:])], axis=1)
        return weight_grad(h_prev, dx)

    # b_rec is unused without reset_after (the contract), so it has no gradient then
    db_rec = (lambda: sum(rows[:, :, slice(*blocks["drec"])], axis=(0, 1))) if attrs["reset_after"] else None
    cotangents = {"xp": dx, "u": du, "b_rec": db_rec, "h0": lambda: packed[:, steps, :H],
                  "c0": lambda: packed[:, steps, H:2 * H], "mask": lambda: rows[:, :, blocks["dmask"][0]]}
    return tuple(cotangents[n] for n in names)


rnn_scan_p = primitive(
    "rnn_scan",
    shape=_scan_rule,
    forward=_scan_forward,
    vjp=_scan_vjp,
    doc="One recurrent layer's loop over time (simple/lstm/gru cell) on a precomputed input projection.",
)
rnn_scan_grad_p = primitive(
    "rnn_scan_grad",
    shape=_grad_rule,
    forward=_grad_forward,
    vjp=refuse_gradient("rnn_scan_grad", "second-order gradients through recurrent layers are not supported "
                        "(the BPTT kernel has no gradient of its own): take one gradient of a model with "
                        "SimpleRNN/LSTM/GRU layers, not a gradient of a gradient"),
    doc="rnn_scan's backward pass (BPTT), every cotangent packed in one output that rnn_scan's VJP slices.",
)


# ---- public wrapper ------------------------------------------------------------------------------------
def rnn_scan(cell, xp, recurrent_kernel, *states, recurrent_bias=None, mask=None, activation="tanh",
             recurrent_activation="sigmoid", go_backwards=False, reset_after=False):
    """Run a recurrent cell over time on a precomputed input projection; returns every step's state.

    Args:
        cell: ``"simple"``, ``"lstm"`` or ``"gru"``.
        xp: ``(batch, steps, G * units)``, ``inputs @ kernel + bias`` (G = 1, 4, 3; Keras gate order).
        recurrent_kernel: ``(units, G * units)``, Keras's ``recurrent_kernel``.
        *states: ``h0`` (and ``c0`` for lstm), each ``(batch, units)``.
        recurrent_bias: GRU only, ``(G * units,)``: Keras's ``bias[1]`` with ``reset_after=True``.
        mask: optional ``(batch, steps)``, 1 for real steps, 0 for steps that carry the state unchanged.
        activation, recurrent_activation: Keras names from ``ACTIVATIONS``.
        go_backwards: process the steps last to first (the output is in processing order).
        reset_after: GRU: apply the reset gate after the recurrent matmul (Keras 3's default).

    Returns:
        ``(batch, steps, S * units)``: the state after each processed step; for lstm ``h`` then ``c``.

    >>> h = pyml.ops.rnn_scan("simple", pyml.Tensor(np.ones((1, 3, 2), "float32")),
    ...                       pyml.Tensor(np.zeros((2, 2), "float32")), pyml.Tensor(np.zeros((1, 2), "float32")))
    >>> h.numpy().round(4)[0, -1]
    array([0.7616, 0.7616], dtype=float32)
    """
    xp = convert_to_tensor(xp)
    dtype = xp.dtype if dtypes.is_float(xp.dtype) else "float32"
    units = int(recurrent_kernel.shape[0])
    inputs = [xp, recurrent_kernel]
    if cell == "gru":
        if recurrent_bias is None:
            recurrent_bias = np.zeros((GATES["gru"] * units,), dtype)
        inputs.append(recurrent_bias)
    elif recurrent_bias is not None:
        raise OpError("rnn_scan", f"recurrent_bias applies to cell 'gru' only. Received: cell={cell!r}")
    inputs.extend(states)
    if mask is not None:
        inputs.append(mask)
    inputs = [cast(convert_to_tensor(v), dtype) for v in inputs]
    return bind(rnn_scan_p, *inputs, cell=cell, units=units, activation=activation,
                recurrent_activation=recurrent_activation, go_backwards=bool(go_backwards),
                reset_after=bool(reset_after), masked=mask is not None)
