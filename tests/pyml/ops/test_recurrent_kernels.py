"""The NumPy loops of ``rnn_scan``/``rnn_scan_grad`` (``pyml/ops/recurrent_numpy.py``) beyond the registry samples:
the batch split among threads, writing into dirty buffers, and the LSTM's gates with activations other than
(tanh, sigmoid), each against the float64 Keras-equation reference of ``tests/op_samples/recurrent.py``; and the
executor's steps for them (``pyml/graph/kernels_recurrent.py``), whose gradient step reads the forward's gates
only when linked to it."""
import numpy as np
import pytest

from pyml.graph import kernels, kernels_recurrent
from pyml.ops import recurrent_numpy
from tests.op_samples.recurrent import grad_reference, scan_inputs, scan_reference

CONFIGS = [
    dict(cell="lstm", masked=False, go_backwards=False, reset_after=False),
    dict(cell="lstm", masked=True, go_backwards=True, reset_after=False),
    dict(cell="gru", masked=True, go_backwards=False, reset_after=True),
    dict(cell="simple", masked=False, go_backwards=True, reset_after=False),
]


def attrs_of(config, units, activation="tanh", recurrent_activation="sigmoid"):
    return dict(config, units=units, activation=activation, recurrent_activation=recurrent_activation)


def dirty(shape, dtype):
    return np.full(shape, np.nan, dtype)  # a pooled buffer holds anything: every element must be written


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_batch_split_among_threads_matches_one_thread_and_the_reference(config, monkeypatch):
    units, batch, steps = 8, 3 * recurrent_numpy.MIN_ROWS + 5, 7
    attrs = attrs_of(config, units)
    inputs = scan_inputs(config["cell"], batch, steps, units, config["masked"])
    g = np.random.default_rng(3).standard_normal((batch, steps, recurrent_numpy.STATES[config["cell"]] * units))
    g = g.astype(np.float32)
    results = {}
    for count in (1, 3):
        monkeypatch.setattr(recurrent_numpy.threads, "gemm_threads", lambda count=count: count)
        monkeypatch.setattr(recurrent_numpy.threads, "num_threads", lambda count=count: count)
        out = recurrent_numpy.scan_into(dirty((batch, steps, g.shape[2]), np.float32), *inputs, **attrs)
        shape = recurrent_numpy.grad_shape(batch, steps, config["cell"], units, config["reset_after"],
                                           config["masked"])
        packed = recurrent_numpy.grad_into(dirty(shape, np.float32), g, out, *inputs, **attrs)
        results[count] = out, packed
    np.testing.assert_allclose(results[1][0], scan_reference(*inputs, **attrs), rtol=1e-5, atol=1e-5)
    for one, split in zip(results[1], results[3]):
        assert np.isfinite(split).all()
        np.testing.assert_allclose(split, one, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("activation, recurrent_activation", [("relu", "hard_sigmoid"), ("softsign", "linear"),
                                                              ("sigmoid", "tanh")])
def test_lstm_gradient_with_other_activations(activation, recurrent_activation):
    config = dict(cell="lstm", masked=True, go_backwards=False, reset_after=False)
    attrs = attrs_of(config, 3, activation, recurrent_activation)
    inputs = [x.astype(np.float64) for x in scan_inputs("lstm", 2, 4, 3, masked=True)]
    out = recurrent_numpy.scan_forward(np, *inputs, **attrs)
    np.testing.assert_allclose(out, scan_reference(*inputs, **attrs), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(5).standard_normal(out.shape)
    packed = recurrent_numpy.grad_forward(np, g, out, *inputs, **attrs)
    np.testing.assert_allclose(packed, grad_reference(g, out, *inputs, **attrs), rtol=1e-6, atol=1e-7)


# ---- the executor's steps: rnn_scan_grad reads its forward step's gates (pyml/graph/kernels_recurrent.py) ---------
def lstm_case(batch=20, steps=6, units=5, masked=False, go_backwards=False):
    attrs = attrs_of(dict(cell="lstm", masked=masked, go_backwards=go_backwards, reset_after=False), units)
    inputs = scan_inputs("lstm", batch, steps, units, masked)
    g = np.random.default_rng(7).standard_normal((batch, steps, 2 * units)).astype(np.float32)
    packed = np.empty(recurrent_numpy.grad_shape(batch, steps, "lstm", units, False, masked), np.float32)
    return attrs, inputs, g, packed


@pytest.mark.parametrize("masked, go_backwards", [(False, False), (True, True)])
def test_linked_grad_step_reads_the_forward_gates_and_equals_recomputing(masked, go_backwards):
    attrs, inputs, g, packed = lstm_case(masked=masked, go_backwards=go_backwards)
    out = np.empty((g.shape[0], g.shape[1], g.shape[2]), np.float32)
    forward = kernels.kernel("rnn_scan", inputs, out, attrs)
    backward = kernels.kernel("rnn_scan_grad", [g, out, *inputs], packed, attrs)
    assert kernels_recurrent._FORWARDS[id(out)].gates is not None  # linked
    forward()
    backward()
    np.testing.assert_array_equal(out, recurrent_numpy.scan_forward(np, *inputs, **attrs))
    np.testing.assert_array_equal(packed, recurrent_numpy.grad_forward(np, g, out, *inputs, **attrs))
    # the gates really are read: spoil them and the gradient changes
    kernels_recurrent._FORWARDS[id(out)].gates[:] = 0.5
    backward()
    assert not np.allclose(packed, recurrent_numpy.grad_forward(np, g, out, *inputs, **attrs))


def test_grad_step_with_other_inputs_than_the_forward_does_not_link():
    attrs, inputs, g, packed = lstm_case()
    out = np.empty(g.shape, np.float32)
    kernels.kernel("rnn_scan", inputs, out, attrs)
    other = [inputs[0].copy(), *inputs[1:]]  # equal values, another array: not provably the same at run time
    kernels.kernel("rnn_scan_grad", [g, out, *other], packed, attrs)
    assert kernels_recurrent._FORWARDS[id(out)].gates is None
    kernels.kernel("rnn_scan_grad", [g, out, *inputs], packed, dict(attrs, go_backwards=True))
    assert kernels_recurrent._FORWARDS[id(out)].gates is None
    key = id(out)
    del out
    assert key not in kernels_recurrent._FORWARDS  # a link lives as long as the forward's output array
