"""The regularizer and constraint arguments of a layer's weights (Keras: ``kernel_regularizer``,
``bias_constraint``, ``recurrent_regularizer``, ...): resolved and stored on the layer in ``__init__``, handed to
``add_weight`` in ``build``, serialized in ``get_config`` (None where unset, as Keras writes them).

    >>> layer = pyml.layers.Dense(2, kernel_regularizer="l2", bias_constraint="non_neg")
    >>> layer.kernel_regularizer, layer.bias_constraint
    (L2(l2=0.01), NonNeg())
    >>> pyml.layers.weight_options.options_config(layer, "kernel")
    {'kernel_regularizer': {'class_name': 'L2', 'config': {'l2': 0.01}}, 'kernel_constraint': None}
"""
from pyml import constraints, regularizers


def set_options(layer, **options):
    """Store each ``<weight>_regularizer`` / ``<weight>_constraint`` argument on ``layer``, resolved by
    ``regularizers.get`` / ``constraints.get`` (so a bad name fails in ``__init__``, naming the valid ones)."""
    for key, value in options.items():
        module = regularizers if key.endswith("_regularizer") else constraints
        setattr(layer, key, module.get(value))


def options(layer, weight):
    """``add_weight`` keywords for ``weight`` (``"kernel"``): its regularizer and constraint."""
    return {"regularizer": getattr(layer, f"{weight}_regularizer"),
            "constraint": getattr(layer, f"{weight}_constraint")}


def options_config(layer, *weights, names=None):
    """The config entries of ``weights``; ``names`` renames a weight in the config (DepthwiseConv2D keeps its
    kernel's options as ``depthwise_*``)."""
    config = {}
    for weight in weights:
        name = (names or {}).get(weight, weight)
        config[f"{name}_regularizer"] = regularizers.serialize(getattr(layer, f"{weight}_regularizer"))
        config[f"{name}_constraint"] = constraints.serialize(getattr(layer, f"{weight}_constraint"))
    return config
