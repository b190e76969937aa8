"""The GPU path, proven on the CPU: the registry op suite and a short fit run with ``xp`` set to
``tests/strict_xp``, a NumPy stand-in whose arrays refuse implicit host conversion the way CuPy's do, so a
forgotten ``np.`` call on tensor data or an implicit device->host copy fails here. Plus the device API."""
import numpy as np
import pytest

import pyml
import webexport
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
    for implicit in (lambda: np.asarray(a), lambda: np.sum(a), lambda: np.copyto(a, a), lambda: a + np.ones(3),
                     lambda: strict_xp.exp(np.ones(3)), lambda: np.ones(3) * a, lambda: np.multiply(a, np.ones(3)),
                     lambda: a.__setitem__(0, np.ones(3))):
        with pytest.raises(TypeError):
            implicit()
    assert float(strict_xp.sum(a)) == 6.0  # CuPy's 0-d arrays convert to Python numbers (a sync)
    assert (np.float32(2) * a).__class__ is strict_xp.StrictArray  # NumPy scalars and ufuncs compute on the device
    np.testing.assert_array_equal(backend.to_numpy(a * 2.0), np.full((2, 3), 2.0))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.id)
def test_forward_on_a_device_backend(sample, strict):
    test_registry.test_forward_matches_reference(sample)


@pytest.mark.parametrize("sample", test_registry.GRAD_SAMPLES, ids=lambda s: s.id)
def test_vjp_on_a_device_backend(sample, strict):
    test_registry.test_vjp_matches_central_differences(sample)


# ---- training: the same script on the device stand-in gives the CPU's numbers ----------------------------
def _model(conv, jit_compile="auto"):
    pyml.set_random_seed(0)
    layers = pyml.layers
    body = ([layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.25)]
            if conv else [layers.Dense(8, activation="relu"), layers.BatchNormalization()])
    model = pyml.Sequential([pyml.Input((8, 8, 1) if conv else (6,)), *body, layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile)
    return model


@pytest.mark.parametrize("jit_compile", [True, False], ids=["compiled", "eager"])
@pytest.mark.parametrize("conv", [False, True], ids=["mlp", "convnet"])
def test_fit_on_a_device_backend_matches_the_cpu(conv, jit_compile, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 8, 8, 1) if conv else (48, 6)).astype("float32")
    y = rng.integers(0, 3, 48)
    cpu = _model(conv)
    cpu_history = cpu.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    with pyml.device(strict_xp):
        model = _model(conv, jit_compile)
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        # the compiled step's executor plans its buffers on the device too
        step = model._compiled_step
        assert bool(step) == jit_compile and (not jit_compile or step.state.xp is strict_xp)
        assert all(w.data.__class__ is strict_xp.StrictArray for w in model.weights)  # weights stay on the device
        assert all(a.__class__ is strict_xp.StrictArray for a in model.optimizer._slots.values())
        predictions = model.predict(x, verbose=0)
        weights = model.get_weights()
        model.save(tmp_path / "m.keras")
        webexport.export(model, tmp_path / "bundle", include_runtime=False)  # weights read back to the host
    np.testing.assert_allclose(history.history["loss"], cpu_history.history["loss"], rtol=1e-5)
    for got, want in zip(weights, cpu.get_weights()):
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(predictions, cpu.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    reloaded = pyml.load_model(tmp_path / "m.keras")  # saved from the device, loaded on the host
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), predictions, rtol=1e-5, atol=1e-6)
    assert webexport.load_bundle(tmp_path / "bundle").manifest["outputs"]


# ---- the device API ------------------------------------------------------------------------------------
def test_device_context_restores_the_backend_even_on_error():
    with pytest.raises(KeyError):
        with pyml.device(strict_xp):
            assert backend.name() == strict_xp.__name__ and backend.device_name() == "gpu"
            raise KeyError("inside")
    assert backend.name() == "numpy" and backend.device_name() == "cpu"


def test_unknown_devices_are_refused_by_name():
    with pytest.raises(ValueError, match="device='tpu'"):
        pyml.set_device("tpu")
    with pytest.raises(ValueError, match="'numpyy'"):
        backend.set_backend("numpyy")


def test_gpu_without_cupy_names_the_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'pyml\[gpu\]'.*cupy-cuda12x.*cupy-cuda11x or cupy-cuda13x"):
        pyml.set_device("gpu")
    assert backend.name() == "numpy"


def test_gpu_without_a_driver_says_so(monkeypatch):
    class _Runtime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    fake = __import__("types").SimpleNamespace(cuda=__import__("types").SimpleNamespace(runtime=_Runtime))
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake)
    with pytest.raises(RuntimeError, match="no usable CUDA driver.*insufficient.*matching the driver's CUDA"):
        with pyml.device("gpu"):
            pass
    assert backend.name() == "numpy"


@pytest.mark.parametrize("value, expected", [("cpu", "numpy"), ("gpu", "RuntimeError")])
def test_pyml_device_is_read_at_import(value, expected):
    import os
    import subprocess
    import sys

    code = ("import sys; sys.modules['cupy'] = None\n"
            "try:\n    import pyml; print(pyml.backend.name())\n"
            "except RuntimeError as e:\n    print('RuntimeError', e)")
    env = dict(os.environ, PYML_DEVICE=value)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.stdout.split()[0] == expected, out.stdout + out.stderr
