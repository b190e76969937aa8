"""On a real CUDA device (CuPy): the registry op suite and a short fit against the CPU. Marked ``gpu``: where
CuPy or a device is missing they are reported as skipped with the reason (tests/conftest.py)."""
import numpy as np
import pytest

import pyml
from tests.op_samples import all_samples
from tests.pyml import test_device_backend
from tests.pyml.ops import test_registry

pytestmark = pytest.mark.gpu


@pytest.fixture
def gpu():
    with pyml.device("gpu"):
        yield


@pytest.mark.parametrize("sample", all_samples(), ids=lambda s: s.id)
def test_forward_on_the_gpu(sample, gpu):
    test_registry.test_forward_matches_reference(sample)


@pytest.mark.parametrize("sample", test_registry.GRAD_SAMPLES, ids=lambda s: s.id)
def test_vjp_on_the_gpu(sample, gpu):
    test_registry.test_vjp_matches_central_differences(sample)


@pytest.mark.parametrize("conv", [False, True], ids=["mlp", "convnet"])
def test_fit_on_the_gpu_matches_the_cpu(conv):
    import cupy

    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 8, 8, 1) if conv else (48, 6)).astype("float32")
    y = rng.integers(0, 3, 48)
    cpu = test_device_backend._model(conv)
    cpu.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    with pyml.device("gpu"):
        model = test_device_backend._model(conv)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        assert all(isinstance(w.data, cupy.ndarray) for w in model.weights)
        assert model._compiled_step.state.xp is cupy  # the compiled step's executor ran on the GPU
    for got, want in zip(model.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)  # cuBLAS sums in another order
