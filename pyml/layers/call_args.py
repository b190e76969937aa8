"""What ``Layer.__call__`` reads from a call's arguments, by Keras 3's rules: masks and build shapes.

**Masks.** A mask is a bool tensor attached to the tensor it describes (``x._keras_mask``, shape
``x.shape[:-1]`` for a sequence ``(batch, steps, features)``: False marks a padded step). Before ``call``:

- when ``call`` has a single tensor argument (``inputs``, or a list of tensors) and a ``mask`` parameter
  left None, ``mask`` is set to the input's mask (a list of masks for a list of inputs);
- when it has several tensor arguments (``query``, ``value``, ...), each parameter ``<name>_mask`` left None
  is set to the mask of argument ``<name>`` (``query_mask``, ``value_mask``, ``key_mask``).

After ``call``, a layer whose ``supports_masking`` is true attaches ``compute_mask(inputs, previous_mask)``
to those of its outputs that have no mask yet (``previous_mask``: the ``mask`` argument, else the masks of
the first argument); a layer that does not support masking drops the mask with a warning, as Keras does.

    >>> from pyml.layers.call_args import get_mask, set_mask
    >>> x = pyml.Tensor(np.ones((1, 3, 2), "float32"))
    >>> set_mask(x, pyml.Tensor([[True, True, False]]))
    >>> get_mask(pyml.layers.Dense(4)(x)).numpy()         # Dense passes the mask on
    array([[ True,  True, False]])

**Build shapes.** A layer whose ``build`` takes ``<name>_shape`` parameters (``build(query_shape,
value_shape, key_shape=None)``) is built with the shapes of the tensor arguments of those names.
"""
import inspect
import warnings

from pyml import ops
from pyml.tensor import Tensor

_SIGNATURES = {}


def get_mask(x):
    """The mask attached to ``x`` (a tensor or KerasTensor), or None."""
    return getattr(x, "_keras_mask", None)


def set_mask(x, mask):
    """Attach ``mask`` to ``x`` (None removes it)."""
    x._keras_mask = mask


def masks_of(structure):
    """``get_mask`` of each tensor of ``structure`` (a tensor, or a list/tuple of them), in its structure."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(masks_of(v) for v in structure)
    return get_mask(structure)


def flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [leaf for v in structure for leaf in flatten(v)]
    return [structure]


def is_tensor_argument(value):
    """Keras's rule: a tensor, or a non-empty list/tuple of tensors (None entries allowed)."""
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)) and value:
        leaves = flatten(value)
        return all(v is None or isinstance(v, Tensor) for v in leaves) and any(v is not None for v in leaves)
    return False


def check_mask(layer, mask, inputs, what="mask"):
    """``mask`` as bool, after checking it fits ``inputs``: its shape must be the leading axes of the inputs'
    (``(batch, steps)`` for ``(batch, steps, features)``); a ValueError names the layer and both shapes.

    >>> layer, mask = pyml.layers.Dense(2, name="d"), pyml.Tensor([[True, False]])
    >>> pyml.layers.call_args.check_mask(layer, mask, np.ones((1, 3, 4)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Layer 'd' got a mask of shape (1, 2) for inputs of shape (1, 3, 4): a mask's shape must be ...
    """
    mask = ops.convert_to_tensor(mask)
    shape, expected = tuple(mask.shape), tuple(inputs.shape)[:mask.ndim]
    if mask.ndim == 0 or mask.ndim > len(inputs.shape) or shape != expected:
        raise ValueError(f"Layer {layer.name!r} got a {what} of shape {shape} for inputs of shape "
                         f"{tuple(inputs.shape)}: a mask's shape must be the leading axes of its inputs' shape, "
                         f"here {tuple(inputs.shape)[:max(mask.ndim, 1)]}")
    return mask if mask.dtype == "bool" else ops.cast(mask, "bool")


class CallSignature:
    """A layer class's ``call`` and ``build`` parameters, read once per class."""

    def __init__(self, cls):
        self.call = inspect.signature(cls.call)
        self.names = list(self.call.parameters)[1:]  # without self
        self.has_mask = "mask" in self.names
        build = getattr(cls.build, "__wrapped__", cls.build)
        build_names = list(inspect.signature(build).parameters)[1:]
        self.build_shapes = [n for n in build_names if n.endswith("_shape") and n != "input_shape"]

    @staticmethod
    def of(layer):
        cls = type(layer)
        if cls not in _SIGNATURES:
            _SIGNATURES[cls] = CallSignature(cls)
        return _SIGNATURES[cls]


def populate_masks(layer, inputs, args, kwargs):
    """Fill the mask parameters of ``layer.call`` left None (rules above), in ``kwargs``; return
    ``(previous_mask, tensor_arguments)``: the mask ``compute_mask`` receives, and the tensor arguments by name
    (None when ``inputs`` is the only one, the common case, found without binding the signature)."""
    signature = CallSignature.of(layer)
    tensor_arguments = None
    if args or any(is_tensor_argument(v) for v in kwargs.values()):
        try:
            bound = signature.call.bind_partial(None, inputs, *args, **kwargs).arguments
        except TypeError:  # arguments call() does not take: let call() itself say so
            bound = {}
        tensor_arguments = {name: value for name, value in list(bound.items())[1:] if is_tensor_argument(value)}
    if tensor_arguments is None or len(tensor_arguments) == 1:
        if signature.has_mask and kwargs.get("mask") is None:
            kwargs["mask"] = masks_of(inputs)
    else:
        for name, value in tensor_arguments.items():
            if f"{name}_mask" in signature.names and kwargs.get(f"{name}_mask") is None:
                kwargs[f"{name}_mask"] = masks_of(value)
    previous = kwargs.get("mask")
    return (previous if previous is not None else masks_of(inputs)), tensor_arguments


def attach_masks(layer, inputs, outputs, previous_mask):
    """After ``call``: attach ``layer.compute_mask`` to the outputs that have none, or warn that the mask is lost."""
    flat = [t for t in flatten(outputs) if isinstance(t, Tensor)]
    if layer.supports_masking:
        if all(get_mask(t) is not None for t in flat):
            return
        masks = layer.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        for tensor, mask in zip(flat, flatten(masks)):
            if get_mask(tensor) is None and mask is not None:
                set_mask(tensor, mask)
    elif any(m is not None for m in flatten(previous_mask)):
        warnings.warn(f"Layer {layer.name!r} (of type {type(layer).__name__}) was passed an input with a mask "
                      "attached to it. However, this layer does not support masking and will therefore destroy "
                      "the mask information. Downstream layers will not see the mask.", stacklevel=3)


def build_shapes(layer, tensor_arguments):
    """``{"<name>_shape": shape}`` for a ``build`` that takes the shapes of several call arguments, else None."""
    wanted = CallSignature.of(layer).build_shapes
    if not wanted or not tensor_arguments:
        return None
    shapes = {f"{name}_shape": tuple(value.shape) for name, value in tensor_arguments.items()
              if f"{name}_shape" in wanted and isinstance(value, Tensor)}
    return shapes or None
