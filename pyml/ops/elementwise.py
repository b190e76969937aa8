"""Elementwise primitives (unary, binary with numpy broadcasting, comparisons, ``where``, ``cast``) and their ops.

Each primitive is one stanza (shared/STYLE.md §1): name, shape/dtype rule, forward on backend arrays,
VJP in pyml ops. Binary primitives take inputs of one dtype; the public ops promote first:

    >>> x = pyml.Tensor([1.0, 2.0])
    >>> pyml.ops.add(x, 1).numpy()          # a Python scalar takes the tensor's dtype (weak typing)
    array([2., 3.], dtype=float32)
    >>> pyml.ops.divide(pyml.Tensor([1, 2]), 2).dtype   # ints divide as float32, like numpy's `/`
    'float32'
"""
import math

from pyml import backend, dtypes
from pyml.errors import OpError
from pyml.ops.registry import Spec, bind, primitive

__all__ = [
    "add", "subtract", "multiply", "divide", "power", "negative", "maximum", "minimum",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "where",
    "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "erf", "sin", "cos", "cast", "convert_to_tensor",
]

NUMERIC = ("float32", "float64", "int32")


# ---- input handling shared by the public ops -------------------------------------------------------
_late = {}  # pyml.tensor imports the ops, so Tensor is looked up at the first call


def _tensor_type():
    if not _late:
        from pyml.tensor import Tensor

        _late["Tensor"] = Tensor
    return _late["Tensor"]


def _is_weak(x):
    """Python scalars are weakly typed: they take the dtype of the tensor they meet."""
    return isinstance(x, (bool, int, float)) and not hasattr(x, "shape")


def convert_to_tensor(x, dtype=None):
    """``x`` as a Tensor (Tensors pass through unchanged; a ``dtype`` other than theirs casts).

    >>> pyml.ops.convert_to_tensor([1, 2]).dtype
    'int32'
    """
    Tensor = _late.get("Tensor") or _tensor_type()
    if isinstance(x, Tensor):
        return x if dtype is None or dtypes.canonical(dtype) == x._spec.dtype else cast(x, dtype)
    if dtype is not None and (x.__class__ is float or x.__class__ is int):  # a constant such as relu's 0
        dtype = dtypes.canonical(dtype)
        if dtype in dtypes.FLOATS:
            return _weak_tensor(x, dtype)
    return Tensor(x, dtype=dtype)


def _scalar_dtype(value):
    return "bool" if isinstance(value, bool) else "int32" if isinstance(value, int) else "float32"


_INT32_RANGE = range(-2**31, 2**31)


def _weak_tensor(value, dtype):
    """The Python scalar ``value`` as a 0-d tensor of ``dtype`` (``Tensor(value, dtype=dtype)``, made directly)."""
    Tensor = _late.get("Tensor") or _tensor_type()
    if value.__class__ is float or (value.__class__ is int and value in _INT32_RANGE):
        return Tensor._wrap(backend.xp().asarray(value, dtype=dtype))
    return Tensor(value, dtype=dtype)  # bools, big ints (refused past int32: Tensor), int/float subclasses


def _float_pair(x, y):
    """``_promote(x, y)``'s answer for the common cases, or None: a float tensor with a tensor of its dtype,
    or with a Python float or int (either side)."""
    Tensor = _late.get("Tensor") or _tensor_type()
    if isinstance(x, Tensor):
        dtype = x._spec.dtype
        if dtype in dtypes.FLOATS:
            if isinstance(y, Tensor):
                return (x, y) if y._spec.dtype == dtype else None
            if y.__class__ is float or y.__class__ is int:
                return x, _weak_tensor(y, dtype)
    elif isinstance(y, Tensor) and (x.__class__ is float or x.__class__ is int):
        dtype = y._spec.dtype
        if dtype in dtypes.FLOATS:
            return _weak_tensor(x, dtype), y
    return None


def _promote(*values, floor=None):
    """Tensors of one common dtype (at least ``floor`` when given), casting where needed.

    Tensors promote among themselves (``dtypes.result_type``); Python scalars only lift an int/bool
    result to float32 (``int_tensor * 0.5``) or a bool one to int32, never float32 to float64.
    """
    if len(values) == 2 and (floor is None or floor == "float32"):
        pair = _float_pair(*values)
        if pair is not None:
            return list(pair)
    Tensor = _late.get("Tensor") or _tensor_type()
    converted, kinds = [], []
    for v in values:
        if isinstance(v, Tensor):
            converted.append(v)
            kinds.append(v._spec.dtype)
        elif _is_weak(v):
            converted.append(None)  # made once the common dtype is known
            kinds.append(_scalar_dtype(v))  # at most float32, so never float64 on their own
        else:
            v = convert_to_tensor(v)
            converted.append(v)
            kinds.append(v._spec.dtype)
    common = dtypes.result_type(*kinds) if floor is None else dtypes.result_type(*kinds, floor)
    return [_weak_tensor(v, common) if t is None else t if t._spec.dtype == common else cast(t, common)
            for v, t in zip(values, converted)]


def _broadcast_shapes(op, *shapes):
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        sizes = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            listed = " and ".join(str(tuple(s)) for s in shapes)
            raise OpError(op, f"shapes {listed} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


# ---- shape/dtype rules -----------------------------------------------------------------------------
def _check_dtype(op, spec, allowed):
    if spec.dtype not in allowed:
        raise OpError(op, f"expects dtype in ({', '.join(allowed)}). Received: dtype={spec.dtype}")


def _unary_rule(op, allowed=dtypes.FLOATS):
    def rule(x):
        _check_dtype(op, x, allowed)
        return Spec(x.shape, x.dtype)

    return rule


def _binary_rule(op, allowed=NUMERIC, out_dtype=None):
    def rule(x, y):
        _check_dtype(op, x, allowed)
        if x.dtype != y.dtype:
            raise OpError(op, f"inputs must share a dtype. Received: dtypes {x.dtype} and {y.dtype}")
        return Spec(_broadcast_shapes(op, x.shape, y.shape), out_dtype or x.dtype)

    return rule


def _where_rule(cond, x, y):
    if cond.dtype != "bool":
        raise OpError("where", f"condition must be bool. Received: dtype={cond.dtype}")
    if x.dtype != y.dtype:
        raise OpError("where", f"branches must share a dtype. Received: dtypes {x.dtype} and {y.dtype}")
    return Spec(_broadcast_shapes("where", cond.shape, x.shape, y.shape), x.dtype)


def _cast_rule(x, dtype):
    return Spec(x.shape, dtypes.canonical(dtype))


def _quiet(fn):
    """``fn`` without numpy's divide-by-zero/invalid warnings: inf and NaN results are the answer, as in Keras."""
    wrapped = {}  # xp -> fn under xp.errstate as a decorator (cheaper per call than a `with` block)

    def forward(xp, *arrays):
        quiet = wrapped.get(xp)
        if quiet is None:
            quiet = wrapped[xp] = backend.errstate(xp, divide="ignore", invalid="ignore", over="ignore",
                                                   under="ignore")(fn)
        return quiet(xp, *arrays)

    return forward


def _erf(xp, x):
    # numpy has no erf: use scipy's (cupyx's on the GPU) when present, else math.erf per element.
    try:
        if xp.__name__ == "numpy":
            from scipy.special import erf as special_erf
        else:
            from cupyx.scipy.special import erf as special_erf
        return special_erf(x)
    except ImportError:
        flat = [math.erf(v) for v in x.reshape(-1).tolist()]
        return xp.asarray(flat, dtype=x.dtype).reshape(x.shape)


@_quiet
def _sigmoid(xp, x):
    # exp of -|x| never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# ---- unary primitives ------------------------------------------------------------------------------
neg_p = primitive("neg", shape=_unary_rule("neg", NUMERIC), forward=lambda xp, x: xp.negative(x),
                  vjp=lambda g, inputs, out, attrs: (negative(g),))
exp_p = primitive("exp", shape=_unary_rule("exp"), forward=_quiet(lambda xp, x: xp.exp(x)),
                  vjp=lambda g, inputs, out, attrs: (g * out,))
log_p = primitive("log", shape=_unary_rule("log"), forward=_quiet(lambda xp, x: xp.log(x)),
                  vjp=lambda g, inputs, out, attrs: (g / inputs[0],))
sqrt_p = primitive("sqrt", shape=_unary_rule("sqrt"), forward=_quiet(lambda xp, x: xp.sqrt(x)),
                   vjp=lambda g, inputs, out, attrs: (g / (2 * out),))
# d|x| = sign(x): the gradient at 0 is 0 (the subgradient TensorFlow and JAX pick).
abs_p = primitive("abs", shape=_unary_rule("abs", NUMERIC), forward=lambda xp, x: xp.abs(x),
                  vjp=lambda g, inputs, out, attrs: (g * sign(inputs[0]),))
sign_p = primitive("sign", shape=_unary_rule("sign", NUMERIC), forward=lambda xp, x: xp.sign(x),
                   vjp=lambda g, inputs, out, attrs: (g * 0.0,))
tanh_p = primitive("tanh", shape=_unary_rule("tanh"), forward=lambda xp, x: xp.tanh(x),
                   vjp=lambda g, inputs, out, attrs: (g * (1 - out * out),))
sigmoid_p = primitive("sigmoid", shape=_unary_rule("sigmoid"), forward=_sigmoid,
                      vjp=lambda g, inputs, out, attrs: (g * out * (1 - out),))
# d erf(x) = 2/sqrt(pi) e^{-x^2}
erf_p = primitive("erf", shape=_unary_rule("erf"), forward=_erf,
                  vjp=lambda g, inputs, out, attrs: (g * (2 / math.sqrt(math.pi)) * exp(-(inputs[0] * inputs[0])),))
sin_p = primitive("sin", shape=_unary_rule("sin"), forward=_quiet(lambda xp, x: xp.sin(x)),
                  vjp=lambda g, inputs, out, attrs: (g * cos(inputs[0]),))
cos_p = primitive("cos", shape=_unary_rule("cos"), forward=_quiet(lambda xp, x: xp.cos(x)),
                  vjp=lambda g, inputs, out, attrs: (-(g * sin(inputs[0])),))


# The driver casts the cotangent back to the input's dtype, and sends none to int or bool inputs.
cast_p = primitive("cast", shape=_cast_rule, forward=lambda xp, x, dtype: x.astype(dtype),
                   vjp=lambda g, inputs, out, attrs: (g,))


# ---- binary primitives -----------------------------------------------------------------------------
# Their VJPs return lazy cotangents (docs/internals.md §1): an operand that needs no gradient, such as
# relu's constant 0 or a scale factor, costs nothing.
def _pow_vjp(g, inputs, out, attrs):
    x, y = inputs

    # d/dx x^y = y x^(y-1), which is 0 where y == 0 (x^-1 there would make 0 * inf = NaN at x == 0);
    # d/dy x^y = x^y log x (taken as 0 where x <= 0, where log is undefined)
    def dy():
        positive = greater(x, 0.0)
        return g * where(positive, out * log(where(positive, x, 1.0)), 0.0)

    return lambda: g * y * power(x, where(equal(y, 0.0), 1.0, y - 1)), dy


def _select_vjp(compare):
    # maximum/minimum route the cotangent to the input that won; ties go to x (`x >= y` / `x <= y`).
    def vjp(g, inputs, out, attrs):
        x, y = inputs
        return lambda: where(compare(x, y), g, 0.0), lambda: where(compare(x, y), 0.0, g)

    return vjp


add_p = primitive("add", shape=_binary_rule("add"), forward=lambda xp, x, y: xp.add(x, y),
                  vjp=lambda g, inputs, out, attrs: (g, g))
sub_p = primitive("sub", shape=_binary_rule("sub"), forward=lambda xp, x, y: xp.subtract(x, y),
                  vjp=lambda g, inputs, out, attrs: (g, negative(g)))
mul_p = primitive("mul", shape=_binary_rule("mul"), forward=lambda xp, x, y: xp.multiply(x, y),
                  vjp=lambda g, inputs, out, attrs: (lambda: g * inputs[1], lambda: g * inputs[0]))
div_p = primitive("div", shape=_binary_rule("div", dtypes.FLOATS), forward=_quiet(lambda xp, x, y: xp.divide(x, y)),
                  vjp=lambda g, inputs, out, attrs: (lambda: g / inputs[1], lambda: negative(g * out / inputs[1])))
pow_p = primitive("pow", shape=_binary_rule("pow", dtypes.FLOATS), forward=_quiet(lambda xp, x, y: xp.power(x, y)),
                  vjp=_pow_vjp)
maximum_p = primitive("maximum", shape=_binary_rule("maximum"), forward=lambda xp, x, y: xp.maximum(x, y),
                      vjp=_select_vjp(lambda x, y: greater_equal(x, y)))
minimum_p = primitive("minimum", shape=_binary_rule("minimum"), forward=lambda xp, x, y: xp.minimum(x, y),
                      vjp=_select_vjp(lambda x, y: less_equal(x, y)))

# Comparisons give bool, so they are not differentiable: vjp=None (autodiff sends no cotangent to a bool value).
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    primitive(_name, shape=_binary_rule(_name, dtypes.DTYPES, "bool"),
              forward=lambda xp, x, y, _numpy_name=_name: getattr(xp, _numpy_name)(x, y), vjp=None)


def _where_vjp(g, inputs, out, attrs):
    cond = inputs[0]
    return None, lambda: where(cond, g, 0.0), lambda: where(cond, 0.0, g)


where_p = primitive("where", shape=_where_rule, forward=lambda xp, c, x, y: xp.where(c, x, y), vjp=_where_vjp)


# ---- public ops --------------------------------------------------------------------------------------
def _arith(name, x, y, floor=None):
    pair = _float_pair(x, y) if floor is None or floor == "float32" else None  # floats: above any such floor
    if pair is not None:  # and never bool, so no bool arithmetic below
        return bind(name, *pair)
    x, y = _promote(x, y, floor=floor)
    if x.dtype == "bool":  # numpy's bool arithmetic is logical; Keras and we count bools as 0/1 ints
        x, y = cast(x, "int32"), cast(y, "int32")
    return bind(name, x, y)


def add(x1, x2):
    """Elementwise ``x1 + x2`` with numpy broadcasting.

    >>> pyml.ops.add(pyml.Tensor([[1.0], [2.0]]), pyml.Tensor([10.0, 20.0])).numpy()
    array([[11., 21.],
           [12., 22.]], dtype=float32)
    """
    return _arith("add", x1, x2)


def subtract(x1, x2):
    """Elementwise ``x1 - x2`` with numpy broadcasting.

    >>> pyml.ops.subtract(pyml.Tensor([3.0, 4.0]), 1).numpy()
    array([2., 3.], dtype=float32)
    """
    return _arith("sub", x1, x2)


def multiply(x1, x2):
    """Elementwise ``x1 * x2`` with numpy broadcasting.

    >>> pyml.ops.multiply(pyml.Tensor([1.0, 2.0]), 3).numpy()
    array([3., 6.], dtype=float32)
    """
    return _arith("mul", x1, x2)


def divide(x1, x2):
    """Elementwise true division ``x1 / x2``; int and bool inputs divide as float32 (numpy's ``/``).

    >>> pyml.ops.divide(pyml.Tensor([1, 3]), 2).numpy()
    array([0.5, 1.5], dtype=float32)
    """
    return _arith("div", x1, x2, floor="float32")


def power(x1, x2):
    """Elementwise ``x1 ** x2``. A negative base with a non-integer exponent gives NaN, as in numpy.

    int32 inputs are computed in float32 and cast back, so results are exact up to 2**24.

    >>> pyml.ops.power(pyml.Tensor([-2.0, 3.0]), 2).numpy()
    array([4., 9.], dtype=float32)
    """
    x1, x2 = _promote(x1, x2)
    if dtypes.is_float(x1.dtype):
        return bind("pow", x1, x2)
    return cast(bind("pow", cast(x1, "float32"), cast(x2, "float32")), x1.dtype)


def negative(x):
    """Elementwise ``-x``.

    >>> pyml.ops.negative(pyml.Tensor([1, -2])).numpy()
    array([-1,  2], dtype=int32)
    """
    x = convert_to_tensor(x)
    return bind("neg", cast(x, "int32") if x.dtype == "bool" else x)


def maximum(x1, x2):
    """Elementwise maximum with broadcasting. Where ``x1 == x2`` the gradient goes to ``x1``.

    >>> pyml.ops.maximum(pyml.Tensor([1.0, 5.0]), 2.0).numpy()
    array([2., 5.], dtype=float32)
    """
    return _arith("maximum", x1, x2)


def minimum(x1, x2):
    """Elementwise minimum with broadcasting. Where ``x1 == x2`` the gradient goes to ``x1``.

    >>> pyml.ops.minimum(pyml.Tensor([1.0, 5.0]), 2.0).numpy()
    array([1., 2.], dtype=float32)
    """
    return _arith("minimum", x1, x2)


def _compare(name, symbol, example):
    def op(x1, x2):
        return bind(name, *_promote(x1, x2))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"""Elementwise ``x1 {symbol} x2`` with broadcasting; a bool tensor (not differentiable).

    >>> pyml.ops.{name}(pyml.Tensor([1.0, 2.0, 3.0]), 2.0).numpy()
    {example}
    """
    return op


equal = _compare("equal", "==", "array([False,  True, False])")
not_equal = _compare("not_equal", "!=", "array([ True, False,  True])")
less = _compare("less", "<", "array([ True, False, False])")
less_equal = _compare("less_equal", "<=", "array([ True,  True, False])")
greater = _compare("greater", ">", "array([False, False,  True])")
greater_equal = _compare("greater_equal", ">=", "array([False,  True,  True])")


def where(condition, x1, x2):
    """Elements of ``x1`` where ``condition`` is true, else of ``x2``; the three broadcast together.

    >>> pyml.ops.where(pyml.Tensor([True, False]), 1.0, pyml.Tensor([5.0, 6.0])).numpy()
    array([1., 6.], dtype=float32)
    """
    condition = convert_to_tensor(condition)
    if condition.dtype != "bool":
        condition = cast(condition, "bool")
    x1, x2 = _promote(x1, x2)
    return bind("where", condition, x1, x2)


def _float_unary(name, summary, example_in, example_out):
    def op(x):
        x = convert_to_tensor(x)
        return bind(name, x if dtypes.is_float(x.dtype) else cast(x, "float32"))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"""{summary} Int and bool inputs are computed as float32.

    >>> pyml.ops.{name}(pyml.Tensor({example_in})).numpy()
    {example_out}
    """
    return op


exp = _float_unary("exp", "Elementwise ``e ** x``.", "[0.0]", "array([1.], dtype=float32)")
log = _float_unary("log", "Elementwise natural logarithm (NaN for x < 0, -inf at 0).", "[1.0]",
                   "array([0.], dtype=float32)")
sqrt = _float_unary("sqrt", "Elementwise square root.", "[4.0]", "array([2.], dtype=float32)")
tanh = _float_unary("tanh", "Elementwise hyperbolic tangent.", "[0.0]", "array([0.], dtype=float32)")
sigmoid = _float_unary("sigmoid", "Elementwise logistic ``1 / (1 + e**-x)``, stable for large ``|x|``.", "[0.0]",
                       "array([0.5], dtype=float32)")
erf = _float_unary("erf", "Elementwise Gauss error function.", "[0.0]", "array([0.], dtype=float32)")
sin = _float_unary("sin", "Elementwise sine (radians).", "[0.0]", "array([0.], dtype=float32)")
cos = _float_unary("cos", "Elementwise cosine (radians).", "[0.0]", "array([1.], dtype=float32)")


def abs(x):  # noqa: A001 - Keras's name
    """Elementwise absolute value; keeps int32 as int32. Its gradient at 0 is 0.

    >>> pyml.ops.abs(pyml.Tensor([-1.5, 2.0])).numpy()
    array([1.5, 2. ], dtype=float32)
    """
    x = convert_to_tensor(x)
    return bind("abs", cast(x, "int32") if x.dtype == "bool" else x)


def sign(x):
    """Elementwise sign: -1, 0 or 1 (``sign(0) == 0``); keeps int32 as int32. Its gradient is 0.

    >>> pyml.ops.sign(pyml.Tensor([-3.0, 0.0, 2.0])).numpy()
    array([-1.,  0.,  1.], dtype=float32)
    """
    x = convert_to_tensor(x)
    return bind("sign", cast(x, "int32") if x.dtype == "bool" else x)


def cast(x, dtype):
    """``x`` converted to ``dtype`` ("float32", "float64", "int32" or "bool"); a no-op when it already is.

    Float to int truncates toward zero; anything nonzero becomes True. Gradients flow between floats.

    >>> pyml.ops.cast(pyml.Tensor([1.7, -1.7, 0.0]), "int32").numpy()
    array([ 1, -1,  0], dtype=int32)
    """
    try:
        dtype = dtypes.canonical(dtype)
    except TypeError as exc:
        raise TypeError(f"cast: {exc}") from None
    x = convert_to_tensor(x)
    if x._spec.dtype == dtype:
        return x
    return bind(cast_p, x, dtype=dtype)
