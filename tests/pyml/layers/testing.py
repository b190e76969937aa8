"""``run_layer_test``: one call that checks a layer the way Keras' ``testing/test_case.py`` does.

It checks, in order: the config round trip (``from_config(get_config())`` and ``pyml.layers.serialize``),
building (weight counts and ``"<layer>/<weight>"`` names), the output shape and dtype on data,
``compute_output_shape`` and the symbolic output spec against the real output, that a rebuilt layer
with copied weights computes the same thing, and a training step: every trainable weight gets a
gradient that matches central differences of the loss (in float64), and one SGD step lowers the loss.
"""
import itertools
import math

import numpy as np

import pyml


def numpy_conv(x, kernel, strides, padding, dilation, groups=1):
    """Reference N-d cross-correlation, channels-last, TF "same" padding (extra on the high side)."""
    rank = x.ndim - 2
    window = kernel.shape[:rank]
    pads = []
    for d in range(rank):
        span = dilation[d] * (window[d] - 1) + 1
        if padding == "same":
            out = math.ceil(x.shape[1 + d] / strides[d])
            total = max((out - 1) * strides[d] + span - x.shape[1 + d], 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "causal":
            pads.append((span - 1, 0))
        else:
            pads.append((0, 0))
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out_sizes = [(xp.shape[1 + d] - (dilation[d] * (window[d] - 1) + 1)) // strides[d] + 1 for d in range(rank)]
    cin_g, filters = kernel.shape[-2], kernel.shape[-1]
    per_group = filters // groups
    out = np.zeros((x.shape[0], *out_sizes, filters))
    for pos in itertools.product(*[range(n) for n in out_sizes]):
        for k in itertools.product(*[range(w) for w in window]):
            idx = tuple(p * s + kk * r for p, s, kk, r in zip(pos, strides, k, dilation))
            patch = xp[(slice(None),) + idx]  # (batch, channels)
            for g in range(groups):
                cols = slice(g * per_group, (g + 1) * per_group)
                out[(slice(None),) + pos + (cols,)] += patch[:, g * cin_g:(g + 1) * cin_g] @ kernel[k][:, cols]
    return out


def _random_input(shape, dtype, rng):
    if dtype == "int32":
        return rng.integers(0, 5, size=shape).astype("int32")
    return rng.standard_normal(shape).astype(dtype)


def _loss(layer, x, training):
    out = layer(x, training=training)
    return pyml.ops.mean(pyml.ops.square(out))


def _check_gradients(layer_cls, init_kwargs, x, rng):
    """d loss / d weights by the tape vs central differences along a random direction (float64)."""
    layer = layer_cls(**init_kwargs, dtype="float64")
    x = x.astype("float64") if x.dtype.kind == "f" else x
    layer(x)
    weights = layer.trainable_weights
    with pyml.GradientTape() as tape:
        loss = _loss(layer, x, training=False)
    grads = tape.gradient(loss, weights)
    assert all(g is not None for g in grads), f"{layer.name}: missing gradients for " \
        f"{[w.name for w, g in zip(weights, grads) if g is None]}"
    directions = [rng.standard_normal(w.shape) for w in weights]
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, directions))
    originals = [w.numpy().copy() for w in weights]
    eps = 1e-6
    values = []
    for sign in (1, -1):
        for w, o, d in zip(weights, originals, directions):
            w.assign(o + sign * eps * d)
        values.append(float(_loss(layer, x, training=False)))
    for w, o in zip(weights, originals):
        w.assign(o)
    numeric = (values[0] - values[1]) / (2 * eps)
    assert np.isclose(analytic, numeric, rtol=1e-5, atol=1e-7), f"{layer.name}: tape {analytic} vs numeric {numeric}"


def run_layer_test(layer_cls, init_kwargs, input_shape, expected_output_shape, input_dtype="float32",
                   expected_output_dtype="float32", expected_num_trainable_weights=0,
                   expected_num_non_trainable_weights=0, run_training_check=True, check_gradients=True, seed=0):
    """Check a layer class end to end; ``input_shape`` includes the batch axis."""
    rng = np.random.default_rng(seed)
    pyml.set_random_seed(seed)
    x = _random_input(input_shape, input_dtype, rng)

    # config round trip, before and after building
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config
    assert pyml.layers.deserialize(pyml.layers.serialize(layer)).get_config() == config

    # symbolic spec (builds the layer) vs compute_output_shape, with a dynamic batch
    dynamic = (None,) + tuple(input_shape[1:])
    spec = layer.compute_output_spec(dynamic, input_dtype=input_dtype)
    assert layer.built
    assert spec.shape == (None,) + tuple(expected_output_shape[1:]), f"symbolic shape {spec.shape}"
    assert tuple(layer.compute_output_shape(dynamic)) == spec.shape
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    assert all(w.name.startswith(layer.name + "/") for w in layer.weights)
    assert layer_cls.from_config(layer.get_config()).get_config() == layer.get_config()

    # eager output shape and dtype
    out = layer(x, training=False)
    assert out.shape == tuple(expected_output_shape), f"output shape {out.shape}"
    assert out.dtype == expected_output_dtype == spec.dtype
    assert tuple(layer.compute_output_shape(tuple(input_shape))) == out.shape

    # a rebuilt layer with the same weights computes the same thing
    twin = layer_cls.from_config(layer.get_config())
    twin(x)
    twin.set_weights(layer.get_weights())
    np.testing.assert_allclose(twin(x, training=False).numpy(), out.numpy(), rtol=1e-6, atol=1e-6)

    if run_training_check and layer.trainable_weights:
        before = float(_loss(layer, x, training=False))
        with pyml.GradientTape() as tape:
            loss = _loss(layer, x, training=True)
        grads = tape.gradient(loss, layer.trainable_weights)
        for w, g in zip(layer.trainable_weights, grads):
            assert g is not None and g.shape == w.shape, f"gradient of {w.name}: {g}"
        pyml.optimizers.SGD(learning_rate=1e-3).apply_gradients(zip(grads, layer.trainable_weights))
        after = float(_loss(layer, x, training=False))
        assert after < before, f"{layer.name}: one SGD step did not lower the loss ({before} -> {after})"
        if check_gradients:
            _check_gradients(layer_cls, init_kwargs, x, rng)
    return layer
