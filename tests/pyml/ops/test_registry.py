"""Registry-driven op suite: every primitive has samples, matches its numpy reference, and its VJP
matches central differences in float64. A primitive without samples fails here."""
import numpy as np
import pytest

import pyml
from pyml.ops.registry import bind
from tests.op_samples import all_samples

SAMPLES = all_samples()
GRAD_SAMPLES = [s for s in SAMPLES if s.grad]


def test_every_primitive_has_samples():
    covered = {s.op for s in SAMPLES}
    missing = sorted(set(pyml.ops.primitives()) - covered)
    assert not missing, f"primitives without samples in tests/op_samples: {missing}"


def _refuses(prim):
    return getattr(prim.vjp, "refusal", None) is not None


def test_every_differentiable_primitive_has_a_gradient_check():
    # None: not differentiable (ints, comparisons); refuse_gradient: differentiating raises, checked below
    no_vjp = {name for name, p in pyml.ops.primitives().items() if p.vjp is None or _refuses(p)}
    checked = {s.op for s in GRAD_SAMPLES}
    unchecked = sorted(set(pyml.ops.primitives()) - no_vjp - checked)
    assert not unchecked, f"primitives with a VJP but no gradient check: {unchecked}"


@pytest.mark.parametrize("name", sorted(n for n, p in pyml.ops.primitives().items() if _refuses(p)))
def test_refused_gradients_raise_naming_the_primitive(name):
    sample = next(s for s in SAMPLES if s.op == name)
    tensors = [pyml.Tensor(x, requires_grad=x.dtype.kind == "f") for x in sample.inputs]
    out = bind(name, *tensors, **sample.attrs)
    with pytest.raises(pyml.errors.OpError, match=f"^{name}: has no gradient"):
        pyml.autodiff.grad([out], [t for t in tensors if t.requires_grad])


def test_every_sample_names_a_registered_primitive():
    unknown = sorted({s.op for s in SAMPLES} - set(pyml.ops.primitives()))
    assert not unknown, f"samples for unknown primitives: {unknown}"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_forward_matches_reference(sample):
    out = bind(sample.op, *[pyml.Tensor(x) for x in sample.inputs], **sample.attrs)
    expected = np.asarray(sample.reference(*sample.inputs, **sample.attrs))
    assert out.shape == expected.shape, f"{sample.op}: shape {out.shape} != reference {expected.shape}"
    if out.dtype in ("float32", "float64"):
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(out.numpy(), expected.astype(out.numpy().dtype))


def _as64(x):
    return x.astype(np.float64) if x.dtype.kind == "f" else x


@pytest.mark.parametrize("sample", GRAD_SAMPLES, ids=lambda s: s.id)
def test_vjp_matches_central_differences(sample):
    """<g, J v> by the VJP equals (f(x + eps v) - f(x - eps v)) / 2eps · g, for a random direction v."""
    rng = np.random.default_rng(0)
    xs = [_as64(x) for x in sample.inputs]
    float_idx = [i for i, x in enumerate(xs) if x.dtype.kind == "f"]
    assert float_idx, f"{sample.op}: a gradient sample needs a float input"

    def f(arrays):
        return bind(sample.op, *[pyml.Tensor(a) for a in arrays], **sample.attrs)

    tensors = [pyml.Tensor(x, requires_grad=(i in float_idx)) for i, x in enumerate(xs)]
    out = bind(sample.op, *tensors, **sample.attrs)
    if out.dtype not in ("float32", "float64"):
        pytest.fail(f"{sample.op}: gradient sample with non-float output {out.dtype}; set grad=False")
    g = rng.standard_normal(out.shape)
    grads = pyml.autodiff.grad([out], [tensors[i] for i in float_idx], [pyml.Tensor(g)])
    directions = {i: rng.standard_normal(xs[i].shape) for i in float_idx}
    analytic = sum(
        float(np.sum(grads[k].numpy() * directions[i])) if grads[k] is not None else 0.0
        for k, i in enumerate(float_idx)
    )
    eps = 1e-6
    plus = [x + eps * directions[i] if i in directions else x for i, x in enumerate(xs)]
    minus = [x - eps * directions[i] if i in directions else x for i, x in enumerate(xs)]
    numeric = float(np.sum((f(plus).numpy() - f(minus).numpy()) / (2 * eps) * g))
    assert np.isclose(analytic, numeric, rtol=1e-5, atol=1e-6), f"{sample.op}: vjp {analytic} vs numeric {numeric}"
