"""``Embedding``: integer ids to dense vectors, by table lookup."""
import numpy as np

from pyml import initializers, ops
from pyml.checks import boolean
from pyml.layers import weight_options
from pyml.layers.base import Layer
from pyml.layers.core import positive_int
from pyml.tensor import Tensor


class Embedding(Layer):
    """Turns integer ids into dense vectors: ``output[..., :] = embeddings[inputs[...]]``.

    Args:
        input_dim: vocabulary size (ids are in ``[0, input_dim)``).
        output_dim: size of each vector.
        embeddings_initializer: initializer of the ``(input_dim, output_dim)`` table
            (default ``"uniform"``: uniform in [-0.05, 0.05]).
        embeddings_regularizer, embeddings_constraint: a penalty on the table (``pyml.regularizers``) and a
            projection after each update (``pyml.constraints``).
        mask_zero: whether id 0 is padding: the output then carries the mask ``inputs != 0``, which
            downstream layers (pooling, attention, recurrent layers) use to skip padded steps. Id 0 is then
            reserved, so ``input_dim`` must count it: a vocabulary of ``n`` words needs ``input_dim = n + 1``.

    Input shape:
        ``(batch, ...)`` integer ids.
    Output shape:
        ``(batch, ..., output_dim)``.

    >>> layer = pyml.layers.Embedding(10, 4)
    >>> layer(np.array([[1, 2, 3]])).shape
    (1, 3, 4)
    >>> pyml.layers.Embedding(10, 4, mask_zero=True)(np.array([[5, 2, 0]]))._keras_mask.numpy()
    array([[ True,  True, False]])
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        weight_options.set_options(self, embeddings_regularizer=embeddings_regularizer,
                                   embeddings_constraint=embeddings_constraint)
        self.mask_zero = boolean(self, "mask_zero", mask_zero)
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer, name="embeddings",
                                          **weight_options.options(self, "embeddings"))

    def _to_tensor(self, value):
        # ids stay integers (Layer casts float inputs to the layer dtype)
        tensor = value if isinstance(value, Tensor) else Tensor(np.asarray(value))
        return tensor if tensor.dtype == "int32" else ops.cast(tensor, "int32")

    def call(self, inputs):
        return ops.take(self.embeddings, inputs, axis=0)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_output_spec(self, input_shape, input_dtype=None, **kwargs):
        return super().compute_output_spec(input_shape, input_dtype="int32", **kwargs)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero, **weight_options.options_config(self, "embeddings")}
