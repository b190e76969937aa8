"""Saving and loading models, with no pickle anywhere.

``model.save("digits.pyml")`` writes one zip file (like Keras' ``.keras``) holding:

- ``config.json``: ``{"format": "pyml-model", "format_version": 1, "class_name", "config", "build_config",
  "compile_config"}`` (the layer configs, as ``get_config()`` returns them, the input shape a subclassed
  model was built for, and the ``compile`` arguments);
- ``metadata.json``: pyml version, format version, date saved, weight names;
- ``model.safetensors``: every weight, keyed by its variable name (``"dense/kernel"``);
- ``optimizer.safetensors`` (when the model is compiled): the optimizer's state (``iterations``, then each slot
  per variable, ``"m/dense/kernel"``: ``pyml.optimizers.state``), so ``fit`` after ``load_model`` resumes
  exactly. Files without it (older ones) load with a fresh optimizer.

The file is written to a temporary file in the same folder (``.digits.pyml.tmp-<pid>-<random>``), flushed to
disk and moved into place with ``os.replace`` (``pyml.utils.atomic``), so a crash or ``kill -9`` never leaves a
half-written model: the previous file stays whole until the new one replaces it, and the next save removes the
temporary file a killed save left.
``load_model`` checks everything before use and names the file and the field that is wrong.

    >>> model.save("digits.pyml")                               # doctest: +SKIP
    >>> restored = pyml.load_model("digits.pyml")               # doctest: +SKIP
    >>> model.save_weights("digits.weights.safetensors")        # doctest: +SKIP
"""
import contextlib
import datetime
import json
import os
import zipfile

import numpy as np
import safetensors.numpy

from pyml import checks
from pyml.layers.budget import weight_budget
from pyml.optimizers import state as optimizer_state
from pyml.utils import atomic

FORMAT = "pyml-model"
FORMAT_VERSION = 1
WEIGHTS_FORMAT = "pyml-weights"
MEMBERS = ("config.json", "metadata.json", "model.safetensors")
OPTIONAL_MEMBERS = ("optimizer.safetensors",)


# ---- writing --------------------------------------------------------------------------------------
def weights_by_name(model):
    """``{variable name: NumPy array}``; names must be unique (they are when layer names are)."""
    arrays = {}
    for variable in model.weights:
        if variable.name in arrays:
            raise ValueError(f"Model {model.name!r} has two weights named {variable.name!r}: give its layers unique "
                             "names before saving.")
        arrays[variable.name] = np.array(variable.numpy(), order="C")  # ascontiguousarray would make a 0-d weight 1-d
    return arrays


def _check_built(model, what):
    if not model.built:
        raise ValueError(f"Model {model.name!r} is not built, so it has no weights to {what}: call it on data, call "
                         "build(input_shape), or start it with pyml.Input(shape=...).")


def _serialize_callable(value, module):
    from pyml import metrics

    if isinstance(value, str) or value is None:
        return value
    if type(value) is metrics.MeanMetricWrapper:  # a wrapped plain function: saved by the function's name
        value = value._fn
    if hasattr(value, "get_config") and not isinstance(value, type):
        return module.serialize(value)
    return {"function": getattr(value, "__name__", str(value))}


def serialize_compile_config(model):
    """The ``compile`` arguments as JSON: optimizer with its settings, loss, metrics and weighted metrics by
    name or config (in their lists and dicts by output name), loss weights."""
    from pyml import losses, metrics, optimizers

    from pyml.models.compile_utils import map_entries

    config = model._compile_config
    listed = {}
    for key in ("metrics", "weighted_metrics"):
        value = config.get(key)
        value = value if isinstance(value, (list, tuple, dict)) or value is None else [value]
        listed[key] = map_entries(lambda m: _serialize_callable(m, metrics), value)
    return {"optimizer": optimizers.serialize(model.optimizer),
            "loss": map_entries(lambda m: _serialize_callable(m, losses), config["loss"]), **listed,
            "loss_weights": config.get("loss_weights")}


def _resolve_function(value, custom_objects, where):
    if isinstance(value, dict) and "function" in value:
        name = value["function"]
        found = (custom_objects or {}).get(name)
        if found is None:
            from pyml import losses, metrics

            found = losses._FUNCTIONS.get(name) or metrics._FUNCTIONS.get(name)
        if found is None:
            raise ValueError(f"{where}: custom function {name!r} is unknown; pass it in custom_objects={{{name!r}: fn}}. "
                             f"Received: {value!r}")
        return found
    return value


def compile_from_config(model, config, custom_objects=None, where="compile_config"):
    """``model.compile(...)`` from ``serialize_compile_config`` output."""
    from pyml import losses, metrics, optimizers
    from pyml.models import compile_utils

    if not isinstance(config, dict) or "optimizer" not in config:
        raise ValueError(f"{where}: missing 'optimizer'. Received: {config!r}")

    def rebuild(get, value, field):
        try:
            return get(value, custom_objects)
        except (TypeError, ValueError) as exc:  # e.g. a config key the class does not take
            raise ValueError(f"{where}.{field}: {exc}") from exc

    optimizer = rebuild(optimizers.get, config["optimizer"], "optimizer")

    def entry(module, field):
        def resolve(value, path):
            value = _resolve_function(value, custom_objects, f"{where}.{field}{path}")
            return rebuild(module.get, value, f"{field}{path}") if isinstance(value, dict) else value
        return resolve

    loss = compile_utils.map_entries(entry(losses, "loss"), config.get("loss"), with_path=True)
    listed = {key: compile_utils.map_entries(entry(metrics, key), config.get(key), with_path=True) or None
              for key in ("metrics", "weighted_metrics")}
    names = compile_utils.model_output_names(model)
    loss_weights = rebuild(lambda value, _: compile_utils.loss_weights_config(value, len(names) if names else 1),
                           config.get("loss_weights"), "loss_weights")
    model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights, **listed)


def save_model(model, filepath, overwrite=True):
    """Write ``model`` (architecture, weights, compile settings) to one zip file. See the module docstring."""
    from pyml import __version__
    from pyml.layers import serialization

    _check_built(model, "save")
    arrays = weights_by_name(model)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **serialization.serialize(model),
              "build_config": model.get_build_config(), "compile_config": model.get_compile_config()}
    metadata = {"pyml_version": __version__, "format_version": FORMAT_VERSION,
                "date_saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "weights": list(arrays)}
    try:
        config_text = json.dumps(config, indent=2)
    except TypeError as exc:
        raise ValueError(f"Model {model.name!r} has a config that is not JSON-serialisable ({exc}); a custom layer's "
                         "get_config() must return plain values.") from exc
    weights_bytes = safetensors.numpy.save(arrays, metadata={"format": WEIGHTS_FORMAT})
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    optimizer_bytes = None if optimizer is None else safetensors.numpy.save(
        optimizer_state.state_arrays(optimizer, model.trainable_weights), metadata={"format": WEIGHTS_FORMAT})

    def write(f):
        with zipfile.ZipFile(f, "w") as archive:
            archive.writestr("config.json", config_text, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr("metadata.json", json.dumps(metadata, indent=2), compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr("model.safetensors", weights_bytes, compress_type=zipfile.ZIP_STORED)
            if optimizer_bytes is not None:
                archive.writestr("optimizer.safetensors", optimizer_bytes, compress_type=zipfile.ZIP_STORED)

    atomic.write_file(filepath, write, overwrite)


def save_weights(model, filepath, overwrite=True):
    """Write the weights alone to a safetensors file, keyed by variable name (in ``model.weights`` order)."""
    _check_built(model, "save")
    arrays = weights_by_name(model)
    metadata = {"format": WEIGHTS_FORMAT, "format_version": str(FORMAT_VERSION), "order": json.dumps(list(arrays))}
    data = safetensors.numpy.save(arrays, metadata=metadata)
    atomic.write_file(filepath, lambda f: f.write(data), overwrite)


# ---- reading --------------------------------------------------------------------------------------
def _read_members(path):
    """The members pyml reads, as bytes, after checking the archive: each read is bounded (``_member_limit``), and
    an archive with a member outside it (``..``, an absolute path) or a name twice is refused, though pyml never
    extracts anything, since no honest writer makes one."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such model file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder, not a model file (an exported web bundle cannot be loaded "
                                "back for training; load the .pyml file it came from)")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a pyml model file: it is not a zip archive (truncated or corrupted?)")
    members = {}
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {}
            for info in archive.infolist():
                _check_member_name(path, info.filename)
                if info.filename in infos:
                    raise ValueError(f"{path}: the archive holds member {info.filename!r} twice")
                infos[info.filename] = info
            missing = [m for m in MEMBERS if m not in infos]
            if missing:
                raise ValueError(f"{path} is not a complete pyml model file: missing member(s) {', '.join(missing)}. "
                                 f"Received: members {sorted(infos)}")
            for name in MEMBERS + tuple(m for m in OPTIONAL_MEMBERS if m in infos):
                members[name] = _read_member(path, archive, infos[name])
    except Exception as exc:  # BadZipFile, a damaged header's NotImplementedError ("zip file version 8.4"), ...
        if isinstance(exc, ValueError) and str(exc).startswith(path):  # pyml's own check, naming the file
            raise
        raise ValueError(f"{path} is not a readable zip archive ({type(exc).__name__}: {exc})") from None
    return members


MAX_JSON_BYTES = 64 << 20  # config.json and metadata.json: a config of thousands of layers is a few MB
MAX_EXPANSION = 64  # a compressed member may grow this many times (weights deflate to ~90%; zip bombs to 0.1%)


def _member_limit(info):
    """The most bytes pyml reads from a member: JSON up to MAX_JSON_BYTES; weights as stored, or up to
    MAX_EXPANSION times their compressed size (pyml stores them uncompressed)."""
    if info.filename.endswith(".json"):
        return MAX_JSON_BYTES
    return info.compress_size if info.compress_type == zipfile.ZIP_STORED else MAX_EXPANSION * info.compress_size


def _read_member(path, archive, info):
    limit = _member_limit(info)
    if info.file_size > limit:
        raise ValueError(f"{path}: member {info.filename} declares {info.file_size:,} bytes from "
                         f"{info.compress_size:,} stored, more than the {limit:,} pyml reads (a zip bomb?)")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)  # bounded, whatever the headers say
    except Exception as exc:  # zlib.error, EOFError, a CRC mismatch, an unknown compression method, encryption...
        raise ValueError(f"{path}: member {info.filename} is corrupted or unreadable "
                         f"({type(exc).__name__}: {exc})") from None
    if len(data) > limit:
        raise ValueError(f"{path}: member {info.filename} holds more than the {limit:,} bytes pyml reads")
    return data


def _check_member_name(path, name):
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise ValueError(f"{path}: member {name!r} points outside the archive; a pyml model file holds "
                         f"{', '.join(MEMBERS + OPTIONAL_MEMBERS)} only")


def _json_member(path, members, name):
    try:
        data = json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: {name} nests deeper than Python's JSON reader goes") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: {name} must hold a JSON object. Received: {type(data).__name__}")
    return data


def _load_safetensors(data, where):
    try:
        return safetensors.numpy.load(data)
    except Exception as exc:  # safetensors raises its own error type for any malformed header or data
        raise ValueError(f"{where} is not a valid safetensors file ({exc})") from None


def assign_weights(model, arrays, where, order=None):
    """Assign ``{name: array}`` to ``model.weights`` after checking names, shapes and dtypes.

    Names must match; when they do not but ``order`` (the saved order) has the same length and every
    shape and dtype matches position by position, weights are assigned in order (as Keras matches a
    freshly built model of the same architecture).
    """
    variables = model.weights
    expected = [v.name for v in variables]
    if set(arrays) != set(expected):
        same_structure = order is not None and len(order) == len(variables) and set(order) == set(arrays) and all(
            arrays[name].shape == v.shape and arrays[name].dtype.name == v.dtype for name, v in zip(order, variables))
        if not same_structure:
            missing = sorted(set(expected) - set(arrays))
            unexpected = sorted(set(arrays) - set(expected))
            raise ValueError(f"{where}: weights do not match model {model.name!r}: missing {missing}, "
                             f"unexpected {unexpected}. Received: {len(arrays)} weights for {len(variables)} variables")
        arrays = {v.name: arrays[name] for name, v in zip(order, variables)}
    for variable in variables:
        array = arrays[variable.name]
        if tuple(array.shape) != variable.shape:
            raise ValueError(f"{where}: weight {variable.name!r} has shape {tuple(array.shape)} in the file, but the "
                             f"model expects {variable.shape}")
        if array.dtype.name != variable.dtype:
            raise ValueError(f"{where}: weight {variable.name!r} has dtype {array.dtype.name} in the file, but the "
                             f"model expects {variable.dtype}")
    for variable in variables:
        variable.assign(arrays[variable.name])


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Rebuild a model saved by ``model.save`` (architecture, weights, and compile settings).

    Args:
        filepath: the ``.pyml`` file.
        custom_objects: ``{name: class or function}`` for custom layers, losses and metrics.
        compile: compile the model as it was when saved (if it was).
        safe_mode: accepted for Keras compatibility; pyml never runs code from a file.

    >>> model = pyml.load_model("digits.pyml")  # doctest: +SKIP
    """
    from pyml.layers import serialization

    path = checks.path("load_model", "filepath", filepath)
    members = _read_members(path)
    config = _json_member(path, members, "config.json")
    metadata = _json_member(path, members, "metadata.json")
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: config.json format is {config.get('format')!r}, expected {FORMAT!r}")
    version = config.get("format_version")
    if not isinstance(version, int):
        raise ValueError(f"{path}: config.json format_version must be an int. Received: {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {version} is newer than this pyml supports "
                         f"({FORMAT_VERSION}); update pyml")
    arrays = _load_safetensors(members["model.safetensors"], f"{path}: model.safetensors")
    # The config may create no more weight values than the file holds (bounded memory, whatever it asks for).
    with weight_budget(sum(a.size for a in arrays.values()) + WEIGHT_SLACK, f"{path}: config.json"):
        model = _build(path, config, custom_objects, serialization)
    # a subclassed model names its sublayers anew (dense_2, ...): the saved order matches them by position
    order = _weight_order(metadata.get("weights"), f"{path}: metadata.json weights")
    assign_weights(model, arrays, f"{path}: model.safetensors", order)
    if compile and config.get("compile_config"):
        with _naming(path, f"{path}: config.json compile_config"):
            compile_from_config(model, config["compile_config"], custom_objects,
                                f"{path}: config.json compile_config")
        if "optimizer.safetensors" in members:
            where = f"{path}: optimizer.safetensors"
            saved = order if order is not None and len(order) == len(model.weights) else [v.name for v in model.weights]
            with _naming(path, where):
                state = _load_safetensors(members["optimizer.safetensors"], where)
                optimizer_state.restore_state(model.optimizer, state, dict(zip(saved, model.weights)), where)
    return model


WEIGHT_SLACK = 1 << 16  # weight values a config may create beyond the file's (none, for pyml's own layers)


@contextlib.contextmanager
def _naming(path, where):
    """Whatever a hostile file makes go wrong inside becomes a ValueError that starts with ``where`` (the file
    and member); pyml's own checks already name the file, and the field after it."""
    try:
        yield
    except ValueError as exc:
        if str(exc).startswith(path):
            raise
        raise ValueError(f"{where}: {exc}") from exc
    except RecursionError:
        raise ValueError(f"{where}: nests deeper than pyml rebuilds") from None
    except Exception as exc:  # a config no honest save writes (a list where a number goes, ...)
        raise ValueError(f"{where}: could not rebuild the model ({type(exc).__name__}: {exc})") from exc


def _build(path, config, custom_objects, serialization):
    """The model config.json describes, built; whatever goes wrong is a ValueError naming the file."""
    where = f"{path}: config.json"
    with _naming(path, where):
        model = serialization.deserialize(config, custom_objects, where=where)
        if not model.built and config.get("build_config"):  # a subclassed model: build it as it was saved
            try:
                model.build_from_config(config["build_config"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{where} build_config: could not build the model ({exc!r}). "
                                 f"Received: build_config={config['build_config']!r}") from exc
    if not model.built:
        raise ValueError(f"{path}: config.json does not give the model's input shape, so its weights cannot be "
                         "created (save the model after building it)")
    return model


def load_weights(model, filepath):
    """Load weights saved by ``save_weights`` (or the weights inside a ``.pyml`` file) into ``model``."""
    path = os.fspath(filepath)
    _check_built(model, "load")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such weights file: {path}")
    if zipfile.is_zipfile(path):
        members = _read_members(path)
        arrays = _load_safetensors(members["model.safetensors"], f"{path}: model.safetensors")
        metadata = _json_member(path, members, "metadata.json")
        order = _weight_order(metadata.get("weights"), f"{path}: metadata.json weights")
    else:
        with open(path, "rb") as f:
            data = f.read()
        arrays = _load_safetensors(data, path)
        with safetensors.safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
        try:
            order = json.loads(metadata["order"]) if "order" in metadata else None
        except json.JSONDecodeError:
            order = metadata["order"]
        order = _weight_order(order, f"{path}: metadata 'order'")
    assign_weights(model, arrays, path, order)


def _weight_order(order, where):
    """The saved weight names in model order (None when absent), checked to be a list of names."""
    if order is not None and (not isinstance(order, list) or not all(isinstance(name, str) for name in order)):
        raise ValueError(f"{where} is not a JSON list of weight names. Received: {order!r}")
    return order
