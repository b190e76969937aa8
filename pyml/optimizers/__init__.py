"""Optimizers (Keras ``keras.optimizers``): the base class with learning rates and schedules, clipping,
weight decay and EMA (``base.py``), the rules (``sgd.py``, ``adam.py``, ``adaptive.py``), and
``pyml.optimizers.schedules``.

    >>> opt = pyml.optimizers.get("adam")
    >>> type(opt).__name__, opt.iterations
    ('Adam', 0)
"""
from pyml import configurable
from pyml.optimizers import schedules
from pyml.optimizers.adam import Adam, Adamax, AdamW, Nadam
from pyml.optimizers.adaptive import Adadelta, Adagrad, Ftrl, RMSprop
from pyml.optimizers.base import Optimizer
from pyml.optimizers.sgd import SGD, Lion

_CLASSES = {cls.__name__: cls for cls in (SGD, Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Adadelta, Ftrl, Lion)}
_NAMES = {name.lower(): cls for name, cls in _CLASSES.items()}


def serialize(optimizer):
    """``{"class_name", "config"}`` for an optimizer (JSON-ready).

    >>> pyml.optimizers.serialize(pyml.optimizers.SGD(learning_rate=0.5))["config"]["learning_rate"]
    0.5
    """
    return configurable.serialize(optimizer)


def deserialize(config, custom_objects=None):
    """An optimizer from ``serialize``'s output (custom classes from ``custom_objects``)."""
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"Unknown optimizer class: known ones are {', '.join(sorted(_CLASSES))}. "
                         f"Received: {config!r}")
    if cls.from_config.__func__ is Optimizer.from_config.__func__:  # a schedule inside may be a custom class
        return cls.from_config(config.get("config", {}), custom_objects)
    return cls.from_config(config.get("config", {}))


def get(identifier, custom_objects=None):
    """An optimizer from a name (``"adam"``, ``"sgd"``, ``"nadam"``, ...), a serialized dict or an instance.

    >>> type(pyml.optimizers.get("Nadam")).__name__
    'Nadam'
    """
    custom_objects = custom_objects or {}
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, str):
        cls = custom_objects.get(identifier) or _NAMES.get(identifier.lower())
        if cls is not None:
            return cls()
    raise ValueError(f"Unknown optimizer: known ones are {', '.join(sorted(_NAMES))}. "
                     f"Received: optimizer={identifier!r}")


__all__ = ["Optimizer", *_CLASSES, "schedules", "serialize", "deserialize", "get"]
