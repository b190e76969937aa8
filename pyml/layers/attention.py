"""``Attention`` (Luong, dot-product) and ``AdditiveAttention`` (Bahdanau), as Keras 3's layers."""
import numpy as np

from pyml import initializers, ops
from pyml.checks import boolean, real
from pyml.layers.base import Layer
from pyml.layers.call_args import check_mask
from pyml.layers.core import Dropout

PADDING_OFFSET = 1e9  # Keras subtracts this from masked scores (layers/attention/attention.py)


class Attention(Layer):
    """Dot-product attention over ``[query, value]`` or ``[query, value, key]`` (key defaults to value).

    ``scores = query @ key^T`` (``score_mode="dot"``, times the ``scale`` weight with ``use_scale``) or
    ``concat_score_weight * sum(tanh(scale * (query_i + key_j)))`` (``score_mode="concat"``); masked scores
    (value mask, and ``j > i`` with ``use_causal_mask``) have 1e9 subtracted, as Keras 3 does; then
    ``output = softmax(scores) @ value``, and rows where the query mask is False are zeroed. The masks come
    from ``mask=[query_mask, value_mask]`` or from the inputs (``Embedding(mask_zero=True)``); the output
    carries the query mask.

    Args:
        use_scale: learn a scalar ``scale`` (initialized to 1) multiplying the scores.
        score_mode: ``"dot"`` or ``"concat"`` (then a scalar ``concat_score_weight`` is learned too).
        dropout: dropout rate on the attention probabilities while training.
        seed: seed of the dropout.

    Call arguments:
        inputs: ``[query (batch, Tq, dim), value (batch, Tv, dim)]``, optionally ``key (batch, Tv, dim)``.
        mask: ``[query_mask (batch, Tq), value_mask (batch, Tv)]`` (either may be None).
        return_attention_scores: also return the probabilities ``(batch, Tq, Tv)``.
        training, use_causal_mask.

    >>> q, v = np.ones((1, 2, 3), "float32"), np.arange(12, dtype="float32").reshape(1, 4, 3)
    >>> pyml.layers.Attention()([q, v], mask=[None, np.array([[True, True, False, False]])]).numpy().round(2)
    array([[[3., 4., 5.],
            [3., 4., 5.]]], dtype=float32)
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                             f"Received: score_mode={score_mode!r}")
        self.use_scale, self.score_mode, self.seed = boolean(self, "use_scale", use_scale), score_mode, seed
        self.dropout = real(self, "dropout", dropout, low=0, high=1)
        self._dropout_layer = Dropout(self.dropout, seed=seed, name=f"{self.name}_dropout", dtype=self.dtype)

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale") if self.use_scale else None
        self.concat_score_weight = self.add_weight(shape=(), initializer="ones", name="concat_score_weight") \
            if self.score_mode == "concat" else None

    def _check_inputs(self, inputs, mask=None):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            count = len(inputs) if isinstance(inputs, (list, tuple)) else "not a list"
            raise ValueError(f"{name} layer {self.name!r} must be called on a list of inputs, namely "
                             f"[query, value] or [query, value, key]. Received: {count}")
        if mask is not None and (not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3):
            raise ValueError(f"{name} layer {self.name!r}: mask must be a list, namely [query_mask, value_mask]. "
                             f"Received: mask={mask!r}")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.transpose(key, (0, 2, 1)))
            return scores if self.scale is None else ops.multiply(scores, self.scale)
        pairs = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))  # (batch, Tq, Tv, dim)
        if self.scale is not None:
            pairs = ops.multiply(self.scale, pairs)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(pairs), axis=-1))

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        self._check_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = mask[0] if mask else None
        value_mask = mask[1] if mask else None
        scores = self._calculate_scores(query, key)
        keep = None if value_mask is None else ops.expand_dims(check_mask(self, value_mask, value, "value mask"), -2)
        if use_causal_mask:
            causal = ops.convert_to_tensor(np.tril(np.ones((1,) + tuple(scores.shape[-2:]), bool)))
            keep = causal if keep is None else ops.logical_and(keep, causal)
        if keep is not None:
            scores = ops.where(keep, scores, ops.subtract(scores, PADDING_OFFSET))
        weights = ops.softmax(scores, axis=-1)
        output = ops.matmul(self._dropout_layer(weights, training=training), value)
        if query_mask is not None:
            output = ops.where(ops.expand_dims(check_mask(self, query_mask, query, "query mask"), -1), output, 0.0)
        return (output, weights) if return_attention_scores else output

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) and mask else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (input_shape[1][-1],)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention: ``scores = sum(scale * tanh(query_i + key_j))``, otherwise as ``Attention``.

    Args:
        use_scale: learn ``scale`` of shape ``(dim,)`` (glorot-uniform initialized; default True).
        dropout: dropout rate on the attention probabilities while training.

    >>> q = np.ones((1, 2, 3), "float32")
    >>> pyml.layers.AdditiveAttention()([q, q]).shape
    (1, 2, 3)
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.scale = self.add_weight(shape=(input_shape[0][-1],), initializer=initializers.get("glorot_uniform"),
                                     name="scale") if self.use_scale else None
        self.concat_score_weight = None

    def _calculate_scores(self, query, key):
        pairs = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        return ops.sum(pairs if self.scale is None else ops.multiply(self.scale, pairs), axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
