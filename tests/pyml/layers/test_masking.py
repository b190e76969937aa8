"""Keras 3 masking: which layers make, pass, use and drop masks, the rules for mask arguments, and masks
through Sequential, functional models, KerasTensors and the compiled training step. References are numpy
versions of the rules documented in Keras 3 (``keras/src/layers/...``)."""
import numpy as np
import pytest

import pyml
from pyml import layers
from pyml.layers.call_args import get_mask, set_mask

RNG = np.random.default_rng(0)
STEPS_MASK = np.array([[True, True, False, True, False], [True, False, False, False, False]])


def masked_sequence(features=4):
    """A (2, 5, features) float32 tensor carrying ``STEPS_MASK``."""
    x = pyml.Tensor(RNG.standard_normal((2, 5, features)).astype("float32"))
    set_mask(x, pyml.Tensor(STEPS_MASK))
    return x


# The propagation table: every layer that sees a (batch, steps) mask either passes it on unchanged, uses it
# and drops it (its output has no steps axis), or does not support masks and drops it with a warning.
PASSES = {
    "Dense": lambda: layers.Dense(3),
    "Activation": lambda: layers.Activation("tanh"),
    "Dropout": lambda: layers.Dropout(0.5),
    "LayerNormalization": lambda: layers.LayerNormalization(),
    "BatchNormalization": lambda: layers.BatchNormalization(),
    "ReLU": lambda: layers.ReLU(),
    "LeakyReLU": lambda: layers.LeakyReLU(),
    "ELU": lambda: layers.ELU(),
    # recurrent layers returning sequences use the mask (masked steps carry the state) and pass it on
    "SimpleRNN": lambda: layers.SimpleRNN(3, return_sequences=True),
    "LSTM": lambda: layers.LSTM(3, return_sequences=True),
    "GRU": lambda: layers.GRU(3, return_sequences=True),
    "RNN": lambda: layers.RNN(layers.LSTMCell(3), return_sequences=True),
    "Bidirectional": lambda: layers.Bidirectional(layers.GRU(3, return_sequences=True)),
    "TimeDistributed": lambda: layers.TimeDistributed(layers.Dense(3)),
    "Identity": lambda: layers.Identity(),
    "PReLU": lambda: layers.PReLU(),
    "SpatialDropout1D": lambda: layers.SpatialDropout1D(0.5),
    "GaussianNoise": lambda: layers.GaussianNoise(0.5),
    "GaussianDropout": lambda: layers.GaussianDropout(0.5),
    "AlphaDropout": lambda: layers.AlphaDropout(0.5),
    "UnitNormalization": lambda: layers.UnitNormalization(),
    "GroupNormalization": lambda: layers.GroupNormalization(2),  # as Keras 3: statistics ignore the mask
    "ActivityRegularization": lambda: layers.ActivityRegularization(l1=0.01),
    "Rescaling": lambda: layers.Rescaling(2.0, offset=1.0),
    "Normalization": lambda: layers.Normalization(mean=0.5, variance=2.0),
}
USES = {
    "GlobalAveragePooling1D": lambda: layers.GlobalAveragePooling1D(),
    "LSTM (last output)": lambda: layers.LSTM(3),
    "Bidirectional (last outputs)": lambda: layers.Bidirectional(layers.SimpleRNN(3)),
}
DROPS = {
    "Flatten": lambda: layers.Flatten(),
    "Reshape": lambda: layers.Reshape((20,)),
    "GlobalMaxPooling1D": lambda: layers.GlobalMaxPooling1D(),  # Keras 3's takes no mask: masked steps count
    "MaxPooling1D": lambda: layers.MaxPooling1D(),
    "AveragePooling1D": lambda: layers.AveragePooling1D(),
    "Conv1D": lambda: layers.Conv1D(2, 1),
    "Conv1DTranspose": lambda: layers.Conv1DTranspose(2, 1),
    "ZeroPadding1D": lambda: layers.ZeroPadding1D(),
    "Cropping1D": lambda: layers.Cropping1D(),
    "UpSampling1D": lambda: layers.UpSampling1D(),
    "SeparableConv1D": lambda: layers.SeparableConv1D(2, 1),
    "Permute": lambda: layers.Permute((2, 1)),
    "RMSNormalization": lambda: layers.RMSNormalization(),  # Keras 3's does not support masks
}


@pytest.mark.parametrize("name", PASSES)
@pytest.mark.parametrize("training", [False, True])
def test_layers_that_support_masking_pass_the_mask_on_unchanged(name, training):
    layer = PASSES[name]()
    assert layer.supports_masking
    out = layer(masked_sequence(), training=training)
    np.testing.assert_array_equal(get_mask(out).numpy(), STEPS_MASK)


@pytest.mark.parametrize("name", USES)
def test_layers_that_use_the_mask_leave_none_on_their_output(name):
    layer = USES[name]()
    assert layer.supports_masking
    assert get_mask(layer(masked_sequence())) is None


@pytest.mark.parametrize("name", DROPS)
def test_layers_without_mask_support_drop_it_with_a_warning(name):
    layer = DROPS[name]()
    assert not layer.supports_masking
    with pytest.warns(UserWarning, match=f"Layer '{layer.name}'.*does not support masking"):
        out = layer(masked_sequence())
    assert get_mask(out) is None


def test_every_builtin_layer_is_in_the_propagation_table_or_tested_elsewhere():
    covered = set(PASSES) | set(USES) | set(DROPS)
    elsewhere = {"Embedding", "Masking", "Softmax", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                 "Concatenate", "Dot", "MultiHeadAttention", "Attention", "AdditiveAttention", "InputLayer"}
    # RepeatVector takes (batch, features): no steps axis for a mask to describe.
    elsewhere.add("RepeatVector")
    # Host layers take the model's raw input (strings, ids), which never carries a mask (pyml.layers.host).
    elsewhere |= {"HostLayer", "IndexLookup", "TextVectorization", "StringLookup", "IntegerLookup"}
    # Image layers take (batch, height, width, channels) images, not masked sequences (test_preprocessing_layers.py).
    elsewhere |= {"CenterCrop", "Resizing", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                  "RandomContrast", "RandomBrightness"}
    sequence_layers = {name for name in pyml.layers.base.builtin_classes()  # cells run inside RNN layers
                       if not any(tag in name for tag in ("2D", "3D", "Model", "Sequential", "Functional", "Merge",
                                                          "Cell"))
                       and not name.startswith(("Base", "_"))}
    assert sequence_layers - covered - elsewhere == set()


# ---- layers that make masks --------------------------------------------------------------------------------
def test_embedding_mask_zero_masks_id_zero():
    ids = np.array([[3, 0, 1], [0, 0, 2]])
    layer = layers.Embedding(5, 2, mask_zero=True)
    np.testing.assert_array_equal(get_mask(layer(ids)).numpy(), ids != 0)
    assert get_mask(layers.Embedding(5, 2)(ids)) is None
    config = layer.get_config()
    assert config["mask_zero"] is True and layers.Embedding.from_config(config).mask_zero


def test_masking_masks_steps_whose_features_all_equal_mask_value_and_zeroes_them():
    x = RNG.standard_normal((2, 4, 3)).astype("float32")
    x[0, 1] = -1.0
    x[1, 3] = -1.0
    x[1, 0, 0] = -1.0  # one feature equal to mask_value does not mask the step
    out = layers.Masking(mask_value=-1.0)(x)
    keep = np.any(x != -1.0, axis=-1)
    np.testing.assert_array_equal(get_mask(out).numpy(), keep)
    np.testing.assert_array_equal(out.numpy(), np.where(keep[..., None], x, 0.0))
    assert layers.Masking.from_config(layers.Masking(2.5).get_config()).mask_value == 2.5
    with pytest.raises(ValueError, match="mask_value"):
        layers.Masking(mask_value="pad")


# ---- layers that use masks ---------------------------------------------------------------------------------
def test_global_average_pooling_1d_averages_only_unmasked_steps():
    x = masked_sequence()
    expected = (x.numpy() * STEPS_MASK[..., None]).sum(1) / STEPS_MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(layers.GlobalAveragePooling1D()(x).numpy(), expected, rtol=1e-6)
    kept = layers.GlobalAveragePooling1D(keepdims=True)(x, mask=STEPS_MASK)
    np.testing.assert_allclose(kept.numpy(), expected[:, None], rtol=1e-6)


def test_global_max_pooling_1d_ignores_masks_as_keras_3_does():
    x = masked_sequence()
    with pytest.warns(UserWarning):
        out = layers.GlobalMaxPooling1D()(x)
    np.testing.assert_allclose(out.numpy(), x.numpy().max(axis=1))


def test_softmax_mask_puts_minus_1e9_before_and_zero_after():
    x = RNG.standard_normal((2, 3, 4)).astype("float32")
    mask = RNG.random((3, 4)) > 0.4
    mask[0] = False  # a row with nothing kept is all zeros
    logits = np.where(mask, x, -1e9)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected = np.where(mask, expected / expected.sum(-1, keepdims=True), 0.0)
    np.testing.assert_allclose(layers.Softmax()(x, mask=mask).numpy(), expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match=r"softmax.*broadcastable.*inputs.shape=\(2, 3, 4\), mask.shape=\(3, 5\)"):
        layers.Softmax(name="softmax")(x, mask=np.ones((3, 5), bool))


def test_batch_normalization_batch_statistics_count_only_unmasked_steps():
    x = masked_sequence(3).numpy()
    layer = layers.BatchNormalization(momentum=0.0, epsilon=1e-3)  # moving statistics = the batch's
    layer(x, mask=STEPS_MASK, training=True)
    kept = x[STEPS_MASK]
    count = STEPS_MASK.sum() + 1e-7  # Keras divides by the count plus backend.epsilon()
    mean = kept.sum(0) / count
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), ((kept - mean) ** 2).sum(0) / count, rtol=1e-5)


# ---- merges (Keras 3's base_merge, multiply, maximum, concatenate) -----------------------------------------
def two_masked():
    a, b = masked_sequence(), masked_sequence()
    b_mask = np.array([[False, True, False, True, True], [True, True, False, False, False]])
    set_mask(b, pyml.Tensor(b_mask))
    return a, b, STEPS_MASK, b_mask


@pytest.mark.parametrize("cls", [layers.Add, layers.Subtract, layers.Average])
def test_arithmetic_merges_or_the_masks(cls):
    a, b, ma, mb = two_masked()
    np.testing.assert_array_equal(get_mask(cls()([a, b])).numpy(), ma | mb)
    set_mask(b, None)
    assert get_mask(cls()([a, b])) is None  # a mask only when every input has one


@pytest.mark.parametrize("cls, op", [(layers.Maximum, np.maximum), (layers.Minimum, np.minimum)])
def test_maximum_and_minimum_take_a_masked_entry_from_the_other_input(cls, op):
    a, b, ma, mb = two_masked()
    x, y, ka, kb = a.numpy(), b.numpy(), ma[..., None], mb[..., None]
    y_used = np.where(kb, y, x)
    x_used = np.where(ka, x, y_used)
    out = cls()([a, b])
    np.testing.assert_allclose(out.numpy(), op(x_used, y_used))
    np.testing.assert_array_equal(get_mask(out).numpy(), ma | mb)


def test_multiply_counts_masked_entries_as_one_and_zeroes_entries_masked_everywhere():
    a, b, ma, mb = two_masked()
    ka, kb = ma[..., None], mb[..., None]
    expected = np.where(ka | kb, np.where(ka, a.numpy(), 1.0) * np.where(kb, b.numpy(), 1.0), 0.0)
    out = layers.Multiply()([a, b])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(get_mask(out).numpy(), ma | mb)


def test_concatenate_joins_masks_along_its_axis():
    a, b, ma, mb = two_masked()
    np.testing.assert_array_equal(get_mask(layers.Concatenate(axis=1)([a, b])).numpy(), np.concatenate([ma, mb], 1))
    np.testing.assert_array_equal(get_mask(layers.Concatenate()([a, b])).numpy(), ma | mb)
    set_mask(b, None)  # an input without a mask counts as unmasked
    np.testing.assert_array_equal(get_mask(layers.Concatenate(axis=1)([a, b])).numpy(),
                                  np.concatenate([ma, np.ones_like(mb)], 1))


# ---- the call-argument rules -------------------------------------------------------------------------------
class SeesMask(layers.Layer):
    def call(self, inputs, mask=None):
        self.seen = mask
        return inputs


class SeesNamedMasks(layers.Layer):
    def call(self, query, value, query_mask=None, value_mask=None, mask=None):
        self.seen = (query_mask, value_mask, mask)
        return query


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_a_single_tensor_argument_fills_mask_and_several_fill_name_mask():
    x, y = masked_sequence(), pyml.Tensor(np.ones((2, 5, 4), "float32"))
    layer = SeesMask()
    layer(x)
    np.testing.assert_array_equal(layer.seen.numpy(), STEPS_MASK)
    layer([x, y])
    assert isinstance(layer.seen, list) and layer.seen[1] is None
    np.testing.assert_array_equal(layer.seen[0].numpy(), STEPS_MASK)
    named = SeesNamedMasks()
    named(y, x)
    assert named.seen[0] is None and named.seen[2] is None
    np.testing.assert_array_equal(named.seen[1].numpy(), STEPS_MASK)
    explicit = pyml.Tensor(np.ones((2, 5), bool))
    named(x, x, query_mask=explicit)
    assert named.seen[0] is explicit  # a mask given by the caller wins


def test_supports_masking_defaults_to_whether_compute_mask_is_overridden():
    class Makes(layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

        def compute_mask(self, inputs, mask=None):
            return pyml.ops.greater(pyml.ops.sum(inputs, axis=-1), 0.0)

    assert Makes().supports_masking and not SeesMask().supports_masking
    x = pyml.Tensor(np.array([[[1.0], [-1.0]]], "float32"))
    np.testing.assert_array_equal(get_mask(Makes()(x)).numpy(), [[True, False]])


def test_a_mask_whose_shape_does_not_match_is_refused_naming_layer_and_shapes():
    x = RNG.standard_normal((2, 5, 4)).astype("float32")
    with pytest.raises(ValueError, match=r"Layer 'pool' got a mask of shape \(2, 4\) for inputs of shape \(2, 5, 4\)"):
        layers.GlobalAveragePooling1D(name="pool")(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"Layer 'mha' got a query_mask of shape \(2, 3\) for inputs of shape"):
        layers.MultiHeadAttention(1, 2, name="mha")(x, x, query_mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"'att' got a value mask of shape \(5,\)"):
        layers.Attention(name="att")([x, x], mask=[None, np.ones(5, bool)])
    with pytest.raises(ValueError, match=r"'bn': the mask should have one axis less"):
        layers.BatchNormalization(name="bn")(x, mask=np.ones((2, 5, 4), bool), training=True)


# ---- models ------------------------------------------------------------------------------------------------
def padded_ids():
    ids = RNG.integers(1, 20, (6, 7)).astype("int32")
    for row, length in enumerate([7, 5, 3, 1, 6, 2]):
        ids[row, length:] = 0
    return ids


def test_masks_flow_through_sequential_and_the_padding_does_not_matter():
    model = pyml.Sequential([pyml.Input((7,), dtype="int32"), layers.Embedding(20, 4, mask_zero=True),
                             layers.Dense(3, activation="tanh"), layers.GlobalAveragePooling1D()])
    ids = padded_ids()
    table, dense = model.layers[0].embeddings.numpy(), model.layers[1]
    hidden = np.tanh(table[ids] @ dense.kernel.numpy() + dense.bias.numpy())
    keep = (ids != 0)[..., None]
    np.testing.assert_allclose(model.predict(ids, verbose=0), (hidden * keep).sum(1) / keep.sum(1), rtol=1e-5)


def test_functional_keras_tensors_carry_masks_and_the_model_replays_them():
    ids = pyml.Input((7,), dtype="int32")
    embedded = layers.Embedding(20, 8, mask_zero=True)(ids)
    assert get_mask(embedded).shape == (None, 7) and get_mask(embedded).dtype == "bool"
    attended = layers.MultiHeadAttention(2, 4)(embedded, embedded)
    assert get_mask(attended).shape == (None, 7)  # the query's mask
    pooled = layers.GlobalAveragePooling1D()(layers.Add()([embedded, attended]))
    assert get_mask(pooled) is None
    model = pyml.Model(ids, pooled)
    x = padded_ids()
    out = model.predict(x, verbose=0)
    # padded steps read row 0 of the table: when the masks work, what that row holds cannot matter
    table = model.layers[1].embeddings
    table.assign(np.concatenate([np.full((1, 8), 50.0, "float32"), table.numpy()[1:]]))
    np.testing.assert_allclose(model.predict(x, verbose=0), out, rtol=1e-5, atol=1e-6)


def test_functional_config_round_trips_calls_with_several_tensor_arguments(tmp_path):
    query, value = pyml.Input((4, 6)), pyml.Input((5, 6))
    mask = pyml.Input((4, 5), dtype="bool")
    out = layers.MultiHeadAttention(2, 3, name="mha")(query, value, attention_mask=mask, use_causal_mask=False)
    model = pyml.Model([query, value, mask], out)
    feeds = [RNG.standard_normal((2, 4, 6)).astype("float32"), RNG.standard_normal((2, 5, 6)).astype("float32"),
             RNG.random((2, 4, 5)) > 0.3]
    feeds[2][:, :, 0] = True
    expected = model.predict(feeds, verbose=0)
    model.save(tmp_path / "m.pyml")
    loaded = pyml.load_model(tmp_path / "m.pyml")
    np.testing.assert_allclose(loaded.predict(feeds, verbose=0), expected, rtol=1e-6)
    entry = loaded.get_config()["nodes"][-1]
    assert entry["kwargs"]["attention_mask"] == {"keras_tensor": [2, 0]}


def test_compiled_training_step_traces_the_masks_like_the_eager_step():
    def make():
        pyml.set_random_seed(3)
        model = pyml.Sequential([pyml.Input((7,), dtype="int32"), layers.Embedding(20, 4, mask_zero=True),
                                 layers.GlobalAveragePooling1D(), layers.Dense(2, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    ids, labels = padded_ids(), np.array([0, 1, 0, 1, 1, 0], "int32")
    compiled, eager = make(), make()
    eager.compile(optimizer="adam", loss="sparse_categorical_crossentropy", run_eagerly=True)
    for model in (compiled, eager):
        model.fit(ids, labels, epochs=3, batch_size=6, verbose=0)
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert "not_equal" in str(compiled.trace())  # the mask is part of the exported graph


def test_the_loss_skips_masked_steps_of_the_output_as_keras_3_does():
    ids, y = padded_ids(), RNG.integers(0, 3, (6, 7)).astype("int32")
    weights = RNG.random((6, 7)).astype("float32")

    def make(**compile_args):
        pyml.set_random_seed(4)
        model = pyml.Sequential([pyml.Input((7,), dtype="int32"), layers.Embedding(20, 4, mask_zero=True),
                                 layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", **compile_args)
        return model

    model = make()
    probabilities = model.predict(ids, verbose=0)
    losses = -np.log(np.take_along_axis(probabilities, y[..., None], -1)[..., 0])
    keep = ids != 0
    # Keras: masked steps weigh 0, the others size/count, so the mean runs over the unmasked steps
    np.testing.assert_allclose(model.evaluate(ids, y, verbose=0), losses[keep].mean(), rtol=1e-5)
    loss = pyml.losses.SparseCategoricalCrossentropy()
    np.testing.assert_allclose(float(loss(y, model(ids), sample_weight=weights)),
                               (losses * weights)[keep].sum() / keep.size * keep.size / keep.sum(), rtol=1e-5)
    summed = pyml.losses.SparseCategoricalCrossentropy(reduction="sum")
    np.testing.assert_allclose(float(summed(y, model(ids))), losses[keep].sum(), rtol=1e-5)
    compiled, eager = make(), make(run_eagerly=True)
    for m in (compiled, eager):
        m.fit(ids, y, epochs=2, batch_size=6, verbose=0)
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, make", [
    ("Embedding(mask_zero) -> Dense -> GlobalAveragePooling1D",
     lambda: pyml.Sequential([pyml.Input((7,), dtype="int32"), layers.Embedding(20, 4, mask_zero=True, dtype="float64"),
                              layers.Dense(3, activation="tanh", dtype="float64"),
                              layers.GlobalAveragePooling1D(dtype="float64")])),
    ("Masking -> Dense -> LayerNormalization -> GlobalAveragePooling1D",
     lambda: pyml.Sequential([pyml.Input((7, 3), dtype="float64"), layers.Masking(dtype="float64"),
                              layers.Dense(4, dtype="float64"), layers.LayerNormalization(dtype="float64"),
                              layers.GlobalAveragePooling1D(dtype="float64")])),
])
def test_gradients_through_masked_layers_match_central_differences(name, make):
    from tests.pyml.layers.test_attention_layers import central_difference_check

    model = make()
    ids = padded_ids()
    x = ids if "Embedding" in name else np.where((ids != 0)[..., None], RNG.standard_normal((6, 7, 3)), 0.0)
    central_difference_check(model, lambda m: m(x))
