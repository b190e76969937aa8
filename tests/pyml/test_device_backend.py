"""The GPU path, proven on the CPU: the registry op suite and a short fit run with ``xp`` set to
``tests/strict_xp``, a NumPy stand-in whose arrays refuse implicit host conversion the way CuPy's do, so a
forgotten ``np.`` call on tensor data or an implicit device->host copy fails here. Plus the device API."""
import numpy as np
import pytest

import pyml
from pyml import backend
from tests import strict_xp
from tests.op_samples import all_samples
from tests.pyml.ops import test_registry

SAMPLES = all_samples()


@pytest.fixture
def strict():
    with pyml.device(strict_xp):
        yield


def test_the_strict_module_refuses_what_cupy_refuses():
    a = strict_xp.asarray(np.ones((2, 3), np.float32))
    for implicit in (lambda: np.asarray(a), lambda: np.exp(a), lambda: np.sum(a), lambda: a + np.ones(3),
                     lambda: strict_xp.exp(np.ones(3)), lambda: np.ones(3) * a):
        with pytest.raises(TypeError):
            implicit()
    assert float(strict_xp.sum(a)) == 6.0  # CuPy's 0-d arrays convert to Python numbers (a sync)
    np.testing.assert_array_equal(backend.to_numpy(a * 2.0), np.full((2, 3), 2.0))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_forward_on_a_device_backend(sample, strict):
    test_registry.test_forward_matches_reference(sample)


@pytest.mark.parametrize("sample", test_registry.GRAD_SAMPLES, ids=lambda s: s.id)
def test_vjp_on_a_device_backend(sample, strict):
    test_registry.test_vjp_matches_central_differences(sample)
