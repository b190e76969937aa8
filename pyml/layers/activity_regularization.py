"""``ActivityRegularization``: passes its input through and adds an L1/L2 penalty on it to the loss."""
from pyml import regularizers
from pyml.layers.base import Layer


class ActivityRegularization(Layer):
    """Identity that adds ``(l1 * sum(|x|) + l2 * sum(x²)) / batch_size`` of its input to ``losses`` (so ``fit``
    adds it to the loss); in inference it is the identity, and exports as nothing.

    Args:
        l1, l2: the penalty factors (non-negative floats, default 0).

    Input shape: any. Output shape: the input's.

    >>> layer = pyml.layers.ActivityRegularization(l1=0.5)
    >>> layer(np.array([[1.0, -3.0], [2.0, 0.0]], "float32")).shape
    (2, 2)
    >>> [float(p) for p in layer.losses]          # 0.5 * 6 / 2 samples
    [1.5]
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)  # a config of Keras 2 may carry it besides l1 and l2
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)  # l1 and l2 say it
        return {**config, "l1": self.l1, "l2": self.l2}
