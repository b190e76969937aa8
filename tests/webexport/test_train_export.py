"""``webexport.export(model, out, train=...)``: the training section of a bundle (docs/internals.md §6).

The exported step graph, run in pyml's reference interpreter with the hyperparameters the runtimes compute
(``webexport.train.hyper_values``), takes the same steps as ``train_on_batch`` at batches of several sizes (the
weights agree within 1e-5);
the hyperparameters equal ``Optimizer.step_hyperparameters`` at every step; the inference part still runs as
before and reads each variable as a bound weight; export leaves the user's model as it was; and what the
runtimes cannot run is refused with a message naming it.
"""
import json

import numpy as np
import pytest

import pyml
from pyml.graph.interpreter import run_graph
from webexport import export, load_bundle
from webexport.kernels.common import ExportError
from webexport.train import hyper_values, optimizer_record
from webexport.validate import BundleError
from webexport.validate_train import load_training, run_training_step

BATCH = 4
LOSS = "sparse_categorical_crossentropy"


def mlp(dropout=0.0):
    pyml.utils.set_random_seed(3)
    return pyml.Sequential([pyml.Input(shape=(5,), name="features"), pyml.layers.Dense(7, activation="relu", name="dense"),
                            pyml.layers.Dropout(dropout), pyml.layers.Dense(3, activation="softmax", name="head")])


def convnet():
    pyml.utils.set_random_seed(4)
    return pyml.Sequential([pyml.Input(shape=(5, 5, 2), name="pixels"), pyml.layers.Conv2D(3, 3, activation="relu", name="conv"),
                            pyml.layers.BatchNormalization(name="norm"), pyml.layers.Flatten(),
                            pyml.layers.Dense(3, activation="softmax", name="head")])


OPTIMIZERS = {
    "sgd": lambda: pyml.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: pyml.optimizers.Adam(0.01),
    "adamw": lambda: pyml.optimizers.AdamW(0.01, weight_decay=0.1),
}


def batches(model, steps, seed=0):
    """``steps`` batches of 4, 7, 1, 4, 3, 4, ... examples (the exported step takes any batch)."""
    rng = np.random.default_rng(seed)
    shape = tuple(model.input_specs()[0][0][1:])
    sizes = [[4, 7, 1, 4, 3][i] if i < 5 else BATCH for i in range(steps)]
    return [(rng.standard_normal((n,) + shape).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))
            for n in sizes]


def exported(make, tmp_path, **train):
    folder = tmp_path / "bundle"
    export(make(), folder, include_runtime=False, train=dict(dict(loss=LOSS, optimizer="adam"), **train))
    return load_bundle(folder)


def variables_of(training, kept):
    """``{variable name: array}`` from the kept values (the section's ``variables`` table)."""
    out = {}
    for v in training.section["variables"]:
        size = int(np.prod(v["shape"], dtype=np.int64))
        out[v["name"]] = np.asarray(kept[v["source"]]).reshape(-1)[v["offset"]:v["offset"] + size].reshape(v["shape"])
    return out


@pytest.mark.parametrize("make,optimizer", [(mlp, "sgd"), (mlp, "adam"), (mlp, "adamw"), (convnet, "adam"),
                                            (convnet, "sgd")])
def test_the_exported_step_takes_the_steps_train_on_batch_takes(tmp_path, make, optimizer):
    training = load_training(exported(make, tmp_path, optimizer=OPTIMIZERS[optimizer]()))
    reference = make()
    reference.compile(optimizer=OPTIMIZERS[optimizer](), loss=LOSS)
    kept = training.initial
    for t, (x, y) in enumerate(batches(reference, 5), start=1):
        loss, kept = run_training_step(training, kept, x, y, t)
        np.testing.assert_allclose(loss, reference.train_on_batch(x, y), rtol=1e-5)
    got = variables_of(training, kept)
    assert list(got) == [v.name for v in reference.weights]
    for v in reference.weights:
        np.testing.assert_allclose(got[v.name], v.numpy(), rtol=1e-5, atol=1e-6, err_msg=v.name)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_the_runtimes_hyperparameters_equal_the_optimizers_at_every_step(optimizer):
    model = mlp()
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss=LOSS)
    record = optimizer_record(model.optimizer)
    for t, (x, y) in enumerate(batches(model, 6), start=1):
        want = model.optimizer.step_hyperparameters()
        got = hyper_values(record, t)
        assert set(got) == set(want)
        for name in want:
            assert np.float32(got[name]) == np.float32(want[name]), (name, t)  # bit for bit: float32 arithmetic
        model.train_on_batch(x, y)


def test_the_inference_part_runs_as_before_and_binds_every_variable(tmp_path):
    bundle = exported(convnet, tmp_path)
    x = batches(convnet(), 1)[0][0]
    np.testing.assert_allclose(run_graph(bundle.graph, [x])[0].numpy(), convnet().predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    manifest = bundle.manifest
    export(convnet(), tmp_path / "plain", include_runtime=False)
    plain = load_bundle(tmp_path / "plain").manifest
    # Nothing an older runtime would misread (it ignores "train"): the same format version and signature.
    assert (manifest["format_version"], manifest["inputs"], manifest["outputs"]) == (
        plain["format_version"], plain["inputs"], plain["outputs"])
    variables = [v["weight"] for v in manifest["train"]["variables"]]
    assert len(variables) == len(convnet().weights) and None not in variables
    # A fresh bias and BatchNormalization's moving variance hold one repeated value: still bound, never inlined,
    # since training overwrites them.
    bound = {name for step in manifest["steps"] for name in step["inputs"]}
    assert set(variables) <= bound
    cpu_read = {name for step in manifest["cpu"]["steps"] for name in step["inputs"]}
    assert set(variables) <= cpu_read


def test_the_section_describes_the_step(tmp_path):
    bundle = exported(lambda: mlp(dropout=0.25), tmp_path, optimizer=OPTIMIZERS["adamw"](), trainable="last 1")
    section = bundle.manifest["train"]
    assert section["optimizer"] == {"class": "AdamW", "learning_rate": pytest.approx(0.01), "weight_decay": 0.1,
                                    "beta_1": 0.9, "beta_2": 0.999}
    assert section["hyper"] == ["alpha", "learning_rate", "weight_decay"]
    assert [h["rate"] for h in section["host"]] == [0.25]
    assert section["loss"] == {"name": LOSS, "from_logits": False}
    assert section["weights"]["files"][0]["file"] == "train.bin"
    sources = {v["name"]: v["source"] for v in section["variables"]}
    assert sources["head/kernel"] == sources["head/bias"] == "parameters"  # "last 1": only the head trains
    assert sources["dense/kernel"].startswith("state_") and sources["dense/bias"].startswith("state_")
    assert sorted(section["updates"]) == ["parameters", "slot_m", "slot_v"]
    assert json.loads(section["save_metadata"]["order"]) == ["dense/kernel", "dense/bias", "head/kernel", "head/bias"]


def test_export_leaves_the_model_as_it_was(tmp_path):
    model = mlp()
    model.compile(optimizer=pyml.optimizers.SGD(0.5), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    optimizer = model.optimizer
    export(model, tmp_path / "b", include_runtime=False,
           train=dict(loss=LOSS, optimizer=optimizer, trainable="last 1"))
    assert all(layer.trainable for layer in model.layers)
    assert model.optimizer is optimizer and optimizer.iterations == 0 and not optimizer._slots
    assert model.loss == "mse"
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    x, y = batches(model, 1)[0]
    model.fit(x, np.eye(3, dtype=np.float32)[y], verbose=0)  # still trains with its own compile


def test_train_true_uses_the_compiled_loss_and_optimizer(tmp_path):
    model = mlp()
    model.compile(optimizer=pyml.optimizers.SGD(0.25, momentum=0.5), loss=LOSS)
    export(model, tmp_path / "b", include_runtime=False, train=True)
    section = load_bundle(tmp_path / "b").manifest["train"]
    assert section["optimizer"]["class"] == "SGD" and section["optimizer"]["learning_rate"] == 0.25
    assert section["loss"]["name"] == LOSS and "slot_momentum" in section["updates"]


@pytest.mark.parametrize("train,kwargs,message", [
    (dict(loss=LOSS, optimizer=pyml.optimizers.RMSprop()), {}, "supports the optimizers SGD, Adam, AdamW"),
    (dict(loss=LOSS, optimizer=pyml.optimizers.Adam(pyml.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))),
     {}, "constant learning rate"),
    (dict(loss=LOSS, optimizer="adam"), {"weights": "float16"}, 'needs weights="float32"'),
    (dict(loss=LOSS, optimizer="adam", trainable="first 2"), {}, '"last N"'),
    (dict(loss=LOSS, optimizer="adam", trainable=["dense", "nope"]), {}, "['nope']"),
    (dict(loss=LOSS, optimizer="adam", lr=0.1), {}, "Received keys"),
    (dict(loss=LOSS), {}, "Received keys"),
    (True, {}, "not compiled"),
    (dict(loss=LOSS, optimizer="adam"), {"input_shape": (5,)}, "leave input_shape"),
])
def test_what_the_runtimes_cannot_train_is_refused(tmp_path, train, kwargs, message):
    with pytest.raises(ExportError, match=None) as info:
        export(mlp(), tmp_path / "b", include_runtime=False, train=train, **kwargs)
    assert message in str(info.value)


def test_a_bad_training_section_is_refused_naming_the_field(tmp_path):
    folder = tmp_path / "bundle"
    export(mlp(), folder, include_runtime=False, train=dict(loss=LOSS, optimizer="adam"))
    good = json.loads((folder / "model.json").read_text())
    for edit, field in [(lambda t: t["optimizer"].update({"class": "Nadam"}), "optimizer.class"),
                        (lambda t: t["updates"].update({"parameters": t["graph"]["outputs"][0]}), "updates.parameters"),
                        (lambda t: t["variables"][0].update({"offset": 10**6}), "variables[0].source"),
                        (lambda t: t["initial"].update({"slot_m": "nope"}), "initial.slot_m"),
                        (lambda t: t["host"].append({"name": "x", "kind": "noise", "rate": 0}), "host"),
                        (lambda t: t.pop("steps"), "steps is missing")]:
        manifest = json.loads(json.dumps(good))
        edit(manifest["train"])
        (folder / "model.json").write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match="model.json train") as info:
            load_bundle(folder)
        assert field in str(info.value)


def test_the_steps_cpu_program_runs_computed_weights_on_the_wasm_kernels(tmp_path):
    """The step's weights are slices of the flat parameters: the training section's CPU program packs them for
    the wasm GEMM and conv at each run; a plan for older runtimes (no ``dynamic_weights``) leaves them to JS."""
    from webexport.cpu_plan import plan_cpu

    bundle = exported(convnet, tmp_path)
    training = load_training(bundle)
    targets = {s["kernel"]: training.graph.node(s["nodes"][0]) for s in training.section["cpu"]["steps"]}
    assert {"matmul", "conv"} <= set(targets)
    assert all(training.graph.node(targets[k].inputs[1]).op != "constant" for k in ("matmul", "conv"))
    assert not {s.kernel for s in plan_cpu(training.graph).steps} & {"matmul", "conv"}
