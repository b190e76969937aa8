"""An optimizer's state as named arrays, the way ``model.save`` stores it next to the weights (Keras 3 keeps
``optimizer/...`` variables in its ``.keras`` files): ``iterations`` and other whole-optimizer numbers
(Nadam's ``u_product``), then one array per slot and variable, ``"<slot>/<variable name>"`` (``"m/dense/kernel"``).
Restoring it lets ``fit`` resume exactly where it stopped.

    >>> w = pyml.Variable([1.0, 2.0], name="w")
    >>> opt = pyml.optimizers.Adam(learning_rate=0.1)
    >>> opt.apply_gradients([(pyml.Tensor([1.0, 1.0]), w)])
    >>> sorted(pyml.optimizers.state.state_arrays(opt, [w]))
    ['iterations', 'm/w', 'v/w']
"""
import numpy as np

from pyml import backend


def state_arrays(optimizer, variables):
    """``{name: NumPy array}``: the optimizer's scalars and the slots of those of ``variables`` it has built."""
    arrays = {name: np.asarray(value) for name, value in optimizer.scalar_state().items()}
    for variable in variables:
        if id(variable) in optimizer._tracked:
            for slot, _ in optimizer.slot_specs():
                arrays[f"{slot}/{variable.name}"] = np.ascontiguousarray(backend.to_numpy(optimizer.slot(variable, slot)))
    return arrays


def restore_state(optimizer, arrays, variables, where):
    """Set ``optimizer``'s state from ``state_arrays`` output. ``variables``: ``{saved name: variable}``.
    Checks every name, shape and dtype first, and names ``where`` (the file) in errors."""
    arrays = dict(arrays)
    scalars = {name: arrays.pop(name) for name in optimizer.scalar_state() if name in arrays}
    missing = sorted(set(optimizer.scalar_state()) - set(scalars))
    if missing:
        raise ValueError(f"{where}: the optimizer state lacks {missing} for {type(optimizer).__name__} (saved by "
                         f"another optimizer?). Received: {sorted(scalars)}")
    for name, array in scalars.items():
        if array.shape != ():
            raise ValueError(f"{where}: optimizer state {name!r} must be a scalar. Received: shape {array.shape}")
    slots = [name for name, _ in optimizer.slot_specs()]
    found = {}  # variable name -> {slot: array}
    for key, array in arrays.items():
        slot, _, name = key.partition("/")
        if slot not in slots or name not in variables:
            raise ValueError(f"{where}: optimizer state {key!r} matches no slot of {type(optimizer).__name__} "
                             f"({', '.join(slots) or 'none'}) and model variable")
        variable = variables[name]
        if tuple(array.shape) != variable.shape or array.dtype.name != variable.dtype:
            raise ValueError(f"{where}: optimizer state {key!r} has shape {tuple(array.shape)} and dtype "
                             f"{array.dtype.name}, but the variable has {variable.shape} and {variable.dtype}")
        found.setdefault(name, {})[slot] = array
    for name, got in found.items():
        if set(got) != set(slots):
            raise ValueError(f"{where}: optimizer state for {name!r} has slots {sorted(got)}; "
                             f"{type(optimizer).__name__} keeps {sorted(slots)}")
    optimizer.track([variables[name] for name in found])
    for name, got in found.items():
        for slot, array in got.items():
            optimizer.set_slot(variables[name], slot, backend.asarray(np.array(array)))
    optimizer.set_scalar_state(scalars)
