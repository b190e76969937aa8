"""run_bundle outside the test script: no "XDG_RUNTIME_DIR is invalid or not set" noise from Mesa's Wayland probe."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import pyml, webexport
    model = pyml.Sequential([pyml.Input(shape=(3,)), pyml.layers.Dense(2)])
    webexport.export(model, sys.argv[1], include_runtime=False)
    x = np.ones((1, 3), np.float32)
    (out,) = webexport.run_bundle(webexport.load_bundle(sys.argv[1]), x).values()
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    print("ok", os.environ.get("XDG_RUNTIME_DIR", "<unset>"))
""")


@pytest.mark.parametrize("runtime_dir", [None, "/nonexistent/pyml-runtime"], ids=["unset", "missing-folder"])
def test_run_bundle_prints_nothing_about_xdg_runtime_dir_and_leaves_the_environment_as_it_was(tmp_path, runtime_dir):
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    if runtime_dir:
        env["XDG_RUNTIME_DIR"] = runtime_dir
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "bundle")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "XDG_RUNTIME_DIR" not in result.stderr, result.stderr
    assert result.stdout.split() == ["ok", runtime_dir or "<unset>"]
