"""Reverse-mode autodiff over the primitive registry.

Two styles, as users know them from PyTorch and TensorFlow:

    >>> x = pyml.Variable([1.0, 2.0])
    >>> y = (x * x).sum(); y.backward(); x.grad          # PyTorch style
    Tensor([2., 4.], shape=(2,), dtype=float32)
    >>> with pyml.GradientTape() as tape:                 # TensorFlow style
    ...     y = (x * x).sum()
    >>> tape.gradient(y, x)
    Tensor([2., 4.], shape=(2,), dtype=float32)

Every VJP is written in pyml ops, so gradients are themselves differentiable (pass
``create_graph=True`` to ``backward``, or nest tapes). Reducing a cotangent over broadcast axes and
summing cotangents at fan-out happen here, once, not in each VJP.
"""
import functools

from pyml.errors import OpError

_state = {"enabled": True, "tapes": []}
_set = object.__setattr__


class Node:
    """How a tensor was made: the primitive, its input tensors and attributes (read-only)."""

    __slots__ = ("prim", "inputs", "attrs")

    def __init__(self, prim, inputs, attrs):
        # one per recorded op, so a slotted class rather than a frozen dataclass (twice as cheap to make)
        _set(self, "prim", prim)
        _set(self, "inputs", inputs)
        _set(self, "attrs", attrs)

    def __setattr__(self, name, value):
        raise AttributeError(f"Node is read-only. Received: an assignment to {name!r}")

    def __repr__(self):
        return f"Node(prim={self.prim!r}, inputs=<{len(self.inputs)} tensors>, attrs={self.attrs!r})"


def is_recording(inputs):
    """Whether an op on ``inputs`` must remember its node: grad mode on, and a tape is active or an input needs grad."""
    return _state["enabled"] and (bool(_state["tapes"]) or any(t.requires_grad for t in inputs))


class no_grad:
    """Context manager (and decorator) that turns gradient recording off.

    >>> x = pyml.Variable([1.0, 2.0])
    >>> with pyml.no_grad():
    ...     y = x * 2.0
    >>> y.requires_grad         # no graph is kept
    False
    """

    def __enter__(self):
        self._old = _state["enabled"]
        _state["enabled"] = False
        return self

    def __exit__(self, *exc):
        _state["enabled"] = self._old

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class _enable_grad(no_grad):
    def __enter__(self):
        self._old = _state["enabled"]
        _state["enabled"] = True
        return self


def _unbroadcast(ct, shape):
    """Sum a cotangent of a broadcast result back to the input's ``shape`` (in pyml ops, so it is traceable)."""
    from pyml import ops

    shape = tuple(shape)
    if ct.shape == shape:
        return ct
    lead = ct.ndim - len(shape)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(shape) if d == 1 and ct.shape[lead + i] != 1]
    if axes:
        # with no leading axes to drop, keepdims gives the input's shape at once (the same sums, no reshape)
        ct = ops.sum(ct, axis=tuple(axes), keepdims=lead == 0)
    return ct if ct.shape == shape else ops.reshape(ct, shape)


def _topological(outputs, wanted):
    """The tensors on a recorded path from ``outputs`` to one of ``wanted`` (ids), each before its inputs,
    and the set of their ids. Iterative (a depth-first post-order), so an unrolled loop of any length
    fits in Python's recursion limit."""
    needed, order, visited = set(), [], set()
    stack = [(t, False) for t in outputs]
    pop, push = stack.pop, stack.append
    while stack:
        tensor, expanded = pop()
        key = id(tensor)
        if expanded:  # its inputs are settled by now: a DAG has no path back to this tensor
            if key in wanted:
                needed.add(key)
                order.append(tensor)
            elif tensor._node is not None:
                for t in tensor._node.inputs:
                    if id(t) in needed:
                        needed.add(key)
                        order.append(tensor)
                        break
        elif key not in visited:
            visited.add(key)
            push((tensor, True))
            if tensor._node is not None:  # past a wanted tensor too: another source may lie behind it
                for t in tensor._node.inputs:
                    if id(t) not in visited:
                        push((t, False))
    return order[::-1], needed  # outputs first


def grad(outputs, sources, output_gradients=None, create_graph=False):
    """Gradients of ``sum(outputs)`` with respect to each of ``sources`` (None where unconnected)."""
    from pyml import ops
    from pyml.dtypes import FLOATS
    from pyml.tensor import Tensor

    outputs, sources = list(outputs), list(sources)
    if output_gradients is None:
        output_gradients = [None] * len(outputs)
    elif len(output_gradients) != len(outputs):
        raise OpError("gradient", "pass one output gradient per output (None for ones). Received: "
                                  f"{len(outputs)} outputs and {len(output_gradients)} output gradients")
    for what, tensors in (("outputs", outputs), ("sources", sources)):
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise OpError("gradient", f"{what}[{i}] must be a Tensor. Received: {type(t).__name__}")
    cot = {}
    for out, g in zip(outputs, output_gradients):
        if g is None:
            g = ops.ones_like(out)
        elif not isinstance(g, Tensor):
            g = Tensor(g, dtype=out.dtype)
        if g.shape != out.shape:
            raise OpError("gradient", f"output gradient has shape {g.shape}, but the output has shape {out.shape}")
        cot[id(out)] = cot[id(out)] + g if id(out) in cot else g
    order, needed = _topological(outputs, {id(s) for s in sources})
    context = _enable_grad() if create_graph else no_grad()
    with context:
        for tensor in order:
            node = tensor._node
            if node is None or node.prim.vjp is None:
                continue
            g = cot.get(id(tensor))
            if g is None:
                continue
            inputs = node.inputs
            cts = node.prim.vjp(g, inputs, tensor, node.attrs)
            if len(cts) != len(inputs):
                raise OpError(node.prim.name, f"internal: vjp returned {len(cts)} cotangents for {len(inputs)} inputs")
            for inp, ct in zip(inputs, cts):
                key = id(inp)
                if ct is None or key not in needed or inp._spec.dtype not in FLOATS:
                    continue
                if callable(ct):  # a lazy cotangent: only computed for inputs that need it
                    ct = ct()
                shape, dtype = inp._spec
                if ct._spec.shape != shape:
                    ct = _unbroadcast(ct, shape)
                if ct._spec.dtype != dtype:
                    ct = ops.cast(ct, dtype)
                previous = cot.get(key)
                cot[key] = ct if previous is None else previous + ct
    return [cot.get(id(s)) for s in sources]


def backward(tensor, gradient=None, create_graph=False):
    """Accumulate d(tensor)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    if gradient is None and tensor.size != 1:
        raise OpError(
            "backward",
            f"backward() on a non-scalar tensor of shape {tensor.shape} needs an output gradient: "
            "pass gradient= with the same shape",
        )
    leaves, seen, stack = [], set(), [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._node is None:
            if t._requires_grad:
                leaves.append(t)
        else:
            stack.extend(t._node.inputs)
    if not leaves:
        raise OpError("backward", "the tensor does not depend on any tensor that requires grad")
    grads = grad([tensor], leaves, [gradient], create_graph=create_graph)
    for leaf, g in zip(leaves, grads):
        if g is None:
            continue
        if not create_graph:
            g = g.detach()
        leaf.grad = g if leaf.grad is None else leaf.grad + g


class GradientTape:
    """Record ops to compute gradients later, as in TensorFlow.

    Args:
        persistent: allow more than one call to ``gradient``.
        watch_accessed_variables: trainable Variables used under the tape are watched automatically.

    >>> x = pyml.Variable(3.0)
    >>> with pyml.GradientTape() as tape:
    ...     y = x * x
    >>> float(tape.gradient(y, x))
    6.0
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._watched = {}
        self._used = False

    def __enter__(self):
        _state["tapes"].append(self)
        return self

    def __exit__(self, *exc):
        _state["tapes"].remove(self)

    def watch(self, tensor):
        """Watch a tensor (or a list of them) so gradients with respect to it can be asked for."""
        for t in tensor if isinstance(tensor, (list, tuple)) else [tensor]:
            self._watched[id(t)] = t

    def watched_variables(self):
        """The tensors passed to ``watch`` so far (Variables watched automatically are not listed)."""
        return list(self._watched.values())

    def _is_watched(self, tensor):
        # Intermediates recorded under the tape count as watched, as in TensorFlow.
        return (id(tensor) in self._watched or tensor._node is not None
                or (self.watch_accessed_variables and tensor._requires_grad))

    def gradient(self, target, sources, output_gradients=None):
        """d(target)/d(sources); ``sources`` is a tensor or a list/tuple of them, and the result has the same structure."""
        if self._used and not self.persistent:
            raise RuntimeError(
                "GradientTape.gradient can only be called once on a non-persistent tape; "
                "create the tape with persistent=True to call it more than once"
            )
        self._used = True
        single = not isinstance(sources, (list, tuple))
        source_list = [sources] if single else list(sources)
        targets = target if isinstance(target, (list, tuple)) else [target]
        if output_gradients is not None and not isinstance(output_gradients, (list, tuple)):
            output_gradients = [output_gradients]
        # Gradients are recorded (so they can be differentiated again) when another tape is active.
        create_graph = _state["enabled"] and any(t is not self for t in _state["tapes"])
        grads = grad(targets, source_list, output_gradients, create_graph=create_graph)
        grads = [g if self._is_watched(s) else None for s, g in zip(source_list, grads)]
        return grads[0] if single else type(sources)(grads)
