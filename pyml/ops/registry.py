"""The primitive registry: the single source of truth for every op pyml can run, differentiate and export.

Each primitive is registered once, as one stanza (see shared/STYLE.md §1):

    exp_p = primitive(
        "exp",
        shape=unary_float_rule,                      # (*specs, **attrs) -> Spec
        forward=lambda xp, x: xp.exp(x),             # backend arrays in, backend array out
        vjp=lambda g, inputs, out, attrs: (g * out,),  # cotangents written in pyml ops
    )

``bind`` is the one way an op runs: it checks the shape rule (so bad input fails with the op's
name before any array work), then either records a node for the tracer or computes eagerly and,
when autodiff is recording, remembers how the output was made.
"""
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

from pyml import backend, dtypes
from pyml.errors import OpError


class Spec(NamedTuple):
    """Static description of a value: a shape tuple and a dtype name."""

    shape: tuple
    dtype: str


@dataclass(frozen=True)
class Primitive:
    name: str
    shape_rule: Callable
    forward: Callable
    vjp: Callable | None
    doc: str = field(default="", compare=False)

    def __repr__(self):
        return f"<primitive {self.name}>"


_REGISTRY: dict[str, Primitive] = {}
_TRACING = {"tracer": None}


def primitive(name, *, shape, forward, vjp, doc=""):
    """Register a primitive; returns its ``Primitive`` entry. Names are unique."""
    if name in _REGISTRY:
        raise ValueError(f"primitive {name!r} is registered twice")
    entry = Primitive(name, shape, forward, vjp, doc)
    _REGISTRY[name] = entry
    return entry


def primitives():
    """All registered primitives, by name: ``{name: Primitive}``."""
    return dict(sorted(_REGISTRY.items()))


def get(name):
    try:
        return _REGISTRY[name]
    except KeyError:
        raise OpError(name, f"no such primitive; known: {', '.join(sorted(_REGISTRY))}") from None


def set_tracer(tracer):
    """Install (or with None remove) the tracer that records ops on symbolic tensors. Returns the old one."""
    old = _TRACING["tracer"]
    _TRACING["tracer"] = tracer
    return old


def infer(prim, tensors, attrs):
    """Run the shape rule; any failure becomes an OpError naming the op and the input specs."""
    specs = [t.spec for t in tensors]
    try:
        out = prim.shape_rule(*specs, **attrs)
    except OpError:
        raise
    except (ValueError, TypeError, IndexError) as exc:
        shapes = ", ".join(str(s.shape) for s in specs)
        raise OpError(prim.name, f"{exc} (input shapes: {shapes})") from None
    return Spec(tuple(int(d) for d in out.shape), dtypes.canonical(out.dtype))


def bind(name, *inputs, **attrs):
    """Apply primitive ``name`` to Tensors ``inputs`` with attributes ``attrs``; returns a Tensor."""
    from pyml.tensor import Tensor
    from pyml import autodiff

    prim = get(name) if isinstance(name, str) else name
    tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
    spec = infer(prim, tensors, attrs)
    if any(t.is_symbolic for t in tensors):
        tracer = _TRACING["tracer"]
        if tracer is None:
            raise OpError(prim.name, "got a symbolic tensor outside of tracing")
        out = tracer.record(prim, tensors, attrs, spec)
        if dtypes.is_float(spec.dtype) and autodiff.is_recording(tensors):  # autodiff inside traced functions
            out._node = autodiff.Node(prim, tuple(tensors), attrs)
        return out
    try:
        array = prim.forward(backend.xp(), *[t.data for t in tensors], **attrs)
    except Exception as exc:  # the shape rule passed, so this is a bug in the forward: say where
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise OpError(prim.name, f"forward failed on input shapes {shapes}: {exc}") from exc
    array = backend.xp().asarray(array)
    if dtypes.name_of(array.dtype) != spec.dtype:
        array = array.astype(spec.dtype)
    if tuple(array.shape) != spec.shape:
        raise OpError(prim.name, f"internal: forward gave shape {tuple(array.shape)}, shape rule said {spec.shape}")
    out = Tensor._wrap(array)
    if dtypes.is_float(spec.dtype) and autodiff.is_recording(tensors):  # int/bool outputs carry no gradient
        out._node = autodiff.Node(prim, tuple(tensors), attrs)
    return out
