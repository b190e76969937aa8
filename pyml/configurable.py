"""What Keras' small configurable objects share (initializers, regularizers, constraints; the ``get`` of losses
and metrics too): a config of constructor arguments, and lookup from a serialized ``{"class_name", "config"}``
dict or a name.

    >>> pyml.regularizers.L2(0.5)
    L2(l2=0.5)
    >>> pyml.constraints.get({"class_name": "NonNeg", "config": {}})
    NonNeg()
"""


class Configurable:
    """``get_config`` (the constructor's arguments), ``from_config`` (``cls(**config)``) and a ``repr`` of both."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def serialize(value):
    """``{"class_name", "config"}`` for an object with ``get_config`` (JSON-ready)."""
    return {"class_name": type(value).__name__, "config": value.get_config()}


def from_class_dict(identifier, kind, classes, custom_objects=None):
    """The object a serialized ``{"class_name", "config"}`` dict describes, from ``custom_objects`` or
    ``classes``; an unknown class name raises, listing the known ones."""
    name = identifier.get("class_name")
    cls = (custom_objects or {}).get(name) or classes.get(name)
    if cls is None:
        raise ValueError(f"Unknown {kind} class: known ones are {', '.join(sorted(classes))}. Received: {identifier!r}")
    return cls.from_config(identifier.get("config", {}))


def resolve(identifier, kind, base, names, classes, custom_objects=None):
    """A ``base`` instance from None, an instance, the class itself, a serialized dict, a name (``names`` maps
    Keras' snake-case names to factories; class names work too) or any callable; else a ValueError listing the
    known names."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):  # the class itself, as Keras takes it
        return identifier()
    custom_objects = custom_objects or {}
    if isinstance(identifier, dict):
        return from_class_dict(identifier, kind, classes, custom_objects)
    if isinstance(identifier, str):
        found = custom_objects.get(identifier) or names.get(identifier) or classes.get(identifier)
        if found is not None:
            return found()
    elif callable(identifier) and not isinstance(identifier, type):
        return identifier
    known = sorted(set(names) | set(classes))
    raise ValueError(f"Unknown {kind}: known ones are {', '.join(known)}. Received: {identifier!r}")
