"""UnitNormalization, GroupNormalization and RMSNormalization against NumPy forms of the Keras formulas."""
import numpy as np
import pytest

import pyml
from pyml.layers import GroupNormalization, RMSNormalization, UnitNormalization
from tests.pyml.layers.testing import run_layer_test


def test_layer_tests():
    run_layer_test(UnitNormalization, {"axis": [1, 2]}, input_shape=(2, 3, 4), expected_output_shape=(2, 3, 4))
    run_layer_test(RMSNormalization, {}, input_shape=(2, 3, 4), expected_output_shape=(2, 3, 4),
                   expected_num_trainable_weights=1)
    run_layer_test(RMSNormalization, {"axis": [1, 2], "epsilon": 1e-3}, input_shape=(2, 3, 4),
                   expected_output_shape=(2, 3, 4), expected_num_trainable_weights=1)
    run_layer_test(GroupNormalization, {"groups": 2}, input_shape=(2, 3, 3, 4), expected_output_shape=(2, 3, 3, 4),
                   expected_num_trainable_weights=2)
    run_layer_test(GroupNormalization, {"groups": 3, "axis": 1, "center": False}, input_shape=(2, 6, 5),
                   expected_output_shape=(2, 6, 5), expected_num_trainable_weights=1)


@pytest.mark.parametrize("axis, axes", [(-1, (2,)), (1, (1,)), ([1, 2], (1, 2))])
def test_unit_normalization_matches_numpy(axis, axes):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    x[0, :, :] = 0  # an all-zero sample stays zero (the norm is floored at 1e-12)
    norm = np.sqrt((x.astype(np.float64) ** 2).sum(axis=axes, keepdims=True))
    expected = x / np.maximum(norm, 1e-12)
    np.testing.assert_allclose(UnitNormalization(axis=axis)(x).numpy(), expected, rtol=1e-5, atol=1e-7)


def test_unit_normalization_gradient_is_finite_at_zero():
    x = pyml.Tensor(np.zeros((1, 3), "float32"), requires_grad=True)
    UnitNormalization()(x).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("axis, axes", [(-1, (2,)), ([1, 2], (1, 2))])
def test_rms_normalization_matches_numpy(axis, axes):
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype("float32")
    layer = RMSNormalization(axis=axis, epsilon=1e-6)
    layer.build(x.shape)
    scale = np.random.default_rng(2).uniform(0.5, 2, layer.scale.shape).astype("float32")
    layer.scale.assign(scale)
    rms = np.sqrt((x.astype(np.float64) ** 2).mean(axis=axes, keepdims=True) + 1e-6)
    expected = x / rms * (scale if axis == -1 else scale[None])
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert layer.scale.shape == tuple(x.shape[a] for a in axes)


def numpy_group_norm(x, groups, axis, epsilon, gamma, beta):
    """Channels of ``axis`` in ``groups`` consecutive blocks; statistics per (sample, group) over every other axis."""
    x = np.moveaxis(x.astype(np.float64), axis, -1)
    n, channels = x.shape[0], x.shape[-1]
    blocks = x.reshape(n, -1, groups, channels // groups)
    mean = blocks.mean(axis=(1, 3), keepdims=True)
    var = blocks.var(axis=(1, 3), keepdims=True)
    out = ((blocks - mean) / np.sqrt(var + epsilon)).reshape(x.shape) * gamma + beta
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("groups, axis, shape", [(2, -1, (3, 4, 4, 6)), (3, -1, (2, 5, 6)), (-1, -1, (2, 5, 3)),
                                                 (1, -1, (2, 4)), (2, 1, (2, 4, 5, 3))])
def test_group_normalization_matches_numpy(groups, axis, shape):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 2 + 1).astype("float32")
    layer = GroupNormalization(groups=groups, axis=axis, epsilon=1e-3)
    layer.build(shape)
    channels = shape[axis]
    gamma, beta = rng.uniform(0.5, 2, channels), rng.standard_normal(channels)
    layer.set_weights([gamma, beta])
    expected = numpy_group_norm(x, channels if groups == -1 else groups, axis % len(shape), 1e-3,
                                gamma.astype("float32"), beta.astype("float32"))
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_group_normalization_saves_and_loads(tmp_path):
    model = pyml.Sequential([pyml.Input(shape=(4, 6)), GroupNormalization(3, name="gn"), RMSNormalization(name="rms"),
                             UnitNormalization(name="unit")])
    model.get_layer("gn").set_weights([np.arange(6.0), np.ones(6)])
    x = np.random.default_rng(4).standard_normal((2, 4, 6)).astype("float32")
    model.save(tmp_path / "m.pyml")
    loaded = pyml.load_model(tmp_path / "m.pyml")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("gn").groups == 3


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"`groups`=4 must divide the 6 channels"):
        GroupNormalization(4)(np.ones((2, 6), "float32"))
    with pytest.raises(ValueError, match="Received: groups=0"):
        GroupNormalization(0)
    with pytest.raises(ValueError, match="Received: axis='x'"):
        UnitNormalization(axis="x")
    with pytest.raises(ValueError, match="Received: epsilon=0"):
        RMSNormalization(epsilon=0)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        RMSNormalization(axis=3)(np.ones((2, 6), "float32"))
