"""WGSL lowerings of the elementwise primitives: one thread per output element (elementwise.wgsl.j2).

Every elementwise primitive lowers through one template. Each input is read at the output element's
index under numpy broadcasting, computed from static strides (an input's broadcast axes get stride 0;
only axis 0 may be the dynamic batch, so no stride depends on it). A scalar graph constant is inlined as
a literal instead of being bound.

``expression(node, args, ctx)`` is the arithmetic alone, as one WGSL expression over already-loaded
argument values. This template uses it, and so do the matmul/conv lowerings for their fused epilogues
(webexport/fusion.py):

    >>> expression(node, ["acc", "0.0f"], ctx)            # node: maximum(%v1, %zero), float32
    'select(max(acc, 0.0f), acc, is_nan(acc))'

Values use the storage types of common.WGSL_TYPES: f32, i32, and u32 0/1 for bool.

Numerics (checked against numpy float32 by tests/webexport/test_kernels_elementwise.py):
- ``tanh``: WGSL's builtin is specified as sinh/cosh, which loses relative precision near 0 and overflows
  past |x| ~ 44; we use ``(1 - e) / (1 + e)`` with ``e = exp(-2|x|)`` (never overflows), and its Taylor
  series below |x| = 0.1, where ``1 - e`` would cancel.
- ``sigmoid``: ``1 / (1 + exp(-x))`` is stable in floating point (exp overflowing to inf gives 0).
- ``erf``: Taylor series to x^11 below |x| = 0.5, Abramowitz–Stegun 7.1.26 above (absolute error
  1.5e-7, relative error < 3e-7 there): both within 2e-7 of numpy's erf in float32.
- ``sin``/``cos``: WGSL allows 2^-11 absolute error (SwiftShader has it): range reduction + polynomials.
- ``pow``: WGSL's ``pow`` is undefined for a negative base. ``power_f32`` takes ``pow(|x|, y)`` and, like
  numpy (C's powf), gives it the sign of ``x`` for odd integer ``y``, NaN for a non-integer ``y``, and 1 for
  ``y == 0``, ``x == 1`` (even ``1**NaN``) and ``(-1)**±inf``.
- ``sign(0) = 0``; ints divide only after the public op casts them to float32 (numpy's ``/``).
- NaN: WGSL promises nothing about it (``max``/``min`` may return either operand, ``sign`` may give 0,
  ``!=`` may be an ordered comparison; SwiftShader's ``exp(NaN)`` is inf, its ``log`` of 0, of negatives
  and of NaN finite), so float ``maximum``/``minimum``/``sign``/``pow``/``exp``/``log`` call the prelude's
  numpy-semantics helpers (``maximum_f32``, ...), which test NaN by its bits (``is_nan``); ``sigmoid``
  passes NaN through. Against a
  finite literal (``relu``'s 0) maximum/minimum only test the other operand. ``not_equal`` is
  ``!(a == b)``, and float → bool tests the bits without the sign, so NaN is true and -0.0 false.
"""
import re

from webexport.kernels.common import ExportError, Kernel, bindings, dim, literal, lowering, numel, render, \
    scalar_constant, strides, threads, wgsl_type

UNARY = ("neg", "exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "erf", "sin", "cos")
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
COMPARE = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">="}


def _trig(quadrant_shift):
    """sin (shift 0) or cos (shift 1) of {a}: WGSL's builtins may be off by 2^-11 (SwiftShader's are), so
    reduce to r in [-pi/4, pi/4] by quadrant k (Cody–Waite, pi/2 in three parts) and evaluate Taylor
    polynomials (error < 2e-9 there); quadrant (k + shift) mod 4 picks sin r, cos r, -sin r or -cos r."""
    k = "round({a} * 0.63661977f)"
    r = "((({a} - <k> * 1.5703125f) - <k> * 4.8382679e-4f) - <k> * 2.5632829e-12f)".replace("<k>", k)
    r2 = f"({r} * {r})"
    sin_r = (f"({r} * (1.0f + <r2> * (-0.16666667f + <r2> * (0.0083333338f + <r2> * (-0.0001984127f"
             f" + <r2> * 2.7557319e-6f)))))").replace("<r2>", r2)
    cos_r = ("(1.0f + <r2> * (-0.5f + <r2> * (0.041666668f + <r2> * (-0.0013888889f + <r2> * (2.4801588e-5f"
             " + <r2> * -2.755732e-7f)))))").replace("<r2>", r2)
    quadrant = f"(i32({k}) + {quadrant_shift}i)"
    return f"(select({sin_r}, {cos_r}, ({quadrant} & 1i) != 0i) * select(1.0f, -1.0f, ({quadrant} & 2i) != 0i))"


def _erf():
    """erf of {a}: Abramowitz–Stegun 7.1.26 for |x| >= 0.5, the Taylor series (to x^11) below, where the
    former's 1.5e-7 absolute error would be a large relative one."""
    t = "(1.0f / (1.0f + 0.3275911f * abs({a})))"
    poly = ("(<t> * (0.254829592f + <t> * (-0.284496736f + <t> * (1.421413741f + <t> * (-1.453152027f"
            " + <t> * 1.061405429f)))))").replace("<t>", t)
    tail = f"(sign({{a}}) * (1.0f - {poly} * exp(-({{a}} * {{a}}))))"
    x2 = "({a} * {a})"
    series = ("(1.1283791671f * {a} * (1.0f - <x2> * (0.33333333f - <x2> * (0.1f - <x2> * (0.023809524f"
              " - <x2> * (0.0046296296f - <x2> * 0.00075757576f))))))").replace("<x2>", x2)
    return f"select({tail}, {series}, abs({{a}}) < 0.5f)"


# The arithmetic of each op as a WGSL expression over its arguments {a}, {b}, {c} (already loaded values).
# Each argument may be repeated: callers pass names or loads, never expressions with side effects.
FLOAT_EXPRESSIONS = {
    "neg": "(-{a})",
    "exp": "exp_f32({a})",
    "log": "log_f32({a})",
    "sqrt": "sqrt({a})",
    "abs": "abs({a})",
    "sign": "sign_f32({a})",
    "sin": _trig(0),
    "cos": _trig(1),
    "sigmoid": "select(1.0f / (1.0f + exp(-({a}))), {a}, is_nan({a}))",
    "tanh": ("select(sign({a}) * (1.0f - exp(-2.0f * abs({a}))) / (1.0f + exp(-2.0f * abs({a}))), "
             "{a} * (1.0f - {a} * {a} * (0.33333333f - {a} * {a} * 0.13333333f)), abs({a}) < 0.1f)"),
    "erf": _erf(),
    "add": "({a} + {b})",
    "sub": "({a} - {b})",
    "mul": "({a} * {b})",
    "div": "({a} / {b})",
    "maximum": "maximum_f32({a}, {b})",
    "minimum": "minimum_f32({a}, {b})",
    "pow": "power_f32({a}, {b})",
    "where": "select({c}, {b}, {a} != 0u)",
}
INT_EXPRESSIONS = {
    "neg": "(-{a})",
    "abs": "abs({a})",
    "sign": "select(select(0i, 1i, {a} > 0i), -1i, {a} < 0i)",
    "add": "({a} + {b})",
    "sub": "({a} - {b})",
    "mul": "({a} * {b})",
    "maximum": "max({a}, {b})",
    "minimum": "min({a}, {b})",
    "where": "select({c}, {b}, {a} != 0u)",
}
BOOL_EXPRESSIONS = {"where": "select({c}, {b}, {a} != 0u)"}
_CONVERT = {"float32": "f32", "int32": "i32"}
# A name, a plain load like in2[j], or an unsigned literal: safe to use as an operand without parentheses.
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\[\]]*\])?|[0-9][0-9.e+]*[fiu]?")
# A finite f32 literal as common.literal writes it (maybe parenthesised): never NaN.
_FINITE_F32 = re.compile(r"\(?-?[0-9][0-9.e+-]*f\)?")


def expression(node, args, ctx=None):
    """The WGSL expression computing elementwise ``node`` from ``args``, the WGSL expressions of its
    inputs' values (loaded, in storage types: f32, i32, u32 0/1 for bool). Arguments may be repeated in
    the result, so pass names or plain loads.

    Args:
        node: a graph ``Node`` whose target is an elementwise primitive (see ``LOWERED``).
        args: one WGSL expression per input of ``node``.
        ctx: the lowering context; only ``cast`` asks it for its input's dtype (``ctx.spec``).

    >>> expression(Node("v2", "call", (4,), "float32", "add", ["v1", "b"]), ["acc", "in2[j]"])
    '(acc + in2[j])'
    """
    target, out_dtype = node.target, node.dtype
    args = [a if _SIMPLE.fullmatch(a) else f"({a})" for a in args]  # so "-1.0f" or "x + y" stay one operand
    names = dict(zip("abc", args))
    if target == "cast":
        source = ctx.spec(node.inputs[0]).dtype if ctx is not None else None
        return _cast(args[0], source, out_dtype, node)
    if target == "not_equal":  # true for NaN, like numpy, even where `!=` compiles to an ordered comparison
        return f"select(1u, 0u, {args[0]} == {args[1]})"
    if target in COMPARE:
        return f"select(0u, 1u, {args[0]} {COMPARE[target]} {args[1]})"
    if target in ("maximum", "minimum") and out_dtype == "float32" and any(_FINITE_F32.fullmatch(a) for a in args):
        # one operand cannot be NaN: the builtin, unless the other one is NaN
        x, k = args if _FINITE_F32.fullmatch(args[1]) else args[::-1]
        return f"select({target[:3]}({x}, {k}), {x}, is_nan({x}))"
    table = {"float32": FLOAT_EXPRESSIONS, "int32": INT_EXPRESSIONS, "bool": BOOL_EXPRESSIONS}.get(out_dtype)
    if table is None or target not in table:
        wgsl_type(out_dtype, node)  # float64 gets the dtype error
        raise ExportError(f"node %{node.name} ({target}): no WGSL expression for {target} on {out_dtype}. "
                          f"Received: dtype={out_dtype}")
    return table[target].format(**names)


def _cast(value, source, target, node):
    wgsl_type(target, node)
    if source == target:
        return value
    if target == "bool":
        if source == "float32":  # NaN is true, -0.0 false: test the bits, as `x != 0.0f` may be ordered
            return f"select(0u, 1u, (bitcast<u32>({value}) & 0x7fffffffu) != 0u)"
        return f"select(0u, 1u, {value} != {literal(0, source)})" if source else f"select(0u, 1u, bool({value}))"
    return f"{_CONVERT[target]}({value})"  # f32->i32 truncates toward zero (saturating), like numpy's astype


LOWERED = ("cast", "where") + UNARY + BINARY + tuple(COMPARE)


def _input_plan(name, ctx, out_shape):
    """How the kernel reads input ``name``: a literal, at the output index, at 0, or by broadcast strides."""
    spec = ctx.spec(name)
    const = scalar_constant(ctx, name)
    if const is not None:
        return {"kind": "literal", "value": literal(const, spec.dtype)}
    shape = tuple(spec.shape)
    if shape == tuple(out_shape):
        return {"kind": "same"}
    if all(d == 1 for d in shape):
        return {"kind": "first"}
    # Align to the output from the right; an axis of size 1 (or absent) is broadcast: stride 0.
    lead = len(out_shape) - len(shape)
    own = strides(shape)
    coefs = [0] * lead + [0 if d == 1 and out_shape[lead + k] != 1 else own[k] for k, d in enumerate(shape)]
    return {"kind": "strided", "terms": [(k, c) for k, c in enumerate(coefs) if c and out_shape[k] != 1]}


@lowering(*LOWERED)
def lower_elementwise(node, ctx):
    """One kernel: ``out0[i] = expression(in0[...], in1[...], ...)`` over every output element."""
    out = ctx.spec(node.name)
    plans = [_input_plan(name, ctx, out.shape) for name in node.inputs]
    bound = [name for name, plan in zip(node.inputs, plans) if plan["kind"] != "literal"]
    slots = iter(range(len(bound)))
    for plan in plans:
        if plan["kind"] != "literal":
            plan["binding"] = f"in{next(slots)}"
    args = [f"x{k}" for k in range(len(plans))]
    coords = [{"axis": k, "div": s, "mod": None if k == 0 else dim(d)}
              for k, (s, d) in enumerate(zip(strides(out.shape), out.shape))]
    used = sorted({k for p in plans if p["kind"] == "strided" for k, _ in p["terms"]})
    label = f"{node.name}/{node.target}"
    wgsl = render("elementwise.wgsl.j2", label=label, bindings=bindings(ctx, bound, [node.name]),
                  total=numel(out.shape), inputs=list(zip(args, plans)), coords=[coords[k] for k in used],
                  value=expression(node, args, ctx))
    return [Kernel(wgsl=wgsl, inputs=bound, outputs=[node.name], threads=threads(out.shape), label=label)]
