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
when autodiff is recording, remembers how the output was made. Eager training calls it for every op
of every step, so its common path (Tensors in, no tracer) is kept short and shape rules' answers are
memoised (rules are pure).
"""
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from pyml import backend, dtypes
from pyml.errors import OpError


class Spec(NamedTuple):
    """Static description of a value: a shape tuple and a dtype name."""

    shape: tuple
    dtype: str


@dataclass(frozen=True)
class Primitive:
    """A registered primitive: its name, shape/dtype rule, forward and VJP (None: not differentiable).

    >>> pyml.ops.primitives()["exp"]
    <primitive exp>
    """

    name: str
    shape_rule: Callable
    forward: Callable
    vjp: Callable | None
    doc: str = field(default="", compare=False)

    def __repr__(self):
        return f"<primitive {self.name}>"


_REGISTRY: dict[str, Primitive] = {}
_TRACING = {"tracer": None}
_NDARRAY = np.ndarray
_BACKEND = backend._state  # {"name", "xp"}: read directly, as bind runs for every op


def primitive(name, *, shape, forward, vjp, doc=""):
    """Register a primitive; returns its ``Primitive`` entry. Names are unique."""
    if name in _REGISTRY:
        raise ValueError(f"primitive {name!r} is registered twice")
    entry = Primitive(name, shape, forward, vjp, doc)
    _REGISTRY[name] = entry
    return entry


def refuse_gradient(name, reason):
    """A VJP for a primitive that has no gradient of its own but must not be silently treated as constant (a
    backward-pass kernel, for one): differentiating through it raises an OpError naming ``name`` and
    ``reason``. The registry suite lists such primitives by the function's ``refusal``."""

    def vjp(g, inputs, out, attrs):
        raise OpError(name, f"has no gradient: {reason}")

    vjp.refusal = reason
    return vjp


def primitives():
    """All registered primitives, by name: ``{name: Primitive}``."""
    return dict(sorted(_REGISTRY.items()))


def get(name):
    """The ``Primitive`` registered as ``name``; an OpError listing the known names otherwise."""
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


# Shape rules are pure functions of the input specs and attributes, so bind remembers their answers:
# a training step meets the same few (rule, specs, attrs) every time. Only successes are kept (a failing
# rule runs, and raises, every time); unhashable attributes skip the memo; it is emptied when full.
_SPEC_MEMO: dict = {}
_SPEC_MEMO_SIZE = 4096


def _spec_of(prim, tensors, attrs):
    """``infer``, memoised."""
    key = (prim.shape_rule, *[t._spec for t in tensors], *attrs.items())
    try:
        return _SPEC_MEMO[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable attribute (a list, an array): no memo
        return infer(prim, tensors, attrs)
    spec = infer(prim, tensors, attrs)
    if len(_SPEC_MEMO) >= _SPEC_MEMO_SIZE:
        _SPEC_MEMO.clear()
    _SPEC_MEMO[key] = spec
    return spec


_late = {}  # from modules that import this one (pyml.tensor, pyml.autodiff), fetched at the first bind


def _late_imports():
    from pyml import autodiff
    from pyml.tensor import Tensor

    _late.update(Tensor=Tensor, new=Tensor.__new__, autodiff=autodiff, Node=autodiff.Node, grad=autodiff._state)
    return _late


def bind(name, *inputs, **attrs):
    """Apply primitive ``name`` to Tensors ``inputs`` with attributes ``attrs``; returns a Tensor."""
    late = _late or _late_imports()
    Tensor = late["Tensor"]
    prim = (_REGISTRY.get(name) or get(name)) if name.__class__ is str else name
    recorded = False
    for t in inputs:
        if not isinstance(t, Tensor) or t._data is None:
            return _bind(prim, inputs, attrs)  # a value to convert, or tracing
        if t._requires_grad or t._node is not None:
            recorded = True
    # The eager path, which training runs ~70 times a step: keep it lean.
    spec = _spec_of(prim, inputs, attrs)
    xp = _BACKEND["xp"]
    try:
        array = prim.forward(xp, *[t._data for t in inputs], **attrs)
    except Exception as exc:  # the shape rule passed, so this is a bug in the forward: say where
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise OpError(prim.name, f"forward failed on input shapes {shapes}: {exc}") from exc
    if array.__class__ is not _NDARRAY:  # numpy gives scalars for 0-d results; other backends their arrays
        array = xp.asarray(array)
    if dtypes.name_of(array.dtype) != spec.dtype:
        array = array.astype(spec.dtype)
    if array.shape != spec.shape:
        raise OpError(prim.name, f"internal: forward gave shape {tuple(array.shape)}, shape rule said {spec.shape}")
    out = late["new"](Tensor)
    out._data, out._spec = array, spec  # Tensor._wrap(array, spec): the other fields keep their class defaults
    grad = late["grad"]
    # autodiff.is_recording, inlined; int/bool outputs carry no gradient
    if spec.dtype in dtypes.FLOATS and grad["enabled"] and (recorded or grad["tapes"]):
        out._node = late["Node"](prim, inputs, attrs)
    return out


def _bind(prim, inputs, attrs):
    """bind's general path: inputs that are not Tensors yet, and symbolic ones (tracing)."""
    Tensor, autodiff = _late["Tensor"], _late["autodiff"]
    tensors = tuple(x if isinstance(x, Tensor) else Tensor(x) for x in inputs)
    if not any(t.is_symbolic for t in tensors):
        return bind(prim, *tensors, **attrs)
    spec = _spec_of(prim, tensors, attrs)
    tracer = _TRACING["tracer"]
    if tracer is None:
        raise OpError(prim.name, "got a symbolic tensor outside of tracing")
    out = tracer.record(prim, tensors, attrs, spec)
    if dtypes.is_float(spec.dtype) and autodiff.is_recording(tensors):  # autodiff inside traced functions
        out._node = autodiff.Node(prim, tensors, attrs)
    return out
