"""``pyml.function``: trace a Python function once per input signature, then run the cached graph.

    >>> w = pyml.Variable(np.eye(3, dtype="float32"))
    >>> @pyml.function
    ... def step(x, y):
    ...     return pyml.ops.tanh(x @ w) - y
    >>> step(np.zeros((2, 3), "float32"), np.ones((2, 3), "float32")).shape  # first call: traces, then runs
    (2, 3)
    >>> step(np.ones((2, 3), "float32"), np.zeros((2, 3), "float32")).shape  # same shapes: the cached graph
    (2, 3)
    >>> len(step.graphs)
    1

Like ``tf.function``: tensor arguments (Tensors and NumPy arrays, also inside lists, tuples and dicts)
become graph inputs with their exact shapes and dtypes; any other argument (a Python number, a string,
``training=True``) is static, part of the cache key, and must be hashable. A new shape, dtype or static
value traces again.

Variables the function uses directly as op inputs are read live on every call (the graph keeps their
snapshot only for export), so gradients flow into them under a ``GradientTape``. A value computed from
Variables alone (no argument involved), such as ``w.T`` in ``x @ w.T``, is computed once at trace time and
baked into the graph, like a folded constant: write ``pyml.ops.matmul(x, w, ...)`` forms that involve the
argument, or retrace after changing such Variables (``f.clear()``).
"""
import functools
import weakref

import numpy as np

from pyml import dtypes
from pyml.graph.interpreter import Interpreter
from pyml.graph.passes import optimize
from pyml.graph.trace import TraceError, as_spec, positional_names, trace_function, unflatten
from pyml.ops.registry import Spec
from pyml.tensor import Tensor


class Function:
    """A traced, cached function: see ``function``."""

    def __init__(self, fn, optimize_graph=True):
        self.fn = fn
        self.optimize_graph = optimize_graph
        self._cache = {}  # signature -> (TraceResult, Interpreter)
        self._bound = weakref.WeakKeyDictionary()
        self._params = positional_names(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        leaves, key = _signature(args, kwargs, self._params)
        if any(isinstance(leaf, Tensor) and leaf.is_symbolic for leaf in leaves):
            return self.fn(*args, **kwargs)  # called on traced values inside another trace: inline
        result, interpreter = self._concrete(key)
        drawn = [Tensor(draw()) for draw in result.host_inputs.values()]  # dropout masks: fresh every call
        outputs = interpreter.run(*[_as_tensor(leaf) for leaf in leaves], *drawn)
        return unflatten(result.structure, outputs)

    def get_graph(self, *args, **kwargs):
        """The graph for these arguments, traced if not cached yet. Tensor arguments may be given as
        specs: ``(shape, dtype)`` pairs, ``Spec``s or ``pyml.Input``s; a ``None`` at axis 0 of a spec
        traces a dynamic-batch graph (for export).

        >>> f = pyml.function(lambda x: x * 2.0)
        >>> print(f.get_graph(((None, 4), "float32")))
        %x : f32[N,4] = placeholder
        %c1 : f32[] = constant 2.0
        %v2 : f32[N,4] = mul(%x, %c1)
        return %v2
        """
        args, kwargs = _specs_to_placeholders(args), _specs_to_placeholders(kwargs)
        return self._concrete(_signature(args, kwargs, self._params)[1])[0].graph

    @property
    def graphs(self):
        """Every graph traced so far, in tracing order."""
        return [result.graph for result, _ in self._cache.values()]

    def clear(self):
        """Forget the cached graphs; the next call traces again."""
        self._cache.clear()

    def _concrete(self, key):
        if key not in self._cache:
            self._cache[key] = self._trace(key)
        return self._cache[key]

    def _trace(self, key):
        arg_structure, specs, names = key

        def flat_fn(*tensors):
            args, kwargs = _unflatten_args(arg_structure, tensors)
            return self.fn(*args, **kwargs)

        result = trace_function(flat_fn, specs, names=names)  # None dims come only from get_graph specs
        graph = optimize(result.graph) if self.optimize_graph else result.graph
        result = result._replace(graph=graph)
        live = {name: var for name, var in result.captures.items() if name in graph.constants}
        return result, Interpreter(graph, constants=live)

    def __get__(self, instance, owner):
        """As a method decorator: one Function (and one cache) per instance, with ``self`` bound."""
        if instance is None:
            return self
        if instance not in self._bound:
            self._bound[instance] = Function(self.fn.__get__(instance, owner), self.optimize_graph)
        return self._bound[instance]

    def __repr__(self):
        return f"<pyml.function {getattr(self.fn, '__name__', self.fn)!r}, {len(self._cache)} graph(s)>"


def function(fn=None, *, optimize=True):
    """Decorator: trace ``fn`` into a graph on the first call for each input signature, cache the graph,
    and run it with the reference interpreter (``tf.function``-like).

    Args:
        fn: a function of tensors returning a tensor, or a list, tuple or dict of them.
        optimize: run ``pyml.graph.optimize`` on each traced graph (folding, CSE, dead code).

    Returns:
        A ``Function``: call it like ``fn``; ``.get_graph(*args_or_specs)`` and ``.graphs`` show the graphs.

    >>> @pyml.function
    ... def f(x):
    ...     return pyml.ops.exp(x) * 2.0
    >>> f(pyml.Tensor([0.0, 1.0])).numpy()
    array([2.      , 5.436564], dtype=float32)
    >>> print(f.graphs[0])
    %x : f32[2] = placeholder
    %v1 : f32[2] = exp(%x)
    %c2 : f32[] = constant 2.0
    %v3 : f32[2] = mul(%v1, %c2)
    return %v3
    """
    if fn is None:
        return lambda f: Function(f, optimize_graph=optimize)
    return Function(fn, optimize_graph=optimize)


# ---- signatures --------------------------------------------------------------------------------------------
class _Placeholder:
    """A tensor argument known only by its spec (``get_graph``)."""

    def __init__(self, spec):
        self.shape, self.dtype = spec


def _specs_to_placeholders(tree):
    if isinstance(tree, dict):
        return {k: _specs_to_placeholders(v) for k, v in tree.items()}
    if isinstance(tree, Spec) or (isinstance(tree, tuple) and len(tree) == 2 and isinstance(tree[1], str)):
        return _Placeholder(as_spec(tree))
    if hasattr(tree, "shape") and hasattr(tree, "dtype") and not isinstance(tree, (Tensor, np.ndarray)):
        return _Placeholder(as_spec(tree))  # a pyml.Input (KerasTensor) or any other spec-like object
    if isinstance(tree, (list, tuple)):
        return type(tree)(_specs_to_placeholders(v) for v in tree)
    return tree


def _is_tensor_like(x):
    return isinstance(x, (Tensor, np.ndarray, _Placeholder))


def _signature(args, kwargs, params):
    """``(tensor leaves, cache key)``; the key is ``(argument structure, leaf specs, leaf names)``.
    Leaves are named after the parameters they came from (``x``, ``batch_0``, ``inputs_image``)."""
    leaves, names = [], []

    def visit(node, path):
        if _is_tensor_like(node):
            leaves.append(node)
            names.append(path)
            return ("tensor",)
        if isinstance(node, (list, tuple)):
            return ("seq", type(node), tuple(visit(v, f"{path}_{i}") for i, v in enumerate(node)))
        if isinstance(node, dict):
            keys = tuple(node)
            return ("dict", type(node), keys, tuple(visit(node[k], f"{path}_{k}") for k in keys))
        try:
            hash(node)
        except TypeError:
            raise TraceError("function", f"argument {path} is neither a tensor nor hashable, so it cannot be "
                                         f"part of the cache key. Received: {type(node).__name__}") from None
        return ("static", type(node), node)

    structure = (tuple(visit(a, params[i] if i < len(params) else f"arg{i}") for i, a in enumerate(args)),
                 tuple((k, visit(v, k)) for k, v in kwargs.items()))
    specs = tuple(as_spec(_spec_of(leaf), i) for i, leaf in enumerate(leaves))
    return leaves, (structure, specs, tuple(_clean(n) for n in names))


def _spec_of(leaf):
    if isinstance(leaf, np.ndarray):
        return (leaf.shape, dtypes.of_array(leaf))  # the dtype Tensor(leaf) will have: int64 -> int32
    return (leaf.shape, leaf.dtype)


def _clean(name):
    return "".join(c if c.isalnum() or c == "_" else "_" for c in str(name))


def _unflatten_args(structure, tensors):
    """``(args, kwargs)`` rebuilt from a cache key's argument structure, with ``tensors`` for its leaves."""
    positional, keyword = structure
    it = iter(tensors)
    return [unflatten(s, it) for s in positional], {k: unflatten(s, it) for k, s in keyword}


def _as_tensor(leaf):
    return leaf if isinstance(leaf, Tensor) else Tensor(leaf)


__all__ = ["Function", "function"]
