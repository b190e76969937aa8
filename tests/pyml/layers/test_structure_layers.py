"""Permute, RepeatVector, Identity, Dot and PReLU against NumPy forms of the Keras definitions."""
import numpy as np
import pytest

import pyml
from pyml.layers import Dot, Identity, Permute, PReLU, RepeatVector
from pyml.layers.call_args import get_mask
from tests.pyml.layers.testing import run_layer_test


def test_permute_and_repeat_vector_match_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype("float32")
    np.testing.assert_array_equal(Permute((3, 1, 2))(x).numpy(), x.transpose(0, 3, 1, 2))
    v = x[:, 0, 0]
    np.testing.assert_array_equal(RepeatVector(3)(v).numpy(), np.repeat(v[:, None, :], 3, axis=1))
    np.testing.assert_array_equal(Identity()(x).numpy(), x)


def test_layer_tests():
    run_layer_test(Permute, {"dims": (2, 1)}, input_shape=(2, 3, 4), expected_output_shape=(2, 4, 3))
    run_layer_test(RepeatVector, {"n": 4}, input_shape=(2, 3), expected_output_shape=(2, 4, 3))
    run_layer_test(Identity, {}, input_shape=(2, 3), expected_output_shape=(2, 3))
    run_layer_test(PReLU, {"alpha_initializer": "random_normal", "shared_axes": [1]}, input_shape=(2, 3, 4),
                   expected_output_shape=(2, 3, 4), expected_num_trainable_weights=1)


def test_structure_gradients_flow_back():
    x = pyml.Tensor(np.random.default_rng(1).standard_normal((2, 3)).astype("float32"), requires_grad=True)
    weights = np.arange(12.0, dtype="float32").reshape(4, 3)
    (RepeatVector(4)(x) * weights).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(weights.sum(0), (2, 3)))


def test_identity_passes_masks_on():
    ids = np.array([[1, 2, 0]], "int32")
    embedded = pyml.layers.Embedding(5, 2, mask_zero=True)(ids)
    out = Identity()(embedded)
    np.testing.assert_array_equal(get_mask(out).numpy(), [[True, True, False]])


def numpy_batch_dot(x, y, a, b):
    """Keras batch_dot: x's axes without a, then y's without the batch and b; (batch,) becomes (batch, 1)."""
    xm, ym = np.moveaxis(x, a, -1), np.moveaxis(y, b, 1)
    out = np.einsum("n...k,nk->n...", xm, ym) if ym.ndim == 2 else np.stack(
        [np.tensordot(xm[i], ym[i], axes=([-1], [0])) for i in range(len(x))])
    return out[:, None] if out.ndim == 1 else out


@pytest.mark.parametrize("shapes, axes", [
    (((3, 5), (3, 5)), 1), (((3, 5), (3, 5)), -1), (((3, 4, 5), (3, 6, 5)), (2, 2)), (((3, 4, 5), (3, 4, 6)), 1),
    (((3, 5), (3, 6, 5)), (1, 2)), (((3, 2, 4, 5), (3, 5, 3)), (3, 1)), (((3, 4, 5), (3, 4)), (1, 1)),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_matches_numpy(shapes, axes, normalize):
    rng = np.random.default_rng(2)
    x, y = (rng.standard_normal(s).astype("float32") for s in shapes)
    a, b = (axes, axes) if isinstance(axes, int) else axes
    a, b = a % x.ndim, b % y.ndim
    xr, yr = x.astype(np.float64), y.astype(np.float64)
    if normalize:
        xr = xr / np.maximum(np.linalg.norm(xr, axis=a, keepdims=True), 1e-7)
        yr = yr / np.maximum(np.linalg.norm(yr, axis=b, keepdims=True), 1e-7)
    expected = numpy_batch_dot(xr, yr, a, b)
    layer = Dot(axes=axes, normalize=normalize)
    out = layer([x, y]).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    symbolic = layer([pyml.Input(shape=shapes[0][1:]), pyml.Input(shape=shapes[1][1:])])
    assert symbolic.shape == (None,) + expected.shape[1:]


def test_dot_leaves_no_mask():
    embedded = pyml.layers.Embedding(5, 2, mask_zero=True)(np.array([[1, 2, 0]], "int32"))
    assert get_mask(Dot(axes=2)([embedded, embedded])) is None


def test_dot_config_round_trip():
    layer = Dot(axes=(1, 2), normalize=True)
    config = layer.get_config()
    assert config["axes"] == [1, 2] and config["normalize"] is True
    assert pyml.layers.deserialize(pyml.layers.serialize(layer)).get_config() == config


def test_dot_in_a_model_trains_saves_and_loads(tmp_path):
    a, b = pyml.Input(shape=(4, 3)), pyml.Input(shape=(5, 3))
    scores = Dot(axes=(2, 2), normalize=True, name="dot")([pyml.layers.Dense(3)(a), b])
    model = pyml.Model([a, b], pyml.layers.Dense(1)(pyml.layers.Flatten()(scores)))
    rng = np.random.default_rng(3)
    x = [rng.standard_normal((16, 4, 3)).astype("float32"), rng.standard_normal((16, 5, 3)).astype("float32")]
    y = rng.standard_normal((16, 1)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.pyml")
    loaded = pyml.load_model(tmp_path / "m.pyml")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("dot").get_config()["axes"] == [2, 2]


def test_dot_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    x0, y0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    direction = rng.standard_normal(x0.shape)
    layer = Dot(axes=2, normalize=True, dtype="float64")

    def loss(x):
        return float((layer([x, y0]).numpy() ** 2).sum())

    x = pyml.Tensor(x0, requires_grad=True)
    (layer([x, pyml.Tensor(y0)]) ** 2).sum().backward()
    eps = 1e-6
    numeric = (loss(x0 + eps * direction) - loss(x0 - eps * direction)) / (2 * eps)
    assert np.isclose((x.grad.numpy() * direction).sum(), numeric, rtol=1e-5)


def test_prelu_matches_numpy():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5)).astype("float32")
    layer = PReLU(shared_axes=[1, 2])
    layer.build(x.shape)
    alpha = rng.uniform(0, 0.5, (1, 1, 5)).astype("float32")
    layer.alpha.assign(alpha)
    np.testing.assert_allclose(layer(x).numpy(), np.where(x >= 0, x, alpha * x), rtol=1e-6)
    assert PReLU().get_config()["shared_axes"] is None
    default = PReLU()
    np.testing.assert_array_equal(default(x).numpy(), np.maximum(x, 0))  # alpha starts at zero
    assert default.alpha.shape == (3, 4, 5)


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="Received: dims=\\(1, 3\\)"):
        Permute((1, 3))
    with pytest.raises(ValueError, match="Received: n=0"):
        RepeatVector(0)
    with pytest.raises(ValueError, match="Received: axes='x'"):
        Dot(axes="x")
    with pytest.raises(ValueError, match=r"`axes`=\[1, 1\] must name one non-batch axis of each input, of equal "
                                         r"sizes. Received: input shapes \(2, 3\) and \(2, 4\)"):
        Dot(axes=[1, 1])([np.ones((2, 3), "float32"), np.ones((2, 4), "float32")])
    with pytest.raises(ValueError, match="`axes`=0"):
        Dot(axes=0)([np.ones((2, 3), "float32"), np.ones((2, 3), "float32")])
    with pytest.raises(ValueError, match="Received: shared_axes=\\[0\\]"):
        PReLU(shared_axes=[0])
    with pytest.raises(ValueError, match="`shared_axes` \\[3\\] must be axes of the inputs"):
        PReLU(shared_axes=3)(np.ones((2, 3, 4), "float32"))
