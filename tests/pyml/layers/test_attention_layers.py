"""MultiHeadAttention, Attention and AdditiveAttention against numpy versions of Keras 3's formulas
(float64), gradients by central differences, configs, save/load, and a small transformer trained end to end."""
import numpy as np
import pytest

import pyml
from pyml import layers
from tests.webexport.keras_models import PositionEmbedding, small_transformer, token_task

RNG = np.random.default_rng(0)


def normal(*shape):
    return RNG.standard_normal(shape)


def softmax(z, mask=None):
    """Keras's masked softmax: masked logits -1e9 before, masked probabilities 0 after."""
    if mask is not None:
        z = np.where(mask, z, -1e9)
    e = np.exp(z - z.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return p if mask is None else np.where(mask, p, 0.0)


def mha_reference(layer, query, value, key=None, mask=None):
    """Keras's MultiHeadAttention from its EinsumDense weights: ``mask`` is (batch, T, S) or None."""
    key = value if key is None else key
    weights = [w.numpy().astype(np.float64) for w in layer.weights]
    if layer.use_bias:
        wq, bq, wk, bk, wv, bv, wo, bo = weights
    else:
        (wq, wk, wv, wo), bq = weights, 0.0
        bk = bv = bo = 0.0
    q = (np.einsum("btd,dhk->bthk", query, wq) + bq) / np.sqrt(layer.key_dim)
    k = np.einsum("bsd,dhk->bshk", key, wk) + bk
    v = np.einsum("bsd,dhk->bshk", value, wv) + bv
    scores = np.einsum("bthk,bshk->bhts", q, k)
    probabilities = softmax(scores, None if mask is None else mask[:, None])
    heads = np.einsum("bhts,bshv->bthv", probabilities, v)
    return np.einsum("bthv,hv...->bt...", heads, wo) + bo, probabilities


def float64(layer_cls, **kwargs):
    return layer_cls(dtype="float64", **kwargs)


# ---- MultiHeadAttention ------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [dict(num_heads=2, key_dim=3), dict(num_heads=3, key_dim=2, value_dim=4),
                                    dict(num_heads=1, key_dim=5, use_bias=False),
                                    dict(num_heads=2, key_dim=3, output_shape=(2, 3))])
def test_mha_is_softmax_of_scaled_query_key_products_over_value_heads(config):
    query, value, key = normal(2, 4, 6), normal(2, 5, 7), normal(2, 5, 3)
    layer = float64(layers.MultiHeadAttention, **config)
    out, scores = layer(query, value, key=key, return_attention_scores=True)
    expected, expected_scores = mha_reference(layer, query, value, key)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-10, atol=1e-12)
    assert out.shape == (2, 4) + tuple(config.get("output_shape", (6,)))


def test_mha_weights_have_keras_einsum_dense_shapes_names_and_order():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5, name="mha")
    layer(np.ones((1, 4, 6), "float32"), np.ones((1, 7, 8), "float32"), key=np.ones((1, 7, 9), "float32"))
    assert [(w.name, w.shape) for w in layer.weights] == [
        ("mha/query/kernel", (6, 2, 3)), ("mha/query/bias", (2, 3)),
        ("mha/key/kernel", (9, 2, 3)), ("mha/key/bias", (2, 3)),
        ("mha/value/kernel", (8, 2, 4)), ("mha/value/bias", (2, 4)),
        ("mha/attention_output/kernel", (2, 4, 5)), ("mha/attention_output/bias", (5,))]


def test_mha_masks_combine_attention_causal_query_and_value_masks_by_and():
    query, value = normal(3, 5, 4), normal(3, 5, 4)
    attention_mask = RNG.random((3, 5, 5)) > 0.3
    query_mask, value_mask = RNG.random((3, 5)) > 0.2, RNG.random((3, 5)) > 0.2
    layer = float64(layers.MultiHeadAttention, num_heads=2, key_dim=3)
    out, scores = layer(query, value, attention_mask=attention_mask, query_mask=query_mask, value_mask=value_mask,
                        use_causal_mask=True, return_attention_scores=True)
    mask = attention_mask & query_mask[:, :, None] & value_mask[:, None, :] & np.tril(np.ones((5, 5), bool))
    expected, expected_scores = mha_reference(layer, query, value, mask=mask)
    np.testing.assert_allclose(scores.numpy(), expected_scores, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    fully_masked = ~mask.any(-1)  # such query positions attend to nothing: their output is the output bias
    assert fully_masked.any()
    np.testing.assert_allclose(out.numpy()[fully_masked], np.broadcast_to(layer.weights[-1].numpy(), (
        fully_masked.sum(), 4)))


def test_mha_uses_masks_attached_by_embedding_mask_zero_and_passes_the_query_mask_on():
    ids = np.array([[4, 2, 7, 0, 0], [1, 0, 0, 0, 0]])
    embedding = layers.Embedding(10, 6, mask_zero=True, dtype="float64")
    layer = float64(layers.MultiHeadAttention, num_heads=2, key_dim=3)
    x = embedding(ids)
    out = layer(x, x)
    keep = ids != 0
    expected, _ = mha_reference(layer, x.numpy(), x.numpy(), mask=keep[:, :, None] & keep[:, None, :])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out._keras_mask.numpy(), keep)


def test_mha_attends_over_every_axis_between_batch_and_features_by_default():
    query, value = normal(2, 2, 3, 4), normal(2, 3, 2, 4)
    layer = float64(layers.MultiHeadAttention, num_heads=2, key_dim=2)
    out = layer(query, value)
    flat, _ = mha_reference(layer, query.reshape(2, 6, 4), value.reshape(2, 6, 4))
    np.testing.assert_allclose(out.numpy(), flat.reshape(2, 2, 3, 4), rtol=1e-10)
    layers.MultiHeadAttention(2, 2, attention_axes=(1, 2))(query, value)  # the default, spelled out
    with pytest.raises(NotImplementedError, match=r"'partial'.*attention_axes=\(2,\)"):
        layers.MultiHeadAttention(2, 2, attention_axes=2, name="partial")(query, value)


def test_mha_dropout_drops_probabilities_only_while_training():
    x = normal(2, 4, 6).astype("float32")
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=1)
    inference = layer(x, x).numpy()
    np.testing.assert_allclose(layer(x, x, training=False).numpy(), inference)
    _, scores = layer(x, x, return_attention_scores=True)
    assert not np.allclose(layer(x, x, training=True).numpy(), inference)
    np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-6)  # the scores returned are before dropout


@pytest.mark.parametrize("bad, message", [
    (dict(num_heads=0, key_dim=2), "num_heads"), (dict(num_heads=2, key_dim=-1), "key_dim"),
    (dict(num_heads=2, key_dim=2, dropout=1.5), "dropout"), (dict(num_heads=2, key_dim=2, output_shape=(0,)),
                                                            "output_shape")])
def test_mha_refuses_bad_arguments(bad, message):
    with pytest.raises(ValueError, match=message):
        layers.MultiHeadAttention(**bad)


def test_mha_refuses_an_attention_mask_that_does_not_broadcast():
    x = normal(2, 4, 6)
    with pytest.raises(ValueError, match=r"'m': attention_mask must broadcast to \(batch, T, S\) = \(2, 4, 4\)"):
        layers.MultiHeadAttention(1, 2, name="m")(x, x, attention_mask=np.ones((2, 4, 5), bool))
    with pytest.raises(ValueError, match="value` and `key`"):
        layers.MultiHeadAttention(1, 2)(x, x, key=normal(2, 5, 6))


# ---- Attention and AdditiveAttention -----------------------------------------------------------------------
def attention_reference(scores, value, query_mask=None, value_mask=None, causal=False):
    """Keras's Attention._apply_scores: 1e9 subtracted from masked scores, query-masked rows zeroed."""
    keep = np.ones(scores.shape, bool)
    if value_mask is not None:
        keep &= value_mask[:, None, :]
    if causal:
        keep &= np.tril(np.ones(scores.shape[-2:], bool))
    weights = softmax(np.where(keep, scores, scores - 1e9))
    out = weights @ value
    if query_mask is not None:
        out = np.where(query_mask[..., None], out, 0.0)
    return out, weights


@pytest.mark.parametrize("config", [dict(), dict(use_scale=True), dict(score_mode="concat"),
                                    dict(score_mode="concat", use_scale=True)])
@pytest.mark.parametrize("masks", ["none", "query and value", "causal"])
def test_attention_scores_then_masked_softmax_then_values(config, masks):
    query, value, key = normal(2, 4, 3), normal(2, 4, 3), normal(2, 4, 3)
    layer = float64(layers.Attention, **config)
    layer([query, value, key])
    if layer.weights:
        layer.set_weights([np.array(1.7), np.array(0.6)][:len(layer.weights)])
    query_mask, value_mask = RNG.random((2, 4)) > 0.3, RNG.random((2, 4)) > 0.3
    kwargs = {"none": {}, "query and value": {"mask": [query_mask, value_mask]}, "causal": {"use_causal_mask": True}}
    out, weights = layer([query, value, key], return_attention_scores=True, **kwargs[masks])
    scale = layer.scale.numpy() if layer.scale is not None else 1.0
    if layer.score_mode == "dot":
        scores = scale * query @ key.transpose(0, 2, 1)
    else:
        scores = layer.concat_score_weight.numpy() * np.tanh(scale * (query[:, :, None] + key[:, None])).sum(-1)
    expected = attention_reference(scores, value, causal=masks == "causal",
                                   **({"query_mask": query_mask, "value_mask": value_mask} if kwargs[masks].get("mask")
                                      else {}))
    np.testing.assert_allclose(out.numpy(), expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), expected[1], rtol=1e-10, atol=1e-12)


def test_additive_attention_sums_scale_times_tanh_of_query_plus_key():
    query, value = normal(2, 3, 4), normal(2, 5, 4)
    layer = float64(layers.AdditiveAttention)
    value_mask = RNG.random((2, 5)) > 0.3
    out = layer([query, value], mask=[None, value_mask])
    scores = (layer.scale.numpy() * np.tanh(query[:, :, None] + value[:, None])).sum(-1)
    np.testing.assert_allclose(out.numpy(), attention_reference(scores, value, value_mask=value_mask)[0], rtol=1e-10)
    assert layer.scale.shape == (4,) and "score_mode" not in layer.get_config()


def test_attention_takes_masks_from_its_inputs_and_passes_the_query_mask():
    ids = np.array([[3, 1, 0], [2, 0, 0]])
    x = layers.Embedding(5, 4, mask_zero=True)(ids)
    out = layers.Attention()([x, x])
    np.testing.assert_array_equal(out._keras_mask.numpy(), ids != 0)
    np.testing.assert_array_equal(out.numpy()[ids == 0], 0.0)
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Attention()(x)
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="cosine")


# ---- gradients, configs, saving ----------------------------------------------------------------------------
def central_difference_check(layer, call):
    """The tape's d(sum(out * r))/d(weights) along a random direction vs central differences (float64)."""
    probe = RNG.standard_normal(call(layer).shape)
    loss = lambda: pyml.ops.sum(pyml.ops.multiply(call(layer), probe))  # noqa: E731
    weights = layer.trainable_weights
    with pyml.GradientTape() as tape:
        value = loss()
    grads = tape.gradient(value, weights)
    directions = [RNG.standard_normal(w.shape) for w in weights]
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, directions))
    originals = [w.numpy().copy() for w in weights]
    values = []
    for sign in (1, -1):
        for w, o, d in zip(weights, originals, directions):
            w.assign(o + sign * 1e-6 * d)
        values.append(float(loss()))
    for w, o in zip(weights, originals):
        w.assign(o)
    assert np.isclose(analytic, (values[0] - values[1]) / 2e-6, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name, make, call", [
    ("mha masked causal", lambda: float64(layers.MultiHeadAttention, num_heads=2, key_dim=3),
     lambda x: lambda layer: layer(x[0], x[1], attention_mask=x[2], use_causal_mask=True)),
    ("attention concat", lambda: float64(layers.Attention, score_mode="concat", use_scale=True),
     lambda x: lambda layer: layer([x[0], x[1]], mask=[None, x[2][:, 0]])),
    ("additive attention", lambda: float64(layers.AdditiveAttention),
     lambda x: lambda layer: layer([x[0], x[1]], use_causal_mask=True)),
])
def test_attention_gradients_match_central_differences(name, make, call):
    mask = RNG.random((2, 4, 4)) > 0.3
    mask[:, :, 0] = True
    central_difference_check(make(), call((normal(2, 4, 6), normal(2, 4, 6), mask)))


@pytest.mark.parametrize("layer", [
    layers.MultiHeadAttention(3, 4, value_dim=2, dropout=0.1, use_bias=False, output_shape=(2, 5), seed=3,
                              kernel_initializer="he_normal"),
    layers.Attention(use_scale=True, score_mode="concat", dropout=0.2, seed=1),
    layers.AdditiveAttention(use_scale=False)], ids=lambda layer: type(layer).__name__)
def test_attention_configs_round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    assert layers.deserialize(layers.serialize(layer)).get_config() == config


def test_small_transformer_trains_saves_and_loads(tmp_path):
    pyml.set_random_seed(0)
    model = small_transformer(length=8)
    ids, labels = token_task(512, length=8)
    model.compile(optimizer=pyml.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(ids, labels, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0], history.history["loss"]
    test_ids, test_labels = token_task(256, length=8, seed=1)
    accuracy = float((model.predict(test_ids, verbose=0).argmax(1) == test_labels).mean())
    assert accuracy >= 0.85, f"held-out accuracy {accuracy}"
    model.save(tmp_path / "transformer.pyml")
    loaded = pyml.load_model(tmp_path / "transformer.pyml", custom_objects={"PositionEmbedding": PositionEmbedding})
    np.testing.assert_allclose(loaded.predict(test_ids, verbose=0), model.predict(test_ids, verbose=0), rtol=1e-6)
