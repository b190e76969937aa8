"""``Masking``: marks the time steps whose features all equal ``mask_value`` as padding."""
from pyml import ops
from pyml.layers.base import Layer
from pyml.layers.call_args import set_mask


class Masking(Layer):
    """Masks the steps of a sequence whose features all equal ``mask_value`` (Keras 3's rule).

    For inputs ``(batch, steps, features)`` the output mask is ``any(inputs != mask_value, axis=-1)``:
    a step is masked (False) when every one of its features equals ``mask_value``. The output is the input
    with masked steps' features set to 0. Layers downstream that take masks (pooling, attention,
    recurrent layers) then skip those steps.

    Args:
        mask_value: the padding value (default 0.0).

    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]], "float32")
    >>> out = pyml.layers.Masking()(x)
    >>> out._keras_mask.numpy()
    array([[ True, False,  True]])
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)):
            raise ValueError(f"Masking expects a number as mask_value. Received: mask_value={mask_value!r}")
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return ops.any(ops.not_equal(inputs, self.mask_value), axis=-1)

    def call(self, inputs):
        keep = ops.any(ops.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        outputs = ops.where(keep, inputs, 0.0)
        set_mask(outputs, ops.reshape(keep, tuple(inputs.shape[:-1])))
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
