"""Shorter sequences for a fixed-length bundle (``inputs[i].pad``, docs/internals.md §6).

A bundle's shapes are fixed at export, the batch aside, so a recurrent model runs the N steps it was exported
for. A model that ignores right-padding (its padding is masked: ``Embedding(mask_zero=True)`` on id 0,
``Masking(mask_value)``) gives the same outputs for a sequence of T < N steps and for that sequence padded to N
with the padding value, so the runtime may pad it. ``pad_inputs`` decides this at export by evidence, never
from layer types alone: it runs the model in Python on random sequences of several lengths below N, once as
they are and once right-padded to N, and marks an input only where every output agrees within float32
rounding. ``check_pad`` validates the field when a bundle is read (the same checks and field names as
``checkPad`` in web/src/bundle.js).

    >>> pad_inputs(model, graph, texts=[None])       # doctest: +SKIP
    [{'axis': 1, 'value': 0}]

An output with a time axis (``return_sequences=True``) would come back N steps long, not T: such a model is not
marked, so its outputs always mean what Python's do.
"""
import math
import warnings

import numpy as np

from pyml.layers.embedding import Embedding
from pyml.layers.masking import Masking

# How close the padded and unpadded outputs must be: float32 rounding of a sum whose terms change order (a masked
# mean adds the same numbers with zeros among them), relative to the outputs' magnitude.
TOLERANCE = 1e-5
INT32 = 2 ** 31


def pad_inputs(model, graph, texts, batch_size=None):
    """Per graph input, its ``pad`` field (``{"axis": 1, "value": v}``) or None.

    Args:
        model: the pyml Model the graph was traced from (None for a Graph: nothing is marked).
        graph: the traced Graph (its inputs' shapes are the bundle's).
        texts: per input, its ``text`` field or None; a text input is tokenized to its fixed length on the
            host, so it is never marked.
        batch_size: the bundle's fixed batch, or None (dynamic): the batch the evidence runs at.
    """
    pads = [None] * len(graph.inputs)
    if model is None or not hasattr(model, "layers"):
        return pads
    specs = [graph.node(name) for name in graph.inputs]
    for i, spec in enumerate(specs):
        if texts and texts[i] or not _is_sequence(spec):
            continue
        for value in _candidates(model, spec.dtype):
            if _ignores_padding(model, specs, i, value, batch_size or 3):
                pads[i] = {"axis": 1, "value": value}
                break
    return pads


def _is_sequence(spec):
    """(batch, steps) ids or (batch, steps, features) values with at least 2 steps."""
    return len(spec.shape) in (2, 3) and spec.dtype in ("int32", "float32") and spec.shape[1] >= 2


def _sublayers(layer):
    yield layer
    for sub in getattr(layer, "_layers", []):
        yield from _sublayers(sub)


def _candidates(model, dtype):
    """Padding values to try: 0 (mask_zero, Masking's default), then each Masking layer's mask_value."""
    values = [0]
    for layer in _sublayers(model):
        if isinstance(layer, Masking) and float(layer.mask_value) not in values:
            values.append(float(layer.mask_value))
    if dtype == "int32":
        return [int(v) for v in values if float(v).is_integer() and -INT32 <= v < INT32]
    return [float(v) for v in values if math.isfinite(v)]


def _random_input(spec, batch, rng, model, avoid):
    shape = (batch,) + tuple(spec.shape[1:])
    if spec.dtype == "int32":  # ids every embedding accepts, never the padding id
        high = min([l.input_dim for l in _sublayers(model) if isinstance(l, Embedding)], default=3)
        ids = rng.integers(0, max(high, 2), size=shape)
        return np.where(ids == avoid, (ids + 1) % max(high, 2), ids).astype(np.int32)
    x = rng.standard_normal(shape).astype(np.float32)
    return np.where(x == avoid, x + 1, x).astype(np.float32)


def _ignores_padding(model, specs, index, value, batch):
    """Whether right-padding input ``index`` with ``value`` changes no output, on random sequences of lengths
    1, about N/3 and N - 1 (every other input random at its full shape)."""
    rng = np.random.default_rng(0)
    steps = specs[index].shape[1]
    for length in sorted({1, max(1, steps // 3), steps - 1}):
        full = [_random_input(s, batch, rng, model, value) for s in specs]
        padded = list(full)
        padded[index] = full[index].copy()
        padded[index][:, length:] = value
        short = list(full)
        short[index] = full[index][:, :length]
        try:
            with warnings.catch_warnings():  # the probe's own business, not the user's
                warnings.simplefilter("ignore")
                expected, got = _outputs(model, padded), _outputs(model, short)
        except Exception:  # noqa: BLE001  (the model does not run on shorter sequences at all: not marked)
            return False
        if len(expected) != len(got) or any(not _agree(e, g) for e, g in zip(expected, got)):
            return False
    return True


def _outputs(model, inputs):
    out = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    if isinstance(out, dict):
        out = list(out.values())
    return [np.asarray(o, np.float64) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _agree(expected, got):
    if expected.shape != got.shape or not (np.isfinite(expected).all() and np.isfinite(got).all()):
        return False
    scale = 1.0 + float(np.abs(expected).max(initial=0.0))
    return float(np.abs(expected - got).max(initial=0.0)) <= TOLERANCE * scale


def pad_input(spec, array, what):
    """``array`` for the bundle input ``spec``: right-padded along axis 1 to the exported length when the input is
    marked (``spec["pad"]``) and the sequence is shorter, else as it is (the caller checks the shape)."""
    pad, shape = spec.get("pad"), spec["shape"]
    if pad is None or array.ndim != len(shape) or array.shape[1] == shape[1]:
        return array
    steps, got = shape[1], array.shape[1]
    if not 1 <= got <= steps:
        hint = length_hint(shape, got) if got > steps else "a sequence needs at least 1 step"
        raise ValueError(f"{what}: a sequence of {got} steps, but the model was exported for sequences of 1 to {steps} "
                         f"steps: {hint}. Received: shape {array.shape}")
    out = np.full(array.shape[:1] + (steps,) + array.shape[2:], pad["value"], array.dtype)
    out[:, :got] = array
    return out


def length_hint(shape, got):
    """What to do about a sequence of ``got`` steps for an unmarked input of exported ``shape``."""
    steps = shape[1]
    if got > steps:
        return f"cut the sequence to {steps} steps, or export with a longer sequence_length"
    return (f"pad the sequence to {steps} steps; for the bundle to accept shorter sequences itself, mask the padding "
            "(Embedding(mask_zero=True) or a Masking layer) and export again")


def check_pad(manifest, fail):
    """Validate every ``inputs[i].pad`` of a parsed manifest (whose ``inputs`` are already checked)."""
    for i, signature in enumerate(manifest["inputs"]):
        if "pad" not in signature:
            continue
        where, pad, shape = f"inputs[{i}].pad", signature["pad"], signature["shape"]
        if not isinstance(pad, dict) or sorted(pad) != ["axis", "value"]:
            fail(where, f"must be an object {{axis, value}}. Received: {pad!r}")
        if pad["axis"] != 1 or type(pad["axis"]) is not int or len(shape) < 2 or not (
                isinstance(shape[1], int) and shape[1] >= 1):
            fail(f"{where}.axis", f"must be 1, the sequence axis of an input of shape [batch, steps, ...]. "
                                  f"Received: {pad['axis']!r} for shape {shape}")
        value, dtype = pad["value"], signature["dtype"]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or dtype not in ("int32", "float32") or (
                dtype == "int32" and not (float(value).is_integer() and -INT32 <= value < INT32)):
            fail(f"{where}.value", f"must be a finite number the input's dtype ({dtype}) holds"
                                   f"{' (an int32)' if dtype == 'int32' else ''}. Received: {value!r}")
