"""The reference interpreter: runs a ``Graph`` with the eager ops, one method per opcode (as torch.fx's).

It is the parity oracle for export: a bundle's outputs must match ``run_graph`` on the same inputs.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x) * 2.0, [((None, 3), "float32")])
    >>> run_graph(graph, [np.zeros((5, 3), "float32")])[0].shape
    (5, 3)

``None`` dims and attribute entries (the dynamic batch) are resolved from the inputs' actual axis 0.
Errors name the input or the node (``%v12 : f32[N,10] = conv(%x, %w0, ...)``) that failed.
"""
import numpy as np

from pyml import backend
from pyml.graph.validate import GraphError
from pyml.ops.registry import bind
from pyml.tensor import Tensor


def last_uses(graph):
    """For each value, the index of the last node that reads it.

    Graph outputs live to the end (``len(graph.nodes)``); a value nobody reads maps to the index of the
    node that makes it. A memory planner frees a value's buffer once the node at that index has run.

    >>> last_uses(pyml.graph.trace(lambda x: pyml.ops.exp(x) + x, [((2,), "float32")]))
    {'x': 2, 'v1': 2, 'v2': 3}
    """
    last = {node.name: i for i, node in enumerate(graph.nodes)}
    for i, node in enumerate(graph.nodes):
        for value in node.inputs:
            last[value] = i
    for value in graph.outputs:
        last[value] = len(graph.nodes)
    return last


class Interpreter:
    """Runs ``graph`` eagerly. Subclass and override ``placeholder``, ``constant`` or ``call`` to change
    how one opcode runs (say, to record every intermediate value).

    Args:
        graph: a ``Graph``.
        constants: optional ``{name: array or Tensor}`` overriding ``graph.constants``. A Tensor is used as
            is: pass a ``Variable`` to read its current value on every run (as ``pyml.function`` does),
            and to let gradients flow into it.

    >>> graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x) * 2.0, [((None, 3), "float32")])
    >>> [y.shape for y in Interpreter(graph).run(np.ones((7, 3), "float32"))]   # one argument per graph input
    [(7, 3)]
    """

    def __init__(self, graph, constants=None):
        self.graph = graph
        self._last = last_uses(graph)
        overrides = dict(constants or {})
        self._constants = {}
        for node in graph.nodes:
            if node.op != "constant":
                continue
            value = overrides.get(node.name, graph.constants.get(node.name))
            if value is None:
                raise GraphError(f"constant %{node.name} has no value (graph.constants lacks it)")
            tensor = value if isinstance(value, Tensor) else Tensor(backend.asarray(value))
            if tensor.shape != tuple(node.shape) or tensor.dtype != node.dtype:
                raise GraphError(f"constant %{node.name} should be {_describe(node.shape, node.dtype)}. "
                                 f"Received: {_describe(tensor.shape, tensor.dtype)}")
            self._constants[node.name] = tensor

    def run(self, *inputs):
        """The graph's outputs (a list of Tensors, in ``graph.outputs`` order) for ``inputs``, one per input."""
        graph = self.graph
        if len(inputs) != len(graph.inputs):
            raise GraphError(f"the graph takes {len(graph.inputs)} inputs ({', '.join(graph.inputs)}). "
                             f"Received: {len(inputs)} inputs")
        given = dict(zip(graph.inputs, inputs))
        self.batch = self._batch(given)
        env = {}
        for i, node in enumerate(graph.nodes):
            if node.op == "placeholder":
                env[node.name] = self.placeholder(node, given[node.name])
            elif node.op == "constant":
                env[node.name] = self.constant(node)
            else:
                args = [env[name] for name in node.inputs]
                try:
                    env[node.name] = self.call(node, args)
                except GraphError:
                    raise
                except Exception as exc:
                    raise GraphError(f"node {node} failed: {exc}") from exc
            for name in node.inputs:  # free what no later node reads
                if self._last[name] == i:
                    env.pop(name, None)
        return [env[name] for name in graph.outputs]

    # ---- one method per opcode -------------------------------------------------------------------------
    def placeholder(self, node, value):
        """A graph input: ``value`` as a Tensor, checked against the node's shape and dtype."""
        if not isinstance(value, Tensor):
            value = Tensor(value, dtype=node.dtype if not isinstance(value, np.ndarray) else None)
        expected = self.resolve_shape(node.shape)
        if value.shape != expected or value.dtype != node.dtype:
            raise GraphError(f"input {node.name!r} expects {_describe(node.shape, node.dtype)}. "
                             f"Received: {_describe(value.shape, value.dtype)}")
        return value

    def constant(self, node):
        """A constant's Tensor (from ``graph.constants``, or the override given to ``__init__``)."""
        return self._constants[node.name]

    def call(self, node, args):
        """Bind the node's primitive to ``args``; the result must have the shape and dtype the graph says."""
        out = bind(node.target, *args, **self.resolve_attrs(node.attrs))
        expected = self.resolve_shape(node.shape)
        if out.shape != expected or out.dtype != node.dtype:
            raise GraphError(f"node {node} gave {_describe(out.shape, out.dtype)}, but the graph says "
                             f"{_describe(expected, node.dtype)}")
        return out

    # ---- the dynamic batch -----------------------------------------------------------------------------
    def resolve_shape(self, shape):
        """``shape`` with the batch of this run in place of ``None``."""
        return tuple(self.batch if d is None else d for d in shape)

    def resolve_attrs(self, attrs):
        """Attribute entries that are ``None`` inside a sequence (``reshape``'s ``(None, 64)``) become the batch."""

        def resolve(value, top):
            if isinstance(value, (list, tuple)):
                return tuple(resolve(v, False) for v in value)
            return self.batch if value is None and not top else value

        return {key: resolve(value, True) for key, value in attrs.items()}

    def _batch(self, given):
        batch, source = None, None
        for node in self.graph.nodes:
            if node.op != "placeholder" or not node.shape or node.shape[0] is not None:
                continue
            shape = np.shape(given[node.name])
            if not shape:
                raise GraphError(f"input {node.name!r} expects {_describe(node.shape, node.dtype)}. "
                                 f"Received: a scalar")
            if batch is not None and shape[0] != batch:
                raise GraphError(f"inputs {source!r} and {node.name!r} must share the batch size (axis 0). "
                                 f"Received: {batch} and {shape[0]}")
            batch, source = int(shape[0]), node.name
        return batch


def run_graph(graph, inputs, constants=None):
    """Run ``graph`` on ``inputs`` (a list, one per graph input, or a dict by input name); returns the
    output Tensors as a list.

    >>> graph = pyml.graph.trace(lambda x: x + 1.0, [((None, 3), "float32")])
    >>> run_graph(graph, {"x": np.zeros((1, 3), "float32")})[0].numpy()
    array([[1., 1., 1.]], dtype=float32)
    """
    if isinstance(inputs, dict):
        missing = [name for name in graph.inputs if name not in inputs]
        if missing:
            raise GraphError(f"missing graph inputs {missing}. Received: {sorted(inputs)}")
        inputs = [inputs[name] for name in graph.inputs]
    return Interpreter(graph, constants).run(*inputs)


def _describe(shape, dtype):
    return f"{dtype}[{', '.join('N' if d is None else str(d) for d in shape)}]"
