"""Initializers: Keras' variance-scaling formulas (checked on the sample statistics), seeding, lookup."""
import math

import numpy as np
import pytest

import pyml
from pyml import initializers


@pytest.mark.parametrize("name, fan, scale, distribution", [
    ("glorot_uniform", "avg", 1.0, "uniform"), ("glorot_normal", "avg", 1.0, "normal"),
    ("he_uniform", "in", 2.0, "uniform"), ("he_normal", "in", 2.0, "normal"),
    ("lecun_uniform", "in", 1.0, "uniform"), ("lecun_normal", "in", 1.0, "normal"),
])
def test_variance_scaling_presets(name, fan, scale, distribution):
    shape = (3, 3, 40, 60)  # fan_in = 9 * 40, fan_out = 9 * 60 (Keras counts the receptive field)
    fan_in, fan_out = 9 * 40, 9 * 60
    n = fan_in if fan == "in" else (fan_in + fan_out) / 2
    values = initializers.get(name)(shape)
    assert values.shape == shape and values.dtype == np.float32
    assert values.var() == pytest.approx(scale / n, rel=0.05)
    if distribution == "uniform":
        assert np.abs(values).max() <= math.sqrt(3 * scale / n)
    else:  # truncated at two standard deviations of the underlying normal
        assert np.abs(values).max() <= 2 * math.sqrt(scale / n) / 0.87962566103423978 + 1e-6


def test_compute_fans():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((5,)) == (5, 5)
    assert initializers.compute_fans((4, 6)) == (4, 6)
    assert initializers.compute_fans((3, 2, 4, 6)) == (24, 36)


def test_constant_zeros_ones_and_random_ranges():
    np.testing.assert_array_equal(initializers.get("zeros")((2,)), [0, 0])
    np.testing.assert_array_equal(initializers.get("ones")((2,), "int32"), [1, 1])
    np.testing.assert_array_equal(initializers.Constant(2.5)((3,)), [2.5, 2.5, 2.5])
    u = initializers.RandomUniform(-0.1, 0.2)((1000,))
    assert u.min() >= -0.1 and u.max() < 0.2
    r = initializers.RandomNormal(mean=1.0, stddev=0.1)((5000,))
    assert r.mean() == pytest.approx(1.0, abs=0.01) and r.std() == pytest.approx(0.1, rel=0.05)


def test_global_seed_makes_layers_reproducible():
    pyml.set_random_seed(7)
    a = pyml.layers.Dense(3)
    a.build((None, 4))
    pyml.set_random_seed(7)
    b = pyml.layers.Dense(3)
    b.build((None, 4))
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
    c = pyml.layers.Dense(3)
    c.build((None, 4))
    assert not np.array_equal(a.kernel.numpy(), c.kernel.numpy())


def test_seeded_initializer_is_reproducible_on_its_own():
    first = initializers.GlorotUniform(seed=3)((4, 4))
    np.testing.assert_array_equal(first, initializers.GlorotUniform(seed=3)((4, 4)))


def test_get_serialize_and_errors():
    init = initializers.VarianceScaling(scale=3.0, mode="fan_out", distribution="uniform", seed=1)
    restored = initializers.get(initializers.serialize(init))
    assert restored.get_config() == init.get_config()
    with pytest.raises(ValueError, match="Unknown initializer: known ones are .*glorot_uniform.*Received"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="Received: mode='fan'"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="Received: seed=1.5"):
        initializers.RandomNormal(seed=1.5)
    with pytest.raises(ValueError, match="Received: seed=-1"):
        pyml.set_random_seed(-1)
