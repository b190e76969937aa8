"""``MultiHeadAttention`` (Keras 3 arguments, weight shapes and masking), written in pyml matmuls and softmax."""
import math

import numpy as np

from pyml import initializers, ops
from pyml.checks import axes, boolean, real
from pyml.layers import weight_options
from pyml.layers.activation_layers import masked_softmax
from pyml.layers.base import Layer
from pyml.layers.call_args import check_mask
from pyml.layers.core import Dropout, positive_int


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017), as Keras 3's ``layers.MultiHeadAttention``.

    Per head ``h``: ``softmax(mask(Q_h K_h^T / sqrt(key_dim))) V_h``, with ``Q_h = query @ Wq[:, h] + bq[h]``
    (likewise ``K_h`` from ``key``, ``V_h`` from ``value``); the heads' results are projected back by the
    output kernel: ``output = sum_h O_h @ Wo[h] + bo``. Masked scores become -1e9 before the softmax and
    their probabilities 0 after it (Keras's ``Softmax`` rule: a query position that may attend to nothing
    gets zero weights, hence the output bias; Keras's default fused path gives such rows uniform weights
    instead; other rows agree).

    The attention mask is the AND of ``attention_mask`` (``(batch, T, S)``, True = may attend, broadcast
    over heads), the query mask as ``(batch, T, 1)``, the value and key masks as ``(batch, 1, S)``, and
    the causal mask ``j <= i`` when ``use_causal_mask=True``. Masks attached to ``query``/``value``/``key``
    (``Embedding(mask_zero=True)``) are used automatically; the output carries the query's mask.

    Args:
        num_heads: number of heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (default ``key_dim``).
        dropout: dropout rate on the attention probabilities while training.
        use_bias: whether the four projections have biases.
        output_shape: the output's last axes (int or tuple); default: the query's feature size.
        attention_axes: the axes attended over; only the default (every axis between batch and features,
            ``None``) is implemented.
        kernel_initializer, bias_initializer: initializers of the projections.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: penalties
            (``pyml.regularizers``) and projections (``pyml.constraints``) of the four kernels and biases.
        seed: seed of the dropout.

    Weights (Keras's EinsumDense layout, in Keras's order, so ``set_weights`` takes a Keras layer's
    ``get_weights()``): ``query/kernel (query_dim, num_heads, key_dim)``, ``query/bias (num_heads, key_dim)``,
    ``key/kernel (key_dim_in, num_heads, key_dim)``, ``key/bias``, ``value/kernel (value_dim_in, num_heads,
    value_dim)``, ``value/bias``, ``attention_output/kernel (num_heads, value_dim, *output_shape)``,
    ``attention_output/bias (*output_shape)``.

    Call arguments:
        query ``(batch, T, dim)``, value ``(batch, S, dim)``, key (default: value), query_mask,
        value_mask, key_mask, attention_mask, return_attention_scores (also return the probabilities,
        ``(batch, num_heads, T, S)``), training, use_causal_mask.

    >>> layer = pyml.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.ones((1, 5, 8), "float32")
    >>> out, scores = layer(x, x, return_attention_scores=True, use_causal_mask=True)
    >>> out.shape, scores.shape
    ((1, 5, 8), (1, 2, 5, 5))
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = positive_int("MultiHeadAttention", "num_heads", num_heads)
        self.key_dim = positive_int("MultiHeadAttention", "key_dim", key_dim)
        self.value_dim = self.key_dim if value_dim is None else positive_int("MultiHeadAttention", "value_dim",
                                                                             value_dim)
        self.dropout = real(self, "dropout", dropout, low=0, high=1)
        self.use_bias = boolean(self, "use_bias", use_bias)
        if output_shape is not None:
            sizes = output_shape if isinstance(output_shape, (list, tuple)) and output_shape else [output_shape]
            output_shape = tuple(positive_int("MultiHeadAttention", "output_shape", d) for d in sizes)
        self._output_shape = output_shape
        if attention_axes is not None:
            attention_axes = axes(self, "attention_axes", attention_axes)
            attention_axes = (attention_axes,) if isinstance(attention_axes, int) else tuple(attention_axes)
        self.attention_axes = attention_axes
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        weight_options.set_options(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.seed = seed
        self._dropout_layer = Dropout(self.dropout, seed=seed, name=f"{self.name}_dropout", dtype=self.dtype)
        self.supports_masking = True

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(f"Layer {self.name!r}: all dimensions of `value` and `key`, except the last one, must "
                             f"be equal. Received: value_shape={value_shape} and key_shape={key_shape}")
        self._check_attention_axes(len(query_shape))
        heads = self.num_heads

        def projection(name, in_dim, head_dim):
            kernel = self.add_weight(shape=(in_dim, heads, head_dim), initializer=self.kernel_initializer,
                                     name=f"{name}/kernel", **weight_options.options(self, "kernel"))
            bias = self.add_weight(shape=(heads, head_dim), initializer=self.bias_initializer, name=f"{name}/bias",
                                   **weight_options.options(self, "bias")) if self.use_bias else None
            return kernel, bias

        self._query = projection("query", query_shape[-1], self.key_dim)
        self._key = projection("key", key_shape[-1], self.key_dim)
        self._value = projection("value", value_shape[-1], self.value_dim)
        out = self._output_shape or (query_shape[-1],)
        self._output = (self.add_weight(shape=(heads, self.value_dim) + tuple(out), name="attention_output/kernel",
                                        initializer=self.kernel_initializer, **weight_options.options(self, "kernel")),
                        self.add_weight(shape=tuple(out), initializer=self.bias_initializer,
                                        name="attention_output/bias", **weight_options.options(self, "bias"))
                        if self.use_bias else None)

    def _check_attention_axes(self, rank):
        default = tuple(range(1, rank - 1))
        if self.attention_axes is not None and tuple(sorted(a % rank for a in self.attention_axes)) != default:
            raise NotImplementedError(
                f"Layer {self.name!r}: MultiHeadAttention attends over every axis between batch and features "
                f"({default} for inputs of rank {rank}); other attention_axes are not implemented. "
                f"Received: attention_axes={self.attention_axes}")

    def _project(self, x, weights, head_dim, scale=None):
        """``(batch, positions..., dim)`` to ``(batch, positions, heads, head_dim)``, positions flattened;
        ``scale`` multiplies the projection before the reshape, where it fuses into the matmul's epilogue."""
        kernel, bias = weights
        heads = self.num_heads
        x = ops.reshape(x, (x.shape[0], math.prod(x.shape[1:-1]), x.shape[-1]))
        y = ops.matmul(x, ops.reshape(kernel, (kernel.shape[0], heads * head_dim)))
        if bias is not None:
            y = ops.add(y, ops.reshape(bias, (heads * head_dim,)))
        if scale is not None:
            y = ops.multiply(y, scale)
        return ops.reshape(y, (x.shape[0], x.shape[1], heads, head_dim))

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        key = value if key is None else key
        mask = self._attention_mask(query, value, key, query_mask, value_mask, key_mask, attention_mask,
                                    use_causal_mask)
        # Keras scales the projected query by 1/sqrt(key_dim) before the dot product
        q = ops.transpose(self._project(query, self._query, self.key_dim, 1.0 / math.sqrt(self.key_dim)), (0, 2, 1, 3))
        k = ops.transpose(self._project(key, self._key, self.key_dim), (0, 2, 3, 1))  # (batch, heads, dk, S)
        v = ops.transpose(self._project(value, self._value, self.value_dim), (0, 2, 1, 3))
        scores = ops.matmul(q, k)  # (batch, heads, T, S)
        probabilities = ops.softmax(scores, axis=-1) if mask is None else masked_softmax(self, scores, mask)
        attended = ops.matmul(self._dropout_layer(probabilities, training=training), v)  # (batch, heads, T, dv)
        heads_last = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)),
                                 (query.shape[0], attended.shape[2], self.num_heads * self.value_dim))
        kernel, bias = self._output
        out = ops.matmul(heads_last, ops.reshape(kernel, (self.num_heads * self.value_dim, -1)))
        if bias is not None:
            out = ops.add(out, ops.reshape(bias, (-1,)))
        out = ops.reshape(out, tuple(query.shape[:-1]) + tuple(kernel.shape[2:]))
        if return_attention_scores:
            return out, probabilities
        return out

    def _attention_mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask, causal):
        """The ``(batch or 1, 1, T, S)`` bool mask: Keras's AND of the given masks (see the class docstring)."""
        batch, target, source = query.shape[0], math.prod(query.shape[1:-1]), math.prod(value.shape[1:-1])
        parts = []
        for name, m, x, axis in (("query_mask", query_mask, query, -1), ("value_mask", value_mask, value, -2),
                                 ("key_mask", key_mask, key, -2)):
            if m is not None:
                m = ops.reshape(check_mask(self, m, x, name), (batch, -1))
                parts.append(ops.expand_dims(m, axis))
        if causal:
            parts.append(ops.convert_to_tensor(np.tril(np.ones((1, target, source), bool))))
        if attention_mask is not None:
            parts.append(self._check_attention_mask(attention_mask, batch, target, source))
        if not parts:
            return None
        mask = parts[0]
        for part in parts[1:]:
            mask = ops.logical_and(mask, part)
        return ops.expand_dims(mask, 1)  # broadcast over heads

    def _check_attention_mask(self, mask, batch, target, source):
        mask = ops.convert_to_tensor(mask)
        expected = (batch, target, source)
        if mask.ndim > 3 or any(m != 1 and m != e for m, e in zip(mask.shape[::-1], expected[::-1])):
            raise ValueError(f"Layer {self.name!r}: attention_mask must broadcast to (batch, T, S) = {expected}. "
                             f"Received: attention_mask.shape={tuple(mask.shape)}")
        while mask.ndim < 3:
            mask = ops.expand_dims(mask, 0)
        return mask if mask.dtype == "bool" else ops.cast(mask, "bool")

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        return query_shape[:-1] + self._output_shape if self._output_shape else query_shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": None if self._output_shape is None else list(self._output_shape),
                "attention_axes": None if self.attention_axes is None else list(self.attention_axes),
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), "seed": self.seed,
                **weight_options.options_config(self, "kernel", "bias")}
