"""A bound on the weight values layers may create, for building models from untrusted configs.

``load_model`` builds a model from a file's config.json under ``weight_budget(values in model.safetensors)``:
a config that asks for a Dense of a billion units fails in ``add_weight`` before allocating, with the layer,
the weight and the sizes named, instead of filling memory.
"""
import contextlib
import contextvars
import math

_BUDGET = contextvars.ContextVar("pyml_weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(values, where):
    """Within it, layers may create at most ``values`` weight values in all; more raises ValueError naming ``where``.

    >>> with pyml.layers.budget.weight_budget(10, "m.pyml: config.json"):
    ...     pyml.layers.Dense(100).build((None, 100))
    Traceback (most recent call last):
    ValueError: m.pyml: config.json: layer 'dense' asks for a weight 'kernel' of shape (100, 100) (10,000 values), \
more than the 10 values left of what the file's weights hold
    """
    token = _BUDGET.set([int(values), where])
    try:
        yield
    finally:
        _BUDGET.reset(token)


def charge(layer_name, weight_name, shape):
    """Take a weight of ``shape`` off the budget (``Layer.add_weight`` calls it before allocating)."""
    budget = _BUDGET.get()
    if budget is None:
        return
    size = math.prod(shape)
    if size > budget[0]:
        raise ValueError(f"{budget[1]}: layer {layer_name!r} asks for a weight {weight_name!r} of shape {shape} "
                         f"({size:,} values), more than the {budget[0]:,} values left of what the file's weights hold")
    budget[0] -= size
