"""Work folded into convolution kernels by the executor (pyml.graph.epilogues): the elementwise ops after a
conv / conv_transpose run chunk by chunk inside it, bias gradients are summed inside conv_filter_grad; every
value stays what the reference interpreter computes, on one thread and on two, over several chunks."""
import sys

import numpy as np
import pytest

import pyml
import pyml.threads
from pyml import ops
from pyml.graph import run_graph, trace
from pyml.graph.executor import Executor

conv_module = sys.modules["pyml.ops.conv"]  # the module (pyml.ops.conv is the public function)


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def small_chunks(request, monkeypatch):
    """Chunks of one or two samples, so each kernel runs its epilogue many times (and on two threads)."""
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 4096)
    previous = pyml.threads.num_threads()
    pyml.threads.set_num_threads(request.param)
    yield
    pyml.threads.set_num_threads(previous)


def check(graph, inputs):
    expected = [t.numpy() for t in run_graph(graph, inputs)]
    executor = Executor(graph)
    for _ in range(2):  # buffers and scratch reused from one run to the next must not leak values
        for got, want in zip(executor.run(*inputs), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return executor.steps()


def conv_layer_step(x, w, b):
    """A conv + bias + relu layer's forward and gradients, as a training step traces them."""
    with pyml.GradientTape() as tape:
        tape.watch([x, w, b])
        h = ops.relu(ops.conv(x, w) + b)
        loss = ops.sum(ops.square(h))
    return [h] + tape.gradient(loss, [x, w, b])


def test_bias_and_relu_run_inside_the_convolution_and_bias_gradients_inside_the_kernel_gradient(small_chunks):
    specs = [((5, 7, 7, 3), "float32"), ((3, 3, 3, 4), "float32"), ((4,), "float32")]
    graph = pyml.graph.optimize(trace(conv_layer_step, specs))
    steps = check(graph, [random(5, 7, 7, 3), random(3, 3, 3, 4, seed=1), random(4, seed=2)])
    assert any("= conv + " in label and " ops: add maximum" in label for label in steps), steps
    assert not any(label.endswith("= sum") for label in steps), steps  # the bias gradient: in conv_filter_grad


def test_the_relu_mask_of_an_input_gradient_runs_inside_conv_transpose(small_chunks):
    def two_layers(x, w1, w2):
        with pyml.GradientTape() as tape:
            tape.watch([w1, w2])
            h = ops.relu(ops.conv(x, w1))
            loss = ops.sum(ops.square(ops.relu(ops.conv(h, w2, padding="same"))))
        return tape.gradient(loss, [w1, w2])

    specs = [((4, 8, 8, 2), "float32"), ((3, 3, 2, 3), "float32"), ((3, 3, 3, 4), "float32")]
    graph = pyml.graph.optimize(trace(two_layers, specs))
    steps = check(graph, [random(4, 8, 8, 2), random(3, 3, 2, 3, seed=1), random(3, 3, 3, 4, seed=2)])
    assert any("conv_transpose + " in label for label in steps), steps


def test_ops_reading_a_value_made_after_the_convolution_are_not_moved_into_it(small_chunks):
    def conv_plus_its_input_mean(x, w):
        y = ops.conv(x, w)
        c = ops.sum(x, axis=(0, 1, 2))  # made after the conv, read by the add: the add cannot run inside it
        return [ops.exp(y + ops.sum(c))]

    specs = [((3, 6, 6, 2), "float32"), ((3, 3, 2, 2), "float32")]
    steps = check(trace(conv_plus_its_input_mean, specs), [random(3, 6, 6, 2), random(3, 3, 2, 2, seed=1)])
    assert not any(" + " in label for label in steps), steps


def test_grouped_and_strided_convolutions_run_their_epilogue_too(small_chunks):
    def layer(x, w, b):
        return [ops.relu(ops.conv(x, w, strides=2, groups=2) + b),
                ops.tanh(ops.conv_transpose(x, w, strides=2, padding="same"))]

    specs = [((3, 9, 9, 4), "float32"), ((3, 3, 2, 4), "float32"), ((4,), "float32")]
    steps = check(trace(layer, specs), [random(3, 9, 9, 4), random(3, 3, 2, 4, seed=1), random(4, seed=2)])
    assert sum(" + " in label for label in steps) == 2, steps
