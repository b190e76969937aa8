"""Tracing: run a Python function on symbolic tensors and record the primitives it binds as a ``Graph``.

    >>> w = pyml.Variable(np.ones((4, 3), "float32"), name="dense/kernel")
    >>> graph = pyml.graph.trace(lambda x: pyml.ops.tanh(x @ w), [((None, 4), "float32")])
    >>> print(graph)
    %x : f32[N,4] = placeholder
    %w1 : f32[4,3] = constant dense/kernel
    %v2 : f32[N,3] = matmul(%x, %w1)
    %v3 : f32[N,3] = tanh(%v2)
    return %v3

Each ``bind`` of a primitive with a symbolic input calls ``Tracer.record`` (installed with
``registry.set_tracer``); concrete tensors met as inputs become ``constant`` nodes. Python control
flow runs once, at trace time: it may depend on shapes, never on tensor values.

Dynamic batch (docs/internals.md §3): when an input's axis 0 is ``None`` the function is traced twice,
at batch 2 and 3, and ``pyml.graph.merge`` merges the two graphs node for node, with ``None`` for the batch
(it says what may differ between them, and the repairs it makes so every value keeps the batch on axis 0).
"""
import contextlib
import inspect
from typing import NamedTuple


from pyml import backend, dtypes
from pyml.errors import OpError
from pyml.graph.ir import Graph, Node
from pyml.ops.registry import Spec, set_tracer
from pyml.tensor import Tensor, Variable

BATCHES = (2, 3)  # the two batch sizes a dynamic-batch function is traced at


class TraceError(OpError):
    """Something a traced function did that a static graph cannot express; names the op or node."""


class TraceResult(NamedTuple):
    """What one trace produced: the graph, how to rebuild the function's return value from the graph's
    outputs (see ``flatten``), the Variables whose current values the graph's constants stand for, the
    host inputs (placeholders after the function's own inputs, each filled by calling its ``draw()``
    before every run: see ``host_value``), and the Variables assigned while tracing (see ``assign``)."""

    graph: Graph
    structure: tuple
    captures: dict  # constant node name -> Variable
    host_inputs: dict = {}  # placeholder name -> draw(), a zero-argument function returning an array
    assigned: dict = {}  # id(variable) -> (variable, symbolic tensor holding its value after the function)


# ---- symbolic tensors ----------------------------------------------------------------------------------
class _Ref(NamedTuple):
    tracer: "Tracer"
    name: str


class SymbolicTensor(Tensor):
    """A traced value: shape and dtype, no data. Asking for its value is an error that names its node."""

    def _value_error(self, action):
        node = self._trace.tracer.node(self._trace.name)
        return TraceError(
            node.target or node.op,
            f"{action} needs the value of {node}, but tracing records shapes and dtypes only: tracing needs "
            "static control flow (a Python `if`/`while` or a conversion to a number cannot depend on a "
            "tensor's value; use pyml.ops.where, or compute outside the traced function). "
            f"Received: a symbolic tensor of shape {self.shape} and dtype {self.dtype}")

    @property
    def data(self):
        raise self._value_error("reading .data")

    def numpy(self):
        raise self._value_error(".numpy()")

    def item(self):
        raise self._value_error(".item()")

    def tolist(self):
        raise self._value_error(".tolist()")

    def __array__(self, dtype=None, copy=None):
        raise self._value_error("converting to a NumPy array")

    def __bool__(self):
        raise self._value_error("bool() (a Python branch on a tensor)")

    def __float__(self):
        raise self._value_error("float()")

    def __int__(self):
        raise self._value_error("int()")

    def __index__(self):
        raise self._value_error("using a tensor as an index")


# ---- the tracer ------------------------------------------------------------------------------------------
class Tracer:
    """Records the primitives bound on its symbolic tensors as graph nodes.

    Names: placeholders are named by the caller, constants ``c<i>`` (``w<i>`` for Variables), calls
    ``v<i>``, where ``i`` is the node's position, so two traces of one function name nodes alike.
    """

    def __init__(self):
        self.nodes = []
        self.constants = {}
        self.captures = {}
        self._index = {}  # value name -> node
        self._by_id = {}  # id(tensor) or id(array) -> constant name
        self._alive = []  # keeps those objects alive, so their ids are not reused while tracing
        self.host_inputs = {}  # placeholder name -> draw(): values the host makes afresh at every run
        self.assigned = {}  # id(variable) -> (variable, symbolic new value)

    def node(self, name):
        """The recorded ``Node`` that makes the value ``name``."""
        return self._index[name]

    def placeholder(self, name, spec):
        """A symbolic input; float inputs can be differentiated (``pyml.autodiff.grad``) inside the trace."""
        tensor = self._add(Node(name, "placeholder", tuple(spec.shape), spec.dtype))
        tensor._requires_grad = dtypes.is_float(spec.dtype)
        return tensor

    def host_input(self, spec, draw):
        """A placeholder that the runner of the graph fills with ``draw()`` before every run (``host_value``)."""
        tensor = self._add(Node(self._fresh("h"), "placeholder", tuple(spec.shape), spec.dtype))
        self.host_inputs[tensor._trace.name] = draw
        return tensor

    def assign(self, variable, value):
        """Record that ``variable`` holds the symbolic ``value`` from now on (``assign``)."""
        if tuple(value.shape) != variable.shape or value.dtype != variable.dtype:
            raise TraceError("assign", f"variable {variable.name!r} is {variable.dtype}{list(variable.shape)}; the "
                                       f"new value is {value.dtype}{list(value.shape)}")
        self.assigned[id(variable)] = (variable, value)
        if variable.is_symbolic and variable._trace.tracer is self:  # later reads in this trace see the new value
            variable._trace = value._trace

    def record(self, prim, tensors, attrs, spec):
        """Called by ``registry.bind`` for a primitive with a symbolic input: adds a call node."""
        inputs = [self.value(t, prim.name) for t in tensors]
        name = self._fresh("v")
        return self._add(Node(name, "call", tuple(spec.shape), spec.dtype, prim.name, inputs, dict(attrs)))

    def value(self, tensor, op):
        """The graph value name for ``tensor``: its node if symbolic, else a (deduplicated) constant."""
        if tensor.is_symbolic:
            ref = tensor._trace
            if not isinstance(ref, _Ref) or ref.tracer is not self:
                raise TraceError(op, "got a symbolic tensor from another trace (a value that leaked out of an "
                                     "earlier traced function). Received: a symbolic tensor of shape "
                                     f"{tensor.shape}")
            return ref.name
        return self.constant(tensor)

    def constant(self, tensor):
        """The name of the constant node holding concrete ``tensor`` (made once per tensor or array)."""
        keys = (id(tensor), id(tensor._data))
        name = next((self._by_id[k] for k in keys if k in self._by_id), None)
        if name is None:
            array = backend.to_numpy(tensor.data)
            if isinstance(tensor, Variable):
                array = array.copy()  # a Variable changes under training; the graph keeps this snapshot
            name = self._fresh("w" if isinstance(tensor, Variable) else "c")
            self._add(Node(name, "constant", tuple(tensor.shape), tensor.dtype))
            self.constants[name] = array
        for key, obj in zip(keys, (tensor, tensor._data)):
            if key not in self._by_id:
                self._by_id[key] = name
                self._alive.append(obj)
        if isinstance(tensor, Variable) and name not in self.captures:
            # Every Variable is a weight: labelled (by its name, else its node's) so passes keep it apart.
            self.captures[name] = tensor
            self._index[name].attrs["label"] = tensor.name or name
        return name

    def _fresh(self, prefix):
        name = f"{prefix}{len(self.nodes)}"
        while name in self._index:
            name += "_"
        return name

    def _add(self, node):
        self.nodes.append(node)
        self._index[node.name] = node
        return SymbolicTensor._symbolic(Spec(node.shape, node.dtype), _Ref(self, node.name))


# ---- state and randomness inside traced functions ------------------------------------------------------
def host_value(like, shape, dtype, draw):
    """A value the host makes afresh at every run, such as a dropout mask: ``Tensor(draw())`` eagerly; while
    tracing (``like`` is symbolic) a placeholder that whoever runs the graph fills with ``draw()`` before each
    run (``TraceResult.host_inputs``). The draws then happen in the order the function made them, every run,
    so a traced training step draws the same random numbers as the eager one.

    >>> keep = pyml.graph.trace_function(
    ...     lambda x: x * host_value(x, x.shape, "float32", lambda: np.ones((2, 3), "float32")),
    ...     [((2, 3), "float32")])
    >>> keep.graph.inputs, list(keep.host_inputs)
    (['x', 'h1'], ['h1'])
    """
    if like.is_symbolic:
        return like._trace.tracer.host_input(Spec(tuple(shape), dtypes.canonical(dtype)), draw)
    return Tensor(draw(), dtype=dtype)


def assign(variable, value):
    """``variable.assign(value)``, also while tracing: a symbolic ``value`` is recorded as the variable's new
    value (``TraceResult.assigned``; a traced training step returns it and writes it back after each run),
    and later reads of a variable that stands for a graph value (``substitute``) see it.

    >>> v = pyml.Variable([1.0, 2.0])
    >>> assign(v, pyml.Tensor([3.0, 4.0])).numpy()
    array([3., 4.], dtype=float32)
    """
    if isinstance(value, Tensor) and value.is_symbolic:
        value._trace.tracer.assign(variable, value)
        return variable
    return variable.assign(value)


@contextlib.contextmanager
def substitute(values):
    """While the block runs, each Variable of ``values`` (``{variable: symbolic tensor}``) stands for its
    tensor's graph value: ops on it record nodes reading that value, gradients with respect to it work,
    and reading its data is an error. Used to make Variables inputs of a traced step rather than constants.
    """
    saved = [(v, v._data, v._trace) for v in values]
    try:
        for variable, tensor in values.items():
            variable._data, variable._trace = None, tensor._trace
        yield
    finally:
        for variable, data, ref in saved:
            variable._data, variable._trace = data, ref


# ---- structures of tensors (a function's arguments and return value) ------------------------------------
LEAF = ("tensor",)


def flatten(tree, where="output"):
    """``(leaves, structure)``: the Tensors in ``tree`` (nested lists, tuples, dicts) and a hashable
    description of the rest. ``None`` stays in the structure; other non-tensors are an error.

    >>> leaves, structure = flatten({"a": pyml.Tensor(1.0), "b": [pyml.Tensor(2.0), None]})
    >>> [t.item() for t in leaves]
    [1.0, 2.0]
    >>> unflatten(structure, ["first", "second"])
    {'a': 'first', 'b': ['second', None]}
    """
    leaves = []

    def visit(node, path):
        if isinstance(node, Tensor):
            leaves.append(node)
            return LEAF
        if node is None:
            return ("none",)
        if isinstance(node, (list, tuple)):
            return ("seq", type(node), tuple(visit(v, f"{path}[{i}]") for i, v in enumerate(node)))
        if isinstance(node, dict):
            keys = tuple(node)
            return ("dict", type(node), keys, tuple(visit(node[k], f"{path}[{k!r}]") for k in keys))
        raise TraceError("trace", f"a traced function must return tensors (in lists, tuples or dicts); {path} "
                                  f"is not one. Received: {type(node).__name__}")

    structure = visit(tree, where)
    return leaves, structure


def unflatten(structure, leaves):
    """Rebuild what ``flatten`` took apart, with ``leaves`` (a sequence, or an iterator that several calls
    share) in place of its tensors."""
    it = iter(leaves)

    def build(s):
        kind = s[0]
        if kind == "tensor":
            return next(it)
        if kind == "none":
            return None
        if kind == "static":  # a non-tensor argument of pyml.function, kept in its cache key
            return s[2]
        if kind == "seq":
            items = [build(c) for c in s[2]]
            return s[1](*items) if hasattr(s[1], "_fields") else s[1](items)
        return s[1](zip(s[2], [build(c) for c in s[3]]))

    return build(structure)


# ---- input specs -------------------------------------------------------------------------------------------
def as_spec(spec, index=0):
    """A ``Spec`` from ``(shape, dtype)``, a ``Spec``, or anything with ``.shape`` and ``.dtype``
    (a ``pyml.Input``, a Tensor, a NumPy array). ``None`` is allowed at axis 0 only (the batch)."""
    if hasattr(spec, "shape") and hasattr(spec, "dtype"):
        shape, dtype = spec.shape, spec.dtype
    elif isinstance(spec, (list, tuple)) and len(spec) == 2:
        shape, dtype = spec
    else:
        raise TraceError("trace", f"input {index}: expected a (shape, dtype) pair, a Spec or an object with "
                                  f".shape and .dtype. Received: {spec!r}")
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
        dtype = dtypes.canonical(dtype if isinstance(dtype, str) else getattr(dtype, "name", dtype))
    except (TypeError, ValueError) as exc:
        raise TraceError("trace", f"input {index}: {exc}. Received: {spec!r}") from None
    if any(d is None for d in shape[1:]) or any(d is not None and d < 0 for d in shape):
        raise TraceError("trace", f"input {index}: dims must be non-negative ints, with None only at axis 0 "
                                  f"(the batch). Received: shape={shape}")
    return Spec(shape, dtype)


def positional_names(fn):
    """The names of ``fn``'s positional parameters (none when Python cannot inspect it)."""
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def input_names(fn, specs):
    """Placeholder names: a spec's ``.name`` if it has one, else the function's parameter name, else x<i>."""
    params = positional_names(fn)
    names = []
    for i, spec in enumerate(specs):
        name = getattr(spec, "name", None) if not isinstance(spec, tuple) else None
        names.append(name if isinstance(name, str) and name else (params[i] if i < len(params) else f"x{i}"))
    return names


def _distinct(names):
    """``names`` with repeats suffixed by ``_`` until unique: one placeholder per input, always."""
    out = []
    for name in names:
        while name in out:
            name += "_"
        out.append(name)
    return out


# ---- tracing -----------------------------------------------------------------------------------------------
def trace(fn, input_specs, dynamic_batch=None):
    """Trace ``fn`` into a ``Graph`` (docs/internals.md §3).

    Args:
        fn: a function of tensors, one per entry of ``input_specs``, returning a tensor or a list,
            tuple or dict of them. It runs on symbolic tensors: its Python control flow must not
            depend on tensor values.
        input_specs: one per argument: ``(shape, dtype)``, a ``Spec``, or a ``pyml.Input``-like object.
            ``None`` at axis 0 marks the dynamic batch.
        dynamic_batch: ``None`` (default) makes axis 0 dynamic where a spec says ``None``; ``True``
            makes axis 0 of every input the dynamic batch; ``False`` refuses ``None`` dims.

    Returns:
        A ``Graph`` whose outputs are the function's tensors in flattened order.

    >>> g = pyml.graph.trace(lambda a, b: a * b + 1.0, [((None, 3), "float32"), ((3,), "float32")])
    >>> g.outputs
    ['v4']
    """
    return trace_function(fn, input_specs, dynamic_batch).graph


def trace_function(fn, input_specs, dynamic_batch=None, names=None):
    """Like ``trace``, returning a ``TraceResult`` (graph, output structure, captured Variables)."""
    specs = [as_spec(s, i) for i, s in enumerate(input_specs)]
    names = _distinct(names if names is not None else input_names(fn, input_specs))
    if dynamic_batch is True:
        if any(not s.shape for s in specs):
            raise TraceError("trace", "dynamic_batch=True needs every input to have an axis 0. Received: "
                                      f"shapes {[s.shape for s in specs]}")
        specs = [Spec((None,) + s.shape[1:], s.dtype) for s in specs]
    dynamic = any(s.shape and s.shape[0] is None for s in specs)
    if dynamic and dynamic_batch is False:
        raise TraceError("trace", "dynamic_batch=False, but an input has a None dim. Received: shapes "
                                  f"{[s.shape for s in specs]}")
    if not dynamic:
        return _trace_once(fn, specs, names, batch=None)
    from pyml.graph.merge import merge_batch_traces  # it needs this module's TraceError

    first, second = (_trace_once(fn, specs, names, batch) for batch in BATCHES)
    return merge_batch_traces(first, second, BATCHES)


def _trace_once(fn, specs, names, batch):
    tracer = Tracer()
    args = [tracer.placeholder(name, Spec(tuple(batch if d is None else d for d in s.shape), s.dtype))
            for name, s in zip(names, specs)]
    previous = set_tracer(tracer)
    try:
        result = fn(*args)
    finally:
        set_tracer(previous)
    leaves, structure = flatten(result)
    outputs = [tracer.value(t, "return") for t in leaves]
    graph = Graph(tracer.nodes, list(names) + list(tracer.host_inputs), outputs, tracer.constants)
    return TraceResult(graph, structure, tracer.captures, tracer.host_inputs, tracer.assigned)
