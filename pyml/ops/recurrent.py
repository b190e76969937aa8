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
packed output the VJP slices; the recurrent kernel's gradient is then one GEMM over all samples and steps. The
NumPy loops of both are in ``pyml/ops/recurrent_numpy.py``.
"""
import numpy as np

from pyml import dtypes
from pyml.errors import OpError
from pyml.ops.elementwise import cast, convert_to_tensor
from pyml.ops.linalg import matmul
from pyml.ops.movement import concatenate, expand_dims, reshape, transpose
from pyml.ops.reduction import sum
from pyml.ops.recurrent_numpy import (ACTIVATIONS, GATES, STATES, grad_forward, grad_layout, grad_shape,
                                      input_names, scan_forward)
from pyml.ops.registry import Spec, bind, primitive, refuse_gradient

__all__ = ["rnn_scan"]


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


# ---- gradient ------------------------------------------------------------------------------------------
def _grad_rule(g, out, *specs, **attrs):
    spec = _scan_rule(*specs, **attrs, op="rnn_scan_grad")
    if g.shape != spec.shape or out.shape != spec.shape or g.dtype != spec.dtype or out.dtype != spec.dtype:
        raise OpError("rnn_scan_grad", f"g and out must match rnn_scan's output {spec.shape} {spec.dtype}. "
                                       f"Received: g {g.shape} {g.dtype}, out {out.shape} {out.dtype}")
    batch, steps, _ = spec.shape
    return Spec(grad_shape(batch, steps, attrs["cell"], attrs["units"], attrs["reset_after"], attrs["masked"]),
                spec.dtype)


def _scan_vjp(g, inputs, out, attrs):
    cell, H, masked = attrs["cell"], attrs["units"], attrs["masked"]
    names = input_names(cell, masked)
    x = dict(zip(names, inputs))
    packed = bind("rnn_scan_grad", g, out, *inputs, **attrs)
    batch, steps, _ = out.shape
    blocks = grad_layout(cell, H, attrs["reset_after"], masked)
    rows = packed[:batch * steps]  # one row per sample and step, in xp's order: views all the way down
    dx = rows[:, slice(*blocks["dx"])]

    def weight_grad(operand, d):  # sum over samples and steps of operandᵀ @ d: one GEMM over all B*T rows
        return matmul(transpose(operand), d)

    def du():
        # the state before each step, in xp's time order (out is in processing order)
        h_prev = concatenate([expand_dims(x["h0"], 1), out[:, :steps - 1, :H]], axis=1)
        if attrs["go_backwards"]:
            h_prev = h_prev[:, ::-1]
        h_prev = reshape(h_prev, (batch * steps, H))
        if cell == "gru" and attrs["reset_after"]:
            return weight_grad(h_prev, rows[:, slice(*blocks["drec"])])
        if cell == "gru":
            return concatenate([weight_grad(h_prev, dx[:, :2 * H]),
                                weight_grad(rows[:, slice(*blocks["rh"])], dx[:, 2 * H:])], axis=1)
        return weight_grad(h_prev, dx)

    # b_rec is unused without reset_after (the contract), so it has no gradient then
    db_rec = (lambda: sum(rows[:, slice(*blocks["drec"])], axis=0)) if attrs["reset_after"] else None
    last = packed[batch * steps:]
    cotangents = {"xp": reshape(dx, (batch, steps, dx.shape[1])), "u": du, "b_rec": db_rec,
                  "h0": lambda: last[:, :H], "c0": lambda: last[:, H:2 * H],
                  "mask": lambda: reshape(rows[:, blocks["dmask"][0]], (batch, steps))}
    return tuple(cotangents[n] for n in names)


rnn_scan_p = primitive(
    "rnn_scan",
    shape=_scan_rule,
    forward=scan_forward,
    vjp=_scan_vjp,
    doc="One recurrent layer's loop over time (simple/lstm/gru cell) on a precomputed input projection.",
)
rnn_scan_grad_p = primitive(
    "rnn_scan_grad",
    shape=_grad_rule,
    forward=grad_forward,
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
