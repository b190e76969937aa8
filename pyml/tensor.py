"""``Tensor``: a backend array with a dtype, a shape, and the autodiff bookkeeping; ``Variable``: a trainable one.

    >>> x = pyml.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> (x @ x.T + 1).numpy()
    array([[ 6., 12.],
           [12., 26.]], dtype=float32)

Python floats and lists become float32 (the default dtype), Python ints int32; NumPy arrays keep
their dtype (float64 stays float64, int64 becomes int32). Operators call ``pyml.ops``.
"""
import numpy as np

from pyml import backend, dtypes
from pyml.errors import OpError
from pyml.ops.registry import Spec


def _default_dtype(value, array):
    """The dtype ``value`` gets when none is given (see the module docstring); ``array`` is ``value`` converted."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int32"
    if type(value) is float:  # np.float64 subclasses float but keeps its dtype
        return "float32"
    if isinstance(value, (list, tuple)):
        kind = array.dtype.kind
        return "bool" if kind == "b" else "int32" if kind in "iu" else "float32"
    return dtypes.of_array(array)


def _short_repr(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_int32_range(array, target):
    """int64 data becomes int32 (pyml's int): refuse values that would wrap around (2**40 would become 0)."""
    if target == "int32" and array.dtype.kind in "iu" and array.dtype.itemsize >= 4 and array.size:
        low, high = array.min(), array.max()
        if low < -2**31 or high >= 2**31:
            raise ValueError(f"int values must fit in int32, pyml's integer type (they would wrap around). "
                             f"Received: values in [{low}, {high}]")


class Tensor:
    """An n-dimensional array that pyml ops and autodiff understand.

    Args:
        value: array-like (list, scalar, NumPy/CuPy array or Tensor).
        dtype: "float32" (default for Python floats), "float64", "int32" or "bool".
        requires_grad: record operations on this tensor so ``backward()`` fills ``.grad``.

    >>> x = pyml.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (x.shape, x.dtype, x.ndim, x.size)
    ((2, 2), 'float32', 2, 4)
    >>> (x * x).sum().backward()
    >>> x.grad.numpy()
    array([[2., 4.],
           [6., 8.]], dtype=float32)
    """

    __array_priority__ = 100  # so ndarray <op> Tensor calls Tensor's reflected operator
    # Defaults of the per-tensor fields (``_init`` sets them all; ``registry.bind`` sets only _data and _spec)
    _node = None
    _requires_grad = False
    _trace = None
    grad = None
    name = None

    def __init__(self, value, dtype=None, requires_grad=False):
        if isinstance(value, Tensor):
            value = value.data
        target = dtypes.canonical(dtype) if dtype is not None else None
        try:
            array = backend.asarray(value)
            target = target or _default_dtype(value, array)
            if dtypes.name_of(array.dtype) != target:
                _check_int32_range(array, target)
                array = array.astype(target)
        except (TypeError, ValueError, OverflowError) as exc:  # strings, ragged lists, None, dicts, 2**70
            kind = TypeError if isinstance(exc, TypeError) else ValueError
            raise kind(f"Tensor: cannot make a tensor from a {type(value).__name__} ({exc}). "
                       f"Received: {_short_repr(value)}") from None
        self._init(array)
        self._requires_grad = bool(requires_grad)
        if requires_grad and not dtypes.is_float(target):
            raise TypeError(f"Only float tensors can require grad. Received: dtype={target}")

    def _init(self, array, spec=None):
        self._data = array
        self._spec = spec if spec is not None else Spec(tuple(array.shape), dtypes.name_of(array.dtype))
        self._node = None
        self._requires_grad = False
        self._trace = None
        self.grad = None
        self.name = None

    @classmethod
    def _wrap(cls, array, spec=None):
        """A tensor around a backend array, as is (``spec``, when given, must describe it: bind's fast path)."""
        t = cls.__new__(cls)
        t._init(array, spec)
        return t

    @classmethod
    def _symbolic(cls, spec, trace_ref):
        """A tensor with a shape and dtype but no value: the tracer's placeholder for a graph value."""
        t = cls.__new__(cls)
        t._init(None, Spec(tuple(spec.shape), spec.dtype))
        t._trace = trace_ref
        return t

    # ---- basic properties -------------------------------------------------------------------
    @property
    def data(self):
        """The backend array (NumPy or CuPy); an error for a symbolic tensor, which has none."""
        if self._data is None:
            raise OpError("Tensor", f"a symbolic tensor (shape={self.shape}, dtype={self.dtype}) has no value while tracing")
        return self._data

    @property
    def is_symbolic(self):
        """True for a tracer's placeholder value: a shape and a dtype, no data."""
        return self._data is None

    @property
    def spec(self):
        """``Spec(shape, dtype)``: what tracing and shape rules know of the tensor."""
        return self._spec

    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return self._spec.shape

    @property
    def dtype(self):
        """The dtype's name: "float32", "float64", "int32" or "bool"."""
        return self._spec.dtype

    @property
    def ndim(self):
        """The number of axes."""
        return len(self._spec.shape)

    @property
    def size(self):
        """The number of elements."""
        return int(np.prod(self._spec.shape, dtype=np.int64))

    @property
    def requires_grad(self):
        """Whether gradients flow to this tensor: a leaf that asked for them, or a result recorded from one."""
        return self._requires_grad or self._node is not None

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and not dtypes.is_float(self.dtype):
            raise TypeError(f"Only float tensors can require grad. Received: dtype={self.dtype}")
        self._requires_grad = bool(flag)

    def numpy(self):
        """The value as a NumPy array (a copy off the GPU under CuPy)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        # np.array(t) asks for a copy (copy=True): writing to it must not change the tensor
        return arr.astype(arr.dtype if dtype is None else dtype, copy=bool(copy))

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self.numpy().item()

    def tolist(self):
        """The value as nested Python lists."""
        return self.numpy().tolist()

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"The truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype != "int32" or self.ndim:
            raise TypeError("only 0-d int32 tensors can be used as an index")
        return int(self.item())

    def __repr__(self):
        if self.is_symbolic:
            body = "<symbolic>"
        else:
            body = np.array2string(self.numpy(), separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}{extra})"

    __hash__ = object.__hash__  # == is elementwise, so hashing stays by identity (as in PyTorch)

    # ---- autodiff -----------------------------------------------------------------------------
    def backward(self, gradient=None, create_graph=False):
        """Accumulate gradients of this tensor into ``.grad`` of every leaf that requires grad."""
        from pyml import autodiff

        autodiff.backward(self, gradient, create_graph)

    def detach(self):
        """The same value, cut off from the autodiff graph (a symbolic tensor stays the same graph value)."""
        if self.is_symbolic:
            return type(self)._symbolic(self.spec, self._trace)
        return Tensor._wrap(self.data)

    def zero_grad(self):
        """Forget the accumulated ``.grad`` (before the next ``backward()``)."""
        self.grad = None


class Variable(Tensor):
    """A mutable tensor that holds model state, trainable by default (Keras/TF ``Variable``).

    Args:
        initial_value: array-like.
        trainable: whether optimizers and tapes treat it as a parameter (``requires_grad``).
        name: a readable name, used in checkpoints and exported bundles.
        dtype: defaults to float32 for Python floats.

    >>> v = pyml.Variable([1.0, 2.0], name="bias")
    >>> v.assign_sub([0.5, 0.5]).numpy()
    array([0.5, 1.5], dtype=float32)
    """

    regularizer = None  # Layer.add_weight(regularizer=...): its penalty is in layer.losses (pyml.regularizers)
    constraint = None  # Layer.add_weight(constraint=...): applied after each optimizer update (pyml.constraints)

    def __init__(self, initial_value, trainable=True, name=None, dtype=None):
        super().__init__(initial_value, dtype=dtype)
        self.trainable = trainable
        self.name = name

    @property
    def trainable(self):
        """Whether optimizers and tapes treat it as a parameter; setting it turns ``requires_grad`` on or off."""
        return self._trainable

    @trainable.setter
    def trainable(self, flag):
        self._trainable = bool(flag)
        self._requires_grad = self._trainable and dtypes.is_float(self.dtype)

    def _new_value(self, value, op):
        array = value.data if isinstance(value, Tensor) else backend.asarray(value)
        if tuple(array.shape) != self.shape:
            raise OpError(op, f"variable {self.name!r} has shape {self.shape}; the new value has shape {tuple(array.shape)}")
        return array.astype(self.dtype, copy=False)

    def assign(self, value):
        """Replace the value in place (shapes must match)."""
        self._data = self._new_value(value, "assign")
        return self

    def assign_add(self, delta):
        """Add ``delta`` to the value in place (shapes must match)."""
        self._data = self._data + self._new_value(delta, "assign_add")
        return self

    def assign_sub(self, delta):
        """Subtract ``delta`` from the value in place (shapes must match)."""
        self._data = self._data - self._new_value(delta, "assign_sub")
        return self

    @property
    def value(self):
        """The current value as a plain Tensor (no longer tied to the variable or to autodiff)."""
        return Tensor._wrap(self.data)

    def __repr__(self):
        return f"<Variable {self.name!r} shape={self.shape} dtype={self.dtype}>\n" + super().__repr__()


def _install_operators():
    """Python operators call the public ops by name, looked up at call time (ops modules never import Tensor)."""
    from pyml import ops

    def method(op_name, reflected=False):
        if reflected:
            return lambda self, other: getattr(ops, op_name)(other, self)
        return lambda self, *args, **kwargs: getattr(ops, op_name)(self, *args, **kwargs)

    def binary(op_name):  # the hot operators, without *args/**kwargs packing
        return lambda self, other: getattr(ops, op_name)(self, other)

    operators = {"add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide", "pow": "power",
                 "matmul": "matmul"}
    for dunder, op_name in operators.items():
        setattr(Tensor, f"__{dunder}__", binary(op_name))
        setattr(Tensor, f"__r{dunder}__", method(op_name, reflected=True))
    compare = {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal", "eq": "equal",
               "ne": "not_equal"}
    for dunder, op_name in compare.items():
        setattr(Tensor, f"__{dunder}__", binary(op_name))
    Tensor.__neg__ = method("negative")
    Tensor.__abs__ = method("abs")
    Tensor.__getitem__ = method("getitem")
    Tensor.__pos__ = lambda self: self
    Tensor.T = property(method("transpose"))
    for name in ("sum", "mean", "max", "min", "argmax", "exp", "log"):
        setattr(Tensor, name, method(name))
    Tensor.astype = method("cast")

    def one_or_many(args):  # x.reshape(2, 3) or x.reshape((2, 3)), as NumPy's methods take both
        return args[0] if len(args) == 1 and (args[0] is None or isinstance(args[0], (tuple, list))) else args

    Tensor.transpose = lambda self, *axes: ops.transpose(self, one_or_many(axes) or None)
    Tensor.reshape = lambda self, *shape: ops.reshape(self, one_or_many(shape))
