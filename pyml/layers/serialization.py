"""Layers to and from JSON-ready dicts: ``{"class_name": "Dense", "config": {...}}`` (Keras' format).

    >>> config = pyml.layers.serialize(pyml.layers.Dense(3, name="out"))
    >>> config["class_name"], config["config"]["units"]
    ('Dense', 3)
    >>> pyml.layers.deserialize(config).units
    3

Only pyml's own layer classes are rebuilt from their names; a custom layer class must be passed in
``custom_objects`` or registered with ``register_serializable`` (nothing is ever imported by name).
"""
import difflib
import inspect

from pyml.layers.base import Layer, builtin_classes

_REGISTERED = {}


def register_serializable(cls=None, *, name=None):
    """Class decorator: let ``load_model`` rebuild this custom layer or model class by its name.

    >>> @pyml.layers.register_serializable()
    ... class Scale(pyml.layers.Layer):
    ...     pass
    """
    def register(klass):
        _REGISTERED[name or klass.__name__] = klass
        return klass

    return register(cls) if cls is not None else register


def known_classes(custom_objects=None):
    """Classes ``deserialize`` may rebuild, by name: pyml's, the registered ones, then ``custom_objects``."""
    from pyml.models import Model, Sequential

    classes = {**builtin_classes(), "Sequential": Sequential, "Model": Model}
    classes.update(_REGISTERED)
    classes.update(custom_objects or {})
    return classes


def serialize(layer):
    """``{"class_name", "config"}`` for a layer or model (its ``get_config()``)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize expects a pyml layer. Received: {layer!r}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(data, custom_objects=None, where="layer"):
    """A layer from ``serialize()`` output; ``where`` names the place in a file for error messages."""
    if not isinstance(data, dict) or "class_name" not in data or not isinstance(data.get("config", {}), dict):
        raise ValueError(f"{where}: expected {{'class_name': ..., 'config': {{...}}}}. Received: {data!r}")
    classes = known_classes(custom_objects)
    name = data["class_name"]
    cls = classes.get(name)
    if cls is None:
        raise ValueError(f"{where}: unknown layer class {name!r}{suggest(name, classes)}. Pass a custom class in "
                         f"custom_objects={{{name!r}: cls}} or decorate it with pyml.layers.register_serializable(); "
                         f"pyml's layers: {', '.join(layer_names())}. Received: class_name={name!r}")
    config = data.get("config", {})
    try:
        if "custom_objects" in inspect.signature(cls.from_config).parameters:
            return cls.from_config(config, custom_objects=custom_objects)
        return cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: could not rebuild {name} from its config: {exc}. Received: config={config!r}") \
            from exc


def layer_names():
    """The public layer classes of ``pyml.layers`` (Keras aliases included), sorted: what a model may use."""
    import pyml.layers

    return sorted(name for name, value in vars(pyml.layers).items()
                  if not name.startswith("_") and isinstance(value, type) and issubclass(value, Layer)
                  and value is not Layer)


def suggest(name, names):
    """`` (did you mean 'A' or 'B'?)`` for the close matches of ``name`` among ``names``; "" when none is close."""
    close = difflib.get_close_matches(str(name), list(names), n=3, cutoff=0.6)
    if not close:
        close = [n for n in names if str(name).lower() in n.lower() or n.lower() in str(name).lower()][:3]
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
