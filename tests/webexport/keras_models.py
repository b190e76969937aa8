"""The model table for the export parity suites: small Keras-style models as users write them, each trained
briefly (seeded) on load_digits or small synthetic data, with five held-out examples to predict.

Both ``tests/webexport/test_models_native.py`` (wgpu-py) and ``tests/browser/test_models_browser.py``
(Chromium, WebGPU and CPU backends) run every entry of ``MODELS`` against ``model.predict``.

    >>> case = trained("cnn")                       # trained once per process (cached)
    >>> predict(case).shape                          # model.predict on the held-out examples
    (5, 10)
"""
import functools
from dataclasses import dataclass

import numpy as np

import pyml
from pyml import layers

SEED = 0
EPOCHS = 2
LEARNING_RATE = 0.01  # ten times Keras's default: two epochs get somewhere
NUM_TRAIN = 480  # enough examples for the loss to fall over two epochs, few enough to train in a second
NUM_TEST = 5  # held-out examples run through every backend (batch 5, and the first one alone)


@dataclass(frozen=True)
class TrainedModel:
    """A table entry after training.

    ``x``: the held-out inputs (a list, one array per model input, ``NUM_TEST`` examples each);
    ``kind``: ``"softmax"`` (compare argmax), ``"sigmoid"`` (compare ``p > 0.5``) or ``"regression"``;
    ``losses``: the training loss per epoch."""

    name: str
    model: object
    x: list
    kind: str
    losses: list


@dataclass(frozen=True)
class Recipe:
    """What a ``MODELS`` builder returns: the untrained model, ``(x_train, y_train, x_test)``, the loss,
    the output kind (see ``TrainedModel``) and how many epochs to fit."""

    model: object
    data: tuple
    loss: str
    kind: str
    epochs: int = EPOCHS


@functools.lru_cache(maxsize=None)
def digits():
    """scikit-learn's 8x8 digits as float32 pixels in 0..1 (shape (1797, 64)) and int32 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int32)


def _digit_split(transform=lambda x: x):
    x, y = digits()
    x = transform(x)
    return x[:NUM_TRAIN], y[:NUM_TRAIN], x[-NUM_TEST:]


def _synthetic(shape, label, seed, dtype="float32", high=None):
    """``NUM_TRAIN + NUM_TEST`` examples of ``shape`` (normal floats, or ints below ``high``) labelled by ``label``."""
    rng = np.random.default_rng(seed)
    n = NUM_TRAIN + NUM_TEST
    x = rng.integers(0, high, (n,) + shape).astype(dtype) if high else rng.standard_normal((n,) + shape).astype(dtype)
    return x[:NUM_TRAIN], label(x[:NUM_TRAIN]), x[NUM_TRAIN:]


def cnn():
    """Conv2D same → MaxPooling2D → Conv2D valid → Flatten → Dense softmax, on digits as (8, 8, 1) images."""
    model = pyml.Sequential([
        pyml.Input(shape=(8, 8, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(16, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    return Recipe(model, _digit_split(lambda x: x.reshape(-1, 8, 8, 1)), "sparse_categorical_crossentropy", "softmax")


def depthwise():
    """DepthwiseConv2D (3 channels, depth_multiplier 4) → Conv2D strides 2 → GlobalAveragePooling2D → Dense.

    Its loss starts slowly (global pooling hides where strokes are), so it fits for 8 epochs."""
    model = pyml.Sequential([
        pyml.Input(shape=(8, 8, 3)),
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=4, activation="relu"),
        layers.Conv2D(24, 3, strides=2, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ])

    def three_channels(x):  # channels that differ per pixel, so the depthwise filters see distinct inputs
        return np.stack([x, x * x, 1.0 - x], axis=-1).reshape(-1, 8, 8, 3)

    return Recipe(model, _digit_split(three_channels), "sparse_categorical_crossentropy", "softmax", epochs=8)


def normalization():
    """Dense → BatchNormalization → relu → Dense → LayerNormalization → Dense softmax.

    Momentum 0.5 moves the moving statistics far from their initial 0/1 in two epochs, so inference
    with the moving statistics is told apart from inference with the initial ones."""
    model = pyml.Sequential([
        pyml.Input(shape=(64,)),
        layers.Dense(32),
        layers.BatchNormalization(momentum=0.5),
        layers.Activation("relu"),
        layers.Dense(16),
        layers.LayerNormalization(),
        layers.Dense(10, activation="softmax"),
    ])
    return Recipe(model, _digit_split(), "sparse_categorical_crossentropy", "softmax")


def causal_conv1d():
    """Conv1D causal, dilation 2, on a (16, 4) sequence → AveragePooling1D → Flatten → Dense sigmoid."""
    model = pyml.Sequential([
        pyml.Input(shape=(16, 4)),
        layers.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="relu"),
        layers.AveragePooling1D(2),
        layers.Flatten(),
        layers.Dense(1, activation="sigmoid"),
    ])

    def label(x):  # is channel 0 larger than channel 1 on average
        return (x[:, :, 0].mean(axis=1) > x[:, :, 1].mean(axis=1)).astype(np.float32)[:, None]

    return Recipe(model, _synthetic((16, 4), label, seed=4), "binary_crossentropy", "sigmoid")


def embedding():
    """Embedding(50, 8) on int32 token ids of shape (6,) → GlobalAveragePooling1D → Dense softmax."""
    model = pyml.Sequential([
        pyml.Input(shape=(6,), dtype="int32"),
        layers.Embedding(50, 8),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2, activation="softmax"),
    ])

    def label(ids):  # mostly tokens from the lower half of the vocabulary
        return ((ids < 25).sum(axis=1) > 3).astype(np.int32)

    x_train, y_train, x_test = _synthetic((6,), label, seed=5, dtype="int32", high=50)
    x_test[0, :2] = 0, 49  # the first and last rows of the table
    return Recipe(model, (x_train, y_train, x_test), "sparse_categorical_crossentropy", "softmax")


def branches():
    """Functional: gelu and tanh branches merged by Add, concatenated with a leaky_relu branch, Dense softmax."""
    inputs = pyml.Input(shape=(64,))
    gelu = layers.Dense(16, activation="gelu")(inputs)
    tanh = layers.Dense(16, activation="tanh")(inputs)
    leaky = layers.Dense(8, activation="leaky_relu")(inputs)
    merged = layers.Concatenate()([layers.Add()([gelu, tanh]), leaky])
    model = pyml.Model(inputs, layers.Dense(10, activation="softmax")(merged))
    return Recipe(model, _digit_split(), "sparse_categorical_crossentropy", "softmax")


def upsampling():
    """Conv2DTranspose strides 2 (4x4 → 8x8) → Conv2D same: learns to upsample a 2-channel image."""
    model = pyml.Sequential([
        pyml.Input(shape=(4, 4, 2)),
        layers.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2D(1, 3, padding="same"),
    ])

    def label(x):  # nearest-neighbour upsampling of the channel sum
        return x.sum(axis=-1, keepdims=True).repeat(2, axis=1).repeat(2, axis=2)

    return Recipe(model, _synthetic((4, 4, 2), label, seed=7), "mse", "regression")


def conv3d():
    """A tiny Conv3D (4x4x4 volumes, 1 channel) → GlobalAveragePooling3D → Dense."""
    model = pyml.Sequential([
        pyml.Input(shape=(4, 4, 4, 1)),
        layers.Conv3D(4, 2, activation="relu"),
        layers.GlobalAveragePooling3D(),
        layers.Dense(1),
    ])

    def label(x):  # the front half of the volume against the back half
        return (x[:, :2].mean(axis=(1, 2, 3, 4)) - x[:, 2:].mean(axis=(1, 2, 3, 4)))[:, None]

    return Recipe(model, _synthetic((4, 4, 4, 1), label, seed=8), "mse", "regression")


def dropout():
    """Dense relu → Dropout(0.5) → Dense softmax: the Dropout must vanish at inference and in the export."""
    model = pyml.Sequential([
        pyml.Input(shape=(64,)),
        layers.Dense(32, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    return Recipe(model, _digit_split(), "sparse_categorical_crossentropy", "softmax")


# ---- recurrent models: >= 20 steps each; the exported recurrence is one rnn_scan step per layer ----------
def _sequence_label(x):
    """Did feature 0 sum to more than feature 1 over the sequence (a task that needs every step)."""
    return (x[:, :, 0].sum(axis=1) > x[:, :, 1].sum(axis=1)).astype(np.int32)


def simple_rnn():
    """SimpleRNN(12) over 24 steps → Dense softmax."""
    model = pyml.Sequential([pyml.Input(shape=(24, 4)), layers.SimpleRNN(12), layers.Dense(2, activation="softmax")])
    return Recipe(model, _synthetic((24, 4), _sequence_label, seed=9), "sparse_categorical_crossentropy", "softmax")


def stacked_lstm():
    """LSTM(16, return_sequences) → LSTM(8, go_backwards) over 22 steps → Dense softmax (stacked, reversed)."""
    model = pyml.Sequential([
        pyml.Input(shape=(22, 3)),
        layers.LSTM(16, return_sequences=True),
        layers.LSTM(8, go_backwards=True),
        layers.Dense(2, activation="softmax"),
    ])
    return Recipe(model, _synthetic((22, 3), _sequence_label, seed=10), "sparse_categorical_crossentropy", "softmax")


def time_distributed():
    """TimeDistributed(Dense(8, relu)) on each of 20 steps → GRU(6) → Dense softmax (the wrapped Dense runs on the
    sequence as it is, so the batch stays dynamic)."""
    model = pyml.Sequential([
        pyml.Input(shape=(20, 4)),
        layers.TimeDistributed(layers.Dense(8, activation="relu")),
        layers.GRU(6),
        layers.Dense(2, activation="softmax"),
    ])
    return Recipe(model, _synthetic((20, 4), _sequence_label, seed=12), "sparse_categorical_crossentropy", "softmax")


class MinimalRNNCell(layers.Layer):
    """The cell of Keras's "writing your own cell" example: h = tanh(x W + h_prev U)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        h = pyml.ops.tanh(pyml.ops.matmul(inputs, self.kernel) + pyml.ops.matmul(states[0], self.recurrent_kernel))
        return h, [h]


def custom_cell():
    """RNN over a user-written cell (20 steps of ordinary ops, no rnn_scan) → Dense softmax."""
    model = pyml.Sequential([pyml.Input(shape=(20, 4)), layers.RNN(MinimalRNNCell(8)),
                             layers.Dense(2, activation="softmax")])
    return Recipe(model, _synthetic((20, 4), _sequence_label, seed=13), "sparse_categorical_crossentropy", "softmax")


def gru():
    """GRU(10) (reset_after, Keras 3's default) and GRU(6, reset_after=False, return_sequences) side by side over
    20 steps; the second's sequence averaged over time."""
    inputs = pyml.Input(shape=(20, 3))
    after = layers.GRU(10)(inputs)
    before = layers.GlobalAveragePooling1D()(layers.GRU(6, reset_after=False, return_sequences=True)(inputs))
    model = pyml.Model(inputs, layers.Dense(2, activation="softmax")(layers.Concatenate()([after, before])))
    return Recipe(model, _synthetic((20, 3), _sequence_label, seed=11), "sparse_categorical_crossentropy", "softmax")


def lstm_states():
    """LSTM(8, return_sequences, return_state) over 20 steps: the sequence's mean, h and c all feed the Dense."""
    inputs = pyml.Input(shape=(20, 3))
    sequence, h, c = layers.LSTM(8, return_sequences=True, return_state=True)(inputs)
    merged = layers.Concatenate()([layers.GlobalAveragePooling1D()(sequence), h, c])
    model = pyml.Model(inputs, layers.Dense(2, activation="softmax")(merged))
    return Recipe(model, _synthetic((20, 3), _sequence_label, seed=12), "sparse_categorical_crossentropy", "softmax")


class _MaskedRNNs(pyml.Model):
    """A subclassed model, the way a mask input reaches a layer's ``mask=`` argument today."""

    def __init__(self):
        super().__init__()
        self.lstm = layers.LSTM(8)
        self.gru = layers.GRU(5, return_sequences=True)
        self.pool = layers.GlobalAveragePooling1D()
        self.dense = layers.Dense(2, activation="softmax")

    def call(self, inputs):
        x, mask = inputs
        merged = pyml.ops.concatenate([self.lstm(x, mask=mask), self.pool(self.gru(x, mask=mask))], axis=-1)
        return self.dense(merged)


def masked_rnns():
    """An explicit mask input (1 = real step; each sequence padded at its end) into an LSTM and a GRU that
    returns sequences (masked outputs carry the state), over 21 steps. Two inputs."""
    (x_train, m_train), y_train, (x_test, m_test) = _masked_sequences(21, seed=13)
    return Recipe(_MaskedRNNs(), ([x_train, m_train], y_train, [x_test, m_test]), "sparse_categorical_crossentropy",
                  "softmax")


def _masked_sequences(steps, seed):
    """``((x, mask), y, (x_test, mask_test))``: 3 features per step, each sequence 5..steps long (padded at its
    end: zeros in x, 0 in the float mask), labelled by ``_sequence_label``."""
    rng = np.random.default_rng(seed)
    n = NUM_TRAIN + NUM_TEST
    lengths = rng.integers(5, steps + 1, n)
    m = (np.arange(steps)[None, :] < lengths[:, None]).astype(np.float32)
    x = rng.standard_normal((n, steps, 3)).astype(np.float32) * m[:, :, None]
    y = _sequence_label(x)
    return (x[:NUM_TRAIN], m[:NUM_TRAIN]), y[:NUM_TRAIN], (x[NUM_TRAIN:], m[NUM_TRAIN:])


def bidirectional():
    """Bidirectional(LSTM(8, return_sequences)) concat → Bidirectional(GRU(6), merge_mode="ave") over 20 steps."""
    model = pyml.Sequential([
        pyml.Input(shape=(20, 3)),
        layers.Bidirectional(layers.LSTM(8, return_sequences=True)),
        layers.Bidirectional(layers.GRU(6), merge_mode="ave"),
        layers.Dense(2, activation="softmax"),
    ])
    return Recipe(model, _synthetic((20, 3), _sequence_label, seed=14), "sparse_categorical_crossentropy", "softmax")


class _MaskedBidirectional(pyml.Model):
    """Bidirectional(SimpleRNN, merge_mode="sum") under an explicit mask: the backward layer walks the mask
    backwards too, and masked outputs are zeros (Bidirectional sets zero_output_for_mask)."""

    def __init__(self):
        super().__init__()
        self.rnn = layers.Bidirectional(layers.SimpleRNN(6, return_sequences=True), merge_mode="sum")
        self.pool = layers.GlobalAveragePooling1D()
        self.dense = layers.Dense(2, activation="softmax")

    def call(self, inputs):
        x, mask = inputs
        return self.dense(self.pool(self.rnn(x, mask=mask)))


def masked_bidirectional():
    """``_MaskedBidirectional`` over 20 steps, sequences padded at their end."""
    (x_train, m_train), y_train, (x_test, m_test) = _masked_sequences(20, seed=15)
    return Recipe(_MaskedBidirectional(), ([x_train, m_train], y_train, [x_test, m_test]),
                  "sparse_categorical_crossentropy", "softmax")


SEQUENCE_LENGTH = 20  # sequence models run over at least 20 steps


def padded_ids(n, length, vocabulary, seed, shortest=1):
    """``n`` rows of ids in ``1..vocabulary-1``, each padded with 0 after a random length (rows 0 and 1 of
    the held-out examples: the shortest and the full length)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocabulary, (n, length)).astype(np.int32)
    sizes = rng.integers(shortest, length + 1, n)
    sizes[-NUM_TEST:][:2] = shortest, length
    for row, size in enumerate(sizes):
        ids[row, size:] = 0
    return ids


def masked_pooling():
    """Embedding(mask_zero=True) → GlobalAveragePooling1D over the unmasked steps → Dense softmax, on ids
    padded with 0 over 20 steps: the mask is part of the exported graph."""
    model = pyml.Sequential([
        pyml.Input(shape=(SEQUENCE_LENGTH,), dtype="int32"),
        layers.Embedding(30, 8, mask_zero=True),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2, activation="softmax"),
    ])
    ids = padded_ids(NUM_TRAIN + NUM_TEST, SEQUENCE_LENGTH, 30, seed=9)
    label = ((ids > 0) & (ids < 15)).sum(1) * 2 > (ids > 0).sum(1)  # mostly low ids among the real tokens
    return Recipe(model, (ids[:NUM_TRAIN], label[:NUM_TRAIN].astype(np.int32), ids[NUM_TRAIN:]),
                  "sparse_categorical_crossentropy", "softmax")


def attention():
    """Functional self-attention: Dense → MultiHeadAttention(causal, attention_mask from a bool input) →
    GlobalAveragePooling1D → Dense; 4-D batched matmuls and the masked softmax, with a dynamic batch."""
    x = pyml.Input(shape=(SEQUENCE_LENGTH, 6))
    mask = pyml.Input(shape=(SEQUENCE_LENGTH, SEQUENCE_LENGTH), dtype="bool")
    hidden = layers.Dense(16)(x)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=8)(hidden, hidden, attention_mask=mask,
                                                                 use_causal_mask=True)
    model = pyml.Model([x, mask], layers.Dense(1)(layers.GlobalAveragePooling1D()(attended)))
    rng = np.random.default_rng(10)
    n = NUM_TRAIN + NUM_TEST
    values = rng.standard_normal((n, SEQUENCE_LENGTH, 6)).astype(np.float32)
    masks = rng.random((n, SEQUENCE_LENGTH, SEQUENCE_LENGTH)) > 0.3
    target = values[:, :, 0].cumsum(1).mean(1, keepdims=True) / SEQUENCE_LENGTH
    data = ([values[:NUM_TRAIN], masks[:NUM_TRAIN]], target[:NUM_TRAIN], [values[NUM_TRAIN:], masks[NUM_TRAIN:]])
    return Recipe(model, data, "mse", "regression")


def luong_attention():
    """Masking (all-zero steps at each sequence's end) → Dense → Attention (dot, scaled) and AdditiveAttention,
    query and value masks from the Masking layer → their sum pooled over the real steps → Dense softmax."""
    x = pyml.Input(shape=(SEQUENCE_LENGTH, 4))
    hidden = layers.Dense(8)(layers.Masking(0.0)(x))
    dot = layers.Attention(use_scale=True)([hidden, hidden])
    additive = layers.AdditiveAttention()([hidden, hidden])
    pooled = layers.GlobalAveragePooling1D()(layers.Add()([dot, additive]))
    model = pyml.Model(x, layers.Dense(2, activation="softmax")(pooled))
    real = padded_ids(NUM_TRAIN + NUM_TEST, SEQUENCE_LENGTH, 2, seed=15, shortest=3) > 0
    values = np.random.default_rng(14).standard_normal(real.shape + (4,)).astype(np.float32) * real[:, :, None]
    return Recipe(model, (values[:NUM_TRAIN], _sequence_label(values[:NUM_TRAIN]), values[NUM_TRAIN:]),
                  "sparse_categorical_crossentropy", "softmax")


class PositionEmbedding(layers.Layer):
    """Token embeddings (id 0 is padding, masked) plus learned position embeddings: an ordinary user layer."""

    def __init__(self, sequence_length, vocabulary_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length, self.vocabulary_size, self.embed_dim = sequence_length, vocabulary_size, embed_dim
        self.tokens = layers.Embedding(vocabulary_size, embed_dim, mask_zero=True)
        self.positions = layers.Embedding(sequence_length, embed_dim)

    def call(self, ids):
        return self.tokens(ids) + self.positions(np.arange(self.sequence_length, dtype=np.int32)[None])

    def compute_mask(self, ids, mask=None):
        return self.tokens.compute_mask(ids)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "vocabulary_size": self.vocabulary_size, "embed_dim": self.embed_dim}


def small_transformer(length=SEQUENCE_LENGTH, vocabulary=12, width=16):
    """PositionEmbedding → causal MultiHeadAttention + residual → LayerNormalization → feed-forward + residual →
    LayerNormalization → GlobalAveragePooling1D (masked) → Dense softmax."""
    ids = pyml.Input((length,), dtype="int32")
    x = PositionEmbedding(length, vocabulary, width)(ids)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x, use_causal_mask=True)
    x = layers.LayerNormalization()(layers.Add()([x, attended]))
    x = layers.LayerNormalization()(layers.Add()([x, layers.Dense(width)(layers.Dense(32, activation="relu")(x))]))
    return pyml.Model(ids, layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(x)))


def token_task(n, length=SEQUENCE_LENGTH, seed=0):
    """Ids 1..11 padded with 0; label: does token 7 come before token 3 (a token that is absent never comes)."""
    ids = padded_ids(n, length, 12, seed, shortest=3)
    first = lambda token: np.where((ids == token).any(1), (ids == token).argmax(1), length)  # noqa: E731
    return ids, (first(7) < first(3)).astype(np.int32)


def transformer():
    """The small transformer above on the token-order task."""
    ids, labels = token_task(NUM_TRAIN + NUM_TEST, seed=11)
    return Recipe(small_transformer(), (ids[:NUM_TRAIN], labels[:NUM_TRAIN], ids[NUM_TRAIN:]),
                  "sparse_categorical_crossentropy", "softmax")


def embedding_bidirectional():
    """Embedding(12, 8, mask_zero=True) on padded ids → Bidirectional(LSTM(8)), its mask from the Embedding (the
    padding carries both directions' states) → Dense softmax, on the token-order task."""
    ids, labels = token_task(NUM_TRAIN + NUM_TEST, seed=16)
    model = pyml.Sequential([
        pyml.Input(shape=(SEQUENCE_LENGTH,), dtype="int32"),
        layers.Embedding(12, 8, mask_zero=True),
        layers.Bidirectional(layers.LSTM(8)),
        layers.Dense(2, activation="softmax"),
    ])
    return Recipe(model, (ids[:NUM_TRAIN], labels[:NUM_TRAIN], ids[NUM_TRAIN:]), "sparse_categorical_crossentropy",
                  "softmax")


# ---- Keras breadth (issue #8): layers that export as compositions of existing kernels ---------------------
def separable_grouped():
    """SeparableConv2D (depth_multiplier 2) → SpatialDropout2D → Conv2D strides 2 with groups=3 → PReLU shared over
    space → GroupNormalization(4) → Flatten → Dense softmax, on digits as 3-channel images."""
    model = pyml.Sequential([
        pyml.Input(shape=(8, 8, 3)),
        layers.SeparableConv2D(12, 3, depth_multiplier=2, padding="same", activation="relu"),
        layers.SpatialDropout2D(0.2),
        layers.Conv2D(12, 3, strides=2, groups=3),
        layers.PReLU(alpha_initializer=pyml.initializers.Constant(0.2), shared_axes=[1, 2]),
        layers.GroupNormalization(4),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])

    def three_channels(x):
        return np.stack([x, x * x, 1.0 - x], axis=-1).reshape(-1, 8, 8, 3)

    return Recipe(model, _digit_split(three_channels), "sparse_categorical_crossentropy", "softmax")


def sequence_extras():
    """SeparableConv1D same → Conv1D groups=4 → GaussianNoise → SpatialDropout1D → Permute((2, 1)) → Dense on each
    channel's sequence → Flatten → RMSNormalization → Dense sigmoid, on a (16, 4) sequence."""
    model = pyml.Sequential([
        pyml.Input(shape=(16, 4)),
        layers.SeparableConv1D(8, 3, padding="same", depth_multiplier=2, activation="relu"),
        layers.Conv1D(8, 3, groups=4, activation="relu"),
        layers.GaussianNoise(0.1),
        layers.SpatialDropout1D(0.1),
        layers.Permute((2, 1)),
        layers.Dense(3),
        layers.Flatten(),
        layers.RMSNormalization(),
        layers.Dense(1, activation="sigmoid"),
    ])

    def label(x):
        return (x[:, :, 0].mean(axis=1) > x[:, :, 1].mean(axis=1)).astype(np.float32)[:, None]

    return Recipe(model, _synthetic((16, 4), label, seed=17), "binary_crossentropy", "sigmoid")


def dense_extras():
    """Dense selu → AlphaDropout → GaussianDropout → PReLU → UnitNormalization → Identity → Dense softmax."""
    model = pyml.Sequential([
        pyml.Input(shape=(64,)),
        layers.Dense(32, activation="selu"),
        layers.AlphaDropout(0.1),
        layers.GaussianDropout(0.2),
        layers.PReLU(alpha_initializer=pyml.initializers.Constant(0.1)),
        layers.UnitNormalization(),
        layers.Identity(),
        layers.Dense(10, activation="softmax"),
    ])
    return Recipe(model, _digit_split(), "sparse_categorical_crossentropy", "softmax")


def regularized():
    """Dense with kernel/bias/activity regularizers and constraints → ActivityRegularization → Dense softmax:
    penalties and projections shape training only; the export holds the two Dense layers (the regularization
    layer is the identity)."""
    model = pyml.Sequential([
        pyml.Input(shape=(64,)),
        layers.Dense(32, activation="relu", kernel_regularizer=pyml.regularizers.L2(1e-3), bias_regularizer="l1",
                     activity_regularizer=pyml.regularizers.L1(1e-4), kernel_constraint=pyml.constraints.MaxNorm(2.0)),
        layers.ActivityRegularization(l2=1e-4),
        layers.Dense(10, activation="softmax", kernel_constraint="non_neg"),
    ])
    return Recipe(model, _digit_split(), "sparse_categorical_crossentropy", "softmax")


def dot_products():
    """Functional: RepeatVector of a Dense code against a Dense-made sequence, Dot(axes=(2, 2), normalize=True)
    (a batched matmul of cosines), and Dot(axes=1) of two vectors; concatenated → Dense softmax."""
    inputs = pyml.Input(shape=(64,))
    code = layers.RepeatVector(4)(layers.Dense(6, activation="tanh")(inputs))
    keys = layers.Reshape((5, 6))(layers.Dense(30)(inputs))
    cosines = layers.Flatten()(layers.Dot(axes=(2, 2), normalize=True)([code, keys]))
    similarity = layers.Dot(axes=1)([layers.Dense(8)(inputs), layers.Dense(8)(inputs)])
    merged = layers.Concatenate()([cosines, similarity])
    model = pyml.Model(inputs, layers.Dense(10, activation="softmax")(merged))
    return Recipe(model, _digit_split(), "sparse_categorical_crossentropy", "softmax", epochs=4)


def grouped_conv3d():
    """Conv3D groups=2 (4x4x4 volumes, 2 channels) → SpatialDropout3D → GroupNormalization(2) → GlobalAveragePooling3D
    → Dense."""
    model = pyml.Sequential([
        pyml.Input(shape=(4, 4, 4, 2)),
        layers.Conv3D(4, 2, groups=2, activation="relu"),
        layers.SpatialDropout3D(0.1),
        layers.GroupNormalization(2, epsilon=0.1),
        layers.GlobalAveragePooling3D(),
        layers.Dense(1),
    ])

    def label(x):
        return (x[:, :2, ..., 0].mean(axis=(1, 2, 3)) - x[:, 2:, ..., 1].mean(axis=(1, 2, 3)))[:, None]

    return Recipe(model, _synthetic((4, 4, 4, 2), label, seed=18), "mse", "regression")



# ---- preprocessing inside the model: the bundle takes raw pixels ----------------------------------------
def preprocessing():
    """Raw digit pixels (0..16) → Rescaling → Normalization (adapted) → Resizing bilinear 12x12 → CenterCrop 10x10
    → Resizing nearest 8x8 → Conv2D → Flatten → Dense softmax: the bundle carries all of its preprocessing."""
    x_train, y_train, x_test = _digit_split(lambda x: x.reshape(-1, 8, 8, 1) * 16.0)
    normalize = layers.Normalization(axis=None)
    normalize.adapt(x_train / 16.0)
    model = pyml.Sequential([
        pyml.Input(shape=(8, 8, 1)),
        layers.Rescaling(1 / 16),
        normalize,
        layers.Resizing(12, 12),
        layers.CenterCrop(10, 10),
        layers.Resizing(8, 8, interpolation="nearest"),
        layers.Conv2D(8, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    return Recipe(model, (x_train, y_train, x_test), "sparse_categorical_crossentropy", "softmax")


AUGMENTATION_LAYERS = ("random_flip", "random_rotation", "random_zoom", "random_translation", "random_contrast",
                       "random_brightness")


def augmentation():
    """Every augmentation layer (active in fit) before a small CNN: at inference and in the bundle, the identity."""
    model = pyml.Sequential([
        pyml.Input(shape=(8, 8, 1)),
        layers.RandomFlip("horizontal", seed=1),
        layers.RandomRotation(0.05, seed=2),
        layers.RandomZoom(0.1, seed=3),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=4),
        layers.RandomContrast(0.1, value_range=(0, 1), seed=5),
        layers.RandomBrightness(0.05, value_range=(0, 1), seed=6),
        layers.Conv2D(8, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    return Recipe(model, _digit_split(lambda x: x.reshape(-1, 8, 8, 1)), "sparse_categorical_crossentropy", "softmax")


def bilinear_upsampling():
    """UpSampling2D bilinear (4x4 → 8x8, trained through its VJP) → Conv2D same → CenterCrop 10x6 (larger than the
    8x8 image: cropped to 8x4 and resized, as Keras) → Resizing 6x8 padded to the aspect ratio (10x12) first."""
    model = pyml.Sequential([
        pyml.Input(shape=(4, 4, 2)),
        layers.Conv2D(4, 1, activation="tanh"),
        layers.UpSampling2D(interpolation="bilinear"),
        layers.Conv2D(1, 3, padding="same"),
        layers.CenterCrop(10, 6),
        layers.Resizing(6, 8, pad_to_aspect_ratio=True, fill_value=0.5),
    ])

    def label(x):  # each image's mean channel sum, everywhere on the 6x8 grid
        return np.broadcast_to(x.sum(axis=-1).mean(axis=(1, 2))[:, None, None, None], (len(x), 6, 8, 1)).copy()

    return Recipe(model, _synthetic((4, 4, 2), label, seed=9), "mse", "regression")

MODELS = {f.__name__: f for f in (cnn, depthwise, normalization, causal_conv1d, embedding, branches, upsampling,
                                   conv3d, dropout, masked_pooling, attention, luong_attention, transformer, simple_rnn,
                                   stacked_lstm, time_distributed, custom_cell, gru, lstm_states, masked_rnns, bidirectional,
                                   masked_bidirectional, embedding_bidirectional, separable_grouped, sequence_extras,
                                   dense_extras, dot_products, grouped_conv3d, regularized,
                                   preprocessing, augmentation, bilinear_upsampling)}


@functools.lru_cache(maxsize=None)
def trained(name):
    """Build, compile and fit ``MODELS[name]`` (seeded, Adam, the recipe's epochs); cached per process."""
    pyml.set_random_seed(SEED)
    recipe = MODELS[name]()
    x_train, y_train, x_test = recipe.data
    recipe.model.compile(optimizer=pyml.optimizers.Adam(learning_rate=LEARNING_RATE), loss=recipe.loss)
    history = recipe.model.fit(x_train, y_train, epochs=recipe.epochs, batch_size=32, verbose=0)
    x_test = x_test if isinstance(x_test, list) else [x_test]
    return TrainedModel(name, recipe.model, x_test, recipe.kind, list(history.history["loss"]))


def predict(case, batch=NUM_TEST):
    """``model.predict`` on the first ``batch`` held-out examples, as a float32 array."""
    inputs = [x[:batch] for x in case.x]
    return np.asarray(case.model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0))


def decisions(case, probabilities):
    """The class decisions a classifier's outputs imply (argmax, or ``p > 0.5``); None for a regressor."""
    if case.kind == "softmax":
        return probabilities.argmax(axis=-1)
    if case.kind == "sigmoid":
        return probabilities > 0.5
    return None
