import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _cuda_device():
    """None when a CUDA device can run CuPy here, else why not (the skip reason of ``@pytest.mark.gpu``)."""
    try:
        import cupy
    except ImportError:
        return "no CUDA device: CuPy is not installed (pip install 'pyml[gpu]')"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        return f"no CUDA device: {exc}"
    return None if count else "no CUDA device"


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs CuPy and a CUDA device; skipped, with the reason, elsewhere")


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    reason = _cuda_device()
    if reason:
        import pytest

        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


if os.environ.get("PYML_TEST_DEVICE") == "strict":  # any test file on the device stand-in (docs/internals.md §12)
    import pytest

    @pytest.fixture(autouse=True)
    def _on_the_strict_device():
        import pyml
        from tests import strict_xp

        with pyml.device(strict_xp):
            yield
