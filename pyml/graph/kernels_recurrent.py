"""The executor's kernels for ``rnn_scan`` and ``rnn_scan_grad``: the backward pass reads the LSTM gates that the
forward kernel of the same plan computed, instead of computing them again (a GEMM and the activations per
step: ~40% of the BPTT loop, measured).

The gates are not an output of ``rnn_scan`` (its output is the contract's states, which the exported runtime
shares), so they pass outside the graph, and only where that is provably the same as recomputing them: when
planning, ``grad_kernel`` links to the ``scan_kernel`` whose output array *object* it reads as ``out`` and whose
input array objects and attributes are exactly its own. Within one executor every step runs once per run, in
order, each reading its inputs' values of that run (the planner never overwrites a value before its last reader
has run), so the grad step of a run reads the gates its forward step wrote from the same inputs in the same run.
A link lives as long as the forward's output array (``weakref.finalize``), so an id is never reused while it is
registered. Anything else (GRU, SimpleRNN, activations whose derivative needs the pre-activation, eager calls,
a grad step with no such forward) recomputes.
"""
import functools
import weakref

import numpy as np

from pyml.ops.recurrent_numpy import grad_into, scan_into

_FORWARDS = {}  # id(output array of a planned rnn_scan step) -> _Forward


class _Forward:
    """What a planned rnn_scan step keeps for the rnn_scan_grad step that links to it."""

    def __init__(self, out, arrays, attrs):
        self.out = weakref.ref(out)
        self.inputs = [weakref.ref(a) for a in arrays]
        self.attrs = attrs
        self.gates = None  # (steps, batch, 4 * units), made when a grad step links

    def matches(self, out, arrays, attrs):
        return (self.out() is out and attrs == self.attrs and len(arrays) == len(self.inputs)
                and all(ref() is a for ref, a in zip(self.inputs, arrays)))

    def run(self, out, arrays):
        scan_into(out, *arrays, **self.attrs, gates=self.gates)


def _keeps_gates(attrs):
    return attrs["cell"] == "lstm" and {attrs["activation"], attrs["recurrent_activation"]} <= {"tanh", "sigmoid"}


def scan_kernel(arrays, out, attrs):
    """The step computing ``rnn_scan`` into ``out``; it also writes the gates once a grad step has linked."""
    if not _keeps_gates(attrs) or not all(isinstance(a, np.ndarray) for a in arrays):
        return functools.partial(scan_into, out, *arrays, **attrs)
    forward = _FORWARDS[id(out)] = _Forward(out, arrays, attrs)
    weakref.finalize(out, _FORWARDS.pop, id(out), None)
    return functools.partial(forward.run, out, arrays)


def grad_kernel(arrays, out, attrs):
    """The step computing ``rnn_scan_grad`` into ``out``, from its forward step's gates when it links."""
    g, scan_out, *inputs = arrays
    forward = _FORWARDS.get(id(scan_out))
    gates = None
    if forward is not None and forward.matches(scan_out, inputs, attrs):
        if forward.gates is None:
            batch, steps, _ = scan_out.shape
            forward.gates = np.empty((steps, batch, 4 * attrs["units"]), scan_out.dtype)
        gates = forward.gates
    return functools.partial(grad_into, out, *arrays, **attrs, gates=gates)
