"""The ``pyml`` command line: export, serve, demo, --version; user mistakes end in one line and exit status 2."""
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import pyml
from pyml import cli

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, timeout=120):
    """Run ``python -m pyml.cli ARGS`` in a fresh process (as a user would), capturing its output."""
    return subprocess.run([sys.executable, "-m", "pyml.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYML_DEBUG": ""})


def assert_one_line_error(result, command, *fragments):
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith(f"pyml {command}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small trained-for-one-epoch model saved with model.save, and inputs for it."""
    pyml.set_random_seed(0)
    model = pyml.Sequential([pyml.Input(shape=(4,)), pyml.layers.Dense(5, activation="relu"),
                             pyml.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "small.pyml"
    model.save(str(path))
    return path, model, x


def test_version_prints_the_package_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pyml {pyml.__version__}"


def test_export_writes_a_bundle_with_a_dynamic_batch_that_runs_like_the_model(saved_model, tmp_path, capsys):
    from webexport.native import run_bundle

    path, model, x = saved_model
    assert cli.main(["export", str(path), str(tmp_path / "web")]) == 0
    assert "wrote" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "web" / "model.json").read_text())
    assert manifest["inputs"][0]["shape"] == [None, 4]
    assert (tmp_path / "web" / "runtime" / "index.js").is_file()
    outputs = run_bundle(str(tmp_path / "web"), {manifest["inputs"][0]["name"]: x[:7]})
    np.testing.assert_allclose(outputs[manifest["outputs"][0]["name"]], model.predict(x[:7], verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_export_train_adds_the_training_step_with_the_compiled_loss_and_optimizer(saved_model, tmp_path, capsys):
    path, _, _ = saved_model
    assert cli.main(["export", str(path), str(tmp_path / "web"), "--train"]) == 0
    assert "training step:" in capsys.readouterr().out
    train = json.loads((tmp_path / "web" / "model.json").read_text())["train"]
    assert train["optimizer"]["class"] == "Adam" and train["loss"]["name"] == "sparse_categorical_crossentropy"
    assert (tmp_path / "web" / "train.bin").is_file()


def test_export_batch_size_fixes_the_batch_axis(saved_model, tmp_path):
    path, _, _ = saved_model
    assert cli.main(["export", str(path), str(tmp_path / "web"), "--batch-size", "3", "--input-shape", "4"]) == 0
    manifest = json.loads((tmp_path / "web" / "model.json").read_text())
    assert manifest["inputs"][0]["shape"] == [3, 4]
    assert manifest["outputs"][0]["shape"] == [3, 3]


def test_export_weights_int8_stores_the_matrices_and_reports_how_far_outputs_moved(tmp_path, capsys):
    model = pyml.Sequential([pyml.Input(shape=(64,)), pyml.layers.Dense(32, activation="relu"), pyml.layers.Dense(3)])
    model.save(str(tmp_path / "m.pyml"))
    assert cli.main(["export", str(tmp_path / "m.pyml"), str(tmp_path / "web"), "--weights", "int8"]) == 0
    out = capsys.readouterr().out
    # float32: 4 * (64*32 + 32 + 32*3 + 3) = 8,716 bytes; int8: 2,048 + 32 scales * 4, the rest float32 = 2,704
    assert "weights stored as int8: 3.2x smaller than float32; on 8 random inputs the outputs moved by at most" in out, out
    manifest = json.loads((tmp_path / "web" / "model.json").read_text())
    assert manifest["weights"]["accuracy"]["max_abs_error"] > 0


def test_export_weights_f16_says_when_no_matrix_is_big_enough(saved_model, tmp_path, capsys):
    path, _, _ = saved_model
    assert cli.main(["export", str(path), str(tmp_path / "web"), "--weights", "f16"]) == 0
    assert "no weight matrix has the 1,024 elements --weights f16 needs" in capsys.readouterr().out


def test_export_of_a_missing_file_is_one_line_and_status_2(tmp_path):
    result = run_cli("export", tmp_path / "nope.pyml", tmp_path / "out")
    assert_one_line_error(result, "export", "no such model file", "nope.pyml")
    assert not (tmp_path / "out").exists()


def test_export_of_a_folder_says_it_wants_a_model_file_and_lists_the_folders_models(saved_model, tmp_path):
    path, _, _ = saved_model
    (tmp_path / "models").mkdir()
    for name in ("b.pyml", "a.pyml"):
        (tmp_path / "models" / name).write_bytes(path.read_bytes())
    assert_one_line_error(run_cli("export", tmp_path / "models", tmp_path / "out"), "export",
                          f"{tmp_path / 'models'} is a folder", "model.save('NAME.pyml')",
                          f"holds: {tmp_path / 'models' / 'a.pyml'}, {tmp_path / 'models' / 'b.pyml'}")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("export", tmp_path / "empty", tmp_path / "out"), "export", "is a folder",
                          "holds no .pyml file")
    assert not (tmp_path / "out").exists()


def test_an_input_shape_that_does_not_fit_names_the_users_shape_not_the_tracers_batch(saved_model, tmp_path):
    path, _, _ = saved_model  # Input(shape=(4,))
    result = run_cli("export", path, tmp_path / "out", "--input-shape", "5")
    assert_one_line_error(result, "export", "input_shape (5,)", "one sample of shape (4,)", "dense",
                          "input shape (batch, 5)")
    assert "(2, 5)" not in result.stderr and "(3, 5)" not in result.stderr


def test_export_of_a_file_that_is_not_a_model_is_refused_in_one_line(tmp_path):
    bogus = tmp_path / "notes.pyml"
    bogus.write_text("these are not weights")
    result = run_cli("export", bogus, tmp_path / "out")
    assert_one_line_error(result, "export", "notes.pyml")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, shape", [("64", (64,)), ("8,8,1", (8, 8, 1)), ("8x8x1", (8, 8, 1))])
def test_input_shape_is_one_sample_without_the_batch_axis(text, shape):
    assert cli.parse_shape(text) == shape


@pytest.mark.parametrize("flag, value", [("--input-shape", "8,zero"), ("--input-shape", "0"), ("--batch-size", "0"),
                                         ("--sequence-length", "0")])
def test_bad_export_options_are_refused_before_any_work(saved_model, tmp_path, capsys, flag, value):
    path, _, _ = saved_model
    assert cli.main(["export", str(path), str(tmp_path / "out"), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyml export: error: ") and "Received" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_export_sequence_length_fixes_a_variable_length_and_says_which_lengths_the_bundle_takes(tmp_path, capsys):
    ids = pyml.Input(shape=(None,), dtype="int32")
    pooled = pyml.layers.GlobalAveragePooling1D()(pyml.layers.Embedding(10, 4, mask_zero=True)(ids))
    pyml.Model(ids, pooled).save(tmp_path / "m.pyml")
    assert cli.main(["export", str(tmp_path / "m.pyml"), str(tmp_path / "web")]) == 2
    assert "--sequence-length N" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path / "m.pyml"), str(tmp_path / "web"), "--sequence-length", "12"]) == 0
    assert "(batch, 12) (1 to 12 steps)" in capsys.readouterr().out
    assert json.loads((tmp_path / "web" / "model.json").read_text())["inputs"][0]["pad"] == {"axis": 1, "value": 0}


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_server_sends_the_mime_types_modules_and_bundles_need(tmp_path):
    files = {"index.js": b"export const a = 1;\n", "model.json": b"{}", "weights.bin": b"\0" * 8,
             "k.wasm": b"\0asm", "index.html": b"<!doctype html>"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    server = cli.make_server(tmp_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = cli.server_url(server)
        assert url.startswith("http://127.0.0.1:")
        expected = {"index.js": "text/javascript", "model.json": "application/json",
                    "weights.bin": "application/octet-stream", "k.wasm": "application/wasm", "index.html": "text/html"}
        for name, mime in expected.items():
            status, content_type, body = _get(url + name)
            assert (status, content_type.split(";")[0], body) == (200, mime, files[name])
        with pytest.raises(urllib.error.HTTPError) as missing:
            _get(url + "missing.js")
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_prints_the_url_and_stops_cleanly(tmp_path, stop):
    (tmp_path / "hello.txt").write_text("hi")
    process = subprocess.Popen([sys.executable, "-m", "pyml.cli", "serve", str(tmp_path), "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line, line + process.stderr.read()
        url = line.split("at ", 1)[1].split()[0]
        assert _get(url + "hello.txt")[2] == b"hi"
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_of_a_missing_folder_is_one_line_and_status_2(tmp_path):
    assert_one_line_error(run_cli("serve", tmp_path / "absent"), "serve", "no such folder")


def test_serve_names_a_damaged_bundle_and_serves_the_good_ones(saved_model, tmp_path):
    path, _, _ = saved_model
    for name in ("good", "deep/bad"):
        assert cli.main(["export", str(path), str(tmp_path / "site" / name)]) == 0
    weights = tmp_path / "site" / "deep" / "bad" / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-4])  # truncated, as an interrupted upload leaves it
    (tmp_path / "site" / "junk").mkdir()
    (tmp_path / "site" / "junk" / "model.json").write_bytes(b'{"format": "pyml-bundle", \xff')  # not even JSON
    process = subprocess.Popen([sys.executable, "-m", "pyml.cli", "serve", str(tmp_path / "site"), "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "Serving" in line, line
        url = line.split("at ", 1)[1].split()[0]
        assert _get(url + "good/model.json")[0] == 200
        assert _get(url + "good/runtime/index.js")[1].startswith("text/javascript")
    finally:
        process.terminate()
        process.wait(timeout=10)
    warnings = process.stderr.read().strip().splitlines()
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(f"pyml serve: warning: bad bundle in {tmp_path / 'site' / 'deep' / 'bad'}")
    assert "weights" in warnings[0]
    assert warnings[1].startswith(f"pyml serve: warning: bad bundle in {tmp_path / 'site' / 'junk'}")
    assert "good" not in "".join(warnings)


def test_serve_leaves_other_model_json_files_alone(tmp_path):
    (tmp_path / "tfjs").mkdir()
    (tmp_path / "tfjs" / "model.json").write_text('{"format": "layers-model", "weightsManifest": []}')
    process = subprocess.Popen([sys.executable, "-m", "pyml.cli", "serve", str(tmp_path), "--port", "0"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "Serving" in process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_on_a_busy_port_says_so(tmp_path):
    server = cli.make_server(tmp_path, port=0)
    try:
        port = server.server_address[1]
        assert_one_line_error(run_cli("serve", tmp_path, "--port", port), "serve", f"127.0.0.1:{port}", "--port")
    finally:
        server.server_close()


def test_unknown_demo_is_a_usage_error():
    result = run_cli("demo", "mnist-gan")
    assert result.returncode == 2
    assert "invalid choice: 'mnist-gan'" in result.stderr and "digits" in result.stderr and "textgen" in result.stderr
