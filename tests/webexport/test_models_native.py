"""Keras-style models end to end on native WebGPU: each model of ``tests/webexport/keras_models.py`` is
trained briefly, exported with a dynamic batch, and its bundle run through wgpu-py (lavapipe on CPU
machines) at batch 1 and 5 must equal ``model.predict`` within rtol/atol 1e-5 (float32 parity, as for
single ops: docs/internals.md §4), with the same class decisions for classifiers.

BatchNormalization (moving statistics) and Dropout (identity) are also checked against numpy forward
passes written from the layers' weights, so an export that agrees with a wrong ``predict`` still fails.
"""
import numpy as np
import pytest

import pyml

from tests.webexport.helpers import ATOL, RTOL
from tests.webexport.keras_models import MODELS, NUM_TEST, decisions, digits, predict, trained
from webexport import export, load_bundle, run_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Export each model on first use (dynamic batch, no runtime copy); ``bundles(name)`` is the loaded bundle."""
    root, loaded = tmp_path_factory.mktemp("models"), {}

    def get(name):
        if name not in loaded:
            export(trained(name).model, root / name, include_runtime=False)
            loaded[name] = load_bundle(root / name)
        return loaded[name]

    return get


def run(bundle, case, batch):
    out = run_bundle(bundle, [x[:batch] for x in case.x])
    (name,) = [s["name"] for s in bundle.manifest["outputs"]]
    return out[name]


@pytest.mark.parametrize("name", MODELS)
def test_training_lowered_the_loss(name):
    losses = trained(name).losses
    assert losses[-1] < losses[0], f"{name}: loss per epoch {losses}"


@pytest.mark.parametrize("batch", [1, NUM_TEST])
@pytest.mark.parametrize("name", MODELS)
def test_exported_model_matches_predict(bundles, name, batch):
    case = trained(name)
    bundle = bundles(name)
    assert bundle.manifest["inputs"][0]["shape"][0] is None, "export(model, dir) keeps the batch dynamic"
    expected = predict(case, batch)
    actual = run(bundle, case, batch)
    assert actual.shape == expected.shape and actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name} at batch {batch}")
    if case.kind != "regression":
        np.testing.assert_array_equal(decisions(case, actual), decisions(case, expected))


def test_embedding_bundle_takes_int32_ids(bundles):
    case = trained("embedding")
    (spec,) = bundles("embedding").manifest["inputs"]
    assert spec["dtype"] == "int32" and spec["shape"] == [None, 6]
    assert case.x[0].dtype == np.int32 and {0, 49} <= set(case.x[0].ravel().tolist())


# The numpy references below run in float64 from the float32 weights, so they differ from any float32
# computation by float32 rounding of the whole forward pass: rtol 1e-4 (not 1e-5) leaves room for that,
# while the errors they guard against (initial or batch statistics, a live dropout mask) are of order 1.
REFERENCE_RTOL = 1e-4


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _weights(layer, *names):
    """The layer's named weights as float64 arrays."""
    return [getattr(layer, n).numpy().astype(np.float64) for n in names]


def _dense(layer, x):
    kernel, bias = _weights(layer, "kernel", "bias")
    return x @ kernel + bias


def test_batch_normalization_exports_its_moving_statistics(bundles):
    case = trained("normalization")
    dense, batch_norm, _, dense_2, layer_norm, dense_3 = case.model.layers
    mean, variance, gamma, beta = _weights(batch_norm, "moving_mean", "moving_variance", "gamma", "beta")
    # two epochs at momentum 0.5 leave the moving statistics far from their initial zeros and ones
    assert np.abs(mean).max() > 0.05 and np.abs(variance - 1).max() > 0.05
    x = case.x[0].astype(np.float64)
    h = _dense(dense, x)
    h = np.maximum((h - mean) / np.sqrt(variance + batch_norm.epsilon) * gamma + beta, 0)
    h = _dense(dense_2, h)
    normalized = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + layer_norm.epsilon)
    ln_gamma, ln_beta = _weights(layer_norm, "gamma", "beta")
    expected = _softmax(_dense(dense_3, normalized * ln_gamma + ln_beta))
    # batch 1 as well: batch statistics of one example would normalize every feature to beta
    for batch in (1, NUM_TEST):
        np.testing.assert_allclose(run(bundles("normalization"), case, batch), expected[:batch], rtol=REFERENCE_RTOL, atol=1e-5)


def test_dropout_is_identity_at_inference_and_in_the_export(bundles):
    case = trained("dropout")
    dense, dropout, dense_2 = case.model.layers
    x = case.x[0]
    hidden = np.maximum(_dense(dense, x.astype(np.float64)), 0)
    expected = _softmax(_dense(dense_2, hidden))
    np.testing.assert_allclose(run(bundles("dropout"), case, NUM_TEST), expected, rtol=REFERENCE_RTOL, atol=1e-6)
    # the layer is live while training (so the identity above is inference mode, not a dead layer) ...
    assert not np.allclose(dropout(hidden.astype(np.float32), training=True).numpy(), hidden, atol=1e-6)
    # ... and leaves nothing in the bundle: no array besides the Dense layers' (scalars such as relu's 0 stay,
    # unlabelled, for the CPU backend's graph interpreter), so no mask and no 1 / (1 - rate) scale
    entries = bundles("dropout").manifest["weights"]["entries"]
    arrays = {e["label"] for e in entries if e["shape"] != []}
    assert arrays == {f"{layer.name}/{w}" for layer in (dense, dense_2) for w in ("kernel", "bias")}, entries
    scalars = [bundles("dropout").weights[e["name"]] for e in entries if e["shape"] == []]
    assert all(float(s) == 0.0 for s in scalars), scalars


def test_a_batch_past_65535_workgroups_folds_its_dispatch(bundles):
    # WebGPU caps a dispatch at 65,535 workgroups per dimension; a batch large enough for the CNN's first conv to
    # need more is folded into (65535, 2) by the runtime, and the kernels unfold it (docs/internals.md §4).
    case = trained("cnn")
    bundle = bundles("cnn")
    first = bundle.manifest["steps"][0]
    workgroup = bundle.manifest["kernels"][first["kernel"]]["workgroup_size"]
    batch = 65536 * workgroup // first["threads"][0] + 1
    assert -(-first["threads"][0] * batch // workgroup) > 65535, first
    x, _ = digits()
    x = np.resize(x, (batch, 64)).reshape(batch, 8, 8, 1)
    (actual,) = run_bundle(bundle, x).values()
    expected = np.asarray(case.model.predict(x, verbose=0))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(actual.argmax(axis=1), expected.argmax(axis=1))


@pytest.mark.parametrize("steps", [30, 10])
def test_a_sequence_of_another_length_is_refused_naming_the_input_and_both_lengths(bundles, steps):
    """Export fixes the number of time steps: run_bundle refuses another length as the JS loader does."""
    bundle = bundles("bidirectional")
    (name,) = [s["name"] for s in bundle.manifest["inputs"]]
    with pytest.raises(ValueError, match=rf"input '{name}': a sequence of {steps} steps, but the model was exported "
                                         rf"for sequences of 20 steps .*{'cut' if steps > 20 else 'pad'} the sequence"):
        run_bundle(bundle, np.zeros((2, steps, 3), np.float32))


SEQUENCE_LAYERS = {"SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "TimeDistributed", "Masking", "Embedding",
                   "GlobalAveragePooling1D", "MultiHeadAttention", "Attention", "AdditiveAttention",
                   "LayerNormalization"}


def _layer_classes_in_models():
    """The class names of every layer (nested ones included) of the ``MODELS`` table."""
    used = set()

    def collect(layer):
        used.add(type(layer).__name__)
        for child in vars(layer).values():
            for item in child if isinstance(child, (list, tuple)) else [child]:
                if isinstance(item, pyml.layers.Layer) and type(item).__name__ not in used:
                    collect(item)

    for build in MODELS.values():
        for layer in build().model.layers:
            collect(layer)
    return used


def test_every_sequence_layer_has_a_parity_model():
    """Issue #7: no sequence layer escapes the native and browser parity tables (MODELS drives both)."""
    assert SEQUENCE_LAYERS - _layer_classes_in_models() == set()


BREADTH_LAYERS = {"SeparableConv1D", "SeparableConv2D", "Permute", "RepeatVector", "Identity", "SpatialDropout1D",
                  "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                  "UnitNormalization", "GroupNormalization", "RMSNormalization", "Dot", "PReLU"}


def test_every_keras_breadth_layer_has_a_parity_model():
    """Issue #8: each new layer runs in the native and browser parity tables."""
    assert BREADTH_LAYERS - _layer_classes_in_models() == set()


def test_noise_layers_vanish_from_the_export(bundles):
    """dense_extras from its weights in NumPy: AlphaDropout and GaussianDropout are identities, PReLU and
    UnitNormalization their formulas; the bundle holds the Dense and PReLU weights and nothing else."""
    case = trained("dense_extras")
    dense, alpha_dropout, gaussian_dropout, prelu, _, _, dense_2 = case.model.layers
    h = _dense(dense, case.x[0].astype(np.float64))
    h = 1.0507009873554805 * np.where(h > 0, h, 1.6732632423543772 * np.expm1(np.minimum(h, 0)))  # selu
    (alpha,) = _weights(prelu, "alpha")
    h = np.where(h >= 0, h, alpha * h)
    h = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
    expected = _softmax(_dense(dense_2, h))
    np.testing.assert_allclose(run(bundles("dense_extras"), case, NUM_TEST), expected, rtol=REFERENCE_RTOL, atol=1e-6)
    x = h.astype(np.float32)
    for layer in (alpha_dropout, gaussian_dropout):  # live while training
        assert not np.allclose(layer(x, training=True).numpy(), x, atol=1e-6)
    labels = {e["label"] for e in bundles("dense_extras").manifest["weights"]["entries"] if e["shape"] != []}
    assert labels == {f"{dense.name}/kernel", f"{dense.name}/bias", f"{prelu.name}/alpha", f"{dense_2.name}/kernel",
                      f"{dense_2.name}/bias"}
