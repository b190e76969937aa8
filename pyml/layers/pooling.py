"""Pooling layers, channels-last: ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D`` and global pooling."""
from pyml import ops
from pyml.checks import boolean
from pyml.layers.base import InputSpec, Layer
from pyml.layers.call_args import check_mask
from pyml.layers.conv import check_data_format, conv_output_length, normalize_padding, normalize_tuple


class BasePooling(Layer):
    """Shared by the windowed pooling layers; ``rank`` spatial axes, ``pool`` the op."""

    rank = None
    pool = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        layer = type(self).__name__
        check_data_format(data_format, layer)
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size", layer)
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, self.rank, "strides", layer)
        self.padding = normalize_padding(padding, layer)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        return type(self).pool(inputs, self.pool_size, strides=self.strides, padding=self.padding)

    def compute_output_shape(self, input_shape):
        spatial = tuple(conv_output_length(d, k, self.padding, s)
                        for d, k, s in zip(input_shape[1:-1], self.pool_size, self.strides))
        return (input_shape[0],) + spatial + (input_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


_POOL_DOC = """{kind} pooling over {rank}-D windows of channels-last inputs.

    Args:
        pool_size: int or tuple of {rank} ints (default 2).
        strides: int or tuple of {rank} ints; defaults to ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (output ``ceil(input / stride)``{pad_note}).
        data_format: only ``"channels_last"`` (or None).

    Input shape:
        ``(batch, {dims}, channels)``.
    Output shape:
        ``(batch, {new_dims}, channels)``.

    >>> pyml.layers.{name}()(np.ones({example_in}, "float32")).shape
    {example_out}
    """
_DIMS = {1: ("steps", "new_steps", (2, 8, 3), (2, 4, 3)),
         2: ("height, width", "new_height, new_width", (2, 8, 8, 3), (2, 4, 4, 3)),
         3: ("d1, d2, d3", "new_d1, new_d2, new_d3", (2, 4, 4, 4, 3), (2, 2, 2, 2, 3))}


def _pooling_class(kind, rank, pool):
    dims, new_dims, example_in, example_out = _DIMS[rank]
    name = f"{kind}Pooling{rank}D"
    pad_note = "; padded cells are not counted in the mean" if kind == "Average" else ""
    doc = _POOL_DOC.format(kind=kind, rank=rank, dims=dims, new_dims=new_dims, name=name, pad_note=pad_note,
                           example_in=example_in, example_out=example_out)
    return type(name, (BasePooling,), {"rank": rank, "pool": staticmethod(pool), "__doc__": doc,
                                       "__module__": __name__})


MaxPooling1D = _pooling_class("Max", 1, ops.max_pool)
MaxPooling2D = _pooling_class("Max", 2, ops.max_pool)
MaxPooling3D = _pooling_class("Max", 3, ops.max_pool)
AveragePooling1D = _pooling_class("Average", 1, ops.average_pool)
AveragePooling2D = _pooling_class("Average", 2, ops.average_pool)
AveragePooling3D = _pooling_class("Average", 3, ops.average_pool)


class BaseGlobalPooling(Layer):
    """Shared by the global pooling layers: reduce every spatial axis with ``reduce``."""

    rank = None
    reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.keepdims = boolean(self, "keepdims", keepdims)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        axes = tuple(range(1, self.rank + 1))
        return type(self).reduce(inputs, axis=axes, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.rank + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


_GLOBAL_DOC = """Global {kind} pooling: the {kind} over every spatial axis of ``(batch, {dims}, channels)``.

    Args:
        data_format: only ``"channels_last"`` (or None).
        keepdims: keep the spatial axes with size 1.

    Output shape:
        ``(batch, channels)``, or ``(batch, {ones}, channels)`` with ``keepdims=True``.

    >>> pyml.layers.{name}()(np.ones({example_in}, "float32")).shape
    {example_out}
    """


def _global_class(kind, rank, reduce):
    dims, _, example_in, _ = _DIMS[rank]
    name = f"Global{kind.capitalize()}Pooling{rank}D"
    doc = _GLOBAL_DOC.format(kind=kind, dims=dims, ones=", ".join(["1"] * rank), name=name,
                             example_in=example_in, example_out=(example_in[0], example_in[-1]))
    return type(name, (BaseGlobalPooling,), {"rank": rank, "reduce": staticmethod(reduce), "__doc__": doc,
                                             "__module__": __name__})




class GlobalAveragePooling1D(BaseGlobalPooling):
    """Global average pooling over the steps of ``(batch, steps, channels)``; with a mask, over unmasked steps.

    With a ``mask`` (bool ``(batch, steps)``, e.g. from ``Embedding(mask_zero=True)``), as Keras 3:
    ``sum(where(mask, x, 0), steps) / sum(mask, steps)``. The output carries no mask.

    Args:
        data_format: only ``"channels_last"`` (or None).
        keepdims: keep the steps axis with size 1.

    Output shape:
        ``(batch, channels)``, or ``(batch, 1, channels)`` with ``keepdims=True``.

    >>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> pyml.layers.GlobalAveragePooling1D()(x, mask=np.array([[True, True, False]])).numpy()
    array([[2.]], dtype=float32)
    """

    rank = 1
    reduce = staticmethod(ops.mean)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format=data_format, keepdims=keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        keep = ops.expand_dims(check_mask(self, mask, inputs), -1)
        total = ops.sum(ops.where(keep, inputs, 0.0), axis=1, keepdims=self.keepdims)
        return ops.divide(total, ops.sum(ops.cast(keep, inputs.dtype), axis=1, keepdims=self.keepdims))

    def compute_mask(self, inputs, mask=None):
        return None


GlobalAveragePooling2D = _global_class("average", 2, ops.mean)
GlobalAveragePooling3D = _global_class("average", 3, ops.mean)
GlobalMaxPooling1D = _global_class("max", 1, ops.max)
GlobalMaxPooling2D = _global_class("max", 2, ops.max)
GlobalMaxPooling3D = _global_class("max", 3, ops.max)
